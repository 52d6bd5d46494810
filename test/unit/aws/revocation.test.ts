import {
  DeleteRolePolicyCommand,
  GetRolePolicyCommand,
  type IAMClient,
  LimitExceededException,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsRoleProvider } from '../../../adapters/aws/sts';
import { policyChars, revocationPolicy } from '../../../core/builders/aws-iam';
import type { Grant } from '../../../core/grant/state';
import type { AwsRoleTarget } from '../../../core/policy/types';
import type { ActiveGrant } from '../../../core/ports';
import type { RecordingLog } from '../../helpers/memory';
import { activeGrantDummy, awsTargetDummy, clients, NOW, revokedGrantDummy } from './fixtures';

const MIN = 60_000;
/** What the revoker's wall clock reads when it writes (the record's `denyWrittenAt`). */
const WRITTEN_AT = new Date('2026-11-24T10:00:00.250Z');
const ROLE = 'timebox-prod-logs';

/** IAM inline policies of a few roles, behind aws-sdk-client-mock, with IAM's URL-encoded GetRolePolicy answer. */
class FakeIam {
  readonly docs = new Map<string, string>();
  readonly puts: { role: string; name: string; doc: unknown }[] = [];
  /** Called after each successful put: a concurrent writer can act here. */
  afterPut?: (n: number) => void;
  /** When set, PutRolePolicy fails with IAM's quota error above this many characters in total. */
  quota?: number;

  constructor(
    iam: IAMClient,
    readonly mock = mockClient(iam),
  ) {
    mock.on(GetRolePolicyCommand).callsFake((input: { RoleName?: string; PolicyName?: string }) => {
      const doc = this.docs.get(`${input.RoleName}/${input.PolicyName}`);
      if (doc === undefined) throw new NoSuchEntityException({ message: 'no such policy', $metadata: {} });
      return {
        RoleName: input.RoleName ?? '',
        PolicyName: input.PolicyName ?? '',
        PolicyDocument: encodeURIComponent(doc),
      };
    });
    mock
      .on(PutRolePolicyCommand)
      .callsFake((input: { RoleName?: string; PolicyName?: string; PolicyDocument?: string }) => {
        if (this.quota !== undefined) {
          const others = [...this.docs.entries()]
            .filter(([k]) => k.startsWith(`${input.RoleName}/`) && k !== `${input.RoleName}/${input.PolicyName}`)
            .reduce((n, [, d]) => n + d.length, 0);
          if (others + (input.PolicyDocument ?? '').length > this.quota)
            throw new LimitExceededException({ message: 'Maximum policy size exceeded', $metadata: {} });
        }
        const doc = input.PolicyDocument ?? '';
        this.docs.set(`${input.RoleName}/${input.PolicyName}`, doc);
        this.puts.push({ role: input.RoleName ?? '', name: input.PolicyName ?? '', doc: JSON.parse(doc) });
        this.afterPut?.(this.puts.length);
        return {};
      });
    mock.on(ListRolePoliciesCommand).callsFake((input: { RoleName?: string }) => ({
      PolicyNames: [...this.docs.keys()].filter((k) => k.startsWith(`${input.RoleName}/`)).map((k) => k.split('/')[1]),
      IsTruncated: false,
    }));
    mock.on(DeleteRolePolicyCommand).callsFake((input: { RoleName?: string; PolicyName?: string }) => {
      if (!this.docs.delete(`${input.RoleName}/${input.PolicyName}`))
        throw new NoSuchEntityException({ message: 'no such policy', $metadata: {} });
      return {};
    });
  }

  doc(role = ROLE, name = 'timebox-revoked'): unknown {
    const d = this.docs.get(`${role}/${name}`);
    return d === undefined ? undefined : JSON.parse(d);
  }
}

function setup(
  opts: {
    targets?: AwsRoleTarget[];
    sleep?: (ms: number) => Promise<void>;
    maxAttempts?: number;
    revoked?: Grant[];
  } = {},
) {
  const { sts, iam, log } = clients();
  mockClient(sts).on(AssumeRoleCommand).rejects(new Error('STS must not be called to revoke'));
  const fake = new FakeIam(iam);
  const accounts: string[] = [];
  const provider = new AwsRoleProvider({
    sts,
    iamFor: async (account: string): Promise<IAMClient> => {
      accounts.push(account);
      return iam;
    },
    targets: () => opts.targets ?? [awsTargetDummy()],
    log,
    revocation: { sleep: opts.sleep ?? (async () => {}), maxAttempts: opts.maxAttempts ?? 5, clock: () => WRITTEN_AT },
    ...(opts.revoked ? { revokedGrants: async () => opts.revoked ?? [] } : {}),
  });
  return { provider, fake, log: log as RecordingLog, accounts };
}

