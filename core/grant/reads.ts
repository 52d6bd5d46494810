import { NotFoundError } from '../errors';
import { type CompiledPolicy, subjectsInclude } from '../policy/compile';
import type { EventStore, ProjectionStore } from '../ports';
import { normalizePrincipalId, type Principal } from '../principal';
import { type VerifyResult, verifyChain } from './chain';
import { parseSubject } from './commands';
import type { GrantEvent } from './events';
import { readStream } from './ledger';
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

/** What reading a grant needs: the stores and the current policy. */
export interface ReadDeps {
  events: EventStore;
  projections: ProjectionStore;
  policy: () => CompiledPolicy;
}

/*
 * Reads of one grant on behalf of a principal. A grant the principal may not read is answered exactly as one that
 * does not exist (`GRANT.NOT_FOUND`), so its existence does not leak either.
 */

/** The grant from its event stream (strongly consistent), if `who` may see it. */
export async function getGrant(d: ReadDeps, id: string, who: Principal): Promise<Grant> {
  const g = foldGrant(await readStream(d.events, id));
  if (!canRead(d.policy(), g, who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
  return g;
}

/** The events of one grant, if `who` may see it. */
export async function grantHistory(d: ReadDeps, id: string, who: Principal): Promise<GrantEvent[]> {
  const events = await readStream(d.events, id);
  if (!canRead(d.policy(), foldGrant(events), who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
  return events;
}

/**
 * Verifies one grant's chain against the head its projection recorded. A grant whose events are all gone but
 * whose projection remains is a break (`empty`), not "no such grant".
 */
export async function verifyGrant(d: ReadDeps, id: string, who: Principal): Promise<VerifyResult> {
  // A store that seals its rows (EventStore.auditStream) hands back the stream as stored and its seal breaks,
  // where `read` would refuse it; any other store is read as usual.
  const sealed = d.events.auditStream
    ? await d.events.auditStream(id)
    : await Promise.all([d.events.read(id), d.projections.get(id)]).then(([events, view]) => ({
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
  if (!known || !canRead(d.policy(), known, who)) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
  const chain = verifyChain(id, events, head);
  const breaks = [...sealed.breaks, ...(chain.ok ? [] : chain.breaks)];
  return breaks.length === 0 ? chain : { ok: false, breaks };
}
