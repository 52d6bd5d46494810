/** The API's answers as the console reads them (api/app.ts and api/views.ts are the source of truth). */

export type GrantStatus = 'pending' | 'approved' | 'active' | 'denied' | 'cancelled' | 'lapsed' | 'expired' | 'revoked';

export interface Grant {
  id: string;
  status: GrantStatus;
  requester: { id: string; groups: string[]; mfa: boolean; sourceIp?: string };
  target: { name: string; kind: 'aws-role' | 'gcp-role' | 'grpc'; [k: string]: unknown };
  scope: Record<string, unknown> | null;
  duration: number;
  reason: string;
  ticket?: string;
  rule: string | null;
  requestedAt: string;
  startAt?: string;
  pendingUntil: string | null;
  approval: { count: number; from: string[]; requireMfa: boolean } | null;
  approvals: { by: string; at: string; comment?: string }[];
  decidedAt?: string;
  decidedBy?: string;
  activatedAt?: string;
  expiresAt?: string;
  endedAt?: string;
  endedBy?: string;
  endReason?: string;
  credentialsIssued: number;
}

export interface Reason {
  code: string;
  message: string;
}

export interface DecisionView {
  decision: 'allow' | 'needs-approval' | 'deny';
  rule: string | null;
  reasons: Reason[];
  startAt: string;
  expiresAt: string | null;
  maxDuration: number | null;
  approval: { count: number; from: string[]; requireMfa: boolean } | null;
  pendingUntil: string | null;
}

/** The wire form of core's eligibility answer (type only: nothing of core is bundled). */
export type { EligibleOption } from '../core/eligibility';

import type { EligibleOption } from '../core/eligibility';

export interface Me {
  id: string;
  groups: string[];
  mfa: boolean;
  auditor: boolean;
}

export interface Eligibility {
  principal: Me;
  options: EligibleOption[];
}

export interface AuditEvent {
  grantId: string;
  seq: number;
  at: string;
  type: string;
  target: string;
  actor: { id: string; kind: string };
  data: Record<string, unknown>;
  hash: string;
  prevHash: string;
}

export interface TimelineEntry {
  at: string;
  kind: 'lifecycle' | 'cloud';
  who: string;
  what: string;
  service: string;
  resource?: string;
  sourceIp?: string;
  errorCode?: string;
  seq?: number;
  note?: string;
}

export interface Timeline {
  grantId: string;
  entries: TimelineEntry[];
  cloud: { status: string; error?: { code: string; message: string } };
  notes: string[];
}

export type VerifyResult =
  | { ok: true; events: number; head: string }
  | { ok: false; breaks: { grantId: string; seq: number; problem: string; message: string }[] };
