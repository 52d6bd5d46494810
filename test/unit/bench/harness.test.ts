import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  discoverSections,
  formatJson,
  formatTable,
  parseArgs,
  resultProblem,
  runSections,
  type Section,
} from '../../../bench/lib/harness';

const sectionDummy = (name: string, run: Section['run']): Section => ({ name, run });
const ok = (name: string, result: Record<string, number | boolean>) => sectionDummy(name, async () => result);
const throwing = (name: string, message: string) =>
  sectionDummy(name, async () => {
    throw new Error(message);
  });

const root = join(__dirname, '../../..');
const temp = mkdtempSync(join(tmpdir(), 'timebox-bench-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('Module: bench/lib/harness', () => {
  describe('Function: runSections', () => {
    it('merges every section result into one object, in order', async () => {
      // Act
      const report = await runSections([ok('a', { a_ms: 1.5, a_ok: true }), ok('b', { b_n: 3 })], { quick: false });
      // Assess
      expect(report.merged).toEqual({ a_ms: 1.5, a_ok: true, b_n: 3 });
      expect(report.failed).toEqual([]);
      expect(report.outcomes.map((o) => o.name)).toEqual(['a', 'b']);
    });

    it('reports a failing section with its error and still runs the others', async () => {
      // Act
      const report = await runSections([throwing('bad', 'boom'), ok('good', { g: 1 })], { quick: true });
      // Assess
      expect(report.failed).toEqual(['bad']);
      expect(report.outcomes[0]).toMatchObject({ name: 'bad', ok: false, error: 'boom' });
      expect(report.merged).toEqual({ g: 1 });
    });

    it('passes the quick flag to every section', async () => {
      const seen: boolean[] = [];
      const spy = (name: string) =>
        sectionDummy(name, async (ctx) => {
          seen.push(ctx.quick);
          return {};
        });
      await runSections([spy('x'), spy('y')], { quick: true });
      expect(seen).toEqual([true, true]);
    });

    it('fails a section that reports a key another section already reported, keeping the first value', async () => {
      const report = await runSections([ok('first', { shared: 1 }), ok('second', { shared: 2, own: 3 })], {
        quick: false,
      });
      expect(report.failed).toEqual(['second']);
      expect(report.outcomes[1]).toMatchObject({ ok: false, error: expect.stringMatching(/shared.*first/) });
      expect(report.merged).toEqual({ shared: 1 });
    });

    it('fails a section whose result is not flat numbers and booleans', async () => {
      const bad = sectionDummy('bad', async () => ({ x: Number.NaN }));
      const report = await runSections([bad], { quick: false });
      expect(report.failed).toEqual(['bad']);
      expect(report.merged).toEqual({});
    });
  });

  describe('Function: resultProblem', () => {
    it('accepts numbers and booleans and explains anything else', () => {
      expect(resultProblem({ a: 1, b: false })).toBeUndefined();
      expect(resultProblem({ a: 'fast' })).toMatch(/"a" is string/);
      expect(resultProblem({ a: Number.POSITIVE_INFINITY })).toMatch(/"a" is Infinity/);
      expect(resultProblem([1])).toMatch(/object of metrics/);
      expect(resultProblem(undefined)).toMatch(/object of metrics/);
    });
  });

  describe('Function: formatJson', () => {
    it('prints one object of every metric, plus the errors of failed sections', async () => {
      const report = await runSections([ok('a', { a_us: 1.23456, a_ok: true }), throwing('b', 'broken')], {
        quick: false,
      });
      expect(JSON.parse(formatJson(report))).toEqual({ a_us: 1.235, a_ok: true, errors: { b: 'broken' } });
    });

    it('has no errors key when every section passed', async () => {
      const report = await runSections([ok('a', { n: 1 })], { quick: false });
      expect(JSON.parse(formatJson(report))).toEqual({ n: 1 });
    });
  });

  describe('Function: formatTable', () => {
    it('shows one row per metric and an ERROR row for a failed section', async () => {
      const report = await runSections([ok('a', { a_us: 12.345, a_ok: false }), throwing('b', 'broken\nstack')], {
        quick: false,
      });
      const lines = formatTable(report).split('\n');
      expect(lines[0]).toMatch(/^section\s+metric\s+value$/);
      expect(lines.slice(2)).toEqual([
        expect.stringMatching(/^a\s+a_us\s+12\.35$/),
        expect.stringMatching(/^a\s+a_ok\s+false$/),
        expect.stringMatching(/^b\s+ERROR\s+broken$/),
      ]);
    });
  });

  describe('Function: parseArgs', () => {
    it('reads --json, --quick, --only and --sections', () => {
      expect(parseArgs([])).toEqual({ json: false, quick: false });
      expect(parseArgs(['--json', '--only', 'decide', '--quick'])).toEqual({ json: true, quick: true, only: 'decide' });
      expect(parseArgs(['--only=decide', '--sections', '/x'])).toEqual({
        json: false,
        quick: false,
        only: 'decide',
        sections: '/x',
      });
    });

    it('refuses unknown flags and a flag without its value', () => {
      expect(() => parseArgs(['--jsn'])).toThrow(/unknown argument "--jsn"/);
      expect(() => parseArgs(['--only'])).toThrow(/--only needs a value/);
      expect(() => parseArgs(['--only', '--json'])).toThrow(/--only needs a value/);
    });
  });

  describe('Function: discoverSections', () => {
    it('lists *.ts section files sorted by name, skipping declarations and tests', () => {
      // Prepare
      const dir = join(temp, 'discover');
      mkdirSync(dir);
      for (const f of ['zeta.ts', 'alpha.ts', 'types.d.ts', 'alpha.test.ts', 'notes.md'])
        writeFileSync(join(dir, f), '');
      // Act
      const names = discoverSections(dir).map((s) => s.name);
      // Assess
      expect(names).toEqual(['alpha', 'zeta']);
    });
  });

  describe('Command: npm run bench', () => {
    // Prepare: sections that log to stdout, throw, and succeed.
    const dir = join(temp, 'sections');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'a-noisy.ts'),
      "export default async function (ctx: { quick: boolean }) {\n  console.log('chatter');\n  return { a_n: 1, a_quick: ctx.quick };\n}\n",
    );
    writeFileSync(join(dir, 'b-broken.ts'), "export default async function () {\n  throw new Error('kaput');\n}\n");
    writeFileSync(join(dir, 'c-fine.ts'), 'export default async () => ({ c_ms: 2.5 });\n');
    const bench = (...args: string[]) =>
      spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), 'bench/run.ts', ...args], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      });

    it('prints only one JSON object on stdout with --json, and exits 1 when a section failed', () => {
      // Act
      const r = bench('--json', '--quick', '--sections', dir);
      // Assess
      expect(JSON.parse(r.stdout)).toEqual({ a_n: 1, a_quick: true, c_ms: 2.5, errors: { 'b-broken': 'kaput' } });
      expect(r.stderr).toContain('chatter');
      expect(r.stderr).toContain('kaput');
      expect(r.status).toBe(1);
    }, 60_000);

    it('runs one section with --only and exits 0 when it passes', () => {
      const r = bench('--only', 'c-fine', '--sections', dir);
      expect(r.stdout).toMatch(/c-fine\s+c_ms\s+2\.50/);
      expect(r.stdout).not.toMatch(/a_n|ERROR/);
      expect(r.status).toBe(0);
    }, 60_000);

    it('refuses an unknown section with exit code 2, listing the known ones', () => {
      const r = bench('--only', 'nope', '--sections', dir);
      expect(r.stderr).toContain('sections: a-noisy, b-broken, c-fine');
      expect(r.stdout).toBe('');
      expect(r.status).toBe(2);
    }, 60_000);
  });
});
