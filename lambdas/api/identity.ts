import type * as zc from 'zod/v4/core';
import * as z from '../../adapters/zod';
import type { ApiRequest } from '../../api/http';
import { TimeboxError } from '../../core/errors';
import { isValidPrincipalId, type Principal, principal } from '../../core/principal';

/**
 * Who is calling, on AWS. API Gateway's IAM authorization verifies the SigV4 signature and puts the caller in
 * `requestContext.identity`; this module turns that into a Principal through a mapping the operator controls
 * (TIMEBOX_IDENTITY). Nothing the caller sends in headers or body counts.
 *
 * An assumed-role session becomes a person only for roles whose session name (the principal id) is set by an
 * identity provider, never by whoever calls AssumeRole:
 * - IAM Identity Center roles (`pattern`): `AWSReservedSSO_<PermissionSet>_<hash>` under the path
 *   `/aws-reserved/sso.amazonaws.com/`, which only the Identity Center service can create roles in; the session
 *   name is the user's Identity Center user name.
 * - Named roles (`roleArn`) whose trust policy pins `sts:RoleSessionName` to `${saml:sub}` (SAML federation) or
 *   `${aws:username}` (IAM users assuming the role): see docs/identity.md.
 * The assumed-role ARN this function sees has no role path (STS drops it), so a role named like an Identity Center
 * role but created anywhere else would pass a name check. The path is checked by the API's resource policy, on
 * `aws:PrincipalArn`, from the same configuration (trustedPrincipalArns): such a caller never reaches the function.
 * The checks here are the second layer.
 */

/** IAM role names: 1-64 of `[\w+=,.@-]`; a pattern may add `*` for any run of characters. */
const ROLE_PATTERN = /^[\w+=,.@*-]{1,64}$/;
// A role ARN with its path. Path characters are any printable ASCII but `*`, `?` and `$`, which would be wildcards
// or policy variables in the resource policy's StringLike (IAM allows them in paths; Timebox refuses such roles).
const ROLE_ARN =
  /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\/((?:[\x21-\x23\x25-\x29\x2b-\x2e\x30-\x3e\x40-\x7e]+\/)*)([\w+=,.@-]{1,64})$/;
/** Path IAM Identity Center creates its roles under (possibly with a region segment below it). */
export const IDENTITY_CENTER_ROLE_PATH = '/aws-reserved/sso.amazonaws.com/';
/** Policy variables a trust policy may pin `sts:RoleSessionName` to: the SAML subject, or the calling IAM user's name. */
export const PINNED_SESSION_NAMES = ['saml:sub', 'aws:username'] as const;

const RoleRuleSchema = z
  .strictObject({
    /** Identity Center role name pattern, `*` matching any run of characters, e.g. `AWSReservedSSO_*`. Case-sensitive. */
    pattern: z.optional(
      z
        .string()
        .check(
          z.regex(ROLE_PATTERN, 'a role name pattern is 1-64 of [A-Za-z0-9+=,.@_-] and *'),
          z.startsWith(
            'AWSReservedSSO_',
            'a pattern names Identity Center roles: AWSReservedSSO_<permission set>_*; other roles are named by roleArn',
          ),
        ),
    ),
    /** A role, by ARN with its path, whose trust policy pins the session name (docs/identity.md). */
    roleArn: z.optional(
      z
        .string()
        .check(
          z.regex(ROLE_ARN, 'a role ARN is arn:<partition>:iam::<12 digits>:role/<path/><name>, without *, ? or $'),
        ),
    ),
    /** What the roleArn's trust policy pins sts:RoleSessionName to: `saml:sub` or `aws:username`. */
    sessionNameFrom: z.optional(z.enum(PINNED_SESSION_NAMES)),
    /** True only where every session of the role is MFA-authenticated (e.g. Identity Center with MFA required). */
    mfa: z.boolean(),
    /** Assert group `sso:<PermissionSetName>` taken from an `AWSReservedSSO_<name>_<hash>` role name. */
    groupsFromPermissionSet: z.optional(z.boolean()),
  })
  .check(
    z.refine((r) => (r.pattern === undefined) !== (r.roleArn === undefined), {
      message:
        'a role rule has either a pattern (Identity Center roles) or a roleArn (a role whose trust policy pins the session name), not both',
    }),
    z.refine((r) => r.roleArn === undefined || r.sessionNameFrom !== undefined, {
      message:
        'a roleArn rule names what its trust policy pins the session name to: sessionNameFrom saml:sub or aws:username',
    }),
    z.refine((r) => r.pattern === undefined || r.sessionNameFrom === undefined, {
      message: 'sessionNameFrom belongs to roleArn rules: Identity Center sets the session name itself',
    }),
    z.refine((r) => r.roleArn === undefined || r.groupsFromPermissionSet === undefined, {
      message: 'groupsFromPermissionSet belongs to Identity Center (pattern) rules',
    }),
  );

