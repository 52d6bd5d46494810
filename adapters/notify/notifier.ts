import type { Clock } from '../../core/clock';
import { isTimeboxError, UnavailableError } from '../../core/errors';
import type { Grant } from '../../core/grant/state';
import type { Log, ProjectionStore } from '../../core/ports';
import { retry } from '../../core/retry';
import { type SignedWebhook, type UserDirectory, wantsEvent } from './config';
import { DETAIL_TYPES, EVENT_SOURCE, grantSummary, type LifecycleDetail } from './detail';
import { type HttpClient, retryable, retryDelay } from './http';
import {
  channelMessage,
  expiryReminder,
  type Mention,
  pendingReminder,
  plainMention,
  requesterMessage,
} from './messages';
import { signWebhook, WEBHOOK_SIGNATURE_HEADER } from './signatures';
import type { SlackMessage, SlackPoster } from './slack';

/**
 * Turns lifecycle events into notices: Slack channel messages (an approval request with Approve/Deny buttons,
 * decisions, activation, revocation, failures), a notice to the requester on every decision (a direct message
 * when the operator mapped their Slack user and the poster can, else the channel message mentions them), and
 * signed webhooks. The same code runs in the notifier Lambda (events from the bus) and in the local broker
 * (in process). Delivery is at least once: what succeeded is remembered for the life of the process so a retried
 * batch does not post twice, and what failed is thrown after everything else was tried, for the caller to retry.
 */

export interface SlackSettings {
  poster: SlackPoster;
  /** Channel id for channel messages (ignored by incoming webhooks, which post where they were created). */
  channel: string;
  /** Show Approve/Deny buttons (needs the Slack app's interactivity URL pointing at the slack endpoint). */
  interactive: boolean;
}

export interface NotifierDeps {
  slack?: SlackSettings;
  /** The Slack user mapping (read once per cold start from its secret). */
  users: () => Promise<UserDirectory>;
  /** Webhooks the notifier signs and posts itself. */
  webhooks: () => Promise<SignedWebhook[]>;
  http: HttpClient;
  clock: Clock;
  log: Log;
  /** Attempts per webhook delivery (default 3). */
  webhookAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface NotifyReport {
  sent: string[];
  skipped: string[];
  failed: { to: string; code: string; message: string }[];
}

/** Reminder timing: remind `leadMs` before the due time, once, on a schedule that runs every `periodMs`. */
export interface ReminderOptions {
  leadMs?: number;
  periodMs?: number;
}
export const DEFAULT_REMINDER_LEAD_MS = 15 * 60_000;
export const DEFAULT_REMINDER_PERIOD_MS = 5 * 60_000;

/** How many delivered (event, destination) pairs a process remembers. */
const REMEMBERED = 10_000;

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Notifier {
  private readonly delivered = new Set<string>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly d: NotifierDeps) {
    this.sleep = d.sleep ?? defaultSleep;
  }

  /** Every notice one lifecycle event calls for. Throws UnavailableError('NOTIFY.DELIVERY_FAILED') if any failed. */
  async notify(detail: LifecycleDetail): Promise<NotifyReport> {
    const report: NotifyReport = { sent: [], skipped: [], failed: [] };
    const users = await this.d.users();
    const mention = mentionWith(users);
    const key = `${detail.grantId}:${detail.seq}`;
    const slack = this.d.slack;
    if (slack) {
      const channel = channelMessage(detail, { interactive: slack.interactive, mention });
      if (channel) await this.deliver(report, `${key}:channel`, () => slack.poster.post(slack.channel, channel));
      const notice = requesterMessage(detail, mention);
      const dm = users.slackIdOf(detail.grant.requester);
      if (notice && dm && slack.poster.directMessages) {
        await this.deliver(report, `${key}:dm`, () => slack.poster.post(dm, notice));
      } else if (notice && !channel) {
        // No direct message possible and no channel message that already mentions them: mention them in the channel.
        await this.deliver(report, `${key}:mention`, () => slack.poster.post(slack.channel, notice));
      }
    }
    for (const w of await this.d.webhooks()) {
      if (!wantsEvent(w, detail.type)) continue;
      await this.deliver(report, `${key}:webhook:${w.name}`, () => this.postWebhook(w, detail));
    }
    return this.finish(report, key);
  }

  /**
   * Reminders, run every `periodMs` (an EventBridge schedule on AWS, a timer locally): pending requests that lapse
   * in `leadMs` are posted again to the channel, and requesters whose grant ends in `leadMs` are told. Each grant
   * falls in exactly one run's slot, (now + lead - period, now + lead], so it is reminded once; a run that does
   * not happen loses its reminders (they are a courtesy: lapsing and expiry do not depend on them).
   */
  async remind(projections: Pick<ProjectionStore, 'listDue'>, opts: ReminderOptions = {}): Promise<NotifyReport> {
    const report: NotifyReport = { sent: [], skipped: [], failed: [] };
    const slack = this.d.slack;
    if (!slack) return report;
    const now = this.d.clock.now().getTime();
    const lead = opts.leadMs ?? DEFAULT_REMINDER_LEAD_MS;
    const period = opts.periodMs ?? DEFAULT_REMINDER_PERIOD_MS;
    const horizon = new Date(now + lead);
    const inSlot = (iso: string | null | undefined) => {
      const t = iso ? Date.parse(iso) : Number.NaN;
      return t > now + lead - period && t <= now + lead && t > now;
    };
    const users = await this.d.users();
    const mention = mentionWith(users);
    const pending = (await projections.listDue('pending', horizon, { limit: 500 })).filter((g) =>
      inSlot(g.pendingUntil),
    );
    for (const g of pending) {
      const message = pendingReminder(g.id, grantSummary(g), { interactive: slack.interactive, mention });
      await this.deliver(report, `${g.id}:remind-pending:${g.pendingUntil}`, () =>
        slack.poster.post(slack.channel, message),
      );
    }
    const active = (await projections.listDue('active', horizon, { limit: 500 })).filter((g) => inSlot(g.expiresAt));
    for (const g of active) await this.remindRequester(report, g, users, mention);
    return this.finish(report, 'reminders');
  }

