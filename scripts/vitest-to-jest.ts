/**
 * Converts test files written for vitest to jest, for tests added on branches that predate the move:
 *
 *   npx tsx scripts/vitest-to-jest.ts [files...]     (default: every .ts file under test/ that imports vitest)
 *
 * The mechanical part only: `from 'vitest'` becomes `from '@jest/globals'` and `vi` becomes `jest`;
 * `vi.stubGlobal`, `vi.unstubAllGlobals`, `vi.stubEnv`, `vi.unstubAllEnvs` and `vi.waitFor` become the functions
 * of test/helpers/runner.ts, imported, as does `expect(actual, message)` (`expectWith`) where `actual` is a
 * property path; `npm run typecheck` names the others (TS2554). What has no mechanical equivalent (`vi.hoisted`, `vi.mock`, `inject`,
 * `expect.poll`, vitest types) is listed for a person to finish. Run `npx biome check --write` on the files after.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const HELPERS = join(ROOT, 'test', 'helpers', 'runner');
const RENAMED: Record<string, string> = {
  stubGlobal: 'stubGlobal',
  unstubAllGlobals: 'unstubAllGlobals',
  stubEnv: 'stubEnv',
  unstubAllEnvs: 'unstubAllEnvs',
  waitFor: 'waitFor',
};
const MANUAL = [
  /\bvi\.hoisted\b/,
  /\bvi\.mock\b/,
  /\binject\(/,
  /\bexpect\.poll\b/,
  /\bexpect\.soft\b/,
  /'vitest\/\w+'/,
];

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function convert(source: string, file: string): { text: string; manual: string[] } {
  let text = source;
  const helpers = new Set<string>();
  for (const [from, to] of Object.entries(RENAMED)) {
    const pattern = new RegExp(`\\bvi\\.${from}\\b`, 'g');
    if (pattern.test(text)) {
      helpers.add(to);
      text = text.replace(pattern, to);
    }
  }
  text = text.replace(/\bvi\.(?=\w)/g, 'jest.');
  // expect(actual, message): jest's expect takes one argument. Caught here when `actual` is a plain property path;
  // the type check (TS2554) names any other, to rename by hand.
  const withMessage = /\bexpect\(([\w$.?]+|[\w$.?]+\[[\w$'"]+\]), /g;
  if (withMessage.test(text)) {
    helpers.add('expectWith');
    text = text.replace(withMessage, 'expectWith($1, ');
  }
  // The import list: `vi` becomes `jest`, and is dropped when nothing uses it any more.
  text = text.replace(/import (type )?\{([^}]*)\} from 'vitest';/g, (_all, type: string | undefined, names: string) => {
    const list = names
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean)
      .map((n) => (n === 'vi' ? 'jest' : n))
      .filter((n) => n !== 'jest' || /\bjest\./.test(text));
    return list.length ? `import ${type ?? ''}{ ${list.join(', ')} } from '@jest/globals';` : '';
  });
  if (helpers.size > 0) {
    let spec = relative(dirname(file), HELPERS).replaceAll('\\', '/');
    if (!spec.startsWith('.')) spec = `./${spec}`;
    const line = `import { ${[...helpers].sort().join(', ')} } from '${spec}';\n`;
    const at = text.indexOf("from '@jest/globals';");
    const end = at < 0 ? 0 : text.indexOf('\n', at) + 1;
    text = text.slice(0, end) + line + text.slice(end);
  }
  const manual = MANUAL.filter((p) => p.test(source)).map((p) => `${relative(ROOT, file)}: ${p.source}`);
  return { text, manual };
}

const args = process.argv.slice(2);
const files = (args.length ? args.map((f) => resolve(f)) : walk(join(ROOT, 'test'))).filter((f) =>
  /from 'vitest'|\bvi\./.test(readFileSync(f, 'utf8')),
);
const todo: string[] = [];
for (const file of files) {
  const before = readFileSync(file, 'utf8');
  const { text, manual } = convert(before, file);
  if (text !== before) writeFileSync(file, text);
  todo.push(...manual);
  console.log(`converted ${relative(ROOT, file)}`);
}
if (todo.length) {
  console.log('\nto finish by hand:');
  for (const t of todo) console.log(`  ${t}`);
  process.exitCode = 1;
}
