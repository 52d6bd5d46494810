import { describe, expect, it } from '@jest/globals';
import { ConcurrencyError } from '../../../core/errors';
import { createRevokeHandler } from '../../../lambdas/revoke/handler';
import { alice, requestDummy, world } from '../../helpers/world';

const MIN = 60_000;

function revokeWorld() {
  const w = world();
  const handle = createRevokeHandler({ service: w.service, clock: w.clock, log: w.log });
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

    it('throws for an early delivery so it is retried, changing nothing', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(29 * MIN);
      const appends = w.events.appends;
      await expect(w.handle({ grantId: grant.id, action: 'expire' })).rejects.toMatchObject({ code: 'SCHEDULE.EARLY' });
      expect(w.events.appends).toBe(appends);
      w.clock.advance(MIN);
      expect(await w.handle({ grantId: grant.id, action: 'expire' })).toMatchObject({ status: 'expired' });
    });
  });

  describe('Action: activate', () => {
    it('activates an approved grant whose start has come and schedules its expiry', async () => {
      const w = revokeWorld();
      const { grant } = await w.service.request(alice, requestDummy({ startAt: new Date('2026-11-24T10:20:00Z') }));
      expect(grant.status).toBe('approved');
      await expect(w.handle({ grantId: grant.id, action: 'activate' })).rejects.toMatchObject({
        code: 'SCHEDULE.EARLY',
      });
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
