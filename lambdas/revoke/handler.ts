import type * as zc from 'zod/v4/core';
import * as z from '../../adapters/zod';
import type { Clock } from '../../core/clock';
import { ConcurrencyError, isTimeboxError } from '../../core/errors';
import type { GrantService } from '../../core/grant/service';
import type { Grant } from '../../core/grant/state';
import { GRANT_ID_PATTERN } from '../../core/ids';
import { type GrantScheduler, type Log, scopedLog } from '../../core/ports';

/** The input every per-grant schedule carries (adapters/aws/scheduler.ts sets it as the target's Input). */
export const RevokeEventSchema = z.object({
  grantId: z.string().check(z.regex(GRANT_ID_PATTERN, 'is not a grant id')),
  action: z.enum(['expire', 'activate']),
});
export type RevokeEvent = zc.output<typeof RevokeEventSchema>;

export type RevokeOutcome =
  | { outcome: 'done'; grantId: string; action: RevokeEvent['action']; status: Grant['status'] }
  | { outcome: 'early'; grantId: string; action: RevokeEvent['action']; dueAt: string }
  | { outcome: 'dropped'; reason: string };

export interface RevokeDeps {
  service: Pick<GrantService, 'expire' | 'activate'>;
  /** Re-arms a schedule that fired before its grant was due. */
  scheduler: Pick<GrantScheduler, 'schedule'>;
  clock: Clock;
  log: Log;
}

/**
 * The Scheduler target: expire or activate one grant. GrantService re-reads the grant and acts only when it is
 * due, so a duplicate delivery, or one arriving after a revoke or the sweeper, changes nothing.
 * Errors that retrying cannot fix are logged and swallowed; anything else is thrown, so Lambda's asynchronous
 * invocation (how Scheduler calls Lambda) retries it and finally hands it to the function's failure destination.
 * A delivery ahead of its time is normal operation, not a failure: it re-arms the schedule and returns, so the
 * function's Errors metric (and the alarm on it) counts real failures only.
 */
export function createRevokeHandler(deps: RevokeDeps): (event: unknown) => Promise<RevokeOutcome> {
  return async (event) => {
    const parsed = RevokeEventSchema.safeParse(event);
    if (!parsed.success) {
      deps.log.error('malformed schedule event dropped', {
        issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
        event: JSON.stringify(event ?? null).slice(0, 512),
      });
      return { outcome: 'dropped', reason: 'malformed event' };
    }
    const { grantId, action } = parsed.data;
    const log = scopedLog(deps.log, { grantId, action });
    let grant: Grant;
    try {
      grant = action === 'expire' ? await deps.service.expire(grantId) : await deps.service.activate(grantId);
    } catch (e) {
      if (isPermanent(e)) {
        log.error('schedule event cannot be carried out; dropped', { code: e.code, error: e.message });
        return { outcome: 'dropped', reason: e.code };
      }
      log.error('schedule event failed; it will be retried', { error: e instanceof Error ? e.message : String(e) });
      throw e;
    }
    // A delivery ahead of its time did nothing. Scheduler fires anywhere within the minute it is given
    // (adapters/aws/scheduler.ts rounds up to a whole minute so this should not happen; clock skew still can), so
    // the schedule is armed again for the due time; the sweeper acts within a minute of it even if that is lost.
    const due =
      action === 'expire'
        ? grant.status === 'active' && grant.expiresAt
        : grant.status === 'approved' && (grant.startAt ?? null);
    if (due && Date.parse(due) > deps.clock.now().getTime()) {
      try {
        await deps.scheduler.schedule(grantId, action, new Date(due));
      } catch (e) {
        log.error('schedule event arrived early and could not be re-armed; it will be retried', {
          dueAt: due,
          error: e instanceof Error ? e.message : String(e),
        });
        throw e;
      }
      log.info('schedule event arrived early; re-armed', { dueAt: due, status: grant.status });
      return { outcome: 'early', grantId, action, dueAt: due };
    }
    log.info('schedule event handled', { status: grant.status });
    return { outcome: 'done', grantId, action, status: grant.status };
  };
}

/** Refusals (unknown grant, invalid state) stay refusals however often they are retried; faults may pass. */
function isPermanent(e: unknown): e is Error & { code: string } {
  if (!isTimeboxError(e) || e instanceof ConcurrencyError) return false;
  return e.kind !== 'unavailable';
}
