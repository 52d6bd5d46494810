import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as aws from '@pulumi/aws';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { roleArn } from '../core/builders/aws';
import { policyBundle } from '../core/policy/json';
import { formatProblem, loadPolicy } from '../core/policy/load';
import type { AwsRoleTarget, Policy } from '../core/policy/types';
import { CLOUDTRAIL_TABLE, glueName, projectedRegions } from './athena';
import { AuditTrail, projectedAccounts, targetDataEvents, trailArn } from './audit';
import { Broker, brokerRoleArn, eventBusName, REQUIRED_HANDLERS, schedulerGroupName } from './broker';
import {
  NOTIFY_NAMESPACE,
  type NotificationsConfig,
  namespaceConfig,
  parseNotificationsConfig,
  readStackConfig,
  type StackConfig,
} from './config';
import { checkBundles, HANDLERS } from './functions';
import { GcpAccess, gcpTargetsFromPolicy } from './gcp';
import { Notifications, notifyHandlers } from './notifications';
import { auditQueryPolicy, sessionNamePinningProblems } from './policies';
import { Boundary, boundaryArn, Targets, validateTargets } from './targets';

/**
 * The hub program: reads the stack configuration and access.yaml, checks both (and the Lambda bundles) before
 * declaring anything, then composes Broker, AuditTrail, Boundary, Targets and, when configured, GcpAccess.
 */

export interface ProgramOptions {
  /** Parsed configuration; defaults to the stack's `timebox:*` keys. */
  config?: StackConfig;
  /** Where relative paths (policyFile) start: the directory of Pulumi.yaml, which Pulumi makes the cwd. */
  projectDir?: string;
  /** Lambda bundles; defaults to <projectDir>/dist/lambdas (written by `npm run build`). */
  distDir?: string;
  /** Stack name (names are prefixed `timebox-<stack>` unless timebox:namePrefix is set); defaults to the current stack. */
  stack?: string;
  /** Slack and webhook settings; default the stack's `timebox-notify:*` keys (stacks/config.ts). */
  notifications?: NotificationsConfig;
}

/** The stack outputs. */
export interface TimeboxOutputs {
  apiUrl: pulumi.Output<string>;
  region: string;
  eventsTable: pulumi.Output<string>;
  grantsTable: pulumi.Output<string>;
  jwksUrl: pulumi.Output<string>;
  athenaWorkgroup: pulumi.Output<string>;
  glueDatabase: pulumi.Output<string>;
  trailBucket: pulumi.Output<string>;
  /** The key trail logs are encrypted with: with trailBucket, the spoke program's `timebox:auditTrail`. */
  trailKeyArn: pulumi.Output<string>;
  /** Target name -> role ARN, for every aws-role target (hub roles from this stack, spoke roles by name). */
  targetRoleArns: pulumi.Output<Record<string, string>>;
  schedulerGroup: pulumi.Output<string>;
  kmsKeyId: pulumi.Output<string>;
  dlqUrl: pulumi.Output<string>;
  /** Broker role ARN per handler: the spoke program's `timebox:hubRoles`. */
  brokerRoleArns: pulumi.Output<Record<string, string>>;
  boundaryArn: pulumi.Output<string>;
  eventBus: pulumi.Output<string>;
  alarmTopic: pulumi.Output<string>;
  /** The Slack app's interactivity Request URL, when Slack is configured. */
  slackRequestUrl?: pulumi.Output<string>;
  /** Secrets whose values the operator sets (name -> ARN), when notifications are configured. */
  notificationSecrets: pulumi.Output<Record<string, string>>;
}

