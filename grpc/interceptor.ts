import * as grpc from '@grpc/grpc-js';
import { createRemoteJWKSet, decodeProtectedHeader, type JWK, type JWTPayload } from 'jose';
import { REVOCATION_FEED_PATH } from '../adapters/grpc/revocations';
import { isLoopbackHost } from '../core/net';
import { compileMethodMatcher } from '../core/scope/grpc';
import { type KeyLike, type VerificationKey, verifyJwt } from './jwt';
import { RevocationWatcher, revocationFeedVerifier } from './revocations';

export type { KeyLike };

export type CallResult = 'ok' | 'unauthenticated' | 'permission-denied';

/** One call as the interceptor saw it: who called what, when, and what was decided. */
export interface CallReport {
  grantId?: string;
  sub?: string;
  method: string;
  result: CallResult;
  /** Stable reason for a refusal (see `RefusalReason`). */
  reason?: string;
}

/** Every reason a call is refused, as reported to `onCall` and sent (prefixed) in the status details. */
export type RefusalReason =
  | 'missing-token'
  | 'malformed-token'
  | 'bad-algorithm'
  | 'wrong-type'
  | 'unknown-key'
  | 'bad-signature'
  | 'keys-unavailable'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'expired'
  | 'not-yet-valid'
  | 'invalid-claims'
  | 'invalid-token'
  | 'revoked'
  | 'revocations-unavailable'
  | 'revocations-stale'
  | 'out-of-scope';

export interface TimeboxAuthOptions {
  /**
   * The broker's base URL: all a service needs. It stands for `issuer` (the same URL), `jwksUrl`
   * (`<broker>/.well-known/jwks.json`) and `revocationsUrl` (`<broker>/.well-known/timebox/revocations.json`,
   * read by push where the broker offers it); any of them given as well wins.
   */
  broker?: string;
  /** The broker's JWKS (`<broker>/.well-known/jwks.json`). Exactly one of `jwksUrl` and `publicKey`. */
  jwksUrl?: string;
  /** A fixed ES256 public key, for services that pin the broker key instead of fetching the JWKS. */
  publicKey?: KeyLike | JWK;
  /** The broker's issuer (its base URL); tokens from any other issuer are refused. Required without `broker`. */
  issuer?: string;
  /** This service's audience, as in the policy file's `audience` for the target. */
  audience: string;
  /**
   * The broker's revocation feed (`<broker>/.well-known/timebox/revocations.json`). Only its signed form is used:
   * checked with the same key and issuer as the tokens, and refused when older than the copy in hand.
   */
  revocationsUrl?: string;
  /** How often to read the feed where the broker does not push (default 15 s). */
  revocationPollMs?: number;
  /** Ask the broker to push revocations by holding each feed request until it changes (default true). */
  revocationPush?: boolean;
  /** How old (from its signed build time) the newest copy of the feed may be (default 60 s); then calls are refused. */
  revocationMaxStalenessMs?: number;
  /** Allowed clock skew for `nbf`, in seconds (default 5). Never applied to `exp`. */
  clockToleranceSec?: number;
  /** Time after a JWKS fetch before an unknown `kid` may trigger another (default 30 s, jose's default). */
  jwksCooldownMs?: number;
  /** Maximum age of fetched keys before they are fetched again (default 10 min, jose's default). */
  jwksCacheMaxAgeMs?: number;
  /** Usage hook, called once per call with the outcome. Must not throw (a throwing hook is ignored). */
  onCall?: (u: CallReport) => void;
  /** Revocation feed poll outcomes, for the service's logs. */
  onRevocationPoll?: (r: { ok: boolean; entries?: number; error?: string }) => void;
  /** Clock, for tests. */
  now?: () => Date;
}

/** The interceptor, plus `close()` to stop polling the revocation feed when the server shuts down. */
export type TimeboxInterceptor = grpc.ServerInterceptor & {
  close(): void;
  /** The authorization check itself, usable without a gRPC call (tests, other transports). */
  authorize(authorization: grpc.MetadataValue[], method: string): Promise<AuthOutcome>;
  /** The revocation feed watcher, when `revocationsUrl` is set. */
  readonly revocations: RevocationWatcher | undefined;
};

