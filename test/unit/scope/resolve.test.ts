import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { GcpRoleTarget, GrpcTarget, Target } from '../../../core/policy/types';
import { actionCovered, iamPatternMatches, resourceContained } from '../../../core/scope/aws';
import { methodMatches, methodPatternWithin } from '../../../core/scope/grpc';
import { MAX_REQUESTED_SCOPES, resolveScope, validateScopeAgainstTarget } from '../../../core/scope/resolve';
import type { ScopeResult } from '../../../core/scope/types';
import { awsTargetDummy } from '../../helpers/targets';

const grpcTargetDummy = (partial: Partial<GrpcTarget> = {}): GrpcTarget => ({
  kind: 'grpc',
  name: 'user-service',
  audience: 'user-service',
  methods: ['/acme.user.v1.UserService/*', '/acme.admin.*'],
  ...partial,
});

const gcpTargetDummy = (partial: Partial<GcpRoleTarget> = {}): GcpRoleTarget => ({
  kind: 'gcp-role',
  name: 'analytics',
  project: 'acme-analytics',
  roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
  ...partial,
});

const codes = (r: ScopeResult): string[] => (r.ok ? [] : r.reasons.map((x) => x.code));
const messages = (r: ScopeResult): string => (r.ok ? '' : r.reasons.map((x) => x.message).join('\n'));

