import type { HoursWindow } from './types';

/**
 * Time windows for rule conditions (`when.hours`), e.g. `Mon-Fri 08:00-18:00 UTC` or `Sat,Sun 22:00-06:00 Europe/Paris`.
 *
 * Semantics, chosen so a window means what an operator reading the file expects:
 * - `days` are the days a window *starts* on; times are wall-clock times in `timeZone`, [from, to).
 * - `to <= from` is an overnight window: `Fri 22:00-06:00` runs from Friday 22:00 to Saturday 06:00.
 *   (`from == to` is refused at parse time; write `00:00-24:00` for a whole day.)
 * - DST: membership is decided on the local wall clock at the instant. An occurrence ends at the first instant
 *   after the one asked about whose wall clock reads `to` or later: when `to` falls in a spring-forward gap that is
 *   the jump; when it falls in a repeated fall-back hour it is the next passage of `to` (never the later one, so a
 *   grant cap errs short). Going by the wall clock, a repeated hour can be inside the window on both passages.
 * - Occurrences that touch (`Mon-Fri 00:00-24:00`) are one continuous span, so a grant is not cut at midnight
 *   when the next day is allowed too.
 */

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

export type HoursResult =
  | { ok: true; window: HoursWindow }
  /** `field` names the part of the object form at fault, so a problem can point at its line. */
  | { ok: false; message: string; field?: keyof HoursSpec };

/** The object form of `when.hours`, as written in the file. */
export interface HoursSpec {
  days: string[];
  from: string;
  to: string;
  timeZone: string;
}

/** Parses `Mon-Fri 08:00-18:00 UTC` (days, a time span, an IANA time zone) into a window. */
export function parseHours(input: string): HoursResult {
  const source = input.trim().replace(/\s+/g, ' ');
  const m = /^(\S+) (\d{1,2}:\d{2}) ?- ?(\d{1,2}:\d{2})(?: (\S+))?$/.exec(source);
  if (!m) {
    return {
      ok: false,
      message: `"${input}" is not an hours window (write e.g. "Mon-Fri 08:00-18:00 UTC" or "Sat,Sun 10:00-14:00 Europe/Paris")`,
    };
  }
  const [, days = '', from = '', to = '', timeZone] = m;
  if (timeZone === undefined) {
    return {
      ok: false,
      message: `"${input}" has no time zone: add one such as UTC or Europe/Paris (a server's local zone is not a policy)`,
    };
  }
  return buildWindow(days.split(','), from, to, timeZone, source);
}

/** Builds a window from the object form `{days, from, to, timeZone}`. */
export function hoursFromSpec(spec: HoursSpec): HoursResult {
  const source = `${spec.days.join(',')} ${spec.from}-${spec.to} ${spec.timeZone}`;
  return buildWindow(spec.days, spec.from, spec.to, spec.timeZone, source);
}

function buildWindow(dayItems: string[], from: string, to: string, timeZone: string, source: string): HoursResult {
  const days = parseDays(dayItems);
  if (!days.ok) return { ...days, field: 'days' };
  const fromMinute = parseTime(from, false);
  if (fromMinute === undefined) {
    return { ok: false, message: `"${from}" is not a start time (use HH:MM, 00:00-23:59)`, field: 'from' };
  }
  const toMinute = parseTime(to, true);
  if (toMinute === undefined) {
    return { ok: false, message: `"${to}" is not an end time (use HH:MM, 00:01-24:00)`, field: 'to' };
  }
  if (fromMinute === toMinute) {
    return {
      ok: false,
      message: `"${source}" starts and ends at the same time: write 00:00-24:00 for whole days`,
    };
  }
  if (toMinute === 0) {
    // 00:00 as an end is midnight at the start of the day; 24:00 says what is almost always meant.
    return {
      ok: false,
      message: `"${source}": write 24:00, not 00:00, for a window that ends at midnight`,
      field: 'to',
    };
  }
  const zone = canonicalTimeZone(timeZone);
  if (zone === undefined) {
    return {
      ok: false,
      message: `"${timeZone}" is not a time zone this runtime knows (use UTC or an IANA name such as Europe/Paris)`,
      field: 'timeZone',
    };
  }
  return { ok: true, window: { days: days.days, fromMinute, toMinute, timeZone: zone, source } };
}

function parseDays(items: string[]): { ok: true; days: number[] } | { ok: false; message: string } {
  const set = new Set<number>();
  for (const raw of items) {
    const item = raw.trim();
    const parts = item.split('-');
    if (parts.length > 2 || item === '')
      return { ok: false, message: `"${raw}" is not a day or a day range like Mon-Fri` };
    const idx = parts.map(dayIndex);
    const bad = parts.find((_, i) => idx[i] === undefined);
    if (bad !== undefined) {
      return { ok: false, message: `unknown day "${bad}" (use ${DAY_NAMES.slice(1).join(', ')}, Sun)` };
    }
    const [start = 0, end = start] = idx as number[];
    // A range may wrap the week (Fri-Mon); that reads naturally and is unambiguous.
    for (let d = start; ; d = (d + 1) % 7) {
      set.add(d);
      if (d === end) break;
    }
  }
  if (set.size === 0) return { ok: false, message: 'at least one day is needed' };
  return { ok: true, days: [...set].sort((a, b) => a - b) };
}

function dayIndex(name: string): number | undefined {
  const i = DAY_NAMES.findIndex((d) => d.toLowerCase() === name.toLowerCase());
  return i === -1 ? undefined : i;
}

