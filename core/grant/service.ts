import { canonicalJson, sha256Hex } from '../canonical';
import type { Clock } from '../clock';
import { type AccessRequest, type Decision, decide } from '../decide';
import {
  ConcurrencyError,
  ForbiddenError,
  isTimeboxError,
  NotFoundError,
  StateError,
  ValidationError,
} from '../errors';
import type { IdGenerator } from '../ids';
import { type CompiledPolicy, subjectsInclude } from '../policy/compile';
import type { TargetKind } from '../policy/types';
import type {
  AccessProvider,
  ActiveGrant,
  CredentialKind,
  EventPublisher,
  EventStore,
  GrantScheduler,
  IssuedCredential,
  Log,
  ProjectionStore,
} from '../ports';
import { normalizePrincipalId, type Principal } from '../principal';
import { backoff, type RetryOptions, retry } from '../retry';
import { sealEvent, type VerifyResult, verifyChain } from './chain';
import {
  activateCommand,
  actorOf,
  approveCommand,
  assertCanIssue,
  cancelCommand,
  denyCommand,
  expireCommand,
  lapseCommand,
  parseSubject,
  requestCommand,
  revokeCommand,
} from './commands';
import { type EventDraft, type ExpiredBy, type GrantEvent, SYSTEM_ACTOR } from './events';
import { applyEvent, foldGrant, type Grant } from './state';

export interface GrantServiceDeps {
  events: EventStore;
  projections: ProjectionStore;
  scheduler: GrantScheduler;
  providers: Partial<Record<TargetKind, AccessProvider>>;
  publisher: EventPublisher;
  clock: Clock;
  ids: IdGenerator;
  /** The current policy; called per operation so a reloaded policy applies at once. */
  policy: () => CompiledPolicy;
  log: Log;
  /** Optimistic-concurrency retries before a conflict escapes (default 8). */
  maxAttempts?: number;
  /** Backoff between retries; injected so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export interface RequestInput {
  target: string;
  scopes?: string[];
  duration: number;
  reason: string;
  ticket?: string;
  startAt?: Date;
}

export interface RequestOutcome {
  grant: Grant;
  decision: Decision;
  /** True when an Idempotency-Key matched an earlier request: nothing new was written. */
  replayed: boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The grant lifecycle as one application service over the ports. Every state change is one event appended with
 * an expected sequence number; the projection and the bus follow the event and may lag (the sweeper repairs them),
 * never lead. Side effects on clouds happen after the event that records them, so nothing happens off the record.
 */
export class GrantService {
  private readonly d: Required<Pick<GrantServiceDeps, 'maxAttempts' | 'sleep'>> & GrantServiceDeps;

  constructor(deps: GrantServiceDeps) {
    this.d = { maxAttempts: 8, sleep: defaultSleep, ...deps };
  }

  // ---- requests -------------------------------------------------------------------------------------------

  /** Records a request and the policy's decision; auto-approved requests are activated at once (or scheduled). */
  async request(
    who: Principal,
    input: RequestInput,
    opts: { idempotencyKey?: string; extendsGrant?: string } = {},
  ): Promise<RequestOutcome> {
    if (!input.reason.trim()) throw new ValidationError('REQUEST.REASON_REQUIRED', 'reason is required');
    const compiled = this.d.policy();
    const now = this.d.clock.now();
    const ask: AccessRequest = {
      target: input.target,
      scopes: input.scopes ?? [],
      duration: input.duration,
      ...(input.startAt ? { startAt: input.startAt } : {}),
    };
    const keyed = opts.idempotencyKey !== undefined;
    // Checked before anything else: an empty or malformed key is an error, never "no key".
    const id = keyed ? this.idFromIdempotencyKey(who, opts.idempotencyKey as string) : this.d.ids.next();
    const decision = decide(compiled, who, ask, now);
    const requestHash = keyed
      ? sha256Hex(canonicalJson({ ...input, startAt: input.startAt?.toISOString() }))
      : undefined;
    const draft = requestCommand({
      compiled,
      who,
      decision,
      targetName: input.target,
      duration: input.duration,
      reason: input.reason,
      ...(input.ticket ? { ticket: input.ticket } : {}),
      ...(input.startAt ? { startAt: input.startAt } : {}),
      ...(opts.extendsGrant ? { extendsGrant: opts.extendsGrant } : {}),
      ...(requestHash ? { requestHash } : {}),
    });
    const event = sealEvent({ ...draft, grantId: id, at: now.toISOString(), target: input.target }, undefined);
    try {
      await this.d.events.append(event);
    } catch (e) {
      if (!(e instanceof ConcurrencyError) || !keyed) throw e;
      const stream = await this.readStream(id);
      const existing = foldGrant(stream);
      if (existing.requestHash !== requestHash)
        throw new StateError('IDEMPOTENCY.MISMATCH', 'this Idempotency-Key was used for a different request');
      // A replay answers what was decided then, whatever the policy or the caller's session say now.
      return { grant: existing, decision: recordedDecision(stream[0] as GrantEvent, existing), replayed: true };
    }
    let grant = foldGrant([event]);
    await this.follow(grant, [event]);
    this.d.log.info('grant requested', {
      grantId: id,
      decision: decision.decision,
      rule: decision.rule,
      target: input.target,
    });
    if (grant.status === 'approved') grant = await this.afterApproval(grant);
    return { grant, decision, replayed: false };
  }

