import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { EVENTS_TABLE, GRANTS_TABLE, type TableSpec } from '../adapters/aws/tables';
import { EVENT_SOURCE } from '../adapters/notify/detail';
import { type IdentityConfig, trustedPrincipalArns } from '../lambdas/api/identity';
import { ENV, type EnvName } from '../lambdas/config';
import { LOG_RETENTION_DAYS } from './config';
import { BUNDLED_POLICY_FILE, HANDLERS, handlerEnvironment, LAMBDA_RUNTIME, lambdaArchive } from './functions';
import {
  apiGatewayLogsTrustPolicy,
  apiResourcePolicy,
  type BrokerContext,
  handlerPolicy,
  lambdaTrustPolicy,
  PUBLIC_PATHS,
  schedulerRolePolicy,
  schedulerTrustPolicy,
  signingKeyPolicy,
} from './policies';

/** Handlers every broker has; others (notifier, slack) are added to HANDLERS and deployed when their bundle exists. */
export const REQUIRED_HANDLERS = ['api', 'revoke', 'sweeper'] as const;
/**
 * EventBridge Scheduler group of the per-grant schedules (the broker roles may only touch schedules in it): one per
 * stack, so a second stack in the account and region gets a group, and schedule ARNs, of its own.
 */
export function schedulerGroupName(prefix: string): string {
  return prefix;
}
/** EventBridge bus lifecycle events are published to: one per stack (its rules are `rule/<bus>/*`). */
export function eventBusName(prefix: string): string {
  return prefix;
}
/** API Gateway stage; part of the API URL. */
export const API_STAGE = 'live';

/** Name of a broker function and of its role (deterministic, so GCP federation can name the role up front). */
export function brokerResourceName(prefix: string, handler: string): string {
  return `${prefix}-${handler}`;
}

/** The ARN a broker role will have. */
export function brokerRoleArn(a: { partition: string; account: string; prefix: string; handler: string }): string {
  return `arn:${a.partition}:iam::${a.account}:role/${brokerResourceName(a.prefix, a.handler)}`;
}

export interface BrokerArgs {
  partition: string;
  region: string;
  /** Hub account id. */
  account: string;
  /** DNS suffix of the partition (amazonaws.com), for the API URL. */
  dnsSuffix: string;
  /** Prefix of the names that must be known before deployment (roles, functions): `timebox-<stack>`. */
  namePrefix: string;
  spokeAccounts: string[];
  /** Directory holding each handler's bundle, `<handler>/index.mjs` and its chunks (dist/lambdas). */
  distDir: string;
  /** The validated policy as a policy bundle (core/policy/json.ts), packaged into every function. */
  policyBundleJson: pulumi.Input<string>;
  /** Handlers to deploy; defaults to every entry of HANDLERS. */
  handlers?: string[];
  identity: IdentityConfig;
  tokenTtl: string;
  /** Where the api reads CloudTrail for grant timelines (the AuditTrail's workgroup and Glue database, its regions). */
  auditQuery?: { workgroup: string; database: string; regions: string[] };
  /** ARN of the permission boundary of hub target roles (the broker may only write policies on such roles). */
  boundaryArn: pulumi.Input<string>;
  logRetentionDays: number;
  /** Retention of the lifecycle event archive on the bus (0: for ever). */
  eventArchiveDays: number;
  allowedAccounts: string[];
  orgId?: string;
  throttle: { rateLimit: number; burstLimit: number };
  /** Create the region-wide API Gateway CloudWatch role setting (one per account and region). */
  manageApiGatewayAccount: boolean;
  alarmEmail?: string;
}

/**
 * The broker: the audit tables, one Lambda per handler each with its own least-privilege role, the REST API (IAM
 * auth), per-grant scheduling (Scheduler group, role, dead-letter queue), the sweeper rule, the token signing key,
 * the lifecycle event bus, log groups and alarms.
 */
