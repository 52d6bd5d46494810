import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { type ErrorKind, TimeboxError } from '../core/errors';
import { GRANT_ID_PATTERN } from '../core/ids';
import { isLoopbackHost } from '../core/net';

/** A token as the broker hands it out for a gRPC grant. */
export interface BrokerToken {
  token: string;
  /** ISO-8601. */
  expiresAt: string;
}

export interface TokenSourceOptions {
  fetchToken: () => Promise<BrokerToken>;
  /** Fetch a new token this long before the current one expires (default 30 s; at most half the token's life). */
  refreshBeforeMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Hands out a current bearer token, fetching a new one before the cached one expires. */
export interface TokenSource {
  token(): Promise<string>;
  /** Forgets the cached token (e.g. after the server answered UNAUTHENTICATED). */
  invalidate(): void;
}

/** Errors of the client helpers, with a stable code like the rest of Timebox. */
export class GrpcClientError extends TimeboxError {
  /** The HTTP status from the broker, when the broker answered. */
  public readonly httpStatus?: number;
  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown; httpStatus?: number }) {
    super(kind, code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GrpcClientError';
    if (options?.httpStatus !== undefined) this.httpStatus = options.httpStatus;
  }
}

/**
 * A caching token source. Concurrent callers share one fetch; when a refresh fails while the cached token is
 * still valid, the cached token is used and the refresh is tried again on the next call, so a broker hiccup
 * inside the refresh window never fails a call that could have succeeded.
 */
export function tokenSource(opts: TokenSourceOptions): TokenSource {
  const refreshBeforeMs = opts.refreshBeforeMs ?? 30_000;
  if (!(refreshBeforeMs >= 0)) throw new Error('refreshBeforeMs must be >= 0');
  const now = opts.now ?? Date.now;
  let cached: { token: string; expiresAtMs: number; refreshAtMs: number } | undefined;
  let inflight: Promise<string> | undefined;

  const refresh = (): Promise<string> => {
    if (inflight) return inflight;
    const run = (async () => {
      const fetched = await opts.fetchToken();
      const fetchedAt = now();
      const expiresAtMs = Date.parse(fetched?.expiresAt);
      if (typeof fetched?.token !== 'string' || fetched.token.length === 0 || !Number.isFinite(expiresAtMs))
        throw new GrpcClientError('unavailable', 'TOKEN.MALFORMED', 'the token fetcher returned no usable token');
      if (expiresAtMs <= fetchedAt)
        throw new GrpcClientError(
          'unauthenticated',
          'TOKEN.EXPIRED',
          `the fetched token expired at ${fetched.expiresAt}`,
        );
      // A token shorter-lived than the refresh window would otherwise be refetched on every call.
      const lead = Math.min(refreshBeforeMs, (expiresAtMs - fetchedAt) / 2);
      cached = { token: fetched.token, expiresAtMs, refreshAtMs: expiresAtMs - lead };
      return fetched.token;
    })();
    inflight = run;
    run.then(
      () => {
        inflight = undefined;
      },
      () => {
        inflight = undefined;
      },
    );
    return run;
  };

  return {
    async token() {
      const t = now();
      if (cached && t < cached.refreshAtMs) return cached.token;
      const stillValid = cached && t < cached.expiresAtMs ? cached.token : undefined;
      try {
        return await refresh();
      } catch (e) {
        if (stillValid !== undefined && cached && now() < cached.expiresAtMs) return stillValid;
        throw e;
      }
    },
    invalidate() {
      cached = undefined;
    },
  };
}

const GRPC_CODE: Partial<Record<ErrorKind, grpc.status>> = {
  unauthenticated: grpc.status.UNAUTHENTICATED,
  forbidden: grpc.status.PERMISSION_DENIED,
  'not-found': grpc.status.PERMISSION_DENIED,
  conflict: grpc.status.PERMISSION_DENIED,
  unprocessable: grpc.status.PERMISSION_DENIED,
};

