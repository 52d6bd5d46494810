import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { countdown, csvCell, formatDuration, isInvisible, pieces, toCsv, visible } from '../../../web/format';

const HOSTILE = ['\u202E', '\u202C', '\u2066', '\u2069', '\u200B', '\u200F', '\u061C', '\uFEFF', '\u0000', '\u001B'];

describe('Function: pieces', () => {
  it('shows bidi overrides, isolates and zero-width characters as code points, keeping the text around them', () => {
    expect(pieces('pay \u202Eexe.txt\u202C!')).toEqual([
      { text: 'pay ' },
      { hidden: 'U+202E' },
      { text: 'exe.txt' },
      { hidden: 'U+202C' },
      { text: '!' },
    ]);
    expect(visible('a\u200Bb')).toBe('a<U+200B>b');
    // Tab and line breaks are text; emoji and other scripts are left alone.
    expect(pieces('a\tb\nc 😀 مرحبا')).toEqual([{ text: 'a\tb\nc 😀 مرحبا' }]);
  });

  it('loses nothing and lets no invisible character through as text (property)', () => {
    const anyCodePoint = fc.nat({ max: 0x10ffff }).map((cp) => String.fromCodePoint(cp));
    const char = fc.oneof(fc.constantFrom(...HOSTILE), anyCodePoint);
    fc.assert(
      fc.property(fc.array(char, { maxLength: 40 }), (chars) => {
        const s = chars.join('');
        const ps = pieces(s);
        const back = ps
          .map((p) => ('text' in p ? p.text : String.fromCodePoint(Number.parseInt(p.hidden.slice(2), 16))))
          .join('');
        const leaked = ps.some((p) => 'text' in p && [...p.text].some((ch) => isInvisible(ch.codePointAt(0) ?? 0)));
        return back === s && !leaked;
      }),
    );
  });
});

describe('Function: csvCell', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('-1+2')).toBe("'-1+2");
    expect(csvCell(undefined)).toBe('');
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
  });

  it('never starts a cell with a formula character and always balances quotes (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const cell = csvCell(s);
        const inner = cell.startsWith('"') ? cell.slice(1, -1) : cell;
        expect(/^[=+\-@\t\r]/.test(inner)).toBe(false);
        if (cell.startsWith('"')) expect(inner.replace(/""/g, '')).not.toContain('"');
        else expect(cell).not.toMatch(/[",\r\n]/);
      }),
    );
  });

  it('writes a header line and CRLF rows', () => {
    expect(toCsv(['a', 'b'], [{ a: 1, b: 'x,y' }])).toBe('a,b\r\n1,"x,y"\r\n');
  });
});

describe('Function: countdown and formatDuration', () => {
  it('counts down to a time and says null once it passed', () => {
    const now = Date.parse('2026-12-03T12:00:00Z');
    expect(countdown('2026-12-03T13:02:03Z', now)).toBe('1h 02m 03s');
    expect(countdown('2026-12-03T12:04:05Z', now)).toBe('4m 05s');
    expect(countdown('2026-12-03T12:00:12Z', now)).toBe('12s');
    expect(countdown('2026-12-03T12:00:00Z', now)).toBeNull();
    expect(countdown('not a time', now)).toBeNull();
  });

  it('writes durations as people read them', () => {
    expect(formatDuration(5_400_000)).toBe('1h 30m');
    expect(formatDuration(30 * 60_000)).toBe('30m');
    expect(formatDuration(500)).toBe('0s');
  });
});
