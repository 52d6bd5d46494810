import { PUBLIC_PATHS } from '../api/routes';
import { GRANT_TAG, ROLE_PATH } from '../core/builders/aws';

/**
 * Every IAM document the stack attaches to its own resources (broker and notification roles, key policies, bucket,
 * queue and API resource policies, the spoke revoker), built by pure functions from plain ARNs so they are unit-tested without Pulumi and
 * the mocks tests can check that each resource carries exactly the document built here.
 */

type Values = string | string[];

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: '*' | { AWS?: Values; Service?: Values };
  Action: Values;
  Resource?: Values;
  Condition?: Record<string, Record<string, Values | boolean>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}

/** Name of the role in each spoke account that the hub assumes to write and clean up revocation denies. */
export const REVOKER_ROLE_NAME = 'timebox-revoker';

function doc(statements: Statement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

function one(values: string[]): Values {
  return values.length === 1 ? (values[0] as string) : values;
}

/** `arn:aws:iam::<account>:role/timebox/*` for each account: the only roles Timebox vends or revokes on. */
export function timeboxRoleArns(partition: string, accounts: string[]): string[] {
  return [...new Set(accounts)].sort().map((a) => `arn:${partition}:iam::${a}:role${ROLE_PATH}*`);
}

// ---------------------------------------------------------------------------------------------------------------
// Broker Lambda roles

/** What a broker Lambda role needs to know about the stack: plain strings, resolved from resource outputs. */
export interface BrokerContext {
  partition: string;
  region: string;
  /** The hub account (where the stack runs). */
  account: string;
  /** Accounts whose target roles are managed by the spoke program. */
  spokeAccounts: string[];
  eventsTableArn: string;
  grantsTableArn: string;
  signingKeyArn: string;
  schedulerGroupName: string;
  schedulerRoleArn: string;
  eventBusArn: string;
  deadLetterQueueArn: string;
  /** ARN of the permission boundary every hub target role carries. */
  boundaryArn: string;
}

/** Building blocks of broker permissions; each handler lists the ones its code path calls. */
export type Capability =
  | 'store'
  | 'publish'
  | 'schedule'
  | 'vend'
  | 'assumeRevoker'
  | 'revokeWrite'
  | 'revokeCleanup'
  | 'sign'
  | 'deadLetter';

/**
 * Capabilities per handler. Every handler runs GrantService (store, publish, schedule: an approval or activation
 * schedules the expiry). Only the api vends credentials and signs tokens; revoke and sweeper reach spoke accounts
 * through the `timebox-revoker` role only; only the sweeper deletes revocation policies (garbage collection);
 * only the revoke function has a dead-letter queue.
 */
export const HANDLER_CAPABILITIES: Record<string, readonly Capability[]> = {
  api: ['store', 'publish', 'schedule', 'vend', 'revokeWrite', 'sign'],
  revoke: ['store', 'publish', 'schedule', 'assumeRevoker', 'revokeWrite', 'deadLetter'],
  sweeper: ['store', 'publish', 'schedule', 'assumeRevoker', 'revokeWrite', 'revokeCleanup'],
};

function capabilityStatements(cap: Capability, c: BrokerContext): Statement[] {
  const p = c.partition;
  const hubTimeboxRoles = timeboxRoleArns(p, [c.account]);
  const withBoundary = { StringEquals: { 'iam:PermissionsBoundary': c.boundaryArn } };
  switch (cap) {
    case 'store':
      // Events are append-only: PutItem (the adapter always conditions it on attribute_not_exists) and reads.
      // IAM cannot require the condition expression itself; it can withhold UpdateItem/DeleteItem, which it does.
      return [
        {
          Sid: 'EventsAppendAndRead',
          Effect: 'Allow',
          Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
          Resource: c.eventsTableArn,
        },
        { Sid: 'EventsIndexes', Effect: 'Allow', Action: 'dynamodb:Query', Resource: `${c.eventsTableArn}/index/*` },
        {
          // BatchGetItem: the projection reads the grant views an awaiting-approval index page points at.
          Sid: 'GrantsProjection',
          Effect: 'Allow',
          Action: [
            'dynamodb:BatchGetItem',
            'dynamodb:DeleteItem',
            'dynamodb:GetItem',
            'dynamodb:PutItem',
            'dynamodb:Query',
            'dynamodb:UpdateItem',
          ],
          Resource: c.grantsTableArn,
        },
        { Sid: 'GrantsIndexes', Effect: 'Allow', Action: 'dynamodb:Query', Resource: `${c.grantsTableArn}/index/*` },
      ];
    case 'publish':
      return [{ Sid: 'PublishLifecycleEvents', Effect: 'Allow', Action: 'events:PutEvents', Resource: c.eventBusArn }];
    case 'schedule':
      return [
        {
          Sid: 'GrantSchedules',
          Effect: 'Allow',
          Action: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:UpdateSchedule'],
          Resource: `arn:${p}:scheduler:${c.region}:${c.account}:schedule/${c.schedulerGroupName}/*`,
        },
        {
          // CreateSchedule passes the scheduler role; PassedToService keeps it from being handed to anything else.
          Sid: 'PassSchedulerRole',
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: c.schedulerRoleArn,
          Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        },
      ];
    case 'vend':
      // Target roles in the hub and in every spoke, and the spokes' revoker roles (same path): nothing else.
      return [
        {
          Sid: 'AssumeTimeboxRoles',
          Effect: 'Allow',
          Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'],
          Resource: one(timeboxRoleArns(p, [c.account, ...c.spokeAccounts])),
        },
        {
          Sid: 'TagGrantSessions',
          Effect: 'Allow',
          Action: 'sts:TagSession',
          Resource: one(timeboxRoleArns(p, [c.account, ...c.spokeAccounts])),
          Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [GRANT_TAG] } },
        },
      ];
    case 'assumeRevoker':
      if (c.spokeAccounts.length === 0) return [];
      return [
        {
          Sid: 'AssumeSpokeRevoker',
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Resource: one(
            [...new Set(c.spokeAccounts)].sort().map((a) => `arn:${p}:iam::${a}:role${ROLE_PATH}${REVOKER_ROLE_NAME}`),
          ),
        },
      ];
    case 'revokeWrite':
      // IAM has no condition key for the inline policy name (service authorization reference, PutRolePolicy:
      // only iam:PermissionsBoundary and iam:RoleTemplateARN), so the write is limited to roles under /timebox/
      // that carry the Timebox boundary; the policy name `timebox-revoked` is the adapter's to keep.
      return [
        {
          Sid: 'ReadTargetRolePolicies',
          Effect: 'Allow',
          Action: ['iam:GetRolePolicy', 'iam:ListRolePolicies'],
          Resource: one(hubTimeboxRoles),
        },
        {
          Sid: 'WriteRevocationPolicy',
          Effect: 'Allow',
          Action: 'iam:PutRolePolicy',
          Resource: one(hubTimeboxRoles),
          Condition: withBoundary,
        },
      ];
    case 'revokeCleanup':
      return [
        {
          Sid: 'DeleteExpiredRevocationPolicy',
          Effect: 'Allow',
          Action: 'iam:DeleteRolePolicy',
          Resource: one(hubTimeboxRoles),
          Condition: withBoundary,
        },
      ];
    case 'sign':
      return [
        {
          // The signer only ever asks KMS to sign a SHA-256 digest with ECDSA P-256 (ES256).
          Sid: 'SignTokens',
          Effect: 'Allow',
          Action: 'kms:Sign',
          Resource: c.signingKeyArn,
          Condition: { StringEquals: { ...SIGNING_CONDITIONS } },
        },
        { Sid: 'PublishSigningKey', Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: c.signingKeyArn },
      ];
    case 'deadLetter':
      // Lambda sends failed asynchronous invocations to the function's dead-letter queue with the function's role.
      return [{ Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: c.deadLetterQueueArn }];
  }
}

