import { roleArn } from '../builders/aws';
import type { Decision } from '../decide';
import { ForbiddenError, StateError } from '../errors';
import { compileCidrs } from '../net';
import { type CompiledPolicy, subjectsInclude } from '../policy/compile';
import { parseHours, windowAt } from '../policy/hours';
import type { Subject, Target } from '../policy/types';
import { normalizePrincipalId, type Principal } from '../principal';
import { reason } from '../reasons';
import {
  type Actor,
  type EventDraft,
  type ExpiredBy,
  type RequestedData,
  SYSTEM_ACTOR,
  type TargetSnapshot,
} from './events';
import { type Grant, isTerminal } from './state';

/**
 * The grant aggregate's commands. Each takes the current state and returns exactly one event to append, or null
 * when there is nothing to do (an idempotent repeat), or throws a domain error. No I/O: the service (./service.ts)
 * reads, calls one of these, and appends with optimistic concurrency.
 */

export function actorOf(p: Principal): Actor {
  return {
    id: normalizePrincipalId(p.id),
    kind: 'principal',
    mfa: p.mfa,
    ...(p.sourceIp ? { sourceIp: p.sourceIp } : {}),
    ...(p.userAgent ? { userAgent: p.userAgent } : {}),
  };
}

export function targetSnapshot(t: Target): TargetSnapshot {
  switch (t.kind) {
    case 'aws-role':
      return {
        kind: t.kind,
        name: t.name,
        account: t.account,
        role: t.role,
        partition: t.partition,
        roleArn: roleArn(t),
      };
    case 'gcp-role':
      return { kind: t.kind, name: t.name, project: t.project };
    case 'grpc':
      return { kind: t.kind, name: t.name, audience: t.audience };
  }
}

/** The first event of a grant: the request and the policy's decision on it. */
export function requestCommand(args: {
  compiled: CompiledPolicy;
  who: Principal;
  decision: Decision;
  targetName: string;
  duration: number;
  reason: string;
  ticket?: string;
  startAt?: Date;
  extendsGrant?: string;
  requestHash?: string;
}): EventDraft {
  const { decision, who } = args;
  const rule = decision.rule ? args.compiled.rule(decision.rule) : undefined;
  const target: TargetSnapshot = decision.target
    ? targetSnapshot(decision.target)
    : // Unknown target: there is nothing to snapshot; the name is kept so the denial is on record.
      { kind: 'grpc', name: args.targetName, audience: '' };
  const data: RequestedData = {
    requester: {
      id: normalizePrincipalId(who.id),
      groups: who.groups,
      mfa: who.mfa,
      ...(who.sourceIp ? { sourceIp: who.sourceIp } : {}),
      attributes: who.attributes,
    },
    target,
    scope: decision.scope,
    duration: args.duration,
    reason: args.reason,
    ...(args.ticket ? { ticket: args.ticket } : {}),
    ...(args.startAt ? { startAt: args.startAt.toISOString() } : {}),
    decision: decision.decision,
    rule: decision.rule,
    reasons: decision.reasons,
    approval: decision.approval,
    pendingUntil: decision.pendingUntil?.toISOString() ?? null,
    conditions: {
      mfa: rule?.require.mfa ?? false,
      ...(rule?.when.sourceIp ? { sourceIp: rule.when.sourceIp } : {}),
    },
    ...(rule?.when.hours ? { hours: rule.when.hours.source } : {}),
    ...(args.extendsGrant ? { extends: args.extendsGrant } : {}),
    ...(args.requestHash ? { requestHash: args.requestHash } : {}),
  };
  return { type: 'requested', actor: actorOf(who), data };
}

/** Parses `group:x` / principal id back into a subject (events store the policy notation). */
export function parseSubject(s: string): Subject {
  return s.startsWith('group:') ? { kind: 'group', name: s.slice(6) } : { kind: 'principal', id: s };
}

