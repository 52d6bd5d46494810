import { durationCap } from './decide';
import { type CompiledPolicy, type CompiledRule, subjectToString } from './policy/compile';
import type { Target } from './policy/types';
import { normalizePrincipalId, type Principal } from './principal';
import { type Reason, reason } from './reasons';

/** One way the caller may ask for access: a target through one rule, with that rule's limits. */
export interface EligibleOption {
  target: string;
  kind: Target['kind'];
  targetDescription?: string;
  rule: string;
  ruleDescription?: string;
  /** What a request may name as scopes: the rule's scopes, else the target's whole scope. */
  scopes: string[];
  /** Whether `scopes` is the rule's narrowing (true) or the target's whole scope (false). */
  narrowed: boolean;
  /** Longest grant, min(rule, target, global), in milliseconds. */
  maxDuration: number;
  /** How far ahead a start time may be, in milliseconds. */
  maxStartAhead: number;
  approval:
    | { kind: 'auto' }
    | {
        kind: 'approvers';
        count: number;
        /** Subjects as written in the policy (`group:secops`). */
        from: string[];
        /** People the policy file names through `from`, the caller left out (asserted-only members are not known). */
        approvers: string[];
        requireMfa: boolean;
        /** How long a request may wait for its approvals, in milliseconds. */
        pendingTimeout: number;
      };
  requireMfa: boolean;
  /** Hours the grant must fall in, as written in the policy. */
  hours?: string;
  sourceIp?: string[];
  /** Conditions the caller cannot meet with this session whatever they ask (MFA, source IP, too few approvers). */
  blockers: Reason[];
}

/**
 * Every target and rule the principal may request through, in policy order (targets by name, rules by file order),
 * with the limits and approvals each rule sets. This is what a request form offers; `decide` stays the judge of an
 * actual request (hours and durations depend on the request).
 */
export function eligibility(compiled: CompiledPolicy, who: Principal): EligibleOption[] {
  const me = normalizePrincipalId(who.id);
  const fileGroups = compiled.groupsOf(me);
  const { settings } = compiled.policy;
  const out: EligibleOption[] = [];
  for (const name of Object.keys(compiled.policy.targets).sort()) {
    const target = compiled.target(name);
    if (!target) continue;
    for (const c of compiled.rulesFor(name)) {
      if (!admits(c, me, fileGroups, who.groups)) continue;
      const { rule } = c;
      const approval: EligibleOption['approval'] =
        rule.approval.kind === 'auto'
          ? { kind: 'auto' }
          : {
              kind: 'approvers',
              count: rule.approval.count,
              from: rule.approval.from.map(subjectToString),
              approvers: [...c.approvers].filter((a) => a !== me).sort(),
              requireMfa: rule.approval.requireMfa || rule.require.mfa,
              pendingTimeout: rule.pendingTimeout ?? settings.pendingTimeout,
            };
      out.push({
        target: name,
        kind: target.kind,
        ...(target.description ? { targetDescription: target.description } : {}),
        rule: rule.name,
        ...(rule.description ? { ruleDescription: rule.description } : {}),
        scopes: rule.scopes ? [...rule.scopes] : wholeScope(target),
        narrowed: rule.scopes !== undefined,
        maxDuration: durationCap(compiled, rule, target),
        maxStartAhead: rule.maxStartAhead ?? settings.maxStartAhead,
        approval,
        requireMfa: rule.require.mfa,
        ...(rule.when.hours ? { hours: rule.when.hours.source } : {}),
        ...(rule.when.sourceIp ? { sourceIp: [...rule.when.sourceIp] } : {}),
        blockers: blockers(c, who, approval),
      });
    }
  }
  return out;
}

function admits(c: CompiledRule, me: string, fileGroups: ReadonlySet<string>, asserted: readonly string[]): boolean {
  if (c.whoPrincipals.has(me)) return true;
  for (const g of c.whoGroups) if (fileGroups.has(g) || asserted.includes(g)) return true;
  return false;
}

function wholeScope(t: Target): string[] {
  switch (t.kind) {
    case 'grpc':
      return [...t.methods];
    case 'aws-role':
      return [...t.actions, ...t.resources];
    case 'gcp-role':
      return [...t.roles];
  }
}

function blockers(c: CompiledRule, who: Principal, approval: EligibleOption['approval']): Reason[] {
  const out: Reason[] = [];
  if (c.rule.require.mfa && !who.mfa) out.push(reason('CONDITION.MFA_REQUIRED', 'this rule requires an MFA session'));
  for (const [key, accepted] of Object.entries(c.rule.require.attributes)) {
    const actual = Object.hasOwn(who.attributes, key) ? who.attributes[key] : undefined;
    if (actual === undefined || !accepted.includes(actual))
      out.push(reason('CONDITION.ATTRIBUTE', `attribute ${key} must be one of ${accepted.join(', ')}`));
  }
  if (c.ipAllowed && (!who.sourceIp || !c.ipAllowed(who.sourceIp)))
    out.push(
      reason(
        'CONDITION.SOURCE_IP',
        `source IP ${who.sourceIp ?? '(unknown)'} is outside ${c.rule.when.sourceIp?.join(', ')}`,
      ),
    );
  if (approval.kind === 'approvers' && approval.approvers.length < approval.count)
    out.push(
      reason(
        'APPROVAL.NOT_ENOUGH_APPROVERS',
        `needs ${approval.count} approvers other than the requester but only ${approval.approvers.length} are eligible`,
      ),
    );
  return out;
}
