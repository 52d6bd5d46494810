import { beforeAll, describe, expect, it } from '@jest/globals';
import { type ConfigError, parseSpokeConfig } from '../../stacks/config';
// Importing declares nothing: resources register only when spoke() runs, after setMocks.
import { spoke, validateSpokeArgs } from '../../stacks/spoke';
import {
  ACCOUNT,
  docOf,
  installMocks,
  type MockWorld,
  POLICY_YAML,
  projectWithPolicy,
  promiseOf,
  resolveAll,
  SPOKE_ACCOUNT,
} from './helpers/pulumi-mocks';

/** The spoke program under mocks, deployed as the spoke account (getCallerIdentity answers SPOKE_ACCOUNT). */

const HUB = {
  api: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-api`,
  revoke: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-revoke`,
  sweeper: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-sweeper`,
};

/** The hub stack's trailBucket and trailKeyArn outputs. */
const AUDIT = { bucket: 'audit-bucket-abc1234', keyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/key-audit` };

let world: MockWorld;
let out: Awaited<ReturnType<typeof spoke>>;

beforeAll(async () => {
  world = await installMocks({ account: SPOKE_ACCOUNT, project: 'timebox-spoke', stack: 'acme-logs' });
  out = await spoke({
    config: { policyFile: 'access.yaml', hubRoles: HUB, auditTrail: AUDIT },
    projectDir: projectWithPolicy(POLICY_YAML),
  });
  await resolveAll(out);
  await world.settle();
});

describe('Program: spoke', () => {
  it("creates only this account's targets, capped by the spoke boundary and trusting only the hub api role", async () => {
    const roles = world.ofType('aws:iam/role:Role');
    const targets = roles.filter((r) => r.name.startsWith('spoke-targets-'));
    expect(targets.map((r) => r.inputs.name)).toEqual(['timebox-spoke-logs']);
    const boundary = world.one('aws:iam/policy:Policy', 'spoke-boundary-policy');
    expect(boundary.inputs.path).toBe('/timebox/');
    expect(targets[0]?.inputs.permissionsBoundary).toBe(boundary.state.arn);
    for (const s of docOf(targets[0]?.inputs.assumeRolePolicy).Statement) expect(s.Principal).toEqual({ AWS: HUB.api });
    expect(await promiseOf(out.targetRoleArns)).toEqual({
      'spoke-logs': `arn:aws:iam::${SPOKE_ACCOUNT}:role/timebox/timebox-spoke-logs`,
    });
  });

  it('creates the revoker under /timebox/, trusted by the three hub roles, allowed only the four IAM calls', () => {
    const revoker = world.one('aws:iam/role:Role', 'spoke-revoker');
    expect(revoker.inputs.name).toBe('timebox-revoker');
    expect(revoker.inputs.path).toBe('/timebox/');
    expect(docOf(revoker.inputs.assumeRolePolicy).Statement).toEqual([
      { Effect: 'Allow', Principal: { AWS: [HUB.api, HUB.revoke, HUB.sweeper] }, Action: 'sts:AssumeRole' },
    ]);
    const policy = docOf(world.one('aws:iam/rolePolicy:RolePolicy', 'spoke-revoker-policy').inputs.policy);
    expect(policy.Statement.flatMap((s) => s.Action as string[]).sort()).toEqual([
      'iam:DeleteRolePolicy',
      'iam:GetRolePolicy',
      'iam:ListRolePolicies',
      'iam:PutRolePolicy',
    ]);
    for (const s of policy.Statement) expect(s.Resource).toBe(`arn:aws:iam::${SPOKE_ACCOUNT}:role/timebox/*`);
    const boundaryArn = world.one('aws:iam/policy:Policy', 'spoke-boundary-policy').state.arn;
    const write = policy.Statement.find((s) => (s.Action as string[]).includes('iam:PutRolePolicy'));
    expect(write?.Condition).toEqual({ StringEquals: { 'iam:PermissionsBoundary': boundaryArn } });
  });

  it("records this account's calls in the hub bucket: every region, global services, validated, the hub key", async () => {
    const trail = world.one('aws:cloudtrail/trail:Trail', 'spoke-trail').inputs;
    expect(trail).toMatchObject({
      name: 'timebox-spoke-acme-logs-trail',
      s3BucketName: AUDIT.bucket,
      kmsKeyId: AUDIT.keyArn,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableLogFileValidation: true,
    });
    expect(trail.isOrganizationTrail).toBeUndefined();
    expect(trail.advancedEventSelectors).toEqual([
      { name: 'Management events', fieldSelectors: [{ field: 'eventCategory', equals: ['Management'] }] },
    ]);
    expect(out.trailArn && (await promiseOf(out.trailArn))).toBe(
      `arn:aws:cloudtrail:eu-west-1:${SPOKE_ACCOUNT}:trail/timebox-spoke-acme-logs-trail`,
    );
  });

  it('keeps grant sessions away from the trail that records them', () => {
    const boundary = docOf(world.one('aws:iam/policy:Policy', 'spoke-boundary-policy').inputs.policy);
    const deny = boundary.Statement.find((s) => s.Sid === 'TimeboxProtectBroker');
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Action: '*',
      Resource: `arn:aws:cloudtrail:eu-west-1:${SPOKE_ACCOUNT}:trail/timebox-spoke-acme-logs-trail`,
    });
  });

  it('names the boundary after the spoke stack', () => {
    expect(world.one('aws:iam/policy:Policy', 'spoke-boundary-policy').inputs.name).toBe(
      'timebox-spoke-acme-logs-boundary',
    );
  });
});

