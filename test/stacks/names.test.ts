import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseNotificationsConfig } from '../../stacks/config';
import { namePrefix, timebox } from '../../stacks/program';
import { expectWith } from '../helpers/runner';
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
 * Two hub stacks in one account and region (prod, and prod-eu beside it): the program run under each stack name
 * must declare no account- or region-unique name the other also declares, and no Allow in one stack's IAM documents
 * may reach the other stack's resources. `prod-eu` is chosen on purpose: its prefix `timebox-prod-eu` extends
 * `timebox-prod`, so a `timebox-prod-*` wildcard would reach it.
 */

let world: MockWorld;
const runs = new Map<string, Recorded[]>();
const STACKS = ['prod', 'prod-eu'] as const;
const NOTIFY = parseNotificationsConfig({
  slack: JSON.stringify({ channel: 'C0APPROVALS', teamId: 'T0ACME' }),
  signedWebhooks: 'true',
  apiDestinations: JSON.stringify([{ name: 'siem', url: 'https://siem.example.com/timebox' }]),
});
const dist = fakeBundles(['api', 'revoke', 'sweeper', 'notifier', 'slack']);

/** Target role names come from access.yaml, which each stack has its own of (README, "Several stacks per account"). */
const policyFor = (stack: string) => POLICY_YAML.replaceAll('role: timebox-', `role: tb-${stack}-`);

/** Types whose names are unique only within a parent, or not at all. */
const SCOPED_BELOW_ACCOUNT: Record<string, string> = {
  'aws:iam/rolePolicy:RolePolicy': 'inline policy names are per role',
  'aws:athena/namedQuery:NamedQuery': 'named queries are identified by id; names may repeat',
  'aws:glue/catalogTable:CatalogTable': 'table names are per Glue database',
  'aws:apigatewayv2/stage:Stage': 'stage names are per API',
};

async function run(stack: string, suffix: string): Promise<Recorded[]> {
  world.reset();
  world.autoNameSuffix = suffix;
  const out = await timebox({
    config: configDummy({ spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]) }),
    projectDir: projectWithPolicy(policyFor(stack)),
    distDir: dist,
    stack,
    notifications: NOTIFY,
  });
  await resolveAll(out);
  await world.settle();
  return [...world.resources];
}

beforeAll(async () => {
  world = await installMocks();
  // Pulumi's auto-names carry a random suffix: different per stack.
  runs.set('prod', await run('prod', 'aaa1111'));
  runs.set('prod-eu', await run('prod-eu', 'bbb2222'));
}, 60_000);

const resourcesOf = (stack: string) => runs.get(stack) ?? [];

function uniqueNames(stack: string): string[] {
  return resourcesOf(stack)
    .filter((r) => typeof r.inputs.name === 'string' && !(r.type in SCOPED_BELOW_ACCOUNT))
    .map((r) => `${r.type} ${r.inputs.name}`);
}

/** Every ARN the stack's resources have, plus ARNs its runtime creates (schedules, rules on its bus, versions). */
function arnsOf(stack: string): string[] {
  const rs = resourcesOf(stack);
  const arns = rs.map((r) => r.state.arn).filter((a): a is string => typeof a === 'string');
  const named = (type: string) => rs.filter((r) => r.type === type).map((r) => String(r.inputs.name));
  const at = `${REGION}:${ACCOUNT}`;
  return [
    ...arns,
    ...named('aws:scheduler/scheduleGroup:ScheduleGroup').map((g) => `arn:aws:scheduler:${at}:schedule/${g}/tb-1`),
    ...named('aws:cloudwatch/eventBus:EventBus').map((b) => `arn:aws:events:${at}:rule/${b}/notify`),
    ...rs.filter((r) => r.type === 'aws:lambda/function:Function').map((r) => `${r.state.arn}:$LATEST`),
  ];
}

interface Allowed {
  where: string;
  resource: string;
  statement: Record<string, unknown>;
}

/** Every Resource of every Allow statement in the stack's IAM documents (identity, key, bucket, API policies). */
function allowedResources(stack: string): Allowed[] {
  const out: Allowed[] = [];
  for (const r of resourcesOf(stack)) {
    const v = r.inputs.policy;
    if (typeof v !== 'string' || !v.includes('"Statement"')) continue;
    for (const s of docOf(v).Statement) {
      if (s.Effect !== 'Allow') continue;
      // A key policy's `*` is the key it is attached to (this stack's own).
      if (r.type === 'aws:kms/key:Key' && s.Resource === '*') continue;
      const list = s.Resource === undefined ? [] : Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const resource of list as string[]) out.push({ where: r.name, resource, statement: s });
    }
  }
  return out;
}

