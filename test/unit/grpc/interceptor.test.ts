import * as grpc from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair, SignJWT } from 'jose';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { type CallReport, createAuthorizer, type TimeboxAuthOptions, timeboxAuth } from '../../../grpc/interceptor';
import { RevocationWatcher } from '../../../grpc/revocations';
import { stubGlobal, unstubAllGlobals } from '../../helpers/runner';
import { drive, withAuthorization } from './drive';
import { AUDIENCE, bearer, claimsDummy, hs256Token, ISSUER, unsecuredToken } from './fixtures';

const NOW = Date.parse('2026-11-24T10:00:00Z');
const GET_USER = '/acme.user.v1.UserService/GetUser';
const DELETE_USER = '/acme.admin.v1.AdminService/DeleteUser';

let signer: LocalTokenSigner;
let other: LocalTokenSigner;
beforeAll(async () => {
  [signer, other] = await Promise.all([LocalTokenSigner.generate(), LocalTokenSigner.generate()]);
});

const claims = (partial: Record<string, unknown> = {}) => claimsDummy(partial, NOW);

async function authorizer(extra: Partial<TimeboxAuthOptions> = {}) {
  return createAuthorizer({
    publicKey: await signer.verifyKey(),
    issuer: ISSUER,
    audience: AUDIENCE,
    now: () => new Date(NOW),
    ...extra,
  });
}

