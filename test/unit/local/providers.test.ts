import { describe, expect, it } from '@jest/globals';
import {
  LOCAL_NOTE,
  type LocalAwsPlan,
  LocalAwsRoleProvider,
  type LocalGcpPlan,
  LocalGcpRoleProvider,
} from '../../../adapters/local/providers';
import { GRANT_TAG, sessionPolicy } from '../../../core/builders/aws';
import { revocationPolicy } from '../../../core/builders/aws-iam';
import { gcpBindings } from '../../../core/builders/gcp';
import type { Grant } from '../../../core/grant/state';
import type { ActiveGrant } from '../../../core/ports';
import { PLAN_CREDENTIAL_KIND } from '../../../core/ports';
import { awsGrantDummy } from '../../helpers/grants';

const NOW = new Date('2026-11-24T10:00:00.000Z');

function gcpGrantDummy(partial: Partial<ActiveGrant> = {}): ActiveGrant {
  return awsGrantDummy({
    target: { kind: 'gcp-role', name: 'analytics', project: 'acme-analytics' },
    scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'] },
    ...partial,
  });
}

describe('Class: LocalAwsRoleProvider', () => {
  const provider = new LocalAwsRoleProvider();

  describe('Method: credentials', () => {
    it('answers with the session policy and AssumeRole input a deployment would use, and says it is local', async () => {
      // Act
      const issued = await provider.credentials(awsGrantDummy(), 'credentials', { now: NOW });
      const plan = issued.secret as LocalAwsPlan;
      // Assess
      expect(issued.kind).toBe(PLAN_CREDENTIAL_KIND);
      expect(issued.expiresAt.toISOString()).toBe('2026-11-24T10:30:00.000Z');
      expect(plan.note).toBe(LOCAL_NOTE);
      expect(plan.sessionPolicy).toEqual(
        sessionPolicy(
          { actions: ['s3:GetObject'], resources: ['arn:aws:s3:::prod-logs/*'] },
          new Date('2026-11-24T10:30:00.000Z'),
        ),
      );
      expect(plan.assumeRole).toEqual({
        RoleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
        RoleSessionName: 'tb-01jd0000000000000000000000',
        SourceIdentity: 'alice@corp.com',
        Tags: [{ Key: GRANT_TAG, Value: 'tb-01jd0000000000000000000000' }],
        DurationSeconds: 1800,
      });
      expect(issued.audit).toEqual({
        local: true,
        requested: 'credentials',
        roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
        sessionName: 'tb-01jd0000000000000000000000',
      });
    });

    it.each([
      ['5 minutes left: STS floor of 900 s', '2026-11-24T10:05:00.000Z', 900],
      ['2 hours left: role-chaining ceiling of 3600 s', '2026-11-24T12:00:00.000Z', 3600],
    ])('keeps DurationSeconds within STS limits (%s)', async (_label, expiresAt, seconds) => {
      const issued = await provider.credentials(awsGrantDummy({ expiresAt }), 'credentials', { now: NOW });
      expect((issued.secret as LocalAwsPlan).assumeRole.DurationSeconds).toBe(seconds);
    });

    it('omits DurationSeconds for a console session, as the federation endpoint requires', async () => {
      const issued = await provider.credentials(awsGrantDummy(), 'console', { now: NOW });
      const plan = issued.secret as LocalAwsPlan;
      expect(plan.assumeRole).not.toHaveProperty('DurationSeconds');
      expect(plan.console).toMatch(/no link exists locally/);
    });

    it('refuses a token, an expired grant, and a session policy STS would refuse', async () => {
      await expect(provider.credentials(awsGrantDummy(), 'token', { now: NOW })).rejects.toMatchObject({
        code: 'CREDENTIALS.UNSUPPORTED_KIND',
      });
      await expect(
        provider.credentials(awsGrantDummy(), 'credentials', { now: new Date('2026-11-24T10:30:00.000Z') }),
      ).rejects.toMatchObject({ code: 'GRANT.EXPIRED' });
      const huge = awsGrantDummy({
        scope: { kind: 'aws-role', actions: ['s3:GetObject'], resources: [`arn:aws:s3:::${'x'.repeat(2100)}`] },
      });
      await expect(provider.credentials(huge, 'credentials', { now: NOW })).rejects.toMatchObject({
        code: 'SESSION_POLICY.TOO_LARGE',
      });
    });
  });

  describe('Method: revoke', () => {
    it('shows the deny statement a revocation would write, kept past the last credential expiry', async () => {
      const g: Grant = awsGrantDummy({
        status: 'revoked',
        credentialsIssued: 1,
        lastCredentialExpiresAt: '2026-11-24T10:30:00.000Z',
      });
      const details = await provider.revoke(g, 'revoked', { now: NOW });
      expect(details).toMatchObject({ local: true, note: LOCAL_NOTE, inlinePolicy: 'timebox-revoked' });
      expect(details.wouldApply).toEqual(
        revocationPolicy([{ grantId: g.id, keepUntil: new Date('2026-11-24T10:35:00.000Z') }]),
      );
    });

    it('needs nothing once every credential has expired (plus skew)', async () => {
      const g: Grant = awsGrantDummy({
        status: 'revoked',
        credentialsIssued: 1,
        lastCredentialExpiresAt: '2026-11-24T10:30:00.000Z',
      });
      expect(await provider.revoke(g, 'revoked', { now: new Date('2026-11-24T10:35:00.000Z') })).toMatchObject({
        revocation: 'none',
      });
    });

    it('needs nothing at expiry or when no credentials were issued', async () => {
      expect(await provider.revoke(awsGrantDummy(), 'expired', { now: NOW })).toMatchObject({ revocation: 'none' });
      expect(await provider.revoke(awsGrantDummy(), 'revoked', { now: NOW })).toMatchObject({
        revocation: 'none',
        reason: 'no credentials were issued',
      });
    });
  });
});