export class Broker extends pulumi.ComponentResource {
  public readonly eventsTable: aws.dynamodb.Table;
  public readonly grantsTable: aws.dynamodb.Table;
  public readonly signingKey: aws.kms.Key;
  public readonly eventBus: aws.cloudwatch.EventBus;
  public readonly eventArchive: aws.cloudwatch.EventArchive;
  public readonly sweepRule: aws.cloudwatch.EventRule;
  public readonly schedulerGroup: aws.scheduler.ScheduleGroup;
  public readonly schedulerRole: aws.iam.Role;
  public readonly deadLetterQueue: aws.sqs.Queue;
  public readonly roles: Record<string, aws.iam.Role> = {};
  public readonly rolePolicies: Record<string, aws.iam.RolePolicy> = {};
  public readonly logGroups: Record<string, aws.cloudwatch.LogGroup> = {};
  public readonly functions: Record<string, aws.lambda.Function> = {};
  public readonly restApi: aws.apigateway.RestApi;
  public readonly stage: aws.apigateway.Stage;
  public readonly apiUrl: pulumi.Output<string>;
  public readonly jwksUrl: pulumi.Output<string>;
  public readonly alarmTopic: aws.sns.Topic;
  public readonly alarms: aws.cloudwatch.MetricAlarm[] = [];
  /** Role ARN per handler (the spoke program's `timebox:hubRoles`). */
  public readonly roleArns: pulumi.Output<Record<string, string>>;
  /** Every environment value the broker knows; each function takes the subset its LAMBDA_ENV entry names. */
  public readonly environment: Partial<Record<EnvName, pulumi.Input<string>>>;
  /** What the broker's IAM documents are built from; functions outside the component (slack) use it too. */
  public readonly context: pulumi.Output<BrokerContext>;

