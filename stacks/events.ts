import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { DETAIL_TYPES, EVENT_SOURCE } from '../adapters/notify/detail';
import { parseDuration } from '../core/duration';
import type { EventType } from '../core/grant/events';
import { ENV, type EnvName, LAMBDA_ENV } from '../lambdas/config';
import { REMINDERS_INPUT } from '../lambdas/notifier/handler';
import { checkedEnvironment, LAMBDA_RUNTIME, lambdaArchive } from './functions';
import {
  type BrokerContext,
  type Capability,
  handlerPolicy,
  lambdaTrustPolicy,
  type PolicyDocument,
  type Statement,
} from './policies';

/**
 * Notifications hang off the stack's lifecycle bus (`timebox-<stack>`): a rule routes every lifecycle event to the
 * notifier Lambda (Slack messages and HMAC-signed webhooks) and, per configured receiver, to an EventBridge API
 * destination (delivery, an auth header and retries are EventBridge's). Slack's buttons come back through the
 * slack Lambda behind its own public HTTP API route, the only Timebox route without IAM auth, which checks Slack's
 * request signature instead. Secrets (Slack signing secret, bot token, user mapping, webhook secrets) are Secrets Manager secrets
 * whose values the operator sets; the functions get their ARNs and may read exactly those.
 */

// ---------------------------------------------------------------------------------------------------------------
// Configuration: `timebox-notify:*` keys (a namespace of their own, so stacks/config.ts stays strict)

export const NOTIFY_NAMESPACE = 'timebox-notify';

const EVENT_NAMES = Object.keys(DETAIL_TYPES) as EventType[];
const eventName = z
  .string()
  .refine((e) => EVENT_NAMES.includes(e as EventType) || Object.values(DETAIL_TYPES).includes(e), {
    message: `must be an event type (${EVENT_NAMES.join(', ')}) or its detail type (Timebox Grant Approved...)`,
  });
const httpsUrl = z
  .string()
  .url('must be a URL')
  .refine((u) => u.startsWith('https://'), {
    message: 'must be https (API destinations and Timebox only send over TLS)',
  });
const flag = z
  .union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' })
  .transform((v) => v === true || v === 'true');

export const ApiDestinationSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be 1-40 of a-z, 0-9 and -'),
    url: httpsUrl,
    /** Event types (or detail types) to deliver; every lifecycle event when absent. */
    events: z.array(eventName).min(1).optional(),
    /** Header carrying the shared secret, set on the connection (value set by the operator, never in config). */
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name')
      .default('Timebox-Webhook-Token'),
    /** EventBridge API destinations send at most this many requests per second (1-300). */
    rateLimitPerSecond: z.number().int().min(1).max(300).default(10),
  })
  .strict();

