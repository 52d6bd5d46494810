import { GRANT_TAG, sessionPolicy, sessionPolicyJson } from '../../core/builders/aws';
import {
  MAX_SESSION_MS,
  REVOCATION_POLICY_NAME,
  REVOCATION_SKEW_MS,
  revocationPolicy,
} from '../../core/builders/aws-iam';
import { bindingTitle, gcpBindings } from '../../core/builders/gcp';
import { StateError } from '../../core/errors';
import type { Grant } from '../../core/grant/state';
import {
  type AccessContext,
  type AccessProvider,
  type ActiveGrant,
  type CredentialKind,
  type IssuedCredential,
  PLAN_CREDENTIAL_KIND,
} from '../../core/ports';

/**
 * Plan providers for `aws-role` and `gcp-role` targets in local mode. There is no cloud account locally, and faking
 * one would show nothing true, so these run the real lifecycle and answer every credentials call with exactly what a
 * deployment would apply (built by the same core builders the AWS and GCP adapters use), and say so.
 */

export const LOCAL_NOTE = 'local mode: no cloud credentials exist; this is what a deployment would apply';

/** The `kind` of a credential these providers issue: recorded on the audit trail as what it is, a plan. */

/** STS AssumeRole DurationSeconds floor (900 s); the ceiling is one hour when a role assumes a role (role chaining). */
const MIN_SESSION_SECONDS = 900;

/**
 * GCP IAM changes are eventually consistent: Google documents that a binding typically applies within 2 minutes
 * and can take 7 minutes or more (IAM docs, "Access change propagation").
 */
export const GCP_PROPAGATION = 'a deployment adds the binding at activation; GCP applies it in ~2 min, sometimes 7+';

/** What the local aws-role provider hands out: the AssumeRole call a deployment would make, and its session policy. */
export interface LocalAwsPlan {
  kind: 'aws-role';
  note: string;
  roleArn: string;
  expiresAt: string;
  sessionPolicy: ReturnType<typeof sessionPolicy>;
  assumeRole: {
    RoleArn: string;
    RoleSessionName: string;
    SourceIdentity: string;
    Tags: { Key: string; Value: string }[];
    DurationSeconds?: number;
  };
  console?: string;
}

/** What the local gcp-role provider hands out: the conditional bindings a deployment would add to the project. */
export interface LocalGcpPlan {
  kind: 'gcp-role';
  note: string;
  project: string;
  roles: string[];
  member: string;
  expiresAt: string;
  bindings: ReturnType<typeof gcpBindings>;
  consoleUrl: string;
  propagation: string;
}

function awsGrant(grant: ActiveGrant) {
  const { target, scope } = grant;
  if (target.kind !== 'aws-role' || scope.kind !== 'aws-role')
    throw new StateError('TARGET.KIND_MISMATCH', `${grant.id} is not an aws-role grant`);
  return { target, scope, expiresAt: new Date(grant.expiresAt) };
}

function gcpGrant(grant: ActiveGrant) {
  const { target, scope } = grant;
  if (target.kind !== 'gcp-role' || scope.kind !== 'gcp-role')
    throw new StateError('TARGET.KIND_MISMATCH', `${grant.id} is not a gcp-role grant`);
  return { target, scope, expiresAt: new Date(grant.expiresAt) };
}

/** `aws-role` in local mode: the same AssumeRole input and session policy a deployment would use, no call made. */
export class LocalAwsRoleProvider implements AccessProvider {
  readonly kind = 'aws-role' as const;

  /** A deployment puts nothing in place at activation either: access comes from AssumeRole at credentials time. */
  async provision(): Promise<Record<string, unknown>> {
    return {};
  }

