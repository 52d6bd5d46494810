import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REVOCATION_FEED_TYPE } from '../../../adapters/grpc/revocations';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import {
  type RevocationPollReport,
  RevocationWatcher,
  type RevocationWatcherOptions,
  revocationFeedVerifier,
} from '../../../grpc/revocations';
import { stubGlobal, unstubAllGlobals } from '../../helpers/runner';
import { ISSUER } from './fixtures';

const URL_ = 'http://feed.test/.well-known/timebox/revocations.json';

/** A fetch stand-in answering from a queue: a body (200), a status code, or a thrown error. */
function fetchDummy(...answers: (unknown | number | Error)[]) {
  const queue = [...answers];
  const fn = jest.fn(async () => {
    const next = queue.length > 1 ? queue.shift() : queue[0];
    if (next instanceof Error) throw next;
    if (typeof next === 'number') return new Response('nope', { status: next });
    return new Response(typeof next === 'string' ? next : JSON.stringify(next), { status: 200 });
  });
  stubGlobal('fetch', fn);
  return fn;
}

let signer: LocalTokenSigner;
let other: LocalTokenSigner;
let key: Record<string, string>;
beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
  other = await LocalTokenSigner.generate();
  key = (await signer.jwks()).keys[0] as Record<string, string>;
});

/** The feed as the broker serves it, built (signed) at `atMs`; `by` and `iss` change who signed it. */
async function feedDummy(
  atMs: number,
  jtis: string[],
  opts: { by?: LocalTokenSigner; iss?: string; typ?: string } = {},
) {
  const revoked = jtis.map((jti) => ({ jti, exp: 1_795_514_700 }));
  const iat = Math.floor(atMs / 1000);
  const jwt = await (opts.by ?? signer).sign(
    { iss: opts.iss ?? ISSUER, iat, exp: iat + 300, revoked },
    { typ: opts.typ ?? REVOCATION_FEED_TYPE },
  );
  return { revoked, generatedAt: new Date(atMs).toISOString(), jwt };
}

/** A watcher checking feeds against the test key, on a hand-driven clock. */
function watcherOn(now: { t: number }, opts: Partial<RevocationWatcherOptions> = {}) {
  return new RevocationWatcher({
    url: URL_,
    verify: revocationFeedVerifier(key, ISSUER, { now: () => now.t }),
    now: () => now.t,
    ...opts,
  });
}

afterEach(() => {
  unstubAllGlobals();
});

function watcher(now: { t: number }, polls: RevocationPollReport[] = []) {
  // A huge interval: these tests poll by hand, the timer must never fire on its own.
  return watcherOn(now, { pollMs: 3_600_000, maxStalenessMs: 3_600_000 * 2, onPoll: (r) => polls.push(r) });
}