export type AuthOutcome =
  | { result: 'ok'; grantId: string; sub: string; scope: string[] }
  | { result: 'unauthenticated' | 'permission-denied'; reason: RefusalReason; grantId?: string; sub?: string };

/** Metadata keys the interceptor sets for handlers from the verified token (client-sent values are removed). */
export const GRANT_METADATA_KEY = 'timebox-grant';
export const SUBJECT_METADATA_KEY = 'timebox-sub';

// A token with a handful of patterns is well under 2 KiB; refusing larger input keeps parsing cost bounded.
const MAX_TOKEN_CHARS = 8192;
const MAX_SCOPE_PATTERNS = 100;
const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

const DETAILS: Record<RefusalReason, string> = {
  'missing-token': 'no bearer token in the authorization metadata',
  'malformed-token': 'the authorization metadata is not "Bearer <jwt>"',
  'bad-algorithm': 'token algorithm is not ES256',
  'wrong-type': 'token type is not JWT',
  'unknown-key': 'token signed by a key the broker does not publish',
  'bad-signature': 'token signature is invalid',
  'keys-unavailable': 'the broker keys could not be fetched',
  'wrong-issuer': 'token was issued by another issuer',
  'wrong-audience': 'token is for another service',
  expired: 'token has expired',
  'not-yet-valid': 'token is not valid yet',
  'invalid-claims': 'token claims are missing or malformed',
  'invalid-token': 'token is invalid',
  revoked: 'the grant of this token was revoked',
  'revocations-unavailable': 'revocation list not loaded yet; retry shortly',
  'revocations-stale': 'revocation list is out of date; refusing until it can be read again',
  'out-of-scope': 'method is not in the token scope',
};

/**
 * A @grpc/grpc-js server interceptor that admits a call only with a valid Timebox prefix token whose scope covers
 * the method. The check runs on the request metadata, before the handler is started: the built-in handlers read
 * no message until they have seen the metadata, so a refused call never reaches service code.
 */
export function timeboxAuth(opts: TimeboxAuthOptions): TimeboxInterceptor {
  const authorize = createAuthorizer(opts);
  const watcher = authorize.watcher;
  const report = (u: CallReport) => {
    try {
      opts.onCall?.(u);
    } catch {
      // A broken usage hook must not change an authorization decision.
    }
  };

  const interceptor: grpc.ServerInterceptor = (methodDescriptor, call) => {
    const method = methodDescriptor.path;
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        authorize(metadata.get('authorization'), method)
          .catch((): AuthOutcome => ({ result: 'unauthenticated', reason: 'invalid-token' }))
          .then((outcome) => {
            report(toReport(outcome, method));
            if (outcome.result === 'ok') {
              // Handlers can read who is calling; a client cannot forge these because they are replaced here.
              metadata.remove(GRANT_METADATA_KEY);
              metadata.remove(SUBJECT_METADATA_KEY);
              metadata.set(GRANT_METADATA_KEY, outcome.grantId);
              metadata.set(SUBJECT_METADATA_KEY, outcome.sub);
              next(metadata);
              return;
            }
            call.sendStatus({
              code:
                outcome.result === 'permission-denied' ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED,
              details: `timebox: ${outcome.reason}: ${DETAILS[outcome.reason]}`,
              metadata: new grpc.Metadata(),
            });
          })
          .catch(() => {
            // Only reachable if gRPC itself throws while passing the call on; never leave a rejection unhandled.
            try {
              call.sendStatus({ code: grpc.status.INTERNAL, details: 'timebox: authorization failed' });
            } catch {
              // The call is already gone.
            }
          });
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };

  return Object.assign(interceptor, {
    close: () => watcher?.stop(),
    authorize,
    revocations: watcher,
  });
}

function toReport(o: AuthOutcome, method: string): CallReport {
  return {
    method,
    result: o.result,
    ...(o.grantId === undefined ? {} : { grantId: o.grantId }),
    ...(o.sub === undefined ? {} : { sub: o.sub }),
    ...(o.result === 'ok' ? {} : { reason: o.reason }),
  };
}

