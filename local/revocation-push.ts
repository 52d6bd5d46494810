import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  etagMatches,
  feedEtag,
  LONG_POLL_HEADER,
  MAX_LONG_POLL_S,
  REVOCATION_FEED_PATH,
  type RevocationFeed,
} from '../adapters/grpc/revocations';
import { json } from '../api/http';
import type { Grant } from '../core/grant/state';
import type { ProjectionStore } from '../core/ports';

export interface RevocationPushOptions {
  /** Builds and signs the feed from the store (uncached: this module decides when a build is reused). */
  build: (now: Date) => Promise<RevocationFeed>;
  now: () => Date;
  /** Requests held at once (default 1,000); more are told to come back (503), and fall back to polling. */
  maxWaiters?: number;
  /** Longest hold, in seconds (default and ceiling MAX_LONG_POLL_S). */
  maxWaitS?: number;
  /** How long one build is reused while nothing was revoked (default 2 s, as the API's own cache). */
  buildReuseMs?: number;
}

/**
 * The push path of the revocation feed in the local broker: a long poll on the feed route itself.
 * `GET <feed>?wait=<s>` with `If-None-Match: <tag of the list held>` is held until a revocation is recorded and
 * the list differs (answered 200 with the whole signed feed, as a plain GET), or until `wait` runs out (304).
 * Nothing unsigned is ever pushed: a held request answers with the feed document itself, which the service verifies
 * and checks against rollback as any polled copy. Without `wait` the request is the API's plain route.
 *
 * Bounded: at most `maxWaiters` held requests, each at most `maxWaitS`; a client that goes away frees its slot at
 * once; `close()` answers every held request so that shutdown never waits for them.
 */
export class RevocationPush {
  private version = 0;
  private readonly waiters = new Set<() => void>();
  private built: { version: number; atMs: number; feed: Promise<RevocationFeed> } | undefined;
  private closed = false;
  private readonly maxWaiters: number;
  private readonly maxWaitS: number;
  private readonly reuseMs: number;

  constructor(private readonly opts: RevocationPushOptions) {
    this.maxWaiters = opts.maxWaiters ?? 1_000;
    this.maxWaitS = Math.min(opts.maxWaitS ?? MAX_LONG_POLL_S, MAX_LONG_POLL_S);
    this.reuseMs = opts.buildReuseMs ?? 2_000;
    if (!(this.maxWaiters >= 0) || !(this.maxWaitS >= 1)) throw new Error('RevocationPush: bad limits');
  }

  /** Requests held now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** The feed's source changed (a revocation was recorded): every held request looks again. */
  notify(): void {
    this.version++;
    for (const wake of [...this.waiters]) wake();
  }

  /** Answers every held request now (304: the service asks again, elsewhere or later) and holds no more. */
  close(): void {
    this.closed = true;
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * Handles `GET <feed path>?wait=...`; returns false for anything else (the API answers it). The Host check of
   * the HTTP adapter runs before this.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if (q === -1 || url.slice(0, q) !== REVOCATION_FEED_PATH || req.method !== 'GET') return false;
    const params = new URLSearchParams(url.slice(q + 1));
    const waits = params.getAll('wait');
    if (waits.length === 0) return false;
    const requestId = `push-${Date.now().toString(36)}`;
    const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
      send(res, json(status, { error: { code, message, requestId } }, { requestId, headers }));
    const raw = waits[0] as string;
    if (waits.length > 1 || !/^\d{1,4}$/.test(raw)) {
      fail(400, 'REVOCATIONS.BAD_WAIT', 'wait must be one whole number of seconds');
      return true;
    }
    if (this.closed) {
      fail(503, 'REVOCATIONS.CLOSING', 'the broker is stopping', { 'retry-after': '1' });
      return true;
    }
    if (this.waiters.size >= this.maxWaiters) {
      fail(503, 'REVOCATIONS.TOO_MANY_WAITERS', 'too many services are waiting; poll instead', { 'retry-after': '5' });
      return true;
    }
    const waitS = Math.min(Number(raw), this.maxWaitS);
    const inm = req.headers['if-none-match'];
    void this.hold(res, waitS, typeof inm === 'string' ? inm : undefined, requestId);
    return true;
  }

  private async hold(res: ServerResponse, waitS: number, inm: string | undefined, requestId: string): Promise<void> {
    const headers = (etag: string) => ({ etag, [LONG_POLL_HEADER]: String(this.maxWaitS) });
    const deadline = Date.now() + waitS * 1000;
    let gone = false;
    res.once('close', () => {
      gone = true;
    });
    try {
      for (;;) {
        // Read the version before building: a revocation recorded during the build wakes the next wait.
        const seen = this.version;
        const feed = await this.current();
        const etag = feedEtag(feed.revoked);
        if (gone) return;
        if (!etagMatches(inm, etag)) {
          send(res, json(200, feed, { requestId, headers: headers(etag) }));
          return;
        }
        const left = deadline - Date.now();
        if (left <= 0 || this.closed) {
          send(res, { ...json(304, null, { requestId, headers: headers(etag) }), body: '' });
          return;
        }
        if (this.version === seen) await this.waitForChange(left, res);
        if (gone) return;
      }
    } catch {
      fail500(res, requestId);
    }
  }

  /** Resolves on the next notify or close, when `ms` have passed, or when the client goes away. */
  private waitForChange(ms: number, res: ServerResponse): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        res.off('close', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.waiters.add(wake);
      res.once('close', wake);
    });
  }

  /** One build per revocation (shared by every held request it wakes), reused for `buildReuseMs` otherwise. */
  private current(): Promise<RevocationFeed> {
    const nowMs = this.opts.now().getTime();
    const b = this.built;
    if (b && b.version === this.version && nowMs - b.atMs >= 0 && nowMs - b.atMs < this.reuseMs) return b.feed;
    const entry = { version: this.version, atMs: nowMs, feed: this.opts.build(new Date(nowMs)) };
    this.built = entry;
    entry.feed.catch(() => {
      if (this.built === entry) this.built = undefined;
    });
    return entry.feed;
  }
}

function send(res: ServerResponse, answer: { status: number; headers: Record<string, string>; body: string }): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

function fail500(res: ServerResponse, requestId: string): void {
  send(
    res,
    json(
      503,
      { error: { code: 'REVOCATIONS.UNAVAILABLE', message: 'the feed could not be built', requestId } },
      {
        requestId,
        headers: { 'retry-after': '1' },
      },
    ),
  );
}

/**
 * The projection store, telling `push` whenever a revoked gRPC grant is written: the feed is built from these
 * views, so once the write is done a new build lists the grant. Expired grants are not in the feed (no token
 * outlives its grant), so they need no notice.
 */
export function notifyingProjections(inner: ProjectionStore, onRevoked: (g: Grant) => void): ProjectionStore {
  // Every other method is the store's own, reached through the prototype: nothing is wrapped or bound per call.
  const put = inner.put.bind(inner);
  return Object.create(inner, {
    put: {
      value: async (view: Grant, published?: { from: number; to: number }) => {
        await put(view, published);
        if (view.status === 'revoked' && view.target.kind === 'grpc') onRevoked(view);
      },
    },
  }) as ProjectionStore;
}