let a: ActiveGrant;
let b: ActiveGrant;
beforeEach(async () => {
  a = await activeGrantDummy();
  b = await activeGrantDummy();
});

describe('Class: AwsRoleProvider', () => {
  describe('Method: revoke', () => {
    it('denies the revoked grant by its session tag until its last credential expired plus skew', async () => {
      // Prepare
      const { provider, fake, accounts } = setup();
      // Act
      const details = await provider.revoke(
        revokedGrantDummy(a, { lastCredentialExpiresAt: '2026-11-24T10:20:00.000Z' }),
        'revoked',
        {
          now: NOW,
        },
      );
      // Assess
      expect(accounts).toEqual(['111122223333']);
      expect(fake.puts).toEqual([
        {
          role: ROLE,
          name: 'timebox-revoked',
          doc: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'TimeboxRevokedUntil202611241025',
                Effect: 'Deny',
                Action: '*',
                Resource: '*',
                Condition: {
                  StringEquals: { 'aws:PrincipalTag/timebox-grant': [a.id] },
                  DateLessThan: { 'aws:CurrentTime': '2026-11-24T10:25:00Z' },
                },
              },
            ],
          },
        },
      ]);
      expect(details).toMatchObject({
        revocation: 'deny-by-tag',
        role: ROLE,
        account: '111122223333',
        policy: 'timebox-revoked',
        keepUntil: '2026-11-24T10:25:00.000Z',
        attempts: 1,
      });
    });

    it('is idempotent: revoking again writes nothing new', async () => {
      const { provider, fake } = setup();
      const g = revokedGrantDummy(a);
      await provider.revoke(g, 'revoked', { now: NOW });
      await provider.revoke(g, 'revoked', { now: new Date(NOW.getTime() + MIN) });
      expect(fake.puts).toHaveLength(1);
    });

    it('merges grants on the same role, and never shortens a deny', async () => {
      const { provider, fake } = setup();
      await provider.revoke(revokedGrantDummy(a, { lastCredentialExpiresAt: '2026-11-24T10:30:00.000Z' }), 'revoked', {
        now: NOW,
      });
      await provider.revoke(revokedGrantDummy(b, { lastCredentialExpiresAt: '2026-11-24T10:12:00.000Z' }), 'revoked', {
        now: NOW,
      });
      // A repeated revoke of `a` with an earlier expiry must keep the later deny.
      await provider.revoke(revokedGrantDummy(a, { lastCredentialExpiresAt: '2026-11-24T10:05:00.000Z' }), 'revoked', {
        now: NOW,
      });
      expect(fake.doc()).toEqual(
        revocationPolicy([
          { grantId: a.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') },
          { grantId: b.id, keepUntil: new Date('2026-11-24T10:17:00.000Z') },
        ]),
      );
      expect(fake.puts).toHaveLength(2);
    });

    it('writes nothing for an expiry, a grant without credentials, or credentials long expired', async () => {
      const { provider, fake } = setup();
      expect(await provider.revoke(revokedGrantDummy(a, { status: 'expired' }), 'expired', { now: NOW })).toMatchObject(
        {
          revocation: 'none',
        },
      );
      expect(
        await provider.revoke(revokedGrantDummy(a, { credentialsIssued: 0 }), 'revoked', { now: NOW }),
      ).toMatchObject({
        revocation: 'none',
        reason: 'no credentials were issued',
      });
      expect(
        await provider.revoke(
          revokedGrantDummy(a, { lastCredentialExpiresAt: '2026-11-24T09:50:00.000Z' }),
          'revoked',
          {
            now: NOW,
          },
        ),
      ).toMatchObject({ revocation: 'none' });
      expect(fake.mock.calls()).toHaveLength(0);
    });

    it('keeps statements someone added by hand', async () => {
      const { provider, fake } = setup();
      const manual = { Sid: 'Manual', Effect: 'Deny', Action: 's3:DeleteObject', Resource: '*' };
      fake.docs.set(`${ROLE}/timebox-revoked`, JSON.stringify({ Version: '2012-10-17', Statement: [manual] }));
      await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      const doc = fake.doc() as { Statement: unknown[] };
      expect(doc.Statement).toHaveLength(2);
      expect(doc.Statement[1]).toEqual(manual);
    });

    it('falls back to the token-issue-time deny when the role has no room, and logs it as an error', async () => {
      // Prepare: an operator policy and earlier revocations fill the role's budget; one more entry does not fit.
      const { provider, fake, log } = setup();
      const earlier = Array.from({ length: 12 }, (_, i) => ({
        grantId: `tb-earlier${String(i).padStart(17, '0')}`,
        keepUntil: new Date(NOW.getTime() + (10 + 10 * i) * MIN),
      }));
      const existing = JSON.stringify(revocationPolicy(earlier));
      const big = {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 's3:GetObject',
            Resource: `arn:aws:s3:::${'x'.repeat(10_240 - existing.length - 150)}`,
          },
        ],
      };
      fake.docs.set(`${ROLE}/operator-extra`, JSON.stringify(big));
      fake.docs.set(`${ROLE}/timebox-revoked`, existing);
      expect(JSON.stringify(big).length + existing.length).toBeLessThanOrEqual(10_240);
      // Act
      const details = await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      // Assess
      expect(details).toMatchObject({ revocation: 'fallback-token-issue-time' });
      expect(fake.doc()).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'TimeboxRevokedIssuedBefore',
            Effect: 'Deny',
            Action: '*',
            Resource: '*',
            Condition: {
              DateLessThan: { 'aws:TokenIssueTime': '2026-11-24T10:00:00Z', 'aws:CurrentTime': '2026-11-24T11:05:00Z' },
            },
          },
        ],
      });
      expect(log.lines).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: 'early revocation fell back to denying every session of the role issued before now',
        }),
      );
      expect(JSON.stringify(fake.doc()).length + JSON.stringify(big).length).toBeLessThanOrEqual(10_240);
    });

    it('falls back when IAM itself reports the quota, even if our count said it fits', async () => {
      const { provider, fake } = setup();
      fake.quota = policyChars(revocationPolicy([], NOW)) + 5; // IAM disagrees with our measure
      const details = await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      expect(details).toMatchObject({ revocation: 'fallback-token-issue-time' });
      expect(fake.doc()).toEqual(revocationPolicy([], NOW));
    });

    it('refuses clearly when not even the fallback fits, writing nothing', async () => {
      const { provider, fake } = setup();
      const huge = {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${'x'.repeat(10_150)}` }],
      };
      fake.docs.set(`${ROLE}/operator-extra`, JSON.stringify(huge));
      await expect(provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW })).rejects.toMatchObject({
        code: 'REVOCATION.NO_ROOM',
      });
      expect(fake.puts).toHaveLength(0);
    });

    it('detects a lost update from a concurrent writer and writes the merge', async () => {
      // Prepare: right after our first put, another revoker that read the empty policy writes only its own grant.
      const { provider, fake, log } = setup();
      const theirs = revocationPolicy([{ grantId: b.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') }]);
      fake.afterPut = (n) => {
        if (n === 1) fake.docs.set(`${ROLE}/timebox-revoked`, JSON.stringify(theirs));
      };
      // Act
      const details = await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      // Assess
      expect(details).toMatchObject({ attempts: 2 });
      expect(fake.puts.map((p) => p.doc)).toEqual([
        revocationPolicy([{ grantId: a.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') }]),
        revocationPolicy([
          { grantId: a.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') },
          { grantId: b.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') },
        ]),
      ]);
      expect(log.lines.filter((l) => l.message.startsWith('revocation policy lost a concurrent update'))).toHaveLength(
        1,
      );
    });

    it('answers after one read-after-write, without pausing, and records when the deny was written', async () => {
      // Prepare
      const sleeps: number[] = [];
      const { provider, fake } = setup({ sleep: async (ms) => void sleeps.push(ms) });
      // Act
      const details = await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      // Assess: read, write, read back; nothing waits for IAM to settle.
      expect(sleeps).toEqual([]);
      expect(fake.mock.commandCalls(PutRolePolicyCommand)).toHaveLength(1);
      expect(fake.mock.commandCalls(GetRolePolicyCommand)).toHaveLength(2);
      expect(details).toMatchObject({
        revocation: 'deny-by-tag',
        denyWrittenAt: WRITTEN_AT.toISOString(),
        denyCheckedAt: WRITTEN_AT.toISOString(),
        confirmation: 'sweeper',
      });
    });

    it('reports no write time when the deny was already in place', async () => {
      const { provider } = setup();
      await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      const again = await provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW });
      expect(again).toMatchObject({ denyWrittenAt: null, denyCheckedAt: WRITTEN_AT.toISOString() });
    });

    it('gives up with a stable code when every write is lost', async () => {
      const { provider, fake } = setup({ maxAttempts: 3 });
      fake.afterPut = () => fake.docs.delete(`${ROLE}/timebox-revoked`);
      await expect(provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW })).rejects.toMatchObject({
        code: 'REVOCATION.LOST_UPDATE',
        kind: 'unavailable',
      });
      expect(fake.puts).toHaveLength(3);
    });

    it('translates IAM failures', async () => {
      const { provider, fake } = setup();
      fake.mock.on(PutRolePolicyCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
      await expect(provider.revoke(revokedGrantDummy(a), 'revoked', { now: NOW })).rejects.toMatchObject({
        code: 'AWS.ACCESS_DENIED',
        message: expect.stringContaining('iam:PutRolePolicy'),
      });
    });
  });

  describe('Method: maintain (confirming revocations)', () => {
    it('writes back a deny that a concurrent writer dropped after the revoke call answered', async () => {
      // Prepare: the revoke answered; then another writer that had read the empty policy wrote its own version.
      const g = revokedGrantDummy(a);
      const { provider, fake, log } = setup({ revoked: [g] });
      await provider.revoke(g, 'revoked', { now: NOW });
      fake.docs.set(`${ROLE}/timebox-revoked`, JSON.stringify(revocationPolicy([])));
      // Act: the sweeper's next pass
      await provider.maintain({ now: new Date(NOW.getTime() + MIN) });
      // Assess
      expect(fake.doc()).toEqual(
        revocationPolicy([{ grantId: a.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') }]),
      );
      expect(log.lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'revocation denies restored' }),
      );
    });

    it('writes nothing when every live deny is in place, and skips grants whose credentials all expired', async () => {
      const live = revokedGrantDummy(a);
      const old = revokedGrantDummy(b, { lastCredentialExpiresAt: '2026-11-24T09:00:00.000Z' });
      const { provider, fake } = setup({ revoked: [live, old] });
      await provider.revoke(live, 'revoked', { now: NOW });
      await provider.maintain({ now: new Date(NOW.getTime() + MIN) });
      expect(fake.puts).toHaveLength(1);
      expect(JSON.stringify(fake.doc())).not.toContain(b.id);
    });

    it('confirms on the role of a revoked grant even when its target is no longer configured', async () => {
      const g = revokedGrantDummy(a);
      const { provider, fake } = setup({ revoked: [g], targets: [] });
      await provider.maintain({ now: NOW });
      expect(fake.doc()).toEqual(
        revocationPolicy([{ grantId: a.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') }]),
      );
    });

    it('counts a fallback deny as covering a grant revoked before it, and never moves it later', async () => {
      const g = revokedGrantDummy(a);
      const { provider, fake } = setup({ revoked: [g] });
      fake.docs.set(`${ROLE}/timebox-revoked`, JSON.stringify(revocationPolicy([], NOW)));
      await provider.maintain({ now: new Date(NOW.getTime() + 5 * MIN) });
      expect(fake.puts).toHaveLength(0);
      expect(fake.doc()).toEqual(revocationPolicy([], NOW));
    });

    it('does not fail every pass over a role deleted since the revocation', async () => {
      const g = revokedGrantDummy(a);
      const { provider, fake, log } = setup({ revoked: [g], targets: [] });
      fake.mock
        .on(PutRolePolicyCommand)
        .rejects(new NoSuchEntityException({ message: 'The role cannot be found', $metadata: {} }));
      await provider.maintain({ now: NOW });
      expect(log.lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'revocation deny not restored: the role no longer exists' }),
      );
    });

    it('reports a failure to list revoked grants, and still collects', async () => {
      const { sts, iam, log } = clients();
      mockClient(sts);
      const fake = new FakeIam(iam);
      fake.docs.set(
        `${ROLE}/timebox-revoked`,
        JSON.stringify(revocationPolicy([{ grantId: 'tb-old', keepUntil: NOW }])),
      );
      const provider = new AwsRoleProvider({
        sts,
        iamFor: async () => iam,
        targets: () => [awsTargetDummy()],
        log,
        revokedGrants: async () => {
          throw new Error('dynamodb:Query throttled');
        },
      });
      await expect(provider.maintain({ now: new Date('2026-11-24T12:00:00.000Z') })).rejects.toThrow();
      expect(fake.doc()).toBeUndefined();
    });
  });

  describe('Method: maintain', () => {
    it('drops lapsed entries, keeps live ones, and deletes the policy once empty', async () => {
      const { provider, fake } = setup();
      await provider.revoke(revokedGrantDummy(a, { lastCredentialExpiresAt: '2026-11-24T10:10:00.000Z' }), 'revoked', {
        now: NOW,
      });
      await provider.revoke(revokedGrantDummy(b, { lastCredentialExpiresAt: '2026-11-24T10:30:00.000Z' }), 'revoked', {
        now: NOW,
      });

      await provider.maintain({ now: new Date('2026-11-24T10:14:59.000Z') }); // a kept until 10:15
      expect(fake.puts).toHaveLength(2);
      await provider.maintain({ now: new Date('2026-11-24T10:15:00.000Z') });
      expect(fake.doc()).toEqual(
        revocationPolicy([{ grantId: b.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') }]),
      );
      await provider.maintain({ now: new Date('2026-11-24T10:35:00.000Z') });
      expect(fake.doc()).toBeUndefined();
      expect(fake.mock.commandCalls(DeleteRolePolicyCommand)).toHaveLength(1);
    });

    it('reads only the roles of configured targets', async () => {
      const { provider, fake } = setup({
        targets: [awsTargetDummy(), awsTargetDummy({ name: 'x', role: 'timebox-x' })],
      });
      fake.docs.set(
        'timebox-unconfigured/timebox-revoked',
        JSON.stringify(revocationPolicy([{ grantId: 'tb-old', keepUntil: NOW }])),
      );
      await provider.maintain({ now: new Date('2026-11-24T12:00:00.000Z') });
      const roles = fake.mock.commandCalls(GetRolePolicyCommand).map((c) => c.args[0].input.RoleName);
      expect(roles.sort()).toEqual([ROLE, 'timebox-x']);
      expect(fake.docs.has('timebox-unconfigured/timebox-revoked')).toBe(true);
    });

    it('collects a lapsed fallback deny too', async () => {
      const { provider, fake } = setup();
      fake.docs.set(`${ROLE}/timebox-revoked`, JSON.stringify(revocationPolicy([], NOW)));
      await provider.maintain({ now: new Date('2026-11-24T11:04:59.000Z') });
      expect(fake.doc()).toEqual(revocationPolicy([], NOW));
      await provider.maintain({ now: new Date('2026-11-24T11:05:00.000Z') });
      expect(fake.doc()).toBeUndefined();
    });

    it('keeps going past a failing role and reports the failure', async () => {
      const { provider, fake, log } = setup({
        targets: [awsTargetDummy({ role: 'timebox-broken' }), awsTargetDummy()],
      });
      fake.docs.set(
        `${ROLE}/timebox-revoked`,
        JSON.stringify(revocationPolicy([{ grantId: 'tb-old', keepUntil: NOW }])),
      );
      fake.mock
        .on(GetRolePolicyCommand, { RoleName: 'timebox-broken' })
        .rejects(Object.assign(new Error('slow'), { name: 'Throttling' }));
      await expect(provider.maintain({ now: new Date('2026-11-24T12:00:00.000Z') })).rejects.toMatchObject({
        code: 'AWS.THROTTLED',
      });
      expect(fake.doc()).toBeUndefined(); // the healthy role was still collected
      expect(log.lines.some((l) => l.level === 'error' && l.fields?.role === 'timebox-broken')).toBe(true);
    });
  });
});
