import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ENV, type EnvName, LAMBDA_ENV } from '../../lambdas/config';
import type { NotificationsConfig } from '../config';
import { type BrokerContext, deadLetterQueuePolicy, notifierPolicy, slackPolicy } from '../policies';
import { NotificationFunction } from './function';
import { NotifierRules } from './notifier';
import { NotificationSecrets } from './secrets';
import { SlackApi } from './slack';
import { WebhookDestinations } from './webhooks';

export { detailTypes, lifecyclePattern, TARGET_RETRY } from './patterns';
export { SLACK_ROUTE, SLACK_THROTTLE } from './slack';
export { CONNECTION_PLACEHOLDER } from './webhooks';

/**
 * Notifications hang off the stack's lifecycle bus (`timebox-<stack>`): a rule routes every lifecycle event to the
 * notifier Lambda (Slack messages and HMAC-signed webhooks) and, per configured receiver, to an EventBridge API
 * destination (delivery, an auth header and retries are EventBridge's). Slack's buttons come back through the
 * slack Lambda behind its own public HTTP API route, the only Timebox route without IAM auth, which checks Slack's
 * request signature instead. Secrets (Slack signing secret, bot token, user mapping, webhook secrets) are Secrets
 * Manager secrets whose values the operator sets; the functions get their ARNs and may read exactly those.
 * Configuration: `timebox-notify:*` (stacks/config.ts); IAM documents: stacks/policies/notifications.ts.
 */

export interface NotificationsArgs {
  /** `timebox-<stack>`: function, role and secret names start with it. */
  namePrefix: string;
  account: string;
  config: NotificationsConfig;
  distDir: string;
  policyBundleJson: pulumi.Input<string>;
  logRetentionDays: number;
  bus: { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  grantsTableArn: pulumi.Input<string>;
  /** What the slack function needs to run GrantService: its permissions' context and its environment values. */
  broker: {
    context: pulumi.Input<BrokerContext>;
    environment: Partial<Record<EnvName, pulumi.Input<string>>>;
  };
  alarmTopicArn?: pulumi.Input<string>;
}

/** Handlers this component deploys for a configuration (their bundles must exist). */
export function notifyHandlers(c: NotificationsConfig): ('notifier' | 'slack')[] {
  const notifier = c.slack !== undefined || c.signedWebhooks;
  return [...(notifier ? (['notifier'] as const) : []), ...(c.slack ? (['slack'] as const) : [])];
}

/**
 * The component, in sections: secrets, one section per function (notifier, slack), the notifier's rules, the
 * Slack HTTP API and the webhook API destinations. The dead-letter queue every section sends to, its policy (which
 * names every section's rules) and its alarm are the component's own.
 */
export class Notifications extends pulumi.ComponentResource {
  public readonly secrets: Record<string, aws.secretsmanager.Secret> = {};
  public readonly functions: Record<string, aws.lambda.Function> = {};
  public readonly roles: Record<string, aws.iam.Role> = {};
  public readonly deadLetterQueue?: aws.sqs.Queue;
  public readonly rules: aws.cloudwatch.EventRule[] = [];
  public readonly apiDestinations: Record<string, aws.cloudwatch.EventApiDestination> = {};
  public readonly connections: Record<string, aws.cloudwatch.EventConnection> = {};
  /** The URL to give Slack as the app's interactivity Request URL. */
  public readonly slackRequestUrl?: pulumi.Output<string>;

  constructor(name: string, args: NotificationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:Notifications', name, {}, opts);
    validateNotificationsArgs(args);
    const part = { parent: this };
    const c = args.config;
    const handlers = notifyHandlers(c);
    if (handlers.length === 0 && c.apiDestinations.length === 0) {
      this.registerOutputs({});
      return;
    }
    if (c.slack || c.signedWebhooks)
      this.secrets = new NotificationSecrets(name, { namePrefix: args.namePrefix, config: c }, part).secrets;
    // Dead letters: events the targets could not take, and notifier invocations that failed for good.
    const dlq = new aws.sqs.Queue(
      `${name}-dlq`,
      { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * 24 * 3600 },
      part,
    );
    this.deadLetterQueue = dlq;
    const common = {
      namePrefix: args.namePrefix,
      distDir: args.distDir,
      policyBundleJson: args.policyBundleJson,
      logRetentionDays: args.logRetentionDays,
    };

    if (handlers.includes('notifier')) {
      const notifier = new NotificationFunction(
        `${name}-notifier`,
        { ...common, ...this.notifierSettings(args), deadLetterQueueArn: dlq.arn },
        part,
      );
      this.roles.notifier = notifier.role;
      this.functions.notifier = notifier.function;
      const rules = new NotifierRules(
        name,
        {
          notifier: notifier.function,
          busName: args.bus.name,
          deadLetterQueueArn: dlq.arn,
          reminders: !!c.slack?.reminders,
        },
        part,
      );
      this.rules.push(...rules.rules);
      if (args.alarmTopicArn) this.deadLetterAlarm(name, dlq, args.alarmTopicArn);
    }
    if (c.slack) {
      const slack = new NotificationFunction(`${name}-slack`, { ...common, ...this.slackSettings(args) }, part);
      this.roles.slack = slack.role;
      this.functions.slack = slack.function;
      const api = new SlackApi(
        name,
        { namePrefix: args.namePrefix, slack: slack.function, logRetentionDays: args.logRetentionDays },
        part,
      );
      this.slackRequestUrl = api.requestUrl;
    }
    if (c.apiDestinations.length > 0) {
      const webhooks = new WebhookDestinations(
        name,
        {
          namePrefix: args.namePrefix,
          account: args.account,
          destinations: c.apiDestinations,
          busName: args.bus.name,
          deadLetterQueueArn: dlq.arn,
        },
        part,
      );
      this.roles.webhooks = webhooks.role;
      this.rules.push(...webhooks.rules);
      this.apiDestinations = webhooks.apiDestinations;
      this.connections = webhooks.connections;
    }

    new aws.sqs.QueuePolicy(
      `${name}-dlq-policy`,
      {
        queueUrl: dlq.url,
        policy: pulumi
          .all([dlq.arn, pulumi.all(this.rules.map((r) => r.arn))])
          .apply(([q, rules]) => JSON.stringify(deadLetterQueuePolicy(q, rules))),
      },
      part,
    );
    this.registerOutputs({
      slackRequestUrl: this.slackRequestUrl,
      secrets: Object.fromEntries(Object.entries(this.secrets).map(([k, s]) => [k, s.arn])),
      deadLetterQueue: dlq.url,
    });
  }

