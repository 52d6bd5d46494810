import type { AuthorizationAnswer, EntityJson, StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { capMinutes, type GeneratedPolicy, type GenRequest, type GenRule, type GenTarget } from './policy-gen';

/**
 * The generated policy as a Cedar 4 policy set, for the decision benchmark's comparison with Timebox.
 *
 * Entities: `User::"<id>"` whose parents are the `Group::"<name>"` entities it belongs to (flattened, nesting
 * included), and `Target::"<name>"` resources. One action, `Action::"request"`. One `permit` per rule:
 *
 *   permit (principal, action == Action::"request", resource) when {
 *     ((resource == Target::"t1" && context.durationSeconds <= <cap> && (!(context has scope) || <scope fits>))
 *      || ...one clause per target of the rule) &&
 *     principal in [Group::"g", User::"u"] &&
 *     context.durationSeconds > 0 &&
 *     context.mfa &&                                               (require.mfa)
 *     context has sourceIp && (ip(context.sourceIp).isInRange(ip("10.0.0.0/8")) || ...)   (when.sourceIp)
 *   };
 *
 * The per-target clause comes first because it is the most selective test, so Cedar's short-circuiting `&&`
 * drops most of the 1,000 policies after one comparison: the encoding is as kind to Cedar as it can be.
 *
 * Scopes: a requested scope fits when it matches one of the allowed patterns of its half with Cedar's `like`
 * (`*` matches any run of characters). Every pattern Timebox allows here ends in a separator followed by `*`
 * (`s3:List*`, `/acme.svc1.v1.Api/*`, `/acme.svc1.admin.*`, `arn:aws:s3:::b/*`), and for such patterns `like`
 * agrees with Timebox's segment-aware containment, including for requested patterns (`"s3:List*" like
 * "s3:List*"` is true because a `*` in the pattern also matches a literal `*`). GCP roles are exact strings.
 *
 * What Cedar does not express and the benchmark therefore does not generate: hours windows (Cedar's datetime
 * extension could, not encoded here), several scopes in one request (Cedar has no "every element of a set
 * matches one of these patterns"), IAM `?` wildcards and case-insensitive action names, approval counts
 * (`needs-approval` compares as Cedar Allow).
 */

export type CedarDecision = 'allow' | 'deny';

const str = (s: string): string => JSON.stringify(s);
const entity = (type: string, id: string): string => `${type}::${str(id)}`;

/** The Cedar text of one rule. */
export function cedarRule(p: GeneratedPolicy, rule: GenRule): string {
  const clauses = rule.targets.map((name) => targetClause(rule, p.targetByName.get(name) as GenTarget));
  const who = [...rule.whoGroups.map((g) => entity('Group', g)), ...rule.whoPrincipals.map((u) => entity('User', u))];
  const conditions = [
    clauses.length === 1 ? (clauses[0] as string) : `(${clauses.join(' || ')})`,
    `principal in [${who.join(', ')}]`,
    'context.durationSeconds > 0',
  ];
  if (rule.mfa) conditions.push('context.mfa');
  if (rule.sourceIp) {
    const ranges = rule.sourceIp.map((c) => `ip(context.sourceIp).isInRange(ip(${str(c)}))`);
    conditions.push(`context has sourceIp && (${ranges.join(' || ')})`);
  }
  return `permit (principal, action == Action::"request", resource) when {\n  ${conditions.join(' &&\n  ')}\n};`;
}

function targetClause(rule: GenRule, target: GenTarget): string {
  const capSeconds = capMinutes(rule, target) * 60;
  const fits = allowance(rule, target).map((pattern) =>
    target.kind === 'gcp-role' ? `context.scope == ${str(pattern)}` : `context.scope like ${str(pattern)}`,
  );
  return `(resource == ${entity('Target', target.name)} && context.durationSeconds <= ${capSeconds} && (!(context has scope) || ${fits.join(' || ')}))`;
}

/**
 * What a requested scope may be within on this target under this rule: the rule's scopes where it narrows a
 * half, the target's own list for a half it does not narrow (AWS actions and resources are separate halves).
 */
export function allowance(rule: GenRule, target: GenTarget): string[] {
  const scopes = rule.scopes ?? [];
  if (target.kind === 'aws-role') {
    const resources = scopes.filter((s) => s.startsWith('arn:'));
    const actions = scopes.filter((s) => !s.startsWith('arn:'));
    return [
      ...(actions.length > 0 ? actions : target.actions),
      ...(resources.length > 0 ? resources : target.resources),
    ];
  }
  if (scopes.length > 0) return scopes;
  return target.kind === 'grpc' ? target.methods : target.roles;
}

/** Every rule as a Cedar policy, keyed by rule name (the ids Cedar reports in its diagnostics). */
export function cedarPolicySet(p: GeneratedPolicy): Record<string, string> {
  return Object.fromEntries(p.rules.map((r) => [r.name, cedarRule(p, r)]));
}

let nextId = 0;

export interface CedarEngineOptions {
  /**
   * Preparse one policy set per target (the rules naming it) and send each request to its target's set: the
   * index Timebox's compiled policy keeps (`rulesFor(target)`), done by the application because Cedar evaluates
   * every policy of the set it is given.
   */
  sliceByTarget?: boolean;
}

/**
 * Cedar with the policy set preparsed once (`preparsePolicySet`) and each request answered by
 * `statefulIsAuthorized`. Cedar 4.13's stateful API caches policy sets and schemas only: entities travel with
 * every call, so each call carries the slice the policies read, the principal with its groups as parents.
 */
export class CedarEngine {
  private readonly prefix: string;
  private readonly sliced: boolean;
  private readonly slices = new Set<string>();

  constructor(
    private readonly policy: GeneratedPolicy,
    opts: CedarEngineOptions = {},
  ) {
    this.prefix = `timebox-bench-${process.pid}-${nextId++}`;
    this.sliced = opts.sliceByTarget ?? false;
    const all = cedarPolicySet(policy);
    if (!this.sliced) {
      preparse(this.prefix, all);
      return;
    }
    const byTarget = new Map<string, Record<string, string>>();
    for (const rule of policy.rules) {
      for (const t of rule.targets) {
        const set = byTarget.get(t) ?? {};
        set[rule.name] = all[rule.name] as string;
        byTarget.set(t, set);
      }
    }
    // Targets no rule names, and names that are no target at all, go to an empty set: Cedar denies by default.
    preparse(`${this.prefix}/`, {});
    for (const [target, set] of byTarget) {
      preparse(`${this.prefix}/${target}`, set);
      this.slices.add(target);
    }
  }

  /** The id of the preparsed policy set a request for `target` is checked against. */
  policySetId(target: string): string {
    if (!this.sliced) return this.prefix;
    return this.slices.has(target) ? `${this.prefix}/${target}` : `${this.prefix}/`;
  }

  /** The call for one request, built ahead of time so the benchmark times Cedar and not this translation. */
  call(r: GenRequest): StatefulAuthorizationCall {
    const user = { type: 'User', id: r.principal };
    const parents = (this.policy.groupsOf.get(r.principal) ?? []).map((g) => ({ type: 'Group', id: g }));
    const entities: EntityJson[] = [{ uid: user, attrs: {}, parents }];
    return {
      principal: user,
      action: { type: 'Action', id: 'request' },
      resource: { type: 'Target', id: r.target },
      context: {
        durationSeconds: r.durationSeconds,
        mfa: r.mfa,
        ...(r.sourceIp === undefined ? {} : { sourceIp: r.sourceIp }),
        ...(r.scope === undefined ? {} : { scope: r.scope }),
      },
      preparsedPolicySetId: this.policySetId(r.target),
      validateRequest: false,
      entities,
    };
  }

  /** Cedar's raw answer for a prepared call. */
  answer(call: StatefulAuthorizationCall): AuthorizationAnswer {
    return cedar.statefulIsAuthorized(call);
  }

  /** Allow or deny; throws when Cedar could not evaluate the request at all. */
  decide(call: StatefulAuthorizationCall): CedarDecision {
    return decisionOf(cedar.statefulIsAuthorized(call));
  }
}

function preparse(id: string, policies: Record<string, string>): void {
  const answer = cedar.preparsePolicySet(id, { staticPolicies: policies });
  if (answer.type !== 'success') {
    throw new Error(`Cedar refused policy set ${id}: ${answer.errors.map((e) => e.message).join('; ')}`);
  }
}

/** The decision in an answer; throws on a failed call (a malformed request, not a deny). */
export function decisionOf(answer: AuthorizationAnswer): CedarDecision {
  if (answer.type !== 'success') {
    throw new Error(`Cedar could not evaluate the request: ${answer.errors.map((e) => e.message).join('; ')}`);
  }
  return answer.response.decision;
}

/** The Cedar version in use, for the report. */
export function cedarVersion(): string {
  return cedar.getCedarVersion();
}
