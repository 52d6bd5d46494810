import { describe, expect, it } from '@jest/globals';
import { GrpcTokenProvider } from '../../../adapters/grpc/provider';
import { LOCAL_NOTE, LocalAwsRoleProvider, LocalGcpRoleProvider } from '../../../adapters/local/providers';
import { createApi } from '../../../api/app';
import type { ApiRequest } from '../../../api/http';
import { sessionPolicy } from '../../../core/builders/aws';
import { TimeboxError } from '../../../core/errors';
import type { AccessProvider } from '../../../core/ports';
import type { Principal } from '../../../core/principal';
import { alice, bob, carol, requestDummy, world } from '../../helpers/world';
import { API_POLICY, FakeSigner } from '../api/api-world';

/** The local API over the in-memory world, with the local plan providers and real gRPC token claims. */
function localWorld() {
  const w = world(API_POLICY);
  const providers = w.providers as unknown as Record<string, AccessProvider>;
  providers['aws-role'] = new LocalAwsRoleProvider();
  providers['gcp-role'] = new LocalGcpRoleProvider();
  providers.grpc = new GrpcTokenProvider({
    signer: new FakeSigner(),
    issuer: 'http://127.0.0.1:8787',
    tokenTtlMs: 300_000,
  });
  const api = createApi({
    service: w.service,
    authenticate: async (req) => {
      if (!req.auth) throw new TimeboxError('unauthenticated', 'AUTH.MISSING_TOKEN', 'no token');
      return req.auth as Principal;
    },
    signer: new FakeSigner(),
    issuer: 'http://127.0.0.1:8787',
    projections: w.projections,
    events: w.events,
    clock: w.clock,
    log: w.log,
    policy: w.policy,
  });
  let n = 0;
  // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON answers field by field
  const call = async (path: string, as?: Principal, body?: string): Promise<{ status: number; json: any }> => {
    const req: ApiRequest = {
      method: 'POST',
      path,
      query: {},
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body,
      sourceIp: as?.sourceIp,
      userAgent: 'test',
      requestId: `r-${++n}`,
      ...(as ? { auth: as } : {}),
    };
    const res = await api(req);
    return { status: res.status, json: JSON.parse(res.body) };
  };
  return { ...w, call };
}

describe('Local plan credentials through the deployed API', () => {
  it('answers an aws-role credentials call with the deployment plan, on the record as credentials-issued', async () => {
    // Prepare
    const w = localWorld();
    const { grant } = await w.service.request(alice, requestDummy());
    // Act
    const res = await w.call(`/v1/grants/${grant.id}/credentials`, alice);
    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      kind: 'aws-role',
      note: LOCAL_NOTE,
      roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
      expiresAt: grant.expiresAt,
    });
    expect(res.json.sessionPolicy).toEqual(
      sessionPolicy(grant.scope as { actions: string[]; resources: string[] }, new Date(grant.expiresAt as string)),
    );
    const events = await w.events.read(grant.id);
    expect(events.at(-1)).toMatchObject({ type: 'credentials-issued', data: { kind: 'local-plan' } });
  });

  it('answers a gcp-role credentials call with the bindings, and refuses a console link for it (422)', async () => {
    const w = localWorld();
    const { grant } = await w.service.request({ ...alice, mfa: true }, requestDummy({ target: 'analytics' }));
    await w.service.approve(grant.id, carol);
    const creds = await w.call(`/v1/grants/${grant.id}/credentials`, { ...alice, mfa: true });
    const console = await w.call(`/v1/grants/${grant.id}/console`, { ...alice, mfa: true });
    expect(creds.status).toBe(200);
    expect(creds.json).toMatchObject({ kind: 'gcp-role', project: 'acme-analytics', member: 'user:alice@corp.com' });
    expect(console.status).toBe(422);
    expect(console.json.error.code).toBe('CONSOLE.UNSUPPORTED');
  });

  it('leaves gRPC grants to the deployed API: a token answer', async () => {
    const w = localWorld();
    const { grant } = await w.service.request(
      alice,
      requestDummy({ target: 'user-service', scopes: ['/acme.user.v1.UserService/*'] }),
    );
    const res = await w.call(`/v1/grants/${grant.id}/credentials`, alice);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['expiresAt', 'token']);
  });

  it('applies the same checks as the deployed route: token, visibility, requester, body', async () => {
    // Prepare
    const w = localWorld();
    const { grant } = await w.service.request(alice, requestDummy());
    const path = `/v1/grants/${grant.id}/credentials`;
    // Act
    const anonymous = await w.call(path);
    const stranger = await w.call(path, { ...bob, id: 'mallory@corp.com' });
    const approverButNotRequester = await w.call(path, bob);
    const withBody = await w.call(path, alice, '{"kind":"admin"}');
    const unknown = await w.call('/v1/grants/tb-00000000000000000000000000/credentials', alice);
    // Assess
    expect(anonymous.status).toBe(401);
    expect(stranger.status).toBe(404);
    expect(approverButNotRequester.status).toBe(404);
    expect(withBody).toMatchObject({ status: 400, json: { error: { code: 'REQUEST.INVALID_BODY' } } });
    expect(unknown.status).toBe(404);
    expect((await w.events.read(grant.id)).map((e) => e.type)).not.toContain('credentials-issued');
  });

  it('refuses credentials once the grant has expired', async () => {
    const w = localWorld();
    const { grant } = await w.service.request(alice, requestDummy());
    w.clock.advance(31 * 60_000);
    const res = await w.call(`/v1/grants/${grant.id}/credentials`, alice);
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('GRANT.EXPIRED');
  });
});