describe('Function: createAuthorizer', () => {
  describe('Method: authorize', () => {
    it('admits a valid token for a method inside its scope, naming the grant and the caller', async () => {
      const authorize = await authorizer();
      const token = await signer.sign(claims());
      expect(await authorize([bearer(token)], GET_USER)).toEqual({
        result: 'ok',
        grantId: 'tb-01jdem00000000000000000000',
        sub: 'alice@corp.com',
        scope: ['/acme.user.v1.UserService/*'],
      });
    });

    it('accepts the scheme in any case, as RFC 7235 allows', async () => {
      const authorize = await authorizer();
      const token = await signer.sign(claims());
      expect((await authorize([`bearer ${token}`], GET_USER)).result).toBe('ok');
    });

    it('refuses a valid token for a method outside its scope with permission-denied', async () => {
      const authorize = await authorizer();
      const token = await signer.sign(claims());
      expect(await authorize([bearer(token)], DELETE_USER)).toEqual({
        result: 'permission-denied',
        reason: 'out-of-scope',
        grantId: 'tb-01jdem00000000000000000000',
        sub: 'alice@corp.com',
      });
    });

    it.each([
      ['no authorization value', [], 'missing-token'],
      ['two authorization values', ['Bearer a.b.c', 'Bearer d.e.f'], 'malformed-token'],
      ['another scheme', ['Basic YWxpY2U6c2VjcmV0'], 'malformed-token'],
      ['a bare token without scheme', ['eyJhbGciOiJFUzI1NiJ9.e30.sig'], 'malformed-token'],
      ['not a JWT', ['Bearer not-a-jwt'], 'malformed-token'],
      ['a header that is not JSON', ['Bearer bm90LWpzb24.e30.c2ln'], 'malformed-token'],
      ['an oversized value', [`Bearer ${'a'.repeat(9000)}.b.c`], 'malformed-token'],
    ])('refuses %s as unauthenticated (%s)', async (_label, values, reason) => {
      const authorize = await authorizer();
      expect(await authorize(values as string[], GET_USER)).toEqual({ result: 'unauthenticated', reason });
    });

    it('refuses a token signed by another key', async () => {
      const authorize = await authorizer();
      const token = await other.sign(claims());
      expect(await authorize([bearer(token)], GET_USER)).toMatchObject({
        result: 'unauthenticated',
        reason: 'bad-signature',
      });
    });

    it('refuses a token whose scope was widened after signing', async () => {
      // Prepare: keep header and signature, swap in a payload with a wider scope
      const authorize = await authorizer();
      const [header, , signature] = (await signer.sign(claims())).split('.');
      const wider = Buffer.from(JSON.stringify(claims({ scope: ['/acme.admin.*'] }))).toString('base64url');
      // Act
      const outcome = await authorize([bearer(`${header}.${wider}.${signature}`)], DELETE_USER);
      // Assess
      expect(outcome).toMatchObject({ result: 'unauthenticated', reason: 'bad-signature' });
    });

    it.each([
      ['alg none', () => unsecuredToken(claims())],
      ['HS256', () => hs256Token(claims())],
    ])('refuses %s whatever its claims', async (_label, make) => {
      const authorize = await authorizer();
      expect(await authorize([bearer(await make())], GET_USER)).toEqual({
        result: 'unauthenticated',
        reason: 'bad-algorithm',
      });
    });

    it.each([
      ['another issuer', { iss: 'https://evil.example' }, 'wrong-issuer'],
      ['another audience', { aud: 'billing-service' }, 'wrong-audience'],
      ['an expired token', { exp: NOW / 1000 - 60 }, 'expired'],
      ['a token that expired inside the clock tolerance', { exp: NOW / 1000 - 2 }, 'expired'],
      ['a token that expires this very second', { exp: NOW / 1000 }, 'expired'],
      ['a token not valid for another minute', { nbf: NOW / 1000 + 60 }, 'not-yet-valid'],
      ['a token without jti', { jti: undefined }, 'invalid-claims'],
      ['a token without sub', { sub: undefined }, 'invalid-claims'],
      ['a token without exp', { exp: undefined }, 'invalid-claims'],
      ['a token without scope', { scope: undefined }, 'invalid-claims'],
      ['a token whose scope is a string', { scope: '/acme.user.v1.UserService/*' }, 'invalid-claims'],
      ['a token with an empty scope', { scope: [] }, 'invalid-claims'],
      ['a token with a non-string pattern', { scope: ['/acme.user.v1.UserService/*', 7] }, 'invalid-claims'],
    ])('refuses %s (%s)', async (_label, partial, reason) => {
      const authorize = await authorizer();
      const token = await signer.sign(claims(partial));
      expect(await authorize([bearer(token)], GET_USER)).toMatchObject({ result: 'unauthenticated', reason });
    });

    it('refuses a validly signed token of another type, such as a broker session token', async () => {
      // Prepare: a key the authorizer trusts, signing grant-like claims under another `typ`
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const authorize = await authorizer({ publicKey });
      const sign = (typ: string) => new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ }).sign(privateKey);
      // Act
      const session = await authorize([bearer(await sign('timebox-session+jwt'))], GET_USER);
      const grant = await authorize([bearer(await sign('JWT'))], GET_USER);
      // Assess
      expect(session).toEqual({ result: 'unauthenticated', reason: 'wrong-type' });
      expect(grant.result).toBe('ok');
    });

    it('refuses an untyped token: every grant token the broker issues says JWT', async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const authorize = await authorizer({ publicKey });
      const untyped = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
      expect(await authorize([bearer(untyped)], GET_USER)).toEqual({ result: 'unauthenticated', reason: 'wrong-type' });
    });

    it('refuses a local broker session token signed with the broker key', async () => {
      const authorize = await authorizer();
      const session = await signer.sign(claims(), { typ: 'timebox-session+jwt' });
      expect(await authorize([bearer(session)], GET_USER)).toEqual({ result: 'unauthenticated', reason: 'wrong-type' });
    });

    it('accepts a token whose nbf is within the clock tolerance (broker clock slightly ahead)', async () => {
      const authorize = await authorizer({ clockToleranceSec: 5 });
      const token = await signer.sign(claims({ nbf: NOW / 1000 + 3, iat: NOW / 1000 + 3 }));
      expect((await authorize([bearer(token)], GET_USER)).result).toBe('ok');
    });

    it('verifies against a public JWK as well as a key object, ignoring private members', async () => {
      // Prepare: a JWK as published, plus a stray `d` that must not turn it into a signing key
      const jwk = { ...((await signer.jwks()).keys[0] as Record<string, string>), d: 'AAAA' };
      const authorize = await authorizer({ publicKey: jwk });
      // Act / Assess
      expect((await authorize([bearer(await signer.sign(claims()))], GET_USER)).result).toBe('ok');
      expect((await authorize([bearer(await other.sign(claims()))], GET_USER)).result).toBe('unauthenticated');
    });
  });

  describe('Method: constructor', () => {
    it('refuses a configuration without exactly one key source', async () => {
      const base = { issuer: ISSUER, audience: AUDIENCE };
      expect(() => createAuthorizer(base)).toThrow(/exactly one of jwksUrl and publicKey/);
      expect(() =>
        createAuthorizer({ ...base, jwksUrl: 'http://127.0.0.1:1/jwks.json', publicKey: { kty: 'EC' } }),
      ).toThrow(/exactly one/);
    });

    it('refuses a shared secret or a non-P-256 key as the public key', () => {
      const base = { issuer: ISSUER, audience: AUDIENCE };
      expect(() => createAuthorizer({ ...base, publicKey: new Uint8Array(32) as never })).toThrow(/not a secret/);
      expect(() => createAuthorizer({ ...base, publicKey: { kty: 'oct', k: 'c2VjcmV0' } })).toThrow(/P-256/);
    });

    it.each([
      ['jwksUrl', { jwksUrl: 'http://broker.example/.well-known/jwks.json' }],
      ['revocationsUrl', { revocationsUrl: 'http://broker.example/.well-known/timebox/revocations.json' }],
    ])('refuses a plain-http %s to anything but loopback', async (name, urls) => {
      const base = { issuer: ISSUER, audience: AUDIENCE };
      const key = 'jwksUrl' in urls ? {} : { publicKey: await signer.verifyKey() };
      expect(() => createAuthorizer({ ...base, ...key, ...urls })).toThrow(new RegExp(`${name} must be https`));
    });

    it('accepts https anywhere and plain http to loopback, and polls the revocation feed it is given', async () => {
      const base = { issuer: ISSUER, audience: AUDIENCE };
      const fetched: string[] = [];
      stubGlobal('fetch', async (url: string | URL) => {
        fetched.push(String(url));
        return new Response('unavailable', { status: 503 });
      });
      try {
        // Without a feed there is nothing to watch, and the key set is fetched only when a token needs it.
        for (const host of [
          'https://broker.example',
          'http://127.0.0.1:8787',
          'http://localhost:8787',
          'http://[::1]:8787',
        ])
          expect(createAuthorizer({ ...base, jwksUrl: `${host}/.well-known/jwks.json` }).watcher).toBeUndefined();
        const feed = 'https://broker.example/.well-known/timebox/revocations.json';
        let reported: (r: { ok: boolean; error?: string }) => void = () => {};
        const firstPoll = new Promise<{ ok: boolean; error?: string }>((resolve) => {
          reported = resolve;
        });
        const a = createAuthorizer({
          ...base,
          publicKey: await signer.verifyKey(),
          revocationsUrl: feed,
          revocationPollMs: 3_600_000,
          revocationMaxStalenessMs: 7_200_000,
          onRevocationPoll: (r) => reported(r),
        });
        const poll = await firstPoll;
        a.watcher?.stop();
        expect(a.watcher).toBeInstanceOf(RevocationWatcher);
        // The first request asks without holding (`wait=0`): there is no copy yet to compare a change against.
        expect(fetched).toEqual([`${feed}?wait=0`]);
        expect(poll).toEqual({ ok: false, error: 'revocation feed answered HTTP 503' });
      } finally {
        unstubAllGlobals();
      }
    });

    it('refuses a missing issuer or audience', async () => {
      const publicKey = await signer.verifyKey();
      expect(() => createAuthorizer({ publicKey, issuer: '', audience: AUDIENCE })).toThrow(/issuer/);
      expect(() => createAuthorizer({ publicKey, issuer: ISSUER, audience: '' })).toThrow(/audience/);
    });
  });
});

