/**
 * Pure helpers of the web console: making hostile text visible, durations, countdowns, CSV. No DOM here, so the
 * unit tests run them in Node.
 */

/**
 * Characters that change how text around them is shown without being seen themselves: C0/C1 controls (but tab and
 * line breaks), bidirectional embeddings, overrides and isolates (Trojan Source, CVE-2021-42574), zero-width and
 * other invisible format characters.
 */
const INVISIBLE_RANGES: readonly [number, number][] = [
  [0x00, 0x08],
  [0x0b, 0x0c],
  [0x0e, 0x1f],
  [0x7f, 0x9f],
  [0xad, 0xad],
  [0x61c, 0x61c],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x206f],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xfff0, 0xfffb],
  [0xe0000, 0xe007f],
];

/** Whether a code point is one of the characters above. */
export function isInvisible(cp: number): boolean {
  for (const [lo, hi] of INVISIBLE_RANGES) if (cp >= lo && cp <= hi) return true;
  return false;
}

/** One piece of text: plain, or an invisible character shown as its code point. */
export type Piece = { text: string } | { hidden: string };

/** Splits text so every invisible or direction-changing character can be shown as a visible marker (`U+202E`). */
export function pieces(s: string): Piece[] {
  const out: Piece[] = [];
  let plain = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (!isInvisible(cp)) {
      plain += ch;
      continue;
    }
    if (plain) out.push({ text: plain });
    plain = '';
    out.push({ hidden: `U+${cp.toString(16).toUpperCase().padStart(4, '0')}` });
  }
  if (plain) out.push({ text: plain });
  return out;
}

/** The text with invisible characters written as `<U+202E>`: for titles, CSV and anything that is not markup. */
export function visible(s: string): string {
  return pieces(s)
    .map((p) => ('text' in p ? p.text : `<${p.hidden}>`))
    .join('');
}

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** 5_400_000 -> `1h 30m`; under a second -> `0s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 1000) return '0s';
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000) * 1000;
  for (const [unit, size] of UNITS) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join(' ');
}

/** Time left until `until` as `1h 02m 03s` / `4m 05s` / `12s`, or null when it has passed. */
export function countdown(until: string | number, nowMs: number): string | null {
  const t = typeof until === 'number' ? until : Date.parse(until);
  if (!Number.isFinite(t)) return null;
  const left = Math.ceil((t - nowMs) / 1000);
  if (left <= 0) return null;
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${two(m)}m ${two(s)}s`;
  if (m > 0) return `${m}m ${two(s)}s`;
  return `${s}s`;
}

/** An ISO instant for people: `2026-12-03 11:48:25 UTC`. */
export function formatTime(iso: string | undefined | null): string {
  if (!iso) return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * One CSV cell (RFC 4180): quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or carriage return prefixed
 * with `'` so a spreadsheet shows a hostile reason as text instead of running it as a formula (OWASP, CSV injection).
 */
export function csvCell(v: unknown): string {
  let s = v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV with a header line, CRLF line ends. */
export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const lines = [columns.map(csvCell).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The decision reasons of the policy, in words. Unknown codes fall back to the code itself. */
export const REASON_WORDS: Record<string, string> = {
  'TARGET.UNKNOWN': 'There is no such target',
  'DURATION.INVALID': 'The duration is not valid',
  'DURATION.TOO_LONG': 'Longer than the rule allows',
  'RULE.NO_MATCH': 'No rule lets you request this',
  'START.IN_PAST': 'The start time is in the past',
  'START.TOO_FAR': 'The start time is too far ahead',
  'CONDITION.MFA_REQUIRED': 'This needs a session with MFA',
  'CONDITION.ATTRIBUTE': 'Your identity lacks a required attribute',
  'CONDITION.SOURCE_IP': 'Not allowed from your network address',
  'CONDITION.OUTSIDE_HOURS': 'Outside the hours the rule allows',
  'APPROVAL.NOT_ENOUGH_APPROVERS': 'Not enough people can approve it',
  'SCOPE.TOO_LARGE': 'The scope is too large for one session policy',
};

export function reasonWords(code: string): string {
  if (Object.hasOwn(REASON_WORDS, code)) return REASON_WORDS[code] as string;
  if (code.startsWith('SCOPE.')) return 'The scope is not within what the rule allows';
  return code;
}