  constructor(name: string, args: BrokerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:Broker', name, {}, opts);
    const handlers = validateBrokerArgs(args);
    const child = { parent: this };
    const { partition: p, region, account } = args;

    // ---- storage -------------------------------------------------------------------------------------------
    // Events are the audit record: kept when the stack is destroyed, and protected from DeleteTable meanwhile.
    this.eventsTable = new aws.dynamodb.Table(`${name}-events`, tableArgs(EVENTS_TABLE, 'Timebox audit events'), {
      ...child,
      retainOnDelete: true,
    });
    this.grantsTable = new aws.dynamodb.Table(
      `${name}-grants`,
      tableArgs(GRANTS_TABLE, 'Timebox grant projection'),
      child,
    );

    // ---- queues, bus, schedules ------------------------------------------------------------------------------
    // Standard queue: Scheduler does not support FIFO dead-letter queues. SSE-SQS needs no key grants for senders.
    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * 24 * 3600 },
      child,
    );
    this.eventBus = new aws.cloudwatch.EventBus(`${name}-bus`, { name: eventBusName(args.namePrefix) }, child);
    // Every lifecycle event as published, with its chain hashes: a copy the broker's roles cannot change, against
    // which a rewritten event table shows (EventBridge archives are replayable and kept for `eventArchiveDays`).
    this.eventArchive = new aws.cloudwatch.EventArchive(
      `${name}-archive`,
      {
        name: `${args.namePrefix}-lifecycle`,
        description: 'Timebox lifecycle events with their audit chain hashes',
        eventSourceArn: this.eventBus.arn,
        eventPattern: JSON.stringify({ source: [EVENT_SOURCE] }),
        retentionDays: args.eventArchiveDays,
      },
      child,
    );
    this.schedulerGroup = new aws.scheduler.ScheduleGroup(
      `${name}-schedules`,
      { name: schedulerGroupName(args.namePrefix) },
      child,
    );
    this.schedulerRole = new aws.iam.Role(
      `${name}-scheduler-role`,
      {
        description: 'EventBridge Scheduler invokes the Timebox revoke function',
        assumeRolePolicy: JSON.stringify(schedulerTrustPolicy(account)),
      },
      child,
    );

    // ---- roles ---------------------------------------------------------------------------------------------
    for (const h of handlers) {
      this.logGroups[h] = new aws.cloudwatch.LogGroup(
        `${name}-${h}-logs`,
        { name: `/aws/lambda/${brokerResourceName(args.namePrefix, h)}`, retentionInDays: args.logRetentionDays },
        child,
      );
      this.roles[h] = new aws.iam.Role(
        `${name}-${h}-role`,
        {
          name: brokerResourceName(args.namePrefix, h),
          description: `Timebox ${h} function`,
          assumeRolePolicy: JSON.stringify(lambdaTrustPolicy()),
        },
        child,
      );
    }
    const apiRole = this.roles.api as aws.iam.Role;

    this.signingKey = new aws.kms.Key(
      `${name}-signing-key`,
      {
        description: 'Timebox token signing key (ES256)',
        customerMasterKeySpec: 'ECC_NIST_P256',
        keyUsage: 'SIGN_VERIFY',
        deletionWindowInDays: 30,
        policy: apiRole.arn.apply((apiRoleArn) =>
          JSON.stringify(signingKeyPolicy({ partition: p, account, apiRoleArn })),
        ),
      },
      child,
    );
    new aws.kms.Alias(
      `${name}-signing-key-alias`,
      { name: `alias/${args.namePrefix}-signing`, targetKeyId: this.signingKey.keyId },
      child,
    );

    this.context = pulumi
      .all([
        this.eventsTable.arn,
        this.grantsTable.arn,
        this.signingKey.arn,
        this.schedulerRole.arn,
        this.eventBus.arn,
        this.deadLetterQueue.arn,
        args.boundaryArn,
      ])
      .apply(([eventsTableArn, grantsTableArn, signingKeyArn, schedulerRoleArn, eventBusArn, dlqArn, boundaryArn]) => ({
        partition: p,
        region,
        account,
        spokeAccounts: args.spokeAccounts,
        eventsTableArn,
        grantsTableArn,
        signingKeyArn,
        schedulerGroupName: schedulerGroupName(args.namePrefix),
        schedulerRoleArn,
        eventBusArn,
        deadLetterQueueArn: dlqArn,
        boundaryArn,
      }));
    for (const h of handlers) {
      const logGroup = this.logGroups[h] as aws.cloudwatch.LogGroup;
      this.rolePolicies[h] = new aws.iam.RolePolicy(
        `${name}-${h}-policy`,
        {
          name: `timebox-${h}`,
          role: (this.roles[h] as aws.iam.Role).id,
          policy: pulumi
            .all([this.context, logGroup.arn])
            .apply(([c, logArn]) => JSON.stringify(handlerPolicy(h, c, logArn, HANDLERS[h]?.capabilities))),
        },
        child,
      );
    }

    // ---- API (created before the functions: its id is the token issuer) --------------------------------------
    this.restApi = new aws.apigateway.RestApi(
      `${name}-api`,
      { description: 'Timebox broker API', endpointConfiguration: { types: 'REGIONAL' } },
      child,
    );
    this.apiUrl = pulumi.interpolate`https://${this.restApi.id}.execute-api.${region}.${args.dnsSuffix}/${API_STAGE}`;
    this.jwksUrl = pulumi.interpolate`${this.apiUrl}/.well-known/jwks.json`;

    // ---- functions -----------------------------------------------------------------------------------------
    const functionArn = (h: string) =>
      `arn:${p}:lambda:${region}:${account}:function:${brokerResourceName(args.namePrefix, h)}`;
    this.environment = {
      [ENV.eventsTable]: this.eventsTable.name,
      [ENV.grantsTable]: this.grantsTable.name,
      [ENV.policyFile]: `./${BUNDLED_POLICY_FILE}`,
      [ENV.issuer]: this.apiUrl,
      [ENV.kmsKeyId]: this.signingKey.arn,
      [ENV.schedulerGroup]: this.schedulerGroup.name,
      [ENV.schedulerRoleArn]: this.schedulerRole.arn,
      [ENV.schedulerDlqArn]: this.deadLetterQueue.arn,
      [ENV.revokeFunctionArn]: functionArn('revoke'),
      [ENV.eventBus]: this.eventBus.name,
      [ENV.identity]: JSON.stringify(args.identity),
      [ENV.tokenTtl]: args.tokenTtl,
      [ENV.accountId]: account,
      ...(args.auditQuery
        ? {
            [ENV.athenaWorkgroup]: args.auditQuery.workgroup,
            [ENV.athenaDatabase]: args.auditQuery.database,
            [ENV.auditRegions]: args.auditQuery.regions.join(','),
          }
        : {}),
    };
    for (const h of handlers) {
      const spec = HANDLERS[h];
      if (!spec) continue;
      this.functions[h] = new aws.lambda.Function(
        `${name}-${h}`,
        {
          name: brokerResourceName(args.namePrefix, h),
          description: spec.description,
          role: (this.roles[h] as aws.iam.Role).arn,
          runtime: LAMBDA_RUNTIME.runtime,
          architectures: [LAMBDA_RUNTIME.architecture],
          handler: LAMBDA_RUNTIME.handler,
          code: lambdaArchive(args.distDir, h, args.policyBundleJson),
          timeout: spec.timeout,
          memorySize: spec.memorySize,
          environment: { variables: handlerEnvironment(h, this.environment) },
          loggingConfig: { logFormat: 'JSON', logGroup: (this.logGroups[h] as aws.cloudwatch.LogGroup).name },
          // Failed asynchronous invocations (after Lambda's own retries) land in the same queue as failed schedules.
          ...(h === 'revoke' ? { deadLetterConfig: { targetArn: this.deadLetterQueue.arn } } : {}),
        },
        // Lambda checks the role can reach the dead-letter queue when the function is created.
        { ...child, dependsOn: [this.rolePolicies[h] as aws.iam.RolePolicy] },
      );
    }
    const revokeFn = this.functions.revoke as aws.lambda.Function;
    const sweeperFn = this.functions.sweeper as aws.lambda.Function;
    const apiFn = this.functions.api as aws.lambda.Function;

    new aws.iam.RolePolicy(
      `${name}-scheduler-policy`,
      {
        name: 'timebox-scheduler',
        role: this.schedulerRole.id,
        policy: pulumi
          .all([revokeFn.arn, this.deadLetterQueue.arn])
          .apply(([revokeFunctionArn, deadLetterQueueArn]) =>
            JSON.stringify(schedulerRolePolicy({ revokeFunctionArn, deadLetterQueueArn })),
          ),
      },
      child,
    );

    // ---- sweeper ---------------------------------------------------------------------------------------------
    this.sweepRule = new aws.cloudwatch.EventRule(
      `${name}-sweep`,
      { description: 'Timebox sweeper', scheduleExpression: 'rate(1 minute)' },
      child,
    );
    const sweep = this.sweepRule;
    new aws.lambda.Permission(
      `${name}-sweep-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: sweeperFn.name,
        principal: 'events.amazonaws.com',
        sourceArn: sweep.arn,
      },
      child,
    );
    new aws.cloudwatch.EventTarget(`${name}-sweep-target`, { rule: sweep.name, arn: sweeperFn.arn }, child);

    // ---- API routes ----------------------------------------------------------------------------------------
    const integrate = (part: string, resourceId: pulumi.Input<string>, method: string, authorization: string) => {
      const m = new aws.apigateway.Method(
        `${name}-${part}-method`,
        { restApi: this.restApi.id, resourceId, httpMethod: method, authorization },
        child,
      );
      const i = new aws.apigateway.Integration(
        `${name}-${part}-integration`,
        {
          restApi: this.restApi.id,
          resourceId,
          httpMethod: m.httpMethod,
          type: 'AWS_PROXY',
          integrationHttpMethod: 'POST',
          uri: apiFn.invokeArn,
        },
        child,
      );
      return [m, i];
    };
    const resource = (part: string, parentId: pulumi.Input<string>, pathPart: string) =>
      new aws.apigateway.Resource(`${name}-${part}`, { restApi: this.restApi.id, parentId, pathPart }, child);

    // Every route but the public GETs requires SigV4 (AWS_IAM); the public paths are GET-only resources, so any
    // other method on them has no route at all.
    const proxy = resource('proxy', this.restApi.rootResourceId, '{proxy+}');
    const routes = [...integrate('proxy', proxy.id, 'ANY', 'AWS_IAM')];
    const parents = new Map<string, pulumi.Input<string>>([['', this.restApi.rootResourceId]]);
    for (const path of PUBLIC_PATHS) {
      const parts = path.split('/').slice(1);
      let prefix = '';
      for (const part of parts) {
        const next = `${prefix}/${part}`;
        if (!parents.has(next)) {
          const id = next.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
          parents.set(next, resource(`public-${id}`, parents.get(prefix) as pulumi.Input<string>, part).id);
        }
        prefix = next;
      }
      const id = path.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
      routes.push(...integrate(`public-${id}`, parents.get(path) as pulumi.Input<string>, 'GET', 'NONE'));
    }

    const resourcePolicy = new aws.apigateway.RestApiPolicy(
      `${name}-api-policy`,
      {
        restApiId: this.restApi.id,
        policy: this.restApi.executionArn.apply((executeApiArn) =>
          JSON.stringify(
            apiResourcePolicy({
              executeApiArn,
              stage: API_STAGE,
              allowedAccounts: args.allowedAccounts,
              ...(args.orgId ? { orgId: args.orgId } : {}),
              trustedPrincipalArns: trustedPrincipalArns(args.identity, p),
            }),
          ),
        ),
      },
      child,
    );
    new aws.lambda.Permission(
      `${name}-api-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: apiFn.name,
        principal: 'apigateway.amazonaws.com',
        sourceArn: pulumi.interpolate`${this.restApi.executionArn}/${API_STAGE}/*`,
      },
      child,
    );

    // A resource policy takes effect only when the API is deployed again: the deployment is keyed on it too.
    const deployment = new aws.apigateway.Deployment(
      `${name}-deployment`,
      {
        restApi: this.restApi.id,
        description: 'Timebox API',
        triggers: {
          redeployment: pulumi
            .all([...routes.map((r) => r.id), resourcePolicy.policy])
            .apply((parts) => parts.join('|')),
        },
      },
      { ...child, dependsOn: [...routes, resourcePolicy] },
    );

    const apiLogs = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      { name: `/aws/apigateway/${args.namePrefix}`, retentionInDays: args.logRetentionDays },
      child,
    );
    const stageDeps: pulumi.Resource[] = [];
    if (args.manageApiGatewayAccount) {
      const cwRole = new aws.iam.Role(
        `${name}-apigw-logs-role`,
        {
          description: 'API Gateway writes access logs to CloudWatch Logs (region-wide account setting)',
          assumeRolePolicy: JSON.stringify(apiGatewayLogsTrustPolicy()),
        },
        child,
      );
      // The AWS managed policy API Gateway documents for this role ("Set up CloudWatch logging for REST APIs").
      const cwPolicy = new aws.iam.RolePolicyAttachment(
        `${name}-apigw-logs-policy`,
        { role: cwRole.name, policyArn: `arn:${p}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs` },
        child,
      );
      stageDeps.push(
        new aws.apigateway.Account(
          `${name}-apigw-account`,
          { cloudwatchRoleArn: cwRole.arn },
          { ...child, dependsOn: [cwPolicy] },
        ),
      );
    }
    this.stage = new aws.apigateway.Stage(
      `${name}-stage`,
      {
        restApi: this.restApi.id,
        deployment: deployment.id,
        stageName: API_STAGE,
        accessLogSettings: { destinationArn: apiLogs.arn, format: JSON.stringify(ACCESS_LOG_FORMAT) },
      },
      { ...child, dependsOn: stageDeps },
    );
    new aws.apigateway.MethodSettings(
      `${name}-throttle`,
      {
        restApi: this.restApi.id,
        stageName: this.stage.stageName,
        methodPath: '*/*',
        settings: {
          throttlingRateLimit: args.throttle.rateLimit,
          throttlingBurstLimit: args.throttle.burstLimit,
          metricsEnabled: true,
          // Execution logs can hold request bodies; the access log records who called what.
          loggingLevel: 'OFF',
          dataTraceEnabled: false,
        },
      },
      child,
    );

    // ---- alarms --------------------------------------------------------------------------------------------
    this.alarmTopic = new aws.sns.Topic(`${name}-alarms`, { displayName: 'Timebox alarms' }, child);
    if (args.alarmEmail) {
      new aws.sns.TopicSubscription(
        `${name}-alarm-email`,
        { topic: this.alarmTopic.arn, protocol: 'email', endpoint: args.alarmEmail },
        child,
      );
    }
    const alarm = (part: string, description: string, a: Partial<aws.cloudwatch.MetricAlarmArgs>) =>
      new aws.cloudwatch.MetricAlarm(
        `${name}-${part}`,
        {
          alarmDescription: description,
          comparisonOperator: 'GreaterThanThreshold',
          threshold: 0,
          evaluationPeriods: 1,
          period: 60,
          treatMissingData: 'notBreaching',
          alarmActions: [this.alarmTopic.arn],
          okActions: [this.alarmTopic.arn],
          ...a,
        },
        child,
      );
    this.alarms.push(
      alarm('dlq-alarm', 'A grant schedule or revoke invocation failed for good: expiry relies on the sweeper', {
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        statistic: 'Maximum',
        dimensions: { QueueName: this.deadLetterQueue.name },
      }),
      alarm('revoke-errors-alarm', 'The revoke function failed', {
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        statistic: 'Sum',
        dimensions: { FunctionName: revokeFn.name },
      }),
      alarm('sweeper-errors-alarm', 'The sweeper failed (one or more grants could not be expired, lapsed or cleaned)', {
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        statistic: 'Sum',
        dimensions: { FunctionName: sweeperFn.name },
      }),
    );

    this.roleArns = pulumi
      .all(Object.entries(this.roles).map(([h, r]) => r.arn.apply((arn) => [h, arn] as const)))
      .apply((pairs) => Object.fromEntries(pairs));

    this.registerOutputs({
      eventsTable: this.eventsTable.name,
      grantsTable: this.grantsTable.name,
      apiUrl: this.apiUrl,
      jwksUrl: this.jwksUrl,
      signingKey: this.signingKey.keyId,
      schedulerGroup: this.schedulerGroup.name,
      deadLetterQueue: this.deadLetterQueue.url,
      roleArns: this.roleArns,
    });
  }
}

