import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';
import { expectWith } from '../helpers/runner';

/**
 * The layers, read from the import statements of every source file: `core/` imports only itself (and no cloud SDK),
 * `adapters/` only core and other adapters, `api/` (the transport-neutral HTTP API) only core, adapters and itself,
 * and the top-level folders (composition roots, api, adapters, core) import one another without a cycle. `test/` is
 * not a layer (it imports everything) and is left out.
 */

const ROOT = resolve(__dirname, '../..');
const FOLDERS = ['core', 'api', 'adapters', 'lambdas', 'local', 'cli', 'stacks', 'grpc', 'bench', 'scripts', 'web'];
/** Packages that would make core impure (network clients, cloud SDKs, infrastructure code). */
const SDK = /^(@aws-sdk\/|@smithy\/|@google-cloud\/|google-auth-library|googleapis|@grpc\/|@pulumi\/|undici|nock)/;

/**
 * Imports that close a cycle between top-level folders today, each as `file -> imported file`. The list may only
 * shrink: a new cycle fails the test, and so does an entry that no longer exists.
 */
const KNOWN_CYCLE_EDGES: string[] = [];

interface Edge {
  from: string;
  to: string;
  spec: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'dist') out.push(...sourceFiles(path));
    } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every import of a file: static, type-only, re-exports, side-effect and dynamic `import()`. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

const top = (path: string) => path.split('/')[0] as string;

const edges: Edge[] = FOLDERS.flatMap((dir) =>
  sourceFiles(dir).flatMap((from) =>
    importsOf(from).map((spec) => ({
      from,
      spec,
      to: spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(from), spec)).replace(/\.js$/, '') : spec,
    })),
  ),
);
const local = edges.filter((e) => e.spec.startsWith('.'));
const show = (e: Edge) => `${e.from} -> ${e.to}`;

describe('Layers', () => {
  it('reads imports from the source tree (the parser finds them)', () => {
    expect(edges.length).toBeGreaterThan(500);
    expect(local.some((e) => e.from === 'core/policy/load.ts' && e.to === 'core/policy/check')).toBe(true);
    expect(local.some((e) => e.from === 'cli/commands/serve.ts' && e.to === 'local/broker')).toBe(true);
    expect(local.some((e) => e.from === 'api/app.ts' && e.to === 'api/routes')).toBe(true);
    expect(local.some((e) => e.from === 'lambdas/api/index.ts' && e.to === 'api/app')).toBe(true);
  });

  it('covers every top-level folder with TypeScript sources (a new folder joins a layer, or this list)', () => {
    const withSources = readdirSync(ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !['node_modules', 'dist', 'test'].includes(d.name) && !d.name.startsWith('.'))
      .map((d) => d.name)
      .filter((dir) => sourceFiles(dir).length > 0);
    expect(withSources.sort()).toEqual([...FOLDERS].sort());
  });

  it('core imports only core, and no SDK', () => {
    const out = edges.filter(
      (e) => top(e.from) === 'core' && (e.spec.startsWith('.') ? top(e.to) !== 'core' : SDK.test(e.spec)),
    );
    expect(out.map(show)).toEqual([]);
  });

  it('adapters import only core and adapters', () => {
    const out = local.filter((e) => top(e.from) === 'adapters' && !['core', 'adapters'].includes(top(e.to)));
    expect(out.map(show)).toEqual([]);
  });

  it('api imports only core, adapters and api: never a runtime (lambdas, local), the CLI or the stacks', () => {
    const out = local.filter((e) => top(e.from) === 'api' && !['core', 'adapters', 'api'].includes(top(e.to)));
    expect(out.map(show)).toEqual([]);
  });

  it('top-level folders import one another without a cycle, but for the known exceptions', () => {
    // A known exception that no longer exists leaves the list, so the list only ever shrinks.
    for (const known of KNOWN_CYCLE_EDGES)
      expectWith(local.map(show), `${known} is gone: remove it from the list`).toContain(known);
    const graph = new Map<string, Map<string, Edge>>();
    for (const e of local) {
      if (top(e.from) === top(e.to) || KNOWN_CYCLE_EDGES.includes(show(e)) || !FOLDERS.includes(top(e.to))) continue;
      const targets = graph.get(top(e.from)) ?? new Map<string, Edge>();
      if (!targets.has(top(e.to))) targets.set(top(e.to), e);
      graph.set(top(e.from), targets);
    }
    // Each edge that can reach its own start again lies on a cycle.
    const reaches = (from: string, goal: string, seen = new Set<string>()): boolean => {
      if (from === goal) return true;
      if (seen.has(from)) return false;
      seen.add(from);
      return [...(graph.get(from)?.keys() ?? [])].some((next) => reaches(next, goal, seen));
    };
    const onCycle: string[] = [];
    for (const [from, targets] of graph) {
      for (const [to, example] of targets)
        if (reaches(to, from)) onCycle.push(`${from} -> ${to} (e.g. ${show(example)})`);
    }
    expect(onCycle).toEqual([]);
  });
});