describe('Function: timeboxAuth', () => {
  async function interceptor(calls: CallReport[]) {
    return timeboxAuth({
      publicKey: await signer.verifyKey(),
      issuer: ISSUER,
      audience: AUDIENCE,
      now: () => new Date(NOW),
      onCall: (u) => calls.push(u),
    });
  }

  it('passes an admitted call on, telling the handler who called under which grant', async () => {
    // Prepare: a client that tries to claim someone else's identity in metadata
    const calls: CallReport[] = [];
    const auth = await interceptor(calls);
    const md = withAuthorization(bearer(await signer.sign(claims())));
    md.set('timebox-sub', 'mallory@corp.com');
    md.set('timebox-grant', 'tb-forged');
    // Act
    const out = await drive(auth, GET_USER, md);
    // Assess
    expect(out.passed).toBe(true);
    expect(out.metadata?.get('timebox-sub')).toEqual(['alice@corp.com']);
    expect(out.metadata?.get('timebox-grant')).toEqual(['tb-01jdem00000000000000000000']);
    expect(calls).toEqual([
      { method: GET_USER, result: 'ok', grantId: 'tb-01jdem00000000000000000000', sub: 'alice@corp.com' },
    ]);
  });

  it('ends a call without a token with UNAUTHENTICATED and never passes it on', async () => {
    const calls: CallReport[] = [];
    const out = await drive(await interceptor(calls), GET_USER, new grpc.Metadata());
    expect(out).toEqual({
      passed: false,
      status: {
        code: grpc.status.UNAUTHENTICATED,
        details: 'timebox: missing-token: no bearer token in the authorization metadata',
        metadata: expect.any(grpc.Metadata),
      },
    });
    expect(calls).toEqual([{ method: GET_USER, result: 'unauthenticated', reason: 'missing-token' }]);
  });

  it('ends an out-of-scope call with PERMISSION_DENIED', async () => {
    const calls: CallReport[] = [];
    const out = await drive(
      await interceptor(calls),
      DELETE_USER,
      withAuthorization(bearer(await signer.sign(claims()))),
    );
    expect(out.passed).toBe(false);
    expect(out.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(calls).toEqual([
      {
        method: DELETE_USER,
        result: 'permission-denied',
        reason: 'out-of-scope',
        grantId: 'tb-01jdem00000000000000000000',
        sub: 'alice@corp.com',
      },
    ]);
  });

  it('decides the same when the usage hook throws', async () => {
    const auth = timeboxAuth({
      publicKey: await signer.verifyKey(),
      issuer: ISSUER,
      audience: AUDIENCE,
      now: () => new Date(NOW),
      onCall: () => {
        throw new Error('hook failure');
      },
    });
    const token = bearer(await signer.sign(claims()));
    expect((await drive(auth, GET_USER, withAuthorization(token))).passed).toBe(true);
    expect((await drive(auth, DELETE_USER, withAuthorization(token))).status?.code).toBe(grpc.status.PERMISSION_DENIED);
  });
});
