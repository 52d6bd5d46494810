import { beforeAll, describe, expect, it } from '@jest/globals';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { GcpConfigJsonSchema } from '../../adapters/gcp/config';
import { loadPolicy } from '../../core/policy/load';
// Importing the component creates nothing: resources register only when a test constructs one, after setMocks.
import * as mod from '../../stacks/gcp';

/**
 * GcpAccess under Pulumi mocks: every resource the component registers is recorded with its inputs; computed
 * values (resource names, emails) are made up the way GCP forms them; any provider function call fails the test.
 */
interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  provider: string | undefined;
}

const HOST = 'acme-identity';
const PROJECT_NUMBER = '123456789012';
const ACCOUNT = '111122223333';
const ROLES = {
  api: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-api`,
  revoke: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-revoke`,
  sweeper: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-sweeper`,
};
const ACCESS_YAML = `
version: 1
groups: { sre: [alice@corp.com] }
targets:
  analytics:
    kind: gcp-role
    project: acme-analytics
    roles: [roles/bigquery.dataViewer, roles/bigquery.jobUser]
  analytics-logs:
    kind: gcp-role
    project: acme-analytics
    roles: [roles/logging.viewer]
  warehouse:
    kind: gcp-role
    project: acme-warehouse
    roles: [projects/acme-warehouse/roles/warehouseReader]
  logs:
    kind: aws-role
    account: "111122223333"
    role: timebox-logs
    actions: [s3:GetObject]
    resources: ["arn:aws:s3:::l/*"]
rules:
  - name: r
    who: [group:sre]
    targets: [analytics]
    approval: auto
`;

const recorded: Recorded[] = [];

function promiseOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** Computed state, shaped like GCP's. */
function state(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'gcp:iam/workloadIdentityPool:WorkloadIdentityPool':
      return {
        ...inputs,
        name: `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${inputs.workloadIdentityPoolId}`,
      };
    case 'gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider':
      return {
        ...inputs,
        name: `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${inputs.workloadIdentityPoolId}/providers/${inputs.workloadIdentityPoolProviderId}`,
      };
    case 'gcp:serviceaccount/account:Account': {
      const email = `${inputs.accountId}@${inputs.project}.iam.gserviceaccount.com`;
      return { ...inputs, email, name: `projects/${inputs.project}/serviceAccounts/${email}` };
    }
    case 'gcp:projects/iAMCustomRole:IAMCustomRole':
      return { ...inputs, name: `projects/${inputs.project}/roles/${inputs.roleId}` };
    default:
      return inputs;
  }
}

async function build(targets: Record<string, string[]>, extra: Record<string, unknown> = {}) {
  const provider = new gcp.Provider('gcp', { project: HOST });
  const access = new mod.GcpAccess('tb', {
    provider,
    hostProject: HOST,
    awsAccountId: ACCOUNT,
    brokerRoleArns: ROLES,
    targets,
    members: { rules: [{ suffix: '@corp.com' }] },
    ...extra,
  });
  const config = await promiseOf(access.configJson);
  return { access, config };
}

const of = (type: string) => recorded.filter((r) => r.type === type);

describe('Class: GcpAccess', () => {
  let config: string;

  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          recorded.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
          return { id: `${args.name}-id`, state: state(args.type, args.inputs) };
        },
        call: (args) => {
          throw new Error(`unexpected call to ${args.token}`);
        },
      },
      'timebox',
      'test',
      false,
    );
    const loaded = loadPolicy(ACCESS_YAML);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    ({ config } = await build(mod.gcpTargetsFromPolicy(loaded.policy)));
  });

  it('creates the pool, the AWS provider, the broker service account and one role + grant per project', () => {
    const counts = Object.fromEntries(
      [...new Set(recorded.map((r) => r.type))].map((t) => [t, recorded.filter((r) => r.type === t).length]),
    );
    expect(counts).toEqual({
      'pulumi:providers:gcp': 1,
      'timebox:gcp:GcpAccess': 1,
      'gcp:projects/service:Service': 4,
      'gcp:iam/workloadIdentityPool:WorkloadIdentityPool': 1,
      'gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider': 1,
      'gcp:serviceaccount/account:Account': 1,
      'gcp:serviceaccount/iAMMember:IAMMember': 3,
      'gcp:projects/iAMCustomRole:IAMCustomRole': 2,
      'gcp:projects/iAMMember:IAMMember': 2,
    });
  });

  it('restricts the AWS provider to the broker roles with an attribute condition', () => {
    const [p] = of('gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider');
    expect(p?.inputs.aws).toEqual({ accountId: ACCOUNT });
    expect(p?.inputs.attributeCondition).toBe(
      `attribute.aws_role in ['arn:aws:sts::${ACCOUNT}:assumed-role/timebox-prod-api', 'arn:aws:sts::${ACCOUNT}:assumed-role/timebox-prod-revoke', 'arn:aws:sts::${ACCOUNT}:assumed-role/timebox-prod-sweeper']`,
    );
    expect((p?.inputs.attributeMapping as Record<string, string> | undefined)?.['attribute.aws_role']).toContain(
      'assumed-role',
    );
  });

  it('lets only each broker role impersonate the service account', () => {
    const members = of('gcp:serviceaccount/iAMMember:IAMMember');
    expect(members.map((m) => m.inputs.role)).toEqual(Array(3).fill('roles/iam.workloadIdentityUser'));
    expect(members.map((m) => m.inputs.member).sort()).toEqual(
      ['api', 'revoke', 'sweeper'].map(
        (h) =>
          `principalSet://iam.googleapis.com/projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/timebox/attribute.aws_role/arn:aws:sts::${ACCOUNT}:assumed-role/timebox-prod-${h}`,
      ),
    );
    expect(
      members.every(
        (m) =>
          m.inputs.serviceAccountId ===
          `projects/${HOST}/serviceAccounts/timebox-broker@${HOST}.iam.gserviceaccount.com`,
      ),
    ).toBe(true);
  });

  it('gives the broker a custom role of exactly getIamPolicy and setIamPolicy in each project', () => {
    const roles = of('gcp:projects/iAMCustomRole:IAMCustomRole');
    expect(roles.map((r) => r.inputs.project).sort()).toEqual(['acme-analytics', 'acme-warehouse']);
    for (const r of roles) {
      expect([...(r.inputs.permissions as string[])].sort()).toEqual([
        'resourcemanager.projects.getIamPolicy',
        'resourcemanager.projects.setIamPolicy',
      ]);
      expect(r.inputs.roleId).toBe('timeboxBroker');
    }
  });

  it('grants that role under a condition naming only the project’s access.yaml roles', () => {
    const grants = Object.fromEntries(of('gcp:projects/iAMMember:IAMMember').map((g) => [g.inputs.project, g.inputs]));
    expect(grants['acme-analytics']).toEqual({
      project: 'acme-analytics',
      role: 'projects/acme-analytics/roles/timeboxBroker',
      member: `serviceAccount:timebox-broker@${HOST}.iam.gserviceaccount.com`,
      condition: {
        title: 'timebox-broker-grantable-roles',
        description: 'Timebox broker: may grant and revoke only the roles access.yaml names for this project',
        expression:
          "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/bigquery.dataViewer', 'roles/bigquery.jobUser', 'roles/logging.viewer'])",
      },
    });
    expect((grants['acme-warehouse']?.condition as { expression: string } | undefined)?.expression).toContain(
      "hasOnly(['projects/acme-warehouse/roles/warehouseReader'])",
    );
  });

  it('grants no basic role anywhere, and creates no service account key', () => {
    const basic = /^roles\/(owner|editor|viewer)$/;
    expect(recorded.filter((r) => typeof r.inputs.role === 'string' && basic.test(r.inputs.role))).toEqual([]);
    expect(JSON.stringify(recorded.map((r) => r.inputs))).not.toMatch(/"roles\/(owner|editor|viewer)"/);
    expect(recorded.filter((r) => /key/i.test(r.type))).toEqual([]);
    expect(JSON.stringify(recorded)).not.toMatch(/privateKey|private_key/);
  });

  it('passes the explicit provider to every GCP resource', () => {
    const gcpResources = recorded.filter((r) => r.type.startsWith('gcp:'));
    expect(gcpResources.length).toBeGreaterThan(0);
    expect(gcpResources.every((r) => r.provider?.includes('pulumi:providers:gcp::gcp'))).toBe(true);
  });

  it('outputs TIMEBOX_GCP that the Lambdas parse', () => {
    const parsed = GcpConfigJsonSchema.parse(config);
    expect(parsed).toMatchObject({
      audience: `//iam.googleapis.com/projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/timebox/providers/aws-broker`,
      serviceAccount: `timebox-broker@${HOST}.iam.gserviceaccount.com`,
      pool: `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/timebox`,
      provider: `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/timebox/providers/aws-broker`,
      projects: ['acme-analytics', 'acme-warehouse'],
      members: { explicit: {}, rules: [{ suffix: '@corp.com', type: 'user' }] },
    });
  });

  it.each([
    [{ 'acme-analytics': ['roles/editor'] }, {}, 'roles/editor is a basic role'],
    [{ 'Not A Project': ['roles/x.y'] }, {}, '"Not A Project" is not a GCP project id'],
    [{ 'acme-analytics': ['projects/acme-analytics/roles/timeboxBroker'] }, {}, "the broker's own role"],
    [{ 'acme-analytics': ['roles/x.y'] }, { brokerRoleArns: { api: 'arn:aws:iam::1:user/x' } }, 'not an IAM role ARN'],
    [{ 'acme-analytics': ['roles/x.y'] }, { brokerRoleArns: {} }, 'at least one broker role'],
    [{ 'acme-analytics': ['roles/x.y'] }, { poolId: 'gcp-pool' }, 'poolId'],
    [
      { 'acme-analytics': ['roles/x.y'] },
      { members: { explicit: { bot: `serviceAccount:timebox-broker@${HOST}.iam.gserviceaccount.com` } } },
      'the broker service account cannot receive grants',
    ],
  ])('refuses bad arguments before creating anything: %j %j', async (targets, extra, message) => {
    const before = recorded.length;
    await expect(build(targets, extra)).rejects.toThrow(message);
    // Only the provider of the attempt was registered; the component refused before any child.
    expect(recorded.slice(before).filter((r) => r.type !== 'pulumi:providers:gcp')).toEqual([]);
  });
});

describe('Function: gcpTargetsFromPolicy', () => {
  it('merges roles per project from gcp-role targets only', () => {
    const loaded = loadPolicy(ACCESS_YAML);
    if (!loaded.ok) throw new Error('bad fixture');
    expect(mod.gcpTargetsFromPolicy(loaded.policy)).toEqual({
      'acme-analytics': ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser', 'roles/logging.viewer'],
      'acme-warehouse': ['projects/acme-warehouse/roles/warehouseReader'],
    });
  });
});
