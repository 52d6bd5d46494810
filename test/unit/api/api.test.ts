import { describe, expect, it } from '@jest/globals';
import { MAX_BODY_BYTES } from '../../../api/app';
import { UnavailableError } from '../../../core/errors';
import { principal } from '../../../core/principal';
import { alice, bob, carol, dan, mallory, sam } from '../../helpers/world';
import { API_POLICY, apiWorld } from './api-world';

const audrey = principal({ id: 'audrey@corp.com' });
const aliceMfa = principal({ id: 'alice@corp.com', mfa: true, sourceIp: '10.1.2.3' });
const breakGlass = { target: 'user-service', scopes: ['/acme.admin.*'], duration: '20m', reason: 'INC-7 admin fix' };
const logs = { target: 'prod-logs', duration: '30m', reason: 'INC-123 investigating' };

/** A grant in a given state, made through the API itself. */
async function activeLogsGrant(w: ReturnType<typeof apiWorld>) {
  const r = await w.call('POST', '/v1/requests', { as: alice, body: logs });
  expect(r.status).toBe(201);
  return r.json.grant.id as string;
}
async function pendingBreakGlass(w: ReturnType<typeof apiWorld>) {
  const r = await w.call('POST', '/v1/requests', { as: alice, body: breakGlass });
  expect(r.json.grant.status).toBe('pending');
  return r.json.grant.id as string;
}