  /** The plan for `credentials` (the credential_process call) or `console` (a sign-in link's session). */
  async credentials(grant: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential> {
    if (kind !== 'credentials' && kind !== 'console')
      throw new StateError('CREDENTIALS.UNSUPPORTED_KIND', `aws-role grants issue credentials or console, not ${kind}`);
    const { target, scope, expiresAt } = awsGrant(grant);
    if (expiresAt.getTime() <= ctx.now.getTime()) throw new StateError('GRANT.EXPIRED', `${grant.id} has expired`);
    // Throws SESSION_POLICY.TOO_LARGE exactly where STS would refuse the policy.
    sessionPolicyJson(scope, expiresAt);
    const left = Math.ceil((expiresAt.getTime() - ctx.now.getTime()) / 1000);
    const plan: LocalAwsPlan = {
      kind: 'aws-role',
      note: LOCAL_NOTE,
      roleArn: target.roleArn,
      expiresAt: expiresAt.toISOString(),
      sessionPolicy: sessionPolicy(scope, expiresAt),
      assumeRole: {
        RoleArn: target.roleArn,
        RoleSessionName: grant.id,
        SourceIdentity: grant.requester.id,
        Tags: [{ Key: GRANT_TAG, Value: grant.id }],
        // Console sessions omit DurationSeconds: the federation endpoint refuses sessions whose duration a role set.
        ...(kind === 'credentials'
          ? { DurationSeconds: Math.min(MAX_SESSION_MS / 1000, Math.max(MIN_SESSION_SECONDS, left)) }
          : {}),
      },
      ...(kind === 'console'
        ? { console: 'a deployment signs in through the federation endpoint with this session; no link exists locally' }
        : {}),
    };
    return {
      kind: PLAN_CREDENTIAL_KIND,
      expiresAt,
      secret: plan,
      audit: { local: true, requested: kind, roleArn: target.roleArn, sessionName: grant.id },
    };
  }

  /** Expiry needs nothing (the session policy's time condition); a revocation would write this deny statement. */
  async revoke(grant: Grant, why: 'revoked' | 'expired', ctx: AccessContext): Promise<Record<string, unknown>> {
    if (why === 'expired' || grant.credentialsIssued === 0)
      return { local: true, revocation: 'none', reason: why === 'expired' ? 'expired' : 'no credentials were issued' };
    const last = Date.parse(grant.lastCredentialExpiresAt ?? grant.expiresAt ?? ctx.now.toISOString());
    const keepUntil = new Date(last + REVOCATION_SKEW_MS);
    if (keepUntil.getTime() <= ctx.now.getTime())
      return { local: true, revocation: 'none', reason: 'every credential issued for this grant has already expired' };
    return {
      local: true,
      note: LOCAL_NOTE,
      role: grant.target.kind === 'aws-role' ? grant.target.roleArn : null,
      inlinePolicy: REVOCATION_POLICY_NAME,
      wouldApply: revocationPolicy([{ grantId: grant.id, keepUntil }]),
    };
  }
}

/** `gcp-role` in local mode: the conditional bindings a deployment would add at activation and remove at the end. */
export class LocalGcpRoleProvider implements AccessProvider {
  readonly kind = 'gcp-role' as const;

  /** Recorded on the grant as `access-provisioned`, as a deployment records the binding it wrote. */
  async provision(grant: ActiveGrant): Promise<Record<string, unknown>> {
    const plan = gcpPlan(grant);
    return { local: true, note: LOCAL_NOTE, project: plan.project, bindings: plan.bindings };
  }

  async credentials(grant: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential> {
    if (kind === 'token')
      throw new StateError(
        'CREDENTIALS.UNSUPPORTED_KIND',
        'gcp-role targets hand out no token: access is an IAM binding on the project',
      );
    const plan = gcpPlan(grant);
    if (Date.parse(plan.expiresAt) <= ctx.now.getTime())
      throw new StateError('GRANT.EXPIRED', `${grant.id} has expired`);
    return {
      kind: PLAN_CREDENTIAL_KIND,
      expiresAt: new Date(plan.expiresAt),
      secret: plan,
      audit: { local: true, requested: kind, project: plan.project, title: bindingTitle(grant.id) },
    };
  }

  async revoke(grant: Grant, why: 'revoked' | 'expired'): Promise<Record<string, unknown>> {
    const project = grant.target.kind === 'gcp-role' ? grant.target.project : null;
    return { local: true, note: LOCAL_NOTE, project, why, wouldRemove: bindingTitle(grant.id) };
  }
}

/** Local principal ids map to `user:<id>`; a deployment maps them with its configured member rules. */
function gcpPlan(grant: ActiveGrant): LocalGcpPlan {
  const { target, scope, expiresAt } = gcpGrant(grant);
  const member = `user:${grant.requester.id}`;
  return {
    kind: 'gcp-role',
    note: LOCAL_NOTE,
    project: target.project,
    roles: [...scope.roles],
    member,
    expiresAt: expiresAt.toISOString(),
    bindings: gcpBindings({ grantId: grant.id, member, roles: scope.roles, expiresAt, reason: grant.reason }),
    consoleUrl: `https://console.cloud.google.com/home/dashboard?project=${encodeURIComponent(target.project)}`,
    propagation: GCP_PROPAGATION,
  };
}
