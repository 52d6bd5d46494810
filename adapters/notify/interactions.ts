import type { Clock } from '../../core/clock';
import { isTimeboxError } from '../../core/errors';
import type { GrantService } from '../../core/grant/service';
import { isGrantId } from '../../core/ids';
import type { Log } from '../../core/ports';
import { principal } from '../../core/principal';
import * as z from '../zod';
import type { UserDirectory } from './config';
import { grantSummary, SLACK_REFUSED_DETAIL_TYPE } from './detail';
import { ACTION_APPROVE, ACTION_DENY, COMMENT_ACTION, COMMENT_BLOCK, requestMessage } from './messages';
import { mentionWith } from './notifier';
import { verifySlackSignature } from './signatures';
import { escapeMrkdwn, type InteractionAnswer } from './slack';

/**
 * The Slack interactivity endpoint's logic, transport-neutral: check Slack's signature over the raw body, parse
 * the `block_actions` payload, map the Slack user to a principal through the operator's mapping, and call exactly
 * GrantService.approve or deny, so every approval rule applies as it does from the CLI (eligibility, no
 * self-approval, distinct approvers, MFA). The outcome replaces the original message; a refusal is shown only to
 * the person who clicked. Clicks from Slack users nobody mapped are refused, logged and published on the bus.
 */

export interface SlackRequest {
  /** Header names in any case. */
  headers: Record<string, string | undefined>;
  /** The body exactly as received (already base64-decoded by the transport when it was encoded). */
  rawBody: string;
}
export interface SlackResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the bus carries when an unmapped Slack user clicks (detail type `Timebox Slack Action Refused`). */
export interface RefusalNotice {
  slackUserId: string;
  slackUserName?: string;
  slackTeamId?: string;
  action: 'approve' | 'deny';
  grantId: string;
  reason: 'SLACK.UNMAPPED_USER' | 'SLACK.WRONG_WORKSPACE';
  at: string;
}

export interface InteractionDeps {
  signingSecret: () => Promise<string>;
  users: () => Promise<UserDirectory>;
  service: Pick<GrantService, 'approve' | 'deny'>;
  /** Answers through the payload's response_url (./slack.ts `respond`). */
  respond: (responseUrl: string, answer: InteractionAnswer) => Promise<void>;
  /** Publishes a refusal on the bus (`EventBridgePublisher.notice`). */
  refused: (detailType: string, notice: RefusalNotice) => Promise<void>;
  clock: Clock;
  log: Log;
  /** When set, payloads from any other Slack workspace are refused. */
  teamId?: string;
}

const Payload = z.looseObject({
  type: z.string(),
  user: z.looseObject({ id: z.string(), username: z.optional(z.string()), team_id: z.optional(z.string()) }),
  team: z.optional(z.nullable(z.looseObject({ id: z.string() }))),
  actions: z.optional(
    z.array(z.looseObject({ action_id: z.string(), value: z.optional(z.string()), block_id: z.optional(z.string()) })),
  ),
  response_url: z.optional(z.string()),
  state: z.optional(
    z.looseObject({
      values: z.optional(
        z.record(z.string(), z.record(z.string(), z.looseObject({ value: z.optional(z.nullable(z.string())) }))),
      ),
    }),
  ),
});
type Payload = z.output<typeof Payload>;

const MAX_RAW_BODY = 64 * 1024;
const ok = (): SlackResponse => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: '' });
const refuse = (status: number, code: string, message: string): SlackResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ error: { code, message } }),
});

/** Comments follow the API's rule: free text without control characters other than tab and line breaks. */
function commentOf(p: Payload): string | undefined {
  const raw = p.state?.values?.[COMMENT_BLOCK]?.[COMMENT_ACTION]?.value ?? undefined;
  if (raw === undefined || raw === null) return undefined;
  const text = raw.trim();
  if (!text) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
  return text.slice(0, 1000).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '');
}

/** A decision that failed for a reason other than a refusal (a store or network fault): nothing was recorded. */
export const DECISION_FAILED = 'SLACK.DECISION_FAILED';

/** What a refused click shows its author: the stable code, the reason, and what to do instead. */
export function refusalText(code: string, message: string, grantId: string): string {
  switch (code) {
    case 'APPROVAL.SELF':
      return `:no_entry_sign: You requested this access, so you cannot decide it (\`APPROVAL.SELF\`). Another approver has to.`;
    case 'APPROVAL.MFA_REQUIRED':
      return `:lock: Deciding this request requires MFA, which Slack cannot prove (\`APPROVAL.MFA_REQUIRED\`). Run \`timebox approve ${grantId}\` (or \`timebox deny ${grantId}\`) from an MFA session.`;
    case 'DENY.COMMENT_REQUIRED':
      return ':pencil2: A denial needs a reason: type it in the comment box, then click Deny again (`DENY.COMMENT_REQUIRED`).';
    case 'SLACK.UNMAPPED_USER':
      return ':no_entry_sign: Your Slack account is not mapped to a Timebox principal, so it cannot approve or deny (`SLACK.UNMAPPED_USER`). Ask the Timebox operators to add you, or use the timebox CLI.';
    case 'SLACK.WRONG_WORKSPACE':
      return ":no_entry_sign: This click came from another Slack workspace than the one Timebox answers (`SLACK.WRONG_WORKSPACE`), so it cannot approve or deny. Use the approvals channel in your organisation's workspace, or the timebox CLI.";
    case DECISION_FAILED:
      return `:warning: Timebox could not record that decision (\`${DECISION_FAILED}\`); try again, or use the timebox CLI.`;
    default:
      return `:no_entry_sign: \`${escapeMrkdwn(code)}\`: ${escapeMrkdwn(message)}`;
  }
}

