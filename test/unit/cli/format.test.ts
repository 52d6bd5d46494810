import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { approvalDeadline, clip, grantDetails, printable, safeJson, table } from '../../../cli/format';
import { grantDummy } from './fake-broker';
import { forgingChars } from './terminal';

/** Strings rich in what an attacker would use: every unsafe class, mixed with ordinary text and astral characters. */
const hostile = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\n', '\r', '\t', '\u001b', '\u0000', '\u007f', '\u0085', '\u009b', '\u2028', '\u2029'),
    fc.constantFrom('\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'),
    fc.constantFrom('\u200e', '\u200f', '\u061c', '\u200b', '\ufeff', '\u{e0041}', '\ud800', '\udfff'),
    fc.constantFrom('approvals: 1/2', '[2J', 'é', '日本', '😀', '\\n'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});

describe('Function: printable', () => {
  it('leaves no control, line break, bidi or format character, whatever the text (property)', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' })), (s) => {
        const shown = printable(s);
        expect(forgingChars(shown)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('prints printable ASCII unchanged (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }), (s) => {
        expect(printable(s)).toBe(s);
      }),
    );
  });

  it('keeps ordinary non-ASCII text and shows each unsafe character as a visible escape', () => {
    expect(printable('café 日本 😀')).toBe('café 日本 😀');
    expect(printable('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(printable('\u001b[2J\u007f\u009b')).toBe('\\x1b[2J\\x7f\\x9b');
    expect(printable('user\u202Egnp.exe \u2066x\u2069 \u200e\u200f\u061c')).toBe(
      'user\\u202egnp.exe \\u2066x\\u2069 \\u200e\\u200f\\u061c',
    );
    expect(printable('line\u2028sep\u{e0041}\ud800')).toBe('line\\u2028sep\\u{e0041}\\ud800');
  });
});

describe('Function: safeJson', () => {
  it('is JSON that parses to the same value, with no character that could hide text (property)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.array(hostile, { maxLength: 3 }),
        fc.constantFrom(undefined, 2),
        (value, texts, indent) => {
          const doc = { value, texts, nested: { texts } };
          const text = safeJson(doc, indent);
          expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(doc)));
          // Line feeds are the indentation's own; nothing else of the unsafe kind is left raw.
          expect(forgingChars(text, { lineFeeds: true })).toEqual([]);
          if (indent === undefined) expect(text).not.toContain('\n');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Function: table', () => {
  it('keeps each row on its line and its columns aligned, whatever a cell holds', () => {
    const text = table(['ID', 'REASON'], [['tb-1', 'INC-9\napprovals: 1/2 from group:secops']]);
    expect(text.split('\n')).toEqual(['ID    REASON', 'tb-1  INC-9\\napprovals: 1/2 from group:secops']);
  });
});

describe('Function: clip', () => {
  it('cuts at a character, never inside a surrogate pair', () => {
    expect(clip('😀😀😀😀😀', 4)).toBe('😀...');
    expect(clip('short', 10)).toBe('short');
  });
});

describe('Function: grantDetails', () => {
  it('prints a hostile reason on its own line, escaped', () => {
    const g = grantDummy({ reason: 'INC-9\napprovals:  2/2 from group:secops: carol@corp.com, dan@corp.com' });
    const lines = grantDetails(g, new Date()).split('\n');
    expect(lines.filter((l) => l.startsWith('approvals:')).map((l) => l.replace(/\s+/g, ' '))).toEqual([
      'approvals: auto',
    ]);
    expect(lines.filter((l) => l.startsWith('reason:')).map((l) => l.replace(/^reason:\s+/, ''))).toEqual([
      'INC-9\\napprovals:  2/2 from group:secops: carol@corp.com, dan@corp.com',
    ]);
  });
});

describe('Function: approvalDeadline', () => {
  const pending = (partial: Parameters<typeof grantDummy>[0]) =>
    grantDummy({
      status: 'pending',
      requestedAt: '2026-11-24T10:00:00.000Z',
      approval: { count: 2, from: ['group:secops'], requireMfa: true },
      activatedAt: undefined,
      expiresAt: undefined,
      ...partial,
    });

  it('says when a request lapses, and why when the duration it asks for capped the wait', () => {
    expect(approvalDeadline(pending({ duration: 15 * 60_000, pendingUntil: '2026-11-24T10:15:00.000Z' }))).toBe(
      'approvals are due by 2026-11-24T10:15:00.000Z: a request waits for approval no longer than the 15m it asks for',
    );
    expect(approvalDeadline(pending({ duration: 4 * 3_600_000, pendingUntil: '2026-11-24T11:00:00.000Z' }))).toBe(
      'approvals are due by 2026-11-24T11:00:00.000Z',
    );
    expect(approvalDeadline(grantDummy())).toBeUndefined();
  });
});
