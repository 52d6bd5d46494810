import { type CryptoKey, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';
import type { ApiRequest } from '../api/http';
import { HttpError } from '../api/http';
import { formatDuration } from '../core/duration';
import { TimeboxError } from '../core/errors';
import { GROUP_NAME } from '../core/policy/names';
import { isValidPrincipalId, normalizePrincipalId, type Principal, principal } from '../core/principal';

/**
 * Local-mode identity: per-user bearer tokens ("session tokens") signed by the broker's local key. `timebox login
 * --local` mints one (it reads the key from TIMEBOX_HOME, so the broker need not run); the broker verifies it on
 * every call but /healthz, the JWKS and the revocation feed.
 *
 * A session token is typed `timebox-session+jwt`, has the broker URL as audience and a fixed issuer, so it can never
 * pass as a gRPC grant token (services accept only `typ: JWT` for their own audience), and a grant token, typed
 * `JWT`, never passes as a session token (RFC 8725 section 3.11, explicit typing).
 */

export const SESSION_TOKEN_TYPE = 'timebox-session+jwt';
export const SESSION_ISSUER = 'timebox-local-login';
export { DEFAULT_SESSION_TTL_MS, MAX_SESSION_TTL_MS } from './paths';

import { MAX_SESSION_TTL_MS } from './paths';

/** What `login --local` asserts about the user; the policy file's groups are added at decision time. */
export interface SessionIdentity {
  id: string;
  groups: string[];
  mfa: boolean;
}

/** Claims of a session token (plus the registered ones jose sets). */
export interface SessionClaims extends JWTPayload {
  sub: string;
  groups: string[];
  mfa: boolean;
}

/** Anything that signs with an explicit `typ` (LocalTokenSigner). */
export interface TypedSigner {
  sign(claims: Record<string, unknown>, opts?: { typ?: string }): Promise<string>;
}

/** Checks the identity fields; throws a ValidationError-like TimeboxError naming the field. */
export function checkIdentity(who: SessionIdentity): SessionIdentity {
  if (!isValidPrincipalId(who.id))
    throw new TimeboxError('invalid', 'LOGIN.INVALID_PRINCIPAL', `"${who.id}" is not a principal id`);
  for (const g of who.groups)
    if (!GROUP_NAME.test(g))
      throw new TimeboxError('invalid', 'LOGIN.INVALID_GROUP', `"${g}" is not a group name (a-z, 0-9, _ and -)`);
  return { id: normalizePrincipalId(who.id), groups: [...new Set(who.groups)].sort(), mfa: who.mfa };
}

/**
 * How far ahead of the broker's clock a token's `iat` and `nbf` may be: the CLI that minted it usually runs on the
 * same host, so a minute covers any drift between two clocks there. A token "issued" further ahead is refused.
 */
export const SESSION_CLOCK_SKEW_S = 60;

// ECDSA P-256 group order (SEC 2, section 2.4.2). For every signature (r, s), (r, n - s) is also valid: a verifier
// that takes both lets anyone turn one token into a second, different string for the same claims. Only the low
// half (s <= n/2, as Bitcoin's BIP-62 and libsecp256k1 require) is minted and accepted.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

/** The signature's s as a number, or undefined when the third segment is not a 64-byte ES256 signature. */
function signatureS(token: string): bigint | undefined {
  const sig = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
  if (sig.length !== 64) return undefined;
  return BigInt(`0x${sig.subarray(32).toString('hex')}`);
}

/** The same token with s replaced by n - s when s is in the high half; the signature stays valid for the same key. */
export function toLowS(token: string): string {
  const s = signatureS(token);
  if (s === undefined || s <= P256_HALF_N) return token;
  const cut = token.lastIndexOf('.') + 1;
  const sig = Buffer.from(token.slice(cut), 'base64url');
  const low = Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex');
  return `${token.slice(0, cut)}${Buffer.concat([sig.subarray(0, 32), low]).toString('base64url')}`;
}

/** Mints a session token for `audience` (the broker URL), valid for `ttlMs` from `now`; its signature is low-S. */
export async function mintSessionToken(
  signer: TypedSigner,
  args: { who: SessionIdentity; audience: string; ttlMs: number; now: Date },
): Promise<{ token: string; expiresAt: Date }> {
  const who = checkIdentity(args.who);
  if (!(args.ttlMs >= 60_000 && args.ttlMs <= MAX_SESSION_TTL_MS))
    throw new TimeboxError(
      'invalid',
      'LOGIN.INVALID_TTL',
      `a login lasts between 1m and ${formatDuration(MAX_SESSION_TTL_MS)}, not ${formatDuration(args.ttlMs)}`,
    );
  const iat = Math.floor(args.now.getTime() / 1000);
  const exp = iat + Math.floor(args.ttlMs / 1000);
  const claims: SessionClaims = {
    iss: SESSION_ISSUER,
    sub: who.id,
    aud: args.audience,
    iat,
    nbf: iat,
    exp,
    groups: who.groups,
    mfa: who.mfa,
  };
  const token = toLowS(await signer.sign(claims, { typ: SESSION_TOKEN_TYPE }));
  return { token, expiresAt: new Date(exp * 1000) };
}

/** What the transport puts in `ApiRequest.auth`: the verified caller, or why the bearer token was refused. */
export type LocalAuth = { identity: SessionIdentity } | { error: TimeboxError };

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;
// A session token is a few hundred characters; anything far larger is refused before any parsing.
const MAX_TOKEN_CHARS = 4096;
// Verified tokens are remembered (the signature is checked once per token, not once per call); expiry is still
// checked on every call.
const CACHE_SIZE = 1024;

const refuse = (code: string, message: string): TimeboxError =>
  new HttpError(401, 'unauthenticated', code, message, {}, { 'www-authenticate': 'Bearer realm="timebox"' });

/**
 * Verifies session tokens against the broker's public key. Every refusal is a 401 with a stable code; the reason a
 * token failed is named (expired, wrong key, wrong type...), which helps the user and tells an attacker nothing
 * they could not decode from the token themselves.
 */
export class SessionVerifier {
  private readonly cache = new Map<string, { identity: SessionIdentity; expMs: number }>();
  private readonly audiences: string[];
  private readonly now: () => Date;

  constructor(private readonly opts: { key: CryptoKey; audiences: string[]; now?: () => Date }) {
    if (opts.audiences.length === 0) throw new Error('SessionVerifier needs at least one audience');
    this.audiences = opts.audiences.map((a) => a.replace(/\/+$/, ''));
    this.now = opts.now ?? (() => new Date());
  }

  /** The `authorization` header's verdict, or undefined when there is no header (the route decides if it needs one). */
  async fromHeader(authorization: string | undefined): Promise<LocalAuth | undefined> {
    if (authorization === undefined) return undefined;
    if (authorization.length > MAX_TOKEN_CHARS)
      return { error: refuse('AUTH.MALFORMED_TOKEN', 'the bearer token is too long') };
    const token = BEARER.exec(authorization.trim())?.[1];
    if (!token)
      return { error: refuse('AUTH.MALFORMED_TOKEN', 'the authorization header is not "Bearer <session token>"') };
    return this.verify(token);
  }

  /**
   * Verifies one token: signature (ES256 only, low-S), type, issuer, audience, expiry, the lifetime a login may have
   * (exp - iat at most 7 days), an `iat` no further ahead than SESSION_CLOCK_SKEW_S, and the identity claims. The
   * limits `login` applies when minting are enforced here too: whoever holds the key could mint anything.
   */
  async verify(token: string): Promise<LocalAuth> {
    const nowMs = this.now().getTime();
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.expMs > nowMs) return { identity: cached.identity };
      this.cache.delete(token);
      return { error: expired() };
    }
    let header: { alg?: unknown; typ?: unknown };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return { error: refuse('AUTH.MALFORMED_TOKEN', 'the bearer token is not a JWT') };
    }
    if (header.alg !== 'ES256')
      return { error: refuse('AUTH.BAD_ALGORITHM', 'session tokens are signed with ES256; this one is not') };
    if (header.typ !== SESSION_TOKEN_TYPE)
      return {
        error: refuse(
          'AUTH.WRONG_TOKEN_TYPE',
          `this is not a session token (typ ${JSON.stringify(header.typ ?? null)}); run timebox login --local`,
        ),
      };
    const s = signatureS(token);
    if (s !== undefined && s > P256_HALF_N)
      return {
        error: refuse('AUTH.HIGH_S_SIGNATURE', 'the session token signature is not in canonical (low-S) form'),
      };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.opts.key, {
        algorithms: ['ES256'],
        typ: SESSION_TOKEN_TYPE,
        issuer: SESSION_ISSUER,
        audience: this.audiences,
        requiredClaims: ['exp', 'iat', 'sub'],
        currentDate: new Date(nowMs),
        // Slack for nbf only: exp is enforced to the instant below, iat after this call.
        clockTolerance: SESSION_CLOCK_SKEW_S,
      }));
    } catch (e) {
      return { error: refusal(e) };
    }
    // jose tolerates clock skew on exp too; the exact instant is enforced here: a login never outlives its expiry.
    const expMs = (payload.exp as number) * 1000;
    if (expMs <= nowMs) return { error: expired() };
    const iat = payload.iat as number;
    if (iat * 1000 > nowMs + SESSION_CLOCK_SKEW_S * 1000)
      return { error: refuse('AUTH.ISSUED_IN_FUTURE', "the session token's iat is ahead of the broker's clock") };
    if ((payload.exp as number) - iat > MAX_SESSION_TTL_MS / 1000)
      return {
        error: refuse(
          'AUTH.LIFETIME_TOO_LONG',
          `a session token lasts at most ${formatDuration(MAX_SESSION_TTL_MS)} from its iat; run timebox login --local again`,
        ),
      };
    const identity = identityOf(payload);
    if (!identity) return { error: refuse('AUTH.INVALID_CLAIMS', 'the session token claims are malformed') };
    if (this.cache.size >= CACHE_SIZE) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(token, { identity, expMs });
    return { identity };
  }
}