describe('Function: resolveScope', () => {
  describe('aws-role targets', () => {
    it('grants the whole target when neither rule nor request narrows it', () => {
      // Act
      const r = resolveScope(awsTargetDummy(), undefined, []);

      // Assert
      expect(r).toEqual({
        ok: true,
        scope: {
          kind: 'aws-role',
          actions: ['s3:GetObject', 's3:ListBucket'],
          resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
        },
      });
    });

    it('narrows only the actions when only actions are requested', () => {
      const r = resolveScope(awsTargetDummy(), undefined, ['s3:GetObject']);
      expect(r).toEqual({
        ok: true,
        scope: {
          kind: 'aws-role',
          actions: ['s3:GetObject'],
          resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
        },
      });
    });

    it('narrows only the resources when only ARN patterns are requested', () => {
      const r = resolveScope(awsTargetDummy(), undefined, ['arn:aws:s3:::prod-logs/team-a/*']);
      expect(r).toEqual({
        ok: true,
        scope: {
          kind: 'aws-role',
          actions: ['s3:GetObject', 's3:ListBucket'],
          resources: ['arn:aws:s3:::prod-logs/team-a/*'],
        },
      });
    });

    it('narrows both halves, dedupes, and keeps the requested order', () => {
      const r = resolveScope(awsTargetDummy(), undefined, [
        'arn:aws:s3:::prod-logs/b/*',
        's3:ListBucket',
        'arn:aws:s3:::prod-logs/a/*',
        's3:GetObject',
        's3:ListBucket',
        'arn:aws:s3:::prod-logs/b/*',
      ]);
      expect(r.ok && r.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:ListBucket', 's3:GetObject'],
        resources: ['arn:aws:s3:::prod-logs/b/*', 'arn:aws:s3:::prod-logs/a/*'],
      });
    });

    it('uses the rule scopes of a half as the allowance for that half', () => {
      // Arrange
      const rule = ['s3:GetObject'];

      // Act
      const open = resolveScope(awsTargetDummy(), rule, []);
      const outside = resolveScope(awsTargetDummy(), rule, ['s3:ListBucket']);

      // Assert
      expect(open.ok && open.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:GetObject'],
        resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
      });
      expect(codes(outside)).toEqual(['SCOPE.OUTSIDE_TARGET']);
      expect(messages(outside)).toContain('"s3:ListBucket" is outside the actions the rule allows on target prod-logs');
      expect(messages(outside)).toContain('[s3:GetObject]');
    });

    it('names the scope and the allowed list when a scope is outside the target', () => {
      const r = resolveScope(awsTargetDummy(), undefined, ['s3:PutObject']);
      expect(r).toEqual({
        ok: false,
        reasons: [
          {
            code: 'SCOPE.OUTSIDE_TARGET',
            message:
              'action "s3:PutObject" is outside the actions target prod-logs allows: [s3:GetObject, s3:ListBucket]',
          },
        ],
      });
    });

    it('says containment could not be proven for a wildcard it cannot place', () => {
      // Arrange: the target lists two literal actions, so s3:Get* is wider in truth, but say so carefully.
      const r = resolveScope(awsTargetDummy(), undefined, ['s3:Get*', 'arn:aws:s3:::prod-*']);

      // Assert
      expect(codes(r)).toEqual(['SCOPE.OUTSIDE_TARGET', 'SCOPE.OUTSIDE_TARGET']);
      expect(messages(r)).toContain('"s3:Get*" could not be proven to lie within the actions target prod-logs allows');
      expect(messages(r)).toContain('containment of wildcard patterns is checked conservatively');
    });

    it('refuses the required examples the way the containment check decides them', () => {
      const target = awsTargetDummy({ resources: ['arn:aws:s3:::logs/team-a/*'] });
      expect(codes(resolveScope(target, undefined, ['arn:aws:s3:::logs/*']))).toEqual(['SCOPE.OUTSIDE_TARGET']);
      expect(resolveScope(target, undefined, ['arn:aws:s3:::logs/team-a/?x']).ok).toBe(true);
      const actions = awsTargetDummy({ actions: ['s3:Get*'] });
      expect(codes(resolveScope(actions, undefined, ['s3:*']))).toEqual(['SCOPE.OUTSIDE_TARGET']);
      expect(resolveScope(actions, undefined, ['S3:getobject']).ok).toBe(true);
    });

    it('reports every bad scope, not just the first', () => {
      // Act
      const r = resolveScope(awsTargetDummy(), undefined, [
        '*',
        's3:GetObject',
        's3:PutObject',
        'arn:aws:s3:::\u0024{aws:username}',
        'arn:aws:s3:::other-bucket/*',
        '/acme.admin.*',
      ]);

      // Assert
      expect(codes(r)).toEqual([
        'SCOPE.INVALID',
        'SCOPE.OUTSIDE_TARGET',
        'SCOPE.INVALID',
        'SCOPE.OUTSIDE_TARGET',
        'SCOPE.INVALID',
      ]);
      expect(messages(r)).toContain('every action of every AWS service');
      expect(messages(r)).toContain('policy variable');
      expect(messages(r)).toContain('"/acme.admin.*" is a gRPC method pattern, but target prod-logs has kind aws-role');
    });

    it('ignores rule scopes of another family, for rules that name targets of several kinds', () => {
      const r = resolveScope(awsTargetDummy(), ['/acme.admin.*', 'roles/bigquery.dataViewer'], []);
      expect(r.ok && r.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
      });
    });

    it('uses only the rule scopes that lie within this target when a rule names several targets', () => {
      const r = resolveScope(awsTargetDummy(), ['arn:aws:s3:::prod-logs/a/*', 'arn:aws:s3:::other-logs/*'], []);
      expect(r.ok && r.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: ['arn:aws:s3:::prod-logs/a/*'],
      });
    });

    it('fails closed when the rule narrows a half to nothing inside the target', () => {
      // A fallback to the whole target here would turn a narrowing rule into a widening one.
      const r = resolveScope(awsTargetDummy(), ['arn:aws:s3:::other-logs/*'], []);
      expect(codes(r)).toEqual(['SCOPE.POLICY_INVALID']);
      expect(messages(r)).toContain('none of these lies within the target');
    });

    it('fails closed on a rule scope that is malformed in every notation', () => {
      const r = resolveScope(awsTargetDummy(), ['s3:GetObject ', 's3:GetObject'], []);
      expect(codes(r)).toEqual(['SCOPE.POLICY_INVALID']);
      expect(messages(r)).toContain('"s3:GetObject "');
    });

    it('fails closed on a target entry that is refused as a scope', () => {
      const r = resolveScope(awsTargetDummy({ actions: ['*'] }), undefined, []);
      expect(codes(r)).toEqual(['SCOPE.POLICY_INVALID']);
      expect(messages(r)).toContain('target prod-logs');
    });

    it('fails closed when a target lists nothing for a half', () => {
      expect(codes(resolveScope(awsTargetDummy({ resources: [] }), undefined, []))).toEqual(['SCOPE.POLICY_INVALID']);
    });
  });

  describe('grpc targets', () => {
    it('grants the target methods when nothing narrows them', () => {
      expect(resolveScope(grpcTargetDummy(), undefined, [])).toEqual({
        ok: true,
        scope: { kind: 'grpc', methods: ['/acme.user.v1.UserService/*', '/acme.admin.*'] },
      });
    });

    it('grants the requested methods inside the allowance', () => {
      const r = resolveScope(grpcTargetDummy(), undefined, [
        '/acme.user.v1.UserService/GetUser',
        '/acme.admin.v1.AuditService/*',
      ]);
      expect(r.ok && r.scope).toEqual({
        kind: 'grpc',
        methods: ['/acme.user.v1.UserService/GetUser', '/acme.admin.v1.AuditService/*'],
      });
    });

    it('applies the rule scopes (the admin-break-glass rule of the design)', () => {
      // Arrange
      const rule = ['/acme.admin.*'];

      // Act
      const open = resolveScope(grpcTargetDummy(), rule, []);
      const outside = resolveScope(grpcTargetDummy(), rule, ['/acme.user.v1.UserService/GetUser']);

      // Assert
      expect(open.ok && open.scope).toEqual({ kind: 'grpc', methods: ['/acme.admin.*'] });
      expect(outside).toEqual({
        ok: false,
        reasons: [
          {
            code: 'SCOPE.OUTSIDE_TARGET',
            message:
              'method "/acme.user.v1.UserService/GetUser" is outside the methods the rule allows on target user-service: [/acme.admin.*]',
          },
        ],
      });
    });

    it('refuses segment-boundary near misses, wider patterns and malformed ones, reporting each', () => {
      const r = resolveScope(grpcTargetDummy(), undefined, [
        '/acme.adminx.V1/*',
        '/acme.*',
        '/*',
        '/acme.admin.V1/../X',
        's3:GetObject',
      ]);
      expect(codes(r)).toEqual([
        'SCOPE.OUTSIDE_TARGET',
        'SCOPE.OUTSIDE_TARGET',
        'SCOPE.INVALID',
        'SCOPE.INVALID',
        'SCOPE.INVALID',
      ]);
      expect(messages(r)).toContain('"s3:GetObject" is an AWS action or resource pattern');
    });

    it('fails closed on rule scopes wider than the target', () => {
      expect(codes(resolveScope(grpcTargetDummy(), ['/acme.*'], []))).toEqual(['SCOPE.POLICY_INVALID']);
    });
  });

  describe('gcp-role targets', () => {
    it('grants the target roles when nothing narrows them', () => {
      expect(resolveScope(gcpTargetDummy(), undefined, [])).toEqual({
        ok: true,
        scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'] },
      });
    });

    it('grants a requested role only when it is exactly one of the allowed roles', () => {
      expect(resolveScope(gcpTargetDummy(), undefined, ['roles/bigquery.jobUser'])).toEqual({
        ok: true,
        scope: { kind: 'gcp-role', roles: ['roles/bigquery.jobUser'] },
      });
      expect(codes(resolveScope(gcpTargetDummy(), undefined, ['roles/bigquery.admin']))).toEqual([
        'SCOPE.OUTSIDE_TARGET',
      ]);
      expect(codes(resolveScope(gcpTargetDummy(), undefined, ['roles/BigQuery.jobUser']))).toEqual([
        'SCOPE.OUTSIDE_TARGET',
      ]);
      expect(codes(resolveScope(gcpTargetDummy(), ['roles/bigquery.dataViewer'], ['roles/bigquery.jobUser']))).toEqual([
        'SCOPE.OUTSIDE_TARGET',
      ]);
    });

    it('refuses basic roles, which cannot carry the expiry condition', () => {
      const r = resolveScope(gcpTargetDummy({ roles: ['roles/viewer'] }), undefined, []);
      expect(codes(r)).toEqual(['SCOPE.POLICY_INVALID']);
      const requested = resolveScope(gcpTargetDummy(), undefined, ['roles/owner', 'roles/*']);
      expect(codes(requested)).toEqual(['SCOPE.INVALID', 'SCOPE.INVALID']);
      expect(messages(requested)).toContain('would not expire by itself');
    });
  });

  it(`refuses more than ${MAX_REQUESTED_SCOPES} requested scopes before examining them`, () => {
    // Arrange
    const many = Array.from({ length: MAX_REQUESTED_SCOPES + 1 }, (_, i) => `/acme.admin.v1.S/M${i}`);

    // Act
    const r = resolveScope(grpcTargetDummy(), undefined, many);

    // Assert
    expect(r).toEqual({
      ok: false,
      reasons: [{ code: 'SCOPE.TOO_MANY', message: '51 scopes requested; at most 50 are allowed' }],
    });
    expect(resolveScope(grpcTargetDummy(), undefined, many.slice(0, MAX_REQUESTED_SCOPES)).ok).toBe(true);
  });
});

