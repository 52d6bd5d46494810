import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import type { Grant } from '../../../core/grant/state';
import type { ActiveGrant } from '../../../core/ports';
import { RecordingLog } from '../../helpers/memory';
import { awsTargetDummy } from '../../helpers/targets';
import { alice, requestDummy, world } from '../../helpers/world';

export { awsTargetDummy };

export const NOW = new Date('2026-11-24T10:00:00.000Z');
export const ROLE_ARN = 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs';

/** An active prod-logs grant for alice (10:00-10:30 unless `durationMs` says otherwise), from the real lifecycle. */
export async function activeGrantDummy(durationMs = 30 * 60_000): Promise<ActiveGrant> {
  const w = world();
  const { grant } = await w.service.request(alice, requestDummy({ duration: durationMs }));
  return (await w.service.load(grant.id)) as ActiveGrant;
}

/** The same grant after it was revoked with credentials issued that expire at `lastCredentialExpiresAt`. */
export function revokedGrantDummy(g: ActiveGrant, partial: Partial<Grant> = {}): Grant {
  return {
    ...g,
    status: 'revoked',
    endedAt: NOW.toISOString(),
    credentialsIssued: 1,
    lastCredentialExpiresAt: g.expiresAt,
    cleanupNeeded: true,
    ...partial,
  };
}

export function clients() {
  const sts = new STSClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const iam = new IAMClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  return { sts, iam, log: new RecordingLog() };
}