function parseTime(text: string, isEnd: boolean): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59) return undefined;
  if (h === 24 && min === 0 && isEnd) return 24 * 60;
  if (h > 23) return undefined;
  return h * 60 + min;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

const zoneNames = new Map<string, string | undefined>();

/** The runtime's canonical spelling of a time zone, or undefined when it does not know it. */
export function canonicalTimeZone(timeZone: string): string | undefined {
  if (timeZone === 'UTC') return 'UTC';
  if (zoneNames.has(timeZone)) return zoneNames.get(timeZone);
  let name: string | undefined;
  try {
    // Creating a formatter costs ~0.1 ms, and a large policy names the same few zones many times.
    name = new Intl.DateTimeFormat(undefined, { timeZone }).resolvedOptions().timeZone;
  } catch {
    name = undefined;
  }
  if (zoneNames.size > 1000) zoneNames.clear();
  zoneNames.set(timeZone, name);
  return name;
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock at instant `t`, expressed as if it were UTC (so date arithmetic stays in plain numbers). */
function wallClock(timeZone: string, t: number): number {
  const fields: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(t))) {
    if (p.type !== 'literal') fields[p.type] = Number(p.value);
  }
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = fields;
  // Intl drops milliseconds; keep them so wall - t is an exact offset.
  return Date.UTC(year, month - 1, day, hour, minute, second) + (((t % 1000) + 1000) % 1000);
}

/** The first instant after `after` whose wall clock in `timeZone` reads `wall` or later. */
function firstInstantAtOrAfterWall(timeZone: string, wall: number, after: number): number {
  // Offsets a day either side bracket any transition near `wall` (zones change offset at most once a day).
  const before = wallClock(timeZone, wall - DAY_MS) - (wall - DAY_MS);
  const later = wallClock(timeZone, wall + DAY_MS) - (wall + DAY_MS);
  const exact = [wall - before, wall - later]
    .filter((t) => t > after && wallClock(timeZone, t) === wall)
    .sort((a, b) => a - b);
  if (exact[0] !== undefined) return exact[0];
  if (before === later) return Math.max(wall - before, after + 1);
  // The wall time does not exist (spring-forward gap): the answer is the jump, found by bisection.
  let lo = Math.max(after, wall - Math.max(before, later));
  let hi = wall - Math.min(before, later);
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallClock(timeZone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Whether `t` is in one occurrence of `w` (not merging touching ones) and the wall time at which it ends. */
function occurrenceAt(w: HoursWindow, t: number): number | undefined {
  const wall = wallClock(w.timeZone, t);
  const midnight = Math.floor(wall / DAY_MS) * DAY_MS;
  const minute = (wall - midnight) / MINUTE_MS;
  const weekday = new Date(midnight).getUTCDay();
  const days = w.days;
  if (w.fromMinute < w.toMinute) {
    if (days.includes(weekday) && minute >= w.fromMinute && minute < w.toMinute) {
      return midnight + w.toMinute * MINUTE_MS;
    }
    return undefined;
  }
  // Overnight: the occurrence that started today, or the one that started yesterday and has not ended.
  if (days.includes(weekday) && minute >= w.fromMinute) return midnight + DAY_MS + w.toMinute * MINUTE_MS;
  if (days.includes((weekday + 6) % 7) && minute < w.toMinute) return midnight + w.toMinute * MINUTE_MS;
  return undefined;
}

/**
 * Whether instant `at` lies in the window and, if so, when that occurrence ends (to cap a grant).
 * `end` is undefined when inside a window that never closes (every day, all day).
 */
export function windowAt(w: HoursWindow, at: Date): { inside: boolean; end?: Date } {
  const t = at.getTime();
  // An invalid Date would make Intl throw; it is in no window.
  if (!Number.isFinite(t)) return { inside: false };
  const endWall = occurrenceAt(w, t);
  if (endWall === undefined) return { inside: false };
  let end = firstInstantAtOrAfterWall(w.timeZone, endWall, t);
  let exit = fallBackExit(w, t, end);
  if (exit !== undefined) return { inside: true, end: new Date(exit) };
  // Follow touching occurrences; more than a week of them means the window is always open.
  for (let i = 0; i < 8; i++) {
    const next = occurrenceAt(w, end);
    if (next === undefined) return { inside: true, end: new Date(end) };
    const from = end;
    end = firstInstantAtOrAfterWall(w.timeZone, next, from);
    exit = fallBackExit(w, from, end);
    if (exit !== undefined) return { inside: true, end: new Date(exit) };
  }
  return { inside: true };
}

/**
 * When clocks go back inside [from, to), the wall clock can drop below the window's opening time: a window that
 * opens inside the repeated hour is left for up to an hour and entered again. The instant of that exit, if any,
 * so an occurrence (and a grant capped by it) ends there rather than at its closing wall time.
 */
function fallBackExit(w: HoursWindow, from: number, to: number): number | undefined {
  const offset = (t: number) => wallClock(w.timeZone, t) - t;
  const before = offset(from);
  if (offset(to) >= before) return undefined;
  // Offsets change at most once a day: bisect for the first instant with the lower offset.
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offset(mid) < before) hi = mid;
    else lo = mid;
  }
  return occurrenceAt(w, hi) === undefined ? hi : undefined;
}

/**
 * Whether all of [start, end] lies in one (merged) occurrence of the window. `end` may equal the occurrence's
 * end, because a grant stops at its end instant.
 */
export function windowCovers(w: HoursWindow, start: Date, end: Date): boolean {
  if (end.getTime() < start.getTime()) return false;
  const r = windowAt(w, start);
  return r.inside && (r.end === undefined || end.getTime() <= r.end.getTime());
}
