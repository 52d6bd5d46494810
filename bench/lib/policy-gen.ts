import { stringify } from 'yaml';
import { Rng } from './rng';

/**
 * A seeded generator of large access policies and request samples for the decision benchmark.
 *
 * The generator keeps its own model of the policy (flattened group membership, duration caps, scope
 * allowances) and renders it twice: as a policy file for Timebox's loader, and (in ./cedar.ts) as a Cedar policy
 * set. Nothing in either rendering comes from Timebox's loader or compiler, so agreement between the two engines
 * is evidence about both, not an echo of one.
 *
 * Only the features both engines express are generated: who (groups, nested groups, principals), targets of the
 * three kinds, duration caps (rule, target, global), `require.mfa`, `when.sourceIp`, rule scopes, and requests
 * with zero or one scope. Not generated: `when.hours`, `require.attributes`, start times and asserted groups.
 */

/** The benchmark's size: ~100 groups, ~200 targets, 1,000 rules, 10,000 principals. */
export const BENCH_SIZE = { rules: 1000, principals: 10_000, groups: 100, targets: 200 } as const;

/** The global ceiling the generated file relies on (the loader's default `settings.maxDuration`, 12 h). */
export const GLOBAL_MAX_MINUTES = 12 * 60;

export interface GenSize {
  rules: number;
  principals: number;
  groups: number;
  targets: number;
}

interface GenTargetBase {
  name: string;
  /** Absent: only rule and global caps apply. */
  maxMinutes?: number;
  /** Scopes a rule may narrow this target to (each within the target). */
  narrowings: string[];
  /** Scopes a request may name: within the target, outside it, or of another kind. */
  probes: string[];
}

export type GenTarget =
  | (GenTargetBase & { kind: 'aws-role'; account: string; role: string; actions: string[]; resources: string[] })
  | (GenTargetBase & { kind: 'grpc'; audience: string; methods: string[] })
  | (GenTargetBase & { kind: 'gcp-role'; project: string; roles: string[] });

export type GenApproval = 'auto' | { from: string[]; count: number };

export interface GenRule {
  name: string;
  whoGroups: string[];
  whoPrincipals: string[];
  targets: string[];
  maxMinutes?: number;
  approval: GenApproval;
  mfa: boolean;
  sourceIp?: string[];
  /** When present the rule has exactly one target and every scope lies within it. */
  scopes?: string[];
}

export interface GenGroup {
  name: string;
  principals: string[];
  /** Groups nested in this one (always later in the list, so nesting never cycles). */
  nested: string[];
}

export interface GeneratedPolicy {
  seed: number;
  principals: string[];
  groups: GenGroup[];
  targets: GenTarget[];
  rules: GenRule[];
  /** Flattened: every principal of a group, nested groups included. */
  membersOf: ReadonlyMap<string, ReadonlySet<string>>;
  /** Flattened: every group a principal is in, directly or through nesting. */
  groupsOf: ReadonlyMap<string, readonly string[]>;
  targetByName: ReadonlyMap<string, GenTarget>;
}

/** One sampled request: who asks (with the groups the policy file puts them in), for what, how long, from where. */
export interface GenRequest {
  principal: string;
  target: string;
  /** Zero or one requested scope. */
  scope?: string;
  durationSeconds: number;
  mfa: boolean;
  sourceIp?: string;
}

