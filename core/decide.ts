import { sessionPolicyJson } from './builders/aws';
import { formatDuration } from './duration';
import { isTimeboxError } from './errors';
import { type CompiledPolicy, type CompiledRule, subjectToString } from './policy/compile';
import { windowCovers } from './policy/hours';
import type { Rule, Target } from './policy/types';
import { normalizePrincipalId, type Principal } from './principal';
import { type Reason, reason } from './reasons';
import { resolveScope } from './scope/resolve';
import type { EffectiveScope, ScopeResult } from './scope/types';

/** What is being asked for. `duration` in milliseconds; `startAt` absent means "as soon as decided". */
export interface AccessRequest {
  target: string;
  scopes: string[];
  duration: number;
  startAt?: Date;
}

export interface ApprovalRequirement {
  count: number;
  /** Subjects as written in the policy (`group:secops`, `carol@corp.com`). */
  from: string[];
  requireMfa: boolean;
}

export interface Decision {
  decision: 'allow' | 'needs-approval' | 'deny';
  rule: string | null;
  reasons: Reason[];
  target: Target | null;
  scope: EffectiveScope | null;
  startAt: Date;
  /** Planned end if activated at `startAt`; null on deny. */
  expiresAt: Date | null;
  /** The ceiling applied: min(rule, target, global). */
  maxDuration: number | null;
  approval: ApprovalRequirement | null;
  /** When a request waiting for approval lapses. */
  pendingUntil: Date | null;
}

/** A start time this far in the past is treated as "now" (clock skew between CLI and broker). */
export const START_SKEW_MS = 60_000;

/**
 * Decides a request against the policy: `allow` (auto-approved), `needs-approval` (who and how many) or `deny`
 * with reasons. Deny by default. When several rules would admit the request, the one needing least approval wins
 * (auto before approvers, fewer approvers before more), then the earliest in the file: deterministic, and never
 * makes a requester wait for approvals another rule would not need.
 */
export function decide(compiled: CompiledPolicy, who: Principal, request: AccessRequest, now: Date): Decision {
  const startAt = request.startAt && request.startAt.getTime() > now.getTime() ? request.startAt : now;
  const denied = (reasons: Reason[], target: Target | null = null, rule: string | null = null): Decision => ({
    decision: 'deny',
    rule,
    reasons,
    target,
    scope: null,
    startAt,
    expiresAt: null,
    maxDuration: null,
    approval: null,
    pendingUntil: null,
  });

  const target = compiled.target(request.target);
  if (!target) return denied([reason('TARGET.UNKNOWN', `no target named "${request.target}"`)]);
  if (!Number.isFinite(request.duration) || request.duration <= 0)
    return denied([reason('DURATION.INVALID', 'duration must be longer than zero')], target);

  const principalId = normalizePrincipalId(who.id);
  const fileGroups = compiled.groupsOf(principalId);
  const eligible = compiled
    .rulesFor(target.name)
    .filter(
      (r) => r.whoPrincipals.has(principalId) || some(r.whoGroups, (g) => fileGroups.has(g) || who.groups.includes(g)),
    );
  if (eligible.length === 0)
    return denied([reason('RULE.NO_MATCH', `no rule lets ${principalId} request ${target.name}`)], target);

  let best: { decision: Decision; rank: [number, number] } | undefined;
  const failures: Reason[] = [];
  for (const candidate of eligible) {
    const outcome = evaluateRule(compiled, candidate, target, who, principalId, request, startAt, now);
    if ('failed' in outcome) {
      for (const r of outcome.failed)
        failures.push({ code: r.code, message: `rule ${candidate.rule.name}: ${r.message}` });
      continue;
    }
    const rank: [number, number] = [outcome.approval?.count ?? 0, candidate.rule.index];
    if (!best || rank[0] < best.rank[0] || (rank[0] === best.rank[0] && rank[1] < best.rank[1]))
      best = { decision: outcome, rank };
  }
  if (best) return best.decision;
  // One rule: its name goes with the reasons, so `plan` shows which rule was closest.
  return denied(failures, target, eligible.length === 1 ? (eligible[0] as CompiledRule).rule.name : null);
}

