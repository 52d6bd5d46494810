import { GRANT_TAG, ROLE_PATH } from '../../core/builders/aws';
import {
  doc,
  one,
  type PolicyDocument,
  REVOKER_ROLE_NAME,
  rootAdmin,
  type Statement,
  timeboxRoleArns,
} from './document';

// Broker Lambda roles, the scheduler role, the token signing key

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

// KMS: the token signing key

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
