import { AssumeRoleCommand, PackedPolicyTooLargeException, RegionDisabledException } from '@aws-sdk/client-sts';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsRoleProvider, sessionSeconds } from '../../../adapters/aws/sts';
import { sessionPolicyJson } from '../../../core/builders/aws';
import type { ActiveGrant } from '../../../core/ports';
import { activeGrantDummy, awsTargetDummy, clients, NOW, ROLE_ARN } from './fixtures';

const MIN = 60_000;

function stsCredentials(expiration: Date) {
  return {
    Credentials: {
      AccessKeyId: 'ASIAEXAMPLE',
      SecretAccessKey: 'secret-key',
      SessionToken: 'session-token',
      Expiration: expiration,
    },
    AssumedRoleUser: { Arn: `arn:aws:sts::111122223333:assumed-role/timebox-prod-logs/x`, AssumedRoleId: 'AROA:x' },
    PackedPolicySize: 12,
  };
}

/** A fetch double that records URLs and answers getSigninToken. */
function fakeFetch(answer: { status?: number; body?: unknown } = {}) {
  const urls: string[] = [];
  const fn = (async (url: string | URL | Request) => {
    urls.push(String(url));
    return new Response(JSON.stringify(answer.body ?? { SigninToken: 'TOKEN/+=abc' }), {
      status: answer.status ?? 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { fn, urls };
}

function setup(opts: { fetch?: typeof fetch; consoleDestination?: string } = {}) {
  const { sts, iam, log } = clients();
  const stsMock = mockClient(sts);
  const provider = new AwsRoleProvider({
    sts,
    iamFor: async () => iam,
    targets: () => [awsTargetDummy()],
    log,
    ...opts,
  });
  return { provider, stsMock, log };
}

let grant: ActiveGrant;
beforeEach(async () => {
  grant = await activeGrantDummy();
});

describe('Class: AwsRoleProvider', () => {
  describe('Method: credentials (credentials)', () => {
    it('assumes the target role with every field set from the grant', async () => {
      // Prepare
      const { provider, stsMock } = setup();
      stsMock.on(AssumeRoleCommand).resolves(stsCredentials(new Date(NOW.getTime() + 30 * MIN)));
      // Act
      await provider.credentials(grant, 'credentials', { now: NOW, sourceIp: '10.1.2.3', userAgent: 'aws-cli/2' });
      // Assess
      const calls = stsMock.commandCalls(AssumeRoleCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.args[0].input).toEqual({
        RoleArn: ROLE_ARN,
        RoleSessionName: grant.id,
        SourceIdentity: 'alice@corp.com',
        Tags: [{ Key: 'timebox-grant', Value: grant.id }],
        Policy: sessionPolicyJson(
          {
            actions: ['s3:GetObject', 's3:ListBucket'],
            resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
          },
          new Date('2026-11-24T10:30:00.000Z'),
        ),
        DurationSeconds: 1800,
      });
    });

    it('returns a credential_process document and non-secret audit details', async () => {
      const { provider, stsMock } = setup();
      const stsExpiry = new Date(NOW.getTime() + 30 * MIN);
      stsMock.on(AssumeRoleCommand).resolves(stsCredentials(stsExpiry));
      const cred = await provider.credentials(grant, 'credentials', {
        now: NOW,
        sourceIp: '10.1.2.3',
        userAgent: 'aws-cli/2',
      });
      expect(cred.secret).toEqual({
        Version: 1,
        AccessKeyId: 'ASIAEXAMPLE',
        SecretAccessKey: 'secret-key',
        SessionToken: 'session-token',
        Expiration: '2026-11-24T10:30:00.000Z',
      });
      expect(cred.audit).toEqual({
        accessKeyId: 'ASIAEXAMPLE',
        roleArn: ROLE_ARN,
        assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/timebox-prod-logs/x',
        sessionName: grant.id,
        sourceIdentity: 'alice@corp.com',
        durationSeconds: 1800,
        stsExpiration: '2026-11-24T10:30:00.000Z',
        packedPolicySize: 12,
        sourceIp: '10.1.2.3',
        userAgent: 'aws-cli/2',
      });
      expect(JSON.stringify(cred.audit)).not.toContain('secret-key');
      expect(JSON.stringify(cred.audit)).not.toContain('session-token');
    });

    it('clamps DurationSeconds to 900 at the end of a grant, and expires the credential with the grant', async () => {
      const { provider, stsMock } = setup();
      const now = new Date('2026-11-24T10:25:00.000Z'); // 5 minutes left
      stsMock.on(AssumeRoleCommand).resolves(stsCredentials(new Date(now.getTime() + 15 * MIN)));
      const cred = await provider.credentials(grant, 'credentials', { now });
      expect(stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input.DurationSeconds).toBe(900);
      expect(cred.expiresAt.toISOString()).toBe('2026-11-24T10:30:00.000Z');
      expect((cred.secret as { Expiration: string }).Expiration).toBe('2026-11-24T10:30:00.000Z');
    });

    it('clamps DurationSeconds to 3600 for a long grant, and keeps the STS expiry when it comes first', async () => {
      const long = await activeGrantDummy(60 * MIN);
      const { provider, stsMock } = setup();
      const stsExpiry = new Date(NOW.getTime() + 50 * MIN); // STS may hand out less than asked
      stsMock.on(AssumeRoleCommand).resolves(stsCredentials(stsExpiry));
      const cred = await provider.credentials({ ...long, expiresAt: '2026-11-24T12:00:00.000Z' }, 'credentials', {
        now: NOW,
      });
      expect(stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input.DurationSeconds).toBe(3600);
      expect(cred.expiresAt).toEqual(stsExpiry);
    });

    it('computes the session length from what is left of the grant', () => {
      expect(sessionSeconds(NOW, new Date(NOW.getTime() + 899_001))).toBe(900);
      expect(sessionSeconds(NOW, new Date(NOW.getTime() + 1_000_500))).toBe(1001);
      expect(sessionSeconds(NOW, new Date(NOW.getTime() + 3_600_001))).toBe(3600);
    });

    it.each([
      ['a', 'too short'],
      ['x'.repeat(65), 'too long'],
      ['alice smith', 'a space'],
      ['alice#corp', 'a #'],
    ])('refuses requester id %j (%s) as SourceIdentity, without calling STS', async (id) => {
      const { provider, stsMock } = setup();
      const bad = { ...grant, requester: { ...grant.requester, id } };
      await expect(provider.credentials(bad, 'credentials', { now: NOW })).rejects.toMatchObject({
        code: 'STS.BAD_SOURCE_IDENTITY',
        kind: 'invalid',
      });
      expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    });

    it('assumes only roles under the Timebox path', async () => {
      const { provider, stsMock } = setup();
      const bad = {
        ...grant,
        target: { ...grant.target, roleArn: 'arn:aws:iam::111122223333:role/Admin' },
      } as ActiveGrant;
      await expect(provider.credentials(bad, 'credentials', { now: NOW })).rejects.toMatchObject({
        code: 'STS.ROLE_NOT_MANAGED',
      });
      expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    });

    it('refuses token credentials and an already expired grant', async () => {
      const { provider } = setup();
      await expect(provider.credentials(grant, 'token', { now: NOW })).rejects.toMatchObject({
        code: 'CREDENTIALS.UNSUPPORTED_KIND',
      });
      await expect(
        provider.credentials(grant, 'credentials', { now: new Date('2026-11-24T10:30:00.000Z') }),
      ).rejects.toMatchObject({ code: 'GRANT.EXPIRED' });
    });

    it.each([
      [new RegionDisabledException({ message: 'off', $metadata: {} }), 'AWS.REGION_DISABLED', 'unavailable'],
      [new PackedPolicyTooLargeException({ message: 'big', $metadata: {} }), 'AWS.PACKED_POLICY_TOO_LARGE', 'invalid'],
      [
        Object.assign(new Error('no'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
        'AWS.ACCESS_DENIED',
        'unavailable',
      ],
      [
        Object.assign(new Error('slow'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }),
        'AWS.THROTTLED',
        'unavailable',
      ],
    ])('translates %o into %s', async (error, code, kind) => {
      const { provider, stsMock } = setup();
      stsMock.on(AssumeRoleCommand).rejects(error);
      const err = await provider.credentials(grant, 'credentials', { now: NOW }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code, kind });
      expect((err as Error).message).toContain('sts:AssumeRole');
      expect((err as Error).cause).toBe(error);
    });
  });

  describe('Method: credentials (console)', () => {
    it('assumes without DurationSeconds, then builds the sign-in link through the federation endpoint', async () => {
      const f = fakeFetch();
      const { provider, stsMock } = setup({ fetch: f.fn });
      stsMock.on(AssumeRoleCommand).resolves(stsCredentials(new Date(NOW.getTime() + 60 * MIN)));
      const cred = await provider.credentials(grant, 'console', { now: NOW });

      const input = stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input;
      expect(input).not.toHaveProperty('DurationSeconds');
      expect(input).toMatchObject({ RoleArn: ROLE_ARN, RoleSessionName: grant.id, SourceIdentity: 'alice@corp.com' });

      const session = encodeURIComponent(
        JSON.stringify({ sessionId: 'ASIAEXAMPLE', sessionKey: 'secret-key', sessionToken: 'session-token' }),
      );
      expect(f.urls).toEqual([`https://signin.aws.amazon.com/federation?Action=getSigninToken&Session=${session}`]);
      expect(f.urls[0]).not.toContain('SessionDuration');
      expect(cred.secret).toEqual({
        url: 'https://signin.aws.amazon.com/federation?Action=login&Issuer=timebox&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken=TOKEN%2F%2B%3Dabc',
        expiresAt: '2026-11-24T10:30:00.000Z',
      });
      expect(cred.expiresAt.toISOString()).toBe('2026-11-24T10:30:00.000Z');
      expect(cred.audit).toMatchObject({ console: true, durationSeconds: null, accessKeyId: 'ASIAEXAMPLE' });
      expect(JSON.stringify(cred.audit)).not.toContain('TOKEN');
    });

    it('uses the sign-in hosts of aws-us-gov and aws-cn, and the configured destination', async () => {
      for (const [partition, host] of [
        ['aws-us-gov', 'https://signin.amazonaws-us-gov.com/federation'],
        ['aws-cn', 'https://signin.amazonaws.cn/federation'],
      ] as const) {
        const f = fakeFetch();
        const { provider, stsMock } = setup({ fetch: f.fn, consoleDestination: 'https://example.test/s3' });
        stsMock.on(AssumeRoleCommand).resolves(stsCredentials(new Date(NOW.getTime() + 60 * MIN)));
        const g = {
          ...grant,
          target: {
            ...grant.target,
            partition,
            roleArn: `arn:${partition}:iam::111122223333:role/timebox/timebox-prod-logs`,
          },
        } as ActiveGrant;
        const cred = await provider.credentials(g, 'console', { now: NOW });
        expect(f.urls[0]?.startsWith(`${host}?Action=getSigninToken&Session=`)).toBe(true);
        expect((cred.secret as { url: string }).url).toBe(
          `${host}?Action=login&Issuer=timebox&Destination=https%3A%2F%2Fexample.test%2Fs3&SigninToken=TOKEN%2F%2B%3Dabc`,
        );
      }
    });

    it('fails clearly when the federation endpoint refuses or answers nonsense', async () => {
      for (const answer of [{ status: 400, body: { error: 'x' } }, { body: { nope: true } }]) {
        const { provider, stsMock } = setup({ fetch: fakeFetch(answer).fn });
        stsMock.on(AssumeRoleCommand).resolves(stsCredentials(new Date(NOW.getTime() + 60 * MIN)));
        await expect(provider.credentials(grant, 'console', { now: NOW })).rejects.toMatchObject({
          code: 'CONSOLE.FEDERATION_FAILED',
        });
      }
    });
  });

  describe('Method: provision', () => {
    it('writes nothing at activation', async () => {
      const { provider, stsMock } = setup();
      expect(await provider.provision(grant, { now: NOW })).toEqual({});
      expect(stsMock.calls()).toHaveLength(0);
    });
  });
});