describe('Class: RevocationWatcher', () => {
  describe('Method: check', () => {
    it('answers revoked for a listed jti and ok for others', async () => {
      fetchDummy(await feedDummy(0, ['tb-1', 'tb-2']));
      const w = watcher({ t: 0 });
      await w.poll();
      expect(await w.check('tb-2')).toBe('revoked');
      expect(await w.check('tb-3')).toBe('ok');
      expect(w.size).toBe(2);
      w.stop();
    });

    it('answers unavailable before any copy of the feed was read', async () => {
      fetchDummy(503);
      const w = watcher({ t: 0 });
      await w.poll();
      expect(await w.check('tb-1')).toBe('unavailable');
      w.stop();
    });

    it('waits for the first poll in flight instead of refusing at once', async () => {
      fetchDummy(await feedDummy(0, ['tb-1']));
      const w = watcher({ t: 0 });
      w.start();
      expect(await w.check('tb-1')).toBe('revoked');
      w.stop();
    });

    it('keeps the last good copy through failed polls, then answers stale past the max staleness', async () => {
      // Prepare
      const now = { t: 0 };
      const polls: RevocationPollReport[] = [];
      const fetch = fetchDummy(
        await feedDummy(0, ['tb-1']),
        500,
        new TypeError('fetch failed'),
        '{"revoked": "all"}',
        'x'.repeat(10),
      );
      const w = watcherOn(now, { pollMs: 15_000, maxStalenessMs: 60_000, onPoll: (r) => polls.push(r) });
      await w.poll();
      // Act: four failed polls, each a different fault
      for (let i = 0; i < 4; i++) {
        now.t += 15_000;
        await w.poll();
      }
      // Assess
      expect(fetch).toHaveBeenCalledTimes(5);
      expect(polls.map((p) => p.ok)).toEqual([true, false, false, false, false]);
      expect(polls[1]?.error).toMatch(/HTTP 500/);
      expect(polls[3]?.error).toMatch(/malformed/);
      expect(now.t).toBe(60_000);
      expect(await w.check('tb-1')).toBe('revoked');
      expect(await w.check('tb-9')).toBe('ok');
      now.t += 1;
      expect(await w.check('tb-9')).toBe('stale');
      w.stop();
    });

    it('replaces the copy on each good poll, so an entry the broker dropped is dropped here too', async () => {
      fetchDummy(await feedDummy(0, ['tb-1']), await feedDummy(1_000, ['tb-2']));
      const now = { t: 0 };
      const w = watcher(now);
      await w.poll();
      now.t = 1_000;
      await w.poll();
      expect(await w.check('tb-1')).toBe('ok');
      expect(await w.check('tb-2')).toBe('revoked');
      w.stop();
    });
  });

  describe('Method: poll (signed feed)', () => {
    it.each([
      ['signed by another key', () => feedDummy(0, [], { by: other }), /signature check failed/],
      ['from another issuer', () => feedDummy(0, [], { iss: 'https://evil.test' }), /signature check failed.*iss/],
      ['typed as a grant token', () => feedDummy(0, [], { typ: 'JWT' }), /signature check failed.*typ/],
      ['expired', () => feedDummy(-400_000, []), /signature check failed.*exp/],
    ])('refuses a feed %s and keeps refusing calls', async (_, make, error) => {
      // Prepare
      const polls: RevocationPollReport[] = [];
      fetchDummy(await make());
      const w = watcher({ t: 0 }, polls);
      // Act
      await w.poll();
      // Assess
      expect(polls[0]).toMatchObject({ ok: false, error: expect.stringMatching(error) });
      expect(await w.check('tb-1')).toBe('unavailable');
      w.stop();
    });

    it('refuses the unsigned form of the feed', async () => {
      const polls: RevocationPollReport[] = [];
      const { revoked, generatedAt } = await feedDummy(0, ['tb-1']);
      fetchDummy({ revoked, generatedAt });
      const w = watcher({ t: 0 }, polls);
      await w.poll();
      expect(polls[0]).toMatchObject({ ok: false, error: expect.stringMatching(/malformed/) });
      expect(await w.check('tb-1')).toBe('unavailable');
      w.stop();
    });

    it('never trades its copy for an older one, which could bring a revoked token back', async () => {
      // Prepare: a copy built at 20 s lists tb-1; a replayed copy built at 10 s does not
      const now = { t: 30_000 };
      const polls: RevocationPollReport[] = [];
      fetchDummy(await feedDummy(20_000, ['tb-1']), await feedDummy(10_000, []));
      const w = watcher(now, polls);
      // Act
      await w.poll();
      await w.poll();
      // Assess
      expect(polls[1]).toMatchObject({ ok: false, error: expect.stringMatching(/older than the copy in hand/) });
      expect(await w.check('tb-1')).toBe('revoked');
      w.stop();
    });

    it('counts staleness from when the broker built the copy, not from when it was fetched', async () => {
      // Prepare: a copy 50 s old when fetched (a cache in between kept it)
      const now = { t: 100_000 };
      fetchDummy(await feedDummy(50_000, []));
      const w = watcherOn(now, { pollMs: 15_000, maxStalenessMs: 60_000 });
      await w.poll();
      // Act + Assess: fresh for 10 s more, then stale
      now.t = 110_000;
      expect(await w.check('tb-1')).toBe('ok');
      now.t = 110_001;
      expect(await w.check('tb-1')).toBe('stale');
      w.stop();
    });

    it('counts a copy built ahead of its own clock as built now', async () => {
      // Broker clock 30 s ahead: the copy must not stay fresh for 30 s longer than the max staleness
      const now = { t: 100_000 };
      fetchDummy(await feedDummy(130_000, []));
      const w = watcherOn(now, { pollMs: 15_000, maxStalenessMs: 60_000 });
      await w.poll();
      now.t = 160_000;
      expect(await w.check('tb-1')).toBe('ok');
      now.t = 160_001;
      expect(await w.check('tb-1')).toBe('stale');
      w.stop();
    });
  });

  describe('Method: constructor', () => {
    it('refuses a max staleness shorter than the poll interval, which would refuse every call between polls', () => {
      expect(() => watcherOn({ t: 0 }, { pollMs: 15_000, maxStalenessMs: 10_000 })).toThrow(
        /shorter than the poll interval/,
      );
    });
    it.each([0, -1, Number.NaN])('refuses a poll interval of %s', (pollMs) => {
      expect(() => watcherOn({ t: 0 }, { pollMs })).toThrow(/must be positive/);
    });
  });
});
