import { formatDuration } from '../core/duration';
import type { GrantEvent } from '../core/grant/events';
import type { Grant } from '../core/grant/state';
import { eventSummary } from '../core/grant/summary';

/**
 * Characters that can forge or hide terminal output when text from someone else is printed: C0 and C1 controls and
 * DEL (escape sequences, carriage returns, line breaks), the Unicode line and paragraph separators, format characters
 * (bidi overrides and isolates U+202A-202E and U+2066-2069, the marks U+200E/U+200F/U+061C, zero-width characters)
 * and lone surrogates. See CVE-2021-42574 ("Trojan Source") for what bidi controls do to a reader.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const UNSAFE_IN_JSON = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.codePointAt(0) as number;
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code < 0x10000) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\u{${code.toString(16)}}`;
}

/**
 * Text someone else wrote (a reason, a comment, a principal id, a message from the broker), made safe to print on a
 * terminal: every character in UNSAFE is shown as a visible escape (`\n`, `\x1b`, `\u202e`), so the text stays on its
 * one line and cannot draw a line that is not there. Printable ASCII is unchanged. Every text the CLI prints that it
 * did not write itself goes through here (tables, `key: value` lines, status lines, error messages).
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * JSON for stdout: exactly JSON.stringify's document (it parses to the same value), with the characters in UNSAFE
 * that JSON.stringify leaves raw (DEL, C1, bidi and format characters, U+2028/U+2029) written as `\uXXXX` escapes.
 * They can only occur inside strings, so a script reads the same data and a terminal shows no hidden text.
 */
export function safeJson(value: unknown, indent?: number): string {
  // Per UTF-16 unit: a character beyond U+FFFF is written as its surrogate pair, as JSON requires.
  const unit = (c: string, i: number) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  // A raw line feed in JSON.stringify's output is the indentation's own (it escapes those in strings): kept.
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) =>
    [...c.split('').keys()].map((i) => unit(c, i)).join(''),
  );
}

/** At most `max` characters (code points, never half a surrogate pair) of a text, with `...` when it was cut. */
export function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 3).join('')}...`;
}

/** Plain-text table with a header row; columns padded to their widest cell. Every cell is printed through printable. */
export function table(headers: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map(printable));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `in 12m`, `3m ago`, relative to `now`. */
export function relative(iso: string | undefined | null, now: Date): string {
  if (!iso) return '-';
  const delta = Date.parse(iso) - now.getTime();
  if (Math.abs(delta) < 1000) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

export function scopeText(g: Pick<Grant, 'scope'>): string {
  if (!g.scope) return '-';
  switch (g.scope.kind) {
    case 'aws-role':
      return [...g.scope.actions, ...g.scope.resources].join(' ');
    case 'grpc':
      return g.scope.methods.join(' ');
    case 'gcp-role':
      return g.scope.roles.join(' ');
  }
}

/** The row a list shows for a grant. */
export function grantRow(g: Grant, now: Date): string[] {
  const when =
    g.status === 'active'
      ? `expires ${relative(g.expiresAt, now)}`
      : g.status === 'pending'
        ? `${g.approvals.length}/${g.approval?.count ?? 0} approvals, lapses ${relative(g.pendingUntil, now)}`
        : g.status === 'approved'
          ? `starts ${relative(g.startAt ?? g.requestedAt, now)}`
          : `${g.status} ${relative(g.endedAt, now)}`;
  return [g.id, g.status, g.requester.id, g.target.name, formatDuration(g.duration), when, clip(g.reason, 40)];
}

export const GRANT_HEADERS = ['ID', 'STATUS', 'REQUESTER', 'TARGET', 'FOR', 'WHEN', 'REASON'];

/** A grant as `key: value` lines for `show`. */
export function grantDetails(g: Grant, now: Date): string {
  const rows: [string, string | undefined][] = [
    ['id', g.id],
    ['status', g.status],
    ['requester', g.requester.id],
    ['target', `${g.target.name} (${g.target.kind})`],
    ['scope', scopeText(g)],
    ['duration', formatDuration(g.duration)],
    ['reason', g.reason],
    ['ticket', g.ticket],
    ['rule', g.rule ?? '-'],
    ['requested', `${g.requestedAt} (${relative(g.requestedAt, now)})`],
    ['starts', g.startAt],
    [
      'approvals',
      g.approval
        ? `${g.approvals.length}/${g.approval.count} from ${g.approval.from.join(', ')}${g.approvals.length ? `: ${g.approvals.map((a) => a.by).join(', ')}` : ''}`
        : 'auto',
    ],
    ['activated', g.activatedAt],
    ['expires', g.expiresAt ? `${g.expiresAt} (${relative(g.expiresAt, now)})` : undefined],
    ['ended', g.endedAt ? `${g.endedAt} by ${g.endedBy}: ${g.endReason}` : undefined],
    ['extends', g.extends],
    ['credentials issued', g.credentialsIssued ? String(g.credentialsIssued) : undefined],
  ];
  const present = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${printable(v)}`).join('\n');
}

