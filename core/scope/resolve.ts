/**
 * Resolves the scope a grant carries: the requested scopes, checked against what the rule allows within the
 * target, or the whole allowance when nothing was requested. The result is never wider than the target: every
 * element of an effective scope is checked against the target's own list before it is returned.
 *
 * Rules may name several targets of different kinds with one `scopes` list, so a rule scope applies to a target
 * only when it is of that target's family (gRPC method pattern, AWS action or ARN pattern, GCP role) and lies
 * within that target. A rule that lists scopes for a half but none inside this target leaves nothing to grant,
 * rather than falling back to the whole target. A rule scope of no family at all is a policy error and fails
 * closed: the policy loader should have refused it.
 */

import type { AwsRoleTarget, GcpRoleTarget, GrpcTarget, Target } from '../policy/types';
import { type Reason, reason } from '../reasons';
import {
  actionCovered,
  hasWildcard,
  iamPatternMatches,
  parseActionPattern,
  parseResourcePattern,
  resourceContained,
} from './aws';
import { isBasicRole, parseGcpRole } from './gcp';
import { methodPatternWithin, parseMethodPattern } from './grpc';
import type { ScopeResult } from './types';

/** A request naming more scopes than this is refused before any is examined. */
export const MAX_REQUESTED_SCOPES = 50;

/** Stable reason codes for scope decisions. */
export const SCOPE_CODES = {
  /** A requested scope is malformed or of the wrong kind for the target. */
  invalid: 'SCOPE.INVALID',
  /** A requested scope is not (provably) within what the rule allows on the target. */
  outsideTarget: 'SCOPE.OUTSIDE_TARGET',
  tooMany: 'SCOPE.TOO_MANY',
  /** The policy's own scopes for this rule and target are malformed or leave nothing to grant. */
  policyInvalid: 'SCOPE.POLICY_INVALID',
} as const;

type Family = 'grpc' | 'aws' | 'gcp';

const FAMILY_NAME: Record<Family, string> = {
  grpc: 'a gRPC method pattern',
  aws: 'an AWS action or resource pattern',
  gcp: 'a GCP role',
};

const TARGET_FAMILY: Record<Target['kind'], Family> = { grpc: 'grpc', 'aws-role': 'aws', 'gcp-role': 'gcp' };

/** The family a well-formed scope belongs to, or undefined when it is well-formed in none. */
function familyOf(scope: string): Family | undefined {
  if (parseMethodPattern(scope).ok) return 'grpc';
  if (isResourceScope(scope) ? parseResourcePattern(scope).ok : parseActionPattern(scope).ok) return 'aws';
  if (parseGcpRole(scope).ok) return 'gcp';
  return undefined;
}

/** On an `aws-role` target a scope starting `arn:` narrows resources; anything else narrows actions. */
const isResourceScope = (scope: string): boolean => scope.startsWith('arn:');

/** Why a scope is malformed, from the parser its shape points to; undefined when that parser accepts it. */
function shapeProblem(scope: string): string | undefined {
  if (scope.startsWith('/')) return problemOf(parseMethodPattern(scope));
  if (/^(?:roles|projects|organizations)\//.test(scope)) return problemOf(parseGcpRole(scope));
  return problemOf(isResourceScope(scope) ? parseResourcePattern(scope) : parseActionPattern(scope));
}

function problemOf(r: { ok: true } | { ok: false; message: string }): string | undefined {
  return r.ok ? undefined : r.message;
}

function dedupe(items: readonly string[]): string[] {
  return [...new Set(items)];
}

function show(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);
}

function list(items: readonly string[]): string {
  return `[${items.join(', ')}]`;
}

/** Where the allowance for one half comes from, for messages. */
interface Allowance {
  items: string[];
  /** `rule` when the rule narrowed this half, else `target`. */
  from: 'rule' | 'target';
}

/**
 * Picks the allowance for one half: the rule's scopes of that half that lie within the target, when the rule
 * lists any for that half; else the target's own list. Reports a policy problem when the rule's scopes for the
 * half all lie outside the target.
 */
