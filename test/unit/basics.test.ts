import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson } from '../../core/canonical';
import { ManualClock } from '../../core/clock';
import { formatDuration, parseDuration } from '../../core/duration';
import { GRANT_ID_PATTERN, grantIdGenerator, ulid } from '../../core/ids';

describe('Function: parseDuration', () => {
  it.each([
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['1d', 86_400_000],
    ['PT30M', 1_800_000],
    ['PT1H30M', 5_400_000],
    ['P1DT2H', 93_600_000],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each(['', '30', '-5m', '0m', 'PT0S', '1.5h', '30 m', 'P', 'PT', '1x', '400d', 'h', 'm30'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text).ok).toBe(false);
    },
  );

  it('round-trips through formatDuration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 * 86_400 }), (seconds) => {
        const r = parseDuration(formatDuration(seconds * 1000));
        expect(r).toEqual({ ok: true, ms: seconds * 1000 });
      }),
    );
  });
});

describe('Function: canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('is the same for equal values built in any key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(JSON.parse(canonicalJson(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
      }),
    );
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
  });
});

describe('Function: grantIdGenerator', () => {
  it('makes ids valid as STS session names, schedule names and GCP titles, sortable by time', () => {
    const clock = new ManualClock('2026-11-24T10:00:00Z');
    const ids = grantIdGenerator(clock);
    const first = ids.next();
    clock.advance(1);
    const second = ids.next();
    for (const id of [first, second]) {
      expect(id).toMatch(GRANT_ID_PATTERN);
      expect(id).toMatch(/^[\w+=,.@-]{2,64}$/); // STS RoleSessionName
      expect(id).toMatch(/^[0-9a-zA-Z-_.]{1,64}$/); // Scheduler schedule name
    }
    expect(first < second).toBe(true);
    expect(ulid(0, new Uint8Array(10))).toBe('0'.repeat(26));
  });
});
