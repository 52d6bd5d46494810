import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  cachedRevocationFeed,
  REVOCATION_FEED_TTL_S,
  REVOCATION_FEED_TYPE,
  type RevocationFeed,
  revocationFeed,
  revokedTokens,
} from '../../../adapters/grpc/revocations';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import type { Grant } from '../../../core/grant/state';
import { createAuthorizer } from '../../../grpc/interceptor';
import { revocationFeedVerifier } from '../../../grpc/revocations';
import { alice, bob, requestDummy } from '../../helpers/world';
import { AUDIENCE, grpcWorld, ISSUER, userServiceRequest } from './fixtures';

let signer: LocalTokenSigner;
beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
});

const tokenOf = (c: { secret: unknown }) => (c.secret as { token: string }).token;

describe('Function: revokedTokens', () => {
  it('lists a revoked gRPC grant by jti until its last token expires', async () => {
    // Prepare: two tokens, the second one later, then an early revocation
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    await w.service.issueCredentials(grant.id, alice, 'token');
    w.clock.advance(2 * 60_000);
    const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done early');
    // Act
    const revoked = await revokedTokens(w.projections, w.clock.now());
    // Assess
    const lastExp = decodeJwt(tokenOf(credential)).exp;
    expect(revoked).toEqual([{ jti: grant.id, exp: lastExp }]);
  });

  it('drops the entry once the last token has expired', async () => {
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done early');

    w.clock.set(credential.expiresAt.getTime() - 1);
    expect((await revokedTokens(w.projections, w.clock.now())).map((r) => r.jti)).toEqual([grant.id]);
    w.clock.set(credential.expiresAt);
    expect(await revokedTokens(w.projections, w.clock.now())).toEqual([]);
  });

  it('leaves out revoked grants that never had a token, expired grants and active grants', async () => {
    // Prepare
    const w = grpcWorld(signer);
    const unused = (await w.service.request(alice, userServiceRequest())).grant;
    await w.service.revoke(unused.id, alice, 'not needed after all');
    const expiring = (await w.service.request(bob, userServiceRequest({ duration: 10 * 60_000 }))).grant;
    await w.service.issueCredentials(expiring.id, bob, 'token');
    const active = (await w.service.request(alice, userServiceRequest())).grant;
    await w.service.issueCredentials(active.id, alice, 'token');
    w.clock.advance(10 * 60_000);
    await w.service.expire(expiring.id);
    // Act
    const revoked = await revokedTokens(w.projections, w.clock.now());
    // Assess
    expect((await w.projections.get(unused.id))?.status).toBe('revoked');
    expect((await w.projections.get(expiring.id))?.status).toBe('expired');
    expect(revoked).toEqual([]);
  });

  it('leaves out revoked grants of other target kinds', async () => {
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, requestDummy());
    await w.service.issueCredentials(grant.id, alice, 'credentials');
    await w.service.revoke(grant.id, alice, 'done early');

    expect((await w.projections.get(grant.id))?.lastCredentialExpiresAt).toBeDefined();
    expect(await revokedTokens(w.projections, w.clock.now())).toEqual([]);
  });

  it('is sorted by jti and rounds a sub-second expiry up, never down', async () => {
    // Prepare: projection views written directly, as the DynamoDB adapter would return them
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    const base = (await w.projections.get(grant.id)) as Grant;
    const view = (id: string, last: string): Grant => ({
      ...base,
      id,
      status: 'revoked',
      lastCredentialExpiresAt: last,
      lastSeq: 99,
    });
    await w.projections.put(view('tb-b', '2026-11-24T10:04:00.250Z'));
    await w.projections.put(view('tb-a', '2026-11-24T10:03:00.000Z'));
    // Act
    const revoked = await revokedTokens(w.projections, w.clock.now());
    // Assess
    expect(revoked).toEqual([
      { jti: 'tb-a', exp: Date.parse('2026-11-24T10:03:00Z') / 1000 },
      { jti: 'tb-b', exp: Date.parse('2026-11-24T10:04:01Z') / 1000 },
    ]);
  });
});