/**
 * gRPC call credentials that put `authorization: Bearer <token>` on every call. Over TLS, compose them into the
 * channel: `grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(), callCredentials(src))`.
 * gRPC refuses to compose them with insecure channel credentials, so on a plaintext loopback channel pass them
 * per call instead: `client.getUser(req, { credentials: callCredentials(src) }, cb)`.
 */
export function callCredentials(source: TokenSource): grpc.CallCredentials {
  return grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    source.token().then(
      (token) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${token}`);
        callback(null, md);
      },
      (e: unknown) => {
        // gRPC fails the call with this numeric code (a broker outage is retryable, a refusal is not).
        const kind = e instanceof TimeboxError ? e.kind : 'unavailable';
        const err = Object.assign(new Error(e instanceof Error ? e.message : String(e)), {
          code: GRPC_CODE[kind] ?? grpc.status.UNAVAILABLE,
        });
        callback(err);
      },
    );
  });
}

export interface BrokerTokenFetcherOptions {
  /** The broker API base URL (`http://127.0.0.1:8787` locally, the API Gateway stage URL on AWS). */
  endpoint: string;
  grantId: string;
  /** Authentication for the broker: a bearer token locally, SigV4 headers on AWS (computed per request). */
  authHeaders: () => Promise<Record<string, string>>;
  /** Timeout of one request (default 10 s). */
  timeoutMs?: number;
}

const tokenResponse = z.object({ token: z.string().min(1), expiresAt: z.string().min(1) });
const errorResponse = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

function kindOfHttp(status: number): ErrorKind {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 422) return 'unprocessable';
  if (status >= 400 && status < 500) return 'invalid';
  return 'unavailable';
}

/** Fetches tokens for one grant from the broker: `POST {endpoint}/v1/grants/{grantId}/credentials`. */
export function brokerTokenFetcher(opts: BrokerTokenFetcherOptions): () => Promise<BrokerToken> {
  if (!GRANT_ID_PATTERN.test(opts.grantId))
    throw new GrpcClientError('invalid', 'GRANT.ID_INVALID', `${JSON.stringify(opts.grantId)} is not a grant id`);
  let base: URL;
  try {
    base = new URL(opts.endpoint);
  } catch (e) {
    throw new GrpcClientError('invalid', 'BROKER.ENDPOINT_INVALID', `${opts.endpoint} is not a URL`, { cause: e });
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:')
    throw new GrpcClientError('invalid', 'BROKER.ENDPOINT_INVALID', `${opts.endpoint} is not an http(s) URL`);
  // The request carries the caller's credentials and the answer is a bearer token: never in the clear on a network.
  if (base.protocol === 'http:' && !isLoopbackHost(base.hostname))
    throw new GrpcClientError(
      'invalid',
      'BROKER.ENDPOINT_INSECURE',
      `${opts.endpoint}: plain http is only allowed to a loopback broker; use https`,
    );
  const url = `${base.toString().replace(/\/+$/, '')}/v1/grants/${opts.grantId}/credentials`;
  const body = '{}';

  return async () => {
    const headers = { ...(await opts.authHeaders()), 'content-type': 'application/json', accept: 'application/json' };
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new GrpcClientError('unavailable', 'BROKER.UNREACHABLE', `cannot reach the broker at ${url}`, { cause: e });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = errorResponse.safeParse(json);
      const kind = kindOfHttp(res.status);
      if (err.success)
        throw new GrpcClientError(kind, err.data.error.code, err.data.error.message, { httpStatus: res.status });
      throw new GrpcClientError(kind, 'BROKER.HTTP_ERROR', `the broker answered HTTP ${res.status}`, {
        httpStatus: res.status,
      });
    }
    const ok = tokenResponse.safeParse(json);
    if (!ok.success || !Number.isFinite(Date.parse(ok.data.expiresAt)))
      throw new GrpcClientError('unavailable', 'BROKER.BAD_RESPONSE', 'the broker answer has no {token, expiresAt}', {
        httpStatus: res.status,
      });
    return { token: ok.data.token, expiresAt: ok.data.expiresAt };
  };
}
