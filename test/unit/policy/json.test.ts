import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { sha256Hex } from '../../../core/canonical';
import { compilePolicy } from '../../../core/policy/compile';
import { type PolicyBundle, policyBundle, readPolicyBundle } from '../../../core/policy/json';
import { formatProblem, loadPolicy } from '../../../core/policy/load';
import type { Policy } from '../../../core/policy/types';

const DESIGN_EXAMPLE = readFileSync(join(__dirname, '../../fixtures/policies/design-example.yaml'), 'utf8');

function policyOf(text: string): Policy {
  const r = loadPolicy(text);
  if (!r.ok) throw new Error(`expected a valid policy:\n${r.problems.map(formatProblem).join('\n')}`);
  return r.policy;
}

/** A bundle as the stack packages it, as text; override parts to break it. */
function bundleTextDummy(partial: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...policyBundle(policyOf(DESIGN_EXAMPLE), DESIGN_EXAMPLE), ...partial });
}

describe('Function: policyBundle', () => {
  it('ties the policy to the exact text it was loaded from', () => {
    // Act
    const b = policyBundle(policyOf(DESIGN_EXAMPLE), DESIGN_EXAMPLE);
    // Assess
    expect(b.format).toBe('timebox-policy');
    expect(b.version).toBe(1);
    expect(b.sourceSha256).toBe(sha256Hex(DESIGN_EXAMPLE));
    expect(policyBundle(b.policy, `${DESIGN_EXAMPLE}\n`).sourceSha256).not.toBe(b.sourceSha256);
  });
});

describe('Function: readPolicyBundle', () => {
  it('gives back the validated policy unchanged through JSON, and it compiles to the same decisions', () => {
    // Prepare
    const policy = policyOf(DESIGN_EXAMPLE);
    // Act
    const read = readPolicyBundle(JSON.stringify(policyBundle(policy, DESIGN_EXAMPLE)));
    // Assess
    expect(read.policy).toEqual(policy);
    const [a, b] = [compilePolicy(policy), compilePolicy(read.policy)];
    for (const name of ['prod-logs', 'user-service', 'analytics', 'nope'])
      expect(b.target(name)).toEqual(a.target(name));
    expect(b.policy.rules.map((r) => r.name)).toEqual(a.policy.rules.map((r) => r.name));
  });

  it('refuses text that is not JSON, such as access.yaml itself', () => {
    expect(() => readPolicyBundle(DESIGN_EXAMPLE)).toThrow(/^the policy bundle is not JSON: /);
  });

  it.each<[string, Record<string, unknown>]>([
    ['another format', { format: 'other' }],
    ['another version', { version: 2 }],
    ['no source hash', { sourceSha256: undefined }],
    ['a source hash that is not SHA-256', { sourceSha256: 'abc' }],
  ])('refuses a document with %s', (_why, partial) => {
    expect(() => readPolicyBundle(bundleTextDummy(partial))).toThrow(
      'not a Timebox policy bundle (format timebox-policy, version 1)',
    );
  });

  it.each<[string, unknown]>([
    ['no policy', undefined],
    ['a policy of another version', { ...policyOf(DESIGN_EXAMPLE), version: 2 }],
    ['a policy without settings', { ...policyOf(DESIGN_EXAMPLE), settings: undefined }],
    ['a policy whose targets are a list', { ...policyOf(DESIGN_EXAMPLE), targets: [] }],
    ['a policy without rules', { ...policyOf(DESIGN_EXAMPLE), rules: [] }],
  ])('refuses a bundle holding %s', (_why, policy) => {
    expect(() => readPolicyBundle(bundleTextDummy({ policy }))).toThrow(
      'the policy bundle does not hold a validated policy',
    );
  });

  it('refuses any JSON value that is not a bundle, with an Error and never a half-read result', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        let result: PolicyBundle | undefined;
        try {
          result = readPolicyBundle(JSON.stringify(value) ?? 'null');
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/^(not a Timebox policy bundle|the policy bundle)/);
          return;
        }
        throw new Error(`accepted ${JSON.stringify(result).slice(0, 200)}`);
      }),
    );
  });
});