  private async remindRequester(report: NotifyReport, g: Grant, users: UserDirectory, mention: Mention) {
    const slack = this.d.slack as SlackSettings;
    const message = expiryReminder(g.id, grantSummary(g));
    const dm = users.slackIdOf(g.requester.id);
    const key = `${g.id}:remind-expiry:${g.expiresAt}`;
    if (dm && slack.poster.directMessages) await this.deliver(report, key, () => slack.poster.post(dm, message));
    else
      await this.deliver(report, key, () =>
        slack.poster.post(slack.channel, {
          ...message,
          blocks: [
            { type: 'section', text: { type: 'mrkdwn', text: `${mention(g.requester.id)}:` } },
            ...(message.blocks ?? []),
          ],
        }),
      );
  }

  private async deliver(report: NotifyReport, key: string, send: () => Promise<void>): Promise<void> {
    if (this.delivered.has(key)) {
      report.skipped.push(key);
      return;
    }
    try {
      await send();
      this.remember(key);
      report.sent.push(key);
    } catch (e) {
      const code = isTimeboxError(e) ? e.code : 'NOTIFY.ERROR';
      const message = e instanceof Error ? e.message : String(e);
      report.failed.push({ to: key, code, message });
      this.d.log.warn('notification not delivered', { to: key, code, error: message });
    }
  }

  private remember(key: string): void {
    if (this.delivered.size >= REMEMBERED) {
      const oldest = this.delivered.values().next().value;
      if (oldest !== undefined) this.delivered.delete(oldest);
    }
    this.delivered.add(key);
  }

  private finish(report: NotifyReport, what: string): NotifyReport {
    if (report.failed.length > 0)
      throw new UnavailableError(
        'NOTIFY.DELIVERY_FAILED',
        `${report.failed.length} notification(s) for ${what} failed: ${report.failed.map((f) => `${f.to} (${f.code})`).join(', ')}`,
      );
    return report;
  }

  /**
   * The webhook body is the EventBridge envelope's shape (`detail-type`, `source`, `time`, `detail`), so receivers
   * of API destinations and of signed webhooks parse the same JSON; `id` is `<grantId>:<seq>` for deduplication.
   */
  private async postWebhook(w: SignedWebhook, detail: LifecycleDetail): Promise<void> {
    const body = JSON.stringify({
      id: `${detail.grantId}:${detail.seq}`,
      'detail-type': DETAIL_TYPES[detail.type],
      source: EVENT_SOURCE,
      time: detail.at,
      detail,
    });
    const attempts = this.d.webhookAttempts ?? 3;
    // The last attempt: whether its request was sent, and the answer, none when the request itself failed (then
    // retried whatever the error).
    let sent = false;
    let status: number | undefined;
    let retryAfter: string | undefined;
    await retry(
      async () => {
        sent = false;
        status = undefined;
        retryAfter = undefined;
        // Signed per attempt: a retry carries a fresh timestamp, so it is not refused as a replay.
        const headers = {
          'content-type': 'application/json',
          'user-agent': 'timebox-webhook/1',
          'timebox-event-id': `${detail.grantId}:${detail.seq}`,
          [WEBHOOK_SIGNATURE_HEADER.toLowerCase()]: signWebhook(body, w.secret, this.d.clock.now()),
        };
        sent = true;
        const res = await this.d.http({ url: w.url, method: 'POST', headers, body });
        status = res.status;
        retryAfter = res.headers['retry-after'];
        if (status >= 200 && status < 300) return;
        throw new UnavailableError('WEBHOOK.REFUSED', `webhook ${w.name} answered HTTP ${status}`);
      },
      {
        attempts: Math.max(1, Math.ceil(attempts)),
        retryable: () => sent && (status === undefined || retryable(status)),
        delay: (attempt) => retryDelay(attempt, retryAfter),
        sleep: this.sleep,
      },
    );
  }
}

/** Mentions a mapped principal as `<@U...>` (Slack notifies them), anyone else by id; the broker as Timebox. */
export function mentionWith(users: UserDirectory): Mention {
  return (id) => {
    if (id === 'timebox') return 'Timebox';
    const slackId = users.slackIdOf(id);
    return slackId ? `<@${slackId}>` : plainMention(id);
  };
}

/** A message for one address, for tests and the local broker's log. */
export type Posted = { to: string; message: SlackMessage };