describe('Class: LocalGcpRoleProvider', () => {
  const provider = new LocalGcpRoleProvider();

  it('answers with the conditional bindings a deployment would add, the project, the member and the expiry', async () => {
    // Act
    const issued = await provider.credentials(gcpGrantDummy(), 'credentials', { now: NOW });
    const plan = issued.secret as LocalGcpPlan;
    // Assess
    expect(plan).toMatchObject({
      kind: 'gcp-role',
      note: LOCAL_NOTE,
      project: 'acme-analytics',
      roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
      member: 'user:alice@corp.com',
      expiresAt: '2026-11-24T10:30:00.000Z',
      consoleUrl: 'https://console.cloud.google.com/home/dashboard?project=acme-analytics',
    });
    expect(plan.bindings).toEqual(
      gcpBindings({
        grantId: 'tb-01jd0000000000000000000000',
        member: 'user:alice@corp.com',
        roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
        expiresAt: new Date('2026-11-24T10:30:00.000Z'),
        reason: 'INC-123',
      }),
    );
    expect(plan.bindings[0]?.condition.expression).toBe("request.time < timestamp('2026-11-24T10:30:00Z')");
  });

  it('records the planned bindings at activation and their removal at the end', async () => {
    const provisioned = await provider.provision(gcpGrantDummy());
    const removed = await provider.revoke(gcpGrantDummy({ status: 'expired' }), 'expired');
    expect(provisioned).toMatchObject({ local: true, project: 'acme-analytics' });
    expect((provisioned.bindings as unknown[]).length).toBe(2);
    expect(removed).toEqual({
      local: true,
      note: LOCAL_NOTE,
      project: 'acme-analytics',
      why: 'expired',
      wouldRemove: 'timebox:tb-01jd0000000000000000000000',
    });
  });

  it('refuses a token and a grant of another kind', async () => {
    await expect(provider.credentials(gcpGrantDummy(), 'token', { now: NOW })).rejects.toMatchObject({
      code: 'CREDENTIALS.UNSUPPORTED_KIND',
    });
    await expect(provider.credentials(awsGrantDummy(), 'credentials', { now: NOW })).rejects.toMatchObject({
      code: 'TARGET.KIND_MISMATCH',
    });
  });
});
