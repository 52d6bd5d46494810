import type { ChainBreak } from './grant/chain';
import type { GrantEvent, TargetSnapshot } from './grant/events';
import type { Grant } from './grant/state';
import type { EffectiveScope } from './scope/types';

/**
 * Ports: what the domain needs from the outside world. Adapters under adapters/<cloud>/ implement them;
 * in-memory doubles live under test/helpers/. Nothing here assumes one process: every write is conditional.
 */

/** Append-only, per-grant event streams. The only write is a conditional put on (grantId, seq). */
export interface EventStore {
  /** Appends one event; throws ConcurrencyError if (grantId, seq) already exists. Never overwrites. */
  append(event: GrantEvent): Promise<void>;
  /** The whole stream of one grant, ordered by seq (empty when unknown). */
  read(grantId: string): Promise<GrantEvent[]>;
  /** Events across grants in [since, until), oldest first, optionally filtered; for audit queries and repair. */
  query(filter: EventQuery): Promise<EventPage>;
  /**
   * Optional, for stores that seal what they write with a key of their own (the local SQLite store): the stream and
   * the head recorded for it exactly as stored, with every seal that does not hold as a break instead of an error.
   * `verify` uses it when present; `read` of such a store refuses a stream whose seals do not hold.
   */
  auditStream?(grantId: string): Promise<SealedStream>;
  /** Optional, with auditStream: breaks in the store's own write order around [since, until) (deleted events). */
  auditLog?(window: { since: Date; until: Date }): Promise<ChainBreak[]>;
}

export interface SealedStream {
  events: GrantEvent[];
  /** The head recorded with the projection, when its seal holds. */
  head?: { seq: number; hash: string };
  /** The projection, when its seal holds (for the read check when the events do not fold). */
  view?: Grant;
  breaks: ChainBreak[];
}

export interface EventQuery {
  since: Date;
  until: Date;
  actor?: string;
  target?: string;
  limit?: number;
  cursor?: string;
}
export interface EventPage {
  events: GrantEvent[];
  cursor?: string;
}

/** The projection: one item per grant, for queries. Derived from events; repaired by the sweeper when it lags. */
export interface ProjectionStore {
  /**
   * Writes the view unless the stored one is at the same or a later seq (monotonic; stale writers lose quietly).
   * `published`: the events (from, to] just reached the bus; record it in the same write when `publishedSeq` is
   * exactly `from` (as markPublished does), else write the view alone.
   */
  put(view: Grant, published?: { from: number; to: number }): Promise<void>;
  get(grantId: string): Promise<Grant | undefined>;
  /** A requester's grants, newest first. */
  listByRequester(principalId: string, opts?: ListOptions): Promise<Grant[]>;
  /** Pending grants whose approval `from` names any of these subjects (`group:x` or principal ids). */
  listAwaitingApproval(subjects: string[], opts?: ListOptions): Promise<Grant[]>;
  /** Grants in a status, with the status's due time (pendingUntil / startAt / expiresAt) before `dueBefore`. */
  listDue(status: 'pending' | 'approved' | 'active', dueBefore: Date, opts?: ListOptions): Promise<Grant[]>;
  /** Grants in a status (newest first). */
  listByStatus(status: Grant['status'], opts?: ListOptions): Promise<Grant[]>;
  /** Terminal grants whose cloud-side cleanup still has to happen. */
  listCleanupNeeded(opts?: ListOptions): Promise<Grant[]>;
  /**
   * Records that events (fromSeq, toSeq] reached the bus, kept on the projection because event items are
   * immutable. Advances `publishedSeq` only if it is exactly `fromSeq`, so a gap left by a failed publish stays
   * visible to the sweeper. A no-op otherwise (including when the projection item does not exist yet).
   */
  markPublished(grantId: string, fromSeq: number, toSeq: number): Promise<void>;
}

export interface ListOptions {
  limit?: number;
}

