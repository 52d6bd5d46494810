import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DynamoEventStore, DynamoProjectionStore, documentClient } from '../../../adapters/aws/dynamodb';
import { GrpcTokenProvider } from '../../../adapters/grpc/provider';
import { type ApiRequest, createApi } from '../../../api/app';
import { ManualClock } from '../../../core/clock';
import { GrantService } from '../../../core/grant/service';
import { grantIdGenerator } from '../../../core/ids';
import { awsAuthenticator } from '../../../lambdas/api/identity';
import { LogPublisher } from '../../../lambdas/log';
import { createRevokeHandler } from '../../../lambdas/revoke/handler';
import { dynaliteClient } from '../../helpers/dynalite';
import { createTimeboxTables, type RunningDynalite, startDynalite } from '../../helpers/dynalite-server';
import { FakeProvider, FakeScheduler, RecordingLog } from '../../helpers/memory';
import { compileYaml } from '../../helpers/world';
import { API_POLICY, FakeSigner, StsShapedProvider } from '../../unit/api/api-world';

/**
 * The API and the revoke handler over the real DynamoDB adapters (dynalite on loopback): the index queries
 * behind `approvable`, audit paging with the store's own cursors, and conditional appends, end to end.
 */

const ACCOUNT = '111122223333';
const sso = (user: string) => ({
  userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Engineers_0123456789abcdef/${user}`,
  accountId: ACCOUNT,
  sourceIp: '10.1.2.3',
  userAgent: 'timebox-cli/0.1.0',
});

let dynalite: RunningDynalite;
let client: DynamoDBClient;

beforeAll(async () => {
  dynalite = await startDynalite();
  client = dynaliteClient(dynalite.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await dynalite?.close();
});

async function stack(suffix: string) {
  const names = { events: `events-${suffix}`, grants: `grants-${suffix}` };
  await createTimeboxTables(client, names);
  const doc = documentClient(client);
  const events = new DynamoEventStore(doc, names.events);
  const projections = new DynamoProjectionStore(doc, names.grants);
  const clock = new ManualClock('2026-11-24T10:00:00Z');
  const log = new RecordingLog();
  const compiled = compileYaml(API_POLICY);
  const signer = new FakeSigner();
  const scheduler = new FakeScheduler();
  const service = new GrantService({
    events,
    projections,
    scheduler,
    providers: {
      'aws-role': new StsShapedProvider(),
      grpc: new GrpcTokenProvider({ signer, issuer: 'https://timebox.example', tokenTtlMs: 5 * 60_000 }),
      'gcp-role': new FakeProvider('gcp-role'),
    },
    publisher: new LogPublisher(log),
    clock,
    ids: grantIdGenerator(clock),
    policy: () => compiled,
    log,
    sleep: async () => {},
  });
  const api = createApi({
    service,
    authenticate: awsAuthenticator({
      accounts: [ACCOUNT],
      roles: [{ pattern: 'AWSReservedSSO_*', mfa: true, groupsFromPermissionSet: true }],
      iamUsers: false,
    }),
    signer,
    issuer: 'https://timebox.example',
    projections,
    events,
    clock,
    log,
    policy: () => compiled,
  });
  let n = 0;
  const call = async (
    method: string,
    path: string,
    as: string | undefined,
    opts: { body?: unknown; query?: ApiRequest['query'] } = {},
  ) => {
    const res = await api({
      method,
      path,
      query: opts.query ?? {},
      headers: opts.body === undefined ? {} : { 'content-type': 'application/json' },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      sourceIp: '10.1.2.3',
      userAgent: 'timebox-cli/0.1.0',
      requestId: `it-${++n}`,
      ...(as ? { auth: sso(as) } : {}),
    });
    return { status: res.status, json: JSON.parse(res.body) };
  };
  const revoke = createRevokeHandler({ service, scheduler, clock, log });
  return { call, clock, log, scheduler, revoke, events };
}

describe('API over DynamoDB (dynalite)', () => {
  it('runs a two-approver request from request to expiry through the real store', async () => {
    // Prepare
    const s = await stack('lifecycle');
    // Act: request, approvals from the index, credentials, expiry by the schedule target.
    const asked = await s.call('POST', '/v1/requests', 'alice@corp.com', {
      body: { target: 'user-service', scopes: ['/acme.admin.*'], duration: '20m', reason: 'INC-7 admin fix' },
    });
    const id = asked.json.grant.id as string;
    const approvable = async (who: string) =>
      (await s.call('GET', '/v1/requests', who, { query: { approvable: 'true' } })).json.grants.map(
        (g: { id: string }) => g.id,
      );
    // Assess along the way.
    expect(asked.status).toBe(201);
    expect(asked.json.grant.requester).toMatchObject({ id: 'alice@corp.com', groups: ['sso:Engineers'], mfa: true });
    expect(await approvable('carol@corp.com')).toEqual([id]);
    expect(await approvable('alice@corp.com')).toEqual([]);
    expect((await s.call('GET', `/v1/requests/${id}`, 'mallory@corp.com')).status).toBe(404);
    expect((await s.call('POST', `/v1/requests/${id}/approve`, 'carol@corp.com')).json.grant.status).toBe('pending');
    expect(await approvable('carol@corp.com')).toEqual([]);
    const approved = await s.call('POST', `/v1/requests/${id}/approve`, 'dan@corp.com', { body: { comment: 'ok' } });
    expect(approved.json.grant.status).toBe('active');
    const token = await s.call('POST', `/v1/grants/${id}/credentials`, 'alice@corp.com');
    expect(token.status).toBe(200);
    expect(token.json.expiresAt).toBe('2026-11-24T10:05:00.000Z');

    s.clock.advance(20 * 60_000);
    expect(await s.revoke({ grantId: id, action: 'expire' })).toMatchObject({ outcome: 'done', status: 'expired' });
    expect(await s.revoke({ grantId: id, action: 'expire' })).toMatchObject({ outcome: 'done', status: 'expired' });
    const history = await s.call('GET', '/v1/audit', 'alice@corp.com', { query: { grant: id } });
    expect(history.json.events.map((e: { type: string }) => e.type)).toEqual([
      'requested',
      'approved',
      'approved',
      'activated',
      'credentials-issued',
      'expired',
    ]);
    const verified = await s.call('GET', '/v1/audit/verify', 'alice@corp.com', { query: { grant: id } });
    expect(verified.json).toMatchObject({ ok: true, events: 6 });
    const published = s.log.lines.filter((l) => l.message === 'lifecycle event' && l.fields?.grantId === id);
    expect(published.map((l) => l.fields?.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("pages the auditor's cross-grant audit with the store's cursor and refuses a forged one", async () => {
    const s = await stack('audit');
    for (const who of ['alice@corp.com', 'bob@corp.com', 'alice@corp.com'])
      await s.call('POST', '/v1/requests', who, { body: { target: 'prod-logs', duration: '30m', reason: 'INC-1' } });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await s.call('GET', '/v1/audit', 'audrey@corp.com', {
        query: { limit: '2', ...(cursor ? { cursor } : {}) },
      });
      expect(page.status).toBe(200);
      seen.push(...page.json.events.map((e: { grantId: string; seq: number }) => `${e.grantId}/${e.seq}`));
      cursor = page.json.cursor;
      pages++;
      // The default window moves with the clock between pages; the cursor carries the one it was issued for.
      s.clock.advance(1);
    } while (cursor && pages < 10);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    const forged = await s.call('GET', '/v1/audit', 'audrey@corp.com', { query: { cursor: 'eyJxIjoieCIsInAiOjB9' } });
    expect(forged.status).toBe(400);
    const all = await s.call('GET', '/v1/audit/verify', 'audrey@corp.com');
    expect(all.json).toMatchObject({ ok: true, grants: 3, broken: [] });
  });
});
