import { formatDuration } from '../../core/duration';
import type { GrantSummary, LifecycleDetail } from './detail';
import { type Block, clip, escapeMrkdwn, type SlackMessage } from './slack';

/**
 * Block Kit messages for each lifecycle moment, as pure functions of the public event detail (./detail.ts), so
 * the same text comes out of the Lambda notifier and the local broker. Every user-supplied string (reason,
 * ticket, comments, ids) is escaped before it reaches mrkdwn, so nobody can smuggle a mention or a link into a
 * notice through a request reason.
 */

/** action_id of the buttons and the comment box; the Slack endpoint recognises nothing else. */
export const ACTION_APPROVE = 'timebox_approve';
export const ACTION_DENY = 'timebox_deny';
export const COMMENT_BLOCK = 'timebox_comment';
export const COMMENT_ACTION = 'comment';
export const DECIDE_BLOCK = 'timebox_decide';

/** How a principal appears: a Slack mention when the operator mapped them, their id otherwise. */
export type Mention = (principalId: string) => string;
export const plainMention: Mention = (id) => `*${escapeMrkdwn(id)}*`;

const esc = (s: string, max = 1900) => escapeMrkdwn(clip(s, max));

/** `<!date^...>` renders in each reader's own time zone; the fallback is the ISO time. */
export function slackDate(iso: string): string {
  const t = Math.floor(Date.parse(iso) / 1000);
  return Number.isFinite(t) ? `<!date^${t}^{date_short_pretty} {time}|${iso}>` : esc(iso);
}

function targetText(g: GrantSummary): string {
  const t = g.target;
  const where =
    t.kind === 'aws-role' ? `AWS ${t.account}` : t.kind === 'gcp-role' ? `GCP ${t.project}` : `gRPC ${t.audience}`;
  return `\`${esc(t.name, 200)}\` (${esc(where, 200)})`;
}

function scopeText(g: GrantSummary): string {
  const s = g.scope;
  if (!s) return 'whole target';
  const items = s.kind === 'aws-role' ? [...s.actions, ...s.resources] : s.kind === 'grpc' ? s.methods : s.roles;
  const shown = items.slice(0, 10).map((i) => `\`${esc(i, 180)}\``);
  return clip(shown.join(', ') + (items.length > 10 ? ` and ${items.length - 10} more` : ''), 1900);
}

function approvalText(g: GrantSummary): string {
  if (!g.approval) return 'none (auto-approved)';
  const from = g.approval.from.map((f) => `\`${esc(f, 100)}\``).join(', ');
  return `${g.approvals.length} of ${g.approval.count} from ${from}${g.approval.requireMfa ? ' (MFA required)' : ''}`;
}

const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${value}` });
const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: clip(text, 3000) } });
const context = (text: string): Block => ({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(text, 3000) }] });

/** Where a request stands, for the line under a decided request. */
function outcomeText(grantId: string, g: GrantSummary, mention: Mention): string {
  const by = (ids: string | undefined) =>
    (ids ?? '')
      .split(',')
      .filter(Boolean)
      .map((id) => mention(id))
      .join(', ');
  switch (g.status) {
    case 'pending':
      return g.approvals.length > 0
        ? `:hourglass_flowing_sand: Approved so far by ${g.approvals.map((a) => mention(a.by)).join(', ')}`
        : ':hourglass_flowing_sand: Waiting for approval';
    case 'approved':
      return `:white_check_mark: Approved by ${by(g.decidedBy)}${g.startAt ? `; starts ${slackDate(g.startAt)}` : ''}`;
    case 'active':
      return `:large_green_circle: Approved by ${by(g.decidedBy)}; active until ${g.expiresAt ? slackDate(g.expiresAt) : '?'}`;
    case 'denied':
      return `:no_entry: Denied by ${by(g.endedBy)}: ${esc(g.endReason ?? '', 500)}`;
    case 'cancelled':
      return `:heavy_multiplication_x: Cancelled by ${by(g.endedBy)}`;
    case 'lapsed':
      return `:hourglass: Lapsed (${esc(g.endReason ?? '', 200)})`;
    case 'revoked':
      return `:octagonal_sign: Revoked by ${by(g.endedBy)}: ${esc(g.endReason ?? '', 500)}`;
    case 'expired':
      return ':checkered_flag: Ended at expiry';
  }
  return `\`${grantId}\``;
}

/**
 * The approval request: who, what, scope, how long, why, approvals needed, and Approve/Deny buttons with an
 * optional comment box (a denial needs its text). No buttons when the request is no longer pending, when Slack
 * is not interactive (incoming webhooks, local mode), or when approving needs MFA, which Slack cannot prove.
 */
