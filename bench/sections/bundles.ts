/**
 * Lambda bundle benchmark: builds every Lambda bundle (scripts/build.ts) into a temporary directory, then reports
 * for each function the minified bytes of its entry, of what a cold start loads (the entry and the chunks it
 * imports statically) and of everything it ships (chunks loaded on first use included), and its cold start time:
 * a fresh `node` process per sample importing the entry and running its module-scope initialisation (config
 * parsed, policy compiled, clients built), with a dummy environment and the network blocked, so a bundle that
 * reached out at init would fail here instead of looking fast. Median of 5 samples per function; the time
 * includes Node's ES module loader starting up, which a fresh process pays for the first `import()`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { policyBundle } from '../../core/policy/json';
import { formatProblem, loadPolicy } from '../../core/policy/load';
import { buildLambdas, kb, LAMBDA_ENTRY_FILE, lambdaBuildOptions } from '../../scripts/build';
import type { SectionContext } from '../lib/harness';

const ROOT = join(__dirname, '..', '..');
const SAMPLES = 5;

/**
 * Writes the policy bundle the stack would package for a policy file (stacks/program.ts) to `<dir>/policy.json`
 * and returns its path: functions read that, never access.yaml.
 */
export function writePolicyBundle(dir: string, policyYamlFile: string): string {
  const text = readFileSync(policyYamlFile, 'utf8');
  const loaded = loadPolicy(text, { fileName: policyYamlFile });
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => formatProblem(p)).join('\n'));
  const file = join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(policyBundle(loaded.policy, text)));
  return file;
}

/** What the stack sets on each function, with made-up values: enough for every entry's config to parse. */
export function dummyLambdaEnv(policyFile: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'eu-west-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    TIMEBOX_EVENTS_TABLE: 'timebox-events',
    TIMEBOX_GRANTS_TABLE: 'timebox-grants',
    TIMEBOX_POLICY_FILE: policyFile,
    TIMEBOX_ISSUER: 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod',
    TIMEBOX_SCHEDULER_GROUP: 'timebox',
    TIMEBOX_SCHEDULER_ROLE_ARN: 'arn:aws:iam::111122223333:role/timebox/timebox-scheduler',
    TIMEBOX_SCHEDULER_DLQ_ARN: 'arn:aws:sqs:eu-west-1:111122223333:timebox-schedules-dlq',
    TIMEBOX_REVOKE_FUNCTION_ARN: 'arn:aws:lambda:eu-west-1:111122223333:function:timebox-revoke',
    TIMEBOX_KMS_KEY_ID: 'alias/timebox-tokens',
    TIMEBOX_IDENTITY: JSON.stringify({
      accounts: ['111122223333'],
      roles: [{ pattern: 'AWSReservedSSO_*', mfa: true }],
    }),
    // The notifier and slack functions (secrets are read by ARN on first use, never at init).
    TIMEBOX_EVENT_BUS: 'timebox',
    TIMEBOX_SLACK_SIGNING_SECRET_ARN:
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:timebox/slack-signing-AbCdEf',
    TIMEBOX_SLACK_USERS_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:timebox/slack-users-AbCdEf',
  };
}

/**
 * Script run by `node -e`: blocks sockets and DNS, then times, in this fresh process, Node's ES module loader
 * starting (an `import()` of an empty module) and then `import(entry)` (wall clock, and CPU time of all threads),
 * and prints them with the type of the `handler` export as JSON.
 */
const COLD_START = `
const net = require('node:net');
const dns = require('node:dns');
const { pathToFileURL } = require('node:url');
const refuse = () => { throw new Error('network access during init'); };
net.Socket.prototype.connect = refuse;
dns.lookup = refuse;
const cpu = process.cpuUsage();
const t0 = process.hrtime.bigint();
import('data:text/javascript,export default 0')
  .then(() => {
    const t1 = process.hrtime.bigint();
    return import(pathToFileURL(process.argv[1]).href).then((m) => {
      const t2 = process.hrtime.bigint();
      const used = process.cpuUsage(cpu);
      process.stdout.write(JSON.stringify({
        ms: Number(t2 - t0) / 1e6,
        loaderMs: Number(t1 - t0) / 1e6,
        cpuMs: (used.user + used.system) / 1000,
        handler: typeof m.handler,
      }));
    });
  })
  .catch((e) => {
    process.stderr.write(String((e && e.stack) || e));
    process.exit(1);
  });
`;

export interface ColdStart {
  /**
   * Wall-clock milliseconds from the first `import()` to the entry and its imports having run, Node's ES module
   * loader starting included. (Lambda's runtime client is itself an ES module, so in Lambda the loader is already
   * running; the benchmark counts it anyway, and reports it apart as `loaderMs`.)
   */
  ms: number;
  /** Of `ms`, the part Node's ES module loader took to start, before the entry was read. */
  loaderMs: number;
  /** CPU milliseconds the process used meanwhile (all threads: parsing, compiling, running, collecting). */
  cpuMs: number;
  /** `typeof` the entry's `handler` export. */
  handler: string;
}

