import { sign as ecdsaSign } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { exportJWK, generateKeyPair } from 'jose';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import type { ApiRequest } from '../../../api/http';
import { isTimeboxError } from '../../../core/errors';
import {
  type LocalAuth,
  localAuthenticate,
  MAX_SESSION_TTL_MS,
  mintSessionToken,
  SESSION_CLOCK_SKEW_S,
  SESSION_ISSUER,
  SESSION_TOKEN_TYPE,
  type SessionIdentity,
  SessionVerifier,
  toLowS,
} from '../../../local/auth';

const BROKER = 'http://127.0.0.1:8787';
const NOW = new Date('2026-11-24T10:00:00Z');
let signer: LocalTokenSigner;
let other: LocalTokenSigner;

beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
  other = await LocalTokenSigner.generate();
});

function identityDummy(partial: Partial<SessionIdentity> = {}): SessionIdentity {
  return { id: 'alice@corp.com', groups: [], mfa: false, ...partial };
}

async function verifier(at: Date = NOW): Promise<SessionVerifier> {
  return new SessionVerifier({ key: await signer.verifyKey(), audiences: [BROKER], now: () => at });
}

async function token(
  partial: { who?: SessionIdentity; audience?: string; ttlMs?: number; by?: LocalTokenSigner } = {},
) {
  return (
    await mintSessionToken(partial.by ?? signer, {
      who: partial.who ?? identityDummy(),
      audience: partial.audience ?? BROKER,
      ttlMs: partial.ttlMs ?? 3_600_000,
      now: NOW,
    })
  ).token;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const codeOf = (a: LocalAuth | undefined) => (a && 'error' in a ? a.error.code : 'ok');

function requestDummy(partial: Partial<ApiRequest> = {}): ApiRequest {
  return {
    method: 'GET',
    path: '/v1/requests',
    query: {},
    headers: {},
    body: undefined,
    sourceIp: '127.0.0.1',
    userAgent: 'timebox-cli/test',
    requestId: 'r-1',
    ...partial,
  };
}

describe('Function: mintSessionToken', () => {
  it('signs a session token typed timebox-session+jwt for the broker URL, with the identity and expiry', async () => {
    // Act
    const minted = await mintSessionToken(signer, {
      who: identityDummy({ id: 'Alice@Corp.com', groups: ['sre', 'sre', 'oncall'], mfa: true }),
      audience: BROKER,
      ttlMs: 12 * 3_600_000,
      now: NOW,
    });
    // Assess
    const [header, payload] = minted.token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header).toEqual({ alg: 'ES256', typ: SESSION_TOKEN_TYPE, kid: signer.kid });
    expect(payload).toEqual({
      iss: SESSION_ISSUER,
      sub: 'alice@corp.com',
      aud: BROKER,
      iat: NOW.getTime() / 1000,
      nbf: NOW.getTime() / 1000,
      exp: NOW.getTime() / 1000 + 12 * 3600,
      groups: ['oncall', 'sre'],
      mfa: true,
    });
    expect(minted.expiresAt.toISOString()).toBe('2026-11-24T22:00:00.000Z');
  });

  it.each([
    ['LOGIN.INVALID_PRINCIPAL', { who: identityDummy({ id: 'alice smith' }) }],
    ['LOGIN.INVALID_GROUP', { who: identityDummy({ groups: ['Sec Ops'] }) }],
    ['LOGIN.INVALID_TTL', { ttlMs: MAX_SESSION_TTL_MS + 1 }],
    ['LOGIN.INVALID_TTL', { ttlMs: 1_000 }],
  ] as const)('refuses with %s', async (code, partial) => {
    await expect(token(partial)).rejects.toMatchObject({ code });
  });
});