const ACCOUNT = '111122223333';
const CIDRS = ['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12', '2001:db8::/32'];
/** Addresses inside each block of CIDRS (same order), edges included. */
const INSIDE: Record<string, string[]> = {
  '10.0.0.0/8': ['10.0.0.0', '10.1.2.3', '10.200.17.4', '10.255.255.255'],
  '192.168.0.0/16': ['192.168.0.1', '192.168.44.9', '192.168.255.255'],
  '172.16.0.0/12': ['172.16.0.1', '172.20.5.5', '172.31.255.255'],
  '2001:db8::/32': ['2001:db8::1', '2001:db8:ffff::abcd'],
};
/** Addresses outside every block of CIDRS, next to their edges where possible. */
const OUTSIDE = [
  '11.0.0.1',
  '9.255.255.255',
  '192.169.0.1',
  '172.32.0.1',
  '172.15.255.255',
  '203.0.113.7',
  '2001:db9::1',
];
const GCP_ROLES = [
  'roles/bigquery.dataViewer',
  'roles/bigquery.jobUser',
  'roles/logging.viewer',
  'roles/monitoring.viewer',
  'roles/storage.objectViewer',
  'roles/pubsub.subscriber',
  'roles/cloudsql.client',
  'roles/secretmanager.secretAccessor',
];
const MAX_MINUTES_CHOICES = [60, 120, 240, 480, 720];
const RULE_MINUTES_CHOICES = [15, 30, 60, 120, 240, 480];

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Generates a policy model; the same seed and size always give the same model. */
export function generatePolicy(seed: number, size: GenSize = BENCH_SIZE): GeneratedPolicy {
  const rng = new Rng(seed);
  const principals = Array.from({ length: size.principals }, (_, i) => `u${pad(i, 5)}@corp.example`);
  const groupNames = Array.from({ length: size.groups }, (_, i) => `g${pad(i, 3)}`);

  // Most people are in one to three groups; a few in none (reachable only by name, or not at all).
  const direct = new Map<string, string[]>(groupNames.map((g) => [g, []]));
  for (const p of principals) {
    if (rng.chance(0.05)) continue;
    for (const g of rng.sample(groupNames, rng.int(1, 3))) direct.get(g)?.push(p);
  }
  const groups: GenGroup[] = groupNames.map((name, i) => {
    const later = groupNames.slice(i + 1);
    const nested = later.length > 0 && rng.chance(0.1) ? [rng.pick(later)] : [];
    return { name, principals: direct.get(name) ?? [], nested };
  });
  // Flatten from the last group back: nested groups always come later, so they are done first.
  const membersOf = new Map<string, Set<string>>();
  for (let i = groups.length - 1; i >= 0; i--) {
    const g = groups[i] as GenGroup;
    const set = new Set(g.principals);
    for (const n of g.nested) for (const p of membersOf.get(n) ?? []) set.add(p);
    membersOf.set(g.name, set);
  }
  const groupsOf = new Map<string, string[]>();
  for (const [g, members] of membersOf) {
    for (const p of members) {
      const list = groupsOf.get(p) ?? [];
      list.push(g);
      groupsOf.set(p, list);
    }
  }
  for (const list of groupsOf.values()) list.sort();

  const targets: GenTarget[] = [];
  for (let i = 0; i < size.targets; i++) {
    const kind = i % 5 < 2 ? 'aws-role' : i % 5 < 4 ? 'grpc' : 'gcp-role';
    targets.push(makeTarget(rng, kind, i, size.targets));
  }
  const targetByName = new Map(targets.map((t) => [t.name, t]));

  const rules: GenRule[] = [];
  for (let i = 0; i < size.rules; i++) rules.push(makeRule(rng, i, groups, membersOf, principals, targets));

  return { seed, principals, groups, targets, rules, membersOf, groupsOf, targetByName };
}