export const IdentityConfigSchema = z
  .strictObject({
    /** Accounts callers may come from (12 digits each). A caller from any other account is refused. */
    accounts: z.array(z.string().check(z.regex(/^\d{12}$/, 'an AWS account id is 12 digits'))).check(z.minLength(1)),
    /** Roles whose sessions are people, first match wins. */
    roles: z._default(z.array(RoleRuleSchema), []),
    /** Accept IAM users (principal id = user name, never MFA: API Gateway does not pass the MFA context). */
    iamUsers: z._default(z.boolean(), false),
  })
  .check(
    z.refine(
      (c) => c.roles.every((r) => r.roleArn === undefined || c.accounts.includes(ROLE_ARN.exec(r.roleArn)?.[2] ?? '')),
      { message: 'every roleArn must be in one of the listed accounts' },
    ),
  );

export type IdentityConfig = zc.output<typeof IdentityConfigSchema>;

/** TIMEBOX_IDENTITY as it arrives: a JSON string. */
export const IdentityConfigJsonSchema = z.jsonText(IdentityConfigSchema);

/** The part of API Gateway REST `requestContext.identity` (IAM auth) this mapping reads. */
const CallerSchema = z.object({
  userArn: z.nullish(z.string().check(z.maxLength(2048))),
  accountId: z.nullish(z.string().check(z.maxLength(32))),
  sourceIp: z.nullish(z.string().check(z.maxLength(64))),
  userAgent: z.nullish(z.string().check(z.maxLength(1024))),
});
export type CallerIdentity = zc.input<typeof CallerSchema>;

const unmapped = (kind: 'unauthenticated' | 'forbidden', message: string) =>
  new TimeboxError(kind, 'IDENTITY.UNMAPPED', message);

// arn:<partition>:<service>::<account>:<resource>. Partitions: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b...
const ARN = /^arn:(aws(?:-[a-z]+)*):(sts|iam)::(\d{12}):(.+)$/;
// The STS assumed-role ARN is `assumed-role/<role name>/<session name>` with no role path (STS drops it).
const ASSUMED_ROLE = /^assumed-role\/([\w+=,.@-]{1,64})\/([\w+=,.@-]{2,64})$/;
// IAM user ARNs keep the user's path: `user/<path/>*<user name>`.
const IAM_USER = /^user\/(?:[\x21-\x2e\x30-\x7e]+\/)*([\w+=,.@-]{1,64})$/;
// Identity Center role names: AWSReservedSSO_<permission set name>_<16 hex digits>.
const SSO_ROLE = /^AWSReservedSSO_([\w+=,.@-]{1,32})_[0-9a-f]{16}$/;

/** True when a role name matches a pattern where `*` stands for any run of characters (possibly empty). */
export function rolePatternMatches(pattern: string, role: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return re.test(role);
}

/**
 * Maps a verified caller (API Gateway IAM auth) to a Principal, or throws `IDENTITY.UNMAPPED`: 401 when there is
 * no usable caller identity, 403 when the caller is known to AWS but not admitted by the mapping.
 */