function allowanceFor(
  target: Target,
  half: string,
  targetItems: readonly string[],
  ruleItems: readonly string[],
  within: (inner: string, outer: string) => boolean,
  problems: Reason[],
): Allowance {
  if (ruleItems.length === 0) return { items: [...targetItems], from: 'target' };
  const inside = ruleItems.filter((s) => targetItems.some((t) => within(s, t)));
  if (inside.length === 0) {
    problems.push(
      reason(
        SCOPE_CODES.policyInvalid,
        `the rule narrows the ${half} of target ${target.name} to ${list(ruleItems)}, but none of these lies within the target's ${list(targetItems)}; nothing can be granted`,
      ),
    );
  }
  return { items: inside, from: 'rule' };
}

/** Splits the rule's scopes into those of the target's family; malformed ones become policy problems. */
function ruleScopesFor(target: Target, ruleScopes: readonly string[] | undefined, problems: Reason[]): string[] {
  const mine: string[] = [];
  const family = TARGET_FAMILY[target.kind];
  for (const s of ruleScopes ?? []) {
    const f = familyOf(s);
    if (f === undefined) {
      const why = shapeProblem(s) ?? `${show(s)} is malformed`;
      problems.push(reason(SCOPE_CODES.policyInvalid, `rule scope is malformed: ${why}`));
    } else if (f === family) {
      mine.push(s);
    }
  }
  return mine;
}

/** Checks the target's own list; a malformed entry fails closed rather than being granted or dropped. */
function checkTargetItems(
  target: Target,
  items: readonly string[],
  problem: (s: string) => string | undefined,
  problems: Reason[],
): void {
  for (const s of items) {
    const why = problem(s);
    if (why !== undefined) problems.push(reason(SCOPE_CODES.policyInvalid, `target ${target.name}: ${why}`));
  }
}

/** A requested scope of another family gets a message naming both families. */
function wrongFamilyMessage(target: Target, scope: string): string | undefined {
  const f = familyOf(scope);
  if (f === undefined || f === TARGET_FAMILY[target.kind]) return undefined;
  return `scope ${show(scope)} is ${FAMILY_NAME[f]}, but target ${target.name} has kind ${target.kind}`;
}

function outsideMessage(scope: string, what: string, allowance: Allowance, target: Target, proven: boolean): string {
  const source =
    allowance.from === 'rule' ? `the rule allows on target ${target.name}` : `target ${target.name} allows`;
  const verdict = proven ? 'is outside' : 'could not be proven to lie within';
  const note = proven
    ? ''
    : ' (containment of wildcard patterns is checked conservatively; request a narrower or literal pattern)';
  return `${what} ${show(scope)} ${verdict} the ${what}s ${source}: ${list(allowance.items)}${note}`;
}

/**
 * A literal AWS scope that no allowed pattern matches even under whole-string globbing (the loosest reading of
 * IAM wildcards) is certainly outside; for anything else the containment check may merely have missed a proof.
 */
function certainlyOutside(scope: string, allowed: readonly string[], resource: boolean): boolean {
  return !hasWildcard(scope) && !allowed.some((a) => iamPatternMatches(a, scope, { caseInsensitive: !resource }));
}

