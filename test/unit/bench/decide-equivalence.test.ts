import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CedarEngine, cedarRule } from '../../../bench/lib/cedar';
import { compareEngines, decideTimebox, loadTimebox, timeboxCall } from '../../../bench/lib/compare';
import {
  type GeneratedPolicy,
  type GenRequest,
  type GenRule,
  type GenTarget,
  generatePolicy,
  policyYaml,
  sampleRequests,
} from '../../../bench/lib/policy-gen';
import { loadPolicy } from '../../../core/policy/load';

/** A small policy of the benchmark's shape: the correctness half of the benchmark, cheap enough for CI. */
const SMALL = { rules: 50, principals: 400, groups: 12, targets: 30 };

/** A hand-made one-rule model: group `ops` = {ana, ben}, grpc target `api`, rule `r` as given. */
function modelDummy(rule: Partial<GenRule> = {}): GeneratedPolicy {
  const target: GenTarget = {
    kind: 'grpc',
    name: 'api',
    audience: 'api',
    methods: ['/acme.api.v1.Api/*'],
    narrowings: [],
    probes: [],
  };
  const r: GenRule = {
    name: 'r',
    whoGroups: ['ops'],
    whoPrincipals: [],
    targets: ['api'],
    approval: 'auto',
    mfa: false,
  };
  const members = ['ana@corp.example', 'ben@corp.example'];
  return {
    seed: 0,
    principals: members,
    groups: [{ name: 'ops', principals: members, nested: [] }],
    targets: [target],
    rules: [{ ...r, ...rule }],
    membersOf: new Map([['ops', new Set(members)]]),
    groupsOf: new Map(members.map((m) => [m, ['ops']])),
    targetByName: new Map([['api', target]]),
  };
}

const requestDummy = (r: Partial<GenRequest> = {}): GenRequest => ({
  principal: 'ana@corp.example',
  target: 'api',
  durationSeconds: 1800,
  mfa: false,
  sourceIp: '10.1.2.3',
  ...r,
});

describe('Module: bench/lib/policy-gen', () => {
  describe('Function: generatePolicy', () => {
    it('is deterministic for a seed, and another seed gives another policy', () => {
      // Act
      const a = policyYaml(generatePolicy(11, SMALL));
      const b = policyYaml(generatePolicy(11, SMALL));
      const c = policyYaml(generatePolicy(12, SMALL));
      // Assess
      expect(a).toBe(b);
      expect(c).not.toBe(a);
    });

    it('produces a file the real loader accepts, with the size asked for', () => {
      // Act
      const loaded = loadPolicy(policyYaml(generatePolicy(11, SMALL)));
      // Assess
      expect(loaded.ok).toBe(true);
      if (!loaded.ok) return;
      expect(loaded.policy.rules).toHaveLength(50);
      expect(Object.keys(loaded.policy.targets)).toHaveLength(30);
      expect(Object.keys(loaded.policy.groups)).toHaveLength(12);
      // Every feature the benchmark claims to compare is present.
      const rules = loaded.policy.rules;
      expect(rules.some((r) => r.scopes !== undefined)).toBe(true);
      expect(rules.some((r) => r.require.mfa)).toBe(true);
      expect(rules.some((r) => r.when.sourceIp !== undefined)).toBe(true);
      expect(rules.some((r) => r.approval.kind === 'approvers')).toBe(true);
      expect(rules.some((r) => r.who.some((s) => s.kind === 'principal'))).toBe(true);
      expect(new Set(Object.values(loaded.policy.targets).map((t) => t.kind))).toEqual(
        new Set(['aws-role', 'grpc', 'gcp-role']),
      );
    });
  });

  describe('Function: sampleRequests', () => {
    it('is deterministic for a seed', () => {
      const policy = generatePolicy(11, SMALL);
      expect(sampleRequests(policy, 200, 5)).toEqual(sampleRequests(policy, 200, 5));
      expect(sampleRequests(policy, 200, 6)).not.toEqual(sampleRequests(policy, 200, 5));
    });
  });
});

