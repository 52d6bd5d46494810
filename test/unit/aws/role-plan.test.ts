import { describe, expect, it } from '@jest/globals';
import { awsRoleProvision, awsRoleRevocation, MAX_SESSION_SECONDS } from '../../../adapters/aws/role-plan';
import { REVOCATION_SKEW_MS } from '../../../core/builders/aws-iam';
import { activeGrantDummy, NOW, revokedGrantDummy } from './fixtures';

describe('Function: awsRoleProvision', () => {
  it('puts nothing in place: access comes from AssumeRole at credential time', () => {
    expect(awsRoleProvision()).toEqual({});
  });
});

describe('Function: awsRoleRevocation', () => {
  it('needs no IAM write at expiry, whatever was issued: the session policy ends every session then', async () => {
    // Prepare
    const g = revokedGrantDummy(await activeGrantDummy(), { status: 'expired', credentialsIssued: 3 });
    // Act / Assess
    expect(awsRoleRevocation(g, 'expired', NOW)).toEqual({
      revocation: 'none',
      reason: 'expired: the session policy denies every call from the expiry on',
    });
  });

  it('needs no IAM write for a revoked grant that never issued credentials', async () => {
    const g = revokedGrantDummy(await activeGrantDummy(), { credentialsIssued: 0 });
    expect(awsRoleRevocation(g, 'revoked', NOW)).toEqual({ revocation: 'none', reason: 'no credentials were issued' });
  });

  it('denies the role until the last credential expired, plus skew, when credentials may still be live', async () => {
    // Prepare: a credential issued for the whole grant (10:00-10:30)
    const g = revokedGrantDummy(await activeGrantDummy());
    // Act
    const plan = awsRoleRevocation(g, 'revoked', NOW);
    // Assess
    expect(plan).toEqual({
      revocation: 'deny',
      role: { account: '111122223333', role: 'timebox-prod-logs' },
      keepUntil: new Date(Date.parse('2026-11-24T10:30:00.000Z') + REVOCATION_SKEW_MS),
    });
  });

  it('assumes the longest session when the grant does not say when its last credential expires', async () => {
    const g = revokedGrantDummy(await activeGrantDummy(), { lastCredentialExpiresAt: undefined, expiresAt: undefined });
    const plan = awsRoleRevocation(g, 'revoked', NOW);
    expect(plan).toMatchObject({
      revocation: 'deny',
      keepUntil: new Date(NOW.getTime() + MAX_SESSION_SECONDS * 1000 + REVOCATION_SKEW_MS),
    });
  });

  it('needs no IAM write once every credential issued has expired, skew included', async () => {
    const g = revokedGrantDummy(await activeGrantDummy());
    const later = new Date(Date.parse('2026-11-24T10:30:00.000Z') + REVOCATION_SKEW_MS);
    expect(awsRoleRevocation(g, 'revoked', later)).toEqual({
      revocation: 'none',
      reason: 'every credential issued for this grant has already expired',
    });
  });

  it('refuses a grant of another kind', async () => {
    const g = await activeGrantDummy();
    const grpc = { ...g, target: { kind: 'grpc' as const, name: 'user-service', audience: 'user-service' } };
    expect(() => awsRoleRevocation(grpc as never, 'revoked', NOW)).toThrow(
      expect.objectContaining({ code: 'TARGET.KIND_MISMATCH' }),
    );
  });
});