export function requestMessage(
  grantId: string,
  g: GrantSummary,
  opts: { interactive: boolean; mention?: Mention; headline?: string },
): SlackMessage {
  const mention = opts.mention ?? plainMention;
  const headline = opts.headline ?? ':key: Access request';
  const blocks: Block[] = [
    section(`${headline}: ${mention(g.requester)} asks for ${targetText(g)}`),
    {
      type: 'section',
      fields: [
        field('Scope', scopeText(g)),
        field('Duration', formatDuration(g.duration)),
        field('Reason', esc(g.reason)),
        field('Ticket', g.ticket ? esc(g.ticket, 200) : '-'),
        field('Approvals', approvalText(g)),
        field(
          'Decide by',
          g.pendingUntil ? slackDate(g.pendingUntil) : g.startAt ? `starts ${slackDate(g.startAt)}` : '-',
        ),
      ],
    },
  ];
  const cli = `\`timebox approve ${grantId}\``;
  if (g.status !== 'pending') {
    blocks.push(context(outcomeText(grantId, g, mention)));
  } else if (g.approval?.requireMfa) {
    blocks.push(
      section(
        `:lock: Approving this request requires MFA, which Slack cannot prove. Approve or deny from an MFA session with ${cli} (or \`timebox deny ${grantId}\`).`,
      ),
    );
    if (g.approvals.length > 0) blocks.push(context(outcomeText(grantId, g, mention)));
  } else {
    if (g.approvals.length > 0) blocks.push(context(outcomeText(grantId, g, mention)));
    if (opts.interactive) {
      blocks.push(
        {
          type: 'input',
          block_id: COMMENT_BLOCK,
          optional: true,
          label: { type: 'plain_text', text: 'Comment (required to deny)' },
          element: { type: 'plain_text_input', action_id: COMMENT_ACTION, max_length: 1000 },
        },
        {
          type: 'actions',
          block_id: DECIDE_BLOCK,
          elements: [
            {
              type: 'button',
              action_id: ACTION_APPROVE,
              style: 'primary',
              text: { type: 'plain_text', text: 'Approve' },
              value: grantId,
            },
            {
              type: 'button',
              action_id: ACTION_DENY,
              style: 'danger',
              text: { type: 'plain_text', text: 'Deny' },
              value: grantId,
            },
          ],
        },
      );
    }
  }
  blocks.push(context(`\`${grantId}\` · rule \`${esc(g.rule ?? '-', 100)}\` · ${cli}`));
  return {
    text: `Access request: ${g.requester} asks for ${g.target.name} for ${formatDuration(g.duration)}`,
    blocks,
  };
}

/** The channel notice of an event, or undefined when the event is not worth a channel message. */
export function channelMessage(
  d: LifecycleDetail,
  opts: { interactive: boolean; mention?: Mention },
): SlackMessage | undefined {
  const mention = opts.mention ?? plainMention;
  const g = d.grant;
  const who = mention(d.actor.id);
  const subject = `${mention(g.requester)}'s access to ${targetText(g)} (\`${d.grantId}\`)`;
  const plain = (text: string, fallback: string): SlackMessage => ({ text: fallback, blocks: [section(text)] });
  switch (d.type) {
    case 'requested':
      if (d.grant.approval && 'decision' in d.data && d.data.decision === 'needs-approval')
        return requestMessage(d.grantId, g, opts);
      if ('decision' in d.data && d.data.decision === 'allow')
        return plain(
          `:zap: ${subject} for ${formatDuration(g.duration)} was auto-approved by rule \`${esc(g.rule ?? '-', 100)}\`. Reason: ${esc(g.reason)}`,
          `${g.requester} was auto-approved for ${g.target.name}`,
        );
      return undefined;
    case 'approved': {
      const data = d.data as { approvals: number; required: number; comment?: string };
      const comment = data.comment ? `: ${esc(data.comment, 500)}` : '';
      return data.approvals >= data.required
        ? plain(
            `:white_check_mark: ${who} approved ${subject} (${data.approvals} of ${data.required})${comment}`,
            `${d.actor.id} approved ${d.grantId}`,
          )
        : plain(
            `:ballot_box_with_check: ${who} approved ${subject}: ${data.approvals} of ${data.required}, ${data.required - data.approvals} more needed${comment}`,
            `${d.actor.id} approved ${d.grantId} (${data.approvals}/${data.required})`,
          );
    }
    case 'denied':
      return plain(
        `:no_entry: ${who} denied ${subject}: ${esc((d.data as { comment: string }).comment, 500)}`,
        `${d.actor.id} denied ${d.grantId}`,
      );
    case 'cancelled':
      return plain(`:heavy_multiplication_x: ${who} cancelled ${subject}`, `${d.grantId} was cancelled`);
    case 'lapsed':
      return plain(
        `:hourglass: ${subject} lapsed: ${esc((d.data as { reason: { message: string } }).reason.message, 500)}`,
        `${d.grantId} lapsed`,
      );
    case 'activated':
      return plain(
        `:large_green_circle: ${subject} is active until ${slackDate((d.data as { expiresAt: string }).expiresAt)}`,
        `${d.grantId} is active`,
      );
    case 'revoked':
      return plain(
        `:octagonal_sign: ${d.actor.kind === 'system' ? 'Timebox' : who} revoked ${subject}: ${esc((d.data as { reason: string }).reason, 500)}`,
        `${d.grantId} was revoked`,
      );
    case 'expired':
      return plain(`:checkered_flag: ${subject} ended at its expiry`, `${d.grantId} expired`);
    case 'access-failed': {
      const data = d.data as { step: string; error: { code: string; message: string } };
      return plain(
        `:warning: Timebox could not ${data.step === 'remove' ? 'remove' : data.step === 'schedule' ? 'schedule the expiry of' : 'put in place'} ${subject}: \`${esc(data.error.code, 100)}\` ${esc(data.error.message, 500)}. The sweeper retries; the session policy still ends access at expiry.`,
        `Timebox ${data.step} failed for ${d.grantId}`,
      );
    }
    default:
      // credentials-issued, access-provisioned, access-removed: on the record and the bus, not worth a ping.
      return undefined;
  }
}

