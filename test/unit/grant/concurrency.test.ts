import { describe, expect, it } from '@jest/globals';
import { verifyChain } from '../../../core/grant/chain';
import { raceGate } from '../../helpers/race';
import { alice, carol, dan, erin, requestDummy, sam, world } from '../../helpers/world';

const MIN = 60_000;
const adminScope = { target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * MIN, reason: 'INC-9' };

describe('Concurrency', () => {
  it('two approvals racing on the same sequence number: one conflicts, retries, and both count', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, adminScope);
    w.events.beforeAppend = raceGate(2);
    const [a, b] = await Promise.all([w.service.approve(grant.id, carol), w.service.approve(grant.id, dan)]);
    w.events.beforeAppend = undefined;
    expect(w.log.lines.filter((l) => l.message === 'concurrent write, retrying')).toHaveLength(1);
    const final = await w.service.load(grant.id);
    expect(final.status).toBe('active');
    expect(final.approvals.map((x) => x.by).sort()).toEqual(['carol@corp.com', 'dan@corp.com']);
    expect([a.status, b.status]).toContain('active');
    expect(verifyChain(grant.id, await w.events.read(grant.id)).ok).toBe(true);
  });

  it('the same approver racing with themselves counts once', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, adminScope);
    w.events.beforeAppend = raceGate(2);
    const results = await Promise.allSettled([w.service.approve(grant.id, carol), w.service.approve(grant.id, carol)]);
    w.events.beforeAppend = undefined;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'APPROVAL.DUPLICATE' });
    const final = await w.service.load(grant.id);
    expect(final.status).toBe('pending');
    expect(final.approvals).toHaveLength(1);
  });

  it('a revoke racing the final approval always ends revoked, never active, whichever starts first', async () => {
    for (let i = 0; i < 20; i++) {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      await w.service.approve(grant.id, carol);
      w.events.beforeAppend = raceGate(2);
      const revokeFirst = i % 2 === 1;
      // Started in the chosen order: the first to reach the gate appends first, the other conflicts and retries.
      const approve = () => w.service.approve(grant.id, dan);
      const revoke = () => w.service.revoke(grant.id, erin, 'stop');
      const [approved, revoked] = revokeFirst
        ? await Promise.allSettled([revoke(), approve()]).then(([r, a]) => [a, r] as const)
        : await Promise.allSettled([approve(), revoke()]);
      w.events.beforeAppend = undefined;
      await w.service.sweep();
      const final = await w.service.load(grant.id);
      expect(final.status).toBe('revoked');
      expect(w.providers.grpc.live.has(grant.id)).toBe(false);
      expect(revoked?.status).toBe('fulfilled');
      const types = (await w.events.read(grant.id)).map((e) => e.type);
      if (revokeFirst) {
        // The revoke won: dan's approval, retried, finds the grant revoked and is refused.
        expect(approved?.status).toBe('rejected');
        expect(types.filter((t) => t === 'approved')).toHaveLength(1);
        expect(types).not.toContain('activated');
      } else {
        // The approval won and activated the grant; the revoke, retried, ends it.
        expect(approved?.status).toBe('fulfilled');
        expect(types.filter((t) => t === 'approved')).toHaveLength(2);
        expect(types.indexOf('activated')).toBeLessThan(types.indexOf('revoked'));
      }
    }
  });

  it('credentials racing a revoke are never handed out after the revoke', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    w.events.beforeAppend = raceGate(2);
    const [creds, revoke] = await Promise.allSettled([
      w.service.issueCredentials(grant.id, alice, 'credentials'),
      w.service.revoke(grant.id, alice, 'stop'),
    ]);
    w.events.beforeAppend = undefined;
    expect(revoke.status).toBe('fulfilled');
    const types = (await w.events.read(grant.id)).map((e) => e.type);
    if (creds.status === 'fulfilled') {
      // Delivered only because its event landed first; the revoke then cut it off.
      expect(types.indexOf('credentials-issued')).toBeLessThan(types.indexOf('revoked'));
    } else {
      expect(creds.reason).toMatchObject({ code: 'GRANT.NOT_ACTIVE' });
      expect(types).not.toContain('credentials-issued');
    }
  });

  it('credentials from a state read before a revoke are refused: the append conflicts and the stream decides', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    const before = await w.service.get(grant.id, alice);
    await w.service.revoke(grant.id, sam, 'stop');
    await expect(w.service.issueCredentials(grant.id, alice, 'credentials', before)).rejects.toMatchObject({
      code: 'GRANT.NOT_ACTIVE',
    });
    expect((await w.events.read(grant.id)).map((e) => e.type)).not.toContain('credentials-issued');
  });

  it('a known state that refuses is checked against the stream before refusing', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    const stale = { ...(await w.service.get(grant.id, alice)), status: 'approved' as const };
    const { grant: after } = await w.service.issueCredentials(grant.id, alice, 'credentials', stale);
    expect(after.credentialsIssued).toBe(1);
    expect((await w.events.read(grant.id)).map((e) => e.type)).toContain('credentials-issued');
  });
});