/** Access log line (JSON); `$context.identity.userArn` is the SigV4 caller. */
export const ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  protocol: '$context.protocol',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
  accountId: '$context.identity.accountId',
  errorMessage: '$context.error.message',
};

function tableArgs(spec: TableSpec, description: string): aws.dynamodb.TableArgs {
  return {
    billingMode: 'PAY_PER_REQUEST',
    hashKey: spec.hashKey,
    ...(spec.rangeKey ? { rangeKey: spec.rangeKey } : {}),
    attributes: Object.entries(spec.attributes).map(([name, type]) => ({ name, type })),
    globalSecondaryIndexes: spec.indexes.map((i) => ({
      name: i.name,
      keySchemas: [
        { attributeName: i.hashKey, keyType: 'HASH' },
        { attributeName: i.rangeKey, keyType: 'RANGE' },
      ],
      projectionType: 'ALL',
    })),
    pointInTimeRecovery: { enabled: true },
    // KMS encryption at rest with the AWS managed key (alias/aws/dynamodb): no key grants for the roles to get wrong.
    serverSideEncryption: { enabled: true },
    deletionProtectionEnabled: true,
    tags: { 'timebox:table': description },
  };
}

/** Checks the arguments before any resource is declared; returns the handlers to deploy. */
export function validateBrokerArgs(args: BrokerArgs): string[] {
  const problems: string[] = [];
  const handlers = args.handlers ?? Object.keys(HANDLERS);
  for (const h of REQUIRED_HANDLERS) if (!handlers.includes(h)) problems.push(`the ${h} handler is required`);
  for (const h of handlers) if (!HANDLERS[h]) problems.push(`no handler "${h}" is declared in stacks/functions.ts`);
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(args.namePrefix))
    problems.push(`name prefix "${args.namePrefix}" must be 1-40 of a-z, 0-9 and - (use a shorter stack name)`);
  for (const h of handlers) {
    if (brokerResourceName(args.namePrefix, h).length > 64)
      problems.push(`function/role name ${brokerResourceName(args.namePrefix, h)} is longer than 64 characters`);
  }
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(args.logRetentionDays))
    problems.push(`log retention ${args.logRetentionDays} is not a CloudWatch Logs retention period`);
  if (args.allowedAccounts.length === 0 && !args.orgId)
    problems.push('the API must allow an account or an organization');
  if (!/^\d{12}$/.test(args.account)) problems.push(`account "${args.account}" is not a 12-digit account id`);
  if (problems.length > 0) throw new Error(`invalid Broker arguments:\n${problems.join('\n')}`);
  return handlers;
}
