import { StateError } from '../errors';
import { verifyChain } from './chain';
import type { GrantEvent } from './events';
import { GrantLifecycle } from './lifecycle';
import { foldGrant, type Grant } from './state';

export interface SweepReport {
  repaired: number;
  expired: number;
  lapsed: number;
  activated: number;
  cleaned: number;
  republished: number;
  failures: number;
}

/**
 * The safety net behind every delivery that can fail: projections that lag their stream are rebuilt, events the
 * bus missed are published again, overdue grants are expired, lapsed or activated, and cloud-side steps that
 * failed are retried. Revocation never depends on one delivery.
 */
export class GrantSweeper extends GrantLifecycle {
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
}
