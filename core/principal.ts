/**
 * An authenticated caller. On AWS it comes from the API Gateway request context (SigV4 caller ARN); locally from
 * a bearer token. `groups` and `attributes` are what the identity source asserts, on top of the policy file's groups.
 */
export interface Principal {
  id: string;
  groups: string[];
  mfa: boolean;
  sourceIp?: string;
  userAgent?: string;
  attributes: Record<string, string>;
}

const PRINCIPAL_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Principal ids are compared case-insensitively everywhere (SSO session names keep the case the user typed;
 * `Alice@corp.com` and `alice@corp.com` are one person, and must count as one approver). Canonical form is lower case.
 */
export function normalizePrincipalId(id: string): string {
  return id.trim().toLowerCase();
}

/** True when `id` can be a principal id (printable ASCII, 1-128 chars, no spaces). */
export function isValidPrincipalId(id: string): boolean {
  return PRINCIPAL_ID.test(id);
}

/** Builds a principal with normalised id and defaults for missing fields. */
export function principal(p: Partial<Principal> & { id: string }): Principal {
  return {
    id: normalizePrincipalId(p.id),
    groups: [...new Set(p.groups ?? [])].sort(),
    mfa: p.mfa ?? false,
    attributes: p.attributes ?? {},
    ...(p.sourceIp === undefined ? {} : { sourceIp: p.sourceIp }),
    ...(p.userAgent === undefined ? {} : { userAgent: p.userAgent }),
  };
}
