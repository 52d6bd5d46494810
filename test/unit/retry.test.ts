import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { backoff, retry } from '../../core/retry';

class Flaky extends Error {}

/** An attempt function failing with `errors[n-1]` on attempt n, then answering `n`. */
function script(errors: unknown[]) {
  const calls: number[] = [];
  const run = async (n: number) => {
    calls.push(n);
    if (n <= errors.length) throw errors[n - 1];
    return n;
  };
  return { run, calls };
}

function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

const always = () => true;

describe('Function: retry', () => {
  it('answers the first success, after waiting the delay of each failed attempt', async () => {
    const { run, calls } = script([new Flaky('1'), new Flaky('2')]);
    const { waits, sleep } = recorder();
    const retried: number[] = [];
    const out = await retry(run, {
      attempts: 5,
      retryable: always,
      delay: (n) => n * 10,
      sleep,
      onRetry: (r) => retried.push(r.attempt),
    });
    expect(out).toBe(3);
    expect(calls).toEqual([1, 2, 3]);
    expect(waits).toEqual([10, 20]);
    expect(retried).toEqual([1, 2]);
  });

  it('throws a failure it may not retry at once, unchanged', async () => {
    const refusal = new Error('not retryable');
    const { run, calls } = script([new Flaky('1'), refusal]);
    const { waits, sleep } = recorder();
    const err = await retry(run, { attempts: 5, retryable: (e) => e instanceof Flaky, delay: () => 1, sleep }).catch(
      (e: unknown) => e,
    );
    expect(err).toBe(refusal);
    expect(calls).toEqual([1, 2]);
    expect(waits).toEqual([1]);
  });

  it('gives up after the last attempt, without waiting after it, throwing what `exhausted` makes of the error', async () => {
    const last = new Flaky('3');
    const { run, calls } = script([new Flaky('1'), new Flaky('2'), last]);
    const { waits, sleep } = recorder();
    const err = await retry(run, {
      attempts: 3,
      retryable: always,
      delay: () => 7,
      sleep,
      exhausted: (e, n) => new Error(`gave up after ${n}`, { cause: e }),
    }).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ message: 'gave up after 3', cause: last });
    expect(calls).toEqual([1, 2, 3]);
    expect(waits).toEqual([7, 7]);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s attempts', async (attempts) => {
    const { run, calls } = script([]);
    await expect(retry(run, { attempts, retryable: always, delay: () => 0, sleep: async () => {} })).rejects.toThrow(
      RangeError,
    );
    expect(calls).toEqual([]);
  });

  it('makes exactly min(failures + 1, attempts) attempts and succeeds exactly when failures < attempts (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 15 }), async (attempts, failures) => {
        const { run, calls } = script(Array.from({ length: failures }, (_, i) => new Flaky(String(i))));
        const { waits, sleep } = recorder();
        const outcome = await retry(run, { attempts, retryable: always, delay: (n) => n, sleep }).then(
          (v) => ({ ok: true as const, v }),
          () => ({ ok: false as const }),
        );
        const made = Math.min(failures + 1, attempts);
        expect(calls).toHaveLength(made);
        expect(waits).toEqual(Array.from({ length: made - 1 }, (_, i) => i + 1));
        expect(outcome.ok).toBe(failures < attempts);
      }),
    );
  });
});

describe('Function: backoff', () => {
  it('doubles from baseMs up to maxMs without jitter', () => {
    const d = backoff({ baseMs: 100, maxMs: 2000, jitter: 'none' });
    expect([1, 2, 3, 4, 5, 6, 7].map(d)).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('full jitter: a whole number in [0, wait); equal jitter: in [wait/2, wait)', () => {
    expect(backoff({ baseMs: 50, maxMs: 1000, jitter: 'full', random: () => 0.5 })(3)).toBe(100);
    expect(backoff({ baseMs: 50, maxMs: 1000, jitter: 'full', random: () => 0.999 })(1)).toBe(49);
    expect(backoff({ baseMs: 10, maxMs: 200, jitter: 'equal', random: () => 0 })(2)).toBe(10);
    expect(backoff({ baseMs: 10, maxMs: 200, jitter: 'equal', random: () => 0.5 })(9)).toBe(150);
  });

  it('refuses jitter without a random source, and negative waits', () => {
    expect(() => backoff({ baseMs: 1, maxMs: 1, jitter: 'full' })).toThrow(/random source/);
    expect(() => backoff({ baseMs: -1, maxMs: 1, jitter: 'none' })).toThrow(/>= 0/);
  });

  it('stays within [0, min(maxMs, baseMs * 2^(n-1))] for any attempt and random draw (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.constantFrom('full' as const, 'equal' as const, 'none' as const),
        (baseMs, maxMs, attempt, r, jitter) => {
          const wait = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
          const d = backoff({ baseMs, maxMs, jitter, random: () => r })(attempt);
          expect(d).toBeGreaterThanOrEqual(jitter === 'equal' ? wait / 2 : 0);
          expect(d).toBeLessThanOrEqual(wait);
          if (jitter === 'full') expect(Number.isInteger(d)).toBe(true);
          if (jitter === 'none') expect(d).toBe(wait);
        },
      ),
    );
  });
});
