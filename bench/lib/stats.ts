/**
 * Measurement helpers shared by every benchmark section: monotonic clocks, percentiles, and warm-up + measure
 * loops that time each call on its own. Per-call samples (rather than one total divided by N) are what make
 * p99 meaningful: a garbage collection or a JIT tier-up shows in the tail instead of vanishing into a mean.
 */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Monotonic time in nanoseconds (`process.hrtime.bigint`, unaffected by wall-clock changes). */
export function hrtimeNs(): bigint {
  return process.hrtime.bigint();
}

/** Microseconds since `start` (from `hrtimeNs`). */
export function elapsedUs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e3;
}

/** Milliseconds since `start` (from `hrtimeNs`). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * The p-th percentile (0 < p <= 100) of ascending `sorted` samples, by the nearest-rank method: always one of the
 * samples, never an interpolation between two, so a p99 is a latency some call actually had.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100], not ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Middle value (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** n, min, p50, p90, p99, max and mean of the samples (which are not modified). */
export function summarize(samples: ArrayLike<number>): Summary {
  if (samples.length === 0) throw new Error('summary of no samples');
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    min: sorted[0] as number,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

export interface TimeEachOptions {
  /** Full passes over the inputs before measuring, so the JIT has compiled the hot paths (default 1). */
  warmupRounds?: number;
  /** Cap on the inputs each warm-up pass uses (default: all), for slow subjects. */
  warmupInputs?: number;
}

/**
 * Warms up, then calls `fn` once per input and times each call alone. Returns per-call microseconds and what
 * each call returned (so a caller can check results without running the subject again).
 */
export function timeEach<T, R>(
  inputs: readonly T[],
  fn: (input: T) => R,
  opts: TimeEachOptions = {},
): { samplesUs: Float64Array; results: R[] } {
  const rounds = opts.warmupRounds ?? 1;
  const warm = Math.min(inputs.length, opts.warmupInputs ?? inputs.length);
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < warm; i++) if (fn(inputs[i] as T) !== undefined) sink++;
  }
  const samplesUs = new Float64Array(inputs.length);
  const results: R[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as T;
    const start = process.hrtime.bigint();
    const out = fn(input);
    const end = process.hrtime.bigint();
    samplesUs[i] = Number(end - start) / 1e3;
    results[i] = out;
  }
  blackhole(sink);
  return { samplesUs, results };
}

/**
 * Times several subjects over the same `n` inputs, alternating between them in blocks of `blockSize` inputs, so
 * that load from other processes on a shared machine falls on every subject alike and their ratio holds even
 * when the absolute numbers drift. `subjects[k](i)` handles input i; no warm-up here (use `warmUp` first).
 */
export function timeInterleaved(
  n: number,
  subjects: readonly ((i: number) => unknown)[],
  opts: { blockSize: number },
): { samplesUs: Float64Array[]; results: unknown[][] } {
  const samplesUs = subjects.map(() => new Float64Array(n));
  const results: unknown[][] = subjects.map(() => new Array(n));
  const block = Math.max(1, opts.blockSize);
  for (let from = 0; from < n; from += block) {
    const to = Math.min(n, from + block);
    for (let k = 0; k < subjects.length; k++) {
      const fn = subjects[k] as (i: number) => unknown;
      const samples = samplesUs[k] as Float64Array;
      const out = results[k] as unknown[];
      for (let i = from; i < to; i++) {
        const start = process.hrtime.bigint();
        const r = fn(i);
        const end = process.hrtime.bigint();
        samples[i] = Number(end - start) / 1e3;
        out[i] = r;
      }
    }
  }
  return { samplesUs, results };
}

/** Untimed calls of `fn` on inputs 0..count-1, `rounds` times, so the JIT has compiled the hot paths. */
export function warmUp(count: number, fn: (i: number) => unknown, rounds = 1): void {
  let sink = 0;
  for (let r = 0; r < rounds; r++) for (let i = 0; i < count; i++) if (fn(i) !== undefined) sink++;
  blackhole(sink);
}

/** Warm-up + measure loop for one operation repeated: `warmup` untimed calls, then `iterations` timed ones (us). */
export function measure(fn: () => unknown, opts: { warmup: number; iterations: number }): Float64Array {
  let sink = 0;
  for (let i = 0; i < opts.warmup; i++) if (fn() !== undefined) sink++;
  const samplesUs = new Float64Array(opts.iterations);
  for (let i = 0; i < opts.iterations; i++) {
    const start = process.hrtime.bigint();
    if (fn() !== undefined) sink++;
    samplesUs[i] = Number(process.hrtime.bigint() - start) / 1e3;
  }
  blackhole(sink);
  return samplesUs;
}

/** Runs `fn` `runs` times and returns the median wall time in milliseconds, with every run's time. */
export function medianMs<R>(runs: number, fn: () => R): { medianMs: number; runsMs: number[]; last: R } {
  if (runs < 1) throw new Error('medianMs needs at least one run');
  const runsMs: number[] = [];
  let last: R | undefined;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    last = fn();
    runsMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { medianMs: median(runsMs), runsMs, last: last as R };
}

let sunk = 0;
/** Keeps a value observable so the optimiser cannot drop the work that produced it. */
export function blackhole(v: number): void {
  sunk = (sunk + v) | 0;
}