/** One line saying where a grant stands, for `request`, `--wait` and the decision commands; printable. */
export function statusLine(g: Grant, now: Date): string {
  return printable(rawStatusLine(g, now));
}

function rawStatusLine(g: Grant, now: Date): string {
  switch (g.status) {
    case 'pending': {
      const need = g.approval
        ? `${g.approvals.length}/${g.approval.count} approvals from ${g.approval.from.join(', ')}`
        : 'a decision';
      return `${g.id} pending: ${need} (lapses ${relative(g.pendingUntil, now)})`;
    }
    case 'approved':
      return `${g.id} approved: starts ${relative(g.startAt ?? g.requestedAt, now)}`;
    case 'active':
      return `${g.id} active on ${g.target.name} until ${g.expiresAt} (${relative(g.expiresAt, now)})`;
    default:
      return `${g.id} ${g.status}${g.endedBy ? ` by ${g.endedBy}` : ''}${g.endReason ? `: ${g.endReason}` : ''}`;
  }
}

/**
 * When a pending request lapses, and why then. The broker gives a request the rule's `pendingTimeout` to be approved,
 * but never longer than the duration it asks for (core/decide.ts): a 15-minute break-glass request that nobody
 * approves within 15 minutes lapses, rather than granting 15 minutes at some later, unforeseen time.
 */
export function approvalDeadline(g: Grant): string | undefined {
  if (g.status !== 'pending' || !g.pendingUntil) return undefined;
  const waits = Date.parse(g.pendingUntil) - Date.parse(g.startAt ?? g.requestedAt);
  // Within a second: the broker may have read its clock twice while deciding.
  const capped = Math.abs(waits - g.duration) < 1000;
  return printable(
    `approvals are due by ${g.pendingUntil}${capped ? `: a request waits for approval no longer than the ${formatDuration(g.duration)} it asks for` : ''}`,
  );
}

/** What the requester can do next with a grant, as commands to copy. */
export function nextSteps(g: Grant): string[] {
  return rawNextSteps(g).map(printable);
}

function rawNextSteps(g: Grant): string[] {
  if (g.status === 'pending') return [`ask an approver to run: timebox approve ${g.id}`];
  if (g.status !== 'active') return [];
  switch (g.target.kind) {
    case 'grpc':
      return [`token for the service: timebox token ${g.id}`];
    case 'aws-role':
      return [`credentials: timebox credentials ${g.id}`, `console: timebox console ${g.id}`];
    case 'gcp-role':
      return [`binding details: timebox credentials ${g.id}`];
  }
}

/** A lifecycle event as a table row for `show`: sequence, time, type, actor, and what it says. */
export function eventRow(e: GrantEvent): string[] {
  return [String(e.seq), e.at, e.type, e.actor.id, eventSummary(e, 'detail')];
}

export const EVENT_HEADERS = ['SEQ', 'AT', 'EVENT', 'ACTOR', 'DETAIL'];