  /** An extension is a new request for the same target and scope, starting when the grant ends, decided by the same rules. */
  async extend(id: string, who: Principal, input: { duration: number; reason: string }): Promise<RequestOutcome> {
    const g = await this.load(id);
    if (normalizePrincipalId(who.id) !== g.requester.id)
      throw new ForbiddenError('GRANT.NOT_REQUESTER', 'only the requester can extend a grant');
    if (g.status !== 'active' || !g.expiresAt)
      throw new StateError('GRANT.NOT_ACTIVE', `${id} is ${g.status}; only an active grant can be extended`);
    const scopes = !g.scope
      ? []
      : g.scope.kind === 'aws-role'
        ? [...g.scope.actions, ...g.scope.resources]
        : g.scope.kind === 'grpc'
          ? g.scope.methods
          : g.scope.roles;
    return this.request(
      who,
      {
        target: g.target.name,
        scopes,
        duration: input.duration,
        reason: input.reason,
        ...(g.ticket ? { ticket: g.ticket } : {}),
        startAt: new Date(g.expiresAt),
      },
      { extendsGrant: id },
    );
  }

  async approve(id: string, who: Principal, comment?: string): Promise<Grant> {
    const { grant } = await this.decideOrLapse(id, (g) => approveCommand(g, who, this.d.policy(), comment));
    return grant.status === 'approved' ? this.afterApproval(grant) : grant;
  }

  async deny(id: string, who: Principal, comment: string): Promise<Grant> {
    if (!comment.trim()) throw new ValidationError('DENY.COMMENT_REQUIRED', 'a denial needs a comment');
    return (await this.decideOrLapse(id, (g) => denyCommand(g, who, this.d.policy(), comment))).grant;
  }

  /**
   * A decision on a request whose deadline has passed records the lapse (the sweeper may not have got to it yet)
   * and is refused: an approval after the deadline must not open access.
   */
  private async decideOrLapse(
    id: string,
    command: (g: Grant) => EventDraft,
  ): Promise<{ grant: Grant; event: GrantEvent | null }> {
    const now = this.d.clock.now();
    const out = await this.mutate(id, (g) => lapseCommand(g, now) ?? command(g));
    if (out.event?.type === 'lapsed')
      throw new StateError('GRANT.LAPSED', `${id} lapsed at ${out.grant.pendingUntil}: no decision was made in time`);
    return out;
  }

  async cancel(id: string, who: Principal, comment?: string): Promise<Grant> {
    const { grant } = await this.mutate(id, (g) => cancelCommand(g, who, comment));
    await this.quietly(grant.id, 'cancel activation schedule', () => this.d.scheduler.cancel(grant.id, 'activate'));
    return grant;
  }

