import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LocalTokenSigner } from '../adapters/local/signer';
import { isLoopbackHost } from '../core/net';
import { SessionVerifier } from '../local/auth';
import { brokerUrl } from '../local/paths';
import { hostnameOf, listenHttp, type RunningHttp } from '../local/server';
import { findWebRoot, SECURITY_HEADERS, sendJson, WebConsole } from '../local/web-console';
import { mintSigninCode, SigninCodes, signinUrl } from '../local/web-signin';
import type { AuthHeaders } from './client';

/**
 * `timebox ui`: the web console on 127.0.0.1 for a deployed API. The browser talks only to this server (same
 * origin); this server forwards the console's `/v1/` calls to the API, each signed with the user's own AWS
 * credentials (SigV4, as the CLI signs), so a deployment gains no new internet-facing sign-in path.
 *
 * A loopback port is reachable by every local user and by any web page, so the console here needs a session, as on
 * the local broker: a one-time link (`/#code=`), signed with a key made for this run only and printed once, traded for
 * an HttpOnly SameSite=Strict cookie; the cookie counts only with the console's CSRF header and origin. Without it,
 * nothing is forwarded: the AWS credentials of the user who ran `timebox ui` are never lent to anyone else.
 */

export interface UiServerOptions {
  /** The deployed API (API Gateway stage URL). */
  endpoint: URL;
  /** Signs each forwarded call (cli/client.ts authFor: SigV4 for API Gateway). */
  auth: AuthHeaders;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  webRoot?: string;
}

export interface UiServer {
  url: string;
  http: RunningHttp;
  /** A fresh one-time sign-in link (a minute, once). */
  signinLink(): Promise<string>;
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024;
// What the console sends that the API reads; nothing else (no cookie, no CSRF header) leaves this machine.
const FORWARDED_HEADERS = ['accept', 'content-type', 'idempotency-key'];

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new Error('timebox ui listens on loopback only');
  // A key for this run only: its sessions die with the process.
  const signer = await LocalTokenSigner.generate();
  let web: WebConsole | undefined;
  let verifier: SessionVerifier | undefined;
  const http = await listenHttp(
    (req, res) => {
      if (!web || !verifier) return sendJson(res, 503, { error: { code: 'UI.STARTING', message: 'starting' } });
      const name = hostnameOf(req.headers.host);
      if (!isLoopbackHost(name))
        return sendJson(res, 421, {
          error: { code: 'REQUEST.HOST_NOT_ALLOWED', message: 'this console answers only on loopback names' },
        });
      if (web.handle(req, res)) return;
      forward(req, res, web, verifier, opts).catch(() =>
        sendJson(res, 502, { error: { code: 'UI.FORWARD_FAILED', message: 'the API call failed' } }),
      );
    },
    host,
    opts.port,
  );
  const url = brokerUrl(host, http.port);
  const origins = [url, brokerUrl('localhost', http.port), brokerUrl('127.0.0.1', http.port)];
  const key = await signer.verifyKey();
  verifier = new SessionVerifier({ key, audiences: origins });
  web = new WebConsole({
    root: opts.webRoot ?? findWebRoot(),
    codes: new SigninCodes({ key, audiences: origins }),
    signer,
    audience: url,
    origins,
  });
  // The session names nobody: the API identifies the caller by the AWS credentials each call is signed with.
  const holder = `ui-${randomBytes(4).toString('hex')}@localhost`;
  return {
    url,
    http,
    signinLink: async () =>
      signinUrl(
        url,
        (await mintSigninCode(signer, { who: { id: holder, groups: [], mfa: false }, audience: url, now: new Date() }))
          .code,
      ),
    close: () => http.close(),
  };
}

async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  web: WebConsole,
  verifier: SessionVerifier,
  opts: UiServerOptions,
): Promise<void> {
  const path = req.url ?? '/';
  if (!path.startsWith('/v1/')) {
    req.resume();
    return sendJson(res, 404, { error: { code: 'ROUTE.NOT_FOUND', message: 'no such route' } });
  }
  const auth = await web.authenticate(req, verifier);
  if (!auth || 'error' in auth) {
    req.resume();
    const e = auth && 'error' in auth ? auth.error : undefined;
    return sendJson(res, e && 'status' in e ? (e.status as number) : 401, {
      error: {
        code: e?.code ?? 'AUTH.MISSING_TOKEN',
        message: e?.message ?? 'sign in with the link timebox ui printed',
      },
    });
  }
  const body = await readBody(req);
  if (body === null) return sendJson(res, 413, { error: { code: 'REQUEST.TOO_LARGE', message: 'body too large' } });
  // Built from the endpoint's origin and path: a path such as `//other.host/` must not choose the host.
  const target = new URL(opts.endpoint.origin + opts.endpoint.pathname.replace(/\/+$/, '') + path);
  if (target.origin !== opts.endpoint.origin)
    return sendJson(res, 400, { error: { code: 'REQUEST.INVALID_TARGET', message: 'bad path' } });
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'POST')
    return sendJson(res, 405, { error: { code: 'ROUTE.METHOD_NOT_ALLOWED', message: 'use GET or POST' } });
  const headers: Record<string, string> = {};
  for (const h of FORWARDED_HEADERS) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const signed = await opts.auth({ method, url: target, ...(body ? { body } : {}), headers });
  const upstream = await fetch(target, {
    method,
    headers: signed,
    ...(body ? { body } : {}),
    redirect: 'manual',
    signal: AbortSignal.timeout(30_000),
  });
  const text = await upstream.text();
  res.writeHead(upstream.status, {
    ...SECURITY_HEADERS,
    'content-type': upstream.headers.get('content-type') ?? 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string | undefined | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return size === 0 ? undefined : Buffer.concat(chunks).toString('utf8');
}
