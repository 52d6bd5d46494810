import { type GcpConfig, GcpConfigSchema } from '../../../adapters/gcp/config';
import type { GcpAuthClient } from '../../../adapters/gcp/resource-manager';
import type { ActiveGrant } from '../../../core/ports';
import { TOKEN } from './fake-crm';

export const PROJECT = 'acme-analytics';
export const NOW = new Date('2026-11-24T10:00:00Z');
export const EXPIRES = '2026-11-24T14:00:00.000Z';

/** An active gcp-role grant for alice on acme-analytics; override what the test is about. */
export function gcpGrantDummy(partial: Partial<ActiveGrant> = {}): ActiveGrant {
  return {
    id: 'tb-01jdx7k2m3n4p5q6r7s8t9v0wx',
    status: 'active',
    requester: { id: 'alice@corp.com', groups: ['sre'], mfa: true, attributes: {} },
    target: { kind: 'gcp-role', name: 'analytics', project: PROJECT },
    scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer'] },
    duration: 4 * 3_600_000,
    reason: 'INC-123 investigating',
    rule: 'analysts',
    requestedAt: '2026-11-24T09:59:00.000Z',
    pendingUntil: null,
    approval: null,
    approvals: [],
    conditions: { mfa: true },
    activatedAt: NOW.toISOString(),
    expiresAt: EXPIRES,
    accessInPlace: true,
    cleanupNeeded: false,
    credentialsIssued: 0,
    lastSeq: 3,
    lastHash: 'h3',
    updatedAt: NOW.toISOString(),
    ...partial,
  };
}

/** TIMEBOX_GCP as the stack writes it, plus a members rule for corp.com. */
export function gcpConfigDummy(partial: Record<string, unknown> = {}): GcpConfig {
  return GcpConfigSchema.parse({
    audience:
      '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/timebox/providers/aws-broker',
    serviceAccount: 'timebox-broker@acme-identity.iam.gserviceaccount.com',
    members: { rules: [{ suffix: '@corp.com', type: 'user' }] },
    ...partial,
  });
}

/** An auth client that always has the same token (the federation itself is tested in auth.test.ts). */
export const staticAuth: GcpAuthClient = { getAccessToken: async () => ({ token: TOKEN }) };

export const noSleep = async (_ms: number) => {};
