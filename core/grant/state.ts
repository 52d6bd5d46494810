import type { ApprovalRequirement } from '../decide';
import type { EffectiveScope } from '../scope/types';
import {
  type GrantEvent,
  type GrantStatus,
  type RequestedData,
  type TargetSnapshot,
  TERMINAL_STATUSES,
} from './events';

/**
 * A grant as the fold of its events. Also the projection's shape (stores add their index keys, e.g.
 * adapters/aws/dynamodb.ts).
 */
export interface Grant {
  id: string;
  status: GrantStatus;
  requester: RequestedData['requester'];
  target: TargetSnapshot;
  scope: EffectiveScope | null;
  duration: number;
  reason: string;
  ticket?: string;
  rule: string | null;
  requestedAt: string;
  startAt?: string;
  pendingUntil: string | null;
  approval: ApprovalRequirement | null;
  approvals: { by: string; at: string; comment?: string }[];
  conditions: RequestedData['conditions'];
  hours?: string;
  extends?: string;
  requestHash?: string;
  decidedAt?: string;
  decidedBy?: string;
  activatedAt?: string;
  expiresAt?: string;
  endedAt?: string;
  endedBy?: string;
  endReason?: string;
  /** Cloud-side access currently in place (a GCP binding); cleared by access-removed. */
  accessInPlace: boolean;
  /** A provision or removal that failed and still needs doing (the sweeper retries). */
  cleanupNeeded: boolean;
  credentialsIssued: number;
  /** Latest expiry of any credential issued: early revocation must last at least until then. */
  lastCredentialExpiresAt?: string;
  lastSeq: number;
  lastHash: string;
  updatedAt: string;
  /** Projection only: events up to this seq reached the bus. */
  publishedSeq?: number;
}

export function isTerminal(status: GrantStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Folds a stream (ordered by seq) into the grant's state. Throws on a stream that does not start with `requested`. */
export function foldGrant(events: readonly GrantEvent[]): Grant {
  const first = events[0];
  if (first?.type !== 'requested') throw new Error('a grant stream must start with a requested event');
  let g = fromRequested(first as GrantEvent & { type: 'requested' });
  for (let i = 1; i < events.length; i++) g = applyEvent(g, events[i] as GrantEvent);
  return g;
}

function fromRequested(e: GrantEvent & { type: 'requested' }): Grant {
  const d = e.data;
  const status: GrantStatus = d.decision === 'deny' ? 'denied' : d.decision === 'allow' ? 'approved' : 'pending';
  return {
    id: e.grantId,
    status,
    requester: d.requester,
    target: d.target,
    scope: d.scope,
    duration: d.duration,
    reason: d.reason,
    ...(d.ticket === undefined ? {} : { ticket: d.ticket }),
    rule: d.rule,
    requestedAt: e.at,
    ...(d.startAt === undefined ? {} : { startAt: d.startAt }),
    pendingUntil: d.pendingUntil,
    approval: d.approval,
    approvals: [],
    conditions: d.conditions,
    ...(d.hours === undefined ? {} : { hours: d.hours }),
    ...(d.extends === undefined ? {} : { extends: d.extends }),
    ...(d.requestHash === undefined ? {} : { requestHash: d.requestHash }),
    ...(status === 'pending' ? {} : { decidedAt: e.at, decidedBy: status === 'denied' ? 'policy' : 'policy:auto' }),
    ...(status === 'denied'
      ? { endedAt: e.at, endedBy: 'policy', endReason: d.reasons.map((r) => r.code).join(',') }
      : {}),
    accessInPlace: false,
    cleanupNeeded: false,
    credentialsIssued: 0,
    lastSeq: e.seq,
    lastHash: e.hash,
    updatedAt: e.at,
  };
}

/** Applies one event. Pure; the commands (./commands.ts) only produce events that are valid for the state. */
export function applyEvent(g: Grant, e: GrantEvent): Grant {
  const next: Grant = { ...g, lastSeq: e.seq, lastHash: e.hash, updatedAt: e.at };
  switch (e.type) {
    case 'requested':
      throw new Error(`event ${e.seq} of ${g.id}: a stream has exactly one requested event`);
    case 'approved': {
      next.approvals = [
        ...g.approvals,
        { by: e.actor.id, at: e.at, ...(e.data.comment ? { comment: e.data.comment } : {}) },
      ];
      if (e.data.approvals >= e.data.required) {
        next.status = 'approved';
        next.decidedAt = e.at;
        next.decidedBy = next.approvals.map((a) => a.by).join(',');
      }
      return next;
    }
    case 'denied':
      return {
        ...next,
        status: 'denied',
        decidedAt: e.at,
        decidedBy: e.actor.id,
        endedAt: e.at,
        endedBy: e.actor.id,
        endReason: e.data.comment,
      };
    case 'cancelled':
      return {
        ...next,
        status: 'cancelled',
        endedAt: e.at,
        endedBy: e.actor.id,
        endReason: e.data.comment ?? 'cancelled',
      };
    case 'lapsed':
      return { ...next, status: 'lapsed', endedAt: e.at, endedBy: e.actor.id, endReason: e.data.reason.code };
    case 'activated':
      return { ...next, status: 'active', activatedAt: e.data.activatedAt, expiresAt: e.data.expiresAt };
    case 'access-provisioned':
      return { ...next, accessInPlace: true, cleanupNeeded: isTerminal(g.status) };
    case 'access-failed':
      return { ...next, cleanupNeeded: true };
    case 'credentials-issued': {
      const later =
        !g.lastCredentialExpiresAt || Date.parse(e.data.expiresAt) > Date.parse(g.lastCredentialExpiresAt)
          ? e.data.expiresAt
          : g.lastCredentialExpiresAt;
      return { ...next, credentialsIssued: g.credentialsIssued + 1, lastCredentialExpiresAt: later };
    }
    case 'revoked':
      return {
        ...next,
        status: 'revoked',
        endedAt: e.at,
        endedBy: e.actor.id,
        endReason: e.data.reason,
        cleanupNeeded: g.accessInPlace || g.credentialsIssued > 0 || g.cleanupNeeded,
      };
    case 'expired':
      return {
        ...next,
        status: 'expired',
        endedAt: e.at,
        endedBy: e.actor.id,
        endReason: 'expired',
        cleanupNeeded: g.accessInPlace || g.cleanupNeeded,
      };
    case 'access-removed':
      return { ...next, accessInPlace: false, cleanupNeeded: false };
  }
}