/** May `who` decide (approve/deny) this grant? Throws the precise reason when not. */
export function assertCanDecide(g: Grant, who: Principal, compiled: CompiledPolicy): void {
  if (g.status !== 'pending')
    throw new StateError('GRANT.NOT_PENDING', `${g.id} is ${g.status}; only a pending request can be decided`);
  if (!g.approval) throw new StateError('GRANT.NOT_PENDING', `${g.id} needs no approval`);
  const id = normalizePrincipalId(who.id);
  if (id === g.requester.id)
    throw new ForbiddenError('APPROVAL.SELF', 'a requester can never decide their own request');
  if (!subjectsInclude(compiled, g.approval.from.map(parseSubject), id, who.groups))
    throw new ForbiddenError(
      'APPROVAL.NOT_ELIGIBLE',
      `${id} is not among the approvers of ${g.id} (${g.approval.from.join(', ')})`,
    );
  if (g.approval.requireMfa && !who.mfa)
    throw new ForbiddenError('APPROVAL.MFA_REQUIRED', 'approving this request requires an MFA session');
}

export function approveCommand(g: Grant, who: Principal, compiled: CompiledPolicy, comment?: string): EventDraft {
  assertCanDecide(g, who, compiled);
  const id = normalizePrincipalId(who.id);
  if (g.approvals.some((a) => a.by === id))
    throw new StateError(
      'APPROVAL.DUPLICATE',
      `${id} has already approved ${g.id}; approvals must come from distinct people`,
    );
  const required = g.approval?.count ?? 1;
  return {
    type: 'approved',
    actor: actorOf(who),
    data: { approvals: g.approvals.length + 1, required, ...(comment ? { comment } : {}) },
  };
}

export function denyCommand(g: Grant, who: Principal, compiled: CompiledPolicy, comment: string): EventDraft {
  assertCanDecide(g, who, compiled);
  return { type: 'denied', actor: actorOf(who), data: { comment } };
}

export function cancelCommand(g: Grant, who: Principal, comment?: string): EventDraft {
  if (normalizePrincipalId(who.id) !== g.requester.id)
    throw new ForbiddenError('GRANT.NOT_REQUESTER', 'only the requester can cancel a request');
  if (g.status !== 'pending' && g.status !== 'approved')
    throw new StateError(
      'GRANT.NOT_CANCELLABLE',
      `${g.id} is ${g.status}; only a pending or not-yet-active request can be cancelled`,
    );
  return { type: 'cancelled', actor: actorOf(who), data: comment ? { comment } : {} };
}

/**
 * Revoke: the requester, the grant's approvers, or a policy admin; or the broker itself. Wins over a late approval:
 * once revoked, the grant is terminal and nothing can decide or activate it again.
 */
export function revokeCommand(
  g: Grant,
  who: Principal | 'system',
  compiled: CompiledPolicy,
  why: string,
): EventDraft | null {
  if (who !== 'system') {
    const id = normalizePrincipalId(who.id);
    const isApprover = g.approval
      ? subjectsInclude(compiled, g.approval.from.map(parseSubject), id, who.groups)
      : false;
    const isAdmin = subjectsInclude(compiled, compiled.policy.settings.admins ?? [], id, who.groups);
    if (id !== g.requester.id && !isApprover && !isAdmin)
      throw new ForbiddenError(
        'GRANT.NOT_REVOKER',
        'only the requester, an approver of the grant or an admin can revoke it',
      );
  }
  if (g.status === 'revoked') return null;
  if (isTerminal(g.status)) throw new StateError('GRANT.ALREADY_ENDED', `${g.id} is already ${g.status}`);
  return { type: 'revoked', actor: who === 'system' ? SYSTEM_ACTOR : actorOf(who), data: { reason: why } };
}

/**
 * Activation of an approved grant once its start time has come. The expiry is fixed here: activation time plus
 * the requested duration, cut at the end of the rule's hours window. Activation outside the window lapses instead:
 * an approval that arrives after hours must not open access after hours.
 */
