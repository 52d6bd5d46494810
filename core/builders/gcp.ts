/**
 * The conditional IAM binding a `gcp-role` grant adds to a project policy (policy version 3). GCP enforces the
 * expiry condition itself; revoking removes the binding by its title.
 */
export interface GcpBinding {
  role: string;
  members: string[];
  condition: { title: string; description: string; expression: string };
}

export const GCP_CONDITION_PREFIX = 'timebox:';

/** The condition title that identifies the binding of one grant; nothing else is ever touched. */
export function bindingTitle(grantId: string): string {
  return `${GCP_CONDITION_PREFIX}${grantId}`;
}

/** CEL timestamps take RFC 3339; whole seconds in UTC. */
export function celTimestamp(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** One binding per role, each ending at `expiresAt`. */
export function gcpBindings(args: {
  grantId: string;
  member: string;
  roles: string[];
  expiresAt: Date;
  reason?: string;
}): GcpBinding[] {
  return args.roles.map((role) => ({
    role,
    members: [args.member],
    condition: {
      title: bindingTitle(args.grantId),
      // Cut by code point, not UTF-16 unit: half a surrogate pair is not valid text for the API.
      description: Array.from(`Timebox grant ${args.grantId}${args.reason ? `: ${args.reason}` : ''}`)
        .slice(0, 256)
        .join(''),
      expression: `request.time < timestamp('${celTimestamp(args.expiresAt)}')`,
    },
  }));
}