/** Reads and validates access.yaml; throws listing every problem (with line numbers) when it is invalid. */
export function readPolicyFile(path: string, shownAs: string = path): { text: string; policy: Policy } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`timebox:policyFile: cannot read ${shownAs}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const loaded = loadPolicy(text, { fileName: shownAs });
  if (!loaded.ok) {
    const n = loaded.problems.length;
    throw new Error(
      `${shownAs} has ${n} problem${n === 1 ? '' : 's'}:\n${loaded.problems.map((p) => formatProblem(p)).join('\n')}`,
    );
  }
  for (const w of loaded.warnings) pulumi.log.warn(formatProblem({ ...w, file: shownAs }));
  return { text, policy: loaded.policy };
}

/**
 * Splits the aws-role targets into this account's (created here) and spoke accounts' (created by the spoke
 * program). A target in an account that is neither is refused: its role would never exist.
 */
export function splitTargets(
  policy: Pick<Policy, 'targets'>,
  hub: { account: string; partition: string; spokeAccounts: string[] },
): { hub: AwsRoleTarget[]; spoke: AwsRoleTarget[] } {
  const out = { hub: [] as AwsRoleTarget[], spoke: [] as AwsRoleTarget[] };
  const problems: string[] = [];
  for (const t of Object.values(policy.targets)) {
    if (t.kind !== 'aws-role') continue;
    if (t.partition !== hub.partition) {
      problems.push(`targets.${t.name}.partition: ${t.partition} is not this stack's partition (${hub.partition})`);
    } else if (t.account === hub.account) {
      out.hub.push(t);
    } else if (hub.spokeAccounts.includes(t.account)) {
      out.spoke.push(t);
    } else {
      problems.push(
        `targets.${t.name}.account: ${t.account} is neither this account (${hub.account}) nor listed in timebox:spokeAccounts`,
      );
    }
  }
  if (problems.length > 0) throw new Error(`access policy targets cannot be deployed:\n${problems.join('\n')}`);
  return out;
}

/** `timebox-<stack>`, the prefix of every name that must be known before deployment. */
export function namePrefix(stack: string): string {
  return `timebox-${stack.toLowerCase().replace(/[^a-z0-9-]+/g, '-')}`.slice(0, 40).replace(/-+$/, '');
}

/**
 * A roleArn identity source is trusted only if its trust policy pins the session name (docs/identity.md). Roles in
 * this account are read and checked before anything is declared; roles in other accounts cannot be read from here,
 * so the preview says to check them.
 */
async function checkIdentitySources(identity: StackConfig['identity'], account: string): Promise<void> {
  const problems: string[] = [];
  for (const rule of identity.roles) {
    if (rule.roleArn === undefined || rule.sessionNameFrom === undefined) continue;
    const [, , , , roleAccount, resource] = rule.roleArn.split(':');
    if (roleAccount !== account) {
      pulumi.log.warn(
        `timebox:identity: ${rule.roleArn} is in another account: check that its trust policy pins sts:RoleSessionName to \${${rule.sessionNameFrom}} (docs/identity.md)`,
      );
      continue;
    }
    const name = (resource ?? '').split('/').pop() as string;
    const role = await aws.iam.getRole({ name });
    for (const p of sessionNamePinningProblems(JSON.parse(role.assumeRolePolicy), rule.sessionNameFrom))
      problems.push(`timebox:identity: ${rule.roleArn}: ${p}`);
  }
  if (problems.length > 0)
    throw new Error(`identity sources whose session names their callers choose:\n${problems.join('\n')}`);
}