export function activateCommand(g: Grant, now: Date, original?: Grant): EventDraft | null {
  if (g.status !== 'approved') return null;
  if (g.startAt && Date.parse(g.startAt) > now.getTime()) return null;
  const passed = lapseCommand(g, now);
  if (passed) return passed;
  if (original && (original.status === 'revoked' || original.status === 'denied' || original.status === 'cancelled'))
    return {
      type: 'lapsed',
      actor: SYSTEM_ACTOR,
      data: {
        reason: reason('EXTENSION.ORIGINAL_ENDED', `the grant it extends, ${original.id}, was ${original.status}`),
      },
    };
  let expires = now.getTime() + g.duration;
  if (g.hours) {
    const parsed = parseHours(g.hours);
    // The text was valid when recorded; if it no longer parses, fail closed.
    const w = parsed.ok ? windowAt(parsed.window, now) : { inside: false };
    if (!w.inside)
      return {
        type: 'lapsed',
        actor: SYSTEM_ACTOR,
        data: { reason: reason('CONDITION.OUTSIDE_HOURS', `activation time is outside ${g.hours}`) },
      };
    if ('end' in w && w.end) expires = Math.min(expires, w.end.getTime());
  }
  return {
    type: 'activated',
    actor: SYSTEM_ACTOR,
    data: { activatedAt: now.toISOString(), expiresAt: new Date(expires).toISOString() },
  };
}

/** Expiry: only an active grant at or past its expiry. Early or repeated deliveries do nothing. */
export function expireCommand(g: Grant, now: Date, by?: ExpiredBy): EventDraft | null {
  if (g.status !== 'active' || !g.expiresAt || Date.parse(g.expiresAt) > now.getTime()) return null;
  return { type: 'expired', actor: SYSTEM_ACTOR, data: { expiresAt: g.expiresAt, ...(by ? { by } : {}) } };
}

/**
 * A pending request that waited too long, or an approved one whose whole window passed, lapses. Decisions and
 * activations check this first: an approval after the deadline, or an activation after the approved slot (a lost
 * schedule, a broker that was down), records the lapse instead of opening access nobody approved for that time.
 */
export function lapseCommand(g: Grant, now: Date): EventDraft | null {
  if (g.status === 'pending' && g.pendingUntil && Date.parse(g.pendingUntil) <= now.getTime())
    return {
      type: 'lapsed',
      actor: SYSTEM_ACTOR,
      data: { reason: reason('APPROVAL.TIMED_OUT', `no decision by ${g.pendingUntil}`) },
    };
  if (g.status === 'approved' && g.startAt && Date.parse(g.startAt) + g.duration <= now.getTime())
    return {
      type: 'lapsed',
      actor: SYSTEM_ACTOR,
      data: {
        reason: reason(
          'START.WINDOW_PASSED',
          `the approved window ${g.startAt} + ${Math.round(g.duration / 60_000)}m passed before activation`,
        ),
      },
    };
  return null;
}

/**
 * Checks that `who` may receive credentials for `g` now: the requester, an active grant before expiry, and the
 * rule's MFA and source-IP conditions re-checked against the caller of this call (not of the original request).
 */
export function assertCanIssue(g: Grant, who: Principal, now: Date): void {
  if (normalizePrincipalId(who.id) !== g.requester.id)
    throw new ForbiddenError('GRANT.NOT_REQUESTER', 'credentials go only to the requester of the grant');
  if (g.status !== 'active') throw new StateError('GRANT.NOT_ACTIVE', `${g.id} is ${g.status}`);
  if (!g.expiresAt || Date.parse(g.expiresAt) <= now.getTime())
    throw new StateError('GRANT.EXPIRED', `${g.id} has expired`);
  if (g.conditions.mfa && !who.mfa)
    throw new ForbiddenError('CONDITION.MFA_REQUIRED', 'this grant requires an MFA session');
  if (g.conditions.sourceIp && (!who.sourceIp || !compileCidrs(g.conditions.sourceIp)(who.sourceIp)))
    throw new ForbiddenError(
      'CONDITION.SOURCE_IP',
      `source IP ${who.sourceIp ?? '(unknown)'} is outside ${g.conditions.sourceIp.join(', ')}`,
    );
}
