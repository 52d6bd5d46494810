import { IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
// The STS client the SDK's temporary-credentials provider makes (@aws-sdk/credential-providers loads this one).
import { AssumeRoleCommand, STSClient } from '@aws-sdk/nested-clients/sts';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { crossAccountIam, revokerRoleArn } from '../../../lambdas/aws-role';

const HUB = '111122223333';
const SPOKE = '444455556666';
const ROLE_ARN = 'arn:aws:iam::444455556666:role/timebox/timebox-revoker';
const T0 = Date.parse('2026-11-24T10:00:00Z');

const sts = mockClient(STSClient);

/** An AssumeRole answer whose keys are numbered, so a signed IAM request shows which credentials it used. */
const assumed = (n: number, expiration: string) => ({
  Credentials: {
    AccessKeyId: `ASIASPOKE${n}`,
    SecretAccessKey: `secret-${n}`,
    SessionToken: `token-${n}`,
    Expiration: new Date(expiration),
  },
});

const PUT_ROLE_POLICY_RESPONSE =
  '<PutRolePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">' +
  '<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PutRolePolicyResponse>';

/**
 * Real IAM clients (signing, credential memoization and all) whose HTTP handler answers every call with success
 * and records the access key and session token each request was signed with.
 */
function setup() {
  const signed: { key: string | undefined; token: string | undefined }[] = [];
  const made: { withCredentials: boolean }[] = [];
  const iamFor = crossAccountIam({
    hubAccount: HUB,
    partition: 'aws',
    iam: (credentials) => {
      made.push({ withCredentials: credentials !== undefined });
      return new IAMClient({
        region: 'us-east-1',
        maxAttempts: 1,
        ...(credentials ? { credentials } : { credentials: { accessKeyId: 'AKIAHUB', secretAccessKey: 'hub' } }),
        requestHandler: {
          handle: async (request: { headers: Record<string, string> }) => {
            signed.push({
              key: /Credential=([A-Z0-9]+)\//.exec(request.headers.authorization ?? '')?.[1],
              token: request.headers['x-amz-security-token'],
            });
            return {
              response: {
                statusCode: 200,
                headers: { 'content-type': 'text/xml' },
                body: new TextEncoder().encode(PUT_ROLE_POLICY_RESPONSE),
              },
            };
          },
        },
      });
    },
  });
  return { iamFor, signed, made };
}

const put = () =>
  new PutRolePolicyCommand({ RoleName: 'timebox-prod-logs', PolicyName: 'timebox-revocations', PolicyDocument: '{}' });

const assumeRoleInputs = () => sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);

beforeEach(() => {
  // Only Date is faked: the SDK decides whether its cached credentials are fresh by Date.now().
  jest.useFakeTimers({
    now: T0,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
});

afterEach(() => {
  jest.useRealTimers();
  sts.reset();
});

describe('Function: crossAccountIam', () => {
  it('names the revoker role of an account', () => {
    expect(revokerRoleArn('aws', SPOKE)).toBe(ROLE_ARN);
    expect(revokerRoleArn('aws-us-gov', SPOKE)).toBe('arn:aws-us-gov:iam::444455556666:role/timebox/timebox-revoker');
  });

  it('uses the function role in the hub account, without assuming anything', async () => {
    // Prepare
    const { iamFor, signed, made } = setup();
    // Act
    const a = await iamFor(HUB);
    await a.send(put());
    // Assess
    expect(await iamFor(HUB)).toBe(a);
    expect(made).toEqual([{ withCredentials: false }]);
    expect(signed).toEqual([{ key: 'AKIAHUB', token: undefined }]);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });

  it('assumes the revoker role once for calls within the credentials lifetime, concurrent ones included', async () => {
    // Prepare
    sts
      .on(AssumeRoleCommand)
      .resolvesOnce(assumed(1, '2026-11-24T11:00:00Z'))
      .resolvesOnce(assumed(2, '2026-11-24T12:00:00Z'));
    const { iamFor, signed, made } = setup();
    // Act
    const client = await iamFor(SPOKE);
    await Promise.all([client.send(put()), client.send(put())]);
    jest.setSystemTime(Date.parse('2026-11-24T10:54:00Z')); // 6 minutes left: still fresh
    await (await iamFor(SPOKE)).send(put());
    // Assess
    expect(await iamFor(SPOKE)).toBe(client);
    expect(made).toEqual([{ withCredentials: false }, { withCredentials: true }]);
    expect(assumeRoleInputs()).toEqual([
      { RoleArn: ROLE_ARN, RoleSessionName: 'timebox-revoker', DurationSeconds: 3600 },
    ]);
    expect(signed).toEqual(Array(3).fill({ key: 'ASIASPOKE1', token: 'token-1' }));
  });

  it('assumes the role again for a call within 5 minutes of the expiry, and signs with the new credentials', async () => {
    // Prepare
    sts
      .on(AssumeRoleCommand)
      .resolvesOnce(assumed(1, '2026-11-24T11:00:00Z'))
      .resolvesOnce(assumed(2, '2026-11-24T12:00:00Z'));
    const { iamFor, signed } = setup();
    const client = await iamFor(SPOKE);
    await client.send(put());
    // Act
    jest.setSystemTime(Date.parse('2026-11-24T10:56:00Z')); // 4 minutes left: inside the refresh window
    await client.send(put());
    await client.send(put());
    // Assess
    expect(assumeRoleInputs()).toHaveLength(2);
    expect(signed).toEqual([
      { key: 'ASIASPOKE1', token: 'token-1' },
      { key: 'ASIASPOKE2', token: 'token-2' },
      { key: 'ASIASPOKE2', token: 'token-2' },
    ]);
  });

  it('keeps one client and one set of credentials per account', async () => {
    // Prepare
    sts
      .on(AssumeRoleCommand)
      .callsFake((input: { RoleArn: string }) =>
        assumed(input.RoleArn.includes(SPOKE) ? 1 : 3, '2026-11-24T11:00:00Z'),
      );
    const { iamFor, signed } = setup();
    // Act
    const spoke = await iamFor(SPOKE);
    const other = await iamFor('777788889999');
    await spoke.send(put());
    await other.send(put());
    await spoke.send(put());
    // Assess
    expect(other).not.toBe(spoke);
    expect(assumeRoleInputs().map((i) => i?.RoleArn)).toEqual([
      ROLE_ARN,
      'arn:aws:iam::777788889999:role/timebox/timebox-revoker',
    ]);
    expect(signed.map((s) => s.key)).toEqual(['ASIASPOKE1', 'ASIASPOKE3', 'ASIASPOKE1']);
  });

  it('turns an STS refusal into AWS.ACCESS_DENIED naming the role, sends nothing to IAM, and tries again next call', async () => {
    // Prepare
    sts
      .on(AssumeRoleCommand)
      .rejectsOnce(Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied' }))
      .resolvesOnce(assumed(1, '2026-11-24T11:00:00Z'));
    const { iamFor, signed } = setup();
    const client = await iamFor(SPOKE);
    // Act
    const refused = client.send(put());
    // Assess
    await expect(refused).rejects.toMatchObject({
      code: 'AWS.ACCESS_DENIED',
      message: expect.stringContaining(`sts:AssumeRole on ${ROLE_ARN}`),
    });
    expect(signed).toEqual([]);
    // A refusal is not cached: once the trust policy is fixed, the next call succeeds.
    await client.send(put());
    expect(assumeRoleInputs()).toHaveLength(2);
    expect(signed).toEqual([{ key: 'ASIASPOKE1', token: 'token-1' }]);
  });
});
