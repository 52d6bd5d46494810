import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Pair,
  type YAMLError,
  type YAMLMap,
} from 'yaml';
import type { PolicyProblem } from './types';

/**
 * Where a policy problem is: the dotted path of the value it is about and its line in the YAML, found through
 * aliases and merge keys, and how a located problem is printed.
 */

/** A problem with the file it came from, when the caller named one. */
export type LocatedProblem = PolicyProblem & { file?: string };

/** A step of a path into the file: a map key or a list index. */
export type Seg = string | number;
export interface Found {
  path: Seg[];
  message: string;
  /** Known line (YAML errors carry offsets); otherwise found from the path. */
  line?: number;
  /** Point at the key rather than the value (unknown keys, bad names). */
  at?: 'key';
  warning?: boolean;
}

/** Prints a problem as `<yaml path> (line N): <message>`, prefixed with the file name when known. */
export function formatProblem(p: LocatedProblem): string {
  const where = `${p.path || '(top level)'}${p.line === undefined ? '' : ` (line ${p.line})`}`;
  return `${p.file ? `${p.file}: ` : ''}${where}: ${p.message}`;
}

export function finish(found: Found[], locator: Locator, file: string | undefined): LocatedProblem[] {
  const located = found.map((f, order) => ({ f, order, line: f.line ?? locator.line(f.path, f.at) }));
  // File order reads best; problems on the same line keep the order they were found in.
  located.sort(
    (a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) || a.order - b.order,
  );
  return located.map(({ f, line }) => ({
    path: formatPath(f.path),
    ...(line === undefined ? {} : { line }),
    message: f.message,
    ...(file === undefined ? {} : { file }),
  }));
}

/** `rules[1].approval.count`; keys that are not plain names are quoted: `attributes["https://x/team"]`. */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function yamlProblem(doc: Document, lines: LineCounter, e: YAMLError): Found {
  if (e.code === 'MULTIPLE_DOCS') {
    return {
      path: [],
      line: lines.linePos(e.pos[0]).line,
      message: 'a policy file holds one YAML document: remove the second "---"',
    };
  }
  const message = e.message.replace(/\s+/g, ' ').trim();
  return {
    path: pathAtOffset(doc, e.pos[0]),
    line: lines.linePos(e.pos[0]).line,
    message: `YAML ${e.name === 'YAMLWarning' ? 'warning' : 'syntax'}: ${message}`,
  };
}

/**
 * Repeated keys and keys that are not scalars, in every map, in one pass over the document (aliases point at
 * nodes already visited, so they are not followed).
 */
export function keyProblems(doc: Document, lines: LineCounter): Found[] {
  const out: Found[] = [];
  const lineOf = (n: unknown) => {
    const r = (n as { range?: [number, number, number] } | null | undefined)?.range;
    return r ? lines.linePos(r[0]).line : undefined;
  };
  const stack: Array<{ node: unknown; path: Seg[] }> = [{ node: doc.contents, path: [] }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node, path } = item;
    if (isMap(node)) {
      const seen = new Map<string, unknown>();
      for (const pair of node.items) {
        const key = keyText(pair.key);
        if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
          out.push({
            path,
            ...(lineOf(pair.key) === undefined ? {} : { line: lineOf(pair.key) }),
            message: 'a key must be a plain string, not a list or a map',
          });
          continue;
        }
        const first = seen.get(key);
        // Several `<<` merge keys are allowed by the merge-key spec.
        if (first !== undefined && key !== '<<') {
          const firstLine = lineOf(first);
          out.push({
            path: [...path, key],
            at: 'key',
            ...(lineOf(pair.key) === undefined ? {} : { line: lineOf(pair.key) }),
            message: `duplicate key "${key}"${firstLine === undefined ? '' : ` (first on line ${firstLine})`}`,
          });
        } else if (first === undefined) seen.set(key, pair.key);
        stack.push({ node: pair.value, path: [...path, key] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((child, i) => {
        stack.push({ node: child, path: [...path, i] });
      });
    }
  }
  return out;
}

/** The path of the deepest node whose source text contains `offset` (for YAML errors, which carry only offsets). */
function pathAtOffset(doc: Document, offset: number): Seg[] {
  const path: Seg[] = [];
  let node: unknown = doc.contents;
  const within = (n: unknown): boolean => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return !!r && offset >= r[0] && offset <= r[2];
  };
  for (let depth = 0; depth < 1000; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => within(p.key) || within(p.value));
      if (!pair) break;
      path.push(keyText(pair.key));
      if (within(pair.key)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex(within);
      if (i === -1) break;
      path.push(i);
      node = node.items[i];
    } else {
      break;
    }
  }
  return path;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return key === null || key === undefined ? '' : String(key);
}

/** Finds the line of a path in the YAML, following aliases and merge keys; falls back to the nearest ancestor. */
export class Locator {
  private readonly pairs = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  line(path: readonly Seg[], at?: 'key'): number | undefined {
    let node: unknown = this.doc.contents;
    let best = this.nodeLine(node);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as Seg;
      node = this.resolve(node);
      if (isMap(node)) {
        const pair = this.findPair(node, String(seg), 0);
        if (!pair) return best;
        const keyLine = this.nodeLine(pair.key);
        if (i === path.length - 1 && at === 'key') return keyLine ?? best;
        best = keyLine ?? best;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        return best;
      }
      best = this.nodeLine(node) ?? best;
    }
    return best;
  }

  private resolve(node: unknown): unknown {
    // Alias chains are short in real files; the bound only guards against a malformed document.
    for (let i = 0; i < 100 && isAlias(node); i++) node = node.resolve(this.doc);
    return node;
  }

  private findPair(map: YAMLMap, key: string, depth: number): Pair | undefined {
    let index = this.pairs.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) if (isPair(p)) index.set(keyText(p.key), p);
      this.pairs.set(map, index);
    }
    const own = index.get(key);
    if (own || depth > 10) return own;
    // `<<: *base` merge keys: the value lives in the merged map.
    const merge = index.get('<<');
    if (!merge) return undefined;
    const sources = isSeq(merge.value) ? merge.value.items : [merge.value];
    for (const s of sources) {
      const m = this.resolve(s);
      if (isMap(m)) {
        const p = this.findPair(m, key, depth + 1);
        if (p) return p;
      }
    }
    return undefined;
  }

  private nodeLine(node: unknown): number | undefined {
    const r = (node as { range?: [number, number, number] } | null | undefined)?.range;
    return r ? this.lines.linePos(r[0]).line : undefined;
  }
}
