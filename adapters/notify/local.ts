import { readFileSync } from 'node:fs';
import { type Clock, systemClock } from '../../core/clock';
import { UnavailableError, ValidationError } from '../../core/errors';
import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import type { EventPublisher, Log, ProjectionStore } from '../../core/ports';
import * as z from '../zod';
import { parseSecretJson, SignedWebhooksSchema, SlackUsersSchema, UserDirectory } from './config';
import { lifecycleDetail } from './detail';
import { fetchHttpClient, type HttpClient } from './http';
import { DEFAULT_REMINDER_PERIOD_MS, Notifier } from './notifier';
import { SlackIncomingWebhook, type SlackPoster, SlackWebApi } from './slack';

/**
 * Notifications in local mode: the same Notifier as the Lambda, called in process for every lifecycle event
 * through the local runtime's publisher seam (`publishers` / `LocalRuntime.addPublisher`), with reminders on a
 * timer. Configured from the environment or a JSON file (docs/notifications.md, "Local mode"). Slack cannot reach
 * a loopback broker, so local messages carry no buttons: approvers use `timebox approve`.
 */

/** Hands every event, with the grant as it is now, to the notifier; throws if any notice failed (the service logs it). */
export class NotifyingPublisher implements EventPublisher {
  constructor(private readonly notifier: Pick<Notifier, 'notify'>) {}

  async publish(events: GrantEvent[], grant: Grant): Promise<void> {
    const failed: string[] = [];
    for (const e of events) {
      try {
        await this.notifier.notify(lifecycleDetail(e, grant));
      } catch (err) {
        failed.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (failed.length > 0) throw new UnavailableError('NOTIFY.DELIVERY_FAILED', failed.join('; '));
  }
}

/** The local settings file (TIMEBOX_NOTIFY_CONFIG); the environment variables override its fields. */
export const LocalNotifyFileSchema = z.strictObject({
  slack: z.optional(
    z.strictObject({
      webhookUrl: z.optional(z.string()),
      botToken: z.optional(z.string()),
      channel: z.optional(z.string().check(z.regex(/^[CGD][A-Z0-9]{2,20}$/, 'must be a Slack channel id'))),
    }),
  ),
  slackUsers: z.optional(SlackUsersSchema),
  webhooks: z.optional(SignedWebhooksSchema),
});

/** Environment variables of local notifications. */
export const LOCAL_NOTIFY_ENV = {
  configFile: 'TIMEBOX_NOTIFY_CONFIG',
  slackWebhookUrl: 'TIMEBOX_SLACK_WEBHOOK_URL',
  slackBotToken: 'TIMEBOX_SLACK_BOT_TOKEN',
  slackChannel: 'TIMEBOX_SLACK_CHANNEL',
  slackUsers: 'TIMEBOX_SLACK_USERS',
  webhooks: 'TIMEBOX_WEBHOOKS',
} as const;

/**
 * Builds the local notifier from the environment (and the optional settings file), or undefined when nothing is
 * configured. Throws with the variable's name when a setting is malformed, so `serve` fails at start, not later.
 */
export function localNotifier(
  env: NodeJS.ProcessEnv,
  deps: { log: Log; clock?: Clock; http?: HttpClient; readFile?: (path: string) => string } = { log: console },
): Notifier | undefined {
  const E = LOCAL_NOTIFY_ENV;
  const read = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const file = env[E.configFile]
    ? parseSecretJson(
        `${E.configFile} (${env[E.configFile]})`,
        read(env[E.configFile] as string),
        LocalNotifyFileSchema,
      )
    : {};
  const webhookUrl = env[E.slackWebhookUrl] ?? file.slack?.webhookUrl;
  const botToken = env[E.slackBotToken] ?? file.slack?.botToken;
  const channel = env[E.slackChannel] ?? file.slack?.channel;
  const users = env[E.slackUsers]
    ? parseSecretJson(E.slackUsers, env[E.slackUsers] as string, SlackUsersSchema)
    : file.slackUsers;
  const webhooks = env[E.webhooks]
    ? parseSecretJson(E.webhooks, env[E.webhooks] as string, SignedWebhooksSchema)
    : file.webhooks;
  const http = deps.http ?? fetchHttpClient();
  let poster: SlackPoster | undefined;
  if (botToken) {
    if (!channel) throw new ValidationError('NOTIFY.CONFIG_INVALID', `${E.slackBotToken} needs ${E.slackChannel}`);
    poster = new SlackWebApi(botToken.trim(), http);
  } else if (webhookUrl) {
    poster = new SlackIncomingWebhook(webhookUrl, http);
  }
  if (!poster && !webhooks?.length) return undefined;
  const directory = new UserDirectory(users ?? {});
  const hooks = webhooks ?? [];
  return new Notifier({
    ...(poster ? { slack: { poster, channel: channel ?? 'incoming-webhook', interactive: false } } : {}),
    users: async () => directory,
    webhooks: async () => hooks,
    http,
    clock: deps.clock ?? systemClock,
    log: deps.log,
  });
}

/**
 * Adds notifications to a running local broker: the publisher, and reminders every five minutes from its
 * projection. Returns undefined when nothing is configured; `stop` ends the reminder timer.
 */
export function attachLocalNotifications(
  runtime: {
    addPublisher(p: EventPublisher): void;
    store: { projections: Pick<ProjectionStore, 'listDue'> };
    log: Log;
  },
  env: NodeJS.ProcessEnv = process.env,
  opts: { http?: HttpClient; clock?: Clock; periodMs?: number } = {},
): { notifier: Notifier; stop(): void } | undefined {
  const notifier = localNotifier(env, {
    log: runtime.log,
    ...(opts.http ? { http: opts.http } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  if (!notifier) return undefined;
  runtime.addPublisher(new NotifyingPublisher(notifier));
  const periodMs = opts.periodMs ?? DEFAULT_REMINDER_PERIOD_MS;
  const timer = setInterval(() => {
    notifier.remind(runtime.store.projections, { periodMs }).catch((e: unknown) => {
      runtime.log.warn('reminders failed', { error: e instanceof Error ? e.message : String(e) });
    });
  }, periodMs);
  // Reminders never keep the process alive on their own.
  timer.unref();
  return { notifier, stop: () => clearInterval(timer) };
}
