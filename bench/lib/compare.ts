import { type AccessRequest, type Decision, decide } from '../../core/decide';
import { type CompiledPolicy, compilePolicy } from '../../core/policy/compile';
import { formatProblem, loadPolicy } from '../../core/policy/load';
import { type Principal, principal } from '../../core/principal';
import { type CedarDecision, CedarEngine, decisionOf } from './cedar';
import { type GeneratedPolicy, type GenRequest, policyYaml } from './policy-gen';

/**
 * Timebox's side of the decision comparison, and the check that both engines decide every request alike:
 * Timebox `allow` or `needs-approval` must be Cedar `allow`, Timebox `deny` must be Cedar `deny`.
 */

/** A fixed decision time: the generated policy has no hours windows and requests no start time, so any will do. */
export const BENCH_NOW = new Date('2026-03-03T10:00:00Z');

/** Loads and compiles the policy file through the real loader; throws with every problem if it is refused. */
export function loadTimebox(yaml: string): CompiledPolicy {
  const loaded = loadPolicy(yaml, { fileName: 'generated.yaml' });
  if (!loaded.ok) {
    const shown = loaded.problems.slice(0, 10).map(formatProblem).join('\n  ');
    throw new Error(`the loader refused the generated policy (${loaded.problems.length} problems):\n  ${shown}`);
  }
  return compilePolicy(loaded.policy);
}

/** A request in Timebox's terms. Only the policy file's groups count (the sample asserts none). */
export interface TimeboxCall {
  who: Principal;
  request: AccessRequest;
}

/** The Timebox call for a sampled request, built ahead of time like Cedar's. */
export function timeboxCall(r: GenRequest): TimeboxCall {
  return {
    who: principal({ id: r.principal, mfa: r.mfa, ...(r.sourceIp === undefined ? {} : { sourceIp: r.sourceIp }) }),
    request: { target: r.target, scopes: r.scope === undefined ? [] : [r.scope], duration: r.durationSeconds * 1000 },
  };
}

/** Timebox's decision for a prepared call. */
export function decideTimebox(compiled: CompiledPolicy, call: TimeboxCall): Decision {
  return decide(compiled, call.who, call.request, BENCH_NOW);
}

/** Cedar's vocabulary for a Timebox decision: anything that is not a deny is an allow (approval is not modelled). */
export function asCedar(d: Decision['decision']): CedarDecision {
  return d === 'deny' ? 'deny' : 'allow';
}

export interface Disagreement {
  index: number;
  request: GenRequest;
  timebox: Decision['decision'];
  timeboxRule: string | null;
  timeboxReasons: string[];
  cedar: CedarDecision;
  cedarPolicies: string[];
  cedarErrors: string[];
}

export interface Comparison {
  total: number;
  agree: boolean;
  disagreements: Disagreement[];
  timebox: Record<Decision['decision'], number>;
  cedar: Record<CedarDecision, number>;
  /** Cedar policy evaluation errors in the sample (each makes a policy not apply; expected: none). */
  cedarErrors: number;
}

/**
 * Compares decisions already made (index-aligned with `requests`, so the timed runs can keep only the verdicts);
 * a disagreement is decided again by both engines to explain it.
 */
export function compareDecisions(
  requests: readonly GenRequest[],
  timebox: readonly Decision['decision'][],
  cedarDecisions: readonly CedarDecision[],
  compiled: CompiledPolicy,
  engine: CedarEngine,
  cedarErrors = 0,
): Comparison {
  const counts = { allow: 0, 'needs-approval': 0, deny: 0 };
  const cedarCounts = { allow: 0, deny: 0 };
  const disagreements: Disagreement[] = [];
  requests.forEach((request, index) => {
    const t = timebox[index] as Decision['decision'];
    const c = cedarDecisions[index] as CedarDecision;
    counts[t]++;
    cedarCounts[c]++;
    if (asCedar(t) === c) return;
    const again = decideTimebox(compiled, timeboxCall(request));
    const answer = engine.answer(engine.call(request));
    disagreements.push({
      index,
      request,
      timebox: t,
      timeboxRule: again.rule,
      timeboxReasons: again.reasons.map((r) => `${r.code}: ${r.message}`),
      cedar: c,
      cedarPolicies: answer.type === 'success' ? answer.response.diagnostics.reason : [],
      cedarErrors:
        answer.type === 'success'
          ? answer.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`)
          : answer.errors.map((e) => e.message),
    });
  });
  return {
    total: requests.length,
    agree: disagreements.length === 0,
    disagreements,
    timebox: counts,
    cedar: cedarCounts,
    cedarErrors,
  };
}

/**
 * Decides every request with both engines (untimed) and compares: the correctness half of the benchmark.
 * `cedarModel` renders Cedar from another model than Timebox's (tests use it to show a broken encoding is caught).
 */
export function compareEngines(
  policy: GeneratedPolicy,
  requests: readonly GenRequest[],
  cedarModel: GeneratedPolicy = policy,
): Comparison {
  const compiled = loadTimebox(policyYaml(policy));
  const engine = new CedarEngine(cedarModel);
  const timebox = requests.map((r) => decideTimebox(compiled, timeboxCall(r)).decision);
  let errors = 0;
  const cedarDecisions = requests.map((r) => {
    const answer = engine.answer(engine.call(r));
    if (answer.type === 'success') errors += answer.response.diagnostics.errors.length;
    return decisionOf(answer);
  });
  return compareDecisions(requests, timebox, cedarDecisions, compiled, engine, errors);
}

/** One disagreement, readably. */
export function formatDisagreement(d: Disagreement): string {
  return [
    `#${d.index} ${JSON.stringify(d.request)}`,
    `  timebox: ${d.timebox}${d.timeboxRule ? ` (rule ${d.timeboxRule})` : ''}${d.timeboxReasons.length > 0 ? `\n    ${d.timeboxReasons.slice(0, 4).join('\n    ')}` : ''}`,
    `  cedar:   ${d.cedar}${d.cedarPolicies.length > 0 ? ` (policies ${d.cedarPolicies.join(', ')})` : ''}${d.cedarErrors.length > 0 ? `\n    errors: ${d.cedarErrors.join('; ')}` : ''}`,
  ].join('\n');
}