/** One cold start: a new process importing the entry; throws with the child's stderr when it fails. */
export function coldStart(file: string, env: NodeJS.ProcessEnv): ColdStart {
  const r = spawnSync(process.execPath, ['-e', COLD_START, file], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`importing ${file} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as ColdStart;
}

/**
 * The floor under every function's cold start while the pinned SDK is bundled: an entry that only builds the
 * clients every function needs at init (DynamoDB with its document client, Scheduler), built like the functions.
 */
const SDK_FLOOR_ENTRY = `
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const scheduler = new SchedulerClient({});
export const handler = async () => [typeof doc.send, typeof scheduler.send];
`;

/** Builds the SDK floor entry into `<dir>/index.mjs` and returns its path and the bytes it loads at init. */
async function buildSdkFloor(dir: string): Promise<{ file: string; bytes: number }> {
  const r = await build({
    ...lambdaBuildOptions(ROOT, dir),
    stdin: { contents: SDK_FLOOR_ENTRY, resolveDir: ROOT, sourcefile: 'sdk-floor.ts', loader: 'ts' },
    entryNames: 'index',
  });
  const bytes = Object.entries(r.metafile?.outputs ?? {})
    .filter(([path]) => path.endsWith('.mjs'))
    .reduce((n, [, o]) => n + o.bytes, 0);
  return { file: join(dir, LAMBDA_ENTRY_FILE), bytes };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Builds the bundles and reports, as maxima over the functions: `bundle_kb_max`, the KB a cold start loads (entry and
 * static chunks: what the 400 KB limit applies to); `bundle_entry_kb_max`, the entry alone; `bundle_all_kb_max`,
 * everything a function ships; `bundle_init_ms_max`, the slowest median cold start.
 */
export default async function bundlesSection(ctx?: SectionContext): Promise<Record<string, number>> {
  const out = mkdtempSync(join(tmpdir(), 'timebox-bundles-'));
  try {
    const bundles = await buildLambdas(ROOT, out);
    const env = dummyLambdaEnv(writePolicyBundle(out, join(ROOT, 'test/fixtures/policies/design-example.yaml')));
    const floor = await buildSdkFloor(join(out, 'sdk-floor'));
    const samples = ctx?.quick ? 3 : SAMPLES;
    const max = { init: 0, entry: 0, all: 0, ms: 0 };
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (times are wall clock on this machine)`,
    );
    // Samples interleave the functions, so a burst of load on this shared machine does not land on one of them.
    const runs = new Map<string, ColdStart[]>([
      ...bundles.map((b) => [b.name, []] as [string, ColdStart[]]),
      ['sdk-floor', []],
    ]);
    const targets = [...bundles.map((b) => ({ name: b.name, file: b.file })), { name: 'sdk-floor', file: floor.file }];
    for (let i = 0; i < samples; i++)
      for (const t of targets) {
        const r = coldStart(t.file, env);
        if (r.handler !== 'function') throw new Error(`${t.name} exports no handler function`);
        runs.get(t.name)?.push(r);
      }
    const floorMs = median((runs.get('sdk-floor') ?? []).map((r) => r.ms));
    console.log(
      `sdk floor (DynamoDB, document client and Scheduler clients alone, ${kb(floor.bytes)} KB): cold start median ` +
        `${floorMs.toFixed(0)} ms`,
    );
    for (const b of bundles) {
      const mine = runs.get(b.name) ?? [];
      const ms = median(mine.map((r) => r.ms));
      console.log(
        `bundle ${b.name.padEnd(8)} entry ${kb(b.bytes).padStart(6)} KB  at init ${kb(b.initBytes).padStart(6)} KB ` +
          `(${b.initFiles.length} files)  all ${kb(b.totalBytes).padStart(6)} KB (${b.files.length} files)  ` +
          `cold start median ${ms.toFixed(0)} ms (ES module loader start ${median(mine.map((r) => r.loaderMs)).toFixed(0)} ms ` +
          `of it), CPU ${median(mine.map((r) => r.cpuMs)).toFixed(0)} ms ` +
          `(${mine.map((r) => r.ms.toFixed(0)).join(', ')})`,
      );
      max.init = Math.max(max.init, b.initBytes);
      max.entry = Math.max(max.entry, b.bytes);
      max.all = Math.max(max.all, b.totalBytes);
      max.ms = Math.max(max.ms, ms);
    }
    return {
      bundle_kb_max: Math.round(max.init / 1024),
      bundle_entry_kb_max: Math.round(max.entry / 1024),
      bundle_all_kb_max: Math.round(max.all / 1024),
      bundle_init_ms_max: Math.round(max.ms),
      bundle_sdk_floor_ms: Math.round(floorMs),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