  async revoke(id: string, who: Principal | 'system', why: string): Promise<Grant> {
    if (!why.trim()) throw new ValidationError('REVOKE.REASON_REQUIRED', 'a revocation needs a reason');
    const { grant, event } = await this.mutate(id, (g) => revokeCommand(g, who, this.d.policy(), why));
    if (!event) return grant;
    await this.quietly(grant.id, 'cancel schedules', async () => {
      await this.d.scheduler.cancel(grant.id, 'expire');
      await this.d.scheduler.cancel(grant.id, 'activate');
    });
    return this.cleanup(grant, 'revoked');
  }

  // ---- time-driven transitions (scheduler, sweeper) -----------------------------------------------------------

  /** Activates an approved grant whose start has come, then puts access in place and schedules its expiry. */
  async activate(id: string, known?: Grant): Promise<Grant> {
    const now = this.d.clock.now();
    const current = known ?? (await this.load(id));
    const original = current.extends ? await this.loadOptional(current.extends) : undefined;
    const { grant, event } = await this.mutate(id, (g) => activateCommand(g, now, original), current);
    if (event?.type !== 'activated') return grant;
    if (current.extends) {
      // The original was read before the append: a revoke that landed in between must still end the extension.
      const after = await this.loadOptional(current.extends);
      if (after && after.status === 'revoked')
        return this.revoke(id, 'system', `the grant it extends, ${after.id}, was revoked`);
    }
    return this.provision(grant);
  }

  /**
   * Expires an active grant at or after its expiry; harmless when early, late or repeated. `known` (the sweeper's
   * projection view) saves reading the stream; a stale view only costs a conflict and a re-read.
   */
  async expire(id: string, known?: Grant, by: ExpiredBy = 'schedule'): Promise<Grant> {
    const now = this.d.clock.now();
    const { grant, event } = await this.mutate(id, (g) => expireCommand(g, now, by), known);
    return event ? this.cleanup(grant, 'expired') : grant;
  }

  async lapse(id: string, known?: Grant): Promise<Grant> {
    const now = this.d.clock.now();
    return (await this.mutate(id, (g) => lapseCommand(g, now), known)).grant;
  }

  // ---- the sweeper -----------------------------------------------------------------------------------------

