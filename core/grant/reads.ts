import { NotFoundError } from '../errors';
import { type CompiledPolicy, subjectsInclude } from '../policy/compile';
import { normalizePrincipalId, type Principal } from '../principal';
import { type VerifyResult, verifyChain } from './chain';
import { parseSubject } from './commands';
import type { GrantEvent } from './events';
import type { GrantLedger } from './ledger';
import { foldGrant, type Grant } from './state';

/** Admins and auditors named in the policy's settings, who may read every grant. */
export function isAuditor(compiled: CompiledPolicy, who: Principal): boolean {
  const { settings } = compiled.policy;
  return subjectsInclude(compiled, [...(settings.admins ?? []), ...(settings.auditors ?? [])], who.id, who.groups);
}

/** Requester, eligible approvers, admins and auditors may read a grant. */
export function canRead(compiled: CompiledPolicy, g: Grant, who: Principal): boolean {
  const id = normalizePrincipalId(who.id);
  if (id === g.requester.id || isAuditor(compiled, who)) return true;
  return g.approval ? subjectsInclude(compiled, g.approval.from.map(parseSubject), id, who.groups) : false;
}

/**
 * Reads of one grant on behalf of a principal. A grant the principal may not read is answered exactly as one that
 * does not exist (`GRANT.NOT_FOUND`), so its existence does not leak either.
 */
export class GrantReads {
  constructor(private readonly ledger: GrantLedger) {}

  /** The grant from its event stream (strongly consistent), if `who` may see it. */
  async get(id: string, who: Principal): Promise<Grant> {
    const g = await this.ledger.load(id);
    if (!this.canRead(g, who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
    return g;
  }

  /** The events of one grant, if `who` may see it. */
  async history(id: string, who: Principal): Promise<GrantEvent[]> {
    const events = await this.ledger.readStream(id);
    if (!this.canRead(foldGrant(events), who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
    return events;
  }

  /**
   * Verifies one grant's chain against the head its projection recorded. A grant whose events are all gone but
   * whose projection remains is a break (`empty`), not "no such grant".
   */
  async verify(id: string, who: Principal): Promise<VerifyResult> {
    const { events: store, projections } = this.ledger.d;
    // A store that seals its rows (EventStore.auditStream) hands back the stream as stored and its seal breaks,
    // where `read` would refuse it; any other store is read as usual.
    const sealed = store.auditStream
      ? await store.auditStream(id)
      : await Promise.all([store.read(id), projections.get(id)]).then(([events, view]) => ({
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

  /** Requester, eligible approvers, admins and auditors may read a grant (under the current policy). */
  canRead(g: Grant, who: Principal): boolean {
    return canRead(this.ledger.d.policy(), g, who);
  }

  /** Whether `who` is an admin or auditor under the current policy. */
  isAuditor(who: Principal): boolean {
    return isAuditor(this.ledger.d.policy(), who);
  }
}