type Authorizer = ((authorization: grpc.MetadataValue[], method: string) => Promise<AuthOutcome>) & {
  watcher: RevocationWatcher | undefined;
};

/** Builds the token check (signature, claims, revocation, scope); `timeboxAuth` wraps it for gRPC. */
export function createAuthorizer(given: TimeboxAuthOptions): Authorizer {
  const opts = withBroker(given);
  if (!opts.issuer) throw new Error('timeboxAuth: issuer is required');
  if (!opts.audience) throw new Error('timeboxAuth: audience is required');
  if ((opts.jwksUrl === undefined) === (opts.publicKey === undefined))
    throw new Error('timeboxAuth: give exactly one of jwksUrl and publicKey');
  // Whoever can answer these in the clear chooses the keys tokens are checked with, or hides revocations.
  for (const [name, url] of [
    ['jwksUrl', opts.jwksUrl],
    ['revocationsUrl', opts.revocationsUrl],
  ] as const)
    if (url !== undefined) requireSecureUrl(name, url);
  const key = resolveKey(opts);
  const tolerance = opts.clockToleranceSec ?? 5;
  if (!(tolerance >= 0 && tolerance <= 300)) throw new Error('timeboxAuth: clockToleranceSec must be 0..300');
  const now = opts.now ?? (() => new Date());
  const watcher = opts.revocationsUrl
    ? new RevocationWatcher({
        url: opts.revocationsUrl,
        // The feed is signed with the key that signs the tokens, and checked against the same issuer.
        verify: revocationFeedVerifier(key, opts.issuer, {
          now: () => now().getTime(),
          clockToleranceSec: tolerance,
        }),
        ...(opts.revocationPollMs === undefined ? {} : { pollMs: opts.revocationPollMs }),
        ...(opts.revocationMaxStalenessMs === undefined ? {} : { maxStalenessMs: opts.revocationMaxStalenessMs }),
        ...(opts.revocationPush === undefined ? {} : { push: opts.revocationPush }),
        now: () => now().getTime(),
        ...(opts.onRevocationPoll ? { onPoll: opts.onRevocationPoll } : {}),
      })
    : undefined;
  watcher?.start();
  // Compiling a matcher parses every pattern; tokens are reused for minutes, so keep the last few hundred.
  const matchers = new BoundedCache<string, (path: string) => boolean>(512);

  const authorize = async (authorization: grpc.MetadataValue[], method: string): Promise<AuthOutcome> => {
    const unauth = (reason: RefusalReason, who: { grantId?: string; sub?: string } = {}): AuthOutcome => ({
      result: 'unauthenticated',
      reason,
      ...who,
    });
    if (authorization.length === 0) return unauth('missing-token');
    const value = authorization[0];
    // Two authorization values are ambiguous (which one did a proxy check?), so neither is trusted. Over HTTP/2,
    // Node keeps only the first of repeated `authorization` header fields before grpc-js sees them: a proxy in
    // front must not pass on a request with two (most refuse them; the interceptor cannot tell).
    if (authorization.length > 1 || typeof value !== 'string' || value.length > MAX_TOKEN_CHARS)
      return unauth('malformed-token');
    const token = BEARER.exec(value.trim())?.[1];
    if (!token) return unauth('malformed-token');
    let header: { alg?: unknown; typ?: unknown };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return unauth('malformed-token');
    }
    // jose refuses other algorithms too; checking first gives `none`/HS256 their own reason and skips any key fetch.
    if (header.alg !== 'ES256') return unauth('bad-algorithm');
    // Grant tokens are typed `JWT`; anything else the broker signs with the same key (a session token, the
    // revocation feed) is typed otherwise, and an untyped token is not one the broker issued as a grant token
    // (RFC 8725 section 3.11, explicit typing).
    if (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT') return unauth('wrong-type');

    const at = now();
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: ['ES256'],
        issuer: opts.issuer,
        audience: opts.audience,
        clockTolerance: tolerance,
        currentDate: at,
        requiredClaims: ['exp', 'jti', 'sub'],
      };
      payload = await verifyJwt(token, key, options);
    } catch (e) {
      return unauth(reasonOf(e));
    }
    const grantId = typeof payload.jti === 'string' ? payload.jti : undefined;
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    const who = { ...(grantId ? { grantId } : {}), ...(sub ? { sub } : {}) };
    // The tolerance stays off `exp`: a grant never outlives its expiry, whatever the clocks say.
    if (typeof payload.exp !== 'number' || payload.exp * 1000 <= at.getTime()) return unauth('expired', who);
    const scope = payload.scope;
    if (
      !grantId ||
      grantId.length > 256 ||
      !sub ||
      !Array.isArray(scope) ||
      scope.length === 0 ||
      scope.length > MAX_SCOPE_PATTERNS ||
      !scope.every((p) => typeof p === 'string')
    )
      return unauth('invalid-claims', who);

    if (watcher) {
      const status = await watcher.check(grantId);
      if (status === 'revoked') return unauth('revoked', who);
      if (status === 'stale') return unauth('revocations-stale', who);
      if (status === 'unavailable') return unauth('revocations-unavailable', who);
    }

    const patterns = scope as string[];
    const cacheKey = JSON.stringify(patterns);
    let matches = matchers.get(cacheKey);
    if (!matches) {
      matches = compileMethodMatcher(patterns);
      matchers.set(cacheKey, matches);
    }
    if (!matches(method)) return { result: 'permission-denied', reason: 'out-of-scope', grantId, sub };
    return { result: 'ok', grantId, sub, scope: patterns };
  };
  return Object.assign(authorize, { watcher });
}