/** The requester's notice of a decision or change on their own grant (a direct message, or a channel mention). */
export function requesterMessage(d: LifecycleDetail, mention: Mention = plainMention): SlackMessage | undefined {
  const g = d.grant;
  const what = `your request for ${targetText(g)} (\`${d.grantId}\`)`;
  const by = mention(d.actor.id);
  const msg = (text: string, fallback: string): SlackMessage => ({ text: fallback, blocks: [section(text)] });
  switch (d.type) {
    case 'approved': {
      const data = d.data as { approvals: number; required: number; comment?: string };
      const comment = data.comment ? ` (${esc(data.comment, 500)})` : '';
      return data.approvals >= data.required
        ? msg(`:white_check_mark: ${by} approved ${what}${comment}. It is now fully approved.`, `${d.grantId} approved`)
        : msg(
            `:ballot_box_with_check: ${by} approved ${what}${comment}: ${data.approvals} of ${data.required} approvals.`,
            `${d.grantId}: ${data.approvals}/${data.required} approvals`,
          );
    }
    case 'denied':
      return msg(
        `:no_entry: ${by} denied ${what}: ${esc((d.data as { comment: string }).comment, 500)}`,
        `${d.grantId} denied`,
      );
    case 'lapsed':
      return msg(
        `:hourglass: ${what} lapsed: ${esc((d.data as { reason: { message: string } }).reason.message, 500)}`,
        `${d.grantId} lapsed`,
      );
    case 'activated':
      return msg(
        `:large_green_circle: ${what} is active until ${slackDate((d.data as { expiresAt: string }).expiresAt)}.`,
        `${d.grantId} is active`,
      );
    case 'revoked':
      if (d.actor.id === g.requester) return undefined;
      return msg(
        `:octagonal_sign: ${d.actor.kind === 'system' ? 'Timebox' : by} revoked ${what}: ${esc((d.data as { reason: string }).reason, 500)}`,
        `${d.grantId} revoked`,
      );
    default:
      return undefined;
  }
}

/** A pending request close to lapsing: the request again, headed as a reminder (buttons included). */
export function pendingReminder(
  grantId: string,
  g: GrantSummary,
  opts: { interactive: boolean; mention?: Mention },
): SlackMessage {
  const m = requestMessage(grantId, g, {
    ...opts,
    headline: `:alarm_clock: Reminder, lapses ${g.pendingUntil ? slackDate(g.pendingUntil) : 'soon'}`,
  });
  return { ...m, text: `Reminder: ${m.text}` };
}

/** A grant about to expire: tells the requester when, and how to ask for more. */
export function expiryReminder(grantId: string, g: GrantSummary): SlackMessage {
  return {
    text: `Your access to ${g.target.name} ends soon`,
    blocks: [
      section(
        `:alarm_clock: Your access to ${targetText(g)} (\`${grantId}\`) ends ${g.expiresAt ? slackDate(g.expiresAt) : 'soon'}. Need longer? Ask for an extension with the timebox CLI before then.`,
      ),
    ],
  };
}
