/**
 * One retry loop for every adapter and the grant service: a bounded number of attempts, a test of which failures
 * are worth another attempt, and a wait between attempts from `delay` (usually `backoff`). Pure: the wait and any
 * randomness are injected.
 */

export interface RetryOptions {
  /** Most attempts in all, the first included (at least 1). */
  attempts: number;
  /** Whether the failure of attempt `attempt` (1-based) may be retried; anything else is thrown at once. */
  retryable: (error: unknown, attempt: number) => boolean;
  /** Milliseconds to wait after attempt `attempt` failed, before the next. */
  delay: (attempt: number, error: unknown) => number;
  sleep: (ms: number) => Promise<void>;
  /** Told about each retry, before its wait. */
  onRetry?: (retry: { attempt: number; delayMs: number; error: unknown }) => void;
  /** What to throw when the last attempt failed with a retryable error (default: that error). */
  exhausted?: (error: unknown, attempts: number) => unknown;
}

/**
 * Runs `attempt(n)` for n = 1, 2, ... until it resolves, fails with an error `retryable` refuses, or `attempts`
 * have failed; waits `delay(n, error)` between attempts.
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  if (!Number.isInteger(opts.attempts) || opts.attempts < 1)
    throw new RangeError(`retry: attempts must be a whole number from 1 (got ${opts.attempts})`);
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!opts.retryable(error, n)) throw error;
      if (n >= opts.attempts) throw opts.exhausted ? opts.exhausted(error, n) : error;
      const delayMs = opts.delay(n, error);
      opts.onRetry?.({ attempt: n, delayMs, error });
      await opts.sleep(delayMs);
    }
  }
}

export interface BackoffOptions {
  /** The wait after the first failed attempt, before jitter; it doubles with each attempt. */
  baseMs: number;
  /** The cap on the doubled wait, before jitter. */
  maxMs: number;
  /**
   * `full`: uniform in [0, wait) (floored to whole ms); `equal`: uniform in [wait/2, wait); `none`: the wait itself.
   * Jitter spreads the retries of writers that conflicted at the same moment.
   */
  jitter: 'full' | 'equal' | 'none';
  /** A [0, 1) source; required for jitter. */
  random?: () => number;
}

/** Exponential backoff: `min(maxMs, baseMs * 2^(attempt-1))`, jittered as asked. */
export function backoff(opts: BackoffOptions): (attempt: number) => number {
  if (!(opts.baseMs >= 0) || !(opts.maxMs >= 0)) throw new RangeError('backoff: baseMs and maxMs must be >= 0');
  const random = opts.random;
  if (opts.jitter !== 'none' && !random) throw new RangeError('backoff: jitter needs a random source');
  return (attempt) => {
    const wait = Math.min(opts.maxMs, opts.baseMs * 2 ** (Math.max(1, attempt) - 1));
    if (opts.jitter === 'none' || !random) return wait;
    if (opts.jitter === 'full') return Math.floor(random() * wait);
    return wait * (0.5 + random() / 2);
  };
}
