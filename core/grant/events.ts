import type { ApprovalRequirement } from '../decide';
import type { Reason } from '../reasons';
import type { EffectiveScope } from '../scope/types';

/**
 * Every change to a grant is one of these events, appended to the grant's stream with the next sequence number.
 * The grant's state is nothing but the fold of its events (./state.ts), so there is no state change without an
 * event, by construction. Events are hash-chained (./chain.ts).
 */

export const GRANT_STATUSES = [
  'pending',
  'approved',
  'active',
  'expired',
  'revoked',
  'denied',
  'cancelled',
  'lapsed',
] as const;
export type GrantStatus = (typeof GRANT_STATUSES)[number];
export const TERMINAL_STATUSES: readonly GrantStatus[] = ['expired', 'revoked', 'denied', 'cancelled', 'lapsed'];

export interface Actor {
  /** A principal id, or `timebox` for the broker itself (scheduler, sweeper). */
  id: string;
  kind: 'principal' | 'system';
  sourceIp?: string;
  userAgent?: string;
  mfa?: boolean;
}

/** What a grant is for, frozen at request time so later policy edits do not change an existing grant. */
export type TargetSnapshot =
  | { kind: 'aws-role'; name: string; account: string; role: string; partition: string; roleArn: string }
  | { kind: 'gcp-role'; name: string; project: string }
  | { kind: 'grpc'; name: string; audience: string };

export interface RequestedData {
  requester: { id: string; groups: string[]; mfa: boolean; sourceIp?: string; attributes: Record<string, string> };
  target: TargetSnapshot;
  scope: EffectiveScope | null;
  /** Requested length of access in milliseconds. */
  duration: number;
  reason: string;
  ticket?: string;
  /** Explicit start time, when asked for. */
  startAt?: string;
  decision: 'allow' | 'needs-approval' | 'deny';
  rule: string | null;
  reasons: Reason[];
  approval: ApprovalRequirement | null;
  pendingUntil: string | null;
  /** Conditions re-checked when credentials are issued. */
  conditions: { sourceIp?: string[]; mfa: boolean };
  /** The rule's hours window, re-applied at activation (expiry capped at the window's end). */
  hours?: string;
  extends?: string;
  /** SHA-256 of the request body sent with an Idempotency-Key. */
  requestHash?: string;
}

export type EventBody =
  | { type: 'requested'; data: RequestedData }
  | { type: 'approved'; data: { comment?: string; approvals: number; required: number } }
  | { type: 'denied'; data: { comment: string } }
  | { type: 'cancelled'; data: { comment?: string } }
  | { type: 'lapsed'; data: { reason: Reason } }
  | { type: 'activated'; data: { activatedAt: string; expiresAt: string } }
  | { type: 'access-provisioned'; data: { details: Record<string, unknown> } }
  | {
      type: 'access-failed';
      data: { step: 'provision' | 'remove' | 'schedule'; error: { code: string; message: string } };
    }
  | { type: 'credentials-issued'; data: { kind: string; expiresAt: string; details: Record<string, unknown> } }
  | { type: 'revoked'; data: { reason: string } }
  | {
      type: 'expired';
      /** `by`: what ended it, the grant's own schedule or the sweeper's safety net (absent on older events). */
      data: { expiresAt: string; by?: ExpiredBy };
    }
  | { type: 'access-removed'; data: { details: Record<string, unknown> } };

export type EventType = EventBody['type'];

/** What carried out an expiry: the per-grant schedule, or the sweeper that found it overdue. */
export type ExpiredBy = 'schedule' | 'sweeper';

/** An event as decided by a command, before it is numbered and chained. */
export type EventDraft = EventBody & { actor: Actor };

/** An event as stored. `target` is denormalised onto every event so audit queries by target need no join. */
export type GrantEvent = EventDraft & {
  grantId: string;
  seq: number;
  at: string;
  target: string;
  prevHash: string;
  hash: string;
};

export const SYSTEM_ACTOR: Actor = { id: 'timebox', kind: 'system' };