  /**
   * One pass of the safety net (every minute on AWS, in a loop locally). Order matters: projections are repaired
   * first, so a grant whose projection missed its activation is still found and expired in the same pass.
   * Every grant is handled on its own: one failure never stops the rest.
   */
  async sweep(opts: { repairWindowMs?: number; publishGraceMs?: number; limit?: number } = {}): Promise<SweepReport> {
    const now = this.d.clock.now();
    const limit = opts.limit ?? 500;
    const report: SweepReport = {
      repaired: 0,
      expired: 0,
      lapsed: 0,
      activated: 0,
      cleaned: 0,
      republished: 0,
      failures: 0,
    };
    const each = async <T extends string | Grant>(
      items: T[],
      f: (item: T) => Promise<boolean>,
      key: keyof SweepReport,
    ) => {
      for (const item of items) {
        try {
          if (await f(item)) report[key]++;
        } catch (e) {
          report.failures++;
          this.d.log.error('sweeper step failed', {
            grantId: typeof item === 'string' ? item : item.id,
            step: key,
            error: e instanceof Error ? e.message : String(e),
          });
        }
      }
    };

    const since = new Date(now.getTime() - (opts.repairWindowMs ?? 60 * 60_000));
    // The newest event seen per grant in the window: a projection at or past it needs no stream read.
    const newest = new Map<string, { seq: number; at: string }>();
    let cursor: string | undefined;
    try {
      do {
        const page = await this.d.events.query({
          since,
          until: new Date(now.getTime() + 1),
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        for (const e of page.events) {
          const seen = newest.get(e.grantId);
          if (!seen || seen.seq < e.seq) newest.set(e.grantId, { seq: e.seq, at: e.at });
        }
        cursor = page.cursor;
      } while (cursor);
    } catch (e) {
      // The repair scan failing (throttling, one unreadable item) must not keep the rest of the pass from expiring,
      // lapsing and activating: it is counted, and what was read so far is still repaired.
      report.failures++;
      this.d.log.error('sweeper step failed: repair scan', { error: e instanceof Error ? e.message : String(e) });
    }
    // Events younger than the grace period may still be on their way through the normal path.
    const settled = new Date(now.getTime() - (opts.publishGraceMs ?? 30_000));
    await each(
      [...newest.keys()],
      async (id) => {
        const head = newest.get(id) as { seq: number; at: string };
        const view = await this.d.projections.get(id);
        const repaired = !view || view.lastSeq < head.seq ? await this.repairProjection(id) : false;
        if (repaired || (view?.publishedSeq ?? 0) < head.seq) {
          if (await this.republish(id, settled)) report.republished++;
        }
        return repaired;
      },
      'repaired',
    );

    await each(
      await this.d.projections.listDue('active', now, { limit }),
      async (g) => (await this.expire(g.id, g, 'sweeper')).status === 'expired',
      'expired',
    );
    await each(
      await this.d.projections.listDue('pending', now, { limit }),
      async (g) => (await this.lapse(g.id, g)).status === 'lapsed',
      'lapsed',
    );
    await each(
      await this.d.projections.listDue('approved', now, { limit }),
      async (g) => (await this.activate(g.id, g)).status === 'active',
      'activated',
    );
    await each(
      (await this.d.projections.listCleanupNeeded({ limit })).map((g) => g.id),
      (id) => this.retryCleanup(id),
      'cleaned',
    );
    for (const provider of Object.values(this.d.providers)) {
      try {
        await provider?.maintain?.({ now });
      } catch (e) {
        report.failures++;
        this.d.log.error('provider maintenance failed', {
          kind: provider?.kind,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
    return report;
  }

  /**
   * Rewrites the projection from the stream when it lags. Returns true when it did. A stream that does not verify
   * against the head the projection recorded is left alone and reported: copying a rewritten chain's head over the
   * projection would erase the evidence `verify` relies on.
   */
  async repairProjection(id: string): Promise<boolean> {
    const events = await this.readStream(id);
    const g = foldGrant(events);
    const view = await this.d.projections.get(id);
    if (view && view.lastSeq >= g.lastSeq) return false;
    const check = verifyChain(id, events, view ? { seq: view.lastSeq, hash: view.lastHash } : undefined);
    if (!check.ok) {
      this.d.log.error('event stream does not verify; projection not repaired', {
        grantId: id,
        breaks: check.breaks.slice(0, 5),
      });
      throw new StateError('AUDIT.CHAIN_BROKEN', `the events of ${id} do not verify; see the audit verify report`);
    }
    await this.d.projections.put(g);
    this.d.log.warn('projection repaired', { grantId: id, from: view?.lastSeq ?? 0, to: g.lastSeq });
    return true;
  }

  /**
   * Retries the cloud-side part of a provision or removal that failed earlier. Retries back off (1, 2, 4 ... 60
   * minutes after consecutive failures), so a failure that will not clear by itself (a missing permission) leaves
   * a handful of audit events an hour, not one a minute.
   */
  async retryCleanup(id: string): Promise<boolean> {
    const events = await this.readStream(id);
    const g = foldGrant(events);
    if (!g.cleanupNeeded) return false;
    let failures = 0;
    for (let i = events.length - 1; i >= 0 && (events[i] as GrantEvent).type === 'access-failed'; i--) failures++;
    const last = events[events.length - 1] as GrantEvent;
    const wait = Math.min(60, 2 ** Math.max(0, failures - 1)) * 60_000;
    if (failures > 0 && this.d.clock.now().getTime() - Date.parse(last.at) < wait) return false;
    const after =
      g.status === 'active'
        ? await this.provision(g, true)
        : await this.cleanup(g, g.status === 'expired' ? 'expired' : 'revoked');
    return !after.cleanupNeeded;
  }

  /**
   * Publishes the events the bus has not seen (after the projection's `publishedSeq`) that are older than
   * `settledBefore`. Delivery is at least once: consumers deduplicate on (grantId, seq).
   */
  async republish(id: string, settledBefore: Date): Promise<boolean> {
    const view = await this.d.projections.get(id);
    if (!view) return false;
    const from = view.publishedSeq ?? 0;
    const events = await this.readStream(id);
    const missing = events.filter((e) => e.seq > from && Date.parse(e.at) <= settledBefore.getTime());
    if (missing.length === 0) return false;
    await this.d.publisher.publish(missing, foldGrant(events));
    await this.d.projections.markPublished(id, from, (missing[missing.length - 1] as GrantEvent).seq);
    return true;
  }

  // ---- credentials -----------------------------------------------------------------------------------------

  /**
   * Issues credentials for an active grant to its requester. The credentials are handed out only after the
   * `credentials-issued` event is appended at the next sequence number of the stream as it was when checked, so
   * a revoke or expiry that lands in between wins, and no credential leaves without its audit event.
   */
  async issueCredentials(
    id: string,
    who: Principal,
    kind: CredentialKind,
  ): Promise<{ grant: Grant; credential: IssuedCredential }> {
    return retry(async () => {
      const events = await this.readStream(id);
      const g = foldGrant(events);
      const now = this.d.clock.now();
      assertCanIssue(g, who, now);
      const provider = this.provider(g);
      const credential = await provider.credentials(g as ActiveGrant, kind, {
        now,
        ...(who.sourceIp ? { sourceIp: who.sourceIp } : {}),
        ...(who.userAgent ? { userAgent: who.userAgent } : {}),
      });
      if (credential.expiresAt.getTime() > Date.parse(g.expiresAt as string))
        throw new Error(`${provider.kind} provider issued credentials outliving grant ${id}`);
      const draft: EventDraft = {
        type: 'credentials-issued',
        actor: actorOf(who),
        data: { kind: credential.kind, expiresAt: credential.expiresAt.toISOString(), details: credential.audit },
      };
      const { grant } = await this.appendAndFollow(g, draft, now);
      return { grant, credential };
    }, this.onConflict());
  }

  // ---- reads ---------------------------------------------------------------------------------------------

  /** The grant from its event stream (strongly consistent), if `who` may see it. */
  async get(id: string, who: Principal): Promise<Grant> {
    const g = await this.load(id);
    if (!this.canRead(g, who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
    return g;
  }

  /** The events of one grant, if `who` may see it. */
  async history(id: string, who: Principal): Promise<GrantEvent[]> {
    const events = await this.readStream(id);
    if (!this.canRead(foldGrant(events), who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
    return events;
  }

  /**
   * Verifies one grant's chain against the head its projection recorded. A grant whose events are all gone but
   * whose projection remains is a break (`empty`), not "no such grant".
   */
  async verify(id: string, who: Principal): Promise<VerifyResult> {
    // A store that seals its rows (EventStore.auditStream) hands back the stream as stored and its seal breaks,
    // where `read` would refuse it; any other store is read as usual.
    const sealed = this.d.events.auditStream
      ? await this.d.events.auditStream(id)
      : await Promise.all([this.d.events.read(id), this.d.projections.get(id)]).then(([events, view]) => ({
          events,
          view,
          head: view ? { seq: view.lastSeq, hash: view.lastHash } : undefined,
          breaks: [],
        }));
    const { events, view, head } = sealed;
    let known: Grant | undefined = view;
    try {
      if (events.length > 0) known = foldGrant(events);
    } catch {
      // A stream that does not fold (its first event removed) is still verified, as the projection shows it.
    }
    if (!known || !this.canRead(known, who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
    const chain = verifyChain(id, events, head);
    const breaks = [...sealed.breaks, ...(chain.ok ? [] : chain.breaks)];
    return breaks.length === 0 ? chain : { ok: false, breaks };
  }

  /** Requester, eligible approvers, admins and auditors may read a grant. */
  canRead(g: Grant, who: Principal): boolean {
    const compiled = this.d.policy();
    const id = normalizePrincipalId(who.id);
    if (id === g.requester.id || this.isAuditor(who)) return true;
    return g.approval ? subjectsInclude(compiled, g.approval.from.map(parseSubject), id, who.groups) : false;
  }

  isAuditor(who: Principal): boolean {
    const { settings } = this.d.policy().policy;
    return subjectsInclude(
      this.d.policy(),
      [...(settings.admins ?? []), ...(settings.auditors ?? [])],
      who.id,
      who.groups,
    );
  }

  // ---- internals -----------------------------------------------------------------------------------------

  private async afterApproval(g: Grant): Promise<Grant> {
    const now = this.d.clock.now();
    if (g.startAt && Date.parse(g.startAt) > now.getTime()) {
      await this.quietly(g.id, 'schedule activation', () =>
        this.d.scheduler.schedule(g.id, 'activate', new Date(g.startAt as string)),
      );
      return g;
    }
    return this.activate(g.id);
  }

  /** `retry`: a provision or schedule failed before; success is then recorded even when there is nothing to show. */
  private async provision(g: Grant, retry = false): Promise<Grant> {
    const now = this.d.clock.now();
    let grant = g;
    try {
      const details = await this.provider(g).provision(g as ActiveGrant, { now });
      if (Object.keys(details).length > 0 || retry)
        grant = (
          await this.mutate(g.id, (s) =>
            s.status === 'active' ? { type: 'access-provisioned', actor: SYSTEM_ACTOR, data: { details } } : null,
          )
        ).grant;
    } catch (e) {
      grant = await this.recordFailure(g.id, 'provision', e);
    }
    try {
      await this.d.scheduler.schedule(g.id, 'expire', new Date(g.expiresAt as string));
    } catch (e) {
      // The session-policy time condition and the sweeper still end access; the failure goes on the record.
      grant = await this.recordFailure(g.id, 'schedule', e);
    }
    // A revoke may have landed while access was being put in place: take it away again.
    if (grant.status !== 'active') return this.cleanup(grant, grant.status === 'expired' ? 'expired' : 'revoked', true);
    return grant;
  }

  /** Takes cloud-side access away after a terminal transition; failures are recorded and retried by the sweeper. */
  private async cleanup(g: Grant, why: 'revoked' | 'expired', force = false): Promise<Grant> {
    if (!g.cleanupNeeded && !force) return g;
    const provider = this.d.providers[g.target.kind];
    if (!provider || !g.scope) return g;
    try {
      const details = await provider.revoke(g, why, { now: this.d.clock.now() });
      return (await this.mutate(g.id, () => ({ type: 'access-removed', actor: SYSTEM_ACTOR, data: { details } })))
        .grant;
    } catch (e) {
      return this.recordFailure(g.id, 'remove', e);
    }
  }

  private async recordFailure(id: string, step: 'provision' | 'remove' | 'schedule', e: unknown): Promise<Grant> {
    const error = isTimeboxError(e)
      ? { code: e.code, message: e.message }
      : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
    this.d.log.error(`${step} failed`, { grantId: id, step, error });
    return (await this.mutate(id, () => ({ type: 'access-failed', actor: SYSTEM_ACTOR, data: { step, error } }))).grant;
  }

  private provider(g: Grant): AccessProvider {
    const p = this.d.providers[g.target.kind];
    if (!p)
      throw new StateError('TARGET.KIND_UNAVAILABLE', `this broker has no ${g.target.kind} access provider configured`);
    return p;
  }

  /**
   * Read, decide, append with the next sequence number; on a concurrent append, re-read and decide again.
   * The command sees the newest state every time, so a late approval after a revoke fails instead of winning.
   */
  async mutate(
    id: string,
    command: (g: Grant) => EventDraft | null,
    start?: Grant,
  ): Promise<{ grant: Grant; event: GrantEvent | null }> {
    // `start` is a state the caller already holds (a projection view). It is safe to append from: the append is
    // conditional on the next sequence number, so a stale start only conflicts. A stale start that makes the
    // command do nothing is not trusted either: the stream is read before answering "nothing to do".
    let known = start;
    const attempt = async (): Promise<{ grant: Grant; event: GrantEvent | null }> => {
      for (;;) {
        const g = known ?? (await this.load(id));
        const draft = command(g);
        if (!draft) {
          if (!known) {
            // The caller's view (a projection) was behind the stream: bring the projection up to date on the way,
            // or the sweeper would keep finding the same stale view, pass after pass.
            if (start && g.lastSeq > start.lastSeq)
              await this.quietly(id, 'update projection', () => this.d.projections.put(g));
            return { grant: g, event: null };
          }
          // A view that makes the command do nothing is checked against the stream; that read is no attempt.
          known = undefined;
          continue;
        }
        known = undefined;
        return await this.appendAndFollow(g, draft, this.d.clock.now());
      }
    };
    return retry(
      attempt,
      this.onConflict((n) => this.d.log.info('concurrent write, retrying', { grantId: id, attempt: n })),
    );
  }

  /** Retries after losing a race for the next sequence number: up to maxAttempts, with jittered backoff. */
  private onConflict(onRetry?: (attempt: number) => void): RetryOptions {
    return {
      attempts: this.d.maxAttempts,
      retryable: (e) => e instanceof ConcurrencyError,
      delay: CONFLICT_BACKOFF,
      sleep: this.d.sleep,
      ...(onRetry ? { onRetry: (r: { attempt: number }) => onRetry(r.attempt) } : {}),
    };
  }

  private async appendAndFollow(g: Grant, draft: EventDraft, now: Date): Promise<{ grant: Grant; event: GrantEvent }> {
    const event = sealEvent(
      { ...draft, grantId: g.id, at: now.toISOString(), target: g.target.name },
      { seq: g.lastSeq, hash: g.lastHash },
    );
    await this.d.events.append(event);
    const grant = applyEvent(g, event);
    await this.follow(grant, [event]);
    return { grant, event };
  }

  /** Projection and bus follow the event; their failures are logged and repaired later, never thrown. */
  /**
   * The bus first, then the projection, which records in the same write how far the bus got: one store write per
   * event instead of two. A failed publish leaves `publishedSeq` behind for the sweeper to catch up.
   */
  private async follow(grant: Grant, events: GrantEvent[]): Promise<void> {
    let published: { from: number; to: number } | undefined;
    await this.quietly(grant.id, 'publish events', async () => {
      await this.d.publisher.publish(events, grant);
      published = { from: (events[0] as GrantEvent).seq - 1, to: (events[events.length - 1] as GrantEvent).seq };
    });
    await this.quietly(grant.id, 'update projection', () => this.d.projections.put(grant, published));
  }

  private async quietly(grantId: string, what: string, f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.d.log.warn(`${what} failed; the sweeper will retry`, {
        grantId,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  private async readStream(id: string): Promise<GrantEvent[]> {
    const events = await this.d.events.read(id);
    if (events.length === 0) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
    return events;
  }

  async load(id: string): Promise<Grant> {
    return foldGrant(await this.readStream(id));
  }

  private async loadOptional(id: string): Promise<Grant | undefined> {
    const events = await this.d.events.read(id);
    return events.length ? foldGrant(events) : undefined;
  }

  /** Same principal + same key = same grant id, so a retried POST finds the first one instead of creating two. */
  private idFromIdempotencyKey(who: Principal, key: string): string {
    if (!/^[\x21-\x7e]{8,128}$/.test(key))
      throw new ValidationError('IDEMPOTENCY.INVALID_KEY', 'Idempotency-Key must be 8-128 printable ASCII characters');
    const digest = sha256Hex(`${normalizePrincipalId(who.id)}\n${key}`);
    const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
    let out = '';
    for (let i = 0; i < 26; i++) out += alphabet[Number.parseInt(digest.slice(i * 2, i * 2 + 2), 16) % 32];
    return `tb-${out}`;
  }
}

/** The decision a `requested` event recorded, in the shape `decide` returns (for Idempotency-Key replays). */
function recordedDecision(requested: GrantEvent, g: Grant): Decision {
  if (requested.type !== 'requested') throw new Error(`${g.id} does not start with its request`);
  const d = requested.data;
  const startAt = new Date(d.startAt ?? requested.at);
  const planned = d.decision === 'deny' ? null : new Date(startAt.getTime() + d.duration);
  return {
    decision: d.decision,
    rule: d.rule,
    reasons: d.reasons,
    target: null,
    scope: d.scope,
    startAt,
    expiresAt: g.expiresAt ? new Date(g.expiresAt) : planned,
    maxDuration: null,
    approval: d.approval,
    pendingUntil: d.pendingUntil ? new Date(d.pendingUntil) : null,
  };
}

export interface SweepReport {
  repaired: number;
  expired: number;
  lapsed: number;
  activated: number;
  cleaned: number;
  republished: number;
  failures: number;
}

/** 10 ms doubling up to 200 ms, each wait between half and all of it. */
const CONFLICT_BACKOFF = backoff({ baseMs: 10, maxMs: 200, jitter: 'equal', random: Math.random });
