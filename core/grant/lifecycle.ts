import { canonicalJson, sha256Hex } from '../canonical';
import { type AccessRequest, type Decision, decide } from '../decide';
import { ConcurrencyError, ForbiddenError, StateError, ValidationError } from '../errors';
import type { ActiveGrant, CredentialKind, IssuedCredential } from '../ports';
import { normalizePrincipalId, type Principal } from '../principal';
import { retry } from '../retry';
import { sealEvent } from './chain';
import {
  activateCommand,
  actorOf,
  approveCommand,
  assertCanIssue,
  cancelCommand,
  denyCommand,
  expireCommand,
  lapseCommand,
  requestCommand,
  revokeCommand,
} from './commands';
import type { EventDraft, ExpiredBy, GrantEvent } from './events';
import { GrantProvisioning } from './provisioning';
import { foldGrant, type Grant } from './state';

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

/**
 * The grant lifecycle's use cases: requests and decisions by people, the time-driven transitions the scheduler
 * and the sweeper drive (activate, expire, lapse), and credential issue. Each is one event through the ledger,
 * then the cloud-side step it allows.
 */
export class GrantLifecycle extends GrantProvisioning {
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
    const id = keyed ? idFromIdempotencyKey(who, opts.idempotencyKey as string) : this.d.ids.next();
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

  /** Records an approval; the last one needed activates the grant (or schedules its start). */
  async approve(id: string, who: Principal, comment?: string): Promise<Grant> {
    const { grant } = await this.decideOrLapse(id, (g) => approveCommand(g, who, this.d.policy(), comment));
    return grant.status === 'approved' ? this.afterApproval(grant) : grant;
  }

  /** Records a denial, which needs a comment. */
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

  /** The requester withdraws a request that has not started. */
  async cancel(id: string, who: Principal, comment?: string): Promise<Grant> {
    const { grant } = await this.mutate(id, (g) => cancelCommand(g, who, comment));
    await this.quietly(grant.id, 'cancel activation schedule', () => this.d.scheduler.cancel(grant.id, 'activate'));
    return grant;
  }

  /** Ends a grant early and takes its access away; repeating it changes nothing. */
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

  /** Lapses a pending request whose decision deadline has passed. */
  async lapse(id: string, known?: Grant): Promise<Grant> {
    const now = this.d.clock.now();
    return (await this.mutate(id, (g) => lapseCommand(g, now), known)).grant;
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
    known?: Grant,
  ): Promise<{ grant: Grant; credential: IssuedCredential }> {
    // `known`: the state the caller has just read from the stream. It saves reading it again: the append below is
    // conditional on its seq, so anything that landed since makes it conflict and the retry reads the stream. A
    // known state that refuses is not trusted either: the stream is read before refusing.
    let start = known;
    return retry(async () => {
      const now = this.d.clock.now();
      let g = start ?? foldGrant(await this.readStream(id));
      const fromKnown = start !== undefined;
      start = undefined;
      try {
        assertCanIssue(g, who, now);
      } catch (e) {
        if (!fromKnown) throw e;
        g = foldGrant(await this.readStream(id));
        assertCanIssue(g, who, now);
      }
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

  private async afterApproval(g: Grant): Promise<Grant> {
    const now = this.d.clock.now();
    if (g.startAt && Date.parse(g.startAt) > now.getTime()) {
      await this.quietly(g.id, 'schedule activation', () =>
        this.d.scheduler.schedule(g.id, 'activate', new Date(g.startAt as string)),
      );
      return g;
    }
    // `g` is the state this call just wrote: activating from it saves reading the stream back (a transition that
    // landed in between only makes the conditional append conflict, and the retry reads the stream).
    return this.activate(g.id, g);
  }
}

/** Same principal + same key = same grant id, so a retried POST finds the first one instead of creating two. */
function idFromIdempotencyKey(who: Principal, key: string): string {
  if (!/^[\x21-\x7e]{8,128}$/.test(key))
    throw new ValidationError('IDEMPOTENCY.INVALID_KEY', 'Idempotency-Key must be 8-128 printable ASCII characters');
  const digest = sha256Hex(`${normalizePrincipalId(who.id)}\n${key}`);
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  let out = '';
  for (let i = 0; i < 26; i++) out += alphabet[Number.parseInt(digest.slice(i * 2, i * 2 + 2), 16) % 32];
  return `tb-${out}`;
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
