import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { type Decision, decide } from '../../core/decide';
import { compilePolicy } from '../../core/policy/compile';
import { loadPolicy } from '../../core/policy/load';
import { principal } from '../../core/principal';
import { expectWith } from '../helpers/runner';
import { compileYaml } from '../helpers/world';

const MIN = 60_000;
const HOUR = 60 * MIN;
const design = compileYaml(readFileSync(join(__dirname, '../fixtures/policies/design-example.yaml'), 'utf8'));
// A Tuesday inside the design example's "Mon-Fri 08:00-18:00 UTC".
const tuesday10 = new Date('2026-11-24T10:00:00Z');
const alice = principal({ id: 'alice@corp.com', sourceIp: '10.1.2.3' });
const codes = (d: Decision) => d.reasons.map((r) => r.code);

describe('Function: decide', () => {
  describe('with the design example', () => {
    it('auto-approves sre reading logs inside hours from the office network', () => {
      const d = decide(design, alice, { target: 'prod-logs', scopes: [], duration: 30 * MIN }, tuesday10);
      expect(d).toMatchObject({ decision: 'allow', rule: 'sre-reads-logs', approval: null, maxDuration: HOUR });
      expect(d.expiresAt?.toISOString()).toBe('2026-11-24T10:30:00.000Z');
      expect(d.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
      });
    });

    it('narrows each half of an AWS scope separately', () => {
      const d = decide(
        design,
        alice,
        { target: 'prod-logs', scopes: ['s3:GetObject', 'arn:aws:s3:::prod-logs/team-a/*'], duration: 30 * MIN },
        tuesday10,
      );
      expect(d.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:GetObject'],
        resources: ['arn:aws:s3:::prod-logs/team-a/*'],
      });
      const half = decide(
        design,
        alice,
        { target: 'prod-logs', scopes: ['s3:GetObject'], duration: 30 * MIN },
        tuesday10,
      );
      expect(half.scope).toEqual({
        kind: 'aws-role',
        actions: ['s3:GetObject'],
        resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
      });
    });

    it('denies with a stable code for each broken condition', () => {
      const at = (iso: string) => new Date(iso);
      const cases: [string, Decision, string][] = [
        [
          'too long',
          decide(design, alice, { target: 'prod-logs', scopes: [], duration: 2 * HOUR }, tuesday10),
          'DURATION.TOO_LONG',
        ],
        [
          'saturday',
          decide(design, alice, { target: 'prod-logs', scopes: [], duration: 30 * MIN }, at('2026-11-28T10:00:00Z')),
          'CONDITION.OUTSIDE_HOURS',
        ],
        [
          'runs past 18:00',
          decide(design, alice, { target: 'prod-logs', scopes: [], duration: 45 * MIN }, at('2026-11-24T17:30:00Z')),
          'CONDITION.OUTSIDE_HOURS',
        ],
        [
          'outside network',
          decide(
            design,
            principal({ id: 'alice@corp.com', sourceIp: '192.0.2.1' }),
            { target: 'prod-logs', scopes: [], duration: 30 * MIN },
            tuesday10,
          ),
          'CONDITION.SOURCE_IP',
        ],
        [
          'no source ip',
          decide(
            design,
            principal({ id: 'alice@corp.com' }),
            { target: 'prod-logs', scopes: [], duration: 30 * MIN },
            tuesday10,
          ),
          'CONDITION.SOURCE_IP',
        ],
        [
          'scope outside',
          decide(design, alice, { target: 'prod-logs', scopes: ['s3:PutObject'], duration: 30 * MIN }, tuesday10),
          'SCOPE.OUTSIDE_TARGET',
        ],
        [
          'wider resource',
          decide(
            design,
            alice,
            { target: 'prod-logs', scopes: ['arn:aws:s3:::prod-*'], duration: 30 * MIN },
            tuesday10,
          ),
          'SCOPE.OUTSIDE_TARGET',
        ],
        [
          'no mfa',
          decide(design, alice, { target: 'user-service', scopes: ['/acme.admin.*'], duration: 10 * MIN }, tuesday10),
          'CONDITION.MFA_REQUIRED',
        ],
        [
          'start in past',
          decide(
            design,
            alice,
            { target: 'prod-logs', scopes: [], duration: 30 * MIN, startAt: at('2026-11-24T09:00:00Z') },
            tuesday10,
          ),
          'START.IN_PAST',
        ],
        [
          'start too far',
          decide(
            design,
            alice,
            { target: 'prod-logs', scopes: [], duration: 30 * MIN, startAt: at('2026-12-24T10:00:00Z') },
            tuesday10,
          ),
          'START.TOO_FAR',
        ],
        [
          'zero',
          decide(design, alice, { target: 'prod-logs', scopes: [], duration: 0 }, tuesday10),
          'DURATION.INVALID',
        ],
        [
          'unknown target',
          decide(design, alice, { target: 'nope', scopes: [], duration: MIN }, tuesday10),
          'TARGET.UNKNOWN',
        ],
        [
          'not in who',
          decide(
            design,
            principal({ id: 'carol@corp.com', sourceIp: '10.0.0.1' }),
            { target: 'prod-logs', scopes: [], duration: MIN },
            tuesday10,
          ),
          'RULE.NO_MATCH',
        ],
      ];
      for (const [name, d, code] of cases) {
        expectWith(d.decision, name).toBe('deny');
        expectWith(codes(d), name).toContain(code);
        expectWith(d.expiresAt, name).toBeNull();
        expectWith(d.scope, name).toBeNull();
      }
    });

    it('needs two secops approvals and MFA for break-glass admin', () => {
      const d = decide(
        design,
        principal({ id: 'bob@corp.com', mfa: true }),
        { target: 'user-service', scopes: ['/acme.admin.*'], duration: 30 * MIN },
        tuesday10,
      );
      expect(d).toMatchObject({
        decision: 'needs-approval',
        rule: 'admin-break-glass',
        approval: { count: 2, from: ['group:secops'], requireMfa: true },
      });
      expect(d.pendingUntil?.toISOString()).toBe('2026-11-24T10:30:00.000Z');
    });

    it('counts groups the identity source asserts', () => {
      const d = decide(
        design,
        principal({ id: 'zoe@corp.com', groups: ['sre'], sourceIp: '10.0.0.9' }),
        { target: 'prod-logs', scopes: [], duration: MIN },
        tuesday10,
      );
      expect(d.decision).toBe('allow');
    });

    it('matches principal ids case-insensitively', () => {
      const d = decide(
        design,
        principal({ id: 'ALICE@Corp.com', sourceIp: '10.0.0.9' }),
        { target: 'prod-logs', scopes: [], duration: MIN },
        tuesday10,
      );
      expect(d.decision).toBe('allow');
    });
  });

  it('prefers the rule needing least approval, then the earliest', () => {
    const compiled = compileYaml(`
version: 1
groups: { dev: [ann@x.io, ben@x.io], leads: [lea@x.io, lou@x.io, lin@x.io] }
targets: { api: { kind: grpc, audience: api, methods: [/acme.api.v1.Api/*] } }
rules:
  - { name: two, who: [group:dev], targets: [api], approval: { from: group:leads, count: 2 } }
  - { name: one-b, who: [group:dev], targets: [api], approval: { from: group:leads, count: 1 } }
  - { name: one-a, who: [group:dev], targets: [api], approval: { from: group:leads, count: 1 } }
  - { name: auto-short, who: [group:dev], targets: [api], maxDuration: 10m, approval: auto }
`);
    const ann = principal({ id: 'ann@x.io' });
    expect(decide(compiled, ann, { target: 'api', scopes: [], duration: 5 * MIN }, tuesday10).rule).toBe('auto-short');
    expect(decide(compiled, ann, { target: 'api', scopes: [], duration: 30 * MIN }, tuesday10).rule).toBe('one-b');
  });

  it('refuses a session policy larger than STS accepts', () => {
    const resources = Array.from({ length: 60 }, (_, i) => `"arn:aws:s3:::bucket-with-a-long-name-${i}/*"`).join(', ');
    const compiled = compileYaml(`
version: 1
targets: { big: { kind: aws-role, account: "111122223333", role: r, actions: [s3:GetObject], resources: [${resources}] } }
rules: [{ name: r, who: [ann@x.io], targets: [big], approval: auto }]
`);
    const d = decide(compiled, principal({ id: 'ann@x.io' }), { target: 'big', scopes: [], duration: MIN }, tuesday10);
    expect(d.decision).toBe('deny');
    expect(codes(d)).toEqual(['SCOPE.TOO_LARGE']);
  });

  describe('properties', () => {
    const policyText = `
version: 1
settings: { maxDuration: 3h }
groups: { a: [p1, p2, p3], b: [p2, p3, p4], c: [p5, p6, p7] }
targets:
  logs: { kind: aws-role, account: "111122223333", role: r, actions: ["s3:Get*", s3:ListBucket], resources: ["arn:aws:s3:::l", "arn:aws:s3:::l/*"], maxDuration: 2h }
  svc: { kind: grpc, audience: svc, methods: [/acme.svc.v1.S/*, /acme.admin.*] }
rules:
  - { name: r1, who: [group:a], targets: [logs], maxDuration: 1h, approval: auto }
  - { name: r2, who: [group:b], targets: [logs, svc], approval: { from: group:c, count: 2 } }
  - { name: r3, who: [group:a, p5], targets: [svc], scopes: [/acme.svc.v1.S/*], maxDuration: 30m, approval: auto, when: { sourceIp: [10.0.0.0/8] } }
  - { name: r4, who: [group:c], targets: [svc], scopes: [/acme.admin.*], maxDuration: 15m, approval: { from: group:a, count: 1 }, require: { mfa: true } }
`;
    const requestArb = fc.record({
      who: fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8'),
      mfa: fc.boolean(),
      ip: fc.constantFrom('10.1.1.1', '192.0.2.1', undefined),
      target: fc.constantFrom('logs', 'svc', 'other'),
      scopes: fc.subarray([
        's3:GetObject',
        's3:Get*',
        's3:*',
        'arn:aws:s3:::l/x/*',
        '/acme.svc.v1.S/Get',
        '/acme.admin.*',
        '/acme.*',
      ]),
      minutes: fc.integer({ min: -5, max: 400 }),
      startIn: fc.option(fc.integer({ min: -120, max: 20_000 }), { nil: undefined }),
    });
    type Case = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;
    const compiled = compileYaml(policyText);
    const loaded = loadPolicy(policyText);
    if (!loaded.ok) throw new Error('fixture does not load');
    const run = (c: typeof compiled, r: Case) =>
      decide(
        c,
        principal({ id: r.who, mfa: r.mfa, ...(r.ip ? { sourceIp: r.ip } : {}) }),
        {
          target: r.target,
          scopes: r.scopes,
          duration: r.minutes * MIN,
          ...(r.startIn === undefined ? {} : { startAt: new Date(tuesday10.getTime() + r.startIn * MIN) }),
        },
        tuesday10,
      );

    it('no decision exceeds its caps or its target', () => {
      fc.assert(
        fc.property(requestArb, (r) => {
          const d = run(compiled, r);
          if (d.decision === 'deny') {
            expect(d.expiresAt).toBeNull();
            return;
          }
          const target = compiled.target(r.target);
          const rule = compiled.rule(d.rule as string);
          const length = (d.expiresAt as Date).getTime() - d.startAt.getTime();
          expect(length).toBe(r.minutes * MIN);
          expect(length).toBeLessThanOrEqual(
            Math.min(rule?.maxDuration ?? Infinity, target?.maxDuration ?? Infinity, 3 * HOUR),
          );
          expect(length).toBeGreaterThan(0);
          expect(d.startAt.getTime()).toBeGreaterThanOrEqual(tuesday10.getTime());
          if (d.scope?.kind === 'grpc')
            for (const m of d.scope.methods)
              expect(['/acme.svc.v1.S/*', '/acme.admin.*', '/acme.svc.v1.S/Get']).toContain(m);
          if (d.scope?.kind === 'aws-role') expect(d.scope.actions).not.toContain('s3:*');
        }),
        { numRuns: 2000 },
      );
    });

    it('removing a principal from a group never increases what it gets', () => {
      const rank = (d: Decision) => (d.decision === 'allow' ? 2 : d.decision === 'needs-approval' ? 1 : 0);
      fc.assert(
        fc.property(requestArb, fc.constantFrom('a', 'b', 'c'), (r, group) => {
          const smaller = structuredClone(loaded.policy);
          smaller.groups[group] = (smaller.groups[group] ?? []).filter((m) => m !== r.who);
          const before = run(compiled, r);
          const after = run(compilePolicy(smaller), r);
          expect(rank(after)).toBeLessThanOrEqual(rank(before));
          if (rank(after) === rank(before) && after.decision !== 'deny') {
            expect(after.approval?.count ?? 0).toBeGreaterThanOrEqual(before.approval?.count ?? 0);
            expect(after.expiresAt?.getTime()).toBe(before.expiresAt?.getTime());
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});

describe('Identity Center groups (sso:<PermissionSet>)', () => {
  const policy = compileYaml(`version: 1
targets:
  admin-api:
    kind: grpc
    audience: admin-api
    methods: [/acme.admin.*]
rules:
  - name: admins-by-permission-set
    who: [group:sso:AdminAccess]
    targets: [admin-api]
    maxDuration: 1h
    approval: auto
`);
  const ask = { target: 'admin-api', scopes: [], duration: 30 * MIN };

  it('admits a principal whose session asserts the permission set, without declaring the group', () => {
    const d = decide(policy, principal({ id: 'ann@corp.com', groups: ['sso:AdminAccess'] }), ask, tuesday10);
    expect(d).toMatchObject({ decision: 'allow', rule: 'admins-by-permission-set' });
  });

  it('matches the permission set name exactly: another case or another set is denied', () => {
    for (const groups of [['sso:adminaccess'], ['sso:AdminAccessX'], ['AdminAccess'], []])
      expect(decide(policy, principal({ id: 'ann@corp.com', groups }), ask, tuesday10).decision).toBe('deny');
  });

  it('refuses an sso group reference that no permission set can have', () => {
    const r = loadPolicy(`version: 1
targets:
  admin-api: {kind: grpc, audience: admin-api, methods: [/acme.admin.*]}
rules:
  - {name: r, who: ["group:sso:Admin Access"], targets: [admin-api], maxDuration: 1h, approval: auto}
`);
    expect(r.ok).toBe(false);
  });
});