function evaluateRule(
  compiled: CompiledPolicy,
  candidate: CompiledRule,
  target: Target,
  who: Principal,
  principalId: string,
  request: AccessRequest,
  startAt: Date,
  now: Date,
): Decision | { failed: Reason[] } {
  const { rule } = candidate;
  const { settings } = compiled.policy;
  const reasons: Reason[] = [];

  let scoped: ScopeResult;
  if (request.scopes.length > 0) scoped = resolveScope(target, rule.scopes, request.scopes);
  else {
    const cached = candidate.wholeScope.get(target.name);
    scoped = cached ?? resolveScope(target, rule.scopes, request.scopes);
    if (!cached) candidate.wholeScope.set(target.name, deepFreeze(scoped));
  }
  if (!scoped.ok) reasons.push(...scoped.reasons);

  const cap = Math.min(
    rule.maxDuration ?? Number.POSITIVE_INFINITY,
    target.maxDuration ?? Number.POSITIVE_INFINITY,
    settings.maxDuration,
  );
  if (request.duration > cap)
    reasons.push(
      reason(
        'DURATION.TOO_LONG',
        `${formatDuration(request.duration)} is longer than the ${formatDuration(cap)} allowed`,
      ),
    );

  if (request.startAt) {
    const ahead = rule.maxStartAhead ?? settings.maxStartAhead;
    if (request.startAt.getTime() < now.getTime() - START_SKEW_MS)
      reasons.push(reason('START.IN_PAST', `start time ${request.startAt.toISOString()} is in the past`));
    else if (request.startAt.getTime() > now.getTime() + ahead)
      reasons.push(reason('START.TOO_FAR', `start time is more than ${formatDuration(ahead)} ahead`));
  }

  reasons.push(...conditionReasons(candidate, who, startAt, new Date(startAt.getTime() + request.duration)));

  let approval: ApprovalRequirement | null = null;
  if (rule.approval.kind === 'approvers') {
    const eligibleApprovers = candidate.approvers.size - (candidate.approvers.has(principalId) ? 1 : 0);
    approval = {
      count: rule.approval.count,
      from: rule.approval.from.map(subjectToString),
      requireMfa: rule.approval.requireMfa || rule.require.mfa,
    };
    // Asserted-only group members cannot be counted here; the policy check makes the file alone sufficient.
    if (eligibleApprovers < rule.approval.count)
      reasons.push(
        reason(
          'APPROVAL.NOT_ENOUGH_APPROVERS',
          `needs ${rule.approval.count} approvers other than the requester but only ${eligibleApprovers} are eligible`,
        ),
      );
  }

  if (scoped.ok && scoped.scope.kind === 'aws-role' && reasons.length === 0) {
    try {
      sessionPolicyJson(scoped.scope, new Date(startAt.getTime() + request.duration));
    } catch (e) {
      if (!isTimeboxError(e)) throw e;
      reasons.push(reason('SCOPE.TOO_LARGE', e.message));
    }
  }

  if (reasons.length > 0 || !scoped.ok) return { failed: reasons };
  const pendingTimeout = rule.pendingTimeout ?? settings.pendingTimeout;
  return {
    decision: approval ? 'needs-approval' : 'allow',
    rule: rule.name,
    reasons: [],
    target,
    scope: scoped.scope,
    startAt,
    expiresAt: new Date(startAt.getTime() + request.duration),
    maxDuration: cap,
    approval,
    pendingUntil: approval
      ? new Date(Math.min(startAt.getTime() + pendingTimeout, startAt.getTime() + request.duration))
      : null,
  };
}

/** Conditions and requirements of a rule: MFA, asserted attributes, source IP, hours. */
function conditionReasons(candidate: CompiledRule, who: Principal, start: Date, end: Date): Reason[] {
  const { rule } = candidate;
  const out: Reason[] = [];
  if (rule.require.mfa && !who.mfa) out.push(reason('CONDITION.MFA_REQUIRED', 'this rule requires an MFA session'));
  for (const [key, accepted] of Object.entries(rule.require.attributes)) {
    const actual = Object.hasOwn(who.attributes, key) ? who.attributes[key] : undefined;
    if (actual === undefined || !accepted.includes(actual))
      out.push(reason('CONDITION.ATTRIBUTE', `attribute ${key} must be one of ${accepted.join(', ')}`));
  }
  if (candidate.ipAllowed) {
    if (!who.sourceIp || !candidate.ipAllowed(who.sourceIp))
      out.push(
        reason(
          'CONDITION.SOURCE_IP',
          `source IP ${who.sourceIp ?? '(unknown)'} is outside ${rule.when.sourceIp?.join(', ')}`,
        ),
      );
  }
  if (rule.when.hours && !windowCovers(rule.when.hours, start, end))
    out.push(
      reason(
        'CONDITION.OUTSIDE_HOURS',
        `access from ${start.toISOString()} to ${end.toISOString()} is not within ${rule.when.hours.source}`,
      ),
    );
  return out;
}

/** Cached scope answers are shared between decisions; freezing them keeps one caller from changing another's. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function some<T>(set: ReadonlySet<T>, pred: (v: T) => boolean): boolean {
  for (const v of set) if (pred(v)) return true;
  return false;
}

/** Exposed for callers that need a rule's effective duration ceiling (activation caps). */
export function durationCap(compiled: CompiledPolicy, rule: Rule, target: Target): number {
  return Math.min(
    rule.maxDuration ?? Number.POSITIVE_INFINITY,
    target.maxDuration ?? Number.POSITIVE_INFINITY,
    compiled.policy.settings.maxDuration,
  );
}
