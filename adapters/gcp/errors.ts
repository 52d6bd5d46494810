import { type ErrorKind, TimeboxError } from '../../core/errors';

/**
 * Errors of the GCP adapter. Every one carries a stable `GCP.*` code, which goes on the grant's audit record
 * (`access-failed`) and, for credential calls, back to the caller. Raw Google error bodies are kept as `details`
 * for the logs, never parsed for decisions beyond the HTTP status and the canonical `status` string.
 */
export class GcpError extends TimeboxError {
  /** HTTP status Google answered with, when the error came from an API call. */
  public readonly httpStatus?: number;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    options?: { cause?: unknown; details?: unknown; httpStatus?: number },
  ) {
    super(kind, code, message, options);
    this.name = 'GcpError';
    if (options?.httpStatus !== undefined) this.httpStatus = options.httpStatus;
  }
}

/** Codes, listed once so tests, docs and callers agree on them. */
export const GCP_CODES = {
  /** The broker service account may not read or write this project's IAM policy. */
  permissionDenied: 'GCP.PERMISSION_DENIED',
  /** The project does not exist, or the broker cannot see it. */
  projectNotFound: 'GCP.PROJECT_NOT_FOUND',
  /** The project is not one the broker was set up for (TIMEBOX_GCP `projects`). */
  projectNotConfigured: 'GCP.PROJECT_NOT_CONFIGURED',
  /** The policy kept changing under us: every etag retry lost the race. */
  conflict: 'GCP.POLICY_CONFLICT',
  /** Adding the grant's bindings would pass the 100 conditional role bindings a policy may hold. */
  conditionalLimit: 'GCP.CONDITIONAL_BINDING_LIMIT',
  /** 20 conditional bindings of one role for one member already exist. */
  sameRoleMemberLimit: 'GCP.SAME_ROLE_MEMBER_LIMIT',
  /** Basic roles (owner/editor/viewer) cannot carry the expiry condition. */
  basicRole: 'GCP.BASIC_ROLE',
  /** A role name that is not a GCP role name. */
  invalidRole: 'GCP.INVALID_ROLE',
  /** A project id that is not a GCP project id. */
  invalidProject: 'GCP.INVALID_PROJECT',
  /** The principal id maps to no GCP member. */
  memberUnmapped: 'GCP.MEMBER_UNMAPPED',
  /** The grant is not a gcp-role grant with roles (a wiring bug upstream). */
  invalidGrant: 'GCP.INVALID_GRANT',
  /** Google refused the request as malformed (for example a member that does not exist). */
  rejected: 'GCP.REJECTED',
  /** Google is unavailable or throttling (429, 5xx, network): retried later by the sweeper. */
  unavailable: 'GCP.UNAVAILABLE',
  /** The keyless token exchange (AWS -> Google STS -> service account) failed. */
  authFailed: 'GCP.AUTH_FAILED',
  /** Google answered with something that is not an IAM policy. */
  badResponse: 'GCP.BAD_RESPONSE',
  /** A credential kind this target does not hand out (`token`). */
  unsupportedCredential: 'GCP.CREDENTIAL_KIND_UNSUPPORTED',
  /** Credentials asked for while the binding is not (yet) in place. */
  bindingPending: 'GCP.BINDING_NOT_IN_PLACE',
} as const;
