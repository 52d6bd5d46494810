/**
 * Decision benchmark: Timebox's `decide()` against Cedar 4 (cedar-wasm) on an equivalent policy of 1,000 rules
 * and 10,000 principals. Checks that both engines decide every sampled request alike, then reports per-call
 * latency. Details (mix, percentiles, what is and is not compared) go to stderr; metrics to the harness.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { AuthorizationAnswer, StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Decision } from '../../core/decide';
import { type CedarDecision, CedarEngine, cedarVersion, decisionOf } from '../lib/cedar';
import {
  compareDecisions,
  decideTimebox,
  formatDisagreement,
  loadTimebox,
  type TimeboxCall,
  timeboxCall,
} from '../lib/compare';
import type { SectionContext, SectionResult } from '../lib/harness';
import { generatePolicy, policyYaml, sampleRequests } from '../lib/policy-gen';
import { elapsedMs, hrtimeNs, medianMs, type Summary, summarize, timeInterleaved, warmUp } from '../lib/stats';

/** Fixed seeds: every run benchmarks the same policy and the same requests. */
export const POLICY_SEED = 20_260_303;
export const REQUEST_SEED = 7;

const log = (line = '') => process.stderr.write(`${line}\n`);

/** Runs the decision benchmark (quick: 2,000 requests and one policy load instead of 10,000 and three). */
export default async function decideSection(ctx: SectionContext): Promise<SectionResult> {
  const sampleSize = ctx.quick ? 2_000 : 10_000;

  const policy = generatePolicy(POLICY_SEED);
  const yaml = policyYaml(policy);
  const load = medianMs(ctx.quick ? 1 : 3, () => loadTimebox(yaml));
  const compiled = load.last;

  const prep = hrtimeNs();
  const cedar = new CedarEngine(policy);
  const cedarPreparseMs = elapsedMs(prep);
  const sliced = new CedarEngine(policy, { sliceByTarget: true });

  const requests = sampleRequests(policy, sampleSize, REQUEST_SEED);
  const timeboxCalls = requests.map(timeboxCall);
  const cedarCalls = requests.map((r) => cedar.call(r));
  const slicedCalls = requests.map((r) => sliced.call(r));

  // Timebox and sliced Cedar warm up on every input; whole-set Cedar is two orders of magnitude slower per call,
  // so it warms up on a part of the sample.
  const n = requests.length;
  warmUp(n, (i) => decideTimebox(compiled, timeboxCalls[i] as TimeboxCall), 3);
  warmUp(n, (i) => sliced.answer(slicedCalls[i] as StatefulAuthorizationCall), 2);
  warmUp(Math.min(n, ctx.quick ? 200 : 1_000), (i) => cedar.answer(cedarCalls[i] as StatefulAuthorizationCall));
  // Each timed call keeps only its verdict: holding 10,000 answer objects would grow the heap and put garbage
  // collections in the measured calls that a server deciding and forgetting would not have.
  let cedarErrors = 0;
  const verdict = (a: AuthorizationAnswer): CedarDecision => {
    if (a.type === 'success') cedarErrors += a.response.diagnostics.errors.length;
    return decisionOf(a);
  };
  // Interleaved in blocks: the machine is shared, and load from elsewhere must fall on all three alike. Blocks of
  // 500 keep the cache-cold first call after each switch well under 1% of the samples, out of the p99.
  const timed = timeInterleaved(
    n,
    [
      (i) => decideTimebox(compiled, timeboxCalls[i] as TimeboxCall).decision,
      (i) => verdict(cedar.answer(cedarCalls[i] as StatefulAuthorizationCall)),
      (i) => decisionOf(sliced.answer(slicedCalls[i] as StatefulAuthorizationCall)),
    ],
    { blockSize: 500 },
  );
  const [tbSamples, ceSamples, slSamples] = timed.samplesUs as [Float64Array, Float64Array, Float64Array];
  const [tbDecisions, cedarDecisions, slicedDecisions] = timed.results as [
    Decision['decision'][],
    CedarDecision[],
    CedarDecision[],
  ];
  const whole = compareDecisions(requests, tbDecisions, cedarDecisions, compiled, cedar, cedarErrors);
  const bySlice = compareDecisions(requests, tbDecisions, slicedDecisions, compiled, sliced);

  const t = summarize(tbSamples);
  const c = summarize(ceSamples);
  const s = summarize(slSamples);
  const allowed = whole.timebox.allow + whole.timebox['needs-approval'];

  const nested = policy.groups.filter((g) => g.nested.length > 0).length;
  const kinds = (k: string) => policy.targets.filter((x) => x.kind === k).length;
  log();
  log(
    `decide: ${policy.rules.length} rules, ${policy.principals.length} principals, ${policy.groups.length} groups (${nested} nested), ${policy.targets.length} targets (${kinds('aws-role')} aws-role, ${kinds('grpc')} grpc, ${kinds('gcp-role')} gcp-role); seed ${POLICY_SEED}`,
  );
  log(
    `decide: policy file ${(yaml.length / 1024).toFixed(0)} KiB; load + compile ${load.runsMs.map((m) => m.toFixed(0)).join(' / ')} ms; Cedar ${cedarVersion()} preparse ${cedarPreparseMs.toFixed(0)} ms`,
  );
  log(
    `decide: ${requests.length} requests: Timebox allow ${whole.timebox.allow}, needs-approval ${whole.timebox['needs-approval']}, deny ${whole.timebox.deny}; Cedar allow ${whole.cedar.allow}, deny ${whole.cedar.deny}; Cedar evaluation errors ${cedarErrors}`,
  );
  log(
    'decide: compared: who (groups, nested groups, principals), targets of 3 kinds, duration caps (rule, target, global), require.mfa, when.sourceIp (IPv4 and IPv6), rule scopes and 0 or 1 requested scope',
  );
  log(
    'decide: not compared (not in the generated policy): when.hours, require.attributes, start times, groups asserted by the identity source, several scopes per request; needs-approval counts as Cedar allow',
  );
  log(
    'decide: known difference (not sampled): an IPv4-mapped IPv6 source (::ffff:10.1.2.3) is 10.1.2.3 to Timebox and an evaluation error (so no permit) to Cedar',
  );
  log(
    'decide: Cedar gets, per call, only the principal entity with its groups as parents (its 4.13 stateful API preparses policies, not entities)',
  );
  // On a shared machine a call preempted for a time slice (milliseconds) lands in the tail: say how busy it was.
  log(
    `decide: load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' / ',
      )} (1/5/15 min) on ${availableParallelism()} CPUs: above 1 per CPU, p99s include time slices (milliseconds) lost to other processes`,
  );
  log();
  log(
    latencyTable([
      ['timebox decide()', t],
      [`cedar, ${policy.rules.length} policies`, c],
      ['cedar, sliced by target', s],
    ]),
  );
  log();
  log(
    `decide: cedar/timebox: p50 ${(c.p50 / t.p50).toFixed(1)}x, p99 ${(c.p99 / t.p99).toFixed(1)}x; sliced cedar/timebox: p50 ${(s.p50 / t.p50).toFixed(1)}x, p99 ${(s.p99 / t.p99).toFixed(1)}x`,
  );
  for (const [name, cmp] of [
    ['whole set', whole],
    ['sliced', bySlice],
  ] as const) {
    if (cmp.agree) continue;
    log(`decide: ${cmp.disagreements.length} DISAGREEMENTS (${name}); the first ones:`);
    for (const d of cmp.disagreements.slice(0, 5)) log(formatDisagreement(d));
  }

  return {
    policy_load_ms: load.medianMs,
    cedar_preparse_ms: cedarPreparseMs,
    decide_requests: requests.length,
    decide_allowed_pct: (100 * allowed) / requests.length,
    decisions_agree: whole.agree && bySlice.agree,
    decide_p50_us: t.p50,
    decide_p99_us: t.p99,
    cedar_p50_us: c.p50,
    cedar_p99_us: c.p99,
    decide_vs_cedar: c.p50 / t.p50,
    decide_vs_cedar_p99: c.p99 / t.p99,
    cedar_sliced_p50_us: s.p50,
    cedar_sliced_p99_us: s.p99,
    decide_vs_cedar_sliced: s.p50 / t.p50,
  };
}

function latencyTable(rows: [string, Summary][]): string {
  const head = ['latency (us)', 'n', 'min', 'p50', 'p90', 'p99', 'max', 'mean'];
  const body = rows.map(([name, x]) => [
    name,
    String(x.n),
    ...[x.min, x.p50, x.p90, x.p99, x.max, x.mean].map((v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1))),
  ]);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}
