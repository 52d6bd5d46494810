import type { Context } from 'aws-lambda';
import { lazySecretsManagerClient, SecretsManagerSource } from '../../adapters/aws/secrets';
import { parseSecretJson, SlackUsersSchema, UserDirectory } from '../../adapters/notify/config';
import { fetchHttpClient } from '../../adapters/notify/http';
import { createSlackInteractions } from '../../adapters/notify/interactions';
import { respond } from '../../adapters/notify/slack';
import * as z from '../../adapters/zod';
import { systemClock } from '../../core/clock';
import { ENV } from '../config';
import { brokerFunction, busPublisher, CommonEnvSchema, loadConfig } from '../runtime';
import { createSlackHandler } from './handler';

/**
 * The Slack interactivity endpoint (its own API Gateway route without IAM auth: Slack cannot sign with SigV4, so
 * Slack's own request signature is checked instead). Decisions go through the same GrantService as the API.
 */
const arn = z
  .string()
  .check(z.regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a secret ARN'));
const env = loadConfig(
  z.extend(CommonEnvSchema, {
    [ENV.slackSigningSecretArn]: arn,
    [ENV.slackUsersArn]: arn,
    [ENV.eventBus]: z.string().check(z.minLength(1, 'must not be empty')),
    [ENV.slackTeamId]: z.optional(z.string().check(z.regex(/^T[A-Z0-9]{2,20}$/, 'must be a Slack team id'))),
  }),
);
const { logger, log, service } = brokerFunction('timebox-slack', env, { baseDir: __dirname });
const secrets = new SecretsManagerSource(lazySecretsManagerClient());
// Refusals of unmapped users go on the bus; its client loads on first use, like GrantService's publisher.
const bus = busPublisher(env[ENV.eventBus], log);
const http = fetchHttpClient(2500);
let users: Promise<UserDirectory> | undefined;

const handle = createSlackHandler({
  interactions: createSlackInteractions({
    signingSecret: () => secrets.text(env[ENV.slackSigningSecretArn]).then((s) => s.trim()),
    users: () => {
      users ??= secrets
        .text(env[ENV.slackUsersArn])
        .then((text) => new UserDirectory(parseSecretJson('the Slack user mapping', text, SlackUsersSchema)))
        .catch((e: unknown) => {
          users = undefined;
          throw e;
        });
      return users;
    },
    service,
    respond: (url, answer) => respond(http, url, answer),
    refused: (detailType, notice) => bus.notice(detailType, { ...notice }),
    clock: systemClock,
    log,
    ...(env[ENV.slackTeamId] ? { teamId: env[ENV.slackTeamId] } : {}),
  }),
  log,
});

export const handler = async (event: unknown, context: Context) => {
  logger.addContext(context);
  return handle(event);
};