describe('Function: validateScopeAgainstTarget', () => {
  it.each<[Target, string]>([
    [awsTargetDummy(), 's3:GetObject'],
    [awsTargetDummy(), 'S3:getobject'],
    [awsTargetDummy(), 'arn:aws:s3:::prod-logs/team-a/*'],
    [grpcTargetDummy(), '/acme.admin.*'],
    [grpcTargetDummy(), '/acme.user.v1.UserService/GetUser'],
    [gcpTargetDummy(), 'roles/bigquery.jobUser'],
  ])('accepts a scope inside %# target: %s', (target, scope) => {
    expect(validateScopeAgainstTarget(target, scope)).toBeUndefined();
  });

  it.each<[Target, string, string]>([
    [awsTargetDummy(), 's3:PutObject', 'is outside'],
    [awsTargetDummy(), 's3:*', 'could not be proven'],
    [awsTargetDummy(), 'arn:aws:s3:::other/*', 'could not be proven'],
    [awsTargetDummy(), 'arn:aws:s3:::other', 'is outside'],
    [awsTargetDummy(), '*', 'every action'],
    [awsTargetDummy(), '/acme.admin.*', 'gRPC method pattern'],
    [grpcTargetDummy(), '/acme.*', 'is outside'],
    [grpcTargetDummy(), '/acme.admin.*/X', "'*' before the last segment"],
    [grpcTargetDummy(), 'roles/owner', 'a GCP role'],
    [gcpTargetDummy(), 'roles/owner', 'basic role'],
    [gcpTargetDummy(), 'roles/bigquery.admin', 'is outside'],
    [gcpTargetDummy(), 'roles/big query', 'not a role name'],
  ])('refuses for %# target: %s (%s)', (target, scope, why) => {
    expect(validateScopeAgainstTarget(target, scope)).toContain(why);
  });
});

