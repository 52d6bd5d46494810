import { randomUUID } from 'node:crypto';
import { type CryptoKey, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';
import { TimeboxError } from '../core/errors';
import { GROUP_NAME } from '../core/policy/names';
import { isValidPrincipalId, normalizePrincipalId } from '../core/principal';
import { checkIdentity, SESSION_ISSUER, type SessionIdentity, type TypedSigner } from './auth';

/**
 * One-time sign-in codes for the web console in local mode. `timebox login --local --web` signs one with the broker's
 * key (read from TIMEBOX_HOME, like session tokens) and prints `<broker>/#code=<code>`; the page posts the code to
 * the broker, which checks it, remembers its `jti` until it expires (so it works once), and answers with a session
 * cookie. The code is typed `timebox-signin+jwt`: it never passes as a session token or a gRPC token, nor they as it
 * (RFC 8725 section 3.11). It travels in the URL fragment, which browsers never send to a server or in a Referer.
 */

export const SIGNIN_TOKEN_TYPE = 'timebox-signin+jwt';
/** A sign-in link is for clicking now: it expires a minute after it was made. */
export const SIGNIN_TTL_MS = 60_000;

/** Mints a one-time sign-in code for `audience` (the broker URL). */
export async function mintSigninCode(
  signer: TypedSigner,
  args: { who: SessionIdentity; audience: string; now: Date },
): Promise<{ code: string; expiresAt: Date }> {
  const who = checkIdentity(args.who);
  const iat = Math.floor(args.now.getTime() / 1000);
  const exp = iat + SIGNIN_TTL_MS / 1000;
  const code = await signer.sign(
    {
      iss: SESSION_ISSUER,
      sub: who.id,
      aud: args.audience.replace(/\/+$/, ''),
      iat,
      nbf: iat,
      exp,
      jti: randomUUID(),
      groups: who.groups,
      mfa: who.mfa,
    },
    { typ: SIGNIN_TOKEN_TYPE },
  );
  return { code, expiresAt: new Date(exp * 1000) };
}

/** The sign-in URL the CLI prints: the code in the fragment, never in the path or query. */
export function signinUrl(origin: string, code: string): string {
  return `${origin.replace(/\/+$/, '')}/#code=${code}`;
}

const refuse = (code: string, message: string) => new TimeboxError('unauthenticated', code, message);

// A code is a few hundred characters; anything far larger is refused before any parsing.
const MAX_CODE_CHARS = 4096;
const CODE_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Codes live a minute, so this many in one minute is far beyond any real use; a flood is refused, not remembered.
const MAX_REMEMBERED = 10_000;

/**
 * Checks sign-in codes and spends them. Used codes are remembered in memory until they expire: a broker restart
 * forgets them, and a code minted before the restart is then usable once more within its minute, which grants
 * nothing its holder could not mint again with the key.
 */
export class SigninCodes {
  private readonly used = new Map<string, number>();
  private readonly audiences: string[];
  private readonly now: () => Date;

  constructor(private readonly opts: { key: CryptoKey; audiences: string[]; now?: () => Date }) {
    this.audiences = opts.audiences.map((a) => a.replace(/\/+$/, ''));
    this.now = opts.now ?? (() => new Date());
  }

  /** The identity of a valid, unused code, which is spent by this call; a TimeboxError with a stable code otherwise. */
  async redeem(code: unknown): Promise<SessionIdentity> {
    if (typeof code !== 'string' || code.length > MAX_CODE_CHARS || !CODE_SHAPE.test(code))
      throw refuse('SIGNIN.MALFORMED_CODE', 'this is not a sign-in code');
    let header: { alg?: unknown; typ?: unknown };
    try {
      header = decodeProtectedHeader(code);
    } catch {
      throw refuse('SIGNIN.MALFORMED_CODE', 'this is not a sign-in code');
    }
    if (header.alg !== 'ES256' || header.typ !== SIGNIN_TOKEN_TYPE)
      throw refuse('SIGNIN.WRONG_TOKEN_TYPE', 'this is not a sign-in code; run timebox login --local --web');
    const nowMs = this.now().getTime();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(code, this.opts.key, {
        algorithms: ['ES256'],
        typ: SIGNIN_TOKEN_TYPE,
        issuer: SESSION_ISSUER,
        audience: this.audiences,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        currentDate: new Date(nowMs),
        clockTolerance: 5,
      }));
    } catch (e) {
      const c = (e as { code?: unknown }).code;
      if (c === 'ERR_JWT_EXPIRED') throw expired();
      if (c === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
        throw refuse('SIGNIN.BAD_SIGNATURE', "the sign-in code was not signed by this broker's key");
      if (c === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (e as { claim?: unknown }).claim === 'aud')
        throw refuse('SIGNIN.WRONG_AUDIENCE', 'the sign-in code is for another broker URL');
      throw refuse('SIGNIN.INVALID_CODE', 'the sign-in code is not valid');
    }
    const expMs = (payload.exp as number) * 1000;
    // Exactly one minute, whatever the clock tolerance: a link is for clicking now.
    if (expMs <= nowMs || expMs - (payload.iat as number) * 1000 > SIGNIN_TTL_MS) throw expired();
    const identity = identityOf(payload);
    if (!identity) throw refuse('SIGNIN.INVALID_CODE', 'the sign-in code claims are malformed');
    const jti = payload.jti as string;
    for (const [k, until] of this.used) if (until <= nowMs) this.used.delete(k);
    if (this.used.has(jti))
      throw refuse('SIGNIN.CODE_USED', 'this sign-in link was used already; run timebox login --local --web again');
    if (this.used.size >= MAX_REMEMBERED)
      throw new TimeboxError('unavailable', 'SIGNIN.BUSY', 'too many sign-ins this minute; try again shortly');
    this.used.set(jti, expMs);
    return identity;
  }
}

function expired(): TimeboxError {
  return refuse('SIGNIN.CODE_EXPIRED', 'this sign-in link has expired (a link lasts a minute); run it again');
}

function identityOf(p: JWTPayload): SessionIdentity | undefined {
  const groups = p.groups;
  if (typeof p.sub !== 'string' || !isValidPrincipalId(p.sub)) return undefined;
  if (typeof p.jti !== 'string' || p.jti.length === 0 || p.jti.length > 64) return undefined;
  if (!Array.isArray(groups) || groups.length > 100) return undefined;
  if (!groups.every((g) => typeof g === 'string' && GROUP_NAME.test(g))) return undefined;
  if (typeof p.mfa !== 'boolean') return undefined;
  return { id: normalizePrincipalId(p.sub), groups: groups as string[], mfa: p.mfa };
}