function resolveAws(
  target: AwsRoleTarget,
  ruleScopes: readonly string[] | undefined,
  requested: readonly string[],
): ScopeResult {
  const problems: Reason[] = [];
  checkTargetItems(target, target.actions, (s) => problemOf(parseActionPattern(s)), problems);
  checkTargetItems(target, target.resources, (s) => problemOf(parseResourcePattern(s)), problems);
  const rule = ruleScopesFor(target, ruleScopes, problems);
  const allowedActions = allowanceFor(
    target,
    'actions',
    target.actions,
    rule.filter((s) => !isResourceScope(s)),
    actionCovered,
    problems,
  );
  const allowedResources = allowanceFor(
    target,
    'resources',
    target.resources,
    rule.filter(isResourceScope),
    resourceContained,
    problems,
  );
  if (problems.length > 0) return { ok: false, reasons: problems };

  const reasons: Reason[] = [];
  const actions: string[] = [];
  const resources: string[] = [];
  for (const s of requested) {
    const resource = isResourceScope(s);
    const parsed = resource ? parseResourcePattern(s) : parseActionPattern(s);
    if (!parsed.ok) {
      reasons.push(reason(SCOPE_CODES.invalid, wrongFamilyMessage(target, s) ?? parsed.message));
      continue;
    }
    const allowance = resource ? allowedResources : allowedActions;
    const within = resource ? resourceContained : actionCovered;
    if (allowance.items.some((a) => within(s, a))) {
      (resource ? resources : actions).push(s);
      continue;
    }
    const proven = certainlyOutside(s, allowance.items, resource);
    reasons.push(
      reason(SCOPE_CODES.outsideTarget, outsideMessage(s, resource ? 'resource' : 'action', allowance, target, proven)),
    );
  }
  if (reasons.length > 0) return { ok: false, reasons };

  const effActions = dedupe(actions.length > 0 ? actions : allowedActions.items);
  const effResources = dedupe(resources.length > 0 ? resources : allowedResources.items);
  const guard = [
    ...notWithinTarget(target, 'action', effActions, target.actions, actionCovered),
    ...notWithinTarget(target, 'resource', effResources, target.resources, resourceContained),
    ...nonEmpty(target, 'actions', effActions),
    ...nonEmpty(target, 'resources', effResources),
  ];
  if (guard.length > 0) return { ok: false, reasons: guard };
  return { ok: true, scope: { kind: 'aws-role', actions: effActions, resources: effResources } };
}

function resolveGrpc(
  target: GrpcTarget,
  ruleScopes: readonly string[] | undefined,
  requested: readonly string[],
): ScopeResult {
  const problems: Reason[] = [];
  checkTargetItems(target, target.methods, (s) => problemOf(parseMethodPattern(s)), problems);
  const rule = ruleScopesFor(target, ruleScopes, problems);
  const allowed = allowanceFor(target, 'methods', target.methods, rule, methodPatternWithin, problems);
  if (problems.length > 0) return { ok: false, reasons: problems };

  const reasons: Reason[] = [];
  for (const s of requested) {
    const parsed = parseMethodPattern(s);
    if (!parsed.ok) {
      reasons.push(reason(SCOPE_CODES.invalid, wrongFamilyMessage(target, s) ?? parsed.message));
    } else if (!allowed.items.some((a) => methodPatternWithin(s, a))) {
      // Method-pattern containment is exact, so a miss is a proof that the scope is outside.
      reasons.push(reason(SCOPE_CODES.outsideTarget, outsideMessage(s, 'method', allowed, target, true)));
    }
  }
  if (reasons.length > 0) return { ok: false, reasons };

  const methods = dedupe(requested.length > 0 ? requested : allowed.items);
  const guard = [
    ...notWithinTarget(target, 'method', methods, target.methods, methodPatternWithin),
    ...nonEmpty(target, 'methods', methods),
  ];
  if (guard.length > 0) return { ok: false, reasons: guard };
  return { ok: true, scope: { kind: 'grpc', methods } };
}

function gcpRoleProblem(role: string): string | undefined {
  const parsed = parseGcpRole(role);
  if (!parsed.ok) return parsed.message;
  if (isBasicRole(role)) {
    return `basic role ${role} cannot carry an IAM condition, so a binding for it would not expire by itself`;
  }
  return undefined;
}

