import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  LONG_POLL_HEADER,
  REVOCATION_FEED_PATH,
  type RevocationFeed,
  type RevokedToken,
  signRevocationFeed,
} from '../../../adapters/grpc/revocations';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import type { IssuedCredential } from '../../../core/ports';
import { principal } from '../../../core/principal';
import { type TimeboxInterceptor, timeboxAuth } from '../../../grpc/interceptor';
import { type RevocationPollReport, RevocationWatcher, revocationFeedVerifier } from '../../../grpc/revocations';
import type { LocalBroker } from '../../../local/broker';
import { RevocationPush } from '../../../local/revocation-push';
import { startTestBroker, type TestBroker } from '../../helpers/broker';
import { expectWith } from '../../helpers/runner';

/**
 * The push path of the revocation feed: a long poll the broker holds until a revocation is recorded, answered with
 * the signed feed itself. Against the real local broker (latency, bounds, shutdown) and against hand-made brokers
 * (one that goes away, one that pushes forged or replayed feeds, one that does not hold requests).
 */

const METHOD = '/acme.user.v1.UserService/GetUser';
const alice = principal({ id: 'alice@corp.com' });

/** Polls `f` every 10 ms until it returns true; fails after `ms`. */
async function until(f: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await f()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const bearer = (token: string) => [`Bearer ${token}`];

describe('the local broker pushes revocations', () => {
  let test: TestBroker;
  let broker: LocalBroker;
  const interceptors: TimeboxInterceptor[] = [];

  beforeAll(async () => {
    test = await startTestBroker('push');
    broker = test.broker;
  });

  afterAll(async () => {
    for (const i of interceptors) i.close();
    await test?.stop();
  });

  async function token(): Promise<{ grantId: string; token: string }> {
    const { grant } = await broker.runtime.service.request(alice, {
      target: 'user-service',
      scopes: [METHOD],
      duration: 10 * 60_000,
      reason: 'push test',
    });
    const { credential } = await broker.runtime.service.issueCredentials(grant.id, alice, 'token');
    return { grantId: grant.id, token: (credential as IssuedCredential & { secret: { token: string } }).secret.token };
  }

  it('refuses a revoked token within a second of the revoke returning, with only the broker URL configured', async () => {
    // Prepare: a poll interval far beyond the test, so only the push can deliver in time.
    const auth = timeboxAuth({ broker: broker.url, audience: 'user-service', revocationPollMs: 60_000 });
    interceptors.push(auth);
    const t = await token();
    expect(await auth.authorize(bearer(t.token), METHOD)).toMatchObject({ result: 'ok' });
    await until(() => broker.runtime.revocationPush.waiting > 0, 5_000, 'the watcher to hold a request');
    expect(auth.revocations?.pushing).toBe(true);

    // Act
    await broker.runtime.service.revoke(t.grantId, alice, 'push test');
    const returned = Date.now();
    await until(
      async () => (await auth.authorize(bearer(t.token), METHOD)).result !== 'ok',
      1_000,
      'the interceptor to refuse the revoked token',
    );

    // Assess
    expect(Date.now() - returned).toBeLessThan(1_000);
    expect(await auth.authorize(bearer(t.token), METHOD)).toMatchObject({
      result: 'unauthenticated',
      reason: 'revoked',
    });
  });

  it('answers 304 with the list tag on an unchanged list, and refuses a malformed wait', async () => {
    const url = `${broker.url}${REVOCATION_FEED_PATH}`;
    const first = await fetch(url);
    const etag = first.headers.get('etag') as string;
    expect(first.status).toBe(200);
    expect(etag).toMatch(/^W\/"/);
    // The deployed route (the API): no hold, a plain conditional answer.
    const plain = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(plain.status).toBe(304);
    expect(plain.headers.has(LONG_POLL_HEADER)).toBe(false);
    // The held route: 304 once the wait runs out.
    const started = Date.now();
    const held = await fetch(`${url}?wait=1`, { headers: { 'if-none-match': etag } });
    expect(held.status).toBe(304);
    expect(held.headers.get(LONG_POLL_HEADER)).toBe('25');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    for (const bad of ['x', '-1', '1.5', '99999'])
      expectWith((await fetch(`${url}?wait=${bad}`)).status, bad).toBe(400);
    expect((await fetch(`${url}?wait=1&wait=2`)).status).toBe(400);
  });
});

/** A broker stand-in: the push module (or a hand-written answer) over node:http on a port that survives restarts. */
class FeedServer {
  server: Server | undefined;
  port = 0;
  revoked: RevokedToken[] = [];
  push: RevocationPush;
  /** Replaces the held answer: what a hostile broker (or a man in the middle) would push. */
  override: (() => Promise<RevocationFeed>) | undefined;
  constructor(
    readonly signer: LocalTokenSigner,
    readonly issuer: string,
  ) {
    this.push = this.newPush();
  }
  private newPush(): RevocationPush {
    return new RevocationPush({
      build: (now) => signRevocationFeed(this.revoked, this.signer, this.issuer, now),
      now: () => new Date(),
      buildReuseMs: 0,
    });
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}${REVOCATION_FEED_PATH}`;
  }
  async start(): Promise<void> {
    this.push = this.newPush();
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (this.override && req.url?.includes('wait=')) {
        // Hold the request, then answer with the given feed as a pushing broker would.
        const answer = this.override;
        setTimeout(() => {
          void answer().then((feed) =>
            res
              .writeHead(200, { 'content-type': 'application/json', [LONG_POLL_HEADER]: '25' })
              .end(JSON.stringify(feed)),
          );
        }, 50);
        return;
      }
      if (this.push.handle(req, res)) return;
      void signRevocationFeed(this.revoked, this.signer, this.issuer, new Date()).then((feed) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(feed)),
      );
    });
    await new Promise<void>((r) => this.server?.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    this.push.close();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
  revoke(jti: string): void {
    this.revoked = [...this.revoked, { jti, exp: Math.floor(Date.now() / 1000) + 600 }];
    this.push.notify();
  }
}

describe('RevocationWatcher on the push path', () => {
  const ISSUER = 'http://127.0.0.1:1';
  let signer: LocalTokenSigner;
  let forger: LocalTokenSigner;
  let key: Record<string, string>;
  let server: FeedServer;
  let watcher: RevocationWatcher | undefined;
  const reports: RevocationPollReport[] = [];

  beforeAll(async () => {
    signer = await LocalTokenSigner.generate();
    forger = await LocalTokenSigner.generate();
    key = (await signer.jwks()).keys[0] as Record<string, string>;
  });

  afterEach(async () => {
    watcher?.stop();
    watcher = undefined;
    reports.length = 0;
    await server?.stop();
  });

  function watch(url: string, o: { pollMs?: number; maxStalenessMs?: number } = {}): RevocationWatcher {
    watcher = new RevocationWatcher({
      url,
      verify: revocationFeedVerifier(key, ISSUER),
      pollMs: o.pollMs ?? 30_000,
      maxStalenessMs: o.maxStalenessMs ?? 60_000,
      onPoll: (r) => reports.push(r),
    });
    watcher.start();
    return watcher;
  }

  it('reconnects with backoff to a broker that went away mid-hold, fails closed once stale, and recovers', async () => {
    // Prepare
    server = new FeedServer(signer, ISSUER);
    await server.start();
    const w = watch(server.url, { pollMs: 1_000, maxStalenessMs: 4_000 });
    await until(() => server.push.waiting === 1, 3_000, 'a held request');
    expect(await w.check('tb-a')).toBe('ok');

    // Act: the broker goes away with the request held.
    await server.stop();
    await until(() => reports.filter((r) => !r.ok).length >= 2, 3_000, 'failed reconnects');

    // Assess: still answering from the last copy until it is stale, then refusing.
    await until(async () => (await w.check('tb-a')) === 'stale', 6_000, 'the copy to go stale');
    const failures = reports.filter((r) => !r.ok).length;
    // Backoff: from 250 ms doubling up to the 1 s poll interval, so a handful of attempts in ~4 s, not hundreds.
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(failures).toBeLessThan(20);

    // The broker comes back on the same port with a revocation made while it was away.
    server.revoked = [{ jti: 'tb-a', exp: Math.floor(Date.now() / 1000) + 600 }];
    await server.start();
    await until(async () => (await w.check('tb-a')) === 'revoked', 3_000, 'the reconnect');
    await until(() => server.push.waiting === 1, 3_000, 'a held request again');
    expect(w.pushing).toBe(true);
  });

  it('refuses a pushed feed signed with another key and keeps the list in hand', async () => {
    server = new FeedServer(signer, ISSUER);
    server.revoked = [{ jti: 'tb-revoked', exp: Math.floor(Date.now() / 1000) + 600 }];
    await server.start();
    const w = watch(server.url);
    await until(() => server.push.waiting === 1, 3_000, 'a held request');
    expect(await w.check('tb-revoked')).toBe('revoked');

    // Act: the held request is answered with a feed that drops the entry, signed by a forger.
    server.override = () => signRevocationFeed([], forger, ISSUER, new Date());
    server.push.notify();
    server.push.close();
    await until(() => reports.some((r) => !r.ok), 3_000, 'the forged push');

    // Assess
    expect(reports.find((r) => !r.ok)?.error).toMatch(/signature check failed/);
    expect(await w.check('tb-revoked')).toBe('revoked');
  });

  it('refuses a replayed older signed feed pushed after a newer one', async () => {
    // Prepare: a genuine feed from before the revocation, kept by an attacker.
    const old = await signRevocationFeed([], signer, ISSUER, new Date(Date.now() - 10_000));
    server = new FeedServer(signer, ISSUER);
    await server.start();
    const w = watch(server.url);
    await until(() => server.push.waiting === 1, 3_000, 'a held request');
    server.revoke('tb-x');
    await until(async () => (await w.check('tb-x')) === 'revoked', 1_000, 'the genuine push');

    // Act: the next held request is answered with the old copy (no entry for tb-x).
    server.override = async () => old;
    await until(() => reports.some((r) => !r.ok), 3_000, 'the replayed push');

    // Assess
    expect(reports.find((r) => !r.ok)?.error).toMatch(/older than the copy in hand/);
    expect(await w.check('tb-x')).toBe('revoked');
  });

  it('falls back to polling a broker that does not hold requests', async () => {
    // Prepare: a plain feed server (like the deployed API): answers at once, no hold header.
    let revoked: RevokedToken[] = [];
    const plain = createServer((_req, res) => {
      void signRevocationFeed(revoked, signer, ISSUER, new Date()).then((feed) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(feed)),
      );
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}${REVOCATION_FEED_PATH}`;
    try {
      const w = watch(url, { pollMs: 300 });
      await until(() => reports.some((r) => r.ok), 3_000, 'a first copy');
      expect(w.pushing).toBe(false);

      // Act
      revoked = [{ jti: 'tb-p', exp: Math.floor(Date.now() / 1000) + 600 }];
      await until(async () => (await w.check('tb-p')) === 'revoked', 2_000, 'the next poll');

      // Assess: polled at its interval, not in a loop.
      const polls = reports.length;
      await new Promise((r) => setTimeout(r, 700));
      expect(reports.length - polls).toBeLessThanOrEqual(3);
      expect(reports.every((r) => !r.pushed)).toBe(true);
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });

  it('bounds held requests and answers them all on close', async () => {
    const push = new RevocationPush({
      build: (now) => signRevocationFeed([], signer, ISSUER, now),
      now: () => new Date(),
      maxWaiters: 2,
    });
    const http = createServer((req, res) => {
      if (!push.handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}${REVOCATION_FEED_PATH}`;
    try {
      const etag = (await fetch(`${url}?wait=0`)).headers.get('etag') as string;
      const ac = new AbortController();
      const gone = fetch(`${url}?wait=25`, { headers: { 'if-none-match': etag }, signal: ac.signal }).catch(() => 0);
      const held = fetch(`${url}?wait=25`, { headers: { 'if-none-match': etag } });
      await until(() => push.waiting === 2, 3_000, 'two held requests');
      const third = await fetch(`${url}?wait=25`, { headers: { 'if-none-match': etag } });
      expect(third.status).toBe(503);
      expect(((await third.json()) as { error: { code: string } }).error.code).toBe('REVOCATIONS.TOO_MANY_WAITERS');

      // A client that goes away frees its slot at once.
      ac.abort();
      await gone;
      await until(() => push.waiting === 1, 2_000, 'the slot to be freed');

      // Closing answers what is held without waiting for its time.
      const started = Date.now();
      push.close();
      expect((await held).status).toBe(304);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(push.waiting).toBe(0);
      expect((await fetch(`${url}?wait=5`)).status).toBe(503);
    } finally {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});