function makeTarget(rng: Rng, kind: GenTarget['kind'], i: number, count: number): GenTarget {
  const other = (i + 1 + rng.int(0, count - 2)) % count;
  const maxMinutes = rng.chance(0.6) ? rng.pick(MAX_MINUTES_CHOICES) : undefined;
  const base = { ...(maxMinutes === undefined ? {} : { maxMinutes }) };
  const foreign = ['/acme.other.v1.Api/Get', 's3:GetObject', 'roles/logging.viewer'];
  if (kind === 'aws-role') {
    const name = `aws-${pad(i, 3)}`;
    if (i % 2 === 0) {
      const bucket = `arn:aws:s3:::data-${pad(i, 3)}`;
      return {
        ...base,
        name,
        kind,
        account: ACCOUNT,
        role: `timebox-${name}`,
        actions: ['s3:GetObject', 's3:List*'],
        resources: [bucket, `${bucket}/*`],
        narrowings: ['s3:GetObject', 's3:ListBucket', `${bucket}/team-a/*`, `${bucket}/team-b/*`],
        probes: [
          's3:GetObject',
          's3:ListBucket',
          's3:List*',
          's3:PutObject',
          's3:*',
          bucket,
          `${bucket}/*`,
          `${bucket}/team-a/*`,
          `${bucket}/team-a/report.csv`,
          `${bucket}/team-b/x.json`,
          `${bucket}-old/*`,
          `arn:aws:s3:::data-${pad(other, 3)}/*`,
          foreign[0] as string,
        ],
      };
    }
    const table = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/t-${pad(i, 3)}`;
    return {
      ...base,
      name,
      kind,
      account: ACCOUNT,
      role: `timebox-${name}`,
      actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Describe*'],
      resources: [table, `${table}/index/*`],
      narrowings: ['dynamodb:Query', 'dynamodb:DescribeTable', `${table}/index/by-date`],
      probes: [
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:DescribeTable',
        'dynamodb:Describe*',
        'dynamodb:PutItem',
        'dynamodb:*',
        table,
        `${table}/index/by-date`,
        `${table}/index/*`,
        `${table}/stream/x`,
        `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/t-${pad(other, 3)}`,
        foreign[2] as string,
      ],
    };
  }
  if (kind === 'grpc') {
    const svc = `acme.svc${i}`;
    return {
      ...base,
      name: `grpc-${pad(i, 3)}`,
      kind,
      audience: `svc${i}`,
      methods: [`/${svc}.v1.Api/*`, `/${svc}.admin.*`],
      narrowings: [`/${svc}.v1.Api/Get`, `/${svc}.v1.Api/List`, `/${svc}.admin.v1.Ops/*`],
      probes: [
        `/${svc}.v1.Api/Get`,
        `/${svc}.v1.Api/List`,
        `/${svc}.v1.Api/Delete`,
        `/${svc}.v1.Api/*`,
        `/${svc}.admin.*`,
        `/${svc}.admin.v1.Ops/Restart`,
        `/${svc}.admin.v1.Ops/*`,
        `/${svc}.*`,
        `/${svc}0.v1.Api/Get`,
        `/acme.svc${other}.v1.Api/Get`,
        foreign[1] as string,
      ],
    };
  }
  const roles = rng.sample(GCP_ROLES, rng.int(1, 3));
  return {
    ...base,
    name: `gcp-${pad(i, 3)}`,
    kind,
    project: `acme-proj-${pad(i, 3)}`,
    roles,
    narrowings: [...roles],
    probes: [...GCP_ROLES, foreign[0] as string],
  };
}

function makeRule(
  rng: Rng,
  i: number,
  groups: readonly GenGroup[],
  membersOf: ReadonlyMap<string, ReadonlySet<string>>,
  principals: readonly string[],
  targets: readonly GenTarget[],
): GenRule {
  const scoped = rng.chance(0.3);
  // A rule's scopes must lie within every one of its targets, so scoped rules name one target.
  const ruleTargets = scoped ? [rng.pick(targets)] : rng.sample(targets, rng.chance(0.6) ? 1 : rng.int(2, 3));
  const byName = ruleTargets.map((t) => t.name);

  const onlyPrincipals = rng.chance(0.1);
  const whoGroups = onlyPrincipals ? [] : rng.sample(groups, rng.int(1, 2)).map((g) => g.name);
  const whoPrincipals = onlyPrincipals || rng.chance(0.3) ? rng.sample(principals, rng.int(1, 3)) : [];

  // The loader refuses a rule cap above a target's cap; pick among those that fit every target.
  const tightest = Math.min(GLOBAL_MAX_MINUTES, ...ruleTargets.map((t) => t.maxMinutes ?? GLOBAL_MAX_MINUTES));
  const fits = RULE_MINUTES_CHOICES.filter((m) => m <= tightest);
  const maxMinutes = rng.chance(0.6) ? rng.pick(fits) : undefined;

  let approval: GenApproval = 'auto';
  if (rng.chance(0.45)) {
    const count = rng.int(1, 2);
    if (rng.chance(0.85)) {
      // Needs `count` approvers besides the requester (the loader checks it): any group of count + 1 will do.
      const big = groups.filter((g) => (membersOf.get(g.name)?.size ?? 0) > count);
      approval = { from: [`group:${rng.pick(big).name}`], count };
    } else {
      approval = { from: rng.sample(principals, count + 1), count };
    }
  }

  const scopes = scoped ? rng.sample((ruleTargets[0] as GenTarget).narrowings, rng.int(1, 2)).sort() : undefined;
  return {
    name: `r${pad(i, 4)}`,
    whoGroups,
    whoPrincipals,
    targets: byName,
    ...(maxMinutes === undefined ? {} : { maxMinutes }),
    approval,
    mfa: rng.chance(0.25),
    ...(rng.chance(0.25) ? { sourceIp: rng.sample(CIDRS, rng.int(1, 2)) } : {}),
    ...(scopes ? { scopes } : {}),
  };
}

/** The policy file for the model, as an operator would write it. */
export function policyYaml(p: GeneratedPolicy): string {
  const groups: Record<string, string[]> = {};
  for (const g of p.groups) groups[g.name] = [...g.principals, ...g.nested.map((n) => `group:${n}`)];
  const targets: Record<string, unknown> = {};
  for (const t of p.targets) {
    const max = t.maxMinutes === undefined ? {} : { maxDuration: `${t.maxMinutes}m` };
    if (t.kind === 'aws-role') {
      targets[t.name] = {
        kind: t.kind,
        account: t.account,
        role: t.role,
        actions: t.actions,
        resources: t.resources,
        ...max,
      };
    } else if (t.kind === 'grpc') targets[t.name] = { kind: t.kind, audience: t.audience, methods: t.methods, ...max };
    else targets[t.name] = { kind: t.kind, project: t.project, roles: t.roles, ...max };
  }
  const rules = p.rules.map((r) => ({
    name: r.name,
    who: [...r.whoGroups.map((g) => `group:${g}`), ...r.whoPrincipals],
    targets: r.targets,
    ...(r.scopes ? { scopes: r.scopes } : {}),
    ...(r.maxMinutes === undefined ? {} : { maxDuration: `${r.maxMinutes}m` }),
    approval: r.approval === 'auto' ? 'auto' : { from: r.approval.from, count: r.approval.count },
    ...(r.sourceIp ? { when: { sourceIp: r.sourceIp } } : {}),
    ...(r.mfa ? { require: { mfa: true } } : {}),
  }));
  return stringify({ version: 1, groups, targets, rules }, { lineWidth: 0 });
}

/** The duration ceiling in minutes for a rule on one of its targets: min(rule, target, global). */
export function capMinutes(rule: GenRule, target: GenTarget): number {
  return Math.min(rule.maxMinutes ?? GLOBAL_MAX_MINUTES, target.maxMinutes ?? GLOBAL_MAX_MINUTES, GLOBAL_MAX_MINUTES);
}

/**
 * Samples requests: three in four aimed at a random rule (a member of its `who`, one of its targets, a duration
 * near its cap, conditions mostly met), the rest anything at all (unknown principals and targets included), so
 * the sample mixes allowed and denied requests and crosses every boundary the rules draw.
 */
export function sampleRequests(p: GeneratedPolicy, n: number, seed: number): GenRequest[] {
  const rng = new Rng(seed);
  const out: GenRequest[] = [];
  const allIps = [...Object.values(INSIDE).flat(), ...OUTSIDE];
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.75)) {
      const rule = rng.pick(p.rules);
      const target = p.targetByName.get(rng.pick(rule.targets)) as GenTarget;
      const principal = ruleMember(rng, p, rule);
      const cap = capMinutes(rule, target) * 60;
      const durationSeconds = rng.pick([
        cap,
        cap + 1,
        cap - 1,
        cap + 60,
        rng.int(1, cap),
        rng.int(1, cap),
        rng.int(1, 2 * cap),
        rng.chance(0.2) ? 0 : rng.int(60, cap),
      ]);
      const mfa = rule.mfa ? rng.chance(0.8) : rng.chance(0.5);
      let sourceIp: string | undefined;
      if (rule.sourceIp) {
        const roll = rng.float();
        if (roll < 0.7) sourceIp = rng.pick(INSIDE[rng.pick(rule.sourceIp)] ?? OUTSIDE);
        else if (roll < 0.95) sourceIp = rng.pick(allIps);
      } else if (rng.chance(0.8)) sourceIp = rng.pick(allIps);
      const scope = rng.chance(0.5)
        ? undefined
        : rng.pick(rng.chance(0.5) && rule.scopes ? rule.scopes : target.probes);
      out.push(request(principal, target.name, durationSeconds, mfa, sourceIp, scope));
    } else {
      const principal = rng.chance(0.02) ? 'stranger@elsewhere.example' : rng.pick(p.principals);
      const target = rng.chance(0.02) ? { name: 'no-such-target', probes: ['s3:GetObject'] } : rng.pick(p.targets);
      const scope = rng.chance(0.6) ? undefined : rng.pick(target.probes);
      const sourceIp = rng.chance(0.9) ? rng.pick(allIps) : undefined;
      out.push(request(principal, target.name, rng.int(0, 15 * 60) * 60, rng.chance(0.5), sourceIp, scope));
    }
  }
  return out;
}

function ruleMember(rng: Rng, p: GeneratedPolicy, rule: GenRule): string {
  if (rule.whoGroups.length === 0 || (rule.whoPrincipals.length > 0 && rng.chance(0.3))) {
    return rng.pick(rule.whoPrincipals);
  }
  const members = [...(p.membersOf.get(rng.pick(rule.whoGroups)) ?? [])];
  // An empty group (possible with a tiny generated policy) leaves the request to a random principal.
  return members.length > 0 ? rng.pick(members) : rng.pick(p.principals);
}

function request(
  principal: string,
  target: string,
  durationSeconds: number,
  mfa: boolean,
  sourceIp: string | undefined,
  scope: string | undefined,
): GenRequest {
  return {
    principal,
    target,
    durationSeconds,
    mfa,
    ...(sourceIp === undefined ? {} : { sourceIp }),
    ...(scope === undefined ? {} : { scope }),
  };
}
