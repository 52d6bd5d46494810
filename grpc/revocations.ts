import { z } from 'zod';
import { feedEtag, LONG_POLL_HEADER, MAX_LONG_POLL_S, REVOCATION_FEED_TYPE } from '../adapters/grpc/revocations';
import { type VerificationKey, verifyJwt } from './jwt';

/** Why a token may not be used, as far as the revocation feed knows. */
export type RevocationStatus = 'ok' | 'revoked' | 'stale' | 'unavailable';

/** What a poll of the feed did, for logs and the example server's output. */
export interface RevocationPollReport {
  ok: boolean;
  entries?: number;
  error?: string;
  /** True when this answer came from a long poll the broker held until the feed changed (the push path). */
  pushed?: boolean;
  /** True when the broker answered 304: the list held is still the list (the copy gets no fresher). */
  unchanged?: boolean;
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
  /** Timeout of one fetch (default 5 s), on top of the hold of a long poll. Requests never overlap. */
  fetchTimeoutMs?: number;
  /**
   * Ask the broker to hold each request until the feed changes (default true): `?wait=` with the tag of the list
   * held. A broker that holds it (the local one) says so in a header, and the watcher asks again at once after each
   * answer, so a revocation arrives within a build and a round trip. A broker that does not (the deployed API)
   * answers at once, and the watcher polls every `pollMs`. Either way only a signed, newer-or-same feed is taken.
   */
  push?: boolean;
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
  /** The tag of the list in hand, sent as If-None-Match while the copy is young enough to be kept. */
  private etag: string | undefined;
  /** Whether the broker held the last request (it long-polls); unknown (undefined) before the first answer. */
  private holds: boolean | undefined;
  /** Failed requests in a row, for the reconnect backoff of the push path. */
  private failures = 0;
  /** The server answered a `wait` request with a 4xx: it is asked plainly from then on. */
  private waitRefused = false;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly pollMs: number;
  private readonly maxStalenessMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly push: boolean;
  private readonly now: () => number;

  constructor(private readonly opts: RevocationWatcherOptions) {
    this.pollMs = opts.pollMs ?? 15_000;
    this.maxStalenessMs = opts.maxStalenessMs ?? 60_000;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 5_000;
    this.push = opts.push ?? true;
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
    // A held request would otherwise stay open for up to its whole wait.
    this.controller?.abort();
  }

  /** Whether the broker holds requests until the feed changes (known after the first answer). */
  get pushing(): boolean {
    return this.holds === true;
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
    const startedMs = Date.now();
    const run = this.fetchOnce()
      .then((answer) => {
        this.failures = 0;
        if (answer.kind === 'unchanged') {
          this.opts.onPoll?.({ ok: true, entries: this.revoked.size, unchanged: true, pushed: this.holds === true });
          return;
        }
        const feed = answer.feed;
        // A copy older than the one in hand is a replay (or a cache serving an old answer): taking it could bring
        // back a token revoked since, and would make an old list look fresh.
        if (feed.iat < this.copyIat)
          throw new Error(`revocation feed built at ${feed.iat} is older than the copy in hand (${this.copyIat})`);
        const next = new Map<string, number>();
        for (const e of feed.revoked) next.set(e.jti, Math.max(e.exp, next.get(e.jti) ?? 0));
        this.revoked = next;
        this.copyIat = feed.iat;
        this.copyAtMs = Math.min(feed.iat * 1000, this.now());
        // The tag is computed here from the verified list, never taken from the answer's (unsigned) header.
        this.etag = feedEtag(feed.revoked);
        this.opts.onPoll?.({ ok: true, entries: next.size, pushed: this.holds === true });
      })
      .catch((e: unknown) => {
        // A request cut short by stop() is no failure of the broker.
        if (this.stopped) return;
        this.failures++;
        this.opts.onPoll?.({ ok: false, error: e instanceof Error ? e.message : String(e) });
      })
      .finally(() => {
        this.inflight = undefined;
        this.controller = undefined;
        this.schedule(Date.now() - startedMs);
      });
    this.inflight = run;
    return run;
  }

  private schedule(elapsedMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    let delay: number;
    if (this.failures > 0 && this.holds) {
      // The broker that held requests went away: reconnect soon, backing off (with jitter) up to the poll interval,
      // so a restarting broker is not hammered by every service at once. Staleness keeps counting meanwhile.
      const base = Math.min(this.pollMs, 250 * 2 ** Math.min(this.failures - 1, 10));
      delay = base / 2 + Math.random() * (base / 2);
    } else if (this.failures === 0 && this.holds) {
      // Held until something changed (or the hold ran out): ask again at once. A broker that claims to hold but
      // answers at once cannot make this spin: at most ten requests a second.
      delay = Math.max(0, 100 - elapsedMs);
    } else {
      // Until a first copy is in, every call is refused, so retry sooner than the regular interval.
      delay = this.copyAtMs === undefined ? Math.min(this.pollMs, 1_000) : this.pollMs;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delay);
    // The watcher must never keep a process alive on its own.
    this.timer.unref();
  }

  /**
   * The request to make now: held (`wait`) when pushing, conditional (If-None-Match) only while the copy in hand is
   * young enough that a 304 may leave it in place; past half the staleness allowance the feed is fetched in full,
   * so a fresh signed `iat` arrives before the copy goes stale.
   */
  private request(): { url: string; headers: Record<string, string>; holdMs: number } {
    const headers: Record<string, string> = { accept: 'application/json', 'cache-control': 'no-cache' };
    const ageMs = this.copyAtMs === undefined ? Number.POSITIVE_INFINITY : this.now() - this.copyAtMs;
    const keepForMs = this.maxStalenessMs / 2 - ageMs;
    const conditional = this.etag !== undefined && keepForMs >= 1_000;
    if (conditional) headers['if-none-match'] = this.etag as string;
    if (!this.push || this.waitRefused) return { url: this.opts.url, headers, holdMs: 0 };
    // Without If-None-Match the broker answers at once; with it, it holds until the list changes or `wait` ends,
    // which must come before the copy has to be fetched in full.
    const waitS = conditional ? Math.max(1, Math.min(MAX_LONG_POLL_S, Math.floor(keepForMs / 1000))) : 0;
    const url = new URL(this.opts.url);
    url.searchParams.set('wait', String(waitS));
    return { url: url.toString(), headers, holdMs: waitS * 1000 };
  }

  private async fetchOnce(): Promise<{ kind: 'unchanged' } | { kind: 'feed'; feed: VerifiedFeed }> {
    const { url, headers, holdMs } = this.request();
    const controller = new AbortController();
    this.controller = controller;
    const res = await fetch(url, {
      headers,
      redirect: 'error',
      signal: AbortSignal.any([controller.signal, AbortSignal.timeout(holdMs + this.fetchTimeoutMs)]),
    });
    if (url !== this.opts.url && res.status >= 400 && res.status < 500) {
      // A server that does not know `wait` (a static copy of the feed, an older broker) may refuse it: from now on
      // ask it plainly, and poll.
      await res.body?.cancel();
      this.waitRefused = true;
      this.holds = false;
      return this.fetchOnce();
    }
    if (this.push) this.holds = res.headers.has(LONG_POLL_HEADER);
    if (res.status === 304 && headers['if-none-match'] !== undefined) {
      await res.body?.cancel();
      return { kind: 'unchanged' };
    }
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
      return { kind: 'feed', feed: await this.opts.verify(parsed.data.jwt) };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      throw new Error(
        `revocation feed signature check failed${typeof code === 'string' ? ` (${code})` : ''}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}
