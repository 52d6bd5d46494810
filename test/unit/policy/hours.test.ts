import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { hoursFromSpec, parseHours, windowAt, windowCovers } from '../../../core/policy/hours';
import type { HoursWindow } from '../../../core/policy/types';

const at = (iso: string) => new Date(iso);

function window(text: string): HoursWindow {
  const r = parseHours(text);
  if (!r.ok) throw new Error(r.message);
  return r.window;
}

describe('Function: parseHours', () => {
  it('parses days, a span and a time zone', () => {
    // Act
    const r = parseHours('Mon-Fri 08:00-18:00 UTC');

    // Assess
    expect(r).toEqual({
      ok: true,
      window: {
        days: [1, 2, 3, 4, 5],
        fromMinute: 480,
        toMinute: 1080,
        timeZone: 'UTC',
        source: 'Mon-Fri 08:00-18:00 UTC',
      },
    });
  });

  it('accepts day lists, ranges that wrap the week, 24:00 and canonicalises the zone name', () => {
    expect(window('Sat,Sun 10:00-14:00 Europe/Paris').days).toEqual([0, 6]);
    expect(window('Fri-Mon 00:00-24:00 UTC').days).toEqual([0, 1, 5, 6]);
    expect(window('mon,wed-thu 9:30-17:45 UTC')).toMatchObject({ days: [1, 3, 4], fromMinute: 570, toMinute: 1065 });
    expect(window('Mon 00:00-24:00 europe/paris').timeZone).toBe('Europe/Paris');
  });

  it('accepts an overnight window (to before from)', () => {
    expect(window('Fri 22:00-06:00 UTC')).toMatchObject({ days: [5], fromMinute: 1320, toMinute: 360 });
  });

  it.each([
    ['Mon-Fry 08:00-18:00 UTC', 'unknown day "Fry"'],
    ['Mon-Fri 08:00-18:00', 'has no time zone'],
    ['Mon-Fri 08:00-18:00 Mars/Olympus', '"Mars/Olympus" is not a time zone'],
    ['Mon-Fri 25:00-26:00 UTC', '"25:00" is not a start time'],
    ['Mon-Fri 08:00-18:60 UTC', '"18:60" is not an end time'],
    ['Mon-Fri 08:00-08:00 UTC', 'starts and ends at the same time'],
    ['Mon-Fri 22:00-00:00 UTC', 'write 24:00, not 00:00'],
    ['Mon-Fri 24:00-06:00 UTC', '"24:00" is not a start time'],
    ['weekdays', 'is not an hours window'],
    ['Mon-Tue-Wed 08:00-18:00 UTC', 'is not a day or a day range'],
  ])('refuses %j', (text, message) => {
    // Act
    const r = parseHours(text);

    // Assess
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(message);
  });

  it('builds the same window from the object form and names the faulty field', () => {
    // Act
    const good = hoursFromSpec({ days: ['Mon-Fri'], from: '08:00', to: '18:00', timeZone: 'UTC' });
    const bad = hoursFromSpec({ days: ['Mon'], from: '08:00', to: '18:00', timeZone: 'Nowhere/City' });

    // Assess
    expect(good.ok && good.window).toMatchObject({ days: [1, 2, 3, 4, 5], fromMinute: 480, toMinute: 1080 });
    expect(bad).toMatchObject({ ok: false, field: 'timeZone' });
  });
});

