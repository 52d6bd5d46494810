import { generateKeyPairSync } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { anonymousPrincipal, runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { KmsTokenSigner } from '../../adapters/aws/kms';
import { ROUTE_IDS, ROUTES } from '../../api/routes';
import type { AwsRoleTarget } from '../../core/policy/types';
import { IdentityConfigSchema, trustedPrincipalArns } from '../../lambdas/api/identity';
import { MAX_DATA_EVENT_PREFIXES, targetDataEvents } from '../../stacks/audit';
import {
  apiResourcePolicy,
  type BrokerContext,
  type Capability,
  HANDLER_CAPABILITIES,
  handlerPolicy,
  lambdaTrustPolicy,
  type PolicyDocument,
  PUBLIC_PATHS,
  revokerRolePolicy,
  revokerTrustPolicy,
  schedulerRolePolicy,
  sessionNamePinningProblems,
  signingKeyPolicy,
  trailBucketPolicy,
  trailKeyPolicy,
  wildcardAllows,
} from '../../stacks/policies';
import { signDigest } from '../unit/aws/p256';

/**
 * The broker's IAM documents, pure: shape checks, and an IAM policy simulator run over each handler's policy to
 * show that it allows what the handler's code path calls and refuses the rest (the events table stays append-only,
 * roles outside /timebox/ and unlisted accounts stay out of reach).
 */

const ACCOUNT = '111122223333';
const SPOKE = '444455556666';
const REGION = 'eu-west-1';

function contextDummy(partial: Partial<BrokerContext> = {}): BrokerContext {
  return {
    partition: 'aws',
    region: REGION,
    account: ACCOUNT,
    spokeAccounts: [SPOKE],
    eventsTableArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/events`,
    grantsTableArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/grants`,
    signingKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/sign`,
    schedulerGroupName: 'timebox',
    schedulerRoleArn: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-scheduler`,
    eventBusArn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/timebox`,
    deadLetterQueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:timebox-dlq`,
    boundaryArn: `arn:aws:iam::${ACCOUNT}:policy/timebox/timebox-prod-boundary`,
    ...partial,
  };
}

const LOG_GROUP = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/timebox-prod-api`;
const ctx = contextDummy();
const policyOf = (handler: string) => handlerPolicy(handler, ctx, LOG_GROUP);

interface Call {
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
}

const PRINCIPAL = `arn:aws:sts::${ACCOUNT}:assumed-role/timebox-prod-api/fn`;

/**
 * Roles and KMS keys always need their own policy to allow too (trust policy, key policy): give the simulator one
 * that names the caller's account root, which delegates the decision to the caller's identity policy (the one under
 * test) instead of allowing by itself.
 */
function deferringResourcePolicy(call: Call, principal: string): PolicyDocument | undefined {
  if (call.action.startsWith('sts:'))
    return {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${principal.split(':')[4]}:root` },
          Action: call.action,
          Resource: call.resource,
        },
      ],
    };
  if (call.action.startsWith('kms:'))
    return {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
      ],
    };
  return undefined;
}

