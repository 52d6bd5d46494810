import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from '@jest/globals';
import { UnavailableError } from '../../../core/errors';
import {
  type BrokerToken,
  brokerTokenFetcher,
  callCredentials,
  GrpcClientError,
  tokenSource,
} from '../../../grpc/client';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A fetcher that hands out numbered tokens living `lifeMs` from the fake clock, and counts its calls. */
function fetcherDummy(clock: { t: number }, lifeMs = 5 * 60_000) {
  let n = 0;
  const fetcher = {
    calls: 0,
    fail: undefined as Error | undefined,
    gate: undefined as Promise<void> | undefined,
    async fetchToken(): Promise<BrokerToken> {
      fetcher.calls++;
      if (fetcher.gate) await fetcher.gate;
      if (fetcher.fail) throw fetcher.fail;
      n++;
      return { token: `token-${n}`, expiresAt: iso(clock.t + lifeMs) };
    },
  };
  return fetcher;
}

describe('Function: tokenSource', () => {
  describe('Method: token', () => {
    it('fetches once and serves the cached token until the refresh window', async () => {
      // Prepare
      const clock = { t: T0 };
      const f = fetcherDummy(clock);
      const src = tokenSource({ fetchToken: f.fetchToken, refreshBeforeMs: 30_000, now: () => clock.t });
      // Act / Assess
      expect(await src.token()).toBe('token-1');
      clock.t = T0 + 4 * 60_000 + 29_999;
      expect(await src.token()).toBe('token-1');
      expect(f.calls).toBe(1);
      clock.t = T0 + 4 * 60_000 + 30_000;
      expect(await src.token()).toBe('token-2');
      expect(f.calls).toBe(2);
    });

    it('shares one fetch between concurrent callers', async () => {
      const clock = { t: T0 };
      const f = fetcherDummy(clock);
      let open: () => void = () => {};
      f.gate = new Promise<void>((r) => {
        open = r;
      });
      const src = tokenSource({ fetchToken: f.fetchToken, now: () => clock.t });

      const all = Promise.all([src.token(), src.token(), src.token()]);
      open();

      expect(await all).toEqual(['token-1', 'token-1', 'token-1']);
      expect(f.calls).toBe(1);
    });

    it('keeps using a still-valid token when an early refresh fails, and retries on the next call', async () => {
      const clock = { t: T0 };
      const f = fetcherDummy(clock);
      const src = tokenSource({ fetchToken: f.fetchToken, refreshBeforeMs: 60_000, now: () => clock.t });
      await src.token();
      clock.t = T0 + 4.5 * 60_000;
      f.fail = new UnavailableError('BROKER.UNREACHABLE', 'down');

      expect(await src.token()).toBe('token-1');
      f.fail = undefined;
      expect(await src.token()).toBe('token-2');
      expect(f.calls).toBe(3);
    });

    it('fails once the cached token has expired and the broker cannot be reached', async () => {
      const clock = { t: T0 };
      const f = fetcherDummy(clock);
      const src = tokenSource({ fetchToken: f.fetchToken, now: () => clock.t });
      await src.token();
      clock.t = T0 + 5 * 60_000;
      f.fail = new UnavailableError('BROKER.UNREACHABLE', 'down');

      await expect(src.token()).rejects.toMatchObject({ code: 'BROKER.UNREACHABLE' });
    });

    it('refreshes a short-lived token at half its life rather than on every call', async () => {
      const clock = { t: T0 };
      const f = fetcherDummy(clock, 20_000);
      const src = tokenSource({ fetchToken: f.fetchToken, refreshBeforeMs: 60_000, now: () => clock.t });
      await src.token();
      clock.t = T0 + 9_999;
      await src.token();
      expect(f.calls).toBe(1);
      clock.t = T0 + 10_000;
      expect(await src.token()).toBe('token-2');
    });

    it('fetches again after invalidate()', async () => {
      const clock = { t: T0 };
      const f = fetcherDummy(clock);
      const src = tokenSource({ fetchToken: f.fetchToken, now: () => clock.t });
      await src.token();
      src.invalidate();
      expect(await src.token()).toBe('token-2');
    });

    it.each([
      ['an expired token', { token: 'x', expiresAt: iso(T0 - 1) }, 'TOKEN.EXPIRED'],
      ['no token', { token: '', expiresAt: iso(T0 + 60_000) }, 'TOKEN.MALFORMED'],
      ['an unreadable expiry', { token: 'x', expiresAt: 'soon' }, 'TOKEN.MALFORMED'],
    ])('refuses %s from the fetcher', async (_label, answer, code) => {
      const src = tokenSource({ fetchToken: async () => answer, now: () => T0 });
      await expect(src.token()).rejects.toMatchObject({ code });
    });
  });
});

describe('Function: callCredentials', () => {
  const generate = (creds: grpc.CallCredentials) =>
    creds.generateMetadata({ method_name: 'GetUser', service_url: 'https://svc/acme.user.v1.UserService' });

  it('puts the current token on the call as a bearer authorization', async () => {
    const src = tokenSource({
      fetchToken: async () => ({ token: 'abc.def.ghi', expiresAt: iso(T0 + 60_000) }),
      now: () => T0,
    });
    const md = await generate(callCredentials(src));
    expect(md.get('authorization')).toEqual(['Bearer abc.def.ghi']);
  });

  it.each([
    ['a broker outage', new UnavailableError('BROKER.UNREACHABLE', 'down'), grpc.status.UNAVAILABLE],
    ['a refused login', new GrpcClientError('unauthenticated', 'AUTH.INVALID', 'no'), grpc.status.UNAUTHENTICATED],
    [
      'a grant that is over',
      new GrpcClientError('conflict', 'GRANT.NOT_ACTIVE', 'over'),
      grpc.status.PERMISSION_DENIED,
    ],
    ['an unexpected fault', new Error('boom'), grpc.status.UNAVAILABLE],
  ])('fails the call with a gRPC code on %s', async (_label, error, code) => {
    const src = tokenSource({
      fetchToken: async () => {
        throw error;
      },
    });
    await expect(generate(callCredentials(src))).rejects.toMatchObject({ code, message: error.message });
  });
});

describe('Function: brokerTokenFetcher', () => {
  const auth = async () => ({});
  it.each([
    [
      'a grant id that could change the path',
      { endpoint: 'http://127.0.0.1:1', grantId: '../requests' },
      'GRANT.ID_INVALID',
    ],
    [
      'an endpoint that is not a URL',
      { endpoint: 'broker', grantId: 'tb-01jdem00000000000000000000' },
      'BROKER.ENDPOINT_INVALID',
    ],
    [
      'a non-http endpoint',
      { endpoint: 'file:///etc', grantId: 'tb-01jdem00000000000000000000' },
      'BROKER.ENDPOINT_INVALID',
    ],
    [
      'a plain-http endpoint beyond loopback',
      { endpoint: 'http://broker.example', grantId: 'tb-01jdem00000000000000000000' },
      'BROKER.ENDPOINT_INSECURE',
    ],
  ])('refuses %s before sending anything', (_label, opts, code) => {
    expect(() => brokerTokenFetcher({ ...opts, authHeaders: auth })).toThrow(expect.objectContaining({ code }));
  });
});