describe('Function: windowAt', () => {
  it('says whether an instant is inside and when the occurrence ends (UTC)', () => {
    // Prepare
    const w = window('Mon-Fri 08:00-18:00 UTC');

    // Act & Assess: Wednesday 2025-01-15.
    expect(windowAt(w, at('2025-01-15T12:00:00Z'))).toEqual({ inside: true, end: at('2025-01-15T18:00:00Z') });
    expect(windowAt(w, at('2025-01-15T08:00:00Z')).inside).toBe(true);
    expect(windowAt(w, at('2025-01-15T18:00:00Z'))).toEqual({ inside: false });
    expect(windowAt(w, at('2025-01-15T07:59:59.999Z')).inside).toBe(false);
    expect(windowAt(w, at('2025-01-18T12:00:00Z')).inside).toBe(false); // Saturday
  });

  it('uses the wall clock of the time zone, including its DST offset (Europe/Paris)', () => {
    // Prepare
    const w = window('Mon-Fri 08:00-18:00 Europe/Paris');

    // Act & Assess: Friday before the spring change (CET, UTC+1) and Monday after it (CEST, UTC+2).
    expect(windowAt(w, at('2025-03-28T07:00:00Z'))).toEqual({ inside: true, end: at('2025-03-28T17:00:00Z') });
    expect(windowAt(w, at('2025-03-28T06:59:00Z')).inside).toBe(false);
    expect(windowAt(w, at('2025-03-31T06:00:00Z'))).toEqual({ inside: true, end: at('2025-03-31T16:00:00Z') });
    expect(windowAt(w, at('2025-03-31T05:59:00Z')).inside).toBe(false);
    // Autumn change on Sunday 2025-10-26: Monday is back on CET.
    expect(windowAt(w, at('2025-10-27T07:00:00Z'))).toEqual({ inside: true, end: at('2025-10-27T17:00:00Z') });
  });

  it('ends an occurrence at the jump when its end time falls in the spring-forward gap (Europe/Paris)', () => {
    // Prepare: on 2025-03-30 clocks go from 02:00 CET straight to 03:00 CEST (01:00 UTC); 02:30 never happens.
    const w = window('Sun 01:00-02:30 Europe/Paris');

    // Act
    const r = windowAt(w, at('2025-03-30T00:30:00Z')); // 01:30 CET

    // Assess
    expect(r).toEqual({ inside: true, end: at('2025-03-30T01:00:00Z') });
    expect(windowAt(w, at('2025-03-30T01:00:00Z')).inside).toBe(false); // 03:00 CEST
  });

  it('ends an occurrence at the first passage of a repeated fall-back time (Europe/Paris)', () => {
    // Prepare: on 2025-10-26, 02:00-03:00 happens twice (CEST, UTC+2, then CET, UTC+1).
    const w = window('Sun 00:00-02:30 Europe/Paris');

    // Act & Assess
    expect(windowAt(w, at('2025-10-26T00:15:00Z'))).toEqual({ inside: true, end: at('2025-10-26T00:30:00Z') });
    // In the repeated hour the wall clock reads 02:15 again: inside, ending at the second 02:30.
    expect(windowAt(w, at('2025-10-26T01:15:00Z'))).toEqual({ inside: true, end: at('2025-10-26T01:30:00Z') });
  });

  it.each([
    // Opens at 02:30 inside the repeated hour: at 03:00 CEST the clock goes back to 02:00 CET, outside until 02:30.
    ['Sun 02:30-08:00 Europe/Paris', '2024-10-27T00:40:00Z', '2024-10-27T01:00:00Z', '2024-10-27T01:30:00Z'],
    ['Sun 01:30-06:00 America/New_York', '2024-11-03T05:45:00Z', '2024-11-03T06:00:00Z', '2024-11-03T06:30:00Z'],
  ])('ends %s where the fall-back takes the clock below its opening time', (text, start, exit, back) => {
    const w = window(text);
    expect(windowAt(w, at(start))).toEqual({ inside: true, end: at(exit) });
    expect(windowAt(w, at(exit)).inside).toBe(false);
    expect(windowAt(w, at(back)).inside).toBe(true);
    // A grant of one hour from `start` would run through the gap: not covered.
    expect(windowCovers(w, at(start), new Date(at(start).getTime() + 3_600_000))).toBe(false);
  });

  it('handles overnight windows across both DST changes (America/New_York)', () => {
    // Prepare
    const w = window('Sat 22:00-06:00 America/New_York');

    // Act & Assess: spring forward on Sunday 2025-03-09 (EST -> EDT): the night is 7 hours long.
    expect(windowAt(w, at('2025-03-09T03:00:00Z'))).toEqual({ inside: true, end: at('2025-03-09T10:00:00Z') });
    expect(windowAt(w, at('2025-03-09T09:59:00Z')).inside).toBe(true);
    expect(windowAt(w, at('2025-03-09T10:00:00Z')).inside).toBe(false);
    expect(windowAt(w, at('2025-03-09T02:59:00Z')).inside).toBe(false);
    // Fall back on Sunday 2025-11-02 (EDT -> EST): the night is 9 hours long.
    expect(windowAt(w, at('2025-11-02T02:00:00Z'))).toEqual({ inside: true, end: at('2025-11-02T11:00:00Z') });
    expect(windowAt(w, at('2025-11-02T10:30:00Z')).inside).toBe(true);
    // Only the Saturday night: Sunday 23:00 is outside.
    expect(windowAt(w, at('2025-11-03T04:00:00Z')).inside).toBe(false);
  });

  it('handles the New York spring gap at the window start', () => {
    // Prepare: 02:00-03:00 does not exist on 2025-03-09; the window opens at the jump (07:00 UTC, 03:00 EDT).
    const w = window('Sun 02:30-04:00 America/New_York');

    // Act & Assess
    expect(windowAt(w, at('2025-03-09T06:59:00Z')).inside).toBe(false); // 01:59 EST
    expect(windowAt(w, at('2025-03-09T07:00:00Z'))).toEqual({ inside: true, end: at('2025-03-09T08:00:00Z') });
  });

  it('puts an invalid date in no window', () => {
    expect(windowAt(window('Mon-Sun 00:00-24:00 UTC'), new Date(Number.NaN))).toEqual({ inside: false });
  });

  it('treats touching occurrences as one span, and an all-week window as never ending', () => {
    // Prepare
    const weekdays = window('Mon-Fri 00:00-24:00 UTC');
    const always = window('Mon-Sun 00:00-24:00 Europe/Paris');

    // Act & Assess: from Monday noon the span runs to Saturday 00:00.
    expect(windowAt(weekdays, at('2025-01-13T12:00:00Z'))).toEqual({ inside: true, end: at('2025-01-18T00:00:00Z') });
    expect(windowAt(always, at('2025-03-30T01:30:00Z'))).toEqual({ inside: true });
  });

  it('chains touching overnight occurrences', () => {
    // Prepare: 18:00-09:00 every night plus the weekend days fully would not touch; nights alone do not.
    const w = window('Mon-Fri 18:00-09:00 UTC');

    // Act & Assess: Monday 20:00 -> Tuesday 09:00.
    expect(windowAt(w, at('2025-01-13T20:00:00Z'))).toEqual({ inside: true, end: at('2025-01-14T09:00:00Z') });
    // Saturday 08:00 is the tail of Friday night.
    expect(windowAt(w, at('2025-01-18T08:00:00Z'))).toEqual({ inside: true, end: at('2025-01-18T09:00:00Z') });
    expect(windowAt(w, at('2025-01-19T08:00:00Z')).inside).toBe(false);
  });

  it('agrees with a direct wall-clock check for random windows and instants, overnight ones too (property)', () => {
    // Prepare
    const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
    const fmt = new Map(
      zones.map((z) => [
        z,
        new Intl.DateTimeFormat('en-US', {
          timeZone: z,
          hourCycle: 'h23',
          weekday: 'short',
          hour: 'numeric',
          minute: 'numeric',
        }),
      ]),
    );
    const dayNames = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 1, max: 1440 }),
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2027, 0, 1) }),
        (zone, days, from, to, t) => {
          fc.pre(from !== to && !(to === 1440 && from > to));
          const w: HoursWindow = {
            days: [...days].sort(),
            fromMinute: from,
            toMinute: to,
            timeZone: zone,
            source: 'p',
          };
          const parts = Object.fromEntries(
            (fmt.get(zone) as Intl.DateTimeFormat).formatToParts(new Date(t)).map((p) => [p.type, p.value]),
          );
          const minute = Number(parts.hour) * 60 + Number(parts.minute);
          const weekday = dayNames.indexOf(parts.weekday ?? '');
          const expected =
            from < to
              ? days.includes(weekday) && minute >= from && minute < to
              : // Overnight: the night that started today, or the tail of yesterday's.
                (days.includes(weekday) && minute >= from) || (days.includes((weekday + 6) % 7) && minute < to);
          const r = windowAt(w, new Date(t));
          expect(r.inside).toBe(expected);
          if (r.inside && r.end) {
            // The end is later, just before it the window is still open, and so is every instant in between.
            expect(r.end.getTime()).toBeGreaterThan(t);
            expect(windowAt(w, new Date(r.end.getTime() - 1)).inside).toBe(true);
            expect(windowAt(w, r.end).inside).toBe(false);
            for (let k = 1; k < 16; k++) {
              const u = t + Math.floor(((r.end.getTime() - t) * k) / 16);
              expect(windowAt(w, new Date(u)).inside).toBe(true);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Function: windowCovers', () => {
  const w = window('Mon-Fri 08:00-18:00 Europe/Paris');

  it('is true when the whole span lies in one occurrence, its end included', () => {
    expect(windowCovers(w, at('2025-01-15T08:00:00Z'), at('2025-01-15T09:00:00Z'))).toBe(true);
    expect(windowCovers(w, at('2025-01-15T16:00:00Z'), at('2025-01-15T17:00:00Z'))).toBe(true);
  });

  it('is false when the span starts outside, runs past the end, or spans two days', () => {
    expect(windowCovers(w, at('2025-01-15T06:30:00Z'), at('2025-01-15T08:00:00Z'))).toBe(false);
    expect(windowCovers(w, at('2025-01-15T16:30:00Z'), at('2025-01-15T17:00:01Z'))).toBe(false);
    expect(windowCovers(w, at('2025-01-15T16:30:00Z'), at('2025-01-16T08:00:00Z'))).toBe(false);
    expect(windowCovers(w, at('2025-01-15T10:00:00Z'), at('2025-01-15T09:00:00Z'))).toBe(false);
  });

  it('covers a span across midnight in an overnight window', () => {
    const night = window('Fri 22:00-06:00 UTC');
    expect(windowCovers(night, at('2025-01-17T23:00:00Z'), at('2025-01-18T05:00:00Z'))).toBe(true);
    expect(windowCovers(night, at('2025-01-17T23:00:00Z'), at('2025-01-18T07:00:00Z'))).toBe(false);
  });
});