function expired(): TimeboxError {
  return refuse('AUTH.TOKEN_EXPIRED', 'the session token has expired; run timebox login --local again');
}

function refusal(e: unknown): TimeboxError {
  const code = (e as { code?: unknown })?.code;
  const claim = (e as { claim?: unknown })?.claim;
  const missing = (e as { reason?: unknown })?.reason === 'missing';
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return expired();
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return refuse(
        'AUTH.BAD_SIGNATURE',
        "the session token was not signed by this broker's key (log in with the broker's TIMEBOX_HOME)",
      );
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return refuse('AUTH.BAD_ALGORITHM', 'session tokens are signed with ES256; this one is not');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (missing) return refuse('AUTH.INVALID_CLAIMS', `the session token has no ${String(claim)} claim`);
      if (claim === 'aud')
        return refuse('AUTH.WRONG_AUDIENCE', 'the session token is for another broker URL; log in to this one');
      if (claim === 'typ') return refuse('AUTH.WRONG_TOKEN_TYPE', 'this is not a session token');
      if (claim === 'nbf' || claim === 'iat') return refuse('AUTH.NOT_YET_VALID', 'the session token is not valid yet');
      return refuse('AUTH.INVALID_CLAIMS', `the session token's ${String(claim ?? 'claims')} claim is not valid`);
    default:
      return refuse('AUTH.MALFORMED_TOKEN', 'the bearer token is not a valid session token');
  }
}