describe('Function: createApi', () => {
  describe('Route: POST /v1/requests', () => {
    it('answers 201 with the active grant and the decision for an auto-approved request', async () => {
      // Prepare
      const w = apiWorld();
      // Act
      const r = await w.call('POST', '/v1/requests', { as: alice, body: { ...logs, ticket: 'INC-123' } });
      // Assess
      expect(r.status).toBe(201);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.json.grant).toMatchObject({
        status: 'active',
        expiresAt: '2026-11-24T10:30:00.000Z',
        ticket: 'INC-123',
      });
      expect(r.json.grant.requester.id).toBe('alice@corp.com');
      expect(r.json.grant).not.toHaveProperty('requestHash');
      expect(r.json.decision).toMatchObject({ decision: 'allow', rule: 'sre-reads-logs', reasons: [] });
      expect(r.json.decision).not.toHaveProperty('target');
      expect((await w.events.read(r.json.grant.id)).map((e) => e.type)).toEqual(['requested', 'activated']);
    });

    it('answers 201 with a pending grant and who must approve it', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { as: alice, body: breakGlass });
      expect(r.status).toBe(201);
      expect(r.json.grant.status).toBe('pending');
      expect(r.json.decision.approval).toEqual({ count: 2, from: ['group:secops'], requireMfa: false });
    });

    it('accepts ISO-8601 durations and a future start', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', {
        as: alice,
        body: { ...logs, duration: 'PT45M', startAt: '2026-11-24T11:00:00+00:00' },
      });
      expect(r.status).toBe(201);
      expect(r.json.grant).toMatchObject({
        status: 'approved',
        duration: 45 * 60_000,
        startAt: '2026-11-24T11:00:00.000Z',
      });
      expect(w.scheduler.schedules.get(`${r.json.grant.id}/activate`)?.toISOString()).toBe('2026-11-24T11:00:00.000Z');
    });

    it('answers 403 REQUEST.DENIED with the reasons and the id of the recorded denial', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { as: alice, body: { ...logs, duration: '3h' } });
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('REQUEST.DENIED');
      expect(r.json.error.reasons.map((x: { code: string }) => x.code)).toContain('DURATION.TOO_LONG');
      const denied = await w.service.get(r.json.error.grantId, alice);
      expect(denied.status).toBe('denied');
      expect(w.events.appends).toBe(1);
    });

    it('takes the principal from authenticate only, never from the body or headers', async () => {
      const w = apiWorld();
      const spoofed = await w.call('POST', '/v1/requests', {
        as: mallory,
        body: { ...logs, requester: 'alice@corp.com' },
        headers: { 'x-principal': 'alice@corp.com' },
      });
      expect(spoofed.status).toBe(400);
      expect(spoofed.json.error.code).toBe('REQUEST.INVALID_BODY');
      const viaHeader = await w.call('POST', '/v1/requests', {
        as: mallory,
        body: logs,
        headers: { 'x-principal': 'alice@corp.com' },
      });
      expect(viaHeader.json.error.code).toBe('REQUEST.DENIED');
      expect((await w.service.get(viaHeader.json.error.grantId, sam)).requester.id).toBe('mallory@corp.com');
    });

    it('answers 401 without a verified caller and writes nothing', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { body: logs });
      expect(r.status).toBe(401);
      expect(r.json.error).toEqual({ code: 'IDENTITY.UNMAPPED', message: 'no verified caller', requestId: 'req-1' });
      expect(w.events.appends).toBe(0);
    });

    it.each([
      ['a missing reason', { target: 'prod-logs', duration: '30m' }, 'REQUEST.INVALID_BODY'],
      ['an unknown field', { ...logs, extra: 1 }, 'REQUEST.INVALID_BODY'],
      [
        'a prototype key',
        JSON.parse(`{"__proto__": {"admin": true}, "target": "prod-logs", "duration": "30m", "reason": "x"}`),
        'REQUEST.INVALID_BODY',
      ],
      ['a number duration', { ...logs, duration: 1800 }, 'REQUEST.INVALID_BODY'],
      ['a duration that does not parse', { ...logs, duration: 'half an hour' }, 'REQUEST.INVALID_DURATION'],
      ['a zero duration', { ...logs, duration: '0m' }, 'REQUEST.INVALID_DURATION'],
      ['a blank reason', { ...logs, reason: '   ' }, 'REQUEST.REASON_REQUIRED'],
      ['a reason over 1000 characters', { ...logs, reason: 'x'.repeat(1001) }, 'REQUEST.INVALID_BODY'],
      ['a control character in the reason', { ...logs, reason: 'a\u0000b' }, 'REQUEST.INVALID_BODY'],
      ['a ticket over 128 characters', { ...logs, ticket: 'T'.repeat(129) }, 'REQUEST.INVALID_BODY'],
      ['51 scopes', { ...logs, scopes: Array.from({ length: 51 }, (_, i) => `s3:Get${i}`) }, 'REQUEST.INVALID_BODY'],
      [
        'a scope over 1024 characters',
        { ...logs, scopes: [`arn:aws:s3:::${'a'.repeat(1020)}`] },
        'REQUEST.INVALID_BODY',
      ],
      ['a malformed target name', { ...logs, target: 'Prod Logs' }, 'REQUEST.INVALID_BODY'],
      ['a start that is not ISO-8601', { ...logs, startAt: 'tomorrow' }, 'REQUEST.INVALID_BODY'],
      ['an array body', [logs], 'REQUEST.INVALID_BODY'],
    ])('answers 400 for %s and writes nothing', async (_what, body, code) => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { as: alice, body });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe(code);
      expect(w.events.appends).toBe(0);
    });

    it('lists every field problem with its path', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { as: alice, body: { target: 7, scopes: ['ok', 3] } });
      const paths = r.json.error.issues.map((i: { path: string }) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['target', 'scopes.1', 'duration', 'reason']));
    });

    it('answers 400 for a body that is not JSON or not sent as JSON', async () => {
      const w = apiWorld();
      const notJson = await w.call('POST', '/v1/requests', { as: alice, body: '{"target": ' });
      expect(notJson.json.error.code).toBe('REQUEST.INVALID_JSON');
      const asText = await w.call('POST', '/v1/requests', {
        as: alice,
        body: JSON.stringify(logs),
        headers: { 'Content-Type': 'text/plain' },
      });
      expect(asText.status).toBe(400);
      expect(asText.json.error.code).toBe('REQUEST.UNSUPPORTED_MEDIA_TYPE');
      const charset = await w.call('POST', '/v1/requests', {
        as: alice,
        body: JSON.stringify(logs),
        headers: { 'Content-Type': 'application/json; charset=UTF-8' },
      });
      expect(charset.status).toBe(201);
    });

    it('refuses a body over 16 KiB with 413, counting bytes rather than characters', async () => {
      const w = apiWorld();
      const base = JSON.stringify({ ...logs, reason: '' });
      // Exactly at the limit: accepted by the size check (and then refused for the over-long reason).
      const atLimit = JSON.stringify({ ...logs, reason: 'x'.repeat(MAX_BODY_BYTES - base.length) });
      expect(Buffer.byteLength(atLimit)).toBe(MAX_BODY_BYTES);
      expect((await w.call('POST', '/v1/requests', { as: alice, body: atLimit })).json.error.code).toBe(
        'REQUEST.INVALID_BODY',
      );
      const over = await w.call('POST', '/v1/requests', { as: alice, body: `${atLimit} ` });
      expect(over.status).toBe(413);
      expect(over.json.error.code).toBe('REQUEST.TOO_LARGE');
      // 6,000 three-byte characters are 18,000 bytes.
      const wide = await w.call('POST', '/v1/requests', {
        as: alice,
        body: { ...logs, reason: '\u20ac'.repeat(6000) },
      });
      expect(wide.status).toBe(413);
      expect(w.events.appends).toBe(0);
    });

    it('replays the first answer for a repeated Idempotency-Key with 200 and refuses a different body under it', async () => {
      const w = apiWorld();
      const headers = { 'Idempotency-Key': 'req-2026-11-24-0001' };
      const first = await w.call('POST', '/v1/requests', { as: alice, body: logs, headers });
      const again = await w.call('POST', '/v1/requests', { as: alice, body: logs, headers });
      expect(first.status).toBe(201);
      expect(again.status).toBe(200);
      expect(again.json.grant.id).toBe(first.json.grant.id);
      expect(w.events.streams.size).toBe(1);
      const appends = w.events.appends;
      const mismatch = await w.call('POST', '/v1/requests', { as: alice, body: { ...logs, duration: '10m' }, headers });
      expect(mismatch.status).toBe(409);
      expect(mismatch.json.error.code).toBe('IDEMPOTENCY.MISMATCH');
      expect(w.events.appends).toBe(appends);
    });

    it('replays what was decided then, not what the policy or the session would decide now', async () => {
      // Prepare: bob's auto-approved grant; the rule is then narrowed so the same request would now be denied
      const w = apiWorld();
      const headers = { 'Idempotency-Key': 'req-2026-11-24-0002' };
      const first = await w.call('POST', '/v1/requests', { as: bob, body: logs, headers });
      w.setPolicy(API_POLICY.replace('maxDuration: 1h\n    approval: auto', 'maxDuration: 10m\n    approval: auto'));
      // Act
      const again = await w.call('POST', '/v1/requests', { as: bob, body: logs, headers });
      // Assess: the live grant and its recorded decision, not a 403 for a grant that is active
      expect(first.status).toBe(201);
      expect(again.status).toBe(200);
      expect(again.json.grant).toMatchObject({ id: first.json.grant.id, status: 'active' });
      expect(again.json.decision).toMatchObject({ decision: 'allow', rule: first.json.decision.rule });
      expect(again.json.decision.expiresAt).toBe(first.json.grant.expiresAt);
    });

    it('replays a denial as a denial, even from a session that would now be allowed', async () => {
      const w = apiWorld();
      const headers = { 'Idempotency-Key': 'req-2026-11-24-0003' };
      const body = { target: 'analytics', duration: '1h', reason: 'x' };
      const first = await w.call('POST', '/v1/requests', { as: alice, body, headers });
      const again = await w.call('POST', '/v1/requests', { as: { ...alice, mfa: true }, body, headers });
      expect(first.json.error.code).toBe('REQUEST.DENIED');
      expect(again.status).toBe(403);
      expect(again.json.error).toMatchObject({ code: 'REQUEST.DENIED', grantId: first.json.error.grantId });
      expect(w.events.streams.size).toBe(1);
    });

    it('refuses an empty Idempotency-Key with 400 instead of ignoring it', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { as: alice, body: logs, headers: { 'Idempotency-Key': '' } });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('IDEMPOTENCY.INVALID_KEY');
      expect(w.events.appends).toBe(0);
    });

    it('refuses an Idempotency-Key that is too short with 400', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', { as: alice, body: logs, headers: { 'idempotency-key': 'abc' } });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('IDEMPOTENCY.INVALID_KEY');
      expect(w.events.appends).toBe(0);
    });
  });

  describe('Route: GET /v1/requests', () => {
    it("lists the caller's own requests by default", async () => {
      const w = apiWorld();
      const mine = await activeLogsGrant(w);
      await w.call('POST', '/v1/requests', { as: bob, body: logs });
      const r = await w.call('GET', '/v1/requests', { as: alice });
      expect(r.status).toBe(200);
      expect(r.json.grants.map((g: { id: string }) => g.id)).toEqual([mine]);
    });

    it('lists requests the caller may approve, without their own or those they already approved', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const ids = async (who: typeof carol) =>
        (await w.call('GET', '/v1/requests', { as: who, query: { approvable: 'true' } })).json.grants.map(
          (g: { id: string }) => g.id,
        );
      expect(await ids(carol)).toEqual([id]);
      expect(await ids(alice)).toEqual([]);
      expect(await ids(mallory)).toEqual([]);
      expect((await w.call('POST', `/v1/requests/${id}/approve`, { as: carol })).status).toBe(200);
      expect(await ids(carol)).toEqual([]);
      expect(await ids(dan)).toEqual([id]);
    });

    it('counts groups asserted by the identity source when listing approvable requests', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const outsider = principal({ id: 'olga@corp.com', groups: ['secops'] });
      const r = await w.call('GET', '/v1/requests', { as: outsider, query: { approvable: 'true' } });
      expect(r.json.grants.map((g: { id: string }) => g.id)).toEqual([id]);
    });

    it('filters by status: every grant for auditors, only readable ones for others', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      await w.call('POST', '/v1/requests', { as: bob, body: logs });
      const forAudrey = await w.call('GET', '/v1/requests', { as: audrey, query: { status: 'active' } });
      expect(forAudrey.json.grants).toHaveLength(2);
      const forAlice = await w.call('GET', '/v1/requests', { as: alice, query: { status: 'active' } });
      expect(forAlice.json.grants.map((g: { id: string }) => g.id)).toEqual([id]);
      const forMallory = await w.call('GET', '/v1/requests', { as: mallory, query: { status: 'active' } });
      expect(forMallory.json.grants).toEqual([]);
      const mineActive = await w.call('GET', '/v1/requests', { as: alice, query: { mine: 'true', status: 'pending' } });
      expect(mineActive.json.grants).toEqual([]);
    });

    it('honours limit', async () => {
      const w = apiWorld();
      for (let i = 0; i < 3; i++) await activeLogsGrant(w);
      const r = await w.call('GET', '/v1/requests', { as: alice, query: { limit: '2' } });
      expect(r.json.grants).toHaveLength(2);
    });

    it.each([
      [{ mine: 'true', approvable: 'true' }],
      [{ limit: '0' }],
      [{ limit: '101' }],
      [{ limit: 'ten' }],
      [{ status: 'bogus' }],
      [{ mine: 'yes' }],
      [{ other: '1' }],
      [{ status: ['active', 'pending'] }],
    ])('answers 400 REQUEST.INVALID_QUERY for %j', async (query) => {
      const w = apiWorld();
      const r = await w.call('GET', '/v1/requests', { as: alice, query });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('REQUEST.INVALID_QUERY');
    });
  });

  describe('Route: GET /v1/requests/{id}', () => {
    it('shows a grant to its requester, its approvers, admins and auditors', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      for (const who of [alice, carol, sam, audrey]) {
        const r = await w.call('GET', `/v1/requests/${id}`, { as: who });
        expect(r.status).toBe(200);
        expect(r.json.grant.id).toBe(id);
      }
    });

    it('answers 404 to anyone else, the same as for a grant that does not exist', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const hidden = await w.call('GET', `/v1/requests/${id}`, { as: mallory });
      const missing = await w.call('GET', '/v1/requests/tb-00000000000000000000000000', { as: mallory });
      const malformed = await w.call('GET', '/v1/requests/..%2f..%2fetc', { as: alice });
      for (const r of [hidden, missing, malformed]) {
        expect(r.status).toBe(404);
        expect(r.json.error.code).toBe('GRANT.NOT_FOUND');
      }
      // Bob is in the requester's group but neither requester nor approver.
      expect((await w.call('GET', `/v1/requests/${id}`, { as: bob })).status).toBe(404);
    });
  });

  describe('Route: POST /v1/requests/{id}/approve', () => {
    it('approves with an eligible approver and activates once enough approvals are in', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const first = await w.call('POST', `/v1/requests/${id}/approve`, { as: carol, body: { comment: 'ok' } });
      expect(first.json.grant.status).toBe('pending');
      const second = await w.call('POST', `/v1/requests/${id}/approve`, { as: dan });
      expect(second.status).toBe(200);
      expect(second.json.grant.status).toBe('active');
      expect(second.json.grant.approvals.map((a: { by: string }) => a.by)).toEqual(['carol@corp.com', 'dan@corp.com']);
    });

    it('never lets a requester approve their own request', async () => {
      const w = apiWorld(
        API_POLICY.replace(
          'secops: [carol@corp.com, dan@corp.com, erin@corp.com]',
          'secops: [alice@corp.com, carol@corp.com, dan@corp.com, erin@corp.com]',
        ),
      );
      const id = await pendingBreakGlass(w);
      const appends = w.events.appends;
      const r = await w.call('POST', `/v1/requests/${id}/approve`, { as: alice });
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('APPROVAL.SELF');
      expect(w.events.appends).toBe(appends);
    });

    it('answers 409 for a second approval by the same person and for a decided request', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      await w.call('POST', `/v1/requests/${id}/approve`, { as: carol });
      const twice = await w.call('POST', `/v1/requests/${id}/approve`, { as: carol });
      expect(twice.status).toBe(409);
      expect(twice.json.error.code).toBe('APPROVAL.DUPLICATE');
      await w.call('POST', `/v1/requests/${id}/approve`, { as: dan });
      const late = await w.call('POST', `/v1/requests/${id}/approve`, { as: principal({ id: 'erin@corp.com' }) });
      expect(late.status).toBe(409);
      expect(late.json.error.code).toBe('GRANT.NOT_PENDING');
    });

    it('answers 403 APPROVAL.MFA_REQUIRED when the rule needs MFA and the approver has none', async () => {
      const w = apiWorld();
      const r = await w.call('POST', '/v1/requests', {
        as: aliceMfa,
        body: { target: 'analytics', duration: '1h', reason: 'quarterly numbers' },
      });
      expect(r.json.grant.status).toBe('pending');
      const noMfa = await w.call('POST', `/v1/requests/${r.json.grant.id}/approve`, {
        as: principal({ id: 'carol@corp.com' }),
      });
      expect(noMfa.status).toBe(403);
      expect(noMfa.json.error.code).toBe('APPROVAL.MFA_REQUIRED');
    });

    it('answers 404 to someone who may not see the request, whatever its state', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/requests/${id}/approve`, { as: mallory });
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('GRANT.NOT_FOUND');
    });
  });

  describe('Route: POST /v1/requests/{id}/deny', () => {
    it('denies with a comment', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const r = await w.call('POST', `/v1/requests/${id}/deny`, { as: carol, body: { comment: 'use the runbook' } });
      expect(r.status).toBe(200);
      expect(r.json.grant).toMatchObject({
        status: 'denied',
        endReason: 'use the runbook',
        decidedBy: 'carol@corp.com',
      });
    });

    it('answers 400 without a comment', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const r = await w.call('POST', `/v1/requests/${id}/deny`, { as: carol });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('REQUEST.INVALID_BODY');
    });
  });

  describe('Route: POST /v1/requests/{id}/cancel', () => {
    it('lets the requester cancel a pending request', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const r = await w.call('POST', `/v1/requests/${id}/cancel`, { as: alice, body: { comment: 'fixed' } });
      expect(r.status).toBe(200);
      expect(r.json.grant.status).toBe('cancelled');
    });

    it('answers 403 to an approver and 409 for an active grant', async () => {
      const w = apiWorld();
      const pending = await pendingBreakGlass(w);
      const byApprover = await w.call('POST', `/v1/requests/${pending}/cancel`, { as: carol });
      expect(byApprover.status).toBe(403);
      expect(byApprover.json.error.code).toBe('GRANT.NOT_REQUESTER');
      const active = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/requests/${active}/cancel`, { as: alice });
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('GRANT.NOT_CANCELLABLE');
    });
  });

  describe('Route: POST /v1/requests/{id}/revoke', () => {
    it('revokes an active grant, takes the access away, and answers a repeat with the same revoked grant', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/requests/${id}/revoke`, { as: alice, body: { reason: 'done early' } });
      expect(r.status).toBe(200);
      expect(r.json.grant).toMatchObject({ status: 'revoked', endReason: 'done early' });
      expect(w.scheduler.schedules.has(`${id}/expire`)).toBe(false);
      const again = await w.call('POST', `/v1/requests/${id}/revoke`, { as: sam, body: { reason: 'incident' } });
      expect(again.status).toBe(200);
      expect(again.json.grant.endReason).toBe('done early');
    });

    it('answers 400 without a reason and 404 to a stranger', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      expect((await w.call('POST', `/v1/requests/${id}/revoke`, { as: alice, body: {} })).status).toBe(400);
      const r = await w.call('POST', `/v1/requests/${id}/revoke`, { as: mallory, body: { reason: 'x' } });
      expect(r.status).toBe(404);
    });

    it('lets an auditor read but not revoke', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/requests/${id}/revoke`, { as: audrey, body: { reason: 'x' } });
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('GRANT.NOT_REVOKER');
    });
  });

  describe('Route: POST /v1/requests/{id}/extend', () => {
    it('requests an extension starting when the grant ends', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/requests/${id}/extend`, {
        as: alice,
        body: { duration: '20m', reason: 'more' },
      });
      expect(r.status).toBe(201);
      expect(r.json.grant).toMatchObject({ status: 'approved', startAt: '2026-11-24T10:30:00.000Z', extends: id });
    });

    it('answers 403 REQUEST.DENIED when the policy refuses the extension, recording it', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const appends = w.events.appends;
      const r = await w.call('POST', `/v1/requests/${id}/extend`, {
        as: alice,
        body: { duration: '5h', reason: 'more' },
      });
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('REQUEST.DENIED');
      expect(w.events.appends).toBe(appends + 1);
    });

    it('answers 409 for a grant that is not active', async () => {
      const w = apiWorld();
      const id = await pendingBreakGlass(w);
      const r = await w.call('POST', `/v1/requests/${id}/extend`, {
        as: alice,
        body: { duration: '10m', reason: 'more' },
      });
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('GRANT.NOT_ACTIVE');
    });
  });

  describe('Route: POST /v1/grants/{id}/credentials', () => {
    it('answers an aws-role grant with a credential_process document and records the issue', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/grants/${id}/credentials`, { as: alice });
      expect(r.status).toBe(200);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.json).toEqual({
        Version: 1,
        AccessKeyId: 'ASIAEXAMPLE',
        SecretAccessKey: `secret-${id}`,
        SessionToken: `session-${id}`,
        Expiration: '2026-11-24T10:30:00.000Z',
      });
      expect((await w.events.read(id)).at(-1)?.type).toBe('credentials-issued');
    });

    it('answers a grpc grant with a signed token no later than the grant expiry', async () => {
      const w = apiWorld();
      const g = await w.call('POST', '/v1/requests', {
        as: alice,
        body: { target: 'user-service', duration: '1h', reason: 'debug users' },
      });
      const r = await w.call('POST', `/v1/grants/${g.json.grant.id}/credentials`, { as: alice });
      expect(r.status).toBe(200);
      expect(r.json.token.split('.')).toHaveLength(3);
      expect(r.json.expiresAt).toBe('2026-11-24T10:05:00.000Z');
      expect(w.signer.signed[0]).toMatchObject({ jti: g.json.grant.id, aud: 'user-service', sub: 'alice@corp.com' });
    });

    it('answers a gcp-role grant with the binding details', async () => {
      const w = apiWorld();
      const g = await w.call('POST', '/v1/requests', {
        as: aliceMfa,
        body: { target: 'analytics', duration: '1h', reason: 'quarterly numbers' },
      });
      await w.call('POST', `/v1/requests/${g.json.grant.id}/approve`, { as: carol });
      const r = await w.call('POST', `/v1/grants/${g.json.grant.id}/credentials`, { as: aliceMfa });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({
        binding: { token: `secret-${g.json.grant.id}` },
        expiresAt: '2026-11-24T11:00:00.000Z',
      });
    });

    it('gives credentials only to the requester and only while active', async () => {
      const w = apiWorld();
      const pending = await pendingBreakGlass(w);
      const notActive = await w.call('POST', `/v1/grants/${pending}/credentials`, { as: alice });
      expect(notActive.status).toBe(409);
      expect(notActive.json.error.code).toBe('GRANT.NOT_ACTIVE');
      const byApprover = await w.call('POST', `/v1/grants/${pending}/credentials`, { as: carol });
      expect(byApprover.status).toBe(403);
      expect(byApprover.json.error.code).toBe('GRANT.NOT_REQUESTER');
      const id = await activeLogsGrant(w);
      expect((await w.call('POST', `/v1/grants/${id}/credentials`, { as: mallory })).status).toBe(404);
      w.clock.advance(31 * 60_000);
      const expired = await w.call('POST', `/v1/grants/${id}/credentials`, { as: alice });
      expect(expired.status).toBe(409);
      expect(expired.json.error.code).toBe('GRANT.EXPIRED');
    });

    it('refuses a body with fields', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/grants/${id}/credentials`, { as: alice, body: { kind: 'admin' } });
      expect(r.status).toBe(400);
    });
  });

  describe('Route: POST /v1/grants/{id}/console', () => {
    it('answers an aws-role grant with the sign-in URL', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('POST', `/v1/grants/${id}/console`, { as: alice, body: {} });
      expect(r.status).toBe(200);
      expect(r.json.url).toBe(`https://signin.aws.amazon.com/federation?Action=login&SigninToken=tok-${id}`);
    });

    it('answers 422 CONSOLE.UNSUPPORTED for other kinds, issuing nothing', async () => {
      const w = apiWorld();
      const g = await w.call('POST', '/v1/requests', {
        as: alice,
        body: { target: 'user-service', duration: '1h', reason: 'debug users' },
      });
      const appends = w.events.appends;
      const r = await w.call('POST', `/v1/grants/${g.json.grant.id}/console`, { as: alice });
      expect(r.status).toBe(422);
      expect(r.json.error.code).toBe('CONSOLE.UNSUPPORTED');
      expect(w.events.appends).toBe(appends);
    });
  });

  describe('Route: GET /v1/audit', () => {
    it("shows one grant's events to whoever may read the grant, paged by sequence", async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      await w.call('POST', `/v1/grants/${id}/credentials`, { as: alice });
      const first = await w.call('GET', '/v1/audit', { as: alice, query: { grant: id, limit: '2' } });
      expect(first.json.events.map((e: { type: string }) => e.type)).toEqual(['requested', 'activated']);
      expect(first.json.cursor).toBe('2');
      const next = await w.call('GET', '/v1/audit', { as: alice, query: { grant: id, cursor: first.json.cursor } });
      expect(next.json.events.map((e: { type: string }) => e.type)).toEqual(['credentials-issued']);
      expect(next.json).not.toHaveProperty('cursor');
      expect((await w.call('GET', '/v1/audit', { as: mallory, query: { grant: id } })).status).toBe(404);
    });

    it('answers queries across grants for auditors only', async () => {
      const w = apiWorld();
      await activeLogsGrant(w);
      await w.call('POST', '/v1/requests', { as: bob, body: logs });
      const r = await w.call('GET', '/v1/audit', { as: audrey, query: { actor: 'Bob@corp.com' } });
      expect(r.status).toBe(200);
      expect(r.json.events.map((e: { type: string }) => e.type)).toEqual(['requested']);
      const refused = await w.call('GET', '/v1/audit', { as: alice });
      expect(refused.status).toBe(403);
      expect(refused.json.error.code).toBe('AUDIT.AUDITORS_ONLY');
    });

    it('pages across grants with the cursor alone, although the default window moves with the clock', async () => {
      // Prepare: three grants, read one event at a time without since/until
      const w = apiWorld();
      for (let i = 0; i < 3; i++) await w.call('POST', '/v1/requests', { as: bob, body: logs });
      const seen: string[] = [];
      let cursor: string | undefined;
      // Act
      do {
        const r = await w.call('GET', '/v1/audit', {
          as: audrey,
          query: { limit: '1', ...(cursor ? { cursor } : {}) },
        });
        expect(r.status).toBe(200);
        seen.push(...r.json.events.map((e: { grantId: string; seq: number }) => `${e.grantId}/${e.seq}`));
        cursor = r.json.cursor;
        w.clock.advance(1);
      } while (cursor);
      // Assess: every event once
      expect(seen).toHaveLength(w.events.allEvents().length);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('refuses a cursor with another window, or one this API did not issue', async () => {
      const w = apiWorld();
      for (let i = 0; i < 2; i++) await w.call('POST', '/v1/requests', { as: bob, body: logs });
      const first = await w.call('GET', '/v1/audit', { as: audrey, query: { limit: '1' } });
      const other = await w.call('GET', '/v1/audit', {
        as: audrey,
        query: { cursor: first.json.cursor, since: '2026-11-20T00:00:00Z' },
      });
      expect(other.json.error.code).toBe('AUDIT.INVALID_CURSOR');
      const forged = await w.call('GET', '/v1/audit', {
        as: audrey,
        query: { cursor: Buffer.from('["x"]').toString('base64url') },
      });
      expect(forged.json.error.code).toBe('AUDIT.INVALID_CURSOR');
    });

    it('refuses an empty or over-long window and a malformed cursor', async () => {
      const w = apiWorld();
      const q = async (query: Record<string, string>) =>
        (await w.call('GET', '/v1/audit', { as: audrey, query })).json.error?.code;
      expect(await q({ since: '2026-11-24T10:00:00Z', until: '2026-11-24T10:00:00Z' })).toBe('AUDIT.INVALID_WINDOW');
      expect(await q({ since: '2026-09-01T00:00:00Z', until: '2026-11-24T00:00:00Z' })).toBe('AUDIT.WINDOW_TOO_LARGE');
      expect(await q({ since: 'yesterday' })).toBe('REQUEST.INVALID_QUERY');
      expect(await q({ cursor: 'not a cursor!' })).toBe('REQUEST.INVALID_QUERY');
    });
  });

  describe('Route: GET /v1/audit/verify', () => {
    it("verifies one grant's chain", async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      const r = await w.call('GET', '/v1/audit/verify', { as: alice, query: { grant: id } });
      expect(r.json).toMatchObject({ grantId: id, ok: true, events: 2 });
    });

    it('verifies every grant of a window for auditors and names the broken ones', async () => {
      const w = apiWorld();
      const good = await activeLogsGrant(w);
      const bad = await activeLogsGrant(w);
      const stream = w.events.streams.get(bad);
      if (stream?.[0]?.type === 'requested') stream[0].data.reason = 'rewritten later';
      const r = await w.call('GET', '/v1/audit/verify', { as: audrey });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ ok: false, grants: 2 });
      expect(r.json.broken.map((b: { grantId: string }) => b.grantId)).toEqual([bad]);
      expect(r.json.broken[0].breaks[0].problem).toBe('hash-mismatch');
      expect(good).not.toBe(bad);
      expect((await w.call('GET', '/v1/audit/verify', { as: alice })).status).toBe(403);
    });

    it('finds grants whose events in the window were deleted, through their projections', async () => {
      // Prepare: every event of one grant deleted, the newest event of another
      const w = apiWorld();
      const gone = await activeLogsGrant(w);
      const cut = await activeLogsGrant(w);
      w.events.streams.delete(gone);
      w.events.streams.set(cut, (w.events.streams.get(cut) ?? []).slice(0, 1));
      // Act
      const r = await w.call('GET', '/v1/audit/verify', { as: audrey });
      // Assess
      expect(r.json).toMatchObject({ ok: false, grants: 2 });
      const problems = Object.fromEntries(
        r.json.broken.map((b: { grantId: string; breaks: { problem: string }[] }) => [b.grantId, b.breaks[0]?.problem]),
      );
      expect(problems).toEqual({ [gone]: 'empty', [cut]: 'head-mismatch' });
    });
  });

  describe('Public routes', () => {
    it('serves the JWKS, the revocation feed and health without authentication', async () => {
      const w = apiWorld();
      const jwks = await w.call('GET', '/.well-known/jwks.json');
      expect(jwks.status).toBe(200);
      expect(jwks.headers['cache-control']).toBe('public, max-age=300');
      expect(jwks.json.keys[0].kid).toBe('test-key');
      expect((await w.call('GET', '/healthz')).json).toEqual({ ok: true });
      const empty = await w.call('GET', '/.well-known/timebox/revocations.json');
      expect(empty.json).toEqual({ revoked: [], generatedAt: '2026-11-24T10:00:00.000Z', jwt: expect.any(String) });
      expect(w.signer.signed.at(-1)).toEqual({
        iss: 'https://timebox.example',
        iat: Date.parse('2026-11-24T10:00:00Z') / 1000,
        exp: Date.parse('2026-11-24T10:05:00Z') / 1000,
        revoked: [],
      });
      expect(JSON.parse(Buffer.from(empty.json.jwt.split('.')[0], 'base64url').toString())).toMatchObject({
        typ: 'timebox-revocations+jwt',
      });
    });

    it('builds the revocation feed at most once per 2 s however often it is read', async () => {
      const w = apiWorld();
      const signed = () => w.signer.signed.filter((c) => 'revoked' in c).length;
      for (let i = 0; i < 5; i++) await w.call('GET', '/.well-known/timebox/revocations.json');
      expect(signed()).toBe(1);
      w.clock.advance(2_000);
      await w.call('GET', '/.well-known/timebox/revocations.json');
      expect(signed()).toBe(2);
    });

    it('lists a revoked grpc grant in the revocation feed until its last token expires', async () => {
      const w = apiWorld();
      const g = await w.call('POST', '/v1/requests', {
        as: alice,
        body: { target: 'user-service', duration: '1h', reason: 'debug users' },
      });
      const id = g.json.grant.id;
      await w.call('POST', `/v1/grants/${id}/credentials`, { as: alice });
      await w.call('POST', `/v1/requests/${id}/revoke`, { as: alice, body: { reason: 'done' } });
      const feed = await w.call('GET', '/.well-known/timebox/revocations.json');
      expect(feed.json.revoked).toEqual([{ jti: id, exp: Date.parse('2026-11-24T10:05:00Z') / 1000 }]);
    });
  });

  describe('Routing and faults', () => {
    it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
      const w = apiWorld();
      const unknown = await w.call('GET', '/v2/requests', { as: alice });
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe('ROUTE.NOT_FOUND');
      const wrong = await w.call('DELETE', '/v1/requests', { as: alice });
      expect(wrong.status).toBe(405);
      expect(wrong.headers.allow).toBe('POST, GET');
      expect(wrong.json.error.code).toBe('ROUTE.METHOD_NOT_ALLOWED');
    });

    it('answers 500 INTERNAL with the request id and no details for an unexpected fault, and logs it', async () => {
      const w = apiWorld();
      w.events.beforeAppend = () => {
        throw new Error('disk on fire at /var/lib/secret');
      };
      const r = await w.call('POST', '/v1/requests', { as: alice, body: logs });
      expect(r.status).toBe(500);
      expect(r.json).toEqual({
        error: { code: 'INTERNAL', message: 'unexpected error; quote the request id', requestId: 'req-1' },
      });
      expect(r.body).not.toContain('disk on fire');
      const logged = w.log.lines.find((l) => l.message === 'unexpected fault');
      expect(logged?.fields).toMatchObject({ requestId: 'req-1', error: 'disk on fire at /var/lib/secret' });
    });

    it('answers 503 for a dependency that says it is unavailable', async () => {
      const w = apiWorld();
      w.events.beforeAppend = () => {
        throw new UnavailableError('AWS.THROTTLED', 'dynamodb:PutItem was throttled by AWS; retry shortly');
      };
      const r = await w.call('POST', '/v1/requests', { as: alice, body: logs });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('AWS.THROTTLED');
    });

    it('logs every answered request with its request id and grant id', async () => {
      const w = apiWorld();
      const id = await activeLogsGrant(w);
      await w.call('GET', `/v1/requests/${id}`, { as: mallory });
      const refused = w.log.lines.find((l) => l.message === 'api request refused');
      expect(refused?.fields).toMatchObject({ requestId: 'req-2', grantId: id, status: 404, code: 'GRANT.NOT_FOUND' });
    });
  });
});