export const NotificationsConfigSchema = z
  .object({
    slack: z
      .object({
        /** Channel id (C..., or G... for a private channel) the approval requests go to. */
        channel: z.string().regex(/^[CG][A-Z0-9]{2,20}$/, 'must be a Slack channel id such as C0123ABCD'),
        /** Workspace id; when set, clicks from any other workspace are refused. */
        teamId: z
          .string()
          .regex(/^T[A-Z0-9]{2,20}$/, 'must be a Slack team id such as T0123ABCD')
          .optional(),
        /** Reminders for requests close to lapsing and grants about to expire (a five-minute schedule). */
        reminders: flag.default(true),
      })
      .strict()
      .optional(),
    /** The notifier also posts HMAC-signed webhooks; their URLs and secrets are in a secret the stack creates. */
    signedWebhooks: flag.default(false),
    apiDestinations: z.array(ApiDestinationSchema).default([]),
    reminderLead: z
      .string()
      .refine((t) => parseDuration(t).ok, { message: 'must be a duration such as 15m' })
      .default('15m'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = c.apiDestinations.map((d) => d.name);
    for (const [i, n] of names.entries())
      if (names.indexOf(n) !== i)
        ctx.addIssue({ code: 'custom', path: ['apiDestinations', i, 'name'], message: `"${n}" is used twice` });
  });
export type NotificationsConfig = z.output<typeof NotificationsConfigSchema>;

const STRUCTURED = new Set(['slack', 'apiDestinations']);

/** Parses the raw `timebox-notify:*` strings; throws one line per problem, each naming its key. */
export function parseNotificationsConfig(raw: Record<string, string | undefined>): NotificationsConfig {
  const input: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!STRUCTURED.has(key)) {
      input[key] = value;
      continue;
    }
    try {
      input[key] = JSON.parse(value);
    } catch {
      problems.push(`${NOTIFY_NAMESPACE}:${key}: must be JSON (set it with pulumi config set --path, or as JSON)`);
    }
  }
  const r = NotificationsConfigSchema.safeParse(input);
  if (!r.success)
    for (const i of r.error.issues) {
      const [key, ...rest] = i.path.map(String);
      const where = `${key ?? '(config)'}${rest.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')}`;
      problems.push(
        `${NOTIFY_NAMESPACE}:${where}: ${i.code === 'unrecognized_keys' ? `unknown key ${i.keys.join(', ')}` : i.message}`,
      );
    }
  if (problems.length > 0 || !r.success) throw new Error(`invalid notification settings:\n${problems.join('\n')}`);
  return r.data;
}

/** The detail types a rule matches: the listed event types (or detail types), or every lifecycle event. */
export function detailTypes(events?: string[]): string[] {
  const all = Object.values(DETAIL_TYPES);
  if (!events) return all;
  return [...new Set(events.map((e) => DETAIL_TYPES[e as EventType] ?? e))].filter((e) => all.includes(e)).sort();
}

/** The event pattern of a rule on the bus: Timebox events of these detail types (EventBridge event patterns). */
export function lifecyclePattern(events?: string[]): string {
  return JSON.stringify({ source: [EVENT_SOURCE], 'detail-type': detailTypes(events) });
}

// ---------------------------------------------------------------------------------------------------------------
// IAM documents (pure)

