import type { ActiveGrant } from '../../core/ports';

const NOW = '2026-11-24T10:00:00.000Z';

/** alice's active prod-logs grant, 10:00-10:30 on the test day, as the store holds it; override what a test is about. */
export function awsGrantDummy(partial: Partial<ActiveGrant> = {}): ActiveGrant {
  return {
    id: 'tb-01jd0000000000000000000000',
    status: 'active',
    requester: { id: 'alice@corp.com', groups: [], mfa: false, attributes: {} },
    target: {
      kind: 'aws-role',
      name: 'prod-logs',
      account: '111122223333',
      role: 'timebox-prod-logs',
      partition: 'aws',
      roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
    },
    scope: { kind: 'aws-role', actions: ['s3:GetObject'], resources: ['arn:aws:s3:::prod-logs/*'] },
    duration: 30 * 60_000,
    reason: 'INC-123',
    rule: 'sre-reads-logs',
    requestedAt: NOW,
    pendingUntil: null,
    approval: null,
    approvals: [],
    conditions: { mfa: false },
    activatedAt: NOW,
    expiresAt: '2026-11-24T10:30:00.000Z',
    accessInPlace: false,
    cleanupNeeded: false,
    credentialsIssued: 0,
    lastSeq: 2,
    lastHash: 'h',
    updatedAt: NOW,
    ...partial,
  };
}
