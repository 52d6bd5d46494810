/** The API's answers as the console reads them (lambdas/api/app.ts is the source of truth). */

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

export interface EligibleOption {
  target: string;
  kind: Grant['target']['kind'];
  targetDescription?: string;
  rule: string;
  ruleDescription?: string;
  scopes: string[];
  narrowed: boolean;
  maxDuration: number;
  maxStartAhead: number;
  approval:
    | { kind: 'auto' }
    | {
        kind: 'approvers';
        count: number;
        from: string[];
        approvers: string[];
        requireMfa: boolean;
        pendingTimeout: number;
      };
  requireMfa: boolean;
  hours?: string;
  sourceIp?: string[];
  blockers: Reason[];
}

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