function doc(statements: Statement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

/** secretsmanager:GetSecretValue on exactly these secrets (no wildcard: a new secret needs a new grant). */
export function readSecrets(arns: string[]): Statement[] {
  if (arns.length === 0) return [];
  return [
    { Sid: 'ReadOwnSecrets', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: [...arns].sort() },
  ];
}

/**
 * The notifier's role: its log group, Query on the projection's indexes (reminders read pending and active grants
 * by due time), its own secrets, and its dead-letter queue. It cannot write the audit record or decide anything.
 */
export function notifierPolicy(a: {
  logGroupArn: string;
  grantsTableArn: string;
  secretArns: string[];
  deadLetterQueueArn: string;
}): PolicyDocument {
  return doc([
    {
      Sid: 'OwnLogGroup',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [a.logGroupArn, `${a.logGroupArn}:*`],
    },
    { Sid: 'ReadDueGrants', Effect: 'Allow', Action: 'dynamodb:Query', Resource: `${a.grantsTableArn}/index/*` },
    ...readSecrets(a.secretArns),
    { Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: a.deadLetterQueueArn },
  ]);
}

/** What the slack function may do: GrantService's store, publish and schedule, plus its two secrets. */
export const SLACK_CAPABILITIES: readonly Capability[] = ['store', 'publish', 'schedule'];

export function slackPolicy(c: BrokerContext, logGroupArn: string, secretArns: string[]): PolicyDocument {
  const base = handlerPolicy('slack', c, logGroupArn, SLACK_CAPABILITIES);
  return doc([...base.Statement, ...readSecrets(secretArns)]);
}

/** The role EventBridge assumes to call API destinations: only these destinations. */
export function apiDestinationsPolicy(destinationArns: string[]): PolicyDocument {
  return doc([
    {
      Sid: 'InvokeWebhooks',
      Effect: 'Allow',
      Action: 'events:InvokeApiDestination',
      Resource: [...destinationArns].sort(),
    },
  ]);
}

/** Trust policy of that role: EventBridge, on behalf of rules in this account only. */
export function eventsTrustPolicy(account: string): PolicyDocument {
  return doc([
    {
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': account } },
    },
  ]);
}

/**
 * Queue policy of the notifications dead-letter queue: EventBridge may send the events its targets could not take,
 * for these rules only (EventBridge User Guide, "Using dead-letter queues to process undelivered events").
 */
export function deadLetterQueuePolicy(queueArn: string, ruleArns: string[]): PolicyDocument {
  return doc([
    {
      Sid: 'EventBridgeDeadLetters',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: queueArn,
      Condition: { ArnEquals: { 'aws:SourceArn': [...ruleArns].sort() } },
    },
  ]);
}

/** Retries of bus targets: EventBridge's maximum, 24 hours and 185 attempts, then the dead-letter queue. */
export const TARGET_RETRY = { maximumEventAgeInSeconds: 86_400, maximumRetryAttempts: 185 };
/** The Slack route's own throttle: interactions are clicks, a handful a minute. */
export const SLACK_THROTTLE = { throttlingBurstLimit: 20, throttlingRateLimit: 10 };
export const SLACK_ROUTE = 'POST /slack/interactions';
/** Placeholder a connection is created with; the operator replaces it (docs/notifications.md). */
export const CONNECTION_PLACEHOLDER = 'set-with-aws-events-update-connection';

// ---------------------------------------------------------------------------------------------------------------
// The component

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
    const child = { parent: this };
    const c = args.config;
    const handlers = notifyHandlers(c);
    if (handlers.length === 0 && c.apiDestinations.length === 0) {
      this.registerOutputs({});
      return;
    }

    // ---- secrets: created empty; values come from the operator (aws secretsmanager put-secret-value) ----------
    const secret = (key: string, description: string) => {
      this.secrets[key] = new aws.secretsmanager.Secret(
        `${name}-${key}`,
        { name: `${args.namePrefix}/${key}`, description, recoveryWindowInDays: 7 },
        child,
      );
      return this.secrets[key];
    };
    if (c.slack) {
      secret('slack-signing-secret', 'Timebox: the Slack app signing secret (plain text)');
      secret('slack-bot-token', 'Timebox: the Slack bot token, xoxb-... (plain text)');
      secret('slack-users', 'Timebox: Slack user id -> principal mapping, JSON {"U0123ABC": "carol@corp.com"}');
    }
    if (c.signedWebhooks) secret('webhooks', 'Timebox: signed webhooks, JSON [{"name","url","secret","events"?}]');

    // ---- dead letters: events the targets could not take, and notifier invocations that failed for good --------
    const dlq = new aws.sqs.Queue(
      `${name}-dlq`,
      { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * 24 * 3600 },
      child,
    );
    this.deadLetterQueue = dlq;
    const ruleArns: pulumi.Output<string>[] = [];

    // ---- functions ------------------------------------------------------------------------------------------
    const fn = (
      h: 'notifier' | 'slack',
      policy: (logGroupArn: pulumi.Output<string>) => pulumi.Input<string>,
      env: Record<string, pulumi.Input<string>>,
    ) => {
      const fname = `${args.namePrefix}-${h}`;
      const logGroup = new aws.cloudwatch.LogGroup(
        `${name}-${h}-logs`,
        { name: `/aws/lambda/${fname}`, retentionInDays: args.logRetentionDays },
        child,
      );
      const role = new aws.iam.Role(
        `${name}-${h}-role`,
        { name: fname, description: `Timebox ${h} function`, assumeRolePolicy: JSON.stringify(lambdaTrustPolicy()) },
        child,
      );
      this.roles[h] = role;
      const rolePolicy = new aws.iam.RolePolicy(
        `${name}-${h}-policy`,
        {
          name: `timebox-${h}`,
          role: role.id,
          policy: policy(logGroup.arn),
        },
        child,
      );
      this.functions[h] = new aws.lambda.Function(
        `${name}-${h}`,
        {
          name: fname,
          description:
            h === 'notifier'
              ? 'Timebox notifier (lifecycle events to Slack and signed webhooks)'
              : 'Timebox Slack interactivity (approve/deny)',
          role: role.arn,
          runtime: LAMBDA_RUNTIME.runtime,
          architectures: [LAMBDA_RUNTIME.architecture],
          handler: LAMBDA_RUNTIME.handler,
          code: lambdaArchive(args.distDir, h, args.policyBundleJson),
          // Slack waits 3 s for an answer; the outcome goes to response_url anyway, so a slower decision still lands.
          timeout: h === 'slack' ? 15 : 60,
          memorySize: h === 'slack' ? 512 : 256,
          environment: { variables: checkedEnvironment(h, env) },
          loggingConfig: { logFormat: 'JSON', logGroup: logGroup.name },
          ...(h === 'notifier' ? { deadLetterConfig: { targetArn: dlq.arn } } : {}),
        },
        // Lambda checks the role can reach the dead-letter queue when the function is created.
        { ...child, dependsOn: [rolePolicy] },
      );
      return this.functions[h] as aws.lambda.Function;
    };
    const arnOf = (key: string) => this.secrets[key]?.arn;
    const secretArns = (keys: string[]) =>
      pulumi.all(keys.map((k) => arnOf(k)).filter((a): a is pulumi.Output<string> => a !== undefined));

    if (handlers.includes('notifier')) {
      const notifierSecrets = c.slack ? ['slack-bot-token', 'slack-users'] : [];
      if (c.signedWebhooks) notifierSecrets.push('webhooks');
      const env: Partial<Record<EnvName, pulumi.Input<string>>> = {
        [ENV.grantsTable]: args.broker.environment[ENV.grantsTable],
        [ENV.reminderLead]: c.reminderLead,
        ...(c.slack
          ? {
              [ENV.slackBotTokenArn]: arnOf('slack-bot-token'),
              [ENV.slackUsersArn]: arnOf('slack-users'),
              [ENV.slackChannel]: c.slack.channel,
            }
          : {}),
        ...(c.signedWebhooks ? { [ENV.webhooksSecretArn]: arnOf('webhooks') } : {}),
      };
      const notifier = fn(
        'notifier',
        (logGroupArn) =>
          pulumi
            .all([logGroupArn, args.grantsTableArn, secretArns(notifierSecrets), dlq.arn])
            .apply(([log, grantsTableArn, arns, deadLetterQueueArn]) =>
              JSON.stringify(
                notifierPolicy({ logGroupArn: log, grantsTableArn, secretArns: arns, deadLetterQueueArn }),
              ),
            ),
        environmentOf('notifier', env),
      );
      const lifecycle = new aws.cloudwatch.EventRule(
        `${name}-lifecycle`,
        {
          description: 'Timebox lifecycle events to the notifier',
          eventBusName: args.bus.name,
          eventPattern: lifecyclePattern(),
        },
        child,
      );
      this.rules.push(lifecycle);
      ruleArns.push(lifecycle.arn);
      this.invokes(name, 'lifecycle', notifier, lifecycle);
      new aws.cloudwatch.EventTarget(
        `${name}-lifecycle-target`,
        {
          rule: lifecycle.name,
          eventBusName: args.bus.name,
          arn: notifier.arn,
          retryPolicy: TARGET_RETRY,
          deadLetterConfig: { arn: dlq.arn },
        },
        child,
      );
      if (c.slack?.reminders) {
        // Schedule expressions run on the default bus only (EventBridge User Guide, "Creating a rule that runs on a schedule").
        const reminders = new aws.cloudwatch.EventRule(
          `${name}-reminders`,
          {
            description: 'Timebox reminders (requests about to lapse, grants about to expire)',
            scheduleExpression: 'rate(5 minutes)',
          },
          child,
        );
        this.rules.push(reminders);
        ruleArns.push(reminders.arn);
        this.invokes(name, 'reminders', notifier, reminders);
        new aws.cloudwatch.EventTarget(
          `${name}-reminders-target`,
          {
            rule: reminders.name,
            arn: notifier.arn,
            input: JSON.stringify(REMINDERS_INPUT),
            deadLetterConfig: { arn: dlq.arn },
          },
          child,
        );
      }
      if (args.alarmTopicArn) {
        new aws.cloudwatch.MetricAlarm(
          `${name}-dlq-alarm`,
          {
            alarmDescription:
              'Timebox notifications were not delivered (events in the notifications dead-letter queue)',
            namespace: 'AWS/SQS',
            metricName: 'ApproximateNumberOfMessagesVisible',
            statistic: 'Maximum',
            dimensions: { QueueName: dlq.name },
            comparisonOperator: 'GreaterThanThreshold',
            threshold: 0,
            evaluationPeriods: 1,
            period: 300,
            treatMissingData: 'notBreaching',
            alarmActions: [args.alarmTopicArn],
          },
          child,
        );
      }
    }

    if (c.slack) {
      const slackSecrets = ['slack-signing-secret', 'slack-users'];
      const env: Partial<Record<EnvName, pulumi.Input<string>>> = {
        ...args.broker.environment,
        [ENV.slackSigningSecretArn]: arnOf('slack-signing-secret'),
        [ENV.slackUsersArn]: arnOf('slack-users'),
        ...(c.slack.teamId ? { [ENV.slackTeamId]: c.slack.teamId } : {}),
      };
      const slack = fn(
        'slack',
        (logGroupArn) =>
          pulumi
            .all([logGroupArn, args.broker.context, secretArns(slackSecrets)])
            .apply(([log, ctx, arns]) => JSON.stringify(slackPolicy(ctx, log, arns))),
        environmentOf('slack', env),
      );
      // Its own HTTP API: one POST route, no authorizer (Slack cannot sign with SigV4); the function checks
      // X-Slack-Signature before it reads anything.
      const api = new aws.apigatewayv2.Api(
        `${name}-slack-api`,
        { name: `${args.namePrefix}-slack`, protocolType: 'HTTP', description: 'Timebox Slack interactivity' },
        child,
      );
      const integration = new aws.apigatewayv2.Integration(
        `${name}-slack-integration`,
        {
          apiId: api.id,
          integrationType: 'AWS_PROXY',
          integrationUri: slack.arn,
          integrationMethod: 'POST',
          payloadFormatVersion: '2.0',
          timeoutMilliseconds: 15_000,
        },
        child,
      );
      new aws.apigatewayv2.Route(
        `${name}-slack-route`,
        {
          apiId: api.id,
          routeKey: SLACK_ROUTE,
          authorizationType: 'NONE',
          target: pulumi.interpolate`integrations/${integration.id}`,
        },
        child,
      );
      const accessLogs = new aws.cloudwatch.LogGroup(
        `${name}-slack-access-logs`,
        { name: `/aws/apigateway/${args.namePrefix}-slack`, retentionInDays: args.logRetentionDays },
        child,
      );
      new aws.apigatewayv2.Stage(
        `${name}-slack-stage`,
        {
          apiId: api.id,
          name: '$default',
          autoDeploy: true,
          defaultRouteSettings: SLACK_THROTTLE,
          accessLogSettings: {
            destinationArn: accessLogs.arn,
            format: JSON.stringify({
              requestId: '$context.requestId',
              requestTime: '$context.requestTime',
              routeKey: '$context.routeKey',
              status: '$context.status',
              sourceIp: '$context.identity.sourceIp',
              userAgent: '$context.identity.userAgent',
              integrationError: '$context.integrationErrorMessage',
            }),
          },
        },
        child,
      );
      new aws.lambda.Permission(
        `${name}-slack-invoke`,
        {
          action: 'lambda:InvokeFunction',
          function: slack.name,
          principal: 'apigateway.amazonaws.com',
          sourceArn: pulumi.interpolate`${api.executionArn}/*/*/slack/interactions`,
        },
        child,
      );
      this.slackRequestUrl = pulumi.interpolate`${api.apiEndpoint}/slack/interactions`;
    }

    // ---- webhooks through API destinations ------------------------------------------------------------------
    if (c.apiDestinations.length > 0) {
      const role = new aws.iam.Role(
        `${name}-webhooks-role`,
        {
          description: 'EventBridge invokes the Timebox webhook API destinations',
          assumeRolePolicy: JSON.stringify(eventsTrustPolicy(args.account)),
        },
        child,
      );
      this.roles.webhooks = role;
      for (const d of c.apiDestinations) {
        const connection = new aws.cloudwatch.EventConnection(
          `${name}-${d.name}-connection`,
          {
            name: `${args.namePrefix}-${d.name}`,
            description: `Timebox webhook ${d.name}: the ${d.header} header carries the shared secret`,
            authorizationType: 'API_KEY',
            authParameters: { apiKey: { key: d.header, value: CONNECTION_PLACEHOLDER } },
          },
          // The operator sets the real value with aws events update-connection; Pulumi must not put the placeholder back.
          { ...child, ignoreChanges: ['authParameters'] },
        );
        this.connections[d.name] = connection;
        const destination = new aws.cloudwatch.EventApiDestination(
          `${name}-${d.name}-destination`,
          {
            name: `${args.namePrefix}-${d.name}`,
            description: `Timebox webhook ${d.name}`,
            connectionArn: connection.arn,
            invocationEndpoint: d.url,
            httpMethod: 'POST',
            invocationRateLimitPerSecond: d.rateLimitPerSecond,
          },
          child,
        );
        this.apiDestinations[d.name] = destination;
        const rule = new aws.cloudwatch.EventRule(
          `${name}-${d.name}-rule`,
          {
            description: `Timebox events to webhook ${d.name}`,
            eventBusName: args.bus.name,
            eventPattern: lifecyclePattern(d.events),
          },
          child,
        );
        this.rules.push(rule);
        ruleArns.push(rule.arn);
        new aws.cloudwatch.EventTarget(
          `${name}-${d.name}-target`,
          {
            rule: rule.name,
            eventBusName: args.bus.name,
            arn: destination.arn,
            roleArn: role.arn,
            retryPolicy: TARGET_RETRY,
            deadLetterConfig: { arn: dlq.arn },
          },
          child,
        );
      }
      new aws.iam.RolePolicy(
        `${name}-webhooks-policy`,
        {
          name: 'timebox-webhooks',
          role: role.id,
          policy: pulumi
            .all(Object.values(this.apiDestinations).map((d) => d.arn))
            .apply((arns) => JSON.stringify(apiDestinationsPolicy(arns))),
        },
        child,
      );
    }

    new aws.sqs.QueuePolicy(
      `${name}-dlq-policy`,
      {
        queueUrl: dlq.url,
        policy: pulumi
          .all([dlq.arn, pulumi.all(ruleArns)])
          .apply(([q, rules]) => JSON.stringify(deadLetterQueuePolicy(q, rules))),
      },
      child,
    );

    this.registerOutputs({
      slackRequestUrl: this.slackRequestUrl,
      secrets: Object.fromEntries(Object.entries(this.secrets).map(([k, s]) => [k, s.arn])),
      deadLetterQueue: dlq.url,
    });
  }

  /** Lets EventBridge invoke the notifier for one rule. */
  private invokes(name: string, part: string, fn: aws.lambda.Function, rule: aws.cloudwatch.EventRule): void {
    new aws.lambda.Permission(
      `${name}-${part}-invoke`,
      { action: 'lambda:InvokeFunction', function: fn.name, principal: 'events.amazonaws.com', sourceArn: rule.arn },
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
