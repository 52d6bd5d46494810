import { describe, expect, it } from '@jest/globals';
import { ConcurrencyError } from '../../../core/errors';
import { createRevokeHandler } from '../../../lambdas/revoke/handler';
import { alice, requestDummy, world } from '../../helpers/world';

const MIN = 60_000;

function revokeWorld() {
  const w = world();
  const handle = createRevokeHandler({ service: w.service, scheduler: w.scheduler, clock: w.clock, log: w.log });
  return { ...w, handle };
}

describe('Function: createRevokeHandler', () => {
  describe('Action: expire', () => {
    it('expires a grant that is due', async () => {
      // Prepare
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(30 * MIN);
      // Act
      const out = await w.handle({ grantId: grant.id, action: 'expire' });
      // Assess
      expect(out).toEqual({ outcome: 'done', grantId: grant.id, action: 'expire', status: 'expired' });
      expect((await w.events.read(grant.id)).map((e) => e.type)).toEqual(['requested', 'activated', 'expired']);
      const line = w.log.lines.find((l) => l.message === 'schedule event handled');
      expect(line?.fields).toMatchObject({ grantId: grant.id, action: 'expire', status: 'expired' });
    });

    it('does nothing on a duplicate delivery', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(30 * MIN);
      await w.handle({ grantId: grant.id, action: 'expire' });
      const appends = w.events.appends;
      const again = await w.handle({ grantId: grant.id, action: 'expire' });
      expect(again).toMatchObject({ outcome: 'done', status: 'expired' });
      expect(w.events.appends).toBe(appends);
    });

    it('does nothing on a late delivery for a grant revoked meanwhile', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      await w.service.revoke(grant.id, alice, 'done early');
      w.clock.advance(2 * 60 * MIN);
      const appends = w.events.appends;
      const out = await w.handle({ grantId: grant.id, action: 'expire' });
      expect(out).toMatchObject({ outcome: 'done', status: 'revoked' });
      expect(w.events.appends).toBe(appends);
    });

    it('treats an early delivery as a clean no-op that re-arms the schedule, without an error', async () => {
      // Prepare
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(29 * MIN + 30_000);
      w.scheduler.schedules.clear();
      const appends = w.events.appends;
      // Act
      const out = await w.handle({ grantId: grant.id, action: 'expire' });
      // Assess: nothing thrown (Lambda counts no error, the errors alarm stays quiet), nothing written
      expect(out).toEqual({ outcome: 'early', grantId: grant.id, action: 'expire', dueAt: grant.expiresAt });
      expect(w.events.appends).toBe(appends);
      expect(w.scheduler.schedules.get(`${grant.id}/expire`)?.toISOString()).toBe(grant.expiresAt);
      expect(w.log.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
      expect(w.log.lines.find((l) => l.message === 'schedule event arrived early; re-armed')?.fields).toMatchObject({
        grantId: grant.id,
        dueAt: grant.expiresAt,
      });
      // The re-armed delivery, once due, expires the grant.
      w.clock.advance(MIN);
      await w.fireSchedules();
      expect((await w.events.read(grant.id)).map((e) => e.type)).toEqual(['requested', 'activated', 'expired']);
    });

    it('throws when an early delivery cannot be re-armed, so the invocation is retried', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(29 * MIN);
      w.scheduler.failNext = 1;
      await expect(w.handle({ grantId: grant.id, action: 'expire' })).rejects.toThrow('injected scheduler failure');
      expect(w.log.lines.find((l) => l.level === 'error')?.message).toMatch(/could not be re-armed/);
      w.clock.advance(MIN);
      expect(await w.handle({ grantId: grant.id, action: 'expire' })).toMatchObject({ status: 'expired' });
    });
  });

  describe('Action: activate', () => {
    it('activates an approved grant whose start has come and schedules its expiry', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy({ startAt: new Date('2026-11-24T10:20:00Z') }));
      expect(grant.status).toBe('approved');
      expect(await w.handle({ grantId: grant.id, action: 'activate' })).toEqual({
        outcome: 'early',
        grantId: grant.id,
        action: 'activate',
        dueAt: '2026-11-24T10:20:00.000Z',
      });
      expect(w.scheduler.schedules.get(`${grant.id}/activate`)?.toISOString()).toBe('2026-11-24T10:20:00.000Z');
      w.clock.set('2026-11-24T10:20:00Z');
      const out = await w.handle({ grantId: grant.id, action: 'activate' });
      expect(out).toMatchObject({ outcome: 'done', status: 'active' });
      expect(w.scheduler.schedules.get(`${grant.id}/expire`)?.toISOString()).toBe('2026-11-24T10:50:00.000Z');
    });
  });

  describe('Malformed and failing deliveries', () => {
    it.each([
      ['null', null],
      ['a string', 'expire tb-01'],
      ['an empty object', {}],
      ['a bad grant id', { grantId: 'tb-../../x', action: 'expire' }],
      ['an unknown action', { grantId: 'tb-01jdxq3m8y0000000000000000', action: 'delete' }],
      ['a numeric id', { grantId: 7, action: 'expire' }],
    ])('logs and drops %s without throwing', async (_what, event) => {
      const w = revokeWorld();
      const out = await w.handle(event);
      expect(out).toEqual({ outcome: 'dropped', reason: 'malformed event' });
      expect(w.log.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
        'malformed schedule event dropped',
      ]);
      expect(w.events.appends).toBe(0);
    });

    it('logs and drops an event for a grant that does not exist', async () => {
      const w = revokeWorld();
      const out = await w.handle({ grantId: 'tb-01jdxq3m8y0000000000000000', action: 'expire' });
      expect(out).toEqual({ outcome: 'dropped', reason: 'GRANT.NOT_FOUND' });
      const line = w.log.lines.find((l) => l.level === 'error');
      expect(line?.fields).toMatchObject({ grantId: 'tb-01jdxq3m8y0000000000000000', code: 'GRANT.NOT_FOUND' });
    });

    it('throws on a store fault so the invocation is retried, and the retry succeeds', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(30 * MIN);
      w.events.beforeAppend = () => {
        throw new Error('ProvisionedThroughputExceededException');
      };
      await expect(w.handle({ grantId: grant.id, action: 'expire' })).rejects.toThrow('ProvisionedThroughput');
      expect(w.log.lines.find((l) => l.message.includes('will be retried'))?.fields).toMatchObject({
        grantId: grant.id,
      });
      w.events.beforeAppend = undefined;
      expect(await w.handle({ grantId: grant.id, action: 'expire' })).toMatchObject({ status: 'expired' });
    });

    it('throws when concurrent writers exhaust the retries', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(30 * MIN);
      w.events.beforeAppend = (e) => {
        throw new ConcurrencyError(e.grantId, e.seq);
      };
      await expect(w.handle({ grantId: grant.id, action: 'expire' })).rejects.toBeInstanceOf(ConcurrencyError);
    });
  });
});
