import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The benchmark harness: finds the sections in `bench/sections/*.ts`, runs them one after another (timings on a
 * shared machine are noisy enough without sections competing), and merges their results into one report.
 */

/** What every section receives. `quick` asks for a smaller sample (CI smoke runs); numbers are then rougher. */
export interface SectionContext {
  quick: boolean;
}

/** Metrics of one section: flat keys, unique across sections (`decide_p50_us`), numbers or pass/fail flags. */
export type SectionResult = Record<string, number | boolean>;

export type SectionFn = (ctx: SectionContext) => Promise<SectionResult>;

export interface Section {
  name: string;
  run: SectionFn;
}

export type SectionOutcome =
  | { name: string; ok: true; result: SectionResult; ms: number }
  | { name: string; ok: false; error: string; ms: number };

export interface Report {
  outcomes: SectionOutcome[];
  /** Every successful section's keys in one object. */
  merged: SectionResult;
  /** Names of the sections that threw or returned something that is not a result. */
  failed: string[];
}

export interface BenchArgs {
  json: boolean;
  quick: boolean;
  only?: string;
  /** Another sections directory (tests use it; default `bench/sections`). */
  sections?: string;
}

export const USAGE = 'usage: npm run bench -- [--json] [--quick] [--only <section>] [--sections <dir>]';

/** Parses the command line; throws with the usage text on anything it does not know. */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const out: BenchArgs = { json: false, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--json') out.json = true;
    else if (arg === '--quick') out.quick = true;
    else if (arg === '--only') out.only = value();
    else if (arg.startsWith('--only=')) out.only = arg.slice('--only='.length);
    else if (arg === '--sections') out.sections = value();
    else throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  return out;
}

/** Section files in `dir`, sorted by name: `*.ts` except declarations and tests. Each loads only when run. */
export function discoverSections(dir: string): Section[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
    .sort();
  return files.map((file) => {
    const path = resolve(join(dir, file));
    return { name: basename(file, '.ts'), run: (ctx) => loadSection(path).then((fn) => fn(ctx)) };
  });
}

async function loadSection(path: string): Promise<SectionFn> {
  const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  // A CommonJS-compiled module arrives with its exports object as `default`.
  let fn: unknown = mod.default;
  if (typeof fn === 'object' && fn !== null && 'default' in fn) fn = (fn as { default: unknown }).default;
  if (typeof fn !== 'function') throw new Error(`${path} has no default export function`);
  return fn as SectionFn;
}

/** Why `value` is not a valid section result, or undefined when it is one. */
export function resultProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'returned something other than an object of metrics';
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'boolean') continue;
    if (typeof v !== 'number') return `metric "${key}" is ${typeof v}, not a number or boolean`;
    // JSON has no NaN or Infinity: a non-finite metric is a bug in the section, not a measurement.
    if (!Number.isFinite(v)) return `metric "${key}" is ${v}`;
  }
  return undefined;
}

/**
 * Runs the sections in order. A section that throws, returns a malformed result or reuses another section's key
 * is recorded as failed with its message; the others still run. `log` receives progress lines (stderr).
 */
export async function runSections(
  sections: readonly Section[],
  ctx: SectionContext,
  log: (line: string) => void = () => {},
): Promise<Report> {
  const outcomes: SectionOutcome[] = [];
  const merged: SectionResult = {};
  const owner = new Map<string, string>();
  for (const section of sections) {
    log(`[bench] ${section.name}: running${ctx.quick ? ' (quick)' : ''}`);
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    try {
      const result: unknown = await section.run(ctx);
      const problem = resultProblem(result);
      if (problem !== undefined) throw new Error(problem);
      const metrics = result as SectionResult;
      // Sections are written by different people: a silent overwrite would report one section's number as another's.
      const clash = Object.keys(metrics).find((k) => owner.has(k));
      if (clash !== undefined) throw new Error(`metric "${clash}" is already reported by section ${owner.get(clash)}`);
      for (const [k, v] of Object.entries(metrics)) {
        owner.set(k, section.name);
        merged[k] = v;
      }
      outcomes.push({ name: section.name, ok: true, result: metrics, ms: ms() });
      log(`[bench] ${section.name}: done in ${(ms() / 1000).toFixed(1)} s`);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      outcomes.push({ name: section.name, ok: false, error, ms: ms() });
      log(`[bench] ${section.name}: FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }
  return { outcomes, merged, failed: outcomes.filter((o) => !o.ok).map((o) => o.name) };
}

/** Prints a metric: booleans as words, integers as they are, other numbers to three significant decimals. */
export function formatValue(v: number | boolean): string {
  if (typeof v === 'boolean') return String(v);
  if (Number.isInteger(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 100) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** The one table `npm run bench` prints: section, metric, value; a failed section shows its error. */
export function formatTable(report: Report): string {
  const rows: [string, string, string][] = [['section', 'metric', 'value']];
  for (const o of report.outcomes) {
    if (o.ok) for (const [k, v] of Object.entries(o.result)) rows.push([o.name, k, formatValue(v)]);
    else rows.push([o.name, 'ERROR', o.error.split('\n')[0] ?? '']);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const line = (r: [string, string, string]) => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}`.trimEnd();
  const header = line(rows[0] as [string, string, string]);
  return [header, '-'.repeat(header.length), ...rows.slice(1).map(line)].join('\n');
}

/**
 * The `--json` output: one object with every section's metrics (non-integers rounded to 3 decimals), plus
 * `errors` ({section: message}) when a section failed, so a consumer of the JSON alone sees the failure.
 */
export function formatJson(report: Report): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(report.merged)) {
    out[k] = typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v;
  }
  const errors: Record<string, string> = {};
  for (const o of report.outcomes) if (!o.ok) errors[o.name] = o.error;
  if (Object.keys(errors).length > 0) out.errors = errors;
  return JSON.stringify(out, null, 2);
}