/**
 * Trust policy of every broker Lambda role: only the Lambda service. No aws:SourceAccount condition: a function can
 * only be given this role by someone allowed iam:PassRole on it in this account, so the condition would add nothing
 * but the risk of a key Lambda does not send.
 */
export function lambdaTrustPolicy(): PolicyDocument {
  return doc([{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
}

/** The inline policy of one handler's role: its log group plus the capabilities it is listed with. */
export function handlerPolicy(
  handler: string,
  c: BrokerContext,
  logGroupArn: string,
  capabilities: readonly Capability[] | undefined = HANDLER_CAPABILITIES[handler],
): PolicyDocument {
  if (!capabilities) throw new Error(`no capabilities are declared for handler "${handler}"`);
  return doc([
    {
      Sid: 'OwnLogGroup',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [logGroupArn, `${logGroupArn}:*`],
    },
    ...capabilities.flatMap((cap) => capabilityStatements(cap, c)),
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Audit timeline (the api reads CloudTrail through Athena)

/**
 * What running the timeline query takes (Athena User Guide, "Identity and access management in Athena" and
 * "Access to encrypted data"): queries in the Timebox workgroup only; the Glue database and table it reads; the
 * trail's log files (read) and the workgroup's results bucket (write, read); the audit key both are encrypted with.
 * The table uses partition projection, so no glue:GetPartitions.
 */
export function auditQueryPolicy(a: {
  partition: string;
  region: string;
  account: string;
  workgroup: string;
  database: string;
  table: string;
  trailBucketArn: string;
  resultsBucketArn: string;
  keyArn: string;
  /** Accounts whose logs the table projects (default: this one) and the organization of an organization trail. */
  logAccounts?: string[];
  orgId?: string;
}): PolicyDocument {
  const glue = `arn:${a.partition}:glue:${a.region}:${a.account}`;
  const logAccounts = [...new Set(a.logAccounts ?? [a.account])].sort();
  const org = a.orgId ? `${a.orgId}/` : '';
  return doc([
    {
      Sid: 'RunTimelineQueries',
      Effect: 'Allow',
      Action: ['athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StartQueryExecution'],
      Resource: `arn:${a.partition}:athena:${a.region}:${a.account}:workgroup/${a.workgroup}`,
    },
    {
      Sid: 'ReadTrailTable',
      Effect: 'Allow',
      Action: ['glue:GetDatabase', 'glue:GetTable'],
      Resource: [`${glue}:catalog`, `${glue}:database/${a.database}`, `${glue}:table/${a.database}/${a.table}`],
    },
    {
      Sid: 'ReadTrailLogs',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: logAccounts.map((acct) => `${a.trailBucketArn}/AWSLogs/${org}${acct}/CloudTrail/*`),
    },
    {
      Sid: 'ListBuckets',
      Effect: 'Allow',
      Action: ['s3:GetBucketLocation', 's3:ListBucket'],
      Resource: [a.trailBucketArn, a.resultsBucketArn],
    },
    {
      Sid: 'WriteQueryResults',
      Effect: 'Allow',
      Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      Resource: `${a.resultsBucketArn}/*`,
    },
    {
      Sid: 'AuditKey',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: a.keyArn,
    },
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Scheduler

/** Trust policy of the role EventBridge Scheduler assumes to invoke the revoke function. */
export function schedulerTrustPolicy(account: string): PolicyDocument {
  return doc([
    {
      Effect: 'Allow',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': account } },
    },
  ]);
}

/**
 * The scheduler role may invoke the revoke function and nothing else, and deliver dead-letter events (the
 * execution role needs sqs:SendMessage on the DLQ: EventBridge Scheduler User Guide, "Configuring a schedule's
 * dead-letter queue").
 */
export function schedulerRolePolicy(a: { revokeFunctionArn: string; deadLetterQueueArn: string }): PolicyDocument {
  return doc([
    {
      Sid: 'InvokeRevoke',
      Effect: 'Allow',
      Action: 'lambda:InvokeFunction',
      Resource: [a.revokeFunctionArn, `${a.revokeFunctionArn}:*`],
    },
    { Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: a.deadLetterQueueArn },
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// KMS

function rootAdmin(partition: string, account: string): Statement {
  // Without this statement no IAM policy could grant use of the key and the key could become unmanageable
  // (KMS Developer Guide, "Default key policy").
  return {
    Sid: 'AccountAdministers',
    Effect: 'Allow',
    Principal: { AWS: `arn:${partition}:iam::${account}:root` },
    Action: 'kms:*',
    Resource: '*',
  };
}

/**
 * How the signer calls kms:Sign (adapters/aws/kms.ts): a SHA-256 digest signed with ECDSA P-256 (ES256). The key
 * policy carries these conditions itself: a key policy that names a principal grants on its own, so conditions on
 * the principal's identity policy alone would restrict nothing (KMS Developer Guide, "Key policies").
 */
export const SIGNING_CONDITIONS = { 'kms:MessageType': 'DIGEST', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } as const;

/** Key policy of the token signing key: account administers it; the api role only signs (ES256 digests) and reads the public key. */
export function signingKeyPolicy(a: { partition: string; account: string; apiRoleArn: string }): PolicyDocument {
  return doc([
    rootAdmin(a.partition, a.account),
    {
      Sid: 'ApiSigns',
      Effect: 'Allow',
      Principal: { AWS: a.apiRoleArn },
      Action: 'kms:Sign',
      Resource: '*',
      Condition: { StringEquals: { ...SIGNING_CONDITIONS } },
    },
    {
      Sid: 'ApiReadsPublicKey',
      Effect: 'Allow',
      Principal: { AWS: a.apiRoleArn },
      Action: 'kms:GetPublicKey',
      Resource: '*',
    },
  ]);
}

/**
 * Key policy of the trail key: CloudTrail may generate data keys only for this trail (encryption context and
 * aws:SourceArn, CloudTrail User Guide "Configure AWS KMS key policies for CloudTrail"); readers decrypt through
 * IAM policies, which the account statement enables.
 */
export function trailKeyPolicy(a: {
  partition: string;
  region: string;
  account: string;
  trailArn: string;
  /** Spoke accounts whose own trails deliver into the hub bucket, encrypted with this key. */
  spokeAccounts?: string[];
}): PolicyDocument {
  return doc([
    rootAdmin(a.partition, a.account),
    {
      Sid: 'CloudTrailEncrypts',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 'kms:GenerateDataKey*',
      Resource: '*',
      Condition: {
        StringEquals: { 'aws:SourceArn': a.trailArn },
        StringLike: {
          'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${a.partition}:cloudtrail:*:${a.account}:trail/*`,
        },
      },
    },
    {
      Sid: 'CloudTrailDescribesKey',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 'kms:DescribeKey',
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceArn': a.trailArn } },
    },
    ...spokeTrails(a.partition, a.spokeAccounts).map(({ account, trails }) => ({
      Sid: `CloudTrailEncryptsFor${account}`,
      Effect: 'Allow' as const,
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: ['kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
      Condition: {
        ArnLike: { 'aws:SourceArn': trails },
        StringEquals: { 'aws:SourceAccount': account },
      },
    })),
  ]);
}

/** The trails of each spoke account (any name, any home region): each may deliver only under its own account. */
function spokeTrails(partition: string, accounts: string[] = []): { account: string; trails: string }[] {
  return [...new Set(accounts)].sort().map((account) => ({
    account,
    trails: `arn:${partition}:cloudtrail:*:${account}:trail/*`,
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// S3

function tlsOnly(bucketArn: string): Statement {
  return {
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { 'aws:SecureTransport': false } },
  };
}

/**
 * Trail bucket policy: TLS only, plus the two statements CloudTrail needs to deliver (ACL check and PutObject
 * under AWSLogs/<account>/), both pinned to this trail with aws:SourceArn (CloudTrail User Guide, "Amazon S3 bucket
 * policy for CloudTrail").
 */
export function trailBucketPolicy(a: {
  bucketArn: string;
  trailArn: string;
  account: string;
  /** An organization trail also writes `AWSLogs/<org id>/<account>/...` for every member account. */
  orgId?: string;
  /** Spoke accounts whose own trails deliver here, each under `AWSLogs/<its account>/` only. */
  spokeAccounts?: string[];
  partition?: string;
}): PolicyDocument {
  const spokes = spokeTrails(a.partition ?? 'aws', a.spokeAccounts);
  return doc([
    tlsOnly(a.bucketArn),
    {
      Sid: 'CloudTrailAclCheck',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 's3:GetBucketAcl',
      Resource: a.bucketArn,
      Condition: { StringEquals: { 'aws:SourceArn': a.trailArn } },
    },
    {
      Sid: 'CloudTrailWrite',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: a.orgId
        ? [`${a.bucketArn}/AWSLogs/${a.account}/*`, `${a.bucketArn}/AWSLogs/${a.orgId}/*`]
        : `${a.bucketArn}/AWSLogs/${a.account}/*`,
      Condition: {
        StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceArn': a.trailArn },
      },
    },
    ...spokes.flatMap(({ account, trails }): Statement[] => [
      {
        Sid: `SpokeTrailAclCheck${account}`,
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 's3:GetBucketAcl',
        Resource: a.bucketArn,
        Condition: { ArnLike: { 'aws:SourceArn': trails }, StringEquals: { 'aws:SourceAccount': account } },
      },
      {
        Sid: `SpokeTrailWrite${account}`,
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: `${a.bucketArn}/AWSLogs/${account}/*`,
        Condition: {
          ArnLike: { 'aws:SourceArn': trails },
          StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceAccount': account },
        },
      },
    ]),
  ]);
}

/** Bucket policy of the Athena results bucket: TLS only (access is through IAM). */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
  return doc([tlsOnly(bucketArn)]);
}

// ---------------------------------------------------------------------------------------------------------------
// API Gateway

/**
 * `GET` paths served without SigV4 (the token verification keys, the revocation feed, the health check): the public
 * routes of the API's route table, so the stack cannot open or close a path the API does not.
 */
export { PUBLIC_PATHS };

/**
 * REST API resource policy. Anyone may GET the public paths; every other call must be SigV4-signed (AWS_IAM on
 * each method) AND come from an allowed account or organization AND from a principal the identity mapping trusts. The Deny matters for callers in the API's own
 * account, whom an identity policy alone would otherwise let in ("How API Gateway resource policies affect
 * authorization workflow": same-account callers need either policy to allow, other accounts need both).
 * `executeApiArn` is `arn:<p>:execute-api:<region>:<account>:<api id>`.
 */
export function apiResourcePolicy(a: {
  executeApiArn: string;
  stage: string;
  allowedAccounts: string[];
  orgId?: string;
  /** `aws:PrincipalArn` patterns of the callers the identity mapping accepts (trustedPrincipalArns). */
  trustedPrincipalArns: string[];
}): PolicyDocument {
  const all = `${a.executeApiArn}/*`;
  const publicArns = PUBLIC_PATHS.map((p) => `${a.executeApiArn}/${a.stage}/GET${p}`);
  const accounts = [...new Set(a.allowedAccounts)].sort();
  if (accounts.length === 0 && !a.orgId) throw new Error('the API must allow at least one account or organization');
  const trusted = [...new Set(a.trustedPrincipalArns)].sort();
  if (trusted.length === 0) throw new Error('the API must trust at least one caller ARN pattern (timebox:identity)');
  const statements: Statement[] = [
    { Sid: 'PublicDocuments', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: publicArns },
  ];
  if (accounts.length > 0) {
    statements.push({
      Sid: 'AllowedAccounts',
      Effect: 'Allow',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: all,
      Condition: { StringEquals: { 'aws:PrincipalAccount': one(accounts) } },
    });
  }
  if (a.orgId) {
    statements.push({
      Sid: 'AllowedOrganization',
      Effect: 'Allow',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: all,
      Condition: { StringEquals: { 'aws:PrincipalOrgID': a.orgId } },
    });
  }
  // Signed callers from anywhere else are refused even if their own identity policy allows execute-api:Invoke.
  // Null=false limits the Deny to signed requests; unsigned ones can only reach the public GETs anyway. Keys under
  // one operator are ANDed: refused when neither the account is listed nor the organization matches.
  const notAllowed: Record<string, Values> = {};
  if (accounts.length > 0) notAllowed['aws:PrincipalAccount'] = one(accounts);
  if (a.orgId) notAllowed['aws:PrincipalOrgID'] = a.orgId;
  const deny: Statement = {
    Sid: 'DenyOtherCallers',
    Effect: 'Deny',
    Principal: '*',
    Action: 'execute-api:Invoke',
    Resource: all,
    Condition: { Null: { 'aws:PrincipalAccount': 'false' }, StringNotEquals: notAllowed },
  };
  statements.push(deny);
  // The caller's role path is visible here, and only here: `aws:PrincipalArn` of a role session is the role ARN
  // with its path, while the function sees an assumed-role ARN without one. A role named like an Identity Center
  // role but created outside /aws-reserved/sso.amazonaws.com/, or any role the mapping does not name, is refused.
  statements.push({
    Sid: 'DenyUntrustedPrincipals',
    Effect: 'Deny',
    Principal: '*',
    Action: 'execute-api:Invoke',
    Resource: all,
    Condition: { Null: { 'aws:PrincipalArn': 'false' }, StringNotLike: { 'aws:PrincipalArn': one(trusted) } },
  });
  return doc(statements);
}

/** Trust policy of the region-wide role API Gateway uses to write access logs. */
export function apiGatewayLogsTrustPolicy(): PolicyDocument {
  return doc([{ Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
}

// ---------------------------------------------------------------------------------------------------------------
// Spoke accounts

/** Trust policy of a spoke's `timebox-revoker` role: only the hub broker roles may assume it. */
export function revokerTrustPolicy(brokerRoleArns: string[]): PolicyDocument {
  const brokers = [...new Set(brokerRoleArns)].sort();
  if (brokers.length === 0) throw new Error('the revoker role must trust at least one hub broker role');
  return doc([{ Effect: 'Allow', Principal: { AWS: one(brokers) }, Action: 'sts:AssumeRole' }]);
}

/**
 * What the revoker may do: read, write and delete inline policies on this account's Timebox roles, and (for the
 * writes) only on roles that carry the Timebox boundary. Nothing else.
 */
export function revokerRolePolicy(a: { partition: string; account: string; boundaryArn: string }): PolicyDocument {
  const roles = one(timeboxRoleArns(a.partition, [a.account]));
  return doc([
    {
      Sid: 'ReadTargetRolePolicies',
      Effect: 'Allow',
      Action: ['iam:GetRolePolicy', 'iam:ListRolePolicies'],
      Resource: roles,
    },
    {
      Sid: 'WriteRevocationPolicy',
      Effect: 'Allow',
      Action: ['iam:DeleteRolePolicy', 'iam:PutRolePolicy'],
      Resource: roles,
      Condition: { StringEquals: { 'iam:PermissionsBoundary': a.boundaryArn } },
    },
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Checks shared by the tests and the program

/** Statements that allow every action on every resource: there must be none in anything the stack writes. */
export function wildcardAllows(d: PolicyDocument): Statement[] {
  const has = (v: Values | undefined, x: string) => v === x || (Array.isArray(v) && v.includes(x));
  return d.Statement.filter(
    (s) => s.Effect === 'Allow' && has(s.Action, '*') && (s.Resource === undefined || has(s.Resource, '*')),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Identity sources (timebox:identity roleArn rules)

const ASSUME_ACTIONS = ['sts:AssumeRole', 'sts:AssumeRoleWithSAML', 'sts:AssumeRoleWithWebIdentity'];

function actionCovers(pattern: string, action: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(action);
}

/**
 * Problems with a role's trust policy as an identity source: empty when every statement that lets anyone assume
 * the role pins `sts:RoleSessionName` (StringEquals) to `${<from>}`, so the session name, which Timebox takes as
 * the person's id, is the IdP's subject or the calling IAM user's name and never the caller's choice.
 */
export function sessionNamePinningProblems(trustPolicy: unknown, from: 'saml:sub' | 'aws:username'): string[] {
  const pinned = `\${${from}}`;
  const raw = (trustPolicy as { Statement?: unknown } | null)?.Statement;
  const statements = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as Record<string, unknown>[];
  const problems: string[] = [];
  let assumable = false;
  statements.forEach((s, i) => {
    if (s?.Effect !== 'Allow') return;
    const name = typeof s.Sid === 'string' && s.Sid ? s.Sid : `#${i + 1}`;
    if (s.NotAction !== undefined) {
      problems.push(`statement ${name} uses NotAction: which assume actions it allows cannot be checked`);
      return;
    }
    const actions = (Array.isArray(s.Action) ? s.Action : [s.Action]).filter((a): a is string => typeof a === 'string');
    if (!actions.some((a) => ASSUME_ACTIONS.some((x) => actionCovers(a, x)))) return;
    assumable = true;
    const condition = s.Condition as Record<string, Record<string, unknown>> | undefined;
    const value = condition?.StringEquals?.['sts:RoleSessionName'];
    const values = Array.isArray(value) ? value : [value];
    if (values.length !== 1 || values[0] !== pinned)
      problems.push(
        `statement ${name} lets its principals assume the role without "StringEquals": {"sts:RoleSessionName": "${pinned}"}: they could choose any session name, and so any person`,
      );
  });
  if (!assumable) problems.push('no statement lets anyone assume the role');
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Notifications (stacks/notifications): the notifier and slack roles, EventBridge's webhook role, the dead-letter queue

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
