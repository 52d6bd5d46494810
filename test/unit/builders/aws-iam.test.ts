import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  MANAGED_POLICY_MAX_CHARS,
  mergeRevocations,
  parseRevocationPolicy,
  permissionBoundary,
  policyChars,
  REVOCATION_BUCKET_MS,
  revocationPolicy,
  targetRolePolicy,
  targetTrustPolicy,
} from '../../../core/builders/aws-iam';
import { awsTargetDummy } from '../../helpers/targets';

describe('Function: targetRolePolicy', () => {
  it('allows exactly the target actions on the target resources', () => {
    expect(targetRolePolicy(awsTargetDummy())).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'TimeboxTarget',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:ListBucket'],
          Resource: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
        },
      ],
    });
  });

  it('refuses a target without actions', () => {
    expect(() => targetRolePolicy(awsTargetDummy({ actions: [] }))).toThrow(
      expect.objectContaining({ code: 'IAM.EMPTY_TARGET' }),
    );
  });
});

describe('Function: targetTrustPolicy', () => {
  it('trusts only the broker, requires a source identity and the grant tag', () => {
    const broker = 'arn:aws:iam::999988887777:role/timebox/timebox-broker-credentials';
    expect(targetTrustPolicy({ brokerRoleArns: [broker] })).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'TimeboxBrokerAssume',
          Effect: 'Allow',
          Principal: { AWS: broker },
          Action: 'sts:AssumeRole',
          Condition: { Null: { 'sts:SourceIdentity': 'false', 'aws:RequestTag/timebox-grant': 'false' } },
        },
        {
          Sid: 'TimeboxBrokerSourceIdentity',
          Effect: 'Allow',
          Principal: { AWS: broker },
          Action: 'sts:SetSourceIdentity',
          Condition: { Null: { 'sts:SourceIdentity': 'false' } },
        },
        {
          Sid: 'TimeboxBrokerTagSession',
          Effect: 'Allow',
          Principal: { AWS: broker },
          Action: 'sts:TagSession',
          Condition: {
            Null: { 'aws:RequestTag/timebox-grant': 'false' },
            'ForAllValues:StringEquals': { 'aws:TagKeys': ['timebox-grant'] },
          },
        },
      ],
    });
  });

  it('refuses to trust nobody', () => {
    expect(() => targetTrustPolicy({ brokerRoleArns: [] })).toThrow(expect.objectContaining({ code: 'IAM.NO_BROKER' }));
  });
});

describe('Function: permissionBoundary', () => {
  it('keeps each target actions on its own resources, and protects roles and broker resources', () => {
    const doc = permissionBoundary({
      targets: [
        awsTargetDummy(),
        awsTargetDummy({ name: 'b', actions: ['dynamodb:GetItem'], resources: ['arn:aws:dynamodb:*:*:table/t'] }),
        awsTargetDummy({
          name: 'c',
          actions: ['s3:PutObject'],
          resources: ['arn:aws:s3:::prod-logs/*', 'arn:aws:s3:::prod-logs'],
        }),
      ],
      protectedArns: ['arn:aws:dynamodb:eu-west-1:999988887777:table/timebox-events'],
    });
    expect(doc.Statement).toEqual([
      { Sid: 'TimeboxTargets0', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: 'arn:aws:dynamodb:*:*:table/t' },
      {
        Sid: 'TimeboxTargets1',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:ListBucket', 's3:PutObject'],
        Resource: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
      },
      expect.objectContaining({
        Sid: 'TimeboxProtectRoles',
        Effect: 'Deny',
        Action: expect.arrayContaining([
          'iam:DeleteRolePolicy',
          'iam:PutRolePolicy',
          'iam:DeleteRolePermissionsBoundary',
        ]),
        Resource: ['arn:aws:iam::*:role/timebox/*', 'arn:aws:iam::*:policy/timebox/*'],
      }),
      {
        Sid: 'TimeboxNoChaining',
        Effect: 'Deny',
        Action: [
          'sts:AssumeRole',
          'sts:AssumeRoleWithSAML',
          'sts:AssumeRoleWithWebIdentity',
          'sts:SetSourceIdentity',
          'sts:TagSession',
        ],
        Resource: '*',
      },
      {
        Sid: 'TimeboxProtectBroker',
        Effect: 'Deny',
        Action: '*',
        Resource: 'arn:aws:dynamodb:eu-west-1:999988887777:table/timebox-events',
      },
    ]);
  });

  it('fails clearly past the managed-policy quota', () => {
    const targets = Array.from({ length: 80 }, (_, i) =>
      awsTargetDummy({ name: `t${i}`, resources: [`arn:aws:s3:::bucket-number-${i}/*`] }),
    );
    expect(() => permissionBoundary({ targets, protectedArns: [] })).toThrow(
      expect.objectContaining({ code: 'IAM.BOUNDARY_TOO_LARGE' }),
    );
    expect(policyChars(permissionBoundary({ targets: targets.slice(0, 5), protectedArns: [] }))).toBeLessThanOrEqual(
      MANAGED_POLICY_MAX_CHARS,
    );
  });
});

