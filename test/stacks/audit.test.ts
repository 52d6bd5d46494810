import { runSimulation } from '@cloud-copilot/iam-simulate';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ENV } from '../../lambdas/config';
import type { PolicyDocument } from '../../stacks/policies';
// Importing the program declares nothing: resources register only when timebox() runs, after setMocks.
import { timebox } from '../../stacks/program';
import {
  ACCOUNT,
  configDummy,
  docOf,
  fakeBundles,
  installMocks,
  type MockWorld,
  POLICY_YAML,
  projectWithPolicy,
  REGION,
  type Recorded,
  resolveAll,
  SPOKE_ACCOUNT,
} from './helpers/pulumi-mocks';

/**
 * Audit across accounts, as deployed: the hub program twice under mocks, once with spoke trails delivering into the
 * hub bucket and once with an organization trail. What each account's CloudTrail writes must land where the Glue
 * table projects, be allowed by the bucket and key policies (IAM policy simulator), and be readable by the api.
 */

const ORG = 'o-abcd123456';
const dist = fakeBundles(['api', 'revoke', 'sweeper']);
let world: MockWorld;
let spokeRun: Recorded[] = [];
let orgRun: Recorded[] = [];

beforeAll(async () => {
  world = await installMocks();
  // Only eu-west-1 is configured: global service events (IAM, STS) are recorded in us-east-1 all the same.
  const base = {
    spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]),
    auditRegions: JSON.stringify(['eu-west-1']),
  };
  await resolveAll(
    await timebox({ config: configDummy(base), projectDir: projectWithPolicy(POLICY_YAML), distDir: dist }),
  );
  await world.settle();
  spokeRun = [...world.resources];
  world.reset();
  await resolveAll(
    await timebox({
      config: configDummy({ ...base, orgId: ORG, organizationTrail: 'true' }),
      projectDir: projectWithPolicy(POLICY_YAML),
      distDir: dist,
    }),
  );
  await world.settle();
  orgRun = [...world.resources];
}, 60_000);

const one = (run: Recorded[], type: string, name: string): Recorded => {
  const found = run.filter((r) => r.type === type && r.name === name);
  if (found.length !== 1) throw new Error(`expected one ${type} ${name}, found ${found.length}`);
  return found[0] as Recorded;
};
const table = (run: Recorded[]) => one(run, 'aws:glue/catalogTable:CatalogTable', 'audit-table').inputs;
const bucketName = (run: Recorded[]) => one(run, 'aws:s3/bucket:Bucket', 'audit-bucket').state.bucket as string;
const bucketPolicy = (run: Recorded[]) =>
  docOf(one(run, 'aws:s3/bucketPolicy:BucketPolicy', 'audit-bucket-policy').inputs.policy) as unknown as PolicyDocument;
const keyPolicy = (run: Recorded[]) =>
  docOf(one(run, 'aws:kms/key:Key', 'audit-key').inputs.policy) as unknown as PolicyDocument;
const apiAuditPolicy = (run: Recorded[]) =>
  docOf(one(run, 'aws:iam/rolePolicy:RolePolicy', 'api-audit-query').inputs.policy) as unknown as PolicyDocument;
