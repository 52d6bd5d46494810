import type * as zc from 'zod/v4/core';
import * as z from '../../adapters/zod';
import { TimeboxError } from '../../core/errors';
import { isValidPrincipalId, type Principal, principal } from '../../core/principal';
import type { ApiRequest } from './http';

/**
 * Who is calling, on AWS. API Gateway's IAM authorization verifies the SigV4 signature and puts the caller in
 * `requestContext.identity`; this module turns that into a Principal through a mapping the operator controls
 * (TIMEBOX_IDENTITY). Nothing the caller sends in headers or body counts.
 *
 * The mapping is deliberately narrow: an assumed-role session is accepted only for roles matching a configured
 * pattern, because the session name (which becomes the principal id) is chosen by whoever calls AssumeRole.
 * Only IAM Identity Center sets it for the user: its `AWSReservedSSO_<PermissionSet>_<hash>` roles can be assumed
 * by Identity Center alone, and their session name is the user's Identity Center user name.
 */

/** IAM role names: 1-64 of `[\w+=,.@-]`; a pattern may add `*` for any run of characters. */
const ROLE_PATTERN = /^[\w+=,.@*-]{1,64}$/;

export const IdentityConfigSchema = z.strictObject({
  /** Accounts callers may come from (12 digits each). A caller from any other account is refused. */
  accounts: z.array(z.string().check(z.regex(/^\d{12}$/, 'an AWS account id is 12 digits'))).check(z.minLength(1)),
  /** Roles whose sessions are people, first match wins. */
  roles: z._default(
    z.array(
      z.strictObject({
        /** Role name pattern, `*` matching any run of characters, e.g. `AWSReservedSSO_*`. Case-sensitive. */
        pattern: z.string().check(z.regex(ROLE_PATTERN, 'a role name pattern is 1-64 of [A-Za-z0-9+=,.@_-] and *')),
        /** True only where every session of the role is MFA-authenticated (e.g. Identity Center with MFA required). */
        mfa: z.boolean(),
        /** Assert group `sso:<PermissionSetName>` taken from an `AWSReservedSSO_<name>_<hash>` role name. */
        groupsFromPermissionSet: z.optional(z.boolean()),
      }),
    ),
    [],
  ),
  /** Accept IAM users (principal id = user name, never MFA: API Gateway does not pass the MFA context). */
  iamUsers: z._default(z.boolean(), false),
});

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
  const [, , service, account, resource] = m as unknown as [string, string, string, string, string];
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
    const rule = config.roles.find((r) => rolePatternMatches(r.pattern, roleName));
    if (!rule)
      throw unmapped(
        'forbidden',
        `role ${roleName} matches no role pattern in TIMEBOX_IDENTITY.roles: its session names are not trusted as user names`,
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

/** `authenticate` for the API on AWS: the principal from the request's verified caller identity. */
export function awsAuthenticator(config: IdentityConfig): (req: ApiRequest) => Promise<Principal> {
  return async (req) => principalFromCaller(config, req.auth);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