// ---- Property: never wider than the target ----------------------------------------------------------------------

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const some = <T>(arb: fc.Arbitrary<T>, max: number, min = 0) => fc.array(arb, { minLength: min, maxLength: max });

const methodPattern = pick([
  '/a.*',
  '/a.b.*',
  '/a.b/*',
  '/a.b/C',
  '/a.b/CD',
  '/a.bc/*',
  '/a/b/*',
  '/a/b/C',
  '/a/bc/*',
  '/b.*',
  '/*',
  '/a..b/C',
]);
const actionPattern = pick([
  's3:Get*',
  's3:GetObject',
  's3:G?tObject',
  's3:*',
  'S3:get*',
  'ec2:Describe*',
  's3:List*',
  '*',
]);
const arnPattern = pick([
  'arn:aws:s3:::logs',
  'arn:aws:s3:::logs/*',
  'arn:aws:s3:::logs/a/*',
  'arn:aws:s3:::logs/a/?x',
  'arn:aws:s3:::logs/*/x',
  'arn:aws:s3:::*',
  'arn:aws:s3:::logs/a:b',
  'arn:aws:s3:us-*:1:logs/*',
  'arn:aws:s3:*:1:logs/*',
  'arn:aws:s3:us-east-1:1:logs/a',
]);
const role = pick(['roles/a.x', 'roles/a.y', 'roles/b', 'roles/owner', 'projects/acme-analytics/roles/reader']);

