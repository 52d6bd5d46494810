import type { GrantEvent } from './events';

/**
 * The one-line summary of a lifecycle event: what it says beyond its type, actor and time. Three views print it,
 * each with its own emphasis, so each names its style:
 *
 * - `timeline` (the merged audit timeline, adapters/notify/timeline.ts): messages for people, with the request's
 *   reason and the failing step's message.
 * - `detail` (the DETAIL column of `timebox show`, cli/format.ts): stable codes (the decision's reason codes, the
 *   lapse and error codes) that an operator can search for.
 * - `note` (the NOTE column of `timebox audit`, cli/commands/audit.ts): only the value the event carries (its
 *   comment, reason, expiry or decision), read without relying on its type, so events of a type this build does
 *   not know (from a newer broker) still show it.
 *
 * An event with nothing to add gives ''.
 */
export type SummaryStyle = 'timeline' | 'detail' | 'note';

export function eventSummary(e: GrantEvent, style: SummaryStyle): string {
  if (style === 'note') return carriedValue(e);
  switch (e.type) {
    case 'requested': {
      const d = e.data;
      if (style === 'timeline') return `${d.decision}${d.rule ? ` by rule ${d.rule}` : ''}: ${d.reason}`;
      return `${d.decision}${d.rule ? ` (rule ${d.rule})` : ''}${d.reasons.length ? `: ${d.reasons.map((r) => r.code).join(', ')}` : ''}`;
    }
    case 'approved':
      return `${e.data.approvals}/${e.data.required}${e.data.comment ? `: ${e.data.comment}` : ''}`;
    case 'denied':
      return e.data.comment;
    case 'cancelled':
      return e.data.comment ?? '';
    case 'lapsed':
      return style === 'detail' ? e.data.reason.code : e.data.reason.message;
    case 'activated':
      return `until ${e.data.expiresAt}`;
    case 'credentials-issued':
      return `${e.data.kind}${style === 'detail' ? ',' : ''} until ${e.data.expiresAt}`;
    case 'revoked':
      return e.data.reason;
    case 'expired':
      return `at ${e.data.expiresAt}`;
    case 'access-failed':
      return `${e.data.step}: ${style === 'detail' ? e.data.error.code : e.data.error.message}`;
    default:
      return '';
  }
}

/** The comment, reason, expiry or decision an event of any type carries, read without knowing its type. */
function carriedValue(e: GrantEvent): string {
  const d = e.data as Record<string, unknown>;
  const text = d.comment ?? d.reason ?? d.expiresAt ?? (typeof d.decision === 'string' ? d.decision : undefined);
  return typeof text === 'string'
    ? text
    : typeof text === 'object' && text
      ? String((text as { message?: string }).message ?? '')
      : '';
}
