import { describe, expect, it } from '@jest/globals';
import { verifyChain } from '../../../core/grant/chain';
import { alice, carol, requestDummy, world } from '../../helpers/world';

const MIN = 60_000;

describe('Method: GrantService.sweep', () => {
  it('expires overdue grants when the schedule never fires', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    w.scheduler.schedules.clear(); // the delivery is lost
    w.clock.advance(30 * MIN);
    const report = await w.service.sweep();
    expect(report.expired).toBe(1);
    expect((await w.service.load(grant.id)).status).toBe('expired');
  });

  it('lapses requests nobody decided in time', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, {
      target: 'user-service',
      scopes: ['/acme.admin.*'],
      duration: 20 * MIN,
      reason: 'x',
    });
    expect(grant.pendingUntil).toBe('2026-11-24T10:20:00.000Z'); // capped by the requested duration
    w.clock.advance(19 * MIN);
    expect((await w.service.sweep()).lapsed).toBe(0);
    w.clock.advance(MIN);
    expect((await w.service.sweep()).lapsed).toBe(1);
    await expect(w.service.approve(grant.id, carol)).rejects.toMatchObject({ code: 'GRANT.NOT_PENDING' });
  });

  it('repairs a projection left behind by a crash between event and projection, then expires the grant', async () => {
    const w = world();
    w.projections.failPuts = 2; // both the requested and the activated projection writes are lost
    const { grant } = await w.service.request(alice, requestDummy());
    expect(await w.projections.get(grant.id)).toBeUndefined();
    expect(w.log.lines.some((l) => l.level === 'warn' && l.fields?.grantId === grant.id)).toBe(true);
    w.scheduler.schedules.clear();
    w.clock.advance(31 * MIN);
    const report = await w.service.sweep();
    expect(report.repaired).toBe(1);
    expect(report.expired).toBe(1);
    expect((await w.projections.get(grant.id))?.status).toBe('expired');
  });

  it('brings a stale view up to date once, so an old ghost neither stays active nor takes the place of others', async () => {
    // Prepare: A expires while its projection writes fail, and nothing sweeps for 70 minutes (outside the repair
    // window); B's schedule is lost.
    const w = world();
    const { grant: a } = await w.service.request(alice, requestDummy());
    const { grant: b } = await w.service.request(alice, requestDummy({ duration: 40 * MIN }));
    w.scheduler.schedules.clear();
    w.clock.advance(30 * MIN);
    w.projections.failPuts = 1;
    await w.service.expire(a.id);
    expect((await w.projections.get(a.id))?.status).toBe('active');
    w.clock.advance(70 * MIN);
    // Act: passes of one grant each, the ghost first (most overdue)
    await w.service.sweep({ limit: 1 });
    await w.service.sweep({ limit: 1 });
    // Assess
    expect((await w.projections.get(a.id))?.status).toBe('expired');
    expect((await w.service.load(b.id)).status).toBe('expired');
    expect((await w.projections.get(b.id))?.status).toBe('expired');
  });

  it('still expires, lapses and activates when the repair scan fails, and counts the failure', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    w.scheduler.schedules.clear();
    w.clock.advance(30 * MIN);
    const query = w.events.query.bind(w.events);
    let failed = false;
    w.events.query = async (f) => {
      if (!failed) {
        failed = true;
        throw new Error('throttled');
      }
      return query(f);
    };
    const report = await w.service.sweep();
    expect(report).toMatchObject({ failures: 1, expired: 1 });
    expect((await w.service.load(grant.id)).status).toBe('expired');
    expect(w.log.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'sweeper step failed: repair scan' }),
    );
  });

  it('records a failed schedule creation on the grant and still expires it', async () => {
    const w = world();
    w.scheduler.failNext = 1;
    const { grant } = await w.service.request(alice, requestDummy());
    const events = await w.events.read(grant.id);
    expect(events.at(-1)).toMatchObject({ type: 'access-failed', data: { step: 'schedule' } });
    expect(w.log.lines.some((l) => l.level === 'error' && l.message === 'schedule failed')).toBe(true);
    w.clock.advance(30 * MIN);
    await w.service.sweep();
    expect((await w.service.load(grant.id)).status).toBe('expired');
  });

  it('retries a failed schedule creation once, records the recovery, then leaves the grant alone', async () => {
    const w = world();
    w.scheduler.failNext = 1;
    const { grant } = await w.service.request(alice, requestDummy());
    expect((await w.service.load(grant.id)).cleanupNeeded).toBe(true);
    expect((await w.service.sweep()).cleaned).toBe(0); // backs off a minute after a failure
    w.clock.advance(MIN);
    expect((await w.service.sweep()).cleaned).toBe(1);
    expect(w.scheduler.schedules.has(`${grant.id}/expire`)).toBe(true);
    const types = (await w.events.read(grant.id)).map((e) => e.type);
    expect(types).toEqual(['requested', 'activated', 'access-failed', 'access-provisioned']);
    w.clock.advance(MIN);
    expect((await w.service.sweep()).cleaned).toBe(0);
    expect(await w.events.read(grant.id)).toHaveLength(4);
  });

  it('backs off a removal that keeps failing: a few audit events an hour, not one a minute', async () => {
    const w = world();
    const { grant } = await w.service.request(
      { ...alice, mfa: true },
      { target: 'analytics', duration: 4 * 60 * MIN, reason: 'r' },
    );
    await w.service.approve(grant.id, carol);
    w.providers['gcp-role'].failRevoke = 1_000;
    await w.service.revoke(grant.id, alice, 'done');
    for (let minute = 0; minute < 120; minute++) {
      w.clock.advance(MIN);
      await w.service.sweep();
    }
    const failures = (await w.events.read(grant.id)).filter((e) => e.type === 'access-failed');
    // 1 at revoke, then retries after 1, 2, 4, 8, 16, 32 and every 60 minutes.
    expect(failures.length).toBeGreaterThanOrEqual(6);
    expect(failures.length).toBeLessThanOrEqual(9);
    w.providers['gcp-role'].failRevoke = 0;
    w.clock.advance(60 * MIN);
    await w.service.sweep();
    expect((await w.service.load(grant.id)).cleanupNeeded).toBe(false);
    expect(w.providers['gcp-role'].live.has(grant.id)).toBe(false);
  });

  it('retries a failed removal of cloud access until it succeeds', async () => {
    const w = world();
    const mfaAlice = { ...alice, mfa: true };
    const { grant } = await w.service.request(mfaAlice, { target: 'analytics', duration: 60 * MIN, reason: 'r' });
    await w.service.approve(grant.id, carol);
    w.providers['gcp-role'].failRevoke = 1;
    await w.service.revoke(grant.id, alice, 'done');
    expect((await w.service.load(grant.id)).cleanupNeeded).toBe(true);
    expect(w.providers['gcp-role'].live.has(grant.id)).toBe(true);
    w.clock.advance(MIN);
    const report = await w.service.sweep();
    expect(report.cleaned).toBe(1);
    expect(w.providers['gcp-role'].live.has(grant.id)).toBe(false);
    const after = await w.service.load(grant.id);
    expect(after.cleanupNeeded).toBe(false);
    expect(verifyChain(grant.id, await w.events.read(grant.id)).ok).toBe(true);
  });

  it('re-publishes events the bus never received', async () => {
    const w = world();
    w.publisher.failNext = 1;
    const { grant } = await w.service.request(alice, requestDummy());
    expect(w.publisher.published.map((e) => e.type)).toEqual(['activated']);
    expect((await w.service.sweep()).republished).toBe(0); // still within the grace period
    w.clock.advance(31_000);
    const report = await w.service.sweep();
    expect(report.republished).toBe(1);
    expect(w.publisher.published.filter((e) => e.grantId === grant.id && e.type === 'requested')).toHaveLength(1);
    expect((await w.service.sweep()).republished).toBe(0);
  });

  it('keeps going when one grant fails, and says which', async () => {
    const w = world();
    const a = (await w.service.request(alice, requestDummy())).grant;
    const b = (await w.service.request(alice, requestDummy())).grant;
    w.clock.advance(30 * MIN);
    w.events.beforeAppend = (e) => {
      if (e.grantId === a.id) throw new Error('throttled');
    };
    const report = await w.service.sweep();
    expect(report.failures).toBeGreaterThanOrEqual(1);
    expect((await w.service.load(b.id)).status).toBe('expired');
    expect(w.log.lines.some((l) => l.level === 'error' && l.fields?.grantId === a.id)).toBe(true);
    w.events.beforeAppend = undefined;
    await w.service.sweep();
    expect((await w.service.load(a.id)).status).toBe('expired');
  });

  it('activates an approved grant whose start came while the activation schedule was lost', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy({ startAt: new Date('2026-11-24T11:00:00Z') }));
    w.scheduler.schedules.clear();
    w.clock.set('2026-11-24T11:00:30Z');
    expect((await w.service.sweep()).activated).toBe(1);
    expect((await w.service.load(grant.id)).expiresAt).toBe('2026-11-24T11:30:30.000Z');
  });
});
