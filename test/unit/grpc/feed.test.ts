import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { revocationFeed } from '../../../adapters/grpc/revocations';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import type { Grant } from '../../../core/grant/state';
import { alice, bob, requestDummy } from '../../helpers/world';
import { grpcWorld, userServiceRequest } from './fixtures';

let signer: LocalTokenSigner;
beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
});

const tokenOf = (c: { secret: unknown }) => (c.secret as { token: string }).token;

describe('Function: revocationFeed', () => {
  it('lists a revoked gRPC grant by jti until its last token expires', async () => {
    // Prepare: two tokens, the second one later, then an early revocation
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    await w.service.issueCredentials(grant.id, alice, 'token');
    w.clock.advance(2 * 60_000);
    const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done early');
    // Act
    const feed = await revocationFeed(w.projections, w.clock.now());
    // Assess
    const lastExp = decodeJwt(tokenOf(credential)).exp;
    expect(feed).toEqual({
      revoked: [{ jti: grant.id, exp: lastExp }],
      generatedAt: '2026-11-24T10:02:00.000Z',
    });
  });

  it('drops the entry once the last token has expired', async () => {
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, userServiceRequest());
    const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done early');

    w.clock.set(credential.expiresAt.getTime() - 1);
    expect((await revocationFeed(w.projections, w.clock.now())).revoked.map((r) => r.jti)).toEqual([grant.id]);
    w.clock.set(credential.expiresAt);
    expect((await revocationFeed(w.projections, w.clock.now())).revoked).toEqual([]);
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
    const feed = await revocationFeed(w.projections, w.clock.now());
    // Assess
    expect((await w.projections.get(unused.id))?.status).toBe('revoked');
    expect((await w.projections.get(expiring.id))?.status).toBe('expired');
    expect(feed.revoked).toEqual([]);
  });

  it('leaves out revoked grants of other target kinds', async () => {
    const w = grpcWorld(signer);
    const { grant } = await w.service.request(alice, requestDummy());
    await w.service.issueCredentials(grant.id, alice, 'credentials');
    await w.service.revoke(grant.id, alice, 'done early');

    expect((await w.projections.get(grant.id))?.lastCredentialExpiresAt).toBeDefined();
    expect((await revocationFeed(w.projections, w.clock.now())).revoked).toEqual([]);
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
    const feed = await revocationFeed(w.projections, w.clock.now());
    // Assess
    expect(feed.revoked).toEqual([
      { jti: 'tb-a', exp: Date.parse('2026-11-24T10:03:00Z') / 1000 },
      { jti: 'tb-b', exp: Date.parse('2026-11-24T10:04:01Z') / 1000 },
    ]);
  });
});