function resolveGcp(
  target: GcpRoleTarget,
  ruleScopes: readonly string[] | undefined,
  requested: readonly string[],
): ScopeResult {
  const problems: Reason[] = [];
  checkTargetItems(target, target.roles, gcpRoleProblem, problems);
  const rule = ruleScopesFor(target, ruleScopes, problems);
  const allowed = allowanceFor(target, 'roles', target.roles, rule, (a, b) => a === b, problems);
  if (problems.length > 0) return { ok: false, reasons: problems };

  const reasons: Reason[] = [];
  for (const s of requested) {
    const why = gcpRoleProblem(s);
    if (why !== undefined) {
      reasons.push(reason(SCOPE_CODES.invalid, wrongFamilyMessage(target, s) ?? why));
    } else if (!allowed.items.includes(s)) {
      reasons.push(reason(SCOPE_CODES.outsideTarget, outsideMessage(s, 'role', allowed, target, true)));
    }
  }
  if (reasons.length > 0) return { ok: false, reasons };

  const roles = dedupe(requested.length > 0 ? requested : allowed.items);
  const guard = [
    ...notWithinTarget(target, 'role', roles, target.roles, (a, b) => a === b),
    ...nonEmpty(target, 'roles', roles),
  ];
  if (guard.length > 0) return { ok: false, reasons: guard };
  return { ok: true, scope: { kind: 'gcp-role', roles } };
}

/** Last line of defence: an effective element the target does not provably contain fails closed. */
function notWithinTarget(
  target: Target,
  what: string,
  effective: readonly string[],
  targetItems: readonly string[],
  within: (inner: string, outer: string) => boolean,
): Reason[] {
  return effective
    .filter((e) => !targetItems.some((t) => within(e, t)))
    .map((e) =>
      reason(
        SCOPE_CODES.policyInvalid,
        `${what} ${show(e)} is not within target ${target.name}'s ${list(targetItems)}`,
      ),
    );
}

function nonEmpty(target: Target, what: string, effective: readonly string[]): Reason[] {
  return effective.length > 0 ? [] : [reason(SCOPE_CODES.policyInvalid, `target ${target.name} allows no ${what}`)];
}

/**
 * The scope a grant on `target` carries under a rule with `ruleScopes`, for a request naming `requested`
 * (empty: the whole target as the rule allows). Reports every bad scope, not only the first.
 */
export function resolveScope(target: Target, ruleScopes: string[] | undefined, requested: string[]): ScopeResult {
  if (requested.length > MAX_REQUESTED_SCOPES) {
    return {
      ok: false,
      reasons: [
        reason(
          SCOPE_CODES.tooMany,
          `${requested.length} scopes requested; at most ${MAX_REQUESTED_SCOPES} are allowed`,
        ),
      ],
    };
  }
  switch (target.kind) {
    case 'aws-role':
      return resolveAws(target, ruleScopes, requested);
    case 'grpc':
      return resolveGrpc(target, ruleScopes, requested);
    case 'gcp-role':
      return resolveGcp(target, ruleScopes, requested);
  }
}

/**
 * Why `scope` cannot narrow `target` (malformed, of another kind, or not within the target), or undefined when
 * it can. Used by the policy file cross-check of rule scopes.
 */
export function validateScopeAgainstTarget(target: Target, scope: string): string | undefined {
  const wrong = wrongFamilyMessage(target, scope);
  if (wrong !== undefined) return wrong;
  switch (target.kind) {
    case 'aws-role': {
      const resource = isResourceScope(scope);
      const why = problemOf(resource ? parseResourcePattern(scope) : parseActionPattern(scope));
      if (why !== undefined) return why;
      const items = resource ? target.resources : target.actions;
      const within = resource ? resourceContained : actionCovered;
      if (items.some((t) => within(scope, t))) return undefined;
      const what = resource ? 'resource' : 'action';
      const proven = certainlyOutside(scope, items, resource);
      return outsideMessage(scope, what, { items: [...items], from: 'target' }, target, proven);
    }
    case 'grpc': {
      const why = problemOf(parseMethodPattern(scope));
      if (why !== undefined) return why;
      if (target.methods.some((t) => methodPatternWithin(scope, t))) return undefined;
      return outsideMessage(scope, 'method', { items: [...target.methods], from: 'target' }, target, true);
    }
    case 'gcp-role': {
      const why = gcpRoleProblem(scope);
      if (why !== undefined) return why;
      if (target.roles.includes(scope)) return undefined;
      return outsideMessage(scope, 'role', { items: [...target.roles], from: 'target' }, target, true);
    }
  }
}
