import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import { revocationFeed } from '../../../adapters/grpc/revocations';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { isTimeboxError } from '../../../core/errors';
import { brokerTokenFetcher, callCredentials, type TokenSource, tokenSource } from '../../../grpc/client';
import { type CallReport, timeboxAuth } from '../../../grpc/interceptor';
import { waitFor } from '../../helpers/runner';
import { alice } from '../../helpers/world';
import { AUDIENCE, grpcWorld, ISSUER, userServiceRequest } from '../../unit/grpc/fixtures';
import { call, LoopbackHttp, refused, serveJwks, startGrpc } from './harness';

const GET_USER = '/acme.user.v1.UserService/GetUser';
const DELETE_USER = '/acme.admin.v1.AdminService/DeleteUser';
const FEED_PATH = '/.well-known/timebox/revocations.json';
const STATUS_OF_KIND: Record<string, number> = {
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
};
const until = { timeout: 10_000, interval: 50 };

/**
 * A broker stand-in on loopback: the real GrantService, GrpcTokenProvider and revocation feed over the in-memory
 * stores, behind the three routes a gRPC caller and service use. Bearer `alice-token` authenticates alice.
 */
let signer: LocalTokenSigner;
let w: ReturnType<typeof grpcWorld>;
let broker: LoopbackHttp;
const requests: { path: string; headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
  // The in-memory broker runs on real time here, because the service checks token times against the real clock.
  w = grpcWorld(signer, new Date().toISOString());
  broker = await new LoopbackHttp().start();
  serveJwks(broker, () => [signer]);
  broker.routes.set(FEED_PATH, (_req, _body, res) => {
    void revocationFeed(w.projections, signer, ISSUER, new Date()).then((feed) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(feed)),
    );
  });
});

afterAll(async () => {
  await broker?.stop();
});

/** Routes POST /v1/grants/{id}/credentials for one grant id to the GrantService. */
function routeCredentials(grantId: string): void {
  broker.routes.set(`/v1/grants/${grantId}/credentials`, (req, body, res) => {
    requests.push({ path: req.url ?? '', headers: { ...req.headers }, body });
    const send = (code: number, value: unknown) =>
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.method !== 'POST') {
      send(405, { error: { code: 'REQUEST.METHOD', message: 'POST only' } });
      return;
    }
    if (req.headers.authorization !== 'Bearer alice-token') {
      send(401, { error: { code: 'AUTH.INVALID_TOKEN', message: 'unknown bearer token' } });
      return;
    }
    w.service.issueCredentials(grantId, alice, 'token').then(
      ({ credential }) => send(200, credential.secret),
      (e: unknown) =>
        isTimeboxError(e)
          ? send(STATUS_OF_KIND[e.kind] ?? 400, { error: { code: e.code, message: e.message } })
          : send(500, { error: { code: 'INTERNAL', message: 'unexpected' } }),
    );
  });
}

function fetcherFor(grantId: string, bearerToken = 'alice-token') {
  return brokerTokenFetcher({
    endpoint: `${broker.base}/`,
    grantId,
    authHeaders: async () => ({ authorization: `Bearer ${bearerToken}` }),
  });
}

describe('Function: brokerTokenFetcher', () => {
  it('POSTs to the grant credentials route with the auth headers and returns {token, expiresAt}', async () => {
    // Prepare
    const { grant } = await w.service.request(alice, userServiceRequest());
    routeCredentials(grant.id);
    requests.length = 0;
    // Act
    const got = await fetcherFor(grant.id)();
    // Assess
    expect(requests).toEqual([
      {
        path: `/v1/grants/${grant.id}/credentials`,
        headers: expect.objectContaining({ authorization: 'Bearer alice-token', 'content-type': 'application/json' }),
        body: '{}',
      },
    ]);
    expect(decodeJwt(got.token)).toMatchObject({ jti: grant.id, aud: AUDIENCE, iss: ISSUER });
    expect(Date.parse(got.expiresAt)).toBe((decodeJwt(got.token).exp as number) * 1000);
  });

  it('turns a broker refusal into an error with the broker code and HTTP status', async () => {
    const { grant } = await w.service.request(alice, userServiceRequest());
    routeCredentials(grant.id);
    await expect(fetcherFor(grant.id, 'stolen-token')()).rejects.toMatchObject({
      code: 'AUTH.INVALID_TOKEN',
      kind: 'unauthenticated',
      httpStatus: 401,
    });
    await w.service.revoke(grant.id, alice, 'done');
    await expect(fetcherFor(grant.id)()).rejects.toMatchObject({ code: 'GRANT.NOT_ACTIVE', kind: 'conflict' });
  });

  it('reports a broker that answers nonsense or nothing', async () => {
    const id = 'tb-01jdem00000000000000000bad';
    broker.routes.set(`/v1/grants/${id}/credentials`, (_req, _body, res) => res.writeHead(200).end('<html>'));
    await expect(fetcherFor(id)()).rejects.toMatchObject({ code: 'BROKER.BAD_RESPONSE' });
    broker.routes.set(`/v1/grants/${id}/credentials`, (_req, _body, res) => res.writeHead(502).end('bad gateway'));
    await expect(fetcherFor(id)()).rejects.toMatchObject({ code: 'BROKER.HTTP_ERROR', httpStatus: 502 });

    const gone = await new LoopbackHttp().start();
    await gone.stop();
    const unreachable = brokerTokenFetcher({ endpoint: gone.base, grantId: id, authHeaders: async () => ({}) });
    await expect(unreachable()).rejects.toMatchObject({ code: 'BROKER.UNREACHABLE', kind: 'unavailable' });
  });
});

describe('Flow: request, token, call, revoke', () => {
  it('a caller with a broker token calls the service in scope, is refused out of scope, and is cut off on revoke', async () => {
    // Prepare: a service trusting the broker's JWKS and feed, and a caller with an active grant
    const reports: CallReport[] = [];
    const auth = timeboxAuth({
      jwksUrl: `${broker.base}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: AUDIENCE,
      revocationsUrl: `${broker.base}${FEED_PATH}`,
      revocationPollMs: 200,
      onCall: (u) => reports.push(u),
    });
    const svc = await startGrpc([auth]);
    const { grant } = await w.service.request(alice, userServiceRequest());
    routeCredentials(grant.id);
    const source: TokenSource = tokenSource({ fetchToken: fetcherFor(grant.id) });
    const creds = callCredentials(source);
    try {
      // Act / Assess: in scope, twice on one cached token
      expect((await call(svc.address, GET_USER, creds)).ok).toBe(true);
      expect((await call(svc.address, GET_USER, creds)).ok).toBe(true);
      expect(requests.filter((r) => r.path.includes(grant.id))).toHaveLength(1);
      // out of scope
      expect(await call(svc.address, DELETE_USER, creds)).toEqual(refused(status.PERMISSION_DENIED, 'out-of-scope'));
      // the grant is revoked early: the feed lists it and the service refuses the token it already holds
      await w.service.revoke(grant.id, alice, 'INC-42 closed');
      await waitFor(async () => {
        expect(await call(svc.address, GET_USER, creds)).toEqual(refused(status.UNAUTHENTICATED, 'revoked'));
      }, until);
      // and the broker refuses a new token, which the client sees as a gRPC refusal too
      source.invalidate();
      expect(await call(svc.address, GET_USER, creds)).toMatchObject({ ok: false, code: status.PERMISSION_DENIED });
      expect(reports.map((r) => [r.result, r.grantId, r.sub])).toContainEqual(['ok', grant.id, 'alice@corp.com']);
    } finally {
      auth.close();
      await svc.stop();
    }
  });
});
