import type { CredentialKind, IssuedCredential } from '../ports';
import type { Principal } from '../principal';
import type { VerifyResult } from './chain';
import type { EventDraft, ExpiredBy, GrantEvent } from './events';
import { GrantLedger, type GrantServiceDeps, resolveDeps } from './ledger';
import { GrantLifecycle, type RequestInput, type RequestOutcome } from './lifecycle';
import { Provisioning } from './provisioning';
import { GrantReads } from './reads';
import type { Grant } from './state';
import { GrantSweeper, type SweepReport } from './sweep';

export type { GrantServiceDeps, RequestInput, RequestOutcome, SweepReport };

/**
 * The grant lifecycle as one application service over the ports. Every state change is one event appended with
 * an expected sequence number; the projection and the bus follow the event and may lag (the sweeper repairs them),
 * never lead. Side effects on clouds happen after the event that records them, so nothing happens off the record.
 *
 * The work is split by concern: ./ledger.ts (the shared write path), ./lifecycle.ts (commands and credentials),
 * ./provisioning.ts (cloud-side access), ./sweep.ts (the safety net), ./reads.ts (who may read a grant).
 */
export class GrantService {
  private readonly ledger: GrantLedger;
  private readonly lifecycle: GrantLifecycle;
  private readonly sweeper: GrantSweeper;
  private readonly reads: GrantReads;

  constructor(deps: GrantServiceDeps) {
    this.ledger = new GrantLedger(resolveDeps(deps));
    const access = new Provisioning(this.ledger);
    this.lifecycle = new GrantLifecycle(this.ledger, access);
    this.sweeper = new GrantSweeper(this.ledger, this.lifecycle, access);
    this.reads = new GrantReads(this.ledger);
  }

  // ---- commands (./lifecycle.ts) ----------------------------------------------------------------------------

  /** Records a request and the policy's decision; auto-approved requests are activated at once (or scheduled). */
  request(
    who: Principal,
    input: RequestInput,
    opts: { idempotencyKey?: string; extendsGrant?: string } = {},
  ): Promise<RequestOutcome> {
    return this.lifecycle.request(who, input, opts);
  }

  /** An extension is a new request for the same target and scope, starting when the grant ends. */
  extend(id: string, who: Principal, input: { duration: number; reason: string }): Promise<RequestOutcome> {
    return this.lifecycle.extend(id, who, input);
  }

  approve(id: string, who: Principal, comment?: string): Promise<Grant> {
    return this.lifecycle.approve(id, who, comment);
  }

  deny(id: string, who: Principal, comment: string): Promise<Grant> {
    return this.lifecycle.deny(id, who, comment);
  }

  cancel(id: string, who: Principal, comment?: string): Promise<Grant> {
    return this.lifecycle.cancel(id, who, comment);
  }

  revoke(id: string, who: Principal | 'system', why: string): Promise<Grant> {
    return this.lifecycle.revoke(id, who, why);
  }

  /** Activates an approved grant whose start has come, then puts access in place and schedules its expiry. */
  activate(id: string, known?: Grant): Promise<Grant> {
    return this.lifecycle.activate(id, known);
  }

  /** Expires an active grant at or after its expiry; harmless when early, late or repeated. */
  expire(id: string, known?: Grant, by: ExpiredBy = 'schedule'): Promise<Grant> {
    return this.lifecycle.expire(id, known, by);
  }

  lapse(id: string, known?: Grant): Promise<Grant> {
    return this.lifecycle.lapse(id, known);
  }

  /** Issues credentials for an active grant to its requester, after their audit event is appended. */
  issueCredentials(
    id: string,
    who: Principal,
    kind: CredentialKind,
  ): Promise<{ grant: Grant; credential: IssuedCredential }> {
    return this.lifecycle.issueCredentials(id, who, kind);
  }

  // ---- the sweeper (./sweep.ts) ----------------------------------------------------------------------------

  /** One pass of the safety net (every minute on AWS, in a loop locally). */
  sweep(opts: { repairWindowMs?: number; publishGraceMs?: number; limit?: number } = {}): Promise<SweepReport> {
    return this.sweeper.sweep(opts);
  }

  /** Rewrites the projection from the stream when it lags and the stream verifies. Returns true when it did. */
  repairProjection(id: string): Promise<boolean> {
    return this.sweeper.repairProjection(id);
  }

  /** Retries the cloud-side part of a provision or removal that failed earlier, with backoff. */
  retryCleanup(id: string): Promise<boolean> {
    return this.sweeper.retryCleanup(id);
  }

  /** Publishes the events the bus has not seen that are older than `settledBefore`. */
  republish(id: string, settledBefore: Date): Promise<boolean> {
    return this.sweeper.republish(id, settledBefore);
  }

  // ---- reads (./reads.ts) ----------------------------------------------------------------------------------

  /** The grant from its event stream (strongly consistent), if `who` may see it. */
  get(id: string, who: Principal): Promise<Grant> {
    return this.reads.get(id, who);
  }

  /** The events of one grant, if `who` may see it. */
  history(id: string, who: Principal): Promise<GrantEvent[]> {
    return this.reads.history(id, who);
  }

  /** Verifies one grant's chain against the head its projection recorded. */
  verify(id: string, who: Principal): Promise<VerifyResult> {
    return this.reads.verify(id, who);
  }

  /** Requester, eligible approvers, admins and auditors may read a grant. */
  canRead(g: Grant, who: Principal): boolean {
    return this.reads.canRead(g, who);
  }

  isAuditor(who: Principal): boolean {
    return this.reads.isAuditor(who);
  }

  // ---- the write path (./ledger.ts) ------------------------------------------------------------------------

  /** Read, decide, append with the next sequence number; on a concurrent append, re-read and decide again. */
  mutate(
    id: string,
    command: (g: Grant) => EventDraft | null,
    start?: Grant,
  ): Promise<{ grant: Grant; event: GrantEvent | null }> {
    return this.ledger.mutate(id, command, start);
  }

  /** The grant folded from its event stream, without a read check (composition roots and tests). */
  load(id: string): Promise<Grant> {
    return this.ledger.load(id);
  }
}
