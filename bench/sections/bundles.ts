/**
 * Lambda bundle benchmark: builds every Lambda bundle (scripts/build.ts) into a temporary directory, then reports
 * each bundle's minified size and its cold `require` time: a fresh `node` process per sample, with a dummy
 * environment so the module-scope configuration parses, and the network blocked, so a bundle that reached out at
 * init would fail here instead of looking fast. Median of 5 samples per bundle.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyBundle } from '../../core/policy/json';
import { formatProblem, loadPolicy } from '../../core/policy/load';
import { buildLambdas } from '../../scripts/build';
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
  };
}

/**
 * Script run by `node -e`: blocks sockets and DNS, then times `require(bundle)` and prints the milliseconds and
 * the type of the `handler` export as JSON.
 */
const COLD_REQUIRE = `
const net = require('node:net');
const dns = require('node:dns');
const refuse = () => { throw new Error('network access during init'); };
net.Socket.prototype.connect = refuse;
dns.lookup = refuse;
const t = process.hrtime.bigint();
const m = require(process.argv[1]);
const ms = Number(process.hrtime.bigint() - t) / 1e6;
process.stdout.write(JSON.stringify({ ms, handler: typeof m.handler }));
`;

/** One cold start: a new process requiring the bundle; throws with the child's stderr when it fails. */
export function coldRequire(file: string, env: NodeJS.ProcessEnv): { ms: number; handler: string } {
  const r = spawnSync(process.execPath, ['-e', COLD_REQUIRE, file], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`requiring ${file} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; handler: string };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Builds the bundles and reports the largest size (KB) and the slowest median cold require (ms). */
export default async function bundlesSection(ctx?: SectionContext): Promise<Record<string, number>> {
  const out = mkdtempSync(join(tmpdir(), 'timebox-bundles-'));
  try {
    const bundles = await buildLambdas(ROOT, out);
    const env = dummyLambdaEnv(writePolicyBundle(out, join(ROOT, 'test/fixtures/policies/design-example.yaml')));
    const samples = ctx?.quick ? 3 : SAMPLES;
    let kbMax = 0;
    let initMax = 0;
    for (const b of bundles) {
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        const r = coldRequire(b.file, env);
        if (r.handler !== 'function') throw new Error(`${b.name} exports no handler function`);
        times.push(r.ms);
      }
      const kb = b.bytes / 1024;
      const init = median(times);
      console.log(
        `bundle ${b.name.padEnd(8)} ${kb.toFixed(0).padStart(5)} KB  cold require median ${init.toFixed(0)} ms ` +
          `(${times.map((t) => t.toFixed(0)).join(', ')})`,
      );
      kbMax = Math.max(kbMax, kb);
      initMax = Math.max(initMax, init);
    }
    return { bundle_kb_max: Math.round(kbMax), bundle_init_ms_max: Math.round(initMax) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
