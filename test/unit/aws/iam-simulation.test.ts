import {
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsRoleProvider } from '../../../adapters/aws/sts';
import type { IamPolicyDocument } from '../../../core/builders/aws';
import { permissionBoundary, revocationPolicy, targetRolePolicy } from '../../../core/builders/aws-iam';
import type { ActiveGrant } from '../../../core/ports';
import { activeGrantDummy, awsTargetDummy, clients, NOW, revokedGrantDummy } from './fixtures';

/**
 * Proof, with an IAM policy simulator, that the documents this code produces compose as intended: the session
 * policy sent to STS, the target role's policy, the permission boundary, and the `timebox-revoked` policy written
 * on early revocation. The simulator does not fill in aws:CurrentTime, so every request passes it.
 */

const ACCOUNT = '111122223333';
const EVENTS_TABLE = `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/timebox-events`;
const target = awsTargetDummy({
  actions: ['s3:GetObject', 's3:ListBucket', 'dynamodb:GetItem'],
  resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*', `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/*`],
});
/** The broker's functions, as the stack protects them (stacks/program.ts). */
const BROKER_FUNCTIONS = `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:timebox-prod-*`;
const boundary = permissionBoundary({ targets: [target], protectedArns: [EVENTS_TABLE, BROKER_FUNCTIONS] });

/** What the provider actually sends to STS (Policy) and writes to IAM (PutRolePolicy), captured through SDK mocks. */
async function produced(grant: ActiveGrant, revoked?: ActiveGrant) {
  const { sts, iam, log } = clients();
  const stsMock = mockClient(sts);
  stsMock.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIA',
      SecretAccessKey: 's',
      SessionToken: 't',
      Expiration: new Date(grant.expiresAt),
    },
  });
  const iamMock = mockClient(iam);
  let stored: string | undefined;
  iamMock.on(GetRolePolicyCommand).callsFake(() => {
    if (stored === undefined) throw new NoSuchEntityException({ message: 'none', $metadata: {} });
    return { PolicyDocument: encodeURIComponent(stored), PolicyName: 'timebox-revoked', RoleName: target.role };
  });
  iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: [], IsTruncated: false });
  iamMock.on(PutRolePolicyCommand).callsFake((input: { PolicyDocument: string }) => {
    stored = input.PolicyDocument;
    return {};
  });
  const provider = new AwsRoleProvider({
    sts,
    iamFor: async () => iam,
    targets: () => [target],
    log,
    revocation: { sleep: async () => {} },
  });
  await provider.credentials(grant, 'credentials', { now: NOW });
  const session = JSON.parse(
    stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input.Policy as string,
  ) as IamPolicyDocument;
  if (revoked) await provider.revoke(revokedGrantDummy(revoked), 'revoked', { now: NOW });
  return { session, revokedPolicy: stored ? (JSON.parse(stored) as IamPolicyDocument) : undefined };
}

interface Call {
  action: string;
  resource: string;
  at: string;
  /** The session's `timebox-grant` tag. */
  grant: string;
  issuedAt?: string;
}

