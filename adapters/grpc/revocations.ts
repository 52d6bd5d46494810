import { createHash } from 'node:crypto';
import type { ProjectionStore, TokenSigner } from '../../core/ports';

/** One revoked grant: its token id (`jti` = grant id) and when (epoch seconds) its last token expires. */
export interface RevokedToken {
  jti: string;
  exp: number;
}

/**
 * Served at GET /.well-known/timebox/revocations.json; gRPC services poll it (grpc/interceptor.ts). `revoked` and
 * `generatedAt` are for people and tools; services trust only `jwt`, the same list signed by the broker's key.
 */
export interface RevocationFeed {
  revoked: RevokedToken[];
  generatedAt: string;
  /** Compact ES256 JWT typed REVOCATION_FEED_TYPE: claims `iss`, `iat`, `exp` and `revoked`. */
  jwt: string;
}

export const REVOCATION_FEED_PATH = '/.well-known/timebox/revocations.json';

/**
 * The `typ` of the signed feed. Grant tokens are typed `JWT` and services refuse any other type as a token, so the
 * feed can never pass for a grant token, and a grant token never passes for a feed (RFC 8725 section 3.11).
 */
export const REVOCATION_FEED_TYPE = 'timebox-revocations+jwt';

/**
 * How long a signed feed is valid (its `exp`). Services judge freshness by `iat` against their own, much shorter,
 * maximum staleness; `exp` only bounds what a copy kept somewhere could ever be used for.
 */
export const REVOCATION_FEED_TTL_S = 300;

/**
 * How many revoked grants one feed reads. Entries stay only while a token of the grant can still be valid
 * (at most the token TTL after the grant's last issue), and the list is newest first, so the grants a cap
 * would drop are the oldest ones, whose tokens are the first to have expired.
 */
export const REVOCATION_FEED_SCAN_LIMIT = 10_000;

/**
 * The revoked gRPC grants with a token that has not expired yet. Expired grants are not listed because no token
 * outlives its grant; revoked grants drop out once their last token has expired, which keeps the list as small as
 * the number of recent revocations.
 */
export async function revokedTokens(projections: ProjectionStore, now: Date): Promise<RevokedToken[]> {
  const nowMs = now.getTime();
  const revoked: RevokedToken[] = [];
  for (const g of await projections.listByStatus('revoked', { limit: REVOCATION_FEED_SCAN_LIMIT })) {
    if (g.target.kind !== 'grpc' || !g.lastCredentialExpiresAt) continue;
    const lastMs = Date.parse(g.lastCredentialExpiresAt);
    if (!Number.isFinite(lastMs) || lastMs <= nowMs) continue;
    // Rounded up: an entry may outlive its token by under a second, never the other way round.
    revoked.push({ jti: g.id, exp: Math.ceil(lastMs / 1000) });
  }
  revoked.sort((a, b) => (a.jti < b.jti ? -1 : a.jti > b.jti ? 1 : 0));
  return revoked;
}

/**
 * The revocation feed, signed. Unsigned, anything between broker and service (a proxy, a cache, a spoofed DNS
 * answer) could drop entries or replay an old copy; signed with a time, a service can tell a forged feed from the
 * broker's and an old copy from a fresh one.
 */
export async function revocationFeed(
  projections: ProjectionStore,
  signer: TokenSigner,
  issuer: string,
  now: Date,
): Promise<RevocationFeed> {
  return signRevocationFeed(await revokedTokens(projections, now), signer, issuer, now);
}

/** The feed for a given list: the list, its build time, and both signed as a JWT typed REVOCATION_FEED_TYPE. */
export async function signRevocationFeed(
  revoked: RevokedToken[],
  signer: TokenSigner,
  issuer: string,
  now: Date,
): Promise<RevocationFeed> {
  const iat = Math.floor(now.getTime() / 1000);
  const claims = { iss: issuer, iat, exp: iat + REVOCATION_FEED_TTL_S, revoked };
  const jwt = await signer.sign(claims, { typ: REVOCATION_FEED_TYPE });
  return { revoked, generatedAt: now.toISOString(), jwt };
}

/**
 * The feed as served: built at most once per `maxAgeMs` per process. The route is public and each build reads the
 * projection table and, on AWS, makes a KMS Sign call, so callers polling in step (or anyone hammering the URL)
 * cost one build per interval instead of one per request. The age adds at most `maxAgeMs` to how late a service
 * sees a revocation.
 */
export function cachedRevocationFeed(
  build: (now: Date) => Promise<RevocationFeed>,
  maxAgeMs: number,
): (now: Date) => Promise<RevocationFeed> {
  let cached: { atMs: number; feed: Promise<RevocationFeed> } | undefined;
  return (now) => {
    const nowMs = now.getTime();
    if (cached && nowMs - cached.atMs >= 0 && nowMs - cached.atMs < maxAgeMs) return cached.feed;
    const feed = build(now);
    const entry = { atMs: nowMs, feed };
    cached = entry;
    // A failed build is not kept: the next request tries again.
    feed.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return feed;
  };
}

/**
 * The response header by which a broker says it held a request carrying `wait` until the feed changed (a long poll),
 * and for how many seconds at most. A broker without it (the deployed API: API Gateway REST cannot hold a request
 * open usefully) answered at once, so the service falls back to polling.
 */
export const LONG_POLL_HEADER = 'timebox-wait';

/** The longest a long poll is held (s): under API Gateway's 29 s integration timeout and node's 30 s request timeout. */
export const MAX_LONG_POLL_S = 25;

/**
 * A weak validator of the feed's content: the same list gives the same tag whatever its build time. A service sends
 * it back as `If-None-Match`; a 304 says "the list you hold is still the list", which never refreshes how old the
 * service's copy is: freshness only ever comes from a signed `iat`.
 */
export function feedEtag(revoked: readonly RevokedToken[]): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(revoked.map((r) => [r.jti, r.exp])))
    .digest('base64url');
  return `W/"${digest.slice(0, 32)}"`;
}

/** `If-None-Match` against a tag, with the weak comparison RFC 9110 section 13.1.2 prescribes for it. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  const want = opaque(etag);
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === want);
}
