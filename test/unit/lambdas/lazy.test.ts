import { describe, expect, it } from '@jest/globals';
import { UnavailableError } from '../../../core/errors';
import type { AccessContext, AccessProvider, ActiveGrant, TokenSigner } from '../../../core/ports';
import { lazyProvider, lazySigner, once } from '../../../lambdas/lazy';

const ctx = { now: new Date('2026-11-24T10:00:00Z') } as AccessContext;
const grant = { id: 'tb-1' } as ActiveGrant;

/** A provider that records every call it receives. */
function providerDummy(calls: string[], partial: Partial<AccessProvider> = {}): AccessProvider {
  return {
    kind: 'gcp-role',
    provision: async (g) => {
      calls.push(`provision ${g.id}`);
      return { bound: true };
    },
    credentials: async (g, kind) => {
      calls.push(`credentials ${g.id} ${kind}`);
      return { kind, secret: 's', expiresAt: new Date('2026-11-24T11:00:00Z'), audit: {} };
    },
    revoke: async (g, why) => {
      calls.push(`revoke ${g.id} ${why}`);
      return { removed: 1 };
    },
    maintain: async () => {
      calls.push('maintain');
    },
    ...partial,
  };
}

describe('Function: once', () => {
  it('loads once however many callers wait at the same time', async () => {
    // Prepare
    let loads = 0;
    const load = once(async () => {
      loads++;
      return { n: loads };
    });
    // Act
    const [a, b] = await Promise.all([load(), load()]);
    const c = await load();
    // Assess
    expect(loads).toBe(1);
    expect(a).toBe(b);
    expect(c).toBe(a);
  });

  it('forgets a failed load, so the next call tries again instead of failing the warm function for good', async () => {
    let attempts = 0;
    const load = once(async () => {
      attempts++;
      if (attempts === 1) throw new Error('chunk missing');
      return 'loaded';
    });
    await expect(load()).rejects.toThrow('chunk missing');
    await expect(load()).resolves.toBe('loaded');
    expect(attempts).toBe(2);
  });
});

describe('Function: lazyProvider', () => {
  it('loads nothing until first used, then passes every call and its result through', async () => {
    // Prepare
    const calls: string[] = [];
    let loads = 0;
    const provider = lazyProvider('gcp-role', async () => {
      loads++;
      return providerDummy(calls);
    });
    // Act / Assess
    expect(provider.kind).toBe('gcp-role');
    expect(loads).toBe(0);
    expect(await provider.provision(grant, ctx)).toEqual({ bound: true });
    expect((await provider.credentials(grant, 'token', ctx)).kind).toBe('token');
    expect(await provider.revoke(grant, 'expired', ctx)).toEqual({ removed: 1 });
    await provider.maintain?.(ctx);
    expect(loads).toBe(1);
    expect(calls).toEqual(['provision tb-1', 'credentials tb-1 token', 'revoke tb-1 expired', 'maintain']);
  });

  it('passes a provider error through unchanged (the same class, so its code and kind still count)', async () => {
    const refusal = new UnavailableError('GCP.UNAVAILABLE', 'down');
    const provider = lazyProvider('gcp-role', async () =>
      providerDummy([], {
        revoke: async () => {
          throw refusal;
        },
      }),
    );
    await expect(provider.revoke(grant, 'revoked', ctx)).rejects.toBe(refusal);
  });

  it('maintains nothing when the loaded provider has no housekeeping', async () => {
    const provider = lazyProvider('gcp-role', async () => providerDummy([], { maintain: undefined }));
    await expect(provider.maintain?.(ctx)).resolves.toBeUndefined();
  });
});

describe('Function: lazySigner', () => {
  it('loads the signer on the first signature or key request, once', async () => {
    // Prepare
    let loads = 0;
    const real: TokenSigner = {
      sign: async (claims) => `jwt:${JSON.stringify(claims)}`,
      jwks: async () => ({ keys: [] }),
    };
    const signer = lazySigner(async () => {
      loads++;
      return real;
    });
    // Act
    expect(loads).toBe(0);
    const jwt = await signer.sign({ sub: 'alice' });
    const jwks = await signer.jwks();
    // Assess
    expect(jwt).toBe('jwt:{"sub":"alice"}');
    expect(jwks).toEqual({ keys: [] });
    expect(loads).toBe(1);
  });
});
