import { describe, expect, it } from '@jest/globals';
import { verifyChain } from '../../../core/grant/chain';
import { principal } from '../../../core/principal';
import { alice, bob, carol, dan, erin, mallory, requestDummy, sam, WORLD_POLICY, world } from '../../helpers/world';

const MIN = 60_000;
const adminScope = { target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * MIN, reason: 'INC-7 admin fix' };

describe('Class: GrantService', () => {
  describe('Method: request', () => {
    it('activates an auto-approved request at once, schedules its expiry and records both events', async () => {
      // Prepare
      const w = world();
      // Act
      const { grant, decision } = await w.service.request(alice, requestDummy());
      // Assess
      expect(decision.decision).toBe('allow');
      expect(grant.status).toBe('active');
      expect(grant.expiresAt).toBe('2026-11-24T10:30:00.000Z');
      expect(w.scheduler.schedules.get(`${grant.id}/expire`)?.toISOString()).toBe('2026-11-24T10:30:00.000Z');
      const events = await w.events.read(grant.id);
      expect(events.map((e) => e.type)).toEqual(['requested', 'activated']);
      expect(verifyChain(grant.id, events).ok).toBe(true);
      expect((await w.projections.get(grant.id))?.status).toBe('active');
      expect(w.publisher.published.map((e) => e.type)).toEqual(['requested', 'activated']);
    });

    it('writes the projection once per event, recording how far the bus got in the same write', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      expect(w.projections.puts).toBe(2);
      expect((await w.projections.get(grant.id))?.publishedSeq).toBe(2);
      w.publisher.failNext = 1;
      await w.service.issueCredentials(grant.id, alice, 'credentials');
      expect(w.projections.puts).toBe(3);
      // The failed publish leaves the position behind for the sweeper.
      expect(await w.projections.get(grant.id)).toMatchObject({ lastSeq: 3, publishedSeq: 2 });
    });

    it('records a policy denial as a denied grant with its reasons and grants nothing', async () => {
      const w = world();
      const { grant, decision } = await w.service.request(alice, requestDummy({ duration: 3 * 60 * MIN }));
      expect(decision.decision).toBe('deny');
      expect(decision.reasons.map((r) => r.code)).toContain('DURATION.TOO_LONG');
      expect(grant.status).toBe('denied');
      expect(w.providers['aws-role'].calls).toEqual([]);
      expect(w.scheduler.schedules.size).toBe(0);
    });

    it('refuses an empty reason before writing anything', async () => {
      const w = world();
      await expect(w.service.request(alice, requestDummy({ reason: '   ' }))).rejects.toMatchObject({
        code: 'REQUEST.REASON_REQUIRED',
      });
      expect(w.events.appends).toBe(0);
    });

    it('returns the first grant for a repeated Idempotency-Key and refuses the key for a different body', async () => {
      const w = world();
      const first = await w.service.request(alice, requestDummy(), { idempotencyKey: 'key-123456' });
      const again = await w.service.request(alice, requestDummy(), { idempotencyKey: 'key-123456' });
      expect(again.replayed).toBe(true);
      expect(again.grant.id).toBe(first.grant.id);
      expect(w.events.streams.size).toBe(1);
      await expect(
        w.service.request(alice, requestDummy({ duration: 10 * MIN }), { idempotencyKey: 'key-123456' }),
      ).rejects.toMatchObject({ code: 'IDEMPOTENCY.MISMATCH' });
      // The same key from another principal is another request.
      const other = await w.service.request(bob, requestDummy(), { idempotencyKey: 'key-123456' });
      expect(other.grant.id).not.toBe(first.grant.id);
    });

    it('waits for a future start time, then activates on schedule', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy({ startAt: new Date('2026-11-24T12:00:00Z') }));
      expect(grant.status).toBe('approved');
      expect(w.scheduler.schedules.get(`${grant.id}/activate`)?.toISOString()).toBe('2026-11-24T12:00:00.000Z');
      w.clock.set('2026-11-24T11:59:59Z');
      expect((await w.service.activate(grant.id)).status).toBe('approved');
      w.clock.set('2026-11-24T12:00:00Z');
      await w.fireSchedules();
      const active = await w.service.load(grant.id);
      expect(active.status).toBe('active');
      expect(active.expiresAt).toBe('2026-11-24T12:30:00.000Z');
    });
  });

  describe('Method: approve', () => {
    it('needs two distinct eligible approvers, never the requester', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      expect(grant.status).toBe('pending');
      expect(grant.approval).toEqual({ count: 2, from: ['group:secops'], requireMfa: false });

      await expect(w.service.approve(grant.id, alice)).rejects.toMatchObject({ code: 'APPROVAL.SELF' });
      await expect(w.service.approve(grant.id, principal({ id: 'ALICE@corp.com' }))).rejects.toMatchObject({
        code: 'APPROVAL.SELF',
      });
      await expect(w.service.approve(grant.id, bob)).rejects.toMatchObject({ code: 'APPROVAL.NOT_ELIGIBLE' });
      expect((await w.service.approve(grant.id, carol)).status).toBe('pending');
      await expect(w.service.approve(grant.id, carol)).rejects.toMatchObject({ code: 'APPROVAL.DUPLICATE' });
      await expect(w.service.approve(grant.id, principal({ id: 'Carol@Corp.com', mfa: true }))).rejects.toMatchObject({
        code: 'APPROVAL.DUPLICATE',
      });
      const approved = await w.service.approve(grant.id, dan, 'ok for INC-123');
      expect(approved.status).toBe('active');
      expect(approved.approvals.map((a) => a.by)).toEqual(['carol@corp.com', 'dan@corp.com']);
      // The failed attempts changed nothing: requested, two approvals, activation.
      expect((await w.events.read(grant.id)).map((e) => e.type)).toEqual([
        'requested',
        'approved',
        'approved',
        'activated',
      ]);
    });

    it('counts a member of an asserted group as eligible but still refuses the requester', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      await w.service.approve(grant.id, principal({ id: 'zed@corp.com', groups: ['secops'] }));
      await expect(
        w.service.approve(grant.id, principal({ id: 'alice@corp.com', groups: ['secops'] })),
      ).rejects.toMatchObject({
        code: 'APPROVAL.SELF',
      });
    });

    it('requires MFA from approvers when the rule requires MFA', async () => {
      const w = world();
      const { grant } = await w.service.request(principal({ ...alice, mfa: true }), {
        target: 'analytics',
        duration: 60 * MIN,
        reason: 'q4 report',
      });
      await expect(w.service.approve(grant.id, principal({ id: 'carol@corp.com', mfa: false }))).rejects.toMatchObject({
        code: 'APPROVAL.MFA_REQUIRED',
      });
      expect((await w.service.approve(grant.id, carol)).status).toBe('active');
    });

    it('cannot decide a request twice', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      await w.service.deny(grant.id, carol, 'not during the freeze');
      await expect(w.service.approve(grant.id, dan)).rejects.toMatchObject({ code: 'GRANT.NOT_PENDING' });
      await expect(w.service.deny(grant.id, dan, 'again')).rejects.toMatchObject({ code: 'GRANT.NOT_PENDING' });
      expect((await w.service.load(grant.id)).status).toBe('denied');
    });

    it('lets a late approval lose to a revoke', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      await w.service.approve(grant.id, carol);
      await w.service.revoke(grant.id, alice, 'no longer needed');
      await expect(w.service.approve(grant.id, dan)).rejects.toMatchObject({ code: 'GRANT.NOT_PENDING' });
      expect((await w.service.load(grant.id)).status).toBe('revoked');
      expect(w.providers.grpc.calls.filter((c) => c.op === 'provision')).toEqual([]);
    });
  });

  describe('Method: cancel', () => {
    it('is for the requester only, and only before activation', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      await expect(w.service.cancel(grant.id, carol)).rejects.toMatchObject({ code: 'GRANT.NOT_REQUESTER' });
      expect((await w.service.cancel(grant.id, alice)).status).toBe('cancelled');
      const active = (await w.service.request(alice, requestDummy())).grant;
      await expect(w.service.cancel(active.id, alice)).rejects.toMatchObject({ code: 'GRANT.NOT_CANCELLABLE' });
    });
  });

  describe('Method: revoke', () => {
    it('ends an active grant for the requester, an approver or an admin, and takes access away', async () => {
      const w = world();
      for (const who of [alice, carol, sam]) {
        const { grant } = await w.service.request(alice, {
          target: 'user-service',
          scopes: ['/acme.admin.*'],
          duration: 10 * MIN,
          reason: 'x',
        });
        await w.service.approve(grant.id, erin);
        await w.service.approve(grant.id, dan);
        await w.service.issueCredentials(grant.id, alice, 'token');
        const revoked = await w.service.revoke(grant.id, who, 'done');
        expect(revoked.status).toBe('revoked');
        expect(revoked.cleanupNeeded).toBe(false);
        expect(w.providers.grpc.live.has(grant.id)).toBe(false);
        expect(w.scheduler.schedules.has(`${grant.id}/expire`)).toBe(false);
        expect((await w.events.read(grant.id)).map((e) => e.type).slice(-2)).toEqual(['revoked', 'access-removed']);
      }
    });

    it('refuses anyone else and changes nothing', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      const before = w.events.appends;
      await expect(w.service.revoke(grant.id, mallory, 'x')).rejects.toMatchObject({ code: 'GRANT.NOT_REVOKER' });
      await expect(w.service.revoke(grant.id, bob, 'x')).rejects.toMatchObject({ code: 'GRANT.NOT_REVOKER' });
      expect(w.events.appends).toBe(before);
    });

    it('is idempotent and cannot revive an ended grant', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      await w.service.revoke(grant.id, alice, 'done');
      const n = w.events.appends;
      expect((await w.service.revoke(grant.id, alice, 'again')).status).toBe('revoked');
      expect(w.events.appends).toBe(n);
      const other = (await w.service.request(alice, requestDummy())).grant;
      w.clock.advance(31 * MIN);
      await w.service.expire(other.id);
      await expect(w.service.revoke(other.id, alice, 'late')).rejects.toMatchObject({ code: 'GRANT.ALREADY_ENDED' });
    });
  });

  describe('Method: expire', () => {
    it('does nothing early, expires at expiry, and ignores duplicate deliveries', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.set('2026-11-24T10:29:59Z');
      expect((await w.service.expire(grant.id)).status).toBe('active');
      w.clock.set('2026-11-24T10:30:00Z');
      expect((await w.service.expire(grant.id)).status).toBe('expired');
      const n = w.events.appends;
      expect((await w.service.expire(grant.id)).status).toBe('expired');
      expect(w.events.appends).toBe(n);
    });

    it('removes cloud-side access (a GCP binding) at expiry', async () => {
      const w = world();
      const mfaAlice = principal({ ...alice, mfa: true });
      const { grant } = await w.service.request(mfaAlice, {
        target: 'analytics',
        duration: 60 * MIN,
        reason: 'report',
      });
      await w.service.approve(grant.id, carol);
      expect(w.providers['gcp-role'].live.has(grant.id)).toBe(true);
      w.clock.advance(60 * MIN);
      await w.fireSchedules();
      expect((await w.service.load(grant.id)).status).toBe('expired');
      expect(w.providers['gcp-role'].live.has(grant.id)).toBe(false);
    });
  });

  describe('Method: issueCredentials', () => {
    it('issues to the requester of an active grant, records it, and never past expiry', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      w.clock.advance(10 * MIN);
      const { credential } = await w.service.issueCredentials(grant.id, alice, 'credentials');
      expect(credential.expiresAt.toISOString()).toBe('2026-11-24T10:30:00.000Z');
      const last = (await w.events.read(grant.id)).at(-1);
      expect(last?.type).toBe('credentials-issued');
      expect(last?.actor).toMatchObject({ id: 'alice@corp.com', sourceIp: '10.1.2.3' });

      await expect(w.service.issueCredentials(grant.id, bob, 'credentials')).rejects.toMatchObject({
        code: 'GRANT.NOT_REQUESTER',
      });
      w.clock.set('2026-11-24T10:30:00Z');
      // Not yet marked expired (no sweep, no schedule delivered): still refused.
      await expect(w.service.issueCredentials(grant.id, alice, 'credentials')).rejects.toMatchObject({
        code: 'GRANT.EXPIRED',
      });
    });

    it('re-checks the source IP condition against the caller of this call', async () => {
      const text = WORLD_POLICY.replace(
        '    approval: auto\n  - name: sre-reads-users',
        '    approval: auto\n    when: { sourceIp: [10.0.0.0/8] }\n  - name: sre-reads-users',
      );
      const w = world(text);
      const { grant } = await w.service.request(alice, requestDummy());
      expect(grant.status).toBe('active');
      await expect(
        w.service.issueCredentials(
          grant.id,
          principal({ id: 'alice@corp.com', sourceIp: '203.0.113.9' }),
          'credentials',
        ),
      ).rejects.toMatchObject({ code: 'CONDITION.SOURCE_IP' });
    });
  });

  describe('Method: extend', () => {
    it('creates a linked request that starts when the grant ends, under the same rules', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      const { grant: ext, decision } = await w.service.extend(grant.id, alice, {
        duration: 20 * MIN,
        reason: 'still on it',
      });
      expect(decision.decision).toBe('allow');
      expect(ext.extends).toBe(grant.id);
      expect(ext.status).toBe('approved');
      expect(ext.startAt).toBe('2026-11-24T10:30:00.000Z');
      w.clock.set('2026-11-24T10:30:00Z');
      await w.fireSchedules();
      expect((await w.service.load(grant.id)).status).toBe('expired');
      expect((await w.service.load(ext.id)).expiresAt).toBe('2026-11-24T10:50:00.000Z');
      await expect(w.service.extend(grant.id, alice, { duration: MIN, reason: 'x' })).rejects.toMatchObject({
        code: 'GRANT.NOT_ACTIVE',
      });
    });

    it('lapses the extension when the original grant is revoked first', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, requestDummy());
      const { grant: ext } = await w.service.extend(grant.id, alice, { duration: 20 * MIN, reason: 'x' });
      await w.service.revoke(grant.id, alice, 'done early');
      w.clock.set('2026-11-24T10:30:00Z');
      await w.fireSchedules();
      expect((await w.service.load(ext.id)).status).toBe('lapsed');
    });
  });

  describe('Method: get', () => {
    it('shows a grant to its requester, approvers and admins only', async () => {
      const w = world();
      const { grant } = await w.service.request(alice, adminScope);
      for (const who of [alice, carol, sam]) expect((await w.service.get(grant.id, who)).id).toBe(grant.id);
      await expect(w.service.get(grant.id, mallory)).rejects.toMatchObject({ code: 'GRANT.NOT_FOUND' });
      await expect(w.service.get(grant.id, bob)).rejects.toMatchObject({ code: 'GRANT.NOT_FOUND' });
    });
  });
});
