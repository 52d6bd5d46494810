import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { IdentityConfig } from '../../lambdas/api/identity';
import { ENV, type EnvName } from '../../lambdas/config';
import { LOG_RETENTION_DAYS } from '../config';
import { BUNDLED_POLICY_FILE, HANDLERS } from '../functions';
import type { BrokerContext } from '../policies';
import { BrokerAlarms } from './alarms';
import { BrokerApi } from './api';
import { BrokerEventBus } from './bus';
import { BrokerExpiry } from './expiry';
import { BrokerFunctions } from './functions';
import { API_STAGE, brokerResourceName, REQUIRED_HANDLERS, schedulerGroupName } from './names';
import { BrokerRoles } from './roles';
import { BrokerScheduling } from './scheduling';
import { BrokerStorage } from './storage';

export { ACCESS_LOG_FORMAT } from './api';
export {
  API_STAGE,
  brokerResourceName,
  brokerRoleArn,
  eventBusName,
  REQUIRED_HANDLERS,
  schedulerGroupName,
} from './names';

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
 * The broker, in sections: storage (the audit tables, the token signing key), scheduling (Scheduler group and role,
 * dead-letter queue), the lifecycle event bus, roles and functions (one Lambda per handler, each with its own
 * least-privilege role), expiry (the scheduler's invoke permission, the sweeper rule), the REST API (IAM auth) and
 * alarms. Each section keeps the resource names, and through aliases the URNs, they had before the split.
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
  public readonly roles: Record<string, aws.iam.Role>;
  public readonly rolePolicies: Record<string, aws.iam.RolePolicy>;
  public readonly logGroups: Record<string, aws.cloudwatch.LogGroup>;
  public readonly functions: Record<string, aws.lambda.Function>;
  public readonly restApi: aws.apigateway.RestApi;
  public readonly stage: aws.apigateway.Stage;
  public readonly apiUrl: pulumi.Output<string>;
  public readonly jwksUrl: pulumi.Output<string>;
  public readonly alarmTopic: aws.sns.Topic;
  public readonly alarms: aws.cloudwatch.MetricAlarm[];
  /** Role ARN per handler (the spoke program's `timebox:hubRoles`). */
  public readonly roleArns: pulumi.Output<Record<string, string>>;
  /** Every environment value the broker knows; each function takes the subset its LAMBDA_ENV entry names. */
  public readonly environment: Partial<Record<EnvName, pulumi.Input<string>>>;
  /** What the broker's IAM documents are built from; functions outside the component (slack) use it too. */
  public readonly context: pulumi.Output<BrokerContext>;

  constructor(name: string, args: BrokerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:Broker', name, {}, opts);
    const handlers = validateBrokerArgs(args);
    const part = { parent: this };
    const { namePrefix, account } = args;

    const scheduling = new BrokerScheduling(name, { account, namePrefix }, part);
    const bus = new BrokerEventBus(name, { namePrefix, eventArchiveDays: args.eventArchiveDays }, part);
    const roles = new BrokerRoles(name, { namePrefix, handlers, logRetentionDays: args.logRetentionDays }, part);
    const apiRole = roles.roles.api as aws.iam.Role;
    const storage = new BrokerStorage(
      name,
      { partition: args.partition, account, namePrefix, apiRoleArn: apiRole.arn },
      part,
    );
    this.eventsTable = storage.eventsTable;
    this.grantsTable = storage.grantsTable;
    this.signingKey = storage.signingKey;
    this.deadLetterQueue = scheduling.deadLetterQueue;
    this.schedulerGroup = scheduling.schedulerGroup;
    this.schedulerRole = scheduling.schedulerRole;
    this.eventBus = bus.eventBus;
    this.eventArchive = bus.eventArchive;
    this.roles = roles.roles;
    this.logGroups = roles.logGroups;
    this.context = this.brokerContext(args);

    // The REST API is the Broker's own child, declared before the functions: its id is the token issuer.
    this.restApi = new aws.apigateway.RestApi(
      `${name}-api`,
      { description: 'Timebox broker API', endpointConfiguration: { types: 'REGIONAL' } },
      part,
    );
    this.apiUrl = pulumi.interpolate`https://${this.restApi.id}.execute-api.${args.region}.${args.dnsSuffix}/${API_STAGE}`;
    this.jwksUrl = pulumi.interpolate`${this.apiUrl}/.well-known/jwks.json`;
    this.environment = this.brokerEnvironment(args);

    const functions = new BrokerFunctions(
      name,
      {
        namePrefix,
        handlers,
        roles: this.roles,
        logGroups: this.logGroups,
        context: this.context,
        environment: this.environment,
        distDir: args.distDir,
        policyBundleJson: args.policyBundleJson,
        deadLetterQueueArn: this.deadLetterQueue.arn,
      },
      part,
    );
    this.rolePolicies = functions.rolePolicies;
    this.functions = functions.functions;
    const revokeFunction = this.functions.revoke as aws.lambda.Function;
    const sweeperFunction = this.functions.sweeper as aws.lambda.Function;

    const expiry = new BrokerExpiry(
      name,
      {
        schedulerRole: this.schedulerRole,
        deadLetterQueueArn: this.deadLetterQueue.arn,
        revokeFunction,
        sweeperFunction,
      },
      part,
    );
    this.sweepRule = expiry.sweepRule;
    const api = new BrokerApi(
      name,
      {
        partition: args.partition,
        namePrefix,
        restApi: this.restApi,
        apiFunction: this.functions.api as aws.lambda.Function,
        identity: args.identity,
        allowedAccounts: args.allowedAccounts,
        ...(args.orgId ? { orgId: args.orgId } : {}),
        throttle: args.throttle,
        manageApiGatewayAccount: args.manageApiGatewayAccount,
        logRetentionDays: args.logRetentionDays,
      },
      part,
    );
    this.stage = api.stage;
    const alarms = new BrokerAlarms(
      name,
      {
        ...(args.alarmEmail ? { alarmEmail: args.alarmEmail } : {}),
        deadLetterQueueName: this.deadLetterQueue.name,
        revokeFunctionName: revokeFunction.name,
        sweeperFunctionName: sweeperFunction.name,
      },
      part,
    );
    this.alarmTopic = alarms.alarmTopic;
    this.alarms = alarms.alarms;

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

  /** What the role policies are built from (resolved ARNs of the broker's resources). */
  private brokerContext(args: BrokerArgs): pulumi.Output<BrokerContext> {
    return pulumi
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
        partition: args.partition,
        region: args.region,
        account: args.account,
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
  }

  /** Every environment value the broker knows (each function takes the subset its LAMBDA_ENV entry names). */
  private brokerEnvironment(args: BrokerArgs): Partial<Record<EnvName, pulumi.Input<string>>> {
    const { partition: p, region, account } = args;
    const revokeFunctionArn = `arn:${p}:lambda:${region}:${account}:function:${brokerResourceName(args.namePrefix, 'revoke')}`;
    return {
      [ENV.eventsTable]: this.eventsTable.name,
      [ENV.grantsTable]: this.grantsTable.name,
      [ENV.policyFile]: `./${BUNDLED_POLICY_FILE}`,
      [ENV.issuer]: this.apiUrl,
      [ENV.kmsKeyId]: this.signingKey.arn,
      [ENV.schedulerGroup]: this.schedulerGroup.name,
      [ENV.schedulerRoleArn]: this.schedulerRole.arn,
      [ENV.schedulerDlqArn]: this.deadLetterQueue.arn,
      [ENV.revokeFunctionArn]: revokeFunctionArn,
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
  }
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