describe('Module: bench/lib/cedar', () => {
  describe('Function: cedarRule', () => {
    it('encodes target, duration cap, scopes, who, MFA and source IP of a rule', () => {
      // Prepare
      const model = modelDummy({
        maxMinutes: 30,
        mfa: true,
        sourceIp: ['10.0.0.0/8'],
        scopes: ['/acme.api.v1.Api/Get'],
      });
      // Act
      const text = cedarRule(model, model.rules[0] as GenRule);
      // Assess
      expect(text).toContain('resource == Target::"api" && context.durationSeconds <= 1800');
      expect(text).toContain('context.scope like "/acme.api.v1.Api/Get"');
      expect(text).toContain('principal in [Group::"ops"]');
      expect(text).toContain('context.mfa');
      expect(text).toContain('ip(context.sourceIp).isInRange(ip("10.0.0.0/8"))');
    });
  });
});

describe('Module: bench/lib/compare', () => {
  describe('Function: compareEngines', () => {
    it('finds Timebox and Cedar agreeing on 2,000 sampled requests over a small generated policy', () => {
      // Prepare
      const policy = generatePolicy(20_260_303, SMALL);
      const requests = sampleRequests(policy, 2_000, 7);
      // Act
      const cmp = compareEngines(policy, requests);
      // Assess
      expect(cmp.disagreements.slice(0, 3)).toEqual([]);
      expect(cmp.agree).toBe(true);
      expect(cmp.cedarErrors).toBe(0);
      // The sample exercises both answers, and approval rules as well as auto ones.
      expect(cmp.timebox.allow).toBeGreaterThan(200);
      expect(cmp.timebox['needs-approval']).toBeGreaterThan(100);
      expect(cmp.timebox.deny).toBeGreaterThan(200);
      expect(cmp.cedar.allow).toBe(cmp.timebox.allow + cmp.timebox['needs-approval']);
    }, 120_000);

    it('agrees on tiny policies for any seed', () => {
      const TINY = { rules: 20, principals: 120, groups: 6, targets: 10 };
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
          const policy = generatePolicy(seed, TINY);
          const cmp = compareEngines(policy, sampleRequests(policy, 200, seed + 1));
          expect(cmp.disagreements.slice(0, 1)).toEqual([]);
        }),
        { numRuns: 8 },
      );
    }, 120_000);

    it('catches an encoding that drops a condition', () => {
      // Prepare: Cedar forgets every rule's MFA requirement; Timebox still enforces it.
      const policy = generatePolicy(20_260_303, SMALL);
      const careless: GeneratedPolicy = { ...policy, rules: policy.rules.map((r) => ({ ...r, mfa: false })) };
      const requests = sampleRequests(policy, 500, 7);
      // Act
      const cmp = compareEngines(policy, requests, careless);
      // Assess
      expect(cmp.agree).toBe(false);
      const first = cmp.disagreements[0];
      expect(first).toMatchObject({ timebox: 'deny', cedar: 'allow', request: { mfa: false } });
      expect(first?.timeboxReasons.join(' ')).toContain('CONDITION.MFA_REQUIRED');
    }, 120_000);

    it('agrees when the Cedar set is sliced by target', () => {
      const policy = generatePolicy(3, SMALL);
      const requests = sampleRequests(policy, 300, 9);
      const compiled = loadTimebox(policyYaml(policy));
      const sliced = new CedarEngine(policy, { sliceByTarget: true });
      const mismatches = requests.filter((r) => {
        const t = decideTimebox(compiled, timeboxCall(r)).decision === 'deny' ? 'deny' : 'allow';
        return t !== sliced.decide(sliced.call(r));
      });
      expect(mismatches).toEqual([]);
    }, 60_000);
  });

  describe('known semantic difference', () => {
    it('an IPv4-mapped IPv6 source address is inside 10.0.0.0/8 for Timebox but an evaluation error for Cedar', () => {
      // Prepare
      const model = modelDummy({ sourceIp: ['10.0.0.0/8'] });
      const mapped = requestDummy({ sourceIp: '::ffff:10.1.2.3' });
      // Act
      const cmp = compareEngines(model, [requestDummy(), mapped]);
      // Assess: the plain address agrees; the mapped one is the documented difference.
      expect(cmp.disagreements.map((d) => d.index)).toEqual([1]);
      expect(cmp.disagreements[0]).toMatchObject({ timebox: 'allow', cedar: 'deny' });
      expect(cmp.disagreements[0]?.cedarErrors.join(' ')).toMatch(/IPv4 embedded in IPv6/);
    });
  });
});
