import type { GrantEvent } from '../core/grant/events';
import { foldGrant } from '../core/grant/state';

/**
 * How a revoked or expired grant ended, layer by layer, from its own events: when the grant ended and what ended it
 * (a revoke call and by whom, the schedule, the sweeper), when access was taken away on the target's side and how,
 * and what the target enforces by itself. An auditor reads one grant's response time here, without the benchmark.
 * Empty for a grant that has not ended by revocation or expiry.
 */
export function endingText(events: readonly GrantEvent[]): string {
  const end = events.find((e) => e.type === 'revoked' || e.type === 'expired');
  if (!end) return '';
  const kind = (events.find((e) => e.type === 'requested') as Extract<GrantEvent, { type: 'requested' }> | undefined)
    ?.data.target.kind;
  const endMs = Date.parse(end.at);
  const after = (at: string) => {
    const ms = Date.parse(at) - endMs;
    return `${ms >= 0 ? '+' : ''}${ms} ms`;
  };
  const lines = ['How it ended'];

  if (end.type === 'revoked') {
    const by = end.actor.kind === 'system' ? 'the broker itself' : clean(end.actor.id);
    lines.push(`  grant      revoked ${end.at} by a revoke call from ${by}: ${quote(end.data.reason)}`);
  } else {
    const lag = endMs - Date.parse(end.data.expiresAt);
    const by = end.data.by === 'sweeper' ? 'the sweeper' : end.data.by === 'schedule' ? 'its schedule' : 'the broker';
    lines.push(`  grant      expired ${end.at} by ${by}, ${lag} ms after expiresAt ${end.data.expiresAt}`);
  }

  const later = events.filter((e) => e.seq > end.seq);
  const removed = later.find((e) => e.type === 'access-removed') as
    | Extract<GrantEvent, { type: 'access-removed' }>
    | undefined;
  const failed = later.filter((e) => e.type === 'access-failed') as Extract<GrantEvent, { type: 'access-failed' }>[];
  if (removed)
    lines.push(`  target     ${removalText(kind, end.type, removed.data.details, removed.at, after(removed.at))}`);
  else if (foldGrant([...events]).cleanupNeeded)
    lines.push('  target     not removed yet (no access-removed event): the sweeper retries the clean-up');
  else lines.push('  target     nothing to remove: nothing was put in place that outlives the grant');
  for (const f of failed)
    lines.push(
      `  failed     ${f.at} (${after(f.at)}) ${f.data.step}: ${clean(f.data.error.code)} ${clean(f.data.error.message)}`,
    );
  const enforced = enforcedText(kind, end);
  if (enforced) lines.push(`  enforced   ${enforced}`);
  return `${lines.join('\n')}\n`;
}

function removalText(
  kind: string | undefined,
  why: 'revoked' | 'expired',
  details: Record<string, unknown>,
  at: string,
  after: string,
): string {
  const d = details ?? {};
  if (kind === 'aws-role' && why === 'revoked') {
    if (d.revocation === 'deny-by-tag' || d.revocation === 'fallback-token-issue-time')
      return `deny written ${at} (${after}) on role ${clean(String(d.role ?? '?'))} in ${clean(String(d.account ?? '?'))} (${d.revocation}, kept until ${clean(String(d.keepUntil ?? '?'))}); IAM applies it after propagation`;
    if (d.wouldApply) return `${at} (${after}): local broker, the deny a deployment would write was shown, not written`;
    return `${at} (${after}): no deny needed (${clean(String(d.reason ?? d.revocation ?? 'none'))})`;
  }
  if (kind === 'grpc')
    return why === 'revoked'
      ? `${at} (${after}): listed in the signed revocation feed from the revoke; services learn it by push (long poll) at once, or at their next poll`
      : `${at} (${after}): nothing to remove, no token outlives the grant (exp <= expiresAt)`;
  if (kind === 'gcp-role') return `binding removed ${at} (${after})`;
  return `access removed ${at} (${after})`;
}

function enforcedText(kind: string | undefined, end: GrantEvent): string {
  if (kind === 'aws-role')
    return end.type === 'expired'
      ? `by AWS at expiresAt exactly: the session policy allows calls only while aws:CurrentTime < ${end.data.expiresAt}`
      : 'by AWS once the deny has propagated (IAM is eventually consistent); in any case at expiresAt by the session policy';
  if (kind === 'gcp-role')
    return "by GCP's condition request.time < expiresAt; a removed binding takes effect after propagation (typically ~2 min, up to 7+)";
  if (kind === 'grpc')
    return end.type === 'expired'
      ? "by each service's interceptor at the token's exp (no clock skew allowed on exp)"
      : "by each service's interceptor once its copy of the feed lists the grant";
  return '';
}

/** Control characters out (a reason is free text and this is a terminal). */
function clean(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

function quote(s: string): string {
  return JSON.stringify(clean(s));
}
