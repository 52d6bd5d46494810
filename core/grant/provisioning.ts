import { isTimeboxError, StateError } from '../errors';
import type { AccessProvider, ActiveGrant } from '../ports';
import { SYSTEM_ACTOR } from './events';
import { GrantLedger } from './ledger';
import type { Grant } from './state';

/**
 * The cloud side of a grant: putting access in place after activation and taking it away after a terminal
 * transition. Each step runs after the event that allows it and records its outcome as an event of its own, so
 * nothing happens off the record; a failure is recorded (`access-failed`) and retried by the sweeper.
 */
export class GrantProvisioning extends GrantLedger {
  /** `retry`: a provision or schedule failed before; success is then recorded even when there is nothing to show. */
  protected async provision(g: Grant, retry = false): Promise<Grant> {
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
  protected async cleanup(g: Grant, why: 'revoked' | 'expired', force = false): Promise<Grant> {
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

  /** The provider of a grant's target kind; a broker without one refuses with a stable code. */
  protected provider(g: Grant): AccessProvider {
    const p = this.d.providers[g.target.kind];
    if (!p)
      throw new StateError('TARGET.KIND_UNAVAILABLE', `this broker has no ${g.target.kind} access provider configured`);
    return p;
  }

  private async recordFailure(id: string, step: 'provision' | 'remove' | 'schedule', e: unknown): Promise<Grant> {
    const error = isTimeboxError(e)
      ? { code: e.code, message: e.message }
      : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
    this.d.log.error(`${step} failed`, { grantId: id, step, error });
    return (await this.mutate(id, () => ({ type: 'access-failed', actor: SYSTEM_ACTOR, data: { step, error } }))).grant;
  }
}