describe('Function: validateSpokeArgs', () => {
  const args = { account: SPOKE_ACCOUNT, partition: 'aws', targets: [], hubRoles: HUB, boundaryName: 'b' };

  it('refuses an audit key outside the hub account or the partition, and a bad trail name', () => {
    const auditTrail = { ...AUDIT, trailName: 'timebox-spoke-trail', region: 'eu-west-1' };
    expect(() => validateSpokeArgs({ ...args, auditTrail })).not.toThrow();
    expect(() =>
      validateSpokeArgs({ ...args, auditTrail: { ...auditTrail, keyArn: 'arn:aws:kms:eu-west-1:999999999999:key/k' } }),
    ).toThrow(/auditTrail.keyArn is in account 999999999999, not the hub account/);
    expect(() =>
      validateSpokeArgs({
        ...args,
        auditTrail: { ...auditTrail, keyArn: `arn:aws-cn:kms:cn-north-1:${ACCOUNT}:key/k` },
      }),
    ).toThrow(/not in partition aws/);
    expect(() => validateSpokeArgs({ ...args, auditTrail: { ...auditTrail, trailName: '-x' } })).toThrow(
      /not a valid CloudTrail trail name/,
    );
  });

  it('refuses hub roles from the spoke account itself or from several accounts', () => {
    expect(() => validateSpokeArgs({ ...args, account: ACCOUNT })).toThrow(/is the hub account/);
    expect(() =>
      validateSpokeArgs({ ...args, hubRoles: { ...HUB, sweeper: 'arn:aws:iam::999999999999:role/x' } }),
    ).toThrow(/several accounts/);
  });
});

describe('Function: parseSpokeConfig', () => {
  it('refuses missing or malformed keys, naming them', () => {
    const problems = (raw: Record<string, string | undefined>) => {
      try {
        parseSpokeConfig(raw);
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems({ hubRoles: JSON.stringify(HUB) })).toEqual([expect.stringMatching(/^timebox:policyFile: /)]);
    expect(problems({ policyFile: 'a.yaml', hubRoles: 'x' })).toEqual([
      expect.stringMatching(/^timebox:hubRoles: must be JSON/),
    ]);
    expect(problems({ policyFile: 'a.yaml', hubRoles: JSON.stringify({ ...HUB, api: 'nope' }) })).toEqual([
      'timebox:hubRoles.api: must be an IAM role ARN',
    ]);
    expect(parseSpokeConfig({ policyFile: 'a.yaml', hubRoles: JSON.stringify(HUB) }).hubRoles).toEqual(HUB);
    const withAudit = { policyFile: 'a.yaml', hubRoles: JSON.stringify(HUB) };
    expect(parseSpokeConfig({ ...withAudit, auditTrail: JSON.stringify(AUDIT) }).auditTrail).toEqual(AUDIT);
    expect(problems({ ...withAudit, auditTrail: '{' })).toEqual([
      expect.stringMatching(/^timebox:auditTrail: must be JSON/),
    ]);
    expect(problems({ ...withAudit, auditTrail: JSON.stringify({ ...AUDIT, keyArn: 'alias/x' }) })).toEqual([
      'timebox:auditTrail.keyArn: must be a KMS key ARN (the hub trailKeyArn output)',
    ]);
  });
});
