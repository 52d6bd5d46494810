import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { type CallReport, createAuthorizer, type TimeboxInterceptor, timeboxAuth } from '../../../grpc/interceptor';
import { waitFor } from '../../helpers/runner';
import { AUDIENCE, bearer, claimsDummy, hs256Token, ISSUER, unsecuredToken } from '../../unit/grpc/fixtures';
import { call, LoopbackHttp, refused, serveFeed, serveJwks, startGrpc } from './harness';

const GET_USER = '/acme.user.v1.UserService/GetUser';
const LIST_USERS = '/acme.user.v1.UserService/ListUsers';
const DELETE_USER = '/acme.admin.v1.AdminService/DeleteUser';
const RESET_PASSWORD = '/acme.admin.v1.AdminService/ResetPassword';
const ADMINX_DELETE = '/acme.adminx.v1.AdminService/DeleteUser';
const GET = '/acme.user.v1.UserService/Get';
const GET_ALL = '/acme.user.v1.UserService/GetAll';
const FEED_PATH = '/.well-known/timebox/revocations.json';
const JWKS_PATH = '/.well-known/jwks.json';

// Conditions are awaited by polling them, never by sleeping a fixed time.
const until = { timeout: 10_000, interval: 50 };

let signerA: LocalTokenSigner;
let signerB: LocalTokenSigner;
let stranger: LocalTokenSigner;
let http: LoopbackHttp;
let published: LocalTokenSigner[];
let revoked: { jti: string; exp: number }[];
let auth: TimeboxInterceptor;
let grpcServer: Awaited<ReturnType<typeof startGrpc>>;
const reports: CallReport[] = [];

const token = (signer: LocalTokenSigner, partial: Record<string, unknown> = {}) =>
  signer.sign(claimsDummy(partial)).then(bearer);

beforeAll(async () => {
  [signerA, signerB, stranger] = await Promise.all([
    LocalTokenSigner.generate(),
    LocalTokenSigner.generate(),
    LocalTokenSigner.generate(),
  ]);
  published = [signerA];
  revoked = [];
  http = await new LoopbackHttp().start();
  const jwksUrl = serveJwks(http, () => published);
  serveFeed(http, FEED_PATH, { signer: signerA, issuer: ISSUER, revoked: () => revoked });
  auth = timeboxAuth({
    jwksUrl,
    issuer: ISSUER,
    audience: AUDIENCE,
    revocationsUrl: `${http.base}${FEED_PATH}`,
    revocationPollMs: 200,
    // A key that is not in the cached JWKS triggers a fetch at once, so a rotation is picked up on first use.
    jwksCooldownMs: 0,
    onCall: (u) => reports.push(u),
  });
  grpcServer = await startGrpc([auth]);
});

afterAll(async () => {
  auth?.close();
  await grpcServer?.stop();
  await http?.stop();
});