async function decide(policy: PolicyDocument, call: Call, principal: string = PRINCIPAL): Promise<string> {
  const resourcePolicy = deferringResourcePolicy(call, principal);
  const r = await runSimulation(
    {
      request: {
        principal,
        action: call.action,
        resource: { resource: call.resource, accountId: call.resource.split(':')[4] || ACCOUNT },
        contextVariables: { 'aws:CurrentTime': '2026-11-24T10:00:00Z', ...(call.context ?? {}) },
      },
      identityPolicies: [{ name: 'handler', policy }],
      ...(resourcePolicy ? { resourcePolicy } : {}),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
  return r.overallResult;
}

const targetRole = `arn:aws:iam::${ACCOUNT}:role/timebox/timebox-prod-logs`;
const spokeTargetRole = `arn:aws:iam::${SPOKE}:role/timebox/timebox-spoke-logs`;
const spokeRevoker = `arn:aws:iam::${SPOKE}:role/timebox/timebox-revoker`;
const withBoundary = { 'iam:PermissionsBoundary': ctx.boundaryArn };

/** Calls every handler makes through GrantService. */
const grantServiceCalls: Call[] = [
  { action: 'dynamodb:PutItem', resource: ctx.eventsTableArn },
  { action: 'dynamodb:Query', resource: ctx.eventsTableArn },
  { action: 'dynamodb:Query', resource: `${ctx.eventsTableArn}/index/byTime` },
  { action: 'dynamodb:UpdateItem', resource: ctx.grantsTableArn },
  { action: 'dynamodb:DeleteItem', resource: ctx.grantsTableArn },
  { action: 'dynamodb:BatchGetItem', resource: ctx.grantsTableArn },
  { action: 'dynamodb:GetItem', resource: ctx.grantsTableArn },
  { action: 'dynamodb:Query', resource: `${ctx.grantsTableArn}/index/byStatus` },
  { action: 'events:PutEvents', resource: ctx.eventBusArn },
  { action: 'scheduler:CreateSchedule', resource: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/timebox/tb-1` },
  { action: 'scheduler:DeleteSchedule', resource: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/timebox/tb-1` },
  {
    action: 'iam:PassRole',
    resource: ctx.schedulerRoleArn,
    context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
  },
  { action: 'iam:GetRolePolicy', resource: targetRole },
  { action: 'iam:PutRolePolicy', resource: targetRole, context: withBoundary },
  { action: 'logs:PutLogEvents', resource: `${LOG_GROUP}:log-stream:2026/11/24/abc` },
];

/** Calls no broker role may make, whatever its handler. */
const neverAllowed: Call[] = [
  { action: 'dynamodb:UpdateItem', resource: ctx.eventsTableArn },
  { action: 'dynamodb:DeleteItem', resource: ctx.eventsTableArn },
  { action: 'dynamodb:BatchWriteItem', resource: ctx.eventsTableArn },
  { action: 'dynamodb:DeleteTable', resource: ctx.eventsTableArn },
  { action: 'dynamodb:Scan', resource: ctx.eventsTableArn },
  { action: 'dynamodb:BatchGetItem', resource: ctx.eventsTableArn },
  { action: 'dynamodb:Scan', resource: ctx.grantsTableArn },
  { action: 'iam:PutRolePolicy', resource: targetRole },
  { action: 'iam:PutRolePolicy', resource: `arn:aws:iam::${ACCOUNT}:role/admin`, context: withBoundary },
  { action: 'iam:AttachRolePolicy', resource: targetRole },
  { action: 'iam:UpdateAssumeRolePolicy', resource: targetRole },
  {
    action: 'iam:PassRole',
    resource: ctx.schedulerRoleArn,
    context: { 'iam:PassedToService': 'lambda.amazonaws.com' },
  },
  { action: 'iam:PassRole', resource: targetRole, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
  { action: 'sts:AssumeRole', resource: `arn:aws:iam::${ACCOUNT}:role/admin` },
  { action: 'sts:AssumeRole', resource: 'arn:aws:iam::999999999999:role/timebox/anything' },
  { action: 'scheduler:CreateSchedule', resource: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/x` },
  { action: 'kms:Decrypt', resource: ctx.signingKeyArn },
  { action: 'kms:ScheduleKeyDeletion', resource: ctx.signingKeyArn },
  { action: 's3:GetObject', resource: 'arn:aws:s3:::trail/AWSLogs/x' },
];

describe('Function: handlerPolicy', () => {
  it.each(Object.keys(HANDLER_CAPABILITIES))('%s: allows every call GrantService makes', async (handler) => {
    // Act
    const results = await Promise.all(grantServiceCalls.map((c) => decide(policyOf(handler), c)));
    // Assess
    expect(results.map((r, i) => `${grantServiceCalls[i]?.action} ${r}`)).toEqual(
      grantServiceCalls.map((c) => `${c.action} Allowed`),
    );
  });

  it.each(Object.keys(HANDLER_CAPABILITIES))('%s: refuses everything outside its job', async (handler) => {
    const results = await Promise.all(neverAllowed.map((c) => decide(policyOf(handler), c)));
    expect(results.filter((r) => r === 'Allowed')).toEqual([]);
  });

  it('api: vends target credentials with a source identity and only the grant tag, in the hub and in spokes', async () => {
    const api = policyOf('api');
    for (const role of [targetRole, spokeTargetRole]) {
      expect(await decide(api, { action: 'sts:AssumeRole', resource: role })).toBe('Allowed');
      expect(await decide(api, { action: 'sts:SetSourceIdentity', resource: role })).toBe('Allowed');
      expect(
        await decide(api, {
          action: 'sts:TagSession',
          resource: role,
          context: { 'aws:TagKeys': ['timebox-grant'], 'aws:RequestTag/timebox-grant': 'tb-1' },
        }),
      ).toBe('Allowed');
    }
    expect(
      await decide(api, { action: 'sts:TagSession', resource: targetRole, context: { 'aws:TagKeys': ['admin'] } }),
    ).not.toBe('Allowed');
  });

  it('api: signs only ES256 digests with its key', async () => {
    const api = policyOf('api');
    const sign = (algorithm: string, type: string) =>
      decide(api, {
        action: 'kms:Sign',
        resource: ctx.signingKeyArn,
        context: { 'kms:SigningAlgorithm': algorithm, 'kms:MessageType': type },
      });
    expect(await sign('ECDSA_SHA_256', 'DIGEST')).toBe('Allowed');
    expect(await sign('ECDSA_SHA_256', 'RAW')).not.toBe('Allowed');
    expect(await sign('RSASSA_PSS_SHA_256', 'DIGEST')).not.toBe('Allowed');
    expect(await decide(api, { action: 'kms:GetPublicKey', resource: ctx.signingKeyArn })).toBe('Allowed');
  });

  it('revoke and sweeper: reach spokes only through the revoker role, never a target role', async () => {
    for (const handler of ['revoke', 'sweeper']) {
      const p = policyOf(handler);
      expect(await decide(p, { action: 'sts:AssumeRole', resource: spokeRevoker })).toBe('Allowed');
      expect(await decide(p, { action: 'sts:AssumeRole', resource: spokeTargetRole })).not.toBe('Allowed');
      expect(await decide(p, { action: 'sts:AssumeRole', resource: targetRole })).not.toBe('Allowed');
      expect(await decide(p, { action: 'kms:Sign', resource: ctx.signingKeyArn })).not.toBe('Allowed');
    }
  });

  it('only the sweeper deletes revocation policies, and only on boundary-capped roles', async () => {
    const del = (handler: string, context?: Record<string, string>) =>
      decide(policyOf(handler), {
        action: 'iam:DeleteRolePolicy',
        resource: targetRole,
        ...(context ? { context } : {}),
      });
    expect(await del('sweeper', withBoundary)).toBe('Allowed');
    expect(await del('sweeper')).not.toBe('Allowed');
    expect(await del('api', withBoundary)).not.toBe('Allowed');
    expect(await del('revoke', withBoundary)).not.toBe('Allowed');
  });

  it('only the revoke function may use the dead-letter queue', async () => {
    const send = (h: string) => decide(policyOf(h), { action: 'sqs:SendMessage', resource: ctx.deadLetterQueueArn });
    expect(await send('revoke')).toBe('Allowed');
    expect(await send('api')).not.toBe('Allowed');
    expect(await send('sweeper')).not.toBe('Allowed');
  });

  it('omits the revoker statement when there are no spoke accounts', () => {
    const p = handlerPolicy('revoke', contextDummy({ spokeAccounts: [] }), LOG_GROUP);
    expect(p.Statement.map((s) => s.Sid)).not.toContain('AssumeSpokeRevoker');
    expect(JSON.stringify(p)).not.toContain('sts:AssumeRole');
  });

  it('refuses a handler with no declared capabilities', () => {
    expect(() => handlerPolicy('notifier', ctx, LOG_GROUP)).toThrow(
      /no capabilities are declared for handler "notifier"/,
    );
  });

  it('never allows every action on every resource', () => {
    for (const h of Object.keys(HANDLER_CAPABILITIES)) expect(wildcardAllows(policyOf(h))).toEqual([]);
    const all = Object.values(HANDLER_CAPABILITIES).flat() as Capability[];
    expect(wildcardAllows(handlerPolicy('x', ctx, LOG_GROUP, [...new Set(all)]))).toEqual([]);
  });
});

describe('Function: lambdaTrustPolicy', () => {
  it('trusts only the Lambda service', () => {
    expect(lambdaTrustPolicy().Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
  });
});

describe('Function: schedulerRolePolicy', () => {
  it('invokes only the revoke function and sends only to the dead-letter queue', async () => {
    const fn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:timebox-prod-revoke`;
    const p = schedulerRolePolicy({ revokeFunctionArn: fn, deadLetterQueueArn: ctx.deadLetterQueueArn });
    expect(await decide(p, { action: 'lambda:InvokeFunction', resource: fn })).toBe('Allowed');
    expect(
      await decide(p, {
        action: 'lambda:InvokeFunction',
        resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:timebox-prod-api`,
      }),
    ).not.toBe('Allowed');
    expect(await decide(p, { action: 'sqs:SendMessage', resource: ctx.deadLetterQueueArn })).toBe('Allowed');
    expect(await decide(p, { action: 'sqs:SendMessage', resource: `arn:aws:sqs:${REGION}:${ACCOUNT}:other` })).not.toBe(
      'Allowed',
    );
  });
});

describe('Function: signingKeyPolicy', () => {
  const apiRoleArn = `arn:aws:iam::${ACCOUNT}:role/timebox-prod-api`;
  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/sign`;
  const p = signingKeyPolicy({ partition: 'aws', account: ACCOUNT, apiRoleArn });

  /** The key policy alone (no identity policy): a key policy naming the role grants by itself. */
  async function byKeyPolicy(action: string, context: Record<string, string> = {}): Promise<string> {
    const r = await runSimulation(
      {
        request: {
          principal: PRINCIPAL,
          action,
          resource: { resource: keyArn, accountId: ACCOUNT },
          contextVariables: { 'aws:CurrentTime': '2026-11-24T10:00:00Z', ...context },
        },
        identityPolicies: [],
        resourcePolicy: p,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
    return r.overallResult;
  }

  it('lets the account administer the key and the api role only sign ES256 digests and read the public key', () => {
    expect(p.Statement).toEqual([
      {
        Sid: 'AccountAdministers',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'ApiSigns',
        Effect: 'Allow',
        Principal: { AWS: apiRoleArn },
        Action: 'kms:Sign',
        Resource: '*',
        Condition: { StringEquals: { 'kms:MessageType': 'DIGEST', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } },
      },
      {
        Sid: 'ApiReadsPublicKey',
        Effect: 'Allow',
        Principal: { AWS: apiRoleArn },
        Action: 'kms:GetPublicKey',
        Resource: '*',
      },
    ]);
  });

  /** The request the token signer (adapters/aws/kms.ts) sends to KMS, as KMS condition keys. */
  async function signerRequest(): Promise<Record<string, string>> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const client = new KMSClient({ region: REGION, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const kms = mockClient(client);
    kms.on(GetPublicKeyCommand).resolves({
      KeyId: keyArn,
      KeySpec: 'ECC_NIST_P256',
      PublicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    });
    kms.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
      KeyId: keyArn,
      Signature: signDigest(privateKey, input.Message),
      SigningAlgorithm: 'ECDSA_SHA_256',
    }));
    await new KmsTokenSigner(client, keyArn).sign({ sub: 'alice@corp.com' });
    const input = kms.commandCalls(SignCommand)[0]?.args[0].input;
    return { 'kms:MessageType': String(input?.MessageType), 'kms:SigningAlgorithm': String(input?.SigningAlgorithm) };
  }

  it('signs with the message type and algorithm the signer sends and nothing else', async () => {
    const signer = await signerRequest();
    expect(await byKeyPolicy('kms:Sign', signer)).toBe('Allowed');
    // A raw message would let a caller have KMS hash arbitrary input; another algorithm is not ES256.
    expect(await byKeyPolicy('kms:Sign', { ...signer, 'kms:MessageType': 'RAW' })).not.toBe('Allowed');
    expect(await byKeyPolicy('kms:Sign', { ...signer, 'kms:SigningAlgorithm': 'ECDSA_SHA_384' })).not.toBe('Allowed');
    expect(await byKeyPolicy('kms:Sign')).not.toBe('Allowed');
    expect(await byKeyPolicy('kms:GetPublicKey')).toBe('Allowed');
    expect(await byKeyPolicy('kms:Decrypt')).not.toBe('Allowed');
  });
});

describe('Function: trailKeyPolicy and trailBucketPolicy', () => {
  const trailArn = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/timebox-prod`;
  const bucketArn = 'arn:aws:s3:::trail-bucket';

  it('lets CloudTrail use the key only for this trail', () => {
    const p = trailKeyPolicy({ partition: 'aws', region: REGION, account: ACCOUNT, trailArn });
    const ct = p.Statement.filter((s) => JSON.stringify(s.Principal).includes('cloudtrail'));
    expect(ct).toHaveLength(2);
    for (const s of ct) expect(s.Condition?.StringEquals).toEqual({ 'aws:SourceArn': trailArn });
  });

  it('is TLS-only and lets CloudTrail write only its own prefix, pinned to the trail', () => {
    const p = trailBucketPolicy({ bucketArn, trailArn, account: ACCOUNT });
    expect(p.Statement[0]).toEqual({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [bucketArn, `${bucketArn}/*`],
      Condition: { Bool: { 'aws:SecureTransport': false } },
    });
    const write = p.Statement.find((s) => s.Sid === 'CloudTrailWrite');
    expect(write?.Resource).toBe(`${bucketArn}/AWSLogs/${ACCOUNT}/*`);
    expect(write?.Condition?.StringEquals).toEqual({
      's3:x-amz-acl': 'bucket-owner-full-control',
      'aws:SourceArn': trailArn,
    });
  });
});

describe('Function: apiResourcePolicy', () => {
  const executeApiArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:api123`;
  const PINNED = `arn:aws:iam::${ACCOUNT}:role/federated/Engineers`;
  const identity = IdentityConfigSchema.parse({
    accounts: [ACCOUNT, SPOKE],
    roles: [
      { pattern: 'AWSReservedSSO_*', mfa: true },
      { roleArn: PINNED, sessionNameFrom: 'saml:sub', mfa: false },
    ],
  });
  const TRUSTED = trustedPrincipalArns(identity, 'aws');
  const policy = apiResourcePolicy({
    executeApiArn,
    stage: 'live',
    allowedAccounts: [ACCOUNT, SPOKE],
    trustedPrincipalArns: TRUSTED,
  });

  /**
   * One call to the API as API Gateway evaluates it: the resource policy, and the caller's identity policy, which
   * here allows execute-api:Invoke on everything (an administrator's, say). `roleArn` is the caller's role with its
   * path (aws:PrincipalArn); the session ARN has none. Unsigned calls carry no principal keys at all.
   */
  async function invoke(call: { roleArn?: string; session?: string; method: string; path: string }): Promise<string> {
    const account = call.roleArn?.split(':')[4] ?? ACCOUNT;
    const roleName = call.roleArn?.split('/').pop();
    const r = await runSimulation(
      {
        request: {
          principal: call.roleArn
            ? `arn:aws:sts::${account}:assumed-role/${roleName}/${call.session}`
            : anonymousPrincipal,
          action: 'execute-api:Invoke',
          resource: { resource: `${executeApiArn}/live/${call.method}${call.path}`, accountId: ACCOUNT },
          contextVariables: {
            'aws:CurrentTime': '2026-11-24T10:00:00Z',
            ...(call.roleArn ? { 'aws:PrincipalArn': call.roleArn, 'aws:PrincipalAccount': account } : {}),
          },
        },
        identityPolicies: call.roleArn
          ? [
              {
                name: 'admin',
                policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
              },
            ]
          : [],
        resourcePolicy: policy,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
    return r.overallResult;
  }

  const SSO_ROLE = 'AWSReservedSSO_Developers_0123456789abcdef';
  const request = { method: 'POST', path: '/v1/requests', session: 'alice@corp.com' };

  it('admits Identity Center roles, under their reserved path with or without a region segment', async () => {
    for (const path of ['aws-reserved/sso.amazonaws.com', 'aws-reserved/sso.amazonaws.com/eu-west-1'])
      for (const account of [ACCOUNT, SPOKE])
        expect(await invoke({ ...request, roleArn: `arn:aws:iam::${account}:role/${path}/${SSO_ROLE}` })).toBe(
          'Allowed',
        );
  });

  it('refuses a role named like an Identity Center role anywhere else: the session name would be the caller’s', async () => {
    // Anyone who may create and assume a role in an allowed account could otherwise be alice@corp.com.
    for (const path of ['', 'aws-reserved/', 'team/aws-reserved/sso.amazonaws.com/', 'aws-reserved/sso.amazonaws.co/'])
      expect(await invoke({ ...request, roleArn: `arn:aws:iam::${ACCOUNT}:role/${path}${SSO_ROLE}` })).toBe(
        'ExplicitlyDenied',
      );
  });

  it('admits a named role with a pinned session name only by its exact ARN', async () => {
    expect(await invoke({ ...request, roleArn: PINNED })).toBe('Allowed');
    expect(await invoke({ ...request, roleArn: `arn:aws:iam::${ACCOUNT}:role/Engineers` })).toBe('ExplicitlyDenied');
    expect(await invoke({ ...request, roleArn: `arn:aws:iam::${SPOKE}:role/federated/Engineers` })).toBe(
      'ExplicitlyDenied',
    );
    expect(await invoke({ ...request, roleArn: `${PINNED}-admin` })).toBe('ExplicitlyDenied');
  });

  it('keeps the public documents open to unsigned callers and the rest closed to them', async () => {
    for (const path of PUBLIC_PATHS) expect(await invoke({ method: 'GET', path })).toBe('Allowed');
    expect(await invoke({ method: 'POST', path: '/v1/requests' })).not.toBe('Allowed');
  });

  it('opens to unsigned callers exactly the public routes of the API route table', () => {
    const p = apiResourcePolicy({
      executeApiArn,
      stage: 'live',
      allowedAccounts: [ACCOUNT],
      trustedPrincipalArns: TRUSTED,
    });
    const table = ROUTE_IDS.filter((id) => ROUTES[id].access === 'public').map(
      (id) => `${executeApiArn}/live/${ROUTES[id].method}${ROUTES[id].path}`,
    );
    expect(table.length).toBeGreaterThan(0);
    expect(p.Statement.find((s) => s.Sid === 'PublicDocuments')?.Resource).toEqual(table);
  });

  it('opens only the public GETs to anyone and the rest to the allowed accounts and organization', () => {
    // Act
    const p = apiResourcePolicy({
      executeApiArn,
      stage: 'live',
      allowedAccounts: [ACCOUNT, SPOKE],
      orgId: 'o-abcd123456',
      trustedPrincipalArns: TRUSTED,
    });
    // Assess
    const open = p.Statement.find((s) => s.Sid === 'PublicDocuments');
    expect(open?.Resource).toEqual(PUBLIC_PATHS.map((path) => `${executeApiArn}/live/GET${path}`));
    expect(open?.Condition).toBeUndefined();
    expect(p.Statement.find((s) => s.Sid === 'AllowedAccounts')?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalAccount': [ACCOUNT, SPOKE] },
    });
    expect(p.Statement.find((s) => s.Sid === 'AllowedOrganization')?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': 'o-abcd123456' },
    });
    expect(p.Statement.find((s) => s.Sid === 'DenyUntrustedPrincipals')).toEqual({
      Sid: 'DenyUntrustedPrincipals',
      Effect: 'Deny',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: `${executeApiArn}/*`,
      Condition: { Null: { 'aws:PrincipalArn': 'false' }, StringNotLike: { 'aws:PrincipalArn': [...TRUSTED].sort() } },
    });
    expect(p.Statement.find((s) => s.Sid === 'DenyOtherCallers')).toEqual({
      Sid: 'DenyOtherCallers',
      Effect: 'Deny',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: `${executeApiArn}/*`,
      Condition: {
        Null: { 'aws:PrincipalAccount': 'false' },
        StringNotEquals: { 'aws:PrincipalAccount': [ACCOUNT, SPOKE], 'aws:PrincipalOrgID': 'o-abcd123456' },
      },
    });
  });

  it('omits the organization statements when no organization is configured', () => {
    const p = apiResourcePolicy({
      executeApiArn,
      stage: 'live',
      allowedAccounts: [ACCOUNT],
      trustedPrincipalArns: TRUSTED,
    });
    expect(p.Statement.map((s) => s.Sid)).toEqual([
      'PublicDocuments',
      'AllowedAccounts',
      'DenyOtherCallers',
      'DenyUntrustedPrincipals',
    ]);
    expect(JSON.stringify(p)).not.toContain('PrincipalOrgID');
  });

  it('refuses to build a policy that admits nobody', () => {
    expect(() =>
      apiResourcePolicy({ executeApiArn, stage: 'live', allowedAccounts: [], trustedPrincipalArns: TRUSTED }),
    ).toThrow(/at least one account/);
    expect(() =>
      apiResourcePolicy({ executeApiArn, stage: 'live', allowedAccounts: [ACCOUNT], trustedPrincipalArns: [] }),
    ).toThrow(/at least one caller/);
  });
});

describe('Function: revokerRolePolicy and revokerTrustPolicy', () => {
  const boundaryArn = `arn:aws:iam::${SPOKE}:policy/timebox/timebox-spoke-boundary`;
  const p = revokerRolePolicy({ partition: 'aws', account: SPOKE, boundaryArn });
  // IAM has no resource policies: the revoker acts in its own account.
  const revoker = `arn:aws:sts::${SPOKE}:assumed-role/timebox-revoker/timebox-revoker`;
  const decideAsRevoker = (call: Call) => decide(p, call, revoker);

  it('reads, writes and deletes inline policies on boundary-capped Timebox roles only', async () => {
    const boundary = { 'iam:PermissionsBoundary': boundaryArn };
    expect(await decideAsRevoker({ action: 'iam:PutRolePolicy', resource: spokeTargetRole, context: boundary })).toBe(
      'Allowed',
    );
    expect(
      await decideAsRevoker({ action: 'iam:DeleteRolePolicy', resource: spokeTargetRole, context: boundary }),
    ).toBe('Allowed');
    expect(await decideAsRevoker({ action: 'iam:ListRolePolicies', resource: spokeTargetRole })).toBe('Allowed');
    expect(await decideAsRevoker({ action: 'iam:PutRolePolicy', resource: spokeTargetRole })).not.toBe('Allowed');
    expect(
      await decideAsRevoker({
        action: 'iam:PutRolePolicy',
        resource: `arn:aws:iam::${SPOKE}:role/admin`,
        context: boundary,
      }),
    ).not.toBe('Allowed');
    expect(await decideAsRevoker({ action: 'iam:UpdateAssumeRolePolicy', resource: spokeTargetRole })).not.toBe(
      'Allowed',
    );
  });

  it('lists exactly the four IAM actions', () => {
    expect(p.Statement.flatMap((s) => s.Action).sort()).toEqual([
      'iam:DeleteRolePolicy',
      'iam:GetRolePolicy',
      'iam:ListRolePolicies',
      'iam:PutRolePolicy',
    ]);
  });

  it('trusts only the hub broker roles, and refuses an empty list', () => {
    const hub = [`arn:aws:iam::${ACCOUNT}:role/timebox-prod-sweeper`, `arn:aws:iam::${ACCOUNT}:role/timebox-prod-api`];
    expect(revokerTrustPolicy(hub).Statement).toEqual([
      { Effect: 'Allow', Principal: { AWS: [...hub].sort() }, Action: 'sts:AssumeRole' },
    ]);
    expect(() => revokerTrustPolicy([])).toThrow(/at least one/);
  });
});

describe('Function: targetDataEvents', () => {
  const target = (resources: string[]): AwsRoleTarget => ({
    kind: 'aws-role',
    name: 't',
    account: '111122223333',
    role: 'r',
    partition: 'aws',
    actions: ['s3:GetObject'],
    resources,
  });

  it('turns resource patterns into prefixes up to the first wildcard, buckets covering their objects', () => {
    expect(
      targetDataEvents([
        target(['arn:aws:s3:::logs', 'arn:aws:s3:::logs/team-a/*', 'arn:aws:s3:::data-?x/in/*']),
        {
          ...target(['arn:aws:lambda:eu-west-1:111122223333:function:fn', 'arn:aws:sns:eu-west-1:111122223333:topic']),
        },
      ]),
    ).toEqual([
      {
        name: 'Timebox targets: AWS::S3::Object',
        resourceType: 'AWS::S3::Object',
        arnPrefixes: ['arn:aws:s3:::data-', 'arn:aws:s3:::logs/'],
      },
      {
        name: 'Timebox targets: AWS::Lambda::Function',
        resourceType: 'AWS::Lambda::Function',
        arnPrefixes: ['arn:aws:lambda:eu-west-1:111122223333:function:fn'],
      },
    ]);
  });

  it('refuses more prefixes than CloudTrail selectors can hold', () => {
    const many = Array.from({ length: MAX_DATA_EVENT_PREFIXES + 1 }, (_, i) => `arn:aws:s3:::bucket-${i}/*`);
    expect(() => targetDataEvents([target(many)])).toThrow(/CloudTrail data event selectors hold at most/);
  });
});

describe('Function: sessionNamePinningProblems', () => {
  const SAML = `arn:aws:iam::${ACCOUNT}:saml-provider/Corp`;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM policy variables, literally
  const [SUB, USERNAME] = ['${saml:sub}', '${aws:username}'];
  const samlStatement = {
    Effect: 'Allow',
    Principal: { Federated: SAML },
    Action: ['sts:AssumeRoleWithSAML', 'sts:TagSession'],
    Condition: { StringEquals: { 'SAML:aud': 'https://signin.aws.amazon.com/saml', 'sts:RoleSessionName': SUB } },
  };
  const trust = (...Statement: unknown[]) => ({ Version: '2012-10-17', Statement });

  it('accepts a SAML trust policy that pins the session name to the subject, and IAM users to their name', () => {
    expect(sessionNamePinningProblems(trust(samlStatement), 'saml:sub')).toEqual([]);
    const users = {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:RoleSessionName': [USERNAME] } },
    };
    expect(sessionNamePinningProblems(trust(users), 'aws:username')).toEqual([]);
    // A Deny never lets anyone in, and a statement that does not assume is not an identity source.
    const deny = { Effect: 'Deny', Principal: '*', Action: 'sts:AssumeRole' };
    const tag = { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:TagSession' };
    expect(sessionNamePinningProblems(trust(samlStatement, deny, tag), 'saml:sub')).toEqual([]);
  });

  it.each([
    [
      'an unpinned AWS principal beside the SAML one',
      [
        samlStatement,
        { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' },
      ],
    ],
    ['sts:* without the condition', [{ ...samlStatement, Action: 'sts:*', Condition: undefined }]],
    ['a wildcard assume action', [{ ...samlStatement, Action: 'STS:assumerole*', Condition: undefined }]],
    [
      'StringLike, which takes wildcards',
      [{ ...samlStatement, Condition: { StringLike: { 'sts:RoleSessionName': SUB } } }],
    ],
    ['the other variable', [{ ...samlStatement, Condition: { StringEquals: { 'sts:RoleSessionName': USERNAME } } }]],
    [
      'a list that also admits a fixed name',
      [{ ...samlStatement, Condition: { StringEquals: { 'sts:RoleSessionName': [SUB, 'alice@corp.com'] } } }],
    ],
    ['NotAction', [{ Effect: 'Allow', Principal: '*', NotAction: 'iam:*' }]],
    ['no statement at all', []],
  ])('refuses %s', (_what, statements) => {
    expect(sessionNamePinningProblems(trust(...statements), 'saml:sub')).not.toEqual([]);
  });

  it('names the statement at fault', () => {
    const open = {
      Sid: 'CiAssumes',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/ci` },
      Action: 'sts:AssumeRole',
    };
    expect(sessionNamePinningProblems(trust(samlStatement, open), 'saml:sub')).toEqual([
      expect.stringContaining('statement CiAssumes'),
    ]);
    expect(sessionNamePinningProblems(null, 'saml:sub')).toEqual(['no statement lets anyone assume the role']);
  });
});
