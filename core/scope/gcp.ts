/**
 * GCP role names for `gcp-role` targets. Roles carry no wildcards: a requested role must be one of the allowed
 * roles, compared as exact strings (GCP role names are case-sensitive).
 */

export type GcpRole =
  | { kind: 'predefined'; name: string; source: string }
  | { kind: 'project'; project: string; roleId: string; source: string }
  | { kind: 'organization'; organization: string; roleId: string; source: string };

export type GcpRoleParse = { ok: true; role: GcpRole } | { ok: false; message: string };

/** Far above any real role name; bounds the work and the messages. */
export const MAX_GCP_ROLE_LENGTH = 256;

// `roles/bigquery.dataViewer`: dot-separated parts of letters, digits and underscores.
const PREDEFINED = /^roles\/([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)$/;
// Project ids: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter, not ending in `-`.
// Legacy domain-scoped ids (`example.com:proj`) are refused rather than special-cased.
const PROJECT_ROLE = /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/roles\/([A-Za-z0-9_.]{3,64})$/;
const ORGANIZATION_ROLE = /^organizations\/([0-9]{1,32})\/roles\/([A-Za-z0-9_.]{3,64})$/;

const BASIC_ROLES: ReadonlySet<string> = new Set(['roles/owner', 'roles/editor', 'roles/viewer']);

/** Parses a GCP role name (`roles/x`, `projects/p/roles/r`, `organizations/o/roles/r`); says why one is refused. */
export function parseGcpRole(role: string): GcpRoleParse {
  if (typeof role !== 'string' || role.length === 0) return { ok: false, message: 'GCP role is empty' };
  const shown = JSON.stringify(role.length > 120 ? `${role.slice(0, 120)}...` : role);
  if (role.length > MAX_GCP_ROLE_LENGTH) {
    return { ok: false, message: `GCP role ${shown} is longer than ${MAX_GCP_ROLE_LENGTH} characters` };
  }
  const predefined = PREDEFINED.exec(role);
  if (predefined) return { ok: true, role: { kind: 'predefined', name: predefined[1] ?? '', source: role } };
  const project = PROJECT_ROLE.exec(role);
  if (project) {
    return { ok: true, role: { kind: 'project', project: project[1] ?? '', roleId: project[2] ?? '', source: role } };
  }
  const org = ORGANIZATION_ROLE.exec(role);
  if (org) {
    return { ok: true, role: { kind: 'organization', organization: org[1] ?? '', roleId: org[2] ?? '', source: role } };
  }
  return {
    ok: false,
    message: `GCP role ${shown} is not a role name (roles/<name>, projects/<project>/roles/<id> or organizations/<org>/roles/<id>)`,
  };
}

/**
 * Is this a basic role (Owner, Editor, Viewer)? GCP refuses IAM conditions on basic roles, so a binding for one
 * could not carry the expiry condition and the grant would not end by itself.
 */
export function isBasicRole(role: string): boolean {
  return BASIC_ROLES.has(role);
}
