import type { EventType, GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import type { Reason } from '../../core/reasons';

/**
 * The public shape of a lifecycle event outside the broker: the `detail` of every event on the `timebox`
 * EventBridge bus, the body of every signed webhook, and what the notifier turns into Slack messages.
 * Versioned (`version: 1`); fields are only ever added within a version. It never carries a secret: credential
 * material, provider details (bindings, access key ids), the requester's identity attributes and the request's
 * idempotency hash stay in the audit table.
 */

/** `Source` of every Timebox event on the bus (rules match on it). */
export const EVENT_SOURCE = 'timebox';
export const DETAIL_VERSION = 1;

/** One EventBridge `DetailType` per lifecycle event type: stable, documented in docs/notifications.md. */
export const DETAIL_TYPES: Readonly<Record<EventType, string>> = Object.freeze({
  requested: 'Timebox Grant Requested',
  approved: 'Timebox Grant Approved',
  denied: 'Timebox Grant Denied',
  cancelled: 'Timebox Grant Cancelled',
  lapsed: 'Timebox Grant Lapsed',
  activated: 'Timebox Grant Activated',
  'access-provisioned': 'Timebox Access Provisioned',
  'access-failed': 'Timebox Access Failed',
  'credentials-issued': 'Timebox Credentials Issued',
  revoked: 'Timebox Grant Revoked',
  expired: 'Timebox Grant Expired',
  'access-removed': 'Timebox Access Removed',
});

/** Published when a Slack user the operator has not mapped to a principal clicks Approve or Deny. */
export const SLACK_REFUSED_DETAIL_TYPE = 'Timebox Slack Action Refused';

/**
 * The grant as it stands after the event (the fold of the stream up to and including it, or later): the fields of
 * Grant a subscriber may see, named here so the public schema never grows by accident, and the requester by id only.
 */
export type GrantSummary = Pick<
  Grant,
  | 'status'
  | 'target'
  | 'scope'
  | 'duration'
  | 'reason'
  | 'ticket'
  | 'rule'
  | 'requestedAt'
  | 'startAt'
  | 'pendingUntil'
  | 'approval'
  | 'approvals'
  | 'decidedAt'
  | 'decidedBy'
  | 'activatedAt'
  | 'expiresAt'
  | 'endedAt'
  | 'endedBy'
  | 'endReason'
  | 'extends'
> & { requester: string };

/** Event-specific fields, by type; a safe subset of the stored event's `data`. */
export type DetailData =
  | {
      decision: 'allow' | 'needs-approval' | 'deny';
      rule: string | null;
      reasons: Reason[];
      duration: number;
      startAt?: string;
      pendingUntil: string | null;
    }
  | { approvals: number; required: number; comment?: string }
  | { comment?: string }
  | { reason: Reason }
  | { activatedAt: string; expiresAt: string }
  | { step: string; error: { code: string; message: string } }
  | { kind: string; expiresAt: string }
  | { reason: string }
  | { expiresAt: string }
  | Record<string, never>;

export interface LifecycleDetail {
  version: 1;
  grantId: string;
  seq: number;
  type: EventType;
  at: string;
  actor: { id: string; kind: 'principal' | 'system'; mfa?: boolean; sourceIp?: string };
  target: string;
  data: DetailData;
  grant: GrantSummary;
  /**
   * The event's chain hashes, as stored. Kept outside the broker (the stack's bus archive, a SIEM), they witness the
   * record: a chain rewritten in the table no longer matches what was published.
   */
  hash: string;
  prevHash: string;
  /** Set when bulky fields (scope, reasons) were left out to fit EventBridge's 256 KB entry limit. */
  truncated?: true;
}

/** The state a subscriber may see: everything but bookkeeping and the requester's identity attributes. */
export function grantSummary(g: Grant): GrantSummary {
  const opt = <K extends keyof Grant>(k: K) => (g[k] === undefined ? {} : { [k]: g[k] });
  return {
    status: g.status,
    requester: g.requester.id,
    target: g.target,
    scope: g.scope,
    duration: g.duration,
    reason: g.reason,
    ...opt('ticket'),
    rule: g.rule,
    requestedAt: g.requestedAt,
    ...opt('startAt'),
    pendingUntil: g.pendingUntil,
    approval: g.approval,
    approvals: g.approvals.map((a) => ({ by: a.by, at: a.at, ...(a.comment ? { comment: a.comment } : {}) })),
    ...opt('decidedAt'),
    ...opt('decidedBy'),
    ...opt('activatedAt'),
    ...opt('expiresAt'),
    ...opt('endedAt'),
    ...opt('endedBy'),
    ...opt('endReason'),
    ...opt('extends'),
  } as GrantSummary;
}

/** The safe part of an event's data: provider `details` (bindings, access key ids) never leave the audit table. */
export function detailData(e: GrantEvent): DetailData {
  switch (e.type) {
    case 'requested':
      return {
        decision: e.data.decision,
        rule: e.data.rule,
        reasons: e.data.reasons,
        duration: e.data.duration,
        ...(e.data.startAt ? { startAt: e.data.startAt } : {}),
        pendingUntil: e.data.pendingUntil,
      };
    case 'approved':
      return {
        approvals: e.data.approvals,
        required: e.data.required,
        ...(e.data.comment ? { comment: e.data.comment } : {}),
      };
    case 'denied':
      return { comment: e.data.comment };
    case 'cancelled':
      return e.data.comment ? { comment: e.data.comment } : {};
    case 'lapsed':
      return { reason: e.data.reason };
    case 'activated':
      return { activatedAt: e.data.activatedAt, expiresAt: e.data.expiresAt };
    case 'access-failed':
      return { step: e.data.step, error: { code: e.data.error.code, message: e.data.error.message } };
    case 'credentials-issued':
      return { kind: e.data.kind, expiresAt: e.data.expiresAt };
    case 'revoked':
      return { reason: e.data.reason };
    case 'expired':
      return { expiresAt: e.data.expiresAt };
    case 'access-provisioned':
    case 'access-removed':
      return {};
  }
}

/** The public detail of one event, with the grant as it stands now. */
export function lifecycleDetail(e: GrantEvent, g: Grant): LifecycleDetail {
  return {
    version: DETAIL_VERSION,
    grantId: e.grantId,
    seq: e.seq,
    type: e.type,
    at: e.at,
    actor: {
      id: e.actor.id,
      kind: e.actor.kind,
      ...(e.actor.mfa === undefined ? {} : { mfa: e.actor.mfa }),
      ...(e.actor.sourceIp ? { sourceIp: e.actor.sourceIp } : {}),
    },
    target: e.target,
    data: detailData(e),
    grant: grantSummary(g),
    hash: e.hash,
    prevHash: e.prevHash,
  };
}

/** The same detail without its bulky, optional parts (scope lists and decision reasons), marked as truncated. */
export function truncatedDetail(d: LifecycleDetail): LifecycleDetail {
  const data = { ...d.data } as Record<string, unknown>;
  if (Array.isArray(data.reasons)) data.reasons = [];
  return { ...d, data: data as DetailData, grant: { ...d.grant, scope: null }, truncated: true };
}
