import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { ProjectionStore } from '../../../core/ports';
import { accessProviders, CommonEnvSchema, commonConfig, loadConfig, NO_SIGNER } from '../../../lambdas/runtime';
import { MemoryProjectionStore, RecordingLog } from '../../helpers/memory';
import { activeGrantDummy, NOW, revokedGrantDummy } from '../aws/fixtures';
import { envDummy } from './env';

/**
 * The aws-role provider a function builds loads its module (the provider with its STS and IAM clients) only for
 * what needs them. The module is replaced here by one that records being loaded.
 */
// Only a call loads lambdas/aws-role (a dynamic import), so the replacement is in place before anything needs it.
const loaded = {
  count: 0,
  revoked: [] as string[],
  deps: undefined as { revokedGrants?: () => Promise<unknown[]> } | undefined,
};
jest.mock('../../../lambdas/aws-role', () => ({
  awsRoleProvider: (_cfg: unknown, deps: { revokedGrants?: () => Promise<unknown[]> }) => {
    loaded.count++;
    loaded.deps = deps;
    return {
      kind: 'aws-role',
      provision: async () => ({ loaded: true }),
      credentials: async () => {
        throw new Error('not used here');
      },
      revoke: async (g: { id: string }) => {
        loaded.revoked.push(g.id);
        return { revocation: 'deny-written' };
      },
      maintain: async () => {},
    };
  },
}));

afterEach(() => {
  loaded.count = 0;
  loaded.revoked = [];
});

function awsRole(stores?: { projections: ProjectionStore }) {
  const env = envDummy();
  const cfg = commonConfig(loadConfig(CommonEnvSchema, env));
  const providers = accessProviders(cfg, {
    policy: () => {
      throw new Error('not read');
    },
    signer: NO_SIGNER,
    log: new RecordingLog(),
    ...(stores ? { stores } : {}),
  });
  const p = providers['aws-role'];
  if (!p) throw new Error('no aws-role provider');
  return p;
}

describe('Function: accessProviders (aws-role)', () => {
  it('activates and expires aws-role grants without loading STS and IAM, with the adapter’s own answers', async () => {
    // Prepare
    const provider = awsRole();
    const g = await activeGrantDummy();
    // Act
    const provisioned = await provider.provision(g, { now: NOW });
    const expired = await provider.revoke({ ...g, status: 'expired', credentialsIssued: 2 }, 'expired', { now: NOW });
    const unused = await provider.revoke(revokedGrantDummy(g, { credentialsIssued: 0 }), 'revoked', { now: NOW });
    // Assess
    expect(provisioned).toEqual({});
    expect(expired).toEqual({
      revocation: 'none',
      reason: 'expired: the session policy denies every call from the expiry on',
    });
    expect(unused).toEqual({ revocation: 'none', reason: 'no credentials were issued' });
    expect(loaded.count).toBe(0);
  });

  it('loads the provider, once, to revoke a grant whose credentials may still be live', async () => {
    // Prepare
    const provider = awsRole();
    const g = revokedGrantDummy(await activeGrantDummy());
    // Act
    const first = await provider.revoke(g, 'revoked', { now: NOW });
    await provider.revoke(g, 'revoked', { now: NOW });
    // Assess
    expect(first).toEqual({ revocation: 'deny-written' });
    expect(loaded.revoked).toEqual([g.id, g.id]);
    expect(loaded.count).toBe(1);
  });

  it('gives the provider the revoked grants from the projection, for the sweeper to confirm their denies', async () => {
    // Prepare
    const projections = new MemoryProjectionStore();
    const g = revokedGrantDummy(await activeGrantDummy());
    await projections.put(g);
    const provider = awsRole({ projections });
    // Act
    await provider.maintain?.({ now: NOW });
    // Assess
    const grants = (await loaded.deps?.revokedGrants?.()) as { id: string }[] | undefined;
    expect(grants?.map((x) => x.id)).toEqual([g.id]);
  });
});