/** Concrete values an effective pattern grants, for a check that does not rely on the containment functions. */
const expandMethod = (p: string): string[] =>
  p.endsWith('*') ? [`${p.slice(0, -1)}Z/Q`, `${p.slice(0, -1)}Z.Y/Q`] : [p];
const expandGlob = (p: string): string[] => [
  p.replace(/\*/g, '').replace(/\?/g, 'q'),
  p.replace(/\*/g, 'zz/z').replace(/\?/g, 'q'),
];

/**
 * Rule scopes and requests drawn partly from the target's own list (so that many requests are granted) and
 * partly from the whole pool (so that wider, foreign and malformed scopes are tried too).
 */
const scenario = <T>(pool: fc.Arbitrary<T>) =>
  some(pool, 3, 1).chain((targetItems) => {
    const near = fc.oneof(fc.constantFrom(...targetItems), pool);
    return fc.tuple(fc.constant(targetItems), fc.option(some(near, 3), { nil: undefined }), some(near, 4));
  });

describe('Property: resolveScope never returns a scope wider than the target', () => {
  it('for grpc targets', () => {
    let granted = 0;
    fc.assert(
      fc.property(scenario(methodPattern), ([methods, ruleScopes, requested]) => {
        const r = resolveScope(grpcTargetDummy({ methods }), ruleScopes, requested);
        if (!r.ok || r.scope.kind !== 'grpc') return;
        granted++;
        for (const m of r.scope.methods) {
          expect(methods.some((t) => methodPatternWithin(m, t))).toBe(true);
          for (const path of expandMethod(m)) expect(methods.some((t) => methodMatches(t, path))).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
    expect(granted).toBeGreaterThan(120);
  });

  it('for aws-role targets', () => {
    let granted = 0;
    const halves = fc.tuple(scenario(actionPattern), scenario(arnPattern));
    fc.assert(
      fc.property(
        halves,
        ([[actions, ruleActions, requestedActions], [resources, ruleResources, requestedResources]]) => {
          const ruleScopes =
            ruleActions === undefined && ruleResources === undefined
              ? undefined
              : [...(ruleActions ?? []), ...(ruleResources ?? [])];
          const requested = [...requestedActions, ...requestedResources];
          const r = resolveScope(awsTargetDummy({ actions, resources }), ruleScopes, requested);
          if (!r.ok || r.scope.kind !== 'aws-role') return;
          granted++;
          for (const a of r.scope.actions) {
            expect(actions.some((t) => actionCovered(a, t))).toBe(true);
            for (const v of expandGlob(a)) {
              expect(actions.some((t) => iamPatternMatches(t, v, { caseInsensitive: true }))).toBe(true);
            }
          }
          for (const res of r.scope.resources) {
            expect(resources.some((t) => resourceContained(res, t))).toBe(true);
            for (const v of expandGlob(res)) expect(resources.some((t) => iamPatternMatches(t, v))).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
    expect(granted).toBeGreaterThan(60);
  });

  it('for gcp-role targets', () => {
    let granted = 0;
    fc.assert(
      fc.property(scenario(role), ([roles, ruleScopes, requested]) => {
        const r = resolveScope(gcpTargetDummy({ roles }), ruleScopes, requested);
        if (!r.ok || r.scope.kind !== 'gcp-role') return;
        granted++;
        for (const x of r.scope.roles) {
          expect(roles).toContain(x);
          expect(x).not.toBe('roles/owner');
        }
      }),
      { numRuns: 500 },
    );
    expect(granted).toBeGreaterThan(50);
  });
});
