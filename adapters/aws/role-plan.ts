import { REVOCATION_SKEW_MS } from '../../core/builders/aws-iam';
import { StateError } from '../../core/errors';
import type { Grant } from '../../core/grant/state';

/**
 * What activating and ending an `aws-role` grant takes, decided from the grant alone, with no SDK: most of the time
 * nothing, because access comes from AssumeRole when credentials are asked for and the session policy's time
 * condition ends it at expiry (docs/aws.md, "Credentials"). Kept apart from the provider (./sts.ts) so a
 * function can answer these cases without loading the STS and IAM clients (lambdas/runtime.ts).
 */

/** Role chaining caps a session at 1 h: the longest any credential issued for a grant can live. */
export const MAX_SESSION_SECONDS = 3600;

/** Nothing to put in place at activation: access comes from AssumeRole at credential time. */
export function awsRoleProvision(): Record<string, unknown> {
  return {};
}

/** Ending a grant needs no IAM write; `reason` goes on the audit record. */
export interface NoRevocation {
  revocation: 'none';
  reason: string;
}

/**
 * Whether ending `grant` needs a deny entry on its role, and until when to keep it (the last credential's expiry
 * plus clock skew), or why it needs none. `expired` never does: the session policy's time condition already ends
 * every session at expiry.
 */
export function awsRoleRevocation(
  grant: Grant,
  why: 'revoked' | 'expired',
  now: Date,
): NoRevocation | { revocation: 'deny'; role: { account: string; role: string }; keepUntil: Date } {
  if (grant.target.kind !== 'aws-role')
    throw new StateError('TARGET.KIND_MISMATCH', `${grant.id} is not an aws-role grant`);
  if (why === 'expired')
    return { revocation: 'none', reason: 'expired: the session policy denies every call from the expiry on' };
  if (grant.credentialsIssued === 0) return { revocation: 'none', reason: 'no credentials were issued' };
  const lastExpiry = grant.lastCredentialExpiresAt ?? grant.expiresAt;
  const keepUntil = new Date(
    (lastExpiry ? Date.parse(lastExpiry) : now.getTime() + MAX_SESSION_SECONDS * 1000) + REVOCATION_SKEW_MS,
  );
  if (keepUntil.getTime() <= now.getTime())
    return { revocation: 'none', reason: 'every credential issued for this grant has already expired' };
  return { revocation: 'deny', role: { account: grant.target.account, role: grant.target.role }, keepUntil };
}