/** Declares the whole hub stack and returns its outputs. */
export async function timebox(opts: ProgramOptions = {}): Promise<TimeboxOutputs> {
  // Everything that can be checked locally is checked before the first cloud call or resource.
  const cfg = opts.config ?? readStackConfig();
  const projectDir = opts.projectDir ?? process.cwd();
  const { text: policyText, policy } = readPolicyFile(resolve(projectDir, cfg.policyFile), cfg.policyFile);
  const distDir = opts.distDir ?? join(projectDir, 'dist', 'lambdas');
  const handlers = Object.keys(HANDLERS);
  const notify = opts.notifications ?? parseNotificationsConfig(namespaceConfig(NOTIFY_NAMESPACE));
  checkBundles(distDir, [...handlers, ...notifyHandlers(notify)], projectDir);
  const prefix = cfg.namePrefix ?? namePrefix(opts.stack ?? pulumi.getStack());

  const [caller, part, reg] = await Promise.all([aws.getCallerIdentity({}), aws.getPartition({}), aws.getRegion({})]);
  const account = caller.accountId;
  const partition = part.partition;
  const region = reg.region;
  await checkIdentitySources(cfg.identity, account);
  const split = splitTargets(policy, { account, partition, spokeAccounts: cfg.spokeAccounts });
  validateTargets(split.hub);

  const gcpTargets = gcpTargetsFromPolicy(policy);
  if (!cfg.gcp && Object.keys(gcpTargets).length > 0) {
    pulumi.log.warn(
      'access.yaml has gcp-role targets but timebox:gcp is not set: requests for them will fail with TARGET.KIND_UNAVAILABLE',
    );
  }
  let gcpConfig: pulumi.Output<string> | undefined;
  if (cfg.gcp) {
    const provider = new gcp.Provider('gcp', { project: cfg.gcp.hostProject });
    const access = new GcpAccess('gcp', {
      provider,
      hostProject: cfg.gcp.hostProject,
      awsAccountId: account,
      // The slack function approves, and an approval activates: it provisions GCP bindings like the broker does.
      brokerRoleArns: Object.fromEntries(
        [...REQUIRED_HANDLERS, ...(notify.slack ? ['slack'] : [])].map((h) => [
          h,
          brokerRoleArn({ partition, account, prefix, handler: h }),
        ]),
      ),
      targets: gcpTargets,
      members: cfg.gcp.members,
      poolId: cfg.gcp.poolId,
      providerId: cfg.gcp.providerId,
      serviceAccountId: cfg.gcp.serviceAccountId,
      enableApis: cfg.gcp.enableApis,
    });
    gcpConfig = access.configJson;
  }

  // The GCP settings ride in policy.json, not in TIMEBOX_GCP: members and projects grow past Lambda's 4 KB environment.
  // The audit table reads every account grants act in (an organization trail, or each spoke's own trail into the
  // hub bucket) and the region global services are recorded in.
  const auditRegions = projectedRegions(cfg.auditRegions, partition);
  const orgTrail = cfg.organizationTrail && cfg.orgId ? { orgId: cfg.orgId } : {};
  const auditAccounts = {
    ...(cfg.organizationTrail ? { accounts: cfg.spokeAccounts } : { spokeTrailAccounts: cfg.spokeAccounts }),
  };
  const policyBundleJson: pulumi.Input<string> = gcpConfig
    ? gcpConfig.apply((json) => JSON.stringify(policyBundle(policy, policyText, { gcp: JSON.parse(json) })))
    : JSON.stringify(policyBundle(policy, policyText));
  const boundaryName = `${prefix}-boundary`;
  const boundary = boundaryArn({ partition, account, policyName: boundaryName });
  const broker = new Broker('broker', {
    partition,
    region,
    account,
    dnsSuffix: part.dnsSuffix,
    namePrefix: prefix,
    spokeAccounts: cfg.spokeAccounts,
    distDir,
    policyBundleJson,
    handlers,
    identity: cfg.identity,
    tokenTtl: cfg.tokenTtl,
    // The AuditTrail below creates these under the same names (workgroup = prefix, database from glueName).
    auditQuery: { workgroup: prefix, database: glueName(`${prefix}_audit`), regions: auditRegions },
    boundaryArn: boundary,
    logRetentionDays: cfg.logRetentionDays,
    eventArchiveDays: cfg.eventArchiveDays,
    allowedAccounts: cfg.allowedAccounts,
    ...(cfg.orgId ? { orgId: cfg.orgId } : {}),
    throttle: cfg.apiThrottle,
    manageApiGatewayAccount: cfg.manageApiGatewayAccount,
    ...(cfg.alarmEmail ? { alarmEmail: cfg.alarmEmail } : {}),
  });

  const trailName = prefix;
  const audit = new AuditTrail('audit', {
    partition,
    region,
    account,
    trailName,
    eventsTableArn: broker.eventsTable.arn,
    retentionDays: cfg.trailRetentionDays,
    regions: auditRegions,
    ...auditAccounts,
    ...orgTrail,
    glueDatabaseName: glueName(`${prefix}_audit`),
    workgroupName: prefix,
    // An organization trail records every account: the data events of spoke targets too (spoke trails record their own).
    targetDataEvents: targetDataEvents(cfg.organizationTrail ? [...split.hub, ...split.spoke] : split.hub),
  });

  // The api reads the trail through Athena for `GET /v1/audit/timeline`.
  const apiRole = broker.roles.api as aws.iam.Role;
  new aws.iam.RolePolicy('api-audit-query', {
    name: 'timebox-audit-query',
    role: apiRole.id,
    policy: pulumi
      .all([audit.bucket.arn, audit.resultsBucket.arn, audit.key.arn])
      .apply(([trailBucketArn, resultsBucketArn, keyArn]) =>
        JSON.stringify(
          auditQueryPolicy({
            partition,
            region,
            account,
            workgroup: prefix,
            database: glueName(`${prefix}_audit`),
            table: CLOUDTRAIL_TABLE,
            trailBucketArn,
            resultsBucketArn,
            keyArn,
            logAccounts: projectedAccounts({ account, ...auditAccounts }),
            ...orgTrail,
          }),
        ),
      ),
  });

  const notifications = new Notifications('notify', {
    namePrefix: prefix,
    account,
    config: notify,
    distDir,
    policyBundleJson,
    logRetentionDays: cfg.logRetentionDays,
    bus: { name: broker.eventBus.name, arn: broker.eventBus.arn },
    grantsTableArn: broker.grantsTable.arn,
    broker: {
      context: broker.context,
      // The slack function runs GrantService: the broker's environment, of which it takes what LAMBDA_ENV names.
      environment: broker.environment,
    },
    alarmTopicArn: broker.alarmTopic.arn,
  });

  // What no target role may touch, whatever access.yaml allows: the broker, its audit record and its keys.
  const scheduler = `arn:${partition}:scheduler:${region}:${account}`;
  const protectedArns: pulumi.Input<string>[] = [
    broker.eventsTable.arn,
    pulumi.interpolate`${broker.eventsTable.arn}/*`,
    broker.grantsTable.arn,
    pulumi.interpolate`${broker.grantsTable.arn}/*`,
    broker.signingKey.arn,
    broker.deadLetterQueue.arn,
    broker.eventBus.arn,
    // The witness of the audit record, the rules that route lifecycle events and run the sweeper, the API itself
    // and the alarms: disabling or redirecting any of them must not be within a grant.
    broker.eventArchive.arn,
    `arn:${partition}:events:${region}:${account}:rule/${eventBusName(prefix)}/*`,
    broker.sweepRule.arn,
    ...notifications.rules.map((r) => r.arn),
    `arn:${partition}:events:${region}:${account}:api-destination/${prefix}-*`,
    `arn:${partition}:events:${region}:${account}:connection/${prefix}-*`,
    pulumi.interpolate`arn:${partition}:apigateway:${region}::/restapis/${broker.restApi.id}`,
    pulumi.interpolate`arn:${partition}:apigateway:${region}::/restapis/${broker.restApi.id}/*`,
    broker.alarmTopic.arn,
    `${scheduler}:schedule-group/${schedulerGroupName(prefix)}`,
    `${scheduler}:schedule/${schedulerGroupName(prefix)}/*`,
    broker.schedulerRole.arn,
    // Every function is named `<prefix>-<handler>`. The wildcard also covers versions and aliases (`name:$LATEST`),
    // ARNs of their own that Invoke accepts: a grant session must not invoke the api function with a made-up caller.
    // (It may also cover a stack whose prefix extends this one, `<prefix>-eu`: a Deny that reaches further is safe,
    // and listing each function's two ARNs would not fit the boundary's 6,144 characters.)
    `arn:${partition}:lambda:${region}:${account}:function:${prefix}-*`,
    ...Object.values(broker.roles).map((r) => r.arn),
    ...Object.values(notifications.roles).map((r) => r.arn),
    `arn:${partition}:secretsmanager:${region}:${account}:secret:${prefix}/*`,
    ...(notifications.deadLetterQueue ? [notifications.deadLetterQueue.arn] : []),
    audit.key.arn,
    audit.bucket.arn,
    pulumi.interpolate`${audit.bucket.arn}/*`,
    audit.resultsBucket.arn,
    pulumi.interpolate`${audit.resultsBucket.arn}/*`,
    trailArn({ partition, region, account, trailName }),
  ];
  const boundaryResource = new Boundary('boundary', { targets: split.hub, protectedArns, policyName: boundaryName });
  const targets = new Targets('targets', {
    targets: split.hub,
    boundaryArn: boundaryResource.arn,
    brokerRoleArns: [apiRole.arn],
  });

  const spokeRoleArns = Object.fromEntries(split.spoke.map((t) => [t.name, roleArn(t)]));
  return {
    apiUrl: broker.apiUrl,
    region,
    eventsTable: broker.eventsTable.name,
    grantsTable: broker.grantsTable.name,
    jwksUrl: broker.jwksUrl,
    athenaWorkgroup: audit.workgroup.name,
    glueDatabase: audit.database.name,
    trailBucket: audit.bucket.id,
    trailKeyArn: audit.key.arn,
    targetRoleArns: targets.roleArns.apply((hub) => ({ ...spokeRoleArns, ...hub })),
    schedulerGroup: broker.schedulerGroup.name,
    kmsKeyId: broker.signingKey.keyId,
    dlqUrl: broker.deadLetterQueue.url,
    brokerRoleArns: broker.roleArns,
    boundaryArn: boundaryResource.arn,
    eventBus: broker.eventBus.name,
    alarmTopic: broker.alarmTopic.arn,
    ...(notifications.slackRequestUrl ? { slackRequestUrl: notifications.slackRequestUrl } : {}),
    notificationSecrets: pulumi
      .all(Object.entries(notifications.secrets).map(([k, x]) => x.arn.apply((arn) => [k, arn] as const)))
      .apply((pairs) => Object.fromEntries(pairs)),
  };
}