async function decide(
  call: Call,
  docs: { session: IamPolicyDocument; role?: IamPolicyDocument; revokedPolicy?: IamPolicyDocument },
): Promise<string> {
  const r = await runSimulation(
    {
      request: {
        principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${target.role}/${call.grant}`,
        action: call.action,
        resource: { resource: call.resource, accountId: ACCOUNT },
        contextVariables: {
          'aws:CurrentTime': call.at,
          'aws:PrincipalTag/timebox-grant': call.grant,
          'aws:TokenIssueTime': call.issuedAt ?? '2026-11-24T10:00:00Z',
        },
      },
      identityPolicies: [
        { name: 'role', policy: docs.role ?? targetRolePolicy(target) },
        ...(docs.revokedPolicy ? [{ name: 'timebox-revoked', policy: docs.revokedPolicy }] : []),
      ],
      sessionPolicy: docs.session,
      permissionBoundaryPolicies: [{ name: 'timebox-boundary', policy: boundary }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
  return r.overallResult;
}

let grant: ActiveGrant;
let other: ActiveGrant;
let docs: Awaited<ReturnType<typeof produced>>;
beforeAll(async () => {
  grant = await activeGrantDummy(); // 10:00-10:30
  other = await activeGrantDummy();
  docs = await produced(grant);
});

const read = (at: string, g = () => grant.id): Call => ({
  action: 's3:GetObject',
  resource: 'arn:aws:s3:::prod-logs/2026/11/24/app.log',
  at,
  grant: g(),
});

describe('IAM simulation of the produced documents', () => {
  it('allows an in-scope action before expiry', async () => {
    expect(await decide(read('2026-11-24T10:29:59Z'), docs)).toBe('Allowed');
    expect(
      await decide(
        { ...read('2026-11-24T10:05:00Z'), action: 's3:ListBucket', resource: 'arn:aws:s3:::prod-logs' },
        docs,
      ),
    ).toBe('Allowed');
  });

  it('denies at and after expiry', async () => {
    expect(await decide(read('2026-11-24T10:30:00Z'), docs)).not.toBe('Allowed');
    expect(await decide(read('2026-11-24T11:00:00Z'), docs)).not.toBe('Allowed');
  });

  it('denies outside the scope: another action, another resource', async () => {
    expect(await decide({ ...read('2026-11-24T10:05:00Z'), action: 's3:PutObject' }, docs)).not.toBe('Allowed');
    expect(await decide({ ...read('2026-11-24T10:05:00Z'), resource: 'arn:aws:s3:::other-bucket/x' }, docs)).not.toBe(
      'Allowed',
    );
  });

  it('denies beyond the boundary even when role and session policies allow more', async () => {
    // A role someone widened by hand, and a session policy as wide as it gets: the boundary still caps them.
    const wide: IamPolicyDocument = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    };
    const widened = { session: wide, role: wide };
    expect(await decide({ ...read('2026-11-24T10:05:00Z'), action: 's3:DeleteObject' }, widened)).not.toBe('Allowed');
    // The broker's own table is denied outright, although the target's table pattern covers it.
    expect(
      await decide({ ...read('2026-11-24T10:05:00Z'), action: 'dynamodb:GetItem', resource: EVENTS_TABLE }, widened),
    ).toBe('ExplicitlyDenied');
    expect(
      await decide(
        {
          ...read('2026-11-24T10:05:00Z'),
          action: 'dynamodb:GetItem',
          resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/app`,
        },
        widened,
      ),
    ).toBe('Allowed');
    // And no session can remove its own revocation policy.
    expect(
      await decide(
        {
          ...read('2026-11-24T10:05:00Z'),
          action: 'iam:DeleteRolePolicy',
          resource: `arn:aws:iam::${ACCOUNT}:role/timebox/${target.role}`,
        },
        widened,
      ),
    ).toBe('ExplicitlyDenied');
  });

  it('denies invoking a broker function, even through a qualified ARN, and chaining into any other role', async () => {
    // A target that could invoke every function of the account, and a session as wide as it gets.
    const wide: IamPolicyDocument = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    };
    const lambdaTarget = { session: wide, role: wide };
    const at = '2026-11-24T10:05:00Z';
    const call = (action: string, resource: string) => decide({ ...read(at), action, resource }, lambdaTarget);
    const fn = `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:timebox-prod-api`;
    for (const arn of [fn, `${fn}:$LATEST`, `${fn}:live`])
      expect(await call('lambda:InvokeFunction', arn)).toBe('ExplicitlyDenied');
    for (const action of ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'])
      expect(await call(action, `arn:aws:iam::${ACCOUNT}:role/deploy`)).toBe('ExplicitlyDenied');
  });

  it('denies the revoked grant after early revocation while another grant on the same role still works', async () => {
    const after = await produced(grant, grant);
    expect(after.revokedPolicy).toBeDefined();
    expect(await decide(read('2026-11-24T10:05:00Z'), after)).toBe('ExplicitlyDenied');
    expect(
      await decide(
        read('2026-11-24T10:05:00Z', () => other.id),
        after,
      ),
    ).toBe('Allowed');
  });

  it('the documented fallback cuts every session issued before the revocation, and only those', async () => {
    const fallback = { ...docs, revokedPolicy: revocationPolicy([], new Date('2026-11-24T10:05:00Z')) };
    const call = read('2026-11-24T10:06:00Z', () => other.id);
    expect(await decide({ ...call, issuedAt: '2026-11-24T10:04:00Z' }, fallback)).toBe('ExplicitlyDenied');
    expect(await decide({ ...call, issuedAt: '2026-11-24T10:05:30Z' }, fallback)).toBe('Allowed');
  });
});