export function principalFromCaller(config: IdentityConfig, identity: unknown): Principal {
  const parsed = CallerSchema.safeParse(identity ?? {});
  const caller = parsed.success ? parsed.data : {};
  const arn = caller.userArn ?? undefined;
  if (!arn) throw unmapped('unauthenticated', 'no verified AWS caller: call this API with SigV4-signed (IAM) requests');
  const m = ARN.exec(arn);
  if (!m) throw unmapped('unauthenticated', `caller ${arn} is not an IAM or STS ARN`);
  const [, partition, service, account, resource] = m as unknown as [string, string, string, string, string];
  if (caller.accountId && caller.accountId !== account)
    throw unmapped('unauthenticated', `caller ${arn} does not belong to account ${caller.accountId}`);
  if (!config.accounts.includes(account))
    throw unmapped('forbidden', `caller account ${account} is not one this broker accepts (TIMEBOX_IDENTITY.accounts)`);
  const context = {
    ...(caller.sourceIp ? { sourceIp: caller.sourceIp } : {}),
    ...(caller.userAgent ? { userAgent: caller.userAgent } : {}),
  };

  if (service === 'sts') {
    const role = ASSUMED_ROLE.exec(resource);
    if (!role) throw refusedShape(arn, resource);
    const [, roleName, session] = role as unknown as [string, string, string];
    // A role name is unique in its account whatever its path: name and account identify a roleArn rule's role.
    const rule = config.roles.find((r) =>
      r.roleArn !== undefined
        ? sameRole(r.roleArn, partition, account, roleName)
        : r.pattern !== undefined && SSO_ROLE.test(roleName) && rolePatternMatches(r.pattern, roleName),
    );
    if (!rule)
      throw unmapped(
        'forbidden',
        `role ${roleName} matches no role in TIMEBOX_IDENTITY.roles: its session names are not trusted as user names`,
      );
    if (!isValidPrincipalId(session)) throw unmapped('forbidden', `session name ${session} cannot be a principal id`);
    const permissionSet = SSO_ROLE.exec(roleName)?.[1];
    return principal({
      id: session,
      mfa: rule.mfa,
      groups: rule.groupsFromPermissionSet && permissionSet ? [`sso:${permissionSet}`] : [],
      attributes: {
        'aws:account': account,
        'aws:role': roleName,
        ...(permissionSet ? { 'aws:permissionSet': permissionSet } : {}),
      },
      ...context,
    });
  }

  const user = IAM_USER.exec(resource);
  if (!user) throw refusedShape(arn, resource);
  if (!config.iamUsers)
    throw unmapped('forbidden', 'IAM users are not accepted (TIMEBOX_IDENTITY.iamUsers is false); sign in through SSO');
  const name = user[1] as string;
  return principal({ id: name, mfa: false, attributes: { 'aws:account': account, 'aws:user': name }, ...context });
}

function refusedShape(arn: string, resource: string): TimeboxError {
  if (resource === 'root')
    return unmapped('forbidden', `the root user (${arn}) cannot use Timebox; sign in as a person`);
  if (resource.startsWith('federated-user/'))
    return unmapped('forbidden', `federated users (${arn}) are not accepted: their names are chosen by the caller`);
  if (resource.startsWith('assumed-role/'))
    return unmapped('unauthenticated', `caller ${arn} is not an STS assumed-role ARN (assumed-role/<role>/<session>)`);
  return unmapped('forbidden', `caller ${arn} is not a kind of identity this broker maps`);
}

function sameRole(roleArn: string, partition: string, account: string, roleName: string): boolean {
  const m = ROLE_ARN.exec(roleArn);
  return m !== null && m[1] === partition && m[2] === account && m[4] === roleName;
}

/**
 * The `aws:PrincipalArn` patterns (IAM StringLike) of every caller the mapping may accept, for the API's resource
 * policy, which refuses all other signed callers before they reach the function. `aws:PrincipalArn` of a role
 * session is the role's ARN with its path: Identity Center rules admit roles under its reserved path only (directly
 * or below a region segment), roleArn rules exactly their role, iamUsers the accounts' users.
 */
export function trustedPrincipalArns(config: IdentityConfig, partition: string): string[] {
  const out: string[] = [];
  const sso = IDENTITY_CENTER_ROLE_PATH;
  for (const rule of config.roles) {
    if (rule.roleArn !== undefined) {
      if (ROLE_ARN.exec(rule.roleArn)?.[1] !== partition)
        throw new TimeboxError(
          'invalid',
          'IDENTITY.PARTITION',
          `roleArn ${rule.roleArn} is not in this stack's partition (${partition})`,
        );
      out.push(rule.roleArn);
    } else if (rule.pattern !== undefined) {
      for (const a of config.accounts) {
        out.push(
          `arn:${partition}:iam::${a}:role${sso}${rule.pattern}`,
          `arn:${partition}:iam::${a}:role${sso}*/${rule.pattern}`,
        );
      }
    }
  }
  if (config.iamUsers) for (const a of config.accounts) out.push(`arn:${partition}:iam::${a}:user/*`);
  return [...new Set(out)].sort();
}

/** `authenticate` for the API on AWS: the principal from the request's verified caller identity. */
export function awsAuthenticator(config: IdentityConfig): (req: ApiRequest) => Promise<Principal> {
  return async (req) => principalFromCaller(config, req.auth);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