/** One-shot schedules: expire a grant at its expiry, activate a future grant at its start. */
export interface GrantScheduler {
  /** Idempotent: scheduling the same (grant, action) again replaces or keeps the existing schedule. */
  schedule(grantId: string, action: 'expire' | 'activate', at: Date): Promise<void>;
  /** Idempotent: cancelling a schedule that does not exist (already fired and deleted) is not an error. */
  cancel(grantId: string, action: 'expire' | 'activate'): Promise<void>;
}

/**
 * The credential kind of providers that hand out no credentials but a plan: the exact session policy or bindings a
 * deployment would apply (the local broker's aws-role and gcp-role providers). The API answers with the plan as is.
 */
export const PLAN_CREDENTIAL_KIND = 'local-plan';

/** Credentials handed to the holder of a grant. `secret` goes to the caller only; `audit` goes on the record. */
export interface IssuedCredential {
  kind: string;
  expiresAt: Date;
  secret: unknown;
  audit: Record<string, unknown>;
}

export interface AccessContext {
  now: Date;
  sourceIp?: string;
  userAgent?: string;
}

/**
 * One per target kind: puts access in place (if the cloud needs anything at activation), hands out credentials,
 * and takes access away. `revoke` must be idempotent and must not affect any other grant.
 */
export interface AccessProvider {
  readonly kind: TargetSnapshot['kind'];
  /** Called once the grant is active; returns what was done, for the audit record. */
  provision(grant: ActiveGrant, ctx: AccessContext): Promise<Record<string, unknown>>;
  /** Credentials of `kind` (`credentials`, `console`, `token`) for the active grant. */
  credentials(grant: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential>;
  /** Ends access before (revoked) or at (expired) expiry. */
  revoke(grant: Grant, why: 'revoked' | 'expired', ctx: AccessContext): Promise<Record<string, unknown>>;
  /** Periodic housekeeping from the sweeper (e.g. dropping revocation entries whose credentials have all expired). */
  maintain?(ctx: AccessContext): Promise<void>;
}

export type CredentialKind = 'credentials' | 'console' | 'token';
export type ActiveGrant = Grant & { expiresAt: string; scope: EffectiveScope };

/** Publishes lifecycle events (EventBridge bus, Slack, webhooks). Failures are reported, never thrown into a transition. */
export interface EventPublisher {
  publish(events: GrantEvent[], grant: Grant): Promise<void>;
}

/** An ES256 public key as published in a JWKS (RFC 7517), `kid` its RFC 7638 thumbprint. */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

/** Signs JWTs (ES256) and serves the public keys. */
export interface TokenSigner {
  /**
   * Signs `claims` as a compact ES256 JWT. The header `typ` is `JWT` (grant tokens) unless `typ` says otherwise:
   * anything else the broker signs (the revocation feed, local session tokens) is typed, so that it can never pass
   * for a grant token (RFC 8725 section 3.11).
   */
  sign(claims: Record<string, unknown>, opts?: { typ?: string }): Promise<string>;
  jwks(): Promise<{ keys: Record<string, unknown>[] }>;
}

/** Structured log sink; the adapters wire Powertools Logger, tests a recorder. */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A log adding `fields` to every line, when the sink has a cheaper way than wrapping (Powertools' child fields). */
  with?(fields: Record<string, unknown>): Log;
}

export const silentLog: Log = { info: () => {}, warn: () => {}, error: () => {} };

/** Adds fixed fields to every line of any `Log` (handlers scope it to one grant or request); undefined ones are dropped. */
export function scopedLog(log: Log, fields: Record<string, unknown>): Log {
  if (log.with) return log.with(fields);
  const extra = definedFields(fields);
  return {
    info: (m, f) => log.info(m, { ...extra, ...f }),
    warn: (m, f) => log.warn(m, { ...extra, ...f }),
    error: (m, f) => log.error(m, { ...extra, ...f }),
  };
}

/** `fields` without the keys whose value is undefined. */
export function definedFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}
