import { describe, expect, it } from 'vitest';
import { TARGET_NAME as POLICY_TARGET_NAME } from '../../../core/policy/schema';
import { TARGET_NAME } from '../../../lambdas/api/app';

describe('Constant: TARGET_NAME', () => {
  it('is the policy schema’s own pattern (copied so the API bundle does not carry the policy file schema)', () => {
    expect(TARGET_NAME.source).toBe(POLICY_TARGET_NAME.source);
    expect(TARGET_NAME.flags).toBe(POLICY_TARGET_NAME.flags);
  });
});