describe('Function: timeboxAuth on a real gRPC server', () => {
  describe('Scope', () => {
    it('lets a whole-service token call every method of that service, and reaches the handler', async () => {
      const t = await token(signerA, { scope: ['/acme.user.v1.UserService/*'] });
      const before = grpcServer.handled.length;

      expect(await call(grpcServer.address, GET_USER, t)).toEqual({
        ok: true,
        value: { id: 'u-1', email: 'ada@acme.example', name: 'Ada' },
      });
      expect((await call(grpcServer.address, LIST_USERS, t)).ok).toBe(true);
      expect(grpcServer.handled.slice(before)).toEqual([GET_USER, LIST_USERS]);
    });

    it('refuses a method of another service with PERMISSION_DENIED, without running its handler', async () => {
      const t = await token(signerA, { scope: ['/acme.user.v1.UserService/*'] });
      const before = grpcServer.handled.length;

      expect(await call(grpcServer.address, DELETE_USER, t)).toEqual(refused(status.PERMISSION_DENIED, 'out-of-scope'));
      expect(grpcServer.handled.length).toBe(before);
    });

    it('matches a package prefix at a segment boundary: /acme.admin.* allows acme.admin.v1, not acme.adminx', async () => {
      const t = await token(signerA, { scope: ['/acme.admin.*'] });

      expect((await call(grpcServer.address, DELETE_USER, t)).ok).toBe(true);
      expect((await call(grpcServer.address, RESET_PASSWORD, t)).ok).toBe(true);
      expect(await call(grpcServer.address, ADMINX_DELETE, t)).toEqual(
        refused(status.PERMISSION_DENIED, 'out-of-scope'),
      );
      expect(await call(grpcServer.address, GET_USER, t)).toEqual(refused(status.PERMISSION_DENIED, 'out-of-scope'));
    });

    it('matches an exact method only itself: Get does not allow GetAll', async () => {
      const t = await token(signerA, { scope: [GET] });

      expect(await call(grpcServer.address, GET, t)).toEqual({ ok: true, value: { path: GET, sub: 'alice@corp.com' } });
      expect(await call(grpcServer.address, GET_ALL, t)).toEqual(refused(status.PERMISSION_DENIED, 'out-of-scope'));
    });
  });

  describe('Authentication', () => {
    it.each<[string, () => Promise<string | undefined>, string]>([
      ['no authorization', async () => undefined, 'missing-token'],
      ['a malformed authorization', async () => 'Bearer not-a-jwt', 'malformed-token'],
      ['another scheme', async () => 'Basic YWxpY2U6c2VjcmV0', 'malformed-token'],
      ['a token signed by an unpublished key', () => token(stranger), 'unknown-key'],
      [
        'a token signed by another key under a published kid',
        async () => {
          const [h] = (await token(signerA)).slice(7).split('.');
          const [, p, s] = (await token(stranger)).slice(7).split('.');
          return `Bearer ${h}.${p}.${s}`;
        },
        'bad-signature',
      ],
      ['a token from another issuer', () => token(signerA, { iss: 'https://evil.example' }), 'wrong-issuer'],
      ['a token for another service', () => token(signerA, { aud: 'billing-service' }), 'wrong-audience'],
      ['an expired token', () => token(signerA, { exp: Math.floor(Date.now() / 1000) - 60 }), 'expired'],
      ['a token not valid yet', () => token(signerA, { nbf: Math.floor(Date.now() / 1000) + 600 }), 'not-yet-valid'],
      ['an alg none token', async () => bearer(unsecuredToken(claimsDummy())), 'bad-algorithm'],
      ['an HS256 token', async () => bearer(await hs256Token(claimsDummy(), signerA.kid)), 'bad-algorithm'],
    ])('refuses %s with UNAUTHENTICATED and never runs the handler', async (_label, make, reason) => {
      // Prepare
      const authorization = await make();
      const before = grpcServer.handled.length;
      // Act
      const out = await call(grpcServer.address, GET_USER, authorization);
      // Assess
      expect(out).toEqual(refused(status.UNAUTHENTICATED, reason));
      expect(grpcServer.handled.length).toBe(before);
    });
  });

  describe('Keys', () => {
    it('caches the JWKS and picks up a new key (rotation) on its first use', async () => {
      // Prepare: the JWKS has been fetched and is cached
      expect((await call(grpcServer.address, GET_USER, await token(signerA))).ok).toBe(true);
      const fetches = http.hits.get(JWKS_PATH) ?? 0;
      expect((await call(grpcServer.address, GET_USER, await token(signerA))).ok).toBe(true);
      expect(http.hits.get(JWKS_PATH)).toBe(fetches);
      // Act: the broker rotates to key B and publishes both
      published = [signerA, signerB];
      const out = await call(grpcServer.address, GET_USER, await token(signerB));
      // Assess
      expect(out.ok).toBe(true);
      expect(http.hits.get(JWKS_PATH)).toBe(fetches + 1);
      expect(reports.at(-1)).toMatchObject({ result: 'ok', method: GET_USER });
    });

    it('does not refetch the JWKS for every unknown kid during the cooldown', async () => {
      // Prepare: an authorizer with jose's default 30 s cooldown
      const own = await new LoopbackHttp().start();
      const authorize = createAuthorizer({
        jwksUrl: serveJwks(own, () => [signerA]),
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      try {
        expect((await authorize([await token(signerA)], GET_USER)).result).toBe('ok');
        // Act: a burst of tokens from a key the broker never published
        const outcomes = [];
        for (let i = 0; i < 5; i++) outcomes.push(await authorize([await token(stranger)], GET_USER));
        // Assess
        expect(outcomes.every((o) => o.result === 'unauthenticated' && o.reason === 'unknown-key')).toBe(true);
        expect(own.hits.get(JWKS_PATH)).toBe(1);
      } finally {
        await own.stop();
      }
    });
  });

  describe('Revocation', () => {
    it('refuses a revoked grant token after the next poll of the feed, and only that grant', async () => {
      // Prepare
      const revokedGrant = 'tb-01jdem0000000000000000rev1';
      const t = await token(signerA, { jti: revokedGrant });
      const other = await token(signerA, { jti: 'tb-01jdem0000000000000000kep1' });
      expect((await call(grpcServer.address, GET_USER, t)).ok).toBe(true);
      // Act: the broker lists the grant in its feed
      revoked.push({ jti: revokedGrant, exp: Math.floor(Date.now() / 1000) + 300 });
      // Assess
      await waitFor(async () => {
        expect(await call(grpcServer.address, GET_USER, t)).toEqual(refused(status.UNAUTHENTICATED, 'revoked'));
      }, until);
      expect((await call(grpcServer.address, GET_USER, other)).ok).toBe(true);
      expect(reports.filter((r) => r.reason === 'revoked').every((r) => r.grantId === revokedGrant)).toBe(true);
    });

    it('fails closed when the feed has been unreachable for longer than the max staleness, and recovers', async () => {
      // Prepare: a second service whose feed can go down
      const own = await new LoopbackHttp().start();
      let up = true;
      serveFeed(own, FEED_PATH, { signer: signerA, issuer: ISSUER, revoked: () => [], up: () => up });
      const polls: boolean[] = [];
      const strict = timeboxAuth({
        publicKey: await signerA.verifyKey(),
        issuer: ISSUER,
        audience: AUDIENCE,
        revocationsUrl: `${own.base}${FEED_PATH}`,
        revocationPollMs: 100,
        // Over a second: the feed's signed build time has a resolution of one second.
        revocationMaxStalenessMs: 1_500,
        onRevocationPoll: (r) => polls.push(r.ok),
      });
      const svc = await startGrpc([strict]);
      const t = await token(signerA);
      try {
        expect((await call(svc.address, GET_USER, t)).ok).toBe(true);
        // Act: the feed goes down
        up = false;
        // Assess: refused once the last good copy is too old, after polls have failed
        await waitFor(async () => {
          expect(await call(svc.address, GET_USER, t)).toEqual(refused(status.UNAUTHENTICATED, 'revocations-stale'));
        }, until);
        expect(polls).toContain(false);
        // Act: the feed comes back
        up = true;
        await waitFor(async () => {
          expect((await call(svc.address, GET_USER, t)).ok).toBe(true);
        }, until);
      } finally {
        strict.close();
        await svc.stop();
        await own.stop();
      }
    });

    it('refuses calls until a feed that was never readable has been read', async () => {
      // Prepare: nothing listens on the feed address
      const gone = await new LoopbackHttp().start();
      const url = `${gone.base}${FEED_PATH}`;
      await gone.stop();
      const blind = timeboxAuth({
        publicKey: await signerA.verifyKey(),
        issuer: ISSUER,
        audience: AUDIENCE,
        revocationsUrl: url,
        revocationPollMs: 1000,
      });
      const svc = await startGrpc([blind]);
      try {
        // Act / Assess
        expect(await call(svc.address, GET_USER, await token(signerA))).toEqual(
          refused(status.UNAUTHENTICATED, 'revocations-unavailable'),
        );
        expect(svc.handled).toEqual([]);
      } finally {
        blind.close();
        await svc.stop();
      }
    });
  });

  describe('Usage', () => {
    it('reports every outcome to onCall: who called what, and what was decided', async () => {
      // Prepare
      const grantId = 'tb-01jdem0000000000000000use1';
      const t = await token(signerA, { jti: grantId, sub: 'bob@corp.com' });
      reports.length = 0;
      // Act
      await call(grpcServer.address, GET_USER, t);
      await call(grpcServer.address, DELETE_USER, t);
      await call(grpcServer.address, GET_USER, 'Bearer nope');
      await call(grpcServer.address, GET_USER, await token(signerA, { aud: 'billing-service', jti: grantId }));
      // Assess
      expect(reports).toEqual([
        { method: GET_USER, result: 'ok', grantId, sub: 'bob@corp.com' },
        { method: DELETE_USER, result: 'permission-denied', reason: 'out-of-scope', grantId, sub: 'bob@corp.com' },
        { method: GET_USER, result: 'unauthenticated', reason: 'malformed-token' },
        { method: GET_USER, result: 'unauthenticated', reason: 'wrong-audience' },
      ]);
    });
  });
});
