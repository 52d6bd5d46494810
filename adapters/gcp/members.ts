import { isValidPrincipalId, normalizePrincipalId } from '../../core/principal';
import * as z from '../zod';
import { GCP_CODES, GcpError } from './errors';

/**
 * Principal id -> GCP IAM member. A Timebox principal id (e.g. `alice@corp.com` from an SSO session name) is not
 * a Google identity by itself: the operator says how ids map, with an explicit table and ordered suffix rules.
 * An id that maps to nothing is refused: the broker never guesses a Google identity.
 *
 * Only single-identity member types come out of rules (`user:`, `serviceAccount:`). `group:` is accepted only in
 * the explicit table, because binding a group hands the grant to every member of that group: an operator must
 * choose that for one principal id on purpose. `domain:`, `allUsers`, `allAuthenticatedUsers` and federated
 * `principal://` / `principalSet://` members are refused everywhere: they would widen a grant beyond its requester.
 */

export type MemberType = 'user' | 'group' | 'serviceAccount';

// Google account and group emails: conservative, lower case (principal ids are compared lower case everywhere).
const EMAIL = /^[a-z0-9](?:[a-z0-9._%+'-]{0,62}[a-z0-9_'-])?@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// Service account emails always end in gserviceaccount.com (user-managed: <id>@<project>.iam.gserviceaccount.com).
const SERVICE_ACCOUNT_DOMAIN = /\.gserviceaccount\.com$/;
const MEMBER = /^(user|group|serviceAccount):(.+)$/;

/** Parses `user:x@y`, `group:x@y` or `serviceAccount:x@p.iam.gserviceaccount.com`; null for anything else. */
export function parseMember(member: string): { type: MemberType; email: string } | null {
  const m = MEMBER.exec(member);
  if (!m) return null;
  const type = m[1] as MemberType;
  const email = (m[2] ?? '').toLowerCase();
  if (email.length > 254 || email.includes('..') || !EMAIL.test(email)) return null;
  if (type === 'serviceAccount' && !SERVICE_ACCOUNT_DOMAIN.test(email)) return null;
  return { type, email };
}

const memberString = () =>
  z.pipe(
    z.string().check(z.maxLength(300)),
    z.transform((s: string, ctx) => {
      const parsed = parseMember(s.trim());
      if (!parsed) {
        ctx.issues.push({
          code: 'custom',
          message: `"${s.slice(0, 80)}" is not a single-identity member (user:<email>, group:<email> or serviceAccount:<email>.gserviceaccount.com)`,
          input: s,
        });
        return z.NEVER;
      }
      return `${parsed.type}:${parsed.email}`;
    }),
  );

const suffix = () =>
  z
    .pipe(
      z.string().check(z.minLength(2), z.maxLength(255)),
      z.transform((s: string) => s.toLowerCase()),
    )
    .check(
      z.refine((s) => /^@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(s), {
        message: 'must be an email domain suffix such as "@corp.com"',
      }),
    );

/** Built on first use (z.lazy), like GcpConfigSchema: only functions with TIMEBOX_GCP set parse it. */
export const MemberRuleSchema = z.lazy(() =>
  z.strictObject({
    /** Principal ids ending with this (`@corp.com`) map by this rule. */
    suffix: suffix(),
    /** What the resulting email is: a Google account or a service account. Groups only via `explicit`. */
    type: z._default(z.enum(['user', 'serviceAccount']), 'user'),
    /** Replace the suffix, when Google identities live on another domain (`@corp.com` -> `@corp.example`). */
    replaceWith: z.optional(suffix()),
  }),
);
export type MemberRule = z.output<typeof MemberRuleSchema>;

const membersConfig = z.lazy(() =>
  z.pipe(
    z.strictObject({
      /** Principal id (any case) -> member; checked before the rules. */
      explicit: z._default(z.record(z.string().check(z.minLength(1), z.maxLength(128)), memberString()), {}),
      /** Tried in order; the first whose suffix matches wins. */
      rules: z._default(z.array(MemberRuleSchema).check(z.maxLength(50)), []),
    }),
    z.transform((c: { explicit: Record<string, string>; rules: MemberRule[] }) => ({
      explicit: Object.fromEntries(Object.entries(c.explicit).map(([k, v]) => [normalizePrincipalId(k), v])),
      rules: c.rules,
    })),
  ),
);

/** The members mapping, for TIMEBOX_GCP (GcpConfigSchema) and for the stack's `timebox:gcp` config. */
export const MembersConfigSchema = membersConfig;
export type MembersConfig = z.output<typeof MembersConfigSchema>;

/** The GCP member a principal id maps to; throws GCP.MEMBER_UNMAPPED when no entry or rule gives a valid one. */
export function memberFor(principalId: string, config: MembersConfig): string {
  const id = normalizePrincipalId(principalId);
  if (!isValidPrincipalId(id)) throw unmapped(principalId, 'it is not a valid principal id');
  // Own entries only: `constructor` or `__proto__` must not find an inherited value.
  const explicit = Object.hasOwn(config.explicit, id) ? config.explicit[id] : undefined;
  if (typeof explicit === 'string') return explicit;
  for (const rule of config.rules) {
    if (!id.endsWith(rule.suffix) || id.length === rule.suffix.length) continue;
    const email = rule.replaceWith ? id.slice(0, id.length - rule.suffix.length) + rule.replaceWith : id;
    const parsed = parseMember(`${rule.type}:${email}`);
    if (!parsed)
      throw unmapped(principalId, `rule "${rule.suffix}" gives "${email}", which is not a valid ${rule.type} email`);
    return `${parsed.type}:${parsed.email}`;
  }
  throw unmapped(principalId, 'no explicit entry and no suffix rule matches it');
}

function unmapped(id: string, why: string): GcpError {
  return new GcpError(
    'invalid',
    GCP_CODES.memberUnmapped,
    `principal "${id.slice(0, 128)}" has no GCP identity: ${why} (TIMEBOX_GCP members.explicit / members.rules)`,
  );
}
