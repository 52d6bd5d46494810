import { compileCidrs } from '../net';
import { normalizePrincipalId } from '../principal';
import type { ScopeResult } from '../scope/types';
import type { Policy, Rule, Subject, Target } from './types';

/**
 * A policy indexed for decisions: rules by target, group membership both ways. Built once per policy load,
 * so a decision touches only the rules that name the requested target (the benchmark's 1,000 rules and 10,000
 * principals cost a few map lookups, not a scan).
 */
export interface CompiledRule {
  rule: Rule;
  whoGroups: ReadonlySet<string>;
  whoPrincipals: ReadonlySet<string>;
  ipAllowed?: (ip: string) => boolean;
  /** Principals the policy file names as approvers (empty for auto rules); computed once, not per decision. */
  approvers: ReadonlySet<string>;
  /** The effective scope of a request with no scopes, per target: the same answer every time, so kept. */
  wholeScope: Map<string, ScopeResult>;
}

export interface CompiledPolicy {
  policy: Policy;
  /** Groups the policy file puts a principal in. */
  groupsOf(principalId: string): ReadonlySet<string>;
  /** Members of a group per the policy file (empty set for unknown groups). */
  membersOf(group: string): ReadonlySet<string>;
  /** Rules naming the target, in file order. */
  rulesFor(target: string): readonly CompiledRule[];
  target(name: string): Target | undefined;
  rule(name: string): Rule | undefined;
}

const EMPTY: ReadonlySet<string> = new Set();

/** Indexes a validated policy for fast decisions. Principal ids are lower-cased (see normalizePrincipalId). */
export function compilePolicy(policy: Policy): CompiledPolicy {
  const members = new Map<string, Set<string>>();
  const groupsByPrincipal = new Map<string, Set<string>>();
  for (const [group, ids] of Object.entries(policy.groups)) {
    const set = new Set(ids.map(normalizePrincipalId));
    members.set(group, set);
    for (const id of set) {
      const g = groupsByPrincipal.get(id) ?? new Set<string>();
      g.add(group);
      groupsByPrincipal.set(id, g);
    }
  }
  const byTarget = new Map<string, CompiledRule[]>();
  const rulesByName = new Map<string, Rule>();
  for (const rule of policy.rules) {
    rulesByName.set(rule.name, rule);
    const compiled: CompiledRule = {
      rule,
      whoGroups: new Set(rule.who.filter(isGroup).map((s) => s.name)),
      whoPrincipals: new Set(rule.who.filter(isPrincipal).map((s) => normalizePrincipalId(s.id))),
      ...(rule.when.sourceIp ? { ipAllowed: compileCidrs(rule.when.sourceIp) } : {}),
      approvers: new Set<string>(),
      wholeScope: new Map(),
    };
    for (const t of rule.targets) {
      const list = byTarget.get(t) ?? [];
      list.push(compiled);
      byTarget.set(t, list);
    }
  }
  const compiledPolicy: CompiledPolicy = {
    policy,
    groupsOf: (id) => groupsByPrincipal.get(normalizePrincipalId(id)) ?? EMPTY,
    membersOf: (g) => members.get(g) ?? EMPTY,
    rulesFor: (t) => byTarget.get(t) ?? [],
    target: (name) => (Object.hasOwn(policy.targets, name) ? policy.targets[name] : undefined),
    rule: (name) => rulesByName.get(name),
  };
  for (const list of byTarget.values())
    for (const c of list)
      if (c.rule.approval.kind === 'approvers' && c.approvers.size === 0)
        c.approvers = subjectMembers(compiledPolicy, c.rule.approval.from);
  return compiledPolicy;
}

function isGroup(s: Subject): s is { kind: 'group'; name: string } {
  return s.kind === 'group';
}
function isPrincipal(s: Subject): s is { kind: 'principal'; id: string } {
  return s.kind === 'principal';
}

/** `group:sre` / `alice@corp.com`: the notation of the policy file, used in events and API answers. */
export function subjectToString(s: Subject): string {
  return s.kind === 'group' ? `group:${s.name}` : s.id;
}

/**
 * Is the principal (with the groups its identity source asserts) one of these subjects?
 * Policy-file groups and asserted groups both count.
 */
export function subjectsInclude(
  compiled: CompiledPolicy,
  subjects: readonly Subject[],
  principalId: string,
  assertedGroups: readonly string[],
): boolean {
  const id = normalizePrincipalId(principalId);
  const fileGroups = compiled.groupsOf(id);
  for (const s of subjects) {
    if (
      s.kind === 'principal'
        ? normalizePrincipalId(s.id) === id
        : fileGroups.has(s.name) || assertedGroups.includes(s.name)
    )
      return true;
  }
  return false;
}

/** Principal ids the policy file names through these subjects (asserted-only members cannot be listed). */
export function subjectMembers(compiled: CompiledPolicy, subjects: readonly Subject[]): Set<string> {
  const out = new Set<string>();
  for (const s of subjects) {
    if (s.kind === 'principal') out.add(normalizePrincipalId(s.id));
    else for (const m of compiled.membersOf(s.name)) out.add(m);
  }
  return out;
}
