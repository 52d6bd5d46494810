import { z } from 'zod';
import { REVOCATION_FEED_TYPE } from '../adapters/grpc/revocations';
import { type VerificationKey, verifyJwt } from './jwt';

/** Why a token may not be used, as far as the revocation feed knows. */
export type RevocationStatus = 'ok' | 'revoked' | 'stale' | 'unavailable';

/** What a poll of the feed did, for logs and the example server's output. */
export interface RevocationPollReport {
  ok: boolean;
  entries?: number;
  error?: string;
}

/** The signed content of one copy of the feed, once its signature and issuer are checked. */
export interface VerifiedFeed {
  /** When the broker built it, epoch seconds (the signed `iat`). */
  iat: number;
  revoked: { jti: string; exp: number }[];
}

export interface RevocationWatcherOptions {
  url: string;
  /**
   * Checks the feed's `jwt` and returns its claims, or throws. `revocationFeedVerifier` builds one from the broker's
   * key and issuer; the interceptor passes its own.
   */
  verify: (jwt: string) => Promise<VerifiedFeed>;
  /** How often to poll (default 15 s). */
  pollMs?: number;
  /**
   * How old (from the broker's signed build time) the newest good copy may be before every check answers `stale`
   * (default 60 s). Leave room for the poll interval and for HTTP caches in front of the broker (the broker allows
   * 15 s, and builds the feed at most every 5 s).
   */
  maxStalenessMs?: number;
  /** Timeout of one fetch (default 5 s). Polls never overlap: the next is scheduled when one ends. */
  fetchTimeoutMs?: number;
  now?: () => number;
  onPoll?: (r: RevocationPollReport) => void;
}

// The feed is small (recent revocations only); a far larger answer is a fault or an attack, not a feed.
const MAX_FEED_BYTES = 4 * 1024 * 1024;

// What the service reads of the response: only the signed form. `revoked` and `generatedAt` beside it are for people.
const responseSchema = z.object({ jwt: z.string().min(1).max(MAX_FEED_BYTES) });

const claimsSchema = z.object({
  iat: z.number().int().nonnegative(),
  revoked: z.array(z.object({ jti: z.string().min(1).max(256), exp: z.number().int().nonnegative() })),
});

/**
 * The check of a signed feed: ES256 only, typed `timebox-revocations+jwt` (a grant token, typed `JWT`, is refused),
 * from `issuer`, unexpired, with `iat` and a well-formed `revoked` list.
 */
export function revocationFeedVerifier(
  key: VerificationKey,
  issuer: string,
  opts: { now?: () => number; clockToleranceSec?: number } = {},
): (jwt: string) => Promise<VerifiedFeed> {
  const now = opts.now ?? Date.now;
  return async (jwt) => {
    const options = {
      algorithms: ['ES256'],
      issuer,
      typ: REVOCATION_FEED_TYPE,
      requiredClaims: ['iat', 'exp'],
      currentDate: new Date(now()),
      clockTolerance: opts.clockToleranceSec ?? 5,
    };
    const payload = await verifyJwt(jwt, key, options);
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new Error(`claims are malformed: ${claims.error.issues[0]?.message ?? ''}`);
    return claims.data;
  };
}

/**
 * Keeps a copy of the broker's revocation feed, refreshed every `pollMs`. A failed poll keeps the last good copy;
 * once that copy is older than `maxStalenessMs` every check answers `stale` and the interceptor refuses calls,
 * because a revocation the service cannot see must not let a revoked token through for long.
 */
export class RevocationWatcher {
  private revoked = new Map<string, number>();
  /** The signed build time of the copy in hand (ms), capped at the time it was read: staleness counts from it. */
  private copyAtMs: number | undefined;
  /** The signed `iat` of the copy in hand: an older feed is never taken over it. */
  private copyIat = -1;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly pollMs: number;
  private readonly maxStalenessMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: RevocationWatcherOptions) {
    this.pollMs = opts.pollMs ?? 15_000;
    this.maxStalenessMs = opts.maxStalenessMs ?? 60_000;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    if (!(this.pollMs > 0) || !(this.maxStalenessMs > 0))
      throw new Error('revocation poll interval and max staleness must be positive');
    if (this.maxStalenessMs < this.pollMs)
      throw new Error(
        `revocation max staleness (${this.maxStalenessMs} ms) is shorter than the poll interval (${this.pollMs} ms): every call would be refused between polls`,
      );
  }

  /** Starts polling (the first poll at once). */
  start(): void {
    if (this.timer || this.inflight || this.stopped) return;
    void this.poll();
  }

  /** Stops polling; later checks answer from the last copy until it goes stale. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Number of entries in the current copy. */
  get size(): number {
    return this.revoked.size;
  }

  /**
   * Whether `jti` may be used. Before the first successful poll a check waits for the poll in flight, so a
   * freshly started server neither refuses its first calls needlessly nor lets them through unchecked.
   */
  async check(jti: string): Promise<RevocationStatus> {
    if (this.copyAtMs === undefined && this.inflight) await this.inflight;
    if (this.copyAtMs === undefined) return 'unavailable';
    const now = this.now();
    if (now - this.copyAtMs > this.maxStalenessMs) return 'stale';
    // A listed token is refused whatever its listed `exp`: past that time the token fails its own `exp` check anyway.
    return this.revoked.has(jti) ? 'revoked' : 'ok';
  }

  /** Polls once now (also used by tests and by `start`). */
  poll(): Promise<void> {
    if (this.inflight) return this.inflight;
    const run = this.fetchOnce()
      .then((feed) => {
        // A copy older than the one in hand is a replay (or a cache serving an old answer): taking it could bring
        // back a token revoked since, and would make an old list look fresh.
        if (feed.iat < this.copyIat)
          throw new Error(`revocation feed built at ${feed.iat} is older than the copy in hand (${this.copyIat})`);
        const next = new Map<string, number>();
        for (const e of feed.revoked) next.set(e.jti, Math.max(e.exp, next.get(e.jti) ?? 0));
        this.revoked = next;
        this.copyIat = feed.iat;
        this.copyAtMs = Math.min(feed.iat * 1000, this.now());
        this.opts.onPoll?.({ ok: true, entries: next.size });
      })
      .catch((e: unknown) => {
        this.opts.onPoll?.({ ok: false, error: e instanceof Error ? e.message : String(e) });
      })
      .finally(() => {
        this.inflight = undefined;
        this.schedule();
      });
    this.inflight = run;
    return run;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    // Until a first copy is in, every call is refused, so retry sooner than the regular interval.
    const delay = this.copyAtMs === undefined ? Math.min(this.pollMs, 1_000) : this.pollMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delay);
    // The watcher must never keep a process alive on its own.
    this.timer.unref();
  }

  private async fetchOnce(): Promise<VerifiedFeed> {
    const res = await fetch(this.opts.url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.fetchTimeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`revocation feed answered HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_FEED_BYTES) {
      await res.body?.cancel();
      throw new Error(`revocation feed is larger than ${MAX_FEED_BYTES} bytes`);
    }
    const text = await res.text();
    if (text.length > MAX_FEED_BYTES) throw new Error(`revocation feed is larger than ${MAX_FEED_BYTES} bytes`);
    const parsed = responseSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`revocation feed is malformed: ${parsed.error.issues[0]?.message ?? ''}`);
    try {
      return await this.opts.verify(parsed.data.jwt);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      throw new Error(
        `revocation feed signature check failed${typeof code === 'string' ? ` (${code})` : ''}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}