  private secretArns(keys: string[]): pulumi.Output<string[]> {
    return pulumi.all(keys.map((k) => this.secrets[k]?.arn).filter((a): a is pulumi.Output<string> => a !== undefined));
  }

  /** The notifier reads the grants' due times, its secrets (bot token, user mapping, webhooks) and sends to the DLQ. */
  private notifierSettings(args: NotificationsArgs) {
    const c = args.config;
    const secrets = [...(c.slack ? ['slack-bot-token', 'slack-users'] : []), ...(c.signedWebhooks ? ['webhooks'] : [])];
    const env: Partial<Record<EnvName, pulumi.Input<string>>> = {
      [ENV.grantsTable]: args.broker.environment[ENV.grantsTable],
      [ENV.reminderLead]: c.reminderLead,
      ...(c.slack
        ? {
            [ENV.slackBotTokenArn]: this.secrets['slack-bot-token']?.arn,
            [ENV.slackUsersArn]: this.secrets['slack-users']?.arn,
            [ENV.slackChannel]: c.slack.channel,
          }
        : {}),
      ...(c.signedWebhooks ? { [ENV.webhooksSecretArn]: this.secrets.webhooks?.arn } : {}),
    };
    const dlqArn = (this.deadLetterQueue as aws.sqs.Queue).arn;
    return {
      handler: 'notifier' as const,
      environment: environmentOf('notifier', env),
      policy: (logGroupArn: pulumi.Output<string>) =>
        pulumi
          .all([logGroupArn, args.grantsTableArn, this.secretArns(secrets), dlqArn])
          .apply(([log, grantsTableArn, arns, deadLetterQueueArn]) =>
            JSON.stringify(notifierPolicy({ logGroupArn: log, grantsTableArn, secretArns: arns, deadLetterQueueArn })),
          ),
    };
  }

  /** The slack function runs GrantService (the broker's permissions) and reads the signing secret and user mapping. */
  private slackSettings(args: NotificationsArgs) {
    const slack = args.config.slack;
    const env: Partial<Record<EnvName, pulumi.Input<string>>> = {
      ...args.broker.environment,
      [ENV.slackSigningSecretArn]: this.secrets['slack-signing-secret']?.arn,
      [ENV.slackUsersArn]: this.secrets['slack-users']?.arn,
      ...(slack?.teamId ? { [ENV.slackTeamId]: slack.teamId } : {}),
    };
    return {
      handler: 'slack' as const,
      environment: environmentOf('slack', env),
      policy: (logGroupArn: pulumi.Output<string>) =>
        pulumi
          .all([logGroupArn, args.broker.context, this.secretArns(['slack-signing-secret', 'slack-users'])])
          .apply(([log, ctx, arns]) => JSON.stringify(slackPolicy(ctx, log, arns))),
    };
  }

  private deadLetterAlarm(name: string, dlq: aws.sqs.Queue, alarmTopicArn: pulumi.Input<string>): void {
    new aws.cloudwatch.MetricAlarm(
      `${name}-dlq-alarm`,
      {
        alarmDescription: 'Timebox notifications were not delivered (events in the notifications dead-letter queue)',
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        statistic: 'Maximum',
        dimensions: { QueueName: dlq.name },
        comparisonOperator: 'GreaterThanThreshold',
        threshold: 0,
        evaluationPeriods: 1,
        period: 300,
        treatMissingData: 'notBreaching',
        alarmActions: [alarmTopicArn],
      },
      { parent: this },
    );
  }
}

/**
 * The environment of a notify function: every required variable of its LAMBDA_ENV entry must have a value (a
 * missing one is a bug in the stack, so it throws at preview), optional ones are set when known.
 */
export function environmentOf(
  handler: 'notifier' | 'slack',
  values: Partial<Record<EnvName, pulumi.Input<string> | undefined>>,
): Record<string, pulumi.Input<string>> {
  const spec = LAMBDA_ENV[handler];
  const out: Record<string, pulumi.Input<string>> = {};
  for (const n of spec.required) {
    const v = values[n];
    if (v === undefined) throw new Error(`the stack has no value for ${n}, which the ${handler} function requires`);
    out[n] = v;
  }
  for (const n of spec.optional) {
    const v = values[n];
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** Checks the arguments before any resource is declared. */
export function validateNotificationsArgs(args: NotificationsArgs): void {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(args.namePrefix)) problems.push(`name prefix "${args.namePrefix}" is not valid`);
  if (!/^\d{12}$/.test(args.account)) problems.push(`account "${args.account}" is not a 12-digit account id`);
  for (const d of args.config.apiDestinations)
    if (`${args.namePrefix}-${d.name}`.length > 64)
      problems.push(`webhook name ${args.namePrefix}-${d.name} is longer than EventBridge's 64 characters`);
  if (problems.length > 0) throw new Error(`invalid Notifications arguments:\n${problems.join('\n')}`);
}
