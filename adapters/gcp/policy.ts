import { GCP_CONDITION_PREFIX, type GcpBinding } from '../../core/builders/gcp';
import * as z from '../zod';

/**
 * Pure read-modify-write steps on a project's IAM allow policy. Nothing here touches a binding whose condition
 * title is not the grant's own `timebox:<grant id>`: other bindings are carried over as the very objects read,
 * in their order, so what goes back to Google is what came from it, byte for byte.
 *
 * GCP facts relied on (Resource Manager v1 / IAM docs):
 * - any policy holding conditional bindings must be read and written as `version: 3`;
 * - the `etag` read must be sent back, or a v1 write could drop every condition;
 * - at most 100 conditional role bindings per allow policy, and at most 20 bindings of one role for one member.
 */

/** GCP: "up to 100 conditional role bindings" per allow policy. */
export const MAX_CONDITIONAL_BINDINGS = 100;
/** GCP: at most 20 role bindings for the same role and the same principal (conditions differ by title). */
export const MAX_SAME_ROLE_MEMBER_BINDINGS = 20;

// zod/mini like every schema the functions load (../zod.ts): one zod in the lazily loaded GCP chunk and the entry.
const ConditionSchema = z.looseObject({
  title: z.optional(z.string()),
  description: z.optional(z.string()),
  expression: z.string(),
});
const BindingSchema = z.looseObject({
  role: z.string(),
  members: z.optional(z.array(z.string())),
  condition: z.optional(ConditionSchema),
});
/** A policy as Google returns it; unknown fields are kept (loose objects). */
export const IamPolicySchema = z.looseObject({
  version: z.optional(z.number().check(z.int())),
  etag: z.optional(z.string()),
  bindings: z.optional(z.array(BindingSchema)),
  auditConfigs: z.optional(z.array(z.unknown())),
});
export type IamPolicy = z.output<typeof IamPolicySchema>;
export type IamBinding = NonNullable<IamPolicy['bindings']>[number];

/** True for the bindings of this grant (exact title), and only those. */
export function isGrantBinding(b: IamBinding, title: string): boolean {
  return b.condition?.title === title;
}

/** True for any binding Timebox wrote (any grant). */
export function isTimeboxBinding(b: IamBinding): boolean {
  return b.condition?.title?.startsWith(GCP_CONDITION_PREFIX) === true;
}

export function countConditional(bindings: readonly IamBinding[]): number {
  return bindings.filter((b) => b.condition !== undefined).length;
}

/** Conditional bindings of `role` that include `member` (GCP caps these at 20). */
export function countSameRoleMember(bindings: readonly IamBinding[], role: string, member: string): number {
  return bindings.filter((b) => b.condition !== undefined && b.role === role && (b.members ?? []).includes(member))
    .length;
}

export interface AddPlan {
  /** The bindings to write back (others untouched), or null when every binding is already in place. */
  bindings: IamBinding[] | null;
  /** Roles whose binding this write adds or repairs. */
  added: string[];
  /** Roles whose binding was already there (idempotent replay). */
  present: string[];
}

/**
 * Adds the grant's bindings. One already there (same role, same title, member in it) is left alone; one with the
 * grant's title and role but not the expected member or expression is ours and is replaced in place.
 */
export function planAdd(current: readonly IamBinding[], wanted: readonly GcpBinding[]): AddPlan {
  const next: IamBinding[] = [...current];
  const added: string[] = [];
  const present: string[] = [];
  for (const w of wanted) {
    const i = next.findIndex((b) => b.role === w.role && isGrantBinding(b, w.condition.title));
    const fresh: IamBinding = { role: w.role, members: [...w.members], condition: { ...w.condition } };
    if (i < 0) {
      next.push(fresh);
      added.push(w.role);
      continue;
    }
    const have = next[i] as IamBinding;
    const same =
      have.condition?.expression === w.condition.expression && w.members.every((m) => (have.members ?? []).includes(m));
    if (same) {
      present.push(w.role);
    } else {
      next[i] = fresh;
      added.push(w.role);
    }
  }
  return { bindings: added.length > 0 ? next : null, added, present };
}

export interface RemovePlan {
  /** The bindings to write back, or null when the grant has no binding left (removed by hand, or already). */
  bindings: IamBinding[] | null;
  /** The removed bindings' roles. */
  removed: string[];
}

/** Removes exactly the bindings titled with the grant's title. */
export function planRemove(current: readonly IamBinding[], title: string): RemovePlan {
  const removed = current.filter((b) => isGrantBinding(b, title)).map((b) => b.role);
  if (removed.length === 0) return { bindings: null, removed };
  return { bindings: current.filter((b) => !isGrantBinding(b, title)), removed };
}

/**
 * The policy to send with setIamPolicy: version 3 (conditions present or being removed), the etag that was read,
 * and the bindings. `auditConfigs` is left out on purpose: the update mask names only `bindings` and `etag`, so
 * Google keeps the project's audit configuration as it is whatever we send.
 */
export function policyToWrite(read: IamPolicy, bindings: IamBinding[]): IamPolicy {
  return { version: 3, ...(read.etag === undefined ? {} : { etag: read.etag }), bindings };
}

/** setIamPolicy's field mask: only bindings (and the etag guard) change. */
export const UPDATE_MASK = 'bindings,etag';
