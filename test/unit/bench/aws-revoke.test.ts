import { describe, expect, it } from '@jest/globals';
import awsRevokeSection from '../../../bench/sections/aws-revoke';

describe('Section: aws-revoke', () => {
  it('times the revoke call of aws-role grants, which never waits for IAM to settle', async () => {
    // Act: the quick sample (20 grants), every AWS call answered at once
    const r = await awsRevokeSection({ quick: true });
    // Assess: a deny written and read back is 4 IAM calls; the call used to sleep 2 s for a second read.
    expect(r.aws_revoke_grants).toBe(20);
    expect(r.aws_revoke_iam_calls).toBe(4);
    expect(r.aws_revoke_call_ms).toBeGreaterThan(0);
    expect(r.aws_revoke_call_ms).toBeLessThan(1000);
  }, 30_000);
});
