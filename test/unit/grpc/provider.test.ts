import { beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, jwtVerify } from 'jose';
import { GrpcTokenProvider } from '../../../adapters/grpc/provider';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import type { ActiveGrant } from '../../../core/ports';
import { alice, bob, requestDummy } from '../../helpers/world';
import { AUDIENCE, grpcWorld, ISSUER, TOKEN_TTL_MS, userServiceRequest } from './fixtures';

let signer: LocalTokenSigner;
beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
});

const seconds = (iso: string) => Date.parse(iso) / 1000;

describe('Class: GrpcTokenProvider', () => {
  describe('Method: credentials', () => {
    it('signs the grant claims: iss, sub, aud, jti = grant id, scope = method patterns, five-minute life', async () => {
      // Prepare
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      // Act
      const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
      // Assess
      const secret = credential.secret as { token: string; expiresAt: string };
      const { payload, protectedHeader } = await jwtVerify(secret.token, await signer.verifyKey(), {
        algorithms: ['ES256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: w.clock.now(),
      });
      const now = seconds('2026-11-24T10:00:00Z');
      expect(payload).toEqual({
        iss: ISSUER,
        sub: 'alice@corp.com',
        aud: AUDIENCE,
        jti: grant.id,
        scope: ['/acme.user.v1.UserService/*'],
        iat: now,
        nbf: now,
        exp: now + TOKEN_TTL_MS / 1000,
      });
      expect(protectedHeader.kid).toBe(signer.kid);
      expect(credential.kind).toBe('token');
      expect(credential.expiresAt.toISOString()).toBe('2026-11-24T10:05:00.000Z');
      expect(secret.expiresAt).toBe('2026-11-24T10:05:00.000Z');
      expect(credential.audit).toEqual({
        kid: signer.kid,
        exp: now + 300,
        audience: AUDIENCE,
        scope: ['/acme.user.v1.UserService/*'],
      });
    });

    it('records the token on the audit trail without the token itself', async () => {
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');

      const issued = (await w.events.read(grant.id)).find((e) => e.type === 'credentials-issued');
      expect(issued?.data).toEqual({
        kind: 'token',
        expiresAt: '2026-11-24T10:05:00.000Z',
        details: credential.audit,
      });
      expect(JSON.stringify(await w.events.read(grant.id))).not.toContain(
        (credential.secret as { token: string }).token,
      );
    });

    it('never outlives the grant: near the end the token expires with the grant', async () => {
      // Prepare: a 30-minute grant, 28 minutes in
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      w.clock.advance(28 * 60_000 + 400);
      // Act
      const { credential } = await w.service.issueCredentials(grant.id, alice, 'token');
      // Assess
      const token = (credential.secret as { token: string }).token;
      expect(decodeJwt(token).exp).toBe(seconds(grant.expiresAt as string));
      expect(credential.expiresAt.toISOString()).toBe(grant.expiresAt);
    });

    it('refuses to mint a token that would be born expired, just before a grant that ends mid-second', async () => {
      // Prepare: the grant ends at 10:30:00.700; exp (whole seconds, rounded down) would be 10:30:00
      const w = grpcWorld(signer, '2026-11-24T10:00:00.700Z');
      const { grant } = await w.service.request(alice, userServiceRequest());
      w.clock.set('2026-11-24T10:30:00.300Z');
      const before = (await w.events.read(grant.id)).length;

      await expect(w.service.issueCredentials(grant.id, alice, 'token')).rejects.toMatchObject({
        code: 'GRANT.EXPIRED',
      });
      expect(await w.events.read(grant.id)).toHaveLength(before);
    });

    it('treats a generic "credentials" request as a token request', async () => {
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      const { credential } = await w.service.issueCredentials(grant.id, alice, 'credentials');
      expect(credential.kind).toBe('token');
      expect(decodeJwt((credential.secret as { token: string }).token).jti).toBe(grant.id);
    });

    it('refuses console credentials with a clear code and records nothing', async () => {
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      const before = await w.events.read(grant.id);

      await expect(w.service.issueCredentials(grant.id, alice, 'console')).rejects.toMatchObject({
        code: 'CREDENTIALS.KIND_UNSUPPORTED',
        kind: 'conflict',
      });
      expect(await w.events.read(grant.id)).toEqual(before);
    });

    it('refuses a grant that is not for a gRPC target', async () => {
      // Prepare: an aws-role grant handed to the gRPC provider by mistake
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, requestDummy());
      // Act / Assess
      await expect(w.provider.credentials(grant as ActiveGrant, 'token', { now: w.clock.now() })).rejects.toMatchObject(
        { code: 'CREDENTIALS.WRONG_TARGET' },
      );
    });

    it('gives tokens only to the requester (the service checks before the provider signs)', async () => {
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      await expect(w.service.issueCredentials(grant.id, bob, 'token')).rejects.toMatchObject({
        code: 'GRANT.NOT_REQUESTER',
      });
    });
  });

  describe('Method: provision / revoke', () => {
    it('puts nothing in place, and answers revocation with the feed', async () => {
      const w = grpcWorld(signer);
      const { grant } = await w.service.request(alice, userServiceRequest());
      expect(await w.provider.provision()).toEqual({});
      expect(await w.provider.revoke(grant, 'revoked')).toEqual({ revocationFeed: true });
      expect(await w.provider.revoke(grant, 'expired')).toEqual({ tokensEndBy: grant.expiresAt });
    });
  });

  describe('Method: constructor', () => {
    it.each([0, 999, Number.NaN])('refuses a token lifetime of %s ms', (ttl) => {
      expect(() => new GrpcTokenProvider({ signer, issuer: ISSUER, tokenTtlMs: ttl })).toThrow(/tokenTtlMs/);
    });
    it('refuses an empty issuer', () => {
      expect(() => new GrpcTokenProvider({ signer, issuer: '', tokenTtlMs: 60_000 })).toThrow(/issuer/);
    });
  });
});