describe('Function: revocationFeed', () => {
  it('signs the list with the broker key, typed as a feed, with the issuer and the build time', async () => {
    // Prepare
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done early');
    // Act
    const feed = await revocationFeed(w.projections, signer, ISSUER, w.clock.now());
    // Assess
    const jwks = createLocalJWKSet(await signer.jwks());
    const { payload, protectedHeader } = await jwtVerify(feed.jwt, jwks, {
      issuer: ISSUER,
      typ: REVOCATION_FEED_TYPE,
      currentDate: w.clock.now(),
    });
    const iat = w.clock.now().getTime() / 1000;
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toEqual({ iss: ISSUER, iat, exp: iat + REVOCATION_FEED_TTL_S, revoked: feed.revoked });
    expect(feed.revoked.map((r) => r.jti)).toEqual([grant.id]);
    expect(feed.generatedAt).toBe(w.clock.now().toISOString());
  });

  it('is refused as a grant token, and a grant token is refused as a feed', async () => {
    // Prepare
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
    const feed = await revocationFeed(w.projections, signer, ISSUER, w.clock.now());
    const key = (await signer.jwks()).keys[0] as Record<string, string>;
    const now = () => w.clock.now().getTime();
    // Act
    const asToken = await createAuthorizer({
      publicKey: key,
      issuer: ISSUER,
      audience: AUDIENCE,
      now: () => w.clock.now(),
    })([`Bearer ${feed.jwt}`], '/acme.user.v1.UserService/GetUser');
    const asFeed = revocationFeedVerifier(key, ISSUER, { now })(tokenOf(credential));
    // Assess
    expect(decodeProtectedHeader(feed.jwt).typ).toBe(REVOCATION_FEED_TYPE);
    expect(asToken).toEqual({ result: 'unauthenticated', reason: 'wrong-type' });
    await expect(asFeed).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' });
    await expect(revocationFeedVerifier(key, ISSUER, { now })(feed.jwt)).resolves.toEqual({
      iat: now() / 1000,
      revoked: [],
    });
  });
});

describe('Function: cachedRevocationFeed', () => {
  const feedAt = (now: Date): RevocationFeed => ({ revoked: [], generatedAt: now.toISOString(), jwt: 'x.y.z' });

  it('builds once per window and again after it', async () => {
    const build = jest.fn(async (now: Date) => feedAt(now));
    const feed = cachedRevocationFeed(build, 5_000);
    const t0 = Date.parse('2026-11-24T10:00:00Z');

    const first = await feed(new Date(t0));
    expect(await feed(new Date(t0 + 4_999))).toBe(first);
    const later = await feed(new Date(t0 + 5_000));

    expect(build).toHaveBeenCalledTimes(2);
    expect(later.generatedAt).toBe('2026-11-24T10:00:05.000Z');
  });

  it('shares one build between concurrent requests and keeps no failed build', async () => {
    let fail = true;
    const build = jest.fn(async (now: Date) => {
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error('kms:Sign throttled');
      return feedAt(now);
    });
    const feed = cachedRevocationFeed(build, 5_000);
    const now = new Date('2026-11-24T10:00:00Z');

    const results = await Promise.allSettled([feed(now), feed(now), feed(now)]);
    fail = false;
    const after = await feed(now);

    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(build).toHaveBeenCalledTimes(2);
    expect(after.generatedAt).toBe(now.toISOString());
  });

  it('builds again when the clock goes back', async () => {
    const build = jest.fn(async (now: Date) => feedAt(now));
    const feed = cachedRevocationFeed(build, 5_000);
    await feed(new Date('2026-11-24T10:00:10Z'));
    await feed(new Date('2026-11-24T10:00:05Z'));
    expect(build).toHaveBeenCalledTimes(2);
  });
});
