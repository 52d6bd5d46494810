import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { DynamoProjectionStore, documentClient } from '../../adapters/aws/dynamodb';
import { lazySecretsManagerClient, SecretsManagerSource } from '../../adapters/aws/secrets';
import { parseSecretJson, SignedWebhooksSchema, SlackUsersSchema, UserDirectory } from '../../adapters/notify/config';
import { fetchHttpClient } from '../../adapters/notify/http';
import { Notifier } from '../../adapters/notify/notifier';
import { type SlackPoster, SlackWebApi } from '../../adapters/notify/slack';
import * as z from '../../adapters/zod';
import { systemClock } from '../../core/clock';
import { parseDuration } from '../../core/duration';
import { ENV, parseEnv } from '../config';
import { PowertoolsLog } from '../log';
import { createNotifierHandler } from './handler';

/**
 * The notifier Lambda (bus rule target and five-minute reminder schedule). Secrets are read from Secrets Manager
 * on first use and kept for the life of the execution environment; the environment holds only their ARNs.
 */
const arn = z
  .string()
  .check(z.regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a secret ARN'));
const env = parseEnv(
  z.object({
    [ENV.grantsTable]: z.string().check(z.minLength(1, 'must not be empty')),
    [ENV.slackBotTokenArn]: z.optional(arn),
    [ENV.slackUsersArn]: z.optional(arn),
    [ENV.slackChannel]: z.optional(z.string().check(z.regex(/^[CGD][A-Z0-9]{2,20}$/, 'must be a Slack channel id'))),
    [ENV.webhooksSecretArn]: z.optional(arn),
    [ENV.reminderLead]: z._default(z.string(), '15m'),
  }),
);
// Built from the parts, not lambdas/runtime.ts: the notifier runs no GrantService and carries none of its clients.
const logger = new Logger({ serviceName: 'timebox-notifier' });
const log = new PowertoolsLog(logger);
const lead = parseDuration(env[ENV.reminderLead]);
if (!lead.ok) throw new Error(`invalid Lambda configuration:\n${ENV.reminderLead}: ${lead.message}`);
const secrets = new SecretsManagerSource(lazySecretsManagerClient());
const http = fetchHttpClient();

const memo = <T>(load: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => {
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
};
const usersArn = env[ENV.slackUsersArn];
const users = memo(async () =>
  usersArn
    ? new UserDirectory(parseSecretJson('the Slack user mapping', await secrets.text(usersArn), SlackUsersSchema))
    : new UserDirectory(),
);
const hooksArn = env[ENV.webhooksSecretArn];
const webhooks = memo(async () =>
  hooksArn ? parseSecretJson('the webhooks secret', await secrets.text(hooksArn), SignedWebhooksSchema) : [],
);
const tokenArn = env[ENV.slackBotTokenArn];
const channel = env[ENV.slackChannel];
const api = memo(async () => new SlackWebApi((await secrets.text(tokenArn as string)).trim(), http));
const poster: SlackPoster = { directMessages: true, post: async (to, message) => (await api()).post(to, message) };

const notifier = new Notifier({
  ...(tokenArn && channel ? { slack: { poster, channel, interactive: true } } : {}),
  users,
  webhooks,
  http,
  clock: systemClock,
  log,
});
const handle = createNotifierHandler({
  notifier,
  projections: new DynamoProjectionStore(documentClient(new DynamoDBClient({})), env[ENV.grantsTable]),
  reminders: { leadMs: lead.ms },
  log,
});

export const handler = async (event: unknown, context: Context) => {
  logger.addContext(context);
  return handle(event);
};
