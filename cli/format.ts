import { formatDuration } from '../core/duration';
import type { GrantEvent } from '../core/grant/events';
import type { Grant } from '../core/grant/state';

/** Plain-text table with a header row; columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
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
  return [g.id, g.status, g.requester.id, g.target.name, formatDuration(g.duration), when, g.reason.slice(0, 40)];
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
  return present.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n');
}

/** One line saying where a grant stands, for `request`, `--wait` and the decision commands. */
export function statusLine(g: Grant, now: Date): string {
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

/** What the requester can do next with a grant, as commands to copy. */
export function nextSteps(g: Grant): string[] {
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
  return [String(e.seq), e.at, e.type, e.actor.id, eventDetail(e)];
}

export const EVENT_HEADERS = ['SEQ', 'AT', 'EVENT', 'ACTOR', 'DETAIL'];

function eventDetail(e: GrantEvent): string {
  switch (e.type) {
    case 'requested':
      return `${e.data.decision}${e.data.rule ? ` (rule ${e.data.rule})` : ''}${e.data.reasons.length ? `: ${e.data.reasons.map((r) => r.code).join(', ')}` : ''}`;
    case 'approved':
      return `${e.data.approvals}/${e.data.required}${e.data.comment ? `: ${e.data.comment}` : ''}`;
    case 'denied':
      return e.data.comment;
    case 'cancelled':
      return e.data.comment ?? '';
    case 'lapsed':
      return e.data.reason.code;
    case 'activated':
      return `until ${e.data.expiresAt}`;
    case 'credentials-issued':
      return `${e.data.kind}, until ${e.data.expiresAt}`;
    case 'revoked':
      return e.data.reason;
    case 'expired':
      return `at ${e.data.expiresAt}`;
    case 'access-failed':
      return `${e.data.step}: ${e.data.error.code}`;
    default:
      return '';
  }
}