const HUB_TRAIL = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/timebox-prod`;
const SPOKE_TRAIL = `arn:aws:cloudtrail:${REGION}:${SPOKE_ACCOUNT}:trail/timebox-spoke-prod-trail`;

/** Where a CloudTrail log file of an account, region and day is written, relative to the bucket. */
const logKey = (account: string, region: string, org?: string) =>
  `AWSLogs/${org ? `${org}/` : ''}${account}/CloudTrail/${region}/2026/11/24/${account}_CloudTrail_${region}_20261124T1005Z_abc.json.gz`;

/** Fills the projection template with one partition's values, the way Athena does. */
function projected(run: Recorded[], values: { account: string; region: string }): string {
  const p = table(run).parameters as Record<string, string>;
  expect(p['projection.account.values']?.split(',')).toContain(values.account);
  expect(p['projection.region.values']?.split(',')).toContain(values.region);
  return (p['storage.location.template'] as string)
    .replace(`\${account}`, values.account)
    .replace(`\${region}`, values.region)
    .replace(`\${timestamp}`, '2026/11/24');
}

/** CloudTrail (a service principal) delivering a log file for a trail, decided against the bucket policy alone. */
async function delivery(run: Recorded[], key: string, trailArn: string): Promise<string> {
  const sourceAccount = trailArn.split(':')[4] as string;
  const r = await runSimulation(
    {
      request: {
        principal: 'cloudtrail.amazonaws.com',
        action: 's3:PutObject',
        resource: { resource: `arn:aws:s3:::${bucketName(run)}/${key}`, accountId: ACCOUNT },
        contextVariables: {
          'aws:CurrentTime': '2026-11-24T10:05:00Z',
          'aws:SecureTransport': 'true',
          'aws:SourceArn': trailArn,
          'aws:SourceAccount': sourceAccount,
          's3:x-amz-acl': 'bucket-owner-full-control',
        },
      },
      identityPolicies: [],
      resourcePolicy: bucketPolicy(run),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
  return r.overallResult;
}

/** CloudTrail asking the hub key for a data key on behalf of a trail. */
async function encrypts(run: Recorded[], trailArn: string): Promise<string> {
  const r = await runSimulation(
    {
      request: {
        principal: 'cloudtrail.amazonaws.com',
        action: 'kms:GenerateDataKey',
        resource: { resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/key-audit`, accountId: ACCOUNT },
        contextVariables: {
          'aws:CurrentTime': '2026-11-24T10:05:00Z',
          'aws:SourceArn': trailArn,
          'aws:SourceAccount': trailArn.split(':')[4] as string,
        },
      },
      identityPolicies: [],
      resourcePolicy: keyPolicy(run),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
  return r.overallResult;
}