/** IAM's wildcard match: `*` any run of characters, `?` any one. */
function arnLike(pattern: string, arn: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(arn);
}

describe('Program: two stacks in one account and region', () => {
  it('derives every prefix from the stack name, or takes timebox:namePrefix', async () => {
    expect(STACKS.map(namePrefix)).toEqual(['timebox-prod', 'timebox-prod-eu']);
    const prefixed = configDummy({ namePrefix: 'acme-tb-staging', spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]) });
    world.reset();
    await resolveAll(await timebox({ config: prefixed, projectDir: projectWithPolicy(POLICY_YAML), distDir: dist }));
    await world.settle();
    expect(world.one('aws:cloudwatch/eventBus:EventBus', 'broker-bus').inputs.name).toBe('acme-tb-staging');
    expect(world.one('aws:scheduler/scheduleGroup:ScheduleGroup', 'broker-schedules').inputs.name).toBe(
      'acme-tb-staging',
    );
    expect(world.one('aws:lambda/function:Function', 'broker-api').inputs.name).toBe('acme-tb-staging-api');
  }, 30_000);

  it('declares no account- or region-unique name twice (bus, schedule group, roles, functions, logs, ...)', () => {
    const prod = uniqueNames('prod');
    const other = new Set(uniqueNames('prod-eu'));
    // The two runs really declared the same kinds of things.
    expect(prod.length).toBeGreaterThan(20);
    expect(other.size).toBe(prod.length);
    expect(prod.filter((n) => other.has(n))).toEqual([]);
    for (const type of [
      'aws:cloudwatch/eventBus:EventBus',
      'aws:scheduler/scheduleGroup:ScheduleGroup',
      'aws:kms/alias:Alias',
      'aws:athena/workgroup:Workgroup',
      'aws:glue/catalogDatabase:CatalogDatabase',
      'aws:cloudtrail/trail:Trail',
    ])
      expect(prod.some((n) => n.startsWith(`${type} `))).toBe(true);
  });

  it('allows each stack nothing on the other stack’s resources', () => {
    for (const [mine, theirs] of [STACKS, [...STACKS].reverse()] as const) {
      const foreign = arnsOf(theirs);
      const targetRoles = resourcesOf(theirs)
        .filter((r) => r.type === 'aws:iam/role:Role' && r.inputs.path === '/timebox/')
        .map((r) => String(r.state.arn));
      expect(foreign.length).toBeGreaterThan(30);
      const reach = allowedResources(mine).flatMap((a) =>
        foreign.filter((arn) => arnLike(a.resource, arn)).map((arn) => ({ ...a, arn })),
      );
      // Target roles share the /timebox/ path (core/builders/aws.ts). Reaching another stack's target role is
      // harmless only because it trusts just its own broker and policy writes need this stack's boundary: checked.
      for (const r of reach) {
        expectWith(targetRoles, `${mine} ${r.where} allows ${r.resource}, which matches ${r.arn}`).toContain(r.arn);
      }
      const ownBoundary = `arn:aws:iam::${ACCOUNT}:policy/timebox/${namePrefix(mine)}-boundary`;
      for (const r of reach.filter((x) => JSON.stringify(x.statement.Action).includes('Policy'))) {
        if (String(r.statement.Action).startsWith('iam:Get') || String(r.statement.Action).includes('List')) continue;
        expect(r.statement.Condition).toEqual({ StringEquals: { 'iam:PermissionsBoundary': ownBoundary } });
      }
      const theirApi = resourcesOf(theirs).find((r) => r.name === 'broker-api-role')?.state.arn;
      const theirTargets = resourcesOf(theirs).filter(
        (r) => r.type === 'aws:iam/role:Role' && r.inputs.path === '/timebox/',
      );
      expect(theirTargets.length).toBe(2);
      for (const role of theirTargets) {
        const trusted = docOf(role.inputs.assumeRolePolicy).Statement.map((s) => s.Principal);
        expect(new Set(trusted.map((p) => JSON.stringify(p)))).toEqual(new Set([JSON.stringify({ AWS: theirApi })]));
      }
    }
  });
});
