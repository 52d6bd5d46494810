import type { ProjectionStore } from '../../core/ports';

/** Served at GET /.well-known/timebox/revocations.json; gRPC services poll it (grpc/interceptor.ts). */
export interface RevocationFeed {
  /** Token ids (`jti` = grant id) that must be refused, with the time (epoch seconds) their last token expires. */
  revoked: { jti: string; exp: number }[];
  generatedAt: string;
}

export const REVOCATION_FEED_PATH = '/.well-known/timebox/revocations.json';

/**
 * How many revoked grants one feed reads. Entries stay only while a token of the grant can still be valid
 * (at most the token TTL after the grant's last issue), and the list is newest first, so the grants a cap
 * would drop are the oldest ones, whose tokens are the first to have expired.
 */
export const REVOCATION_FEED_SCAN_LIMIT = 10_000;

/**
 * The revocation feed: every revoked gRPC grant with a token that has not expired yet. Expired grants are not
 * listed because no token outlives its grant; revoked grants drop out once their last token has expired, which
 * keeps the feed as small as the number of recent revocations.
 */
export async function revocationFeed(projections: ProjectionStore, now: Date): Promise<RevocationFeed> {
  const nowMs = now.getTime();
  const revoked: RevocationFeed['revoked'] = [];
  for (const g of await projections.listByStatus('revoked', { limit: REVOCATION_FEED_SCAN_LIMIT })) {
    if (g.target.kind !== 'grpc' || !g.lastCredentialExpiresAt) continue;
    const lastMs = Date.parse(g.lastCredentialExpiresAt);
    if (!Number.isFinite(lastMs) || lastMs <= nowMs) continue;
    // Rounded up: an entry may outlive its token by under a second, never the other way round.
    revoked.push({ jti: g.id, exp: Math.ceil(lastMs / 1000) });
  }
  revoked.sort((a, b) => (a.jti < b.jti ? -1 : a.jti > b.jti ? 1 : 0));
  return { revoked, generatedAt: now.toISOString() };
}
