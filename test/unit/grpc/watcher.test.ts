import { afterEach, describe, expect, it, vi } from 'vitest';
import { type RevocationPollReport, RevocationWatcher } from '../../../grpc/revocations';

const URL_ = 'http://feed.test/.well-known/timebox/revocations.json';

/** A fetch stand-in answering from a queue: a body (200), a status code, or a thrown error. */
function fetchDummy(...answers: (unknown | number | Error)[]) {
  const queue = [...answers];
  const fn = vi.fn(async () => {
    const next = queue.length > 1 ? queue.shift() : queue[0];
    if (next instanceof Error) throw next;
    if (typeof next === 'number') return new Response('nope', { status: next });
    return new Response(typeof next === 'string' ? next : JSON.stringify(next), { status: 200 });
  });
  vi.stubGlobal('fetch', fn);
  return fn;
}

const feedDummy = (...jtis: string[]) => ({
  revoked: jtis.map((jti) => ({ jti, exp: 1_795_514_700 })),
  generatedAt: '2026-11-24T10:00:00.000Z',
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function watcher(now: { t: number }, polls: RevocationPollReport[] = []) {
  // A huge interval: these tests poll by hand, the timer must never fire on its own.
  return new RevocationWatcher({
    url: URL_,
    pollMs: 3_600_000,
    maxStalenessMs: 3_600_000 * 2,
    now: () => now.t,
    onPoll: (r) => polls.push(r),
  });
}

describe('Class: RevocationWatcher', () => {
  describe('Method: check', () => {
    it('answers revoked for a listed jti and ok for others', async () => {
      fetchDummy(feedDummy('tb-1', 'tb-2'));
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
      fetchDummy(feedDummy('tb-1'));
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
        feedDummy('tb-1'),
        500,
        new TypeError('fetch failed'),
        '{"revoked": "all"}',
        'x'.repeat(10),
      );
      const w = new RevocationWatcher({
        url: URL_,
        pollMs: 15_000,
        maxStalenessMs: 60_000,
        now: () => now.t,
        onPoll: (r) => polls.push(r),
      });
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
      fetchDummy(feedDummy('tb-1'), feedDummy('tb-2'));
      const w = watcher({ t: 0 });
      await w.poll();
      await w.poll();
      expect(await w.check('tb-1')).toBe('ok');
      expect(await w.check('tb-2')).toBe('revoked');
      w.stop();
    });
  });

  describe('Method: constructor', () => {
    it('refuses a max staleness shorter than the poll interval, which would refuse every call between polls', () => {
      expect(() => new RevocationWatcher({ url: URL_, pollMs: 15_000, maxStalenessMs: 10_000 })).toThrow(
        /shorter than the poll interval/,
      );
    });
    it.each([0, -1, Number.NaN])('refuses a poll interval of %s', (pollMs) => {
      expect(() => new RevocationWatcher({ url: URL_, pollMs })).toThrow(/must be positive/);
    });
  });
});