/** Fills `issuer`, `jwksUrl` and `revocationsUrl` from `broker` where they are not given. */
function withBroker(opts: TimeboxAuthOptions): TimeboxAuthOptions & { issuer: string } {
  if (opts.broker === undefined) return opts as TimeboxAuthOptions & { issuer: string };
  requireSecureUrl('broker', opts.broker);
  const base = opts.broker.replace(/\/+$/, '');
  return {
    ...opts,
    issuer: opts.issuer ?? base,
    ...(opts.jwksUrl === undefined && opts.publicKey === undefined ? { jwksUrl: `${base}/.well-known/jwks.json` } : {}),
    revocationsUrl: opts.revocationsUrl ?? `${base}${REVOCATION_FEED_PATH}`,
  };
}

function requireSecureUrl(name: string, text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`timeboxAuth: ${name} "${text}" is not a URL`);
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return;
  throw new Error(`timeboxAuth: ${name} must be https (plain http only to a loopback broker), not ${text}`);
}

function resolveKey(opts: TimeboxAuthOptions): VerificationKey {
  if (opts.jwksUrl !== undefined) {
    return createRemoteJWKSet(new URL(opts.jwksUrl), {
      ...(opts.jwksCooldownMs === undefined ? {} : { cooldownDuration: opts.jwksCooldownMs }),
      ...(opts.jwksCacheMaxAgeMs === undefined ? {} : { cacheMaxAge: opts.jwksCacheMaxAgeMs }),
    });
  }
  const k = opts.publicKey as KeyLike | JWK;
  if (k instanceof Uint8Array) throw new Error('timeboxAuth: publicKey must be an ES256 public key, not a secret');
  if ('kty' in k && typeof k.kty === 'string') {
    const jwk = k as JWK;
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y)
      throw new Error('timeboxAuth: publicKey must be a P-256 (ES256) public JWK');
    // Only the public members: a private JWK handed over by mistake must not become a signing key here.
    return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  }
  return k;
}

function reasonOf(e: unknown): RefusalReason {
  const code = (e as { code?: unknown })?.code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (e as { claim?: unknown }).claim;
      if (claim === 'iss') return 'wrong-issuer';
      if (claim === 'aud') return 'wrong-audience';
      if (claim === 'nbf' || claim === 'iat') return 'not-yet-valid';
      return 'invalid-claims';
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'bad-algorithm';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'unknown-key';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad-signature';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return 'keys-unavailable';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'malformed-token';
    default:
      // fetch() failures of the JWKS surface as plain errors.
      return e instanceof TypeError ? 'keys-unavailable' : 'invalid-token';
  }
}

/** A small insertion-ordered cache that forgets its oldest entry when full. */
class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  set(k: K, v: V): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(k, v);
  }
}