describe('Class: SessionVerifier', () => {
  describe('Method: fromHeader', () => {
    it('accepts a token of this broker and returns the identity it asserts', async () => {
      const t = await token({ who: identityDummy({ groups: ['sre'], mfa: true }) });
      expect(await (await verifier()).fromHeader(`Bearer ${t}`)).toEqual({
        identity: { id: 'alice@corp.com', groups: ['sre'], mfa: true },
      });
    });

    it('says nothing about a request without a header (the route decides whether it needs one)', async () => {
      expect(await (await verifier()).fromHeader(undefined)).toBeUndefined();
    });

    it('refuses an expired token, also when it was accepted (and remembered) before', async () => {
      // Prepare
      const t = await token({ ttlMs: 60_000 });
      let at = NOW;
      const v = new SessionVerifier({ key: await signer.verifyKey(), audiences: [BROKER], now: () => at });
      // Act
      const before = await v.fromHeader(`Bearer ${t}`);
      at = new Date(NOW.getTime() + 60_000);
      const atExpiry = await v.fromHeader(`Bearer ${t}`);
      const fresh = await (await verifier(new Date(NOW.getTime() + 61_000))).fromHeader(`Bearer ${t}`);
      // Assess
      expect(codeOf(before)).toBe('ok');
      expect(codeOf(atExpiry)).toBe('AUTH.TOKEN_EXPIRED');
      expect(codeOf(fresh)).toBe('AUTH.TOKEN_EXPIRED');
    });

    it('refuses a token signed by another key', async () => {
      const t = await token({ by: other });
      expect(codeOf(await (await verifier()).fromHeader(`Bearer ${t}`))).toBe('AUTH.BAD_SIGNATURE');
    });

    it('refuses a token for another broker URL', async () => {
      const t = await token({ audience: 'http://127.0.0.1:9999' });
      expect(codeOf(await (await verifier()).fromHeader(`Bearer ${t}`))).toBe('AUTH.WRONG_AUDIENCE');
    });

    it('refuses a gRPC grant token (typ JWT) signed by the same key', async () => {
      const grantToken = await signer.sign({
        iss: BROKER,
        sub: 'alice@corp.com',
        aud: BROKER,
        exp: NOW.getTime() / 1000 + 60,
        iat: NOW.getTime() / 1000,
        groups: [],
        mfa: true,
      });
      expect(codeOf(await (await verifier()).fromHeader(`Bearer ${grantToken}`))).toBe('AUTH.WRONG_TOKEN_TYPE');
    });

    it('refuses alg none, whatever the claims', async () => {
      const claims = {
        iss: SESSION_ISSUER,
        sub: 'alice@corp.com',
        aud: BROKER,
        exp: 2e9,
        iat: 1e9,
        groups: [],
        mfa: true,
      };
      const unsigned = `${b64({ alg: 'none', typ: SESSION_TOKEN_TYPE })}.${b64(claims)}.`;
      expect(codeOf(await (await verifier()).fromHeader(`Bearer ${unsigned}`))).toBe('AUTH.BAD_ALGORITHM');
    });

    it('refuses a correctly signed token whose identity claims are malformed', async () => {
      const bad = toLowS(
        await signer.sign(
          {
            iss: SESSION_ISSUER,
            sub: 'alice@corp.com',
            aud: BROKER,
            exp: NOW.getTime() / 1000 + 60,
            iat: NOW.getTime() / 1000,
            groups: ['Not A Group'],
            mfa: 'yes',
          },
          { typ: SESSION_TOKEN_TYPE },
        ),
      );
      expect(codeOf(await (await verifier()).fromHeader(`Bearer ${bad}`))).toBe('AUTH.INVALID_CLAIMS');
    });

    it.each([
      ['basic credentials', 'Basic YWxpY2U6c2VjcmV0'],
      ['no token', 'Bearer'],
      ['not a JWT', 'Bearer not.a.jwt!'],
      ['a 5,000-character token', `Bearer ${'a'.repeat(5000)}.b.c`],
    ])('refuses a malformed header: %s', async (_label, header) => {
      expect(codeOf(await (await verifier()).fromHeader(header))).toBe('AUTH.MALFORMED_TOKEN');
    });

    it('never yields an identity for a header that is not one of its tokens (property)', async () => {
      const v = await verifier();
      const real = await token();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string(),
            fc.string().map((s) => `Bearer ${s}`),
            // A real token with one character changed. Not the last character of a segment: its low bits are
            // padding, so some changes there decode to the very same bytes (the same token, not a forgery).
            fc
              .constantFrom(...[...real].map((_, i) => i).filter((i) => i < real.length - 1 && real[i + 1] !== '.'))
              .map((i) => {
                const c = real[i] === 'A' ? 'B' : 'A';
                return `Bearer ${real.slice(0, i)}${c}${real.slice(i + 1)}`;
              }),
          ),
          async (header) => {
            const verdict = await v.fromHeader(header);
            expect(verdict && 'identity' in verdict).toBe(false);
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});

describe('Function: localAuthenticate', () => {
  it('builds the principal from the verified identity and the transport facts', async () => {
    const auth: LocalAuth = { identity: identityDummy({ groups: ['sre'], mfa: true }) };
    const who = await localAuthenticate(requestDummy({ auth, sourceIp: '10.1.2.3' }));
    expect(who).toEqual({
      id: 'alice@corp.com',
      groups: ['sre'],
      mfa: true,
      attributes: {},
      sourceIp: '10.1.2.3',
      userAgent: 'timebox-cli/test',
    });
  });

  it('refuses a request without a token with 401 AUTH.MISSING_TOKEN, and passes on why a token was refused', async () => {
    const refused = await (await verifier(new Date(2e12))).verify(await token());
    const missing = await localAuthenticate(requestDummy()).catch((e: unknown) => e);
    const expired = await localAuthenticate(requestDummy({ auth: refused })).catch((e: unknown) => e);
    expect(isTimeboxError(missing) && [missing.code, missing.kind]).toEqual(['AUTH.MISSING_TOKEN', 'unauthenticated']);
    expect(isTimeboxError(expired) && expired.code).toBe('AUTH.TOKEN_EXPIRED');
  });

  it('never reads identity from headers: a forged header without verification is not a principal', async () => {
    const forged = requestDummy({ headers: { 'x-timebox-principal': 'carol@corp.com' } });
    await expect(localAuthenticate(forged)).rejects.toMatchObject({ code: 'AUTH.MISSING_TOKEN' });
  });
});

describe('Class: SessionVerifier, tokens forged with the broker key', () => {
  // Someone who can run code as the broker's user (or a bug in a minting path) holds the right key; the verifier
  // still enforces what `login` enforces when minting. Tokens are built here by hand and signed with node:crypto.
  const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const iat = NOW.getTime() / 1000;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let v: SessionVerifier;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    v = new SessionVerifier({ key: pair.publicKey, audiences: [BROKER], now: () => NOW });
    expect((await exportJWK(pair.publicKey)).crv).toBe('P-256');
  });

  /** A compact JWS over the claims, with the signature's s in the low or the high half, as asked. */
  async function forge(claims: Record<string, unknown>, half: 'low' | 'high' = 'low'): Promise<string> {
    const input = `${b64({ alg: 'ES256', typ: SESSION_TOKEN_TYPE })}.${b64(claims)}`;
    const keyObject = (await import('node:crypto')).KeyObject.from(privateKey);
    const sig = ecdsaSign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' });
    const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const wantHigh = half === 'high';
    const flipped = s > N / 2n !== wantHigh ? N - s : s;
    const out = Buffer.concat([sig.subarray(0, 32), Buffer.from(flipped.toString(16).padStart(64, '0'), 'hex')]);
    return `${input}.${out.toString('base64url')}`;
  }

  const claims = (partial: Record<string, unknown> = {}) => ({
    iss: SESSION_ISSUER,
    sub: 'alice@corp.com',
    aud: BROKER,
    iat,
    exp: iat + 3600,
    groups: [],
    mfa: true,
    ...partial,
  });

  it('accepts a well-formed forged token (the baseline the refusals below differ from in one claim)', async () => {
    expect(codeOf(await v.verify(await forge(claims())))).toBe('ok');
  });

  it('refuses a lifetime beyond 7 days, even when the token has not expired yet', async () => {
    const week = 7 * 86_400;
    expect(codeOf(await v.verify(await forge(claims({ exp: iat + week }))))).toBe('ok');
    expect(codeOf(await v.verify(await forge(claims({ exp: iat + week + 1 }))))).toBe('AUTH.LIFETIME_TOO_LONG');
    // Issued long ago, still "valid" for a year: refused although exp is in the future.
    expect(codeOf(await v.verify(await forge(claims({ iat: iat - 86_400, exp: iat + 365 * 86_400 }))))).toBe(
      'AUTH.LIFETIME_TOO_LONG',
    );
  });

  it('refuses an iat ahead of the clock beyond the skew, with or without nbf', async () => {
    const ahead = iat + SESSION_CLOCK_SKEW_S + 1;
    expect(codeOf(await v.verify(await forge(claims({ iat: iat + SESSION_CLOCK_SKEW_S }))))).toBe('ok');
    expect(codeOf(await v.verify(await forge(claims({ iat: ahead, exp: ahead + 3600 }))))).toBe(
      'AUTH.ISSUED_IN_FUTURE',
    );
    expect(codeOf(await v.verify(await forge(claims({ iat: ahead, nbf: ahead, exp: ahead + 3600 }))))).toBe(
      'AUTH.NOT_YET_VALID',
    );
    // A token dated years ahead could otherwise outlive any key rotation.
    expect(codeOf(await v.verify(await forge(claims({ iat: iat + 86_400 * 365, exp: iat + 86_400 * 366 }))))).toBe(
      'AUTH.ISSUED_IN_FUTURE',
    );
  });

  it('refuses a token without iat', async () => {
    const { iat: _omitted, ...rest } = claims();
    expect(codeOf(await v.verify(await forge(rest)))).toBe('AUTH.INVALID_CLAIMS');
  });

  it('refuses the high-S twin of a valid signature, and accepts its low-S form', async () => {
    const low = await forge(claims(), 'low');
    // The twin: the same r, and n - s for s (what an attacker computes from a token they saw).
    const sig = Buffer.from(low.slice(low.lastIndexOf('.') + 1), 'base64url');
    const s = N - BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const twin = Buffer.concat([sig.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')]);
    const high = `${low.slice(0, low.lastIndexOf('.'))}.${twin.toString('base64url')}`;
    expect(codeOf(await v.verify(await forge(claims(), 'high')))).toBe('AUTH.HIGH_S_SIGNATURE');
    expect(codeOf(await v.verify(low))).toBe('ok');
    const refused = await v.verify(high);
    expect(codeOf(refused)).toBe('AUTH.HIGH_S_SIGNATURE');
    expect(refused && 'error' in refused && refused.error).toMatchObject({ kind: 'unauthenticated' });
    expect(toLowS(high)).toBe(low);
  });

  it('answers every refusal over HTTP as 401 with the stable code', async () => {
    const refused = await v.fromHeader(`Bearer ${await forge(claims({ exp: iat + 8 * 86_400 }))}`);
    const e = await localAuthenticate(requestDummy({ auth: refused })).catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 401, code: 'AUTH.LIFETIME_TOO_LONG' });
  });
});

describe('Function: mintSessionToken, signature form', () => {
  it('always mints a low-S signature that this broker accepts (property)', async () => {
    const v = await verifier();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 60_000, max: MAX_SESSION_TTL_MS }), async (ttlMs) => {
        const t = await token({ ttlMs });
        expect(toLowS(t)).toBe(t);
        expect(codeOf(await v.verify(t))).toBe('ok');
      }),
      { numRuns: 40 },
    );
  });
});