/** The endpoint: returns quickly with 200 for anything Slack sent and signed, 401 for what it did not. */
export function createSlackInteractions(deps: InteractionDeps): (req: SlackRequest) => Promise<SlackResponse> {
  return async (req) => {
    const headers = new Map(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
    if (Buffer.byteLength(req.rawBody, 'utf8') > MAX_RAW_BODY)
      return refuse(413, 'REQUEST.TOO_LARGE', 'the body is larger than an interaction payload can be');
    const check = verifySlackSignature({
      signingSecret: await deps.signingSecret(),
      timestamp: headers.get('x-slack-request-timestamp'),
      signature: headers.get('x-slack-signature'),
      rawBody: req.rawBody,
      now: deps.clock.now(),
    });
    if (!check.ok) {
      deps.log.warn('slack request refused: bad signature', { code: check.code, reason: check.message });
      return refuse(401, check.code, check.message);
    }

    const form = new URLSearchParams(req.rawBody);
    let raw: unknown;
    try {
      raw = JSON.parse(form.get('payload') ?? '');
    } catch {
      return refuse(400, 'SLACK.MALFORMED', 'the body carries no JSON payload');
    }
    const parsed = Payload.safeParse(raw);
    if (!parsed.success) return refuse(400, 'SLACK.MALFORMED', 'the payload is not a Slack interaction');
    const p = parsed.data;
    const action = p.actions?.[0];
    // Only our two buttons do anything; typing in the comment box or other interactions are acknowledged and ignored.
    if (
      p.type !== 'block_actions' ||
      !action ||
      (action.action_id !== ACTION_APPROVE && action.action_id !== ACTION_DENY)
    )
      return ok();
    const verb = action.action_id === ACTION_APPROVE ? 'approve' : 'deny';
    const grantId = action.value ?? '';
    const responseUrl = p.response_url;
    const teamId = p.team?.id ?? p.user.team_id;
    const log = {
      slackUserId: p.user.id,
      slackTeamId: teamId,
      action: verb,
      grantId: grantId.slice(0, 64),
    };
    const answer = async (a: InteractionAnswer) => {
      if (!responseUrl) return;
      try {
        await deps.respond(responseUrl, a);
      } catch (e) {
        deps.log.error('could not answer in Slack', { ...log, error: e instanceof Error ? e.message : String(e) });
      }
    };
    /**
     * Every refusal goes through here: the code on the log line (and on the bus, for the caller's notice) is the
     * code shown to the person who clicked, by construction.
     */
    const refuseClick = async (
      level: 'warn' | 'info' | 'error',
      message: string,
      code: string,
      why: string,
      fields: Record<string, unknown> = {},
    ) => {
      deps.log[level](message, { ...log, ...fields, code });
      await answer({ ephemeral: { text: refusalText(code, why, grantId) } });
    };
    if (!isGrantId(grantId)) {
      await refuseClick(
        'warn',
        'slack action refused: not a grant id',
        'GRANT.NOT_FOUND',
        'that button does not name a grant',
      );
      return ok();
    }

    const users = await deps.users();
    const mapped = users.principalOf(p.user.id);
    const wrongTeam = deps.teamId !== undefined && teamId !== deps.teamId;
    if (!mapped || wrongTeam) {
      const reason = wrongTeam ? 'SLACK.WRONG_WORKSPACE' : 'SLACK.UNMAPPED_USER';
      // Audited twice over: a structured log line, and an event on the bus for whoever watches it.
      try {
        await deps.refused(SLACK_REFUSED_DETAIL_TYPE, {
          slackUserId: p.user.id,
          ...(p.user.username ? { slackUserName: p.user.username } : {}),
          ...(teamId ? { slackTeamId: teamId } : {}),
          action: verb,
          grantId,
          reason,
          at: deps.clock.now().toISOString(),
        });
      } catch (e) {
        deps.log.error('could not publish the slack refusal', {
          ...log,
          error: e instanceof Error ? e.message : String(e),
        });
      }
      await refuseClick(
        'warn',
        wrongTeam ? 'slack action refused: wrong workspace' : 'slack action refused: unmapped user',
        reason,
        '',
        { slackUserName: p.user.username },
      );
      return ok();
    }

    // Slack proves who clicked, not how they signed in: never an MFA session, and the source IP is Slack's.
    const who = principal({ id: mapped.id, groups: mapped.groups, mfa: false, userAgent: 'slack' });
    const comment = commentOf(p);
    try {
      const grant =
        verb === 'approve'
          ? await deps.service.approve(grantId, who, comment)
          : await deps.service.deny(grantId, who, comment ?? '');
      deps.log.info('slack decision', { ...log, principal: who.id, status: grant.status });
      await answer({
        replaceOriginal: requestMessage(grantId, grantSummary(grant), {
          interactive: true,
          mention: mentionWith(users),
        }),
      });
    } catch (e) {
      if (!isTimeboxError(e)) {
        await refuseClick('error', 'slack decision failed', DECISION_FAILED, '', {
          principal: who.id,
          error: e instanceof Error ? e.message : String(e),
        });
        return ok();
      }
      await refuseClick('info', 'slack decision refused', e.code, e.message, { principal: who.id });
    }
    return ok();
  };
}
