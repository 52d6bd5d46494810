/** Durations are milliseconds everywhere inside Timebox; these parse and print the policy-file notation. */

const SHORT = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const ISO = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** No duration anywhere in Timebox may exceed this (a year); larger numbers are typos, not policy. */
export const MAX_DURATION_MS = 366 * DAY;

/**
 * Parses `30m`, `2h`, `1h30m`, `1d`, `90s` or ISO-8601 `PT30M`/`P1DT2H` into milliseconds.
 * Returns an error message instead of throwing so callers can report every bad field at once.
 */
export function parseDuration(input: string): { ok: true; ms: number } | { ok: false; message: string } {
  const text = input.trim();
  const m = SHORT.exec(text) ?? ISO.exec(text);
  if (!text || !m || m.slice(1).every((g) => g === undefined) || text === 'P' || text === 'PT') {
    return { ok: false, message: `"${input}" is not a duration (use 30m, 2h, 1h30m or ISO-8601 PT30M)` };
  }
  const [d, h, mi, s] = m.slice(1).map((g) => (g === undefined ? 0 : Number(g))) as [number, number, number, number];
  const ms = d * DAY + h * HOUR + mi * MINUTE + s * SECOND;
  if (ms <= 0) return { ok: false, message: `"${input}" must be longer than zero` };
  if (ms > MAX_DURATION_MS) return { ok: false, message: `"${input}" is longer than the 366-day ceiling` };
  return { ok: true, ms };
}

/** Parses or throws a plain Error; for places where the input was already validated. */
export function durationMs(input: string): number {
  const r = parseDuration(input);
  if (!r.ok) throw new Error(r.message);
  return r.ms;
}

/** Prints milliseconds as the shortest `1h30m` form (seconds shown only when present). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms / SECOND);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