function identityOf(p: JWTPayload): SessionIdentity | undefined {
  const groups = p.groups;
  if (typeof p.sub !== 'string' || !isValidPrincipalId(p.sub)) return undefined;
  if (!Array.isArray(groups) || groups.length > 100) return undefined;
  if (!groups.every((g) => typeof g === 'string' && GROUP_NAME.test(g))) return undefined;
  if (typeof p.mfa !== 'boolean') return undefined;
  return { id: normalizePrincipalId(p.sub), groups: groups as string[], mfa: p.mfa };
}

/**
 * The API's `authenticate` for local mode: reads only `req.auth`, which the HTTP adapter filled from the verified
 * bearer token, and adds the transport facts (source IP, user agent) to the principal.
 */
export async function localAuthenticate(req: ApiRequest): Promise<Principal> {
  const auth = req.auth as LocalAuth | undefined;
  if (auth === undefined)
    throw refuse('AUTH.MISSING_TOKEN', 'this call needs a bearer token: run timebox login --local --as <you>');
  if ('error' in auth) throw auth.error;
  return principal({
    id: auth.identity.id,
    groups: auth.identity.groups,
    mfa: auth.identity.mfa,
    ...(req.sourceIp ? { sourceIp: req.sourceIp } : {}),
    ...(req.userAgent ? { userAgent: req.userAgent } : {}),
  });
}