describe('Function: revocationPolicy', () => {
  const t0 = new Date('2026-11-24T10:31:10Z');

  it('denies the revoked grants, bucketed by keep-until rounded up', () => {
    const doc = revocationPolicy([
      { grantId: 'g-b', keepUntil: t0 },
      { grantId: 'g-a', keepUntil: new Date('2026-11-24T10:35:00Z') },
      { grantId: 'g-c', keepUntil: new Date('2026-11-24T10:36:00Z') },
    ]);
    expect(doc).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'TimeboxRevokedUntil202611241035',
          Effect: 'Deny',
          Action: '*',
          Resource: '*',
          Condition: {
            StringEquals: { 'aws:PrincipalTag/timebox-grant': ['g-a', 'g-b'] },
            DateLessThan: { 'aws:CurrentTime': '2026-11-24T10:35:00Z' },
          },
        },
        {
          Sid: 'TimeboxRevokedUntil202611241040',
          Effect: 'Deny',
          Action: '*',
          Resource: '*',
          Condition: {
            StringEquals: { 'aws:PrincipalTag/timebox-grant': ['g-c'] },
            DateLessThan: { 'aws:CurrentTime': '2026-11-24T10:40:00Z' },
          },
        },
      ],
    });
  });

  it('adds the token-issue-time fallback, kept one session lifetime plus skew', () => {
    const doc = revocationPolicy([], new Date('2026-11-24T10:31:10.200Z'));
    expect(doc.Statement).toEqual([
      {
        Sid: 'TimeboxRevokedIssuedBefore',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: {
          DateLessThan: { 'aws:TokenIssueTime': '2026-11-24T10:31:11Z', 'aws:CurrentTime': '2026-11-24T11:40:00Z' },
        },
      },
    ]);
  });

  it('keeps the latest keep-until when a grant is revoked twice', () => {
    expect(
      mergeRevocations([
        { grantId: 'g', keepUntil: new Date('2026-11-24T11:00:00Z') },
        { grantId: 'g', keepUntil: new Date('2026-11-24T10:00:00Z') },
      ]),
    ).toEqual([{ grantId: 'g', keepUntil: new Date('2026-11-24T11:00:00Z') }]);
  });

  it('drops entries whose keep-until has passed', () => {
    expect(
      mergeRevocations(
        [
          { grantId: 'old', keepUntil: new Date('2026-11-24T10:00:00Z') },
          { grantId: 'live', keepUntil: new Date('2026-11-24T10:05:00Z') },
        ],
        new Date('2026-11-24T10:00:00Z'),
      ).map((e) => e.grantId),
    ).toEqual(['live']);
  });

  it('round-trips through parseRevocationPolicy, never shortening a deny', () => {
    const entry = fc.record({
      grantId: fc.stringMatching(/^tb-[a-z0-9]{1,8}$/),
      keepUntil: fc.date({
        min: new Date('2026-01-01T00:00:00Z'),
        max: new Date('2027-01-01T00:00:00Z'),
        noInvalidDate: true,
      }),
    });
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 20 }),
        fc.option(
          fc.date({
            min: new Date('2026-01-01T00:00:00Z'),
            max: new Date('2027-01-01T00:00:00Z'),
            noInvalidDate: true,
          }),
          { nil: undefined },
        ),
        (entries, fallback) => {
          const doc = JSON.parse(JSON.stringify(revocationPolicy(entries, fallback)));
          const parsed = parseRevocationPolicy(doc);
          expect(parsed.foreign).toEqual([]);
          const merged = mergeRevocations(entries);
          expect(parsed.entries.map((e) => e.grantId).sort()).toEqual(merged.map((e) => e.grantId).sort());
          for (const e of merged) {
            const back = parsed.entries.find((p) => p.grantId === e.grantId);
            expect(back?.keepUntil.getTime()).toBeGreaterThanOrEqual(e.keepUntil.getTime());
            expect((back?.keepUntil.getTime() ?? 0) - e.keepUntil.getTime()).toBeLessThan(REVOCATION_BUCKET_MS);
          }
          // A rewrite of what was read is the same document (idempotent merge).
          expect(revocationPolicy(parsed.entries, parsed.fallbackIssuedBefore)).toEqual(doc);
          if (fallback) expect(parsed.fallbackIssuedBefore?.getTime()).toBeGreaterThanOrEqual(fallback.getTime());
        },
      ),
    );
  });

  it('keeps statements it did not write as foreign', () => {
    const handMade = { Sid: 'Manual', Effect: 'Deny', Action: 's3:*', Resource: '*' };
    expect(parseRevocationPolicy({ Version: '2012-10-17', Statement: [handMade] })).toEqual({
      entries: [],
      foreign: [handMade],
    });
  });
});