/** The api role reading a log file (the Athena query runs with its credentials), by its identity policy. */
async function apiReads(run: Recorded[], key: string): Promise<string> {
  const r = await runSimulation(
    {
      request: {
        principal: `arn:aws:sts::${ACCOUNT}:assumed-role/timebox-prod-api/timebox-prod-api`,
        action: 's3:GetObject',
        resource: { resource: `arn:aws:s3:::${bucketName(run)}/${key}`, accountId: ACCOUNT },
        contextVariables: { 'aws:CurrentTime': '2026-11-24T10:05:00Z', 'aws:SecureTransport': 'true' },
      },
      identityPolicies: [{ name: 'audit-query', policy: apiAuditPolicy(run) }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
  return r.overallResult;
}

describe('Program: audit with spoke trails into the hub bucket', () => {
  it('projects the hub and every spoke account, and us-east-1 besides the configured regions', () => {
    const p = table(spokeRun).parameters as Record<string, string>;
    expect(p['projection.account.type']).toBe('enum');
    expect(p['projection.account.values']).toBe(`${ACCOUNT},${SPOKE_ACCOUNT}`);
    expect(p['projection.region.values']).toBe('eu-west-1,us-east-1');
    // The api queries every projected region: its variable lists the same.
    const env = (
      one(spokeRun, 'aws:lambda/function:Function', 'broker-api').inputs.environment as {
        variables: Record<string, string>;
      }
    ).variables;
    expect(env[ENV.auditRegions]).toBe('eu-west-1,us-east-1');
  });

  it("maps a spoke's log files, global events included, to partitions the table reads", () => {
    for (const [account, region] of [
      [SPOKE_ACCOUNT, 'eu-west-1'],
      [SPOKE_ACCOUNT, 'us-east-1'],
      [ACCOUNT, 'us-east-1'],
    ] as const) {
      const where = projected(spokeRun, { account, region });
      expect(logKey(account, region).startsWith(where.replace(`s3://${bucketName(spokeRun)}/`, ''))).toBe(true);
    }
  });

  it("lets each account's trail deliver only under its own prefix, and no other trail anywhere", async () => {
    expect(await delivery(spokeRun, logKey(ACCOUNT, 'eu-west-1'), HUB_TRAIL)).toBe('Allowed');
    expect(await delivery(spokeRun, logKey(SPOKE_ACCOUNT, 'us-east-1'), SPOKE_TRAIL)).toBe('Allowed');
    // A spoke trail writing under the hub's prefix, or under another account's, is refused.
    expect(await delivery(spokeRun, logKey(ACCOUNT, 'eu-west-1'), SPOKE_TRAIL)).not.toBe('Allowed');
    expect(await delivery(spokeRun, logKey('999988887777', 'eu-west-1'), SPOKE_TRAIL)).not.toBe('Allowed');
    const stranger = 'arn:aws:cloudtrail:eu-west-1:999988887777:trail/x';
    expect(await delivery(spokeRun, logKey('999988887777', 'eu-west-1'), stranger)).not.toBe('Allowed');
  });

  it('lets the spoke trails encrypt with the hub key, and nobody else', async () => {
    // The hub trail's statement conditions on kms:EncryptionContext:aws:cloudtrail:arn, a key the simulator cannot
    // resolve (it expects a `/` in templated keys): checked by shape in policies.test.ts instead.
    expect(await encrypts(spokeRun, SPOKE_TRAIL)).toBe('Allowed');
    expect(await encrypts(spokeRun, `arn:aws:cloudtrail:us-east-1:${SPOKE_ACCOUNT}:trail/other`)).toBe('Allowed');
    expect(await encrypts(spokeRun, 'arn:aws:cloudtrail:eu-west-1:999988887777:trail/x')).not.toBe('Allowed');
  });

  it("lets the api read the spoke's logs, which the timeline query scans", async () => {
    expect(await apiReads(spokeRun, logKey(SPOKE_ACCOUNT, 'us-east-1'))).toBe('Allowed');
    expect(await apiReads(spokeRun, logKey(ACCOUNT, 'eu-west-1'))).toBe('Allowed');
    expect(await apiReads(spokeRun, logKey('999988887777', 'eu-west-1'))).not.toBe('Allowed');
  });

  it('keeps the hub trail an account trail', () => {
    expect(one(spokeRun, 'aws:cloudtrail/trail:Trail', 'audit-trail').inputs.isOrganizationTrail).toBe(false);
  });
});

describe('Program: audit with an organization trail', () => {
  it('makes the hub trail an organization trail and projects the organization layout', () => {
    expect(one(orgRun, 'aws:cloudtrail/trail:Trail', 'audit-trail').inputs.isOrganizationTrail).toBe(true);
    const p = table(orgRun).parameters as Record<string, string>;
    expect(p['storage.location.template']).toBe(
      `s3://${bucketName(orgRun)}/AWSLogs/${ORG}/\${account}/CloudTrail/\${region}/\${timestamp}`,
    );
    expect(table(orgRun).storageDescriptor).toMatchObject({ location: `s3://${bucketName(orgRun)}/AWSLogs/${ORG}/` });
    const where = projected(orgRun, { account: SPOKE_ACCOUNT, region: 'us-east-1' });
    expect(logKey(SPOKE_ACCOUNT, 'us-east-1', ORG).startsWith(where.replace(`s3://${bucketName(orgRun)}/`, ''))).toBe(
      true,
    );
  });

  it('lets the organization trail write every member account, and grants spoke trails nothing', async () => {
    expect(await delivery(orgRun, logKey(SPOKE_ACCOUNT, 'eu-west-1', ORG), HUB_TRAIL)).toBe('Allowed');
    expect(await delivery(orgRun, logKey(ACCOUNT, 'us-east-1', ORG), HUB_TRAIL)).toBe('Allowed');
    expect(await delivery(orgRun, logKey(SPOKE_ACCOUNT, 'eu-west-1'), SPOKE_TRAIL)).not.toBe('Allowed');
    expect(JSON.stringify(bucketPolicy(orgRun))).not.toContain('SpokeTrail');
  });

  it("lets the api read the organization layout's files of projected accounts", async () => {
    expect(await apiReads(orgRun, logKey(SPOKE_ACCOUNT, 'us-east-1', ORG))).toBe('Allowed');
    expect(await apiReads(orgRun, logKey(ACCOUNT, 'eu-west-1', ORG))).toBe('Allowed');
  });
});
