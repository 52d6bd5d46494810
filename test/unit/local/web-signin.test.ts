import type { IncomingMessage } from 'node:http';
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { isTimeboxError } from '../../../core/errors';
import { mintSessionToken, SessionVerifier } from '../../../local/auth';
import { WebConsole } from '../../../local/web-console';
import { mintSigninCode, SigninCodes, signinUrl } from '../../../local/web-signin';

const BROKER = 'http://127.0.0.1:8787';
const NOW = new Date('2026-12-03T10:00:00Z');
const alice = { id: 'Alice@corp.com', groups: ['sre'], mfa: true };
let signer: LocalTokenSigner;
let other: LocalTokenSigner;

beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
  other = await LocalTokenSigner.generate();
});

async function codes(at: () => Date = () => NOW): Promise<SigninCodes> {
  return new SigninCodes({ key: await signer.verifyKey(), audiences: [BROKER], now: at });
}
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isTimeboxError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('Class: SigninCodes', () => {
  it('redeems a code once, for the person it names', async () => {
    // Prepare
    const c = await codes();
    const { code, expiresAt } = await mintSigninCode(signer, { who: alice, audience: BROKER, now: NOW });
    // Act
    const who = await c.redeem(code);
    // Assess
    expect(who).toEqual({ id: 'alice@corp.com', groups: ['sre'], mfa: true });
    expect(expiresAt.toISOString()).toBe('2026-12-03T10:01:00.000Z');
    expect(await refusal(c.redeem(code))).toBe('SIGNIN.CODE_USED');
    expect(signinUrl(`${BROKER}/`, code)).toBe(`${BROKER}/#code=${code}`);
  });

  it('refuses a code after its minute, from another key, for another broker, or of another type', async () => {
    const { code } = await mintSigninCode(signer, { who: alice, audience: BROKER, now: NOW });
    const late = await codes(() => new Date(NOW.getTime() + 61_000));
    expect(await refusal(late.redeem(code))).toBe('SIGNIN.CODE_EXPIRED');
    const foreign = await mintSigninCode(other, { who: alice, audience: BROKER, now: NOW });
    expect(await refusal((await codes()).redeem(foreign.code))).toBe('SIGNIN.BAD_SIGNATURE');
    const elsewhere = await mintSigninCode(signer, { who: alice, audience: 'http://127.0.0.1:9999', now: NOW });
    expect(await refusal((await codes()).redeem(elsewhere.code))).toBe('SIGNIN.WRONG_AUDIENCE');
    // A session token is not a sign-in code, and a sign-in code is not a session token.
    const session = await mintSessionToken(signer, { who: alice, audience: BROKER, ttlMs: 3_600_000, now: NOW });
    expect(await refusal((await codes()).redeem(session.token))).toBe('SIGNIN.WRONG_TOKEN_TYPE');
    const verifier = new SessionVerifier({ key: await signer.verifyKey(), audiences: [BROKER], now: () => NOW });
    const asSession = await verifier.verify(code);
    expect('error' in asSession && asSession.error.code).toBe('AUTH.WRONG_TOKEN_TYPE');
  });

  it('refuses anything else with a SIGNIN code and never throws anything but a TimeboxError (property)', async () => {
    const c = await codes();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.constant('a.b.c'), fc.anything()), async (input) => {
        const code = await refusal(c.redeem(input));
        return code.startsWith('SIGNIN.');
      }),
      { numRuns: 200 },
    );
  });
});

describe('Class: WebConsole', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  async function console_(): Promise<{ web: WebConsole; verifier: SessionVerifier; token: string }> {
    const web = new WebConsole({
      root: undefined,
      codes: await codes(),
      signer,
      audience: BROKER,
      origins: [BROKER],
      now: () => NOW,
    });
    const verifier = new SessionVerifier({ key: await signer.verifyKey(), audiences: [BROKER], now: () => NOW });
    const { token } = await mintSessionToken(signer, { who: alice, audience: BROKER, ttlMs: 3_600_000, now: NOW });
    return { web, verifier, token };
  }
  const codeOf = (auth: Awaited<ReturnType<WebConsole['authenticate']>>) =>
    auth && 'error' in auth ? auth.error.code : auth?.identity.id;

  it('accepts the session cookie only with the CSRF header, from its own origin and same-site fetches', async () => {
    const { web, verifier, token } = await console_();
    const cookie = `other=1; timebox_session_8787=${token}`;
    expect(codeOf(await web.authenticate(req({ cookie, 'x-timebox-csrf': '1' }), verifier))).toBe('alice@corp.com');
    expect(
      codeOf(
        await web.authenticate(
          req({ cookie, 'x-timebox-csrf': '1', origin: BROKER, 'sec-fetch-site': 'same-origin' }),
          verifier,
        ),
      ),
    ).toBe('alice@corp.com');
    expect(codeOf(await web.authenticate(req({ cookie }), verifier))).toBe('AUTH.CSRF_HEADER_MISSING');
    expect(
      codeOf(await web.authenticate(req({ cookie, 'x-timebox-csrf': '1', origin: 'http://evil.example' }), verifier)),
    ).toBe('AUTH.CROSS_ORIGIN');
    expect(
      codeOf(await web.authenticate(req({ cookie, 'x-timebox-csrf': '1', 'sec-fetch-site': 'same-site' }), verifier)),
    ).toBe('AUTH.CROSS_ORIGIN');
  });

  it('leaves a call without its cookie to the route, and refuses a doubled cookie', async () => {
    const { web, verifier, token } = await console_();
    expect(await web.authenticate(req({ cookie: `timebox_session_9999=${token}` }), verifier)).toBeUndefined();
    expect(await web.authenticate(req({}), verifier)).toBeUndefined();
    const twice = `timebox_session_8787=${token}; timebox_session_8787=${token}`;
    expect(codeOf(await web.authenticate(req({ cookie: twice, 'x-timebox-csrf': '1' }), verifier))).toBe(
      'AUTH.MALFORMED_TOKEN',
    );
  });
});
