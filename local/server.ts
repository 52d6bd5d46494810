import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ApiRequest, type ApiResponse, errorResponse, HttpError, MAX_BODY_BYTES } from '../api/http';
import { TimeboxError } from '../core/errors';
import type { Log } from '../core/ports';
import type { LocalAuth, SessionVerifier } from './auth';
import type { WebConsole } from './web-console';

export interface HttpAdapterOptions {
  api: (req: ApiRequest) => Promise<ApiResponse>;
  verifier: Pick<SessionVerifier, 'fromHeader'>;
  log: Log;
  /** Bodies larger than this are refused while still arriving (default: the API's own limit). */
  maxBodyBytes?: number;
  /**
   * Which `Host` names are answered (default: any). A loopback broker answers only loopback names and its public
   * URL's: a web page that rebinds its own DNS name to 127.0.0.1 then reaches nothing.
   */
  allowedHost?: (hostname: string) => boolean;
  /** Routes answered outside the API (long polls), after the Host check; true when it took the request. */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** The web console (./web-console.ts): its pages and sign-in, and its session cookie for API calls. */
  web?: Pick<WebConsole, 'handle' | 'authenticate'>;
}

/**
 * node:http -> the transport-neutral ApiRequest, and back: what API Gateway does for the Lambda. The source IP is
 * the socket's peer address (nothing a client sends, such as X-Forwarded-For, is believed), the request id is made
 * here, repeated query parameters stay arrays (the API refuses them), and the bearer token is verified here so that
 * `authenticate` reads only `auth`, as on AWS.
 */
export function createRequestListener(opts: HttpAdapterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  return (req, res) => {
    const requestId = randomUUID();
    const fail = (e: TimeboxError, close = false) => send(res, errorResponse(e, requestId), close);
    if (opts.allowedHost && !opts.allowedHost(hostnameOf(req.headers.host))) {
      fail(
        new HttpError(421, 'invalid', 'REQUEST.HOST_NOT_ALLOWED', 'this broker answers only on loopback names'),
        true,
      );
      return;
    }
    if (opts.intercept?.(req, res)) return;
    if (opts.web?.handle(req, res)) return;
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > maxBody) {
      fail(tooLarge(maxBody), true);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBody) {
        refused = true;
        // The connection closes after this answer, so the rest of the body is never read.
        fail(tooLarge(maxBody), true);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      refused = true;
    });
    req.on('end', () => {
      if (refused) return;
      const body = size === 0 ? undefined : Buffer.concat(chunks, size).toString('utf8');
      toApiRequest(req, body, requestId, opts.verifier, opts.web)
        .then((apiReq) => opts.api(apiReq))
        .then(
          (answer) => send(res, answer),
          (e: unknown) => {
            if (e instanceof TimeboxError) return fail(e);
            opts.log.error('http adapter fault', { requestId, error: e instanceof Error ? e.message : String(e) });
            fail(new HttpError(500, 'unavailable', 'INTERNAL', 'unexpected error; quote the request id'));
          },
        );
    });
  };
}

/** The host name of a Host header (`[::1]:8787` -> `[::1]`), or '' when there is none or it does not parse. */
export function hostnameOf(host: string | undefined): string {
  if (!host) return '';
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return '';
  }
}

async function toApiRequest(
  req: IncomingMessage,
  body: string | undefined,
  requestId: string,
  verifier: HttpAdapterOptions['verifier'],
  web?: HttpAdapterOptions['web'],
): Promise<ApiRequest> {
  const url = req.url ?? '/';
  if (!url.startsWith('/'))
    throw new HttpError(400, 'invalid', 'REQUEST.INVALID_TARGET', 'the request target must be a path');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query: ApiRequest['query'] = {};
  if (q !== -1) {
    for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
      const seen = query[k];
      query[k] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v];
    }
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers[k] = v;
    else if (Array.isArray(v)) headers[k] = v.join(', ');
  }
  // Node keeps only the first of repeated Authorization headers; two tokens are ambiguous, so neither is used.
  const authorizations = req.headersDistinct.authorization ?? [];
  let auth: LocalAuth | undefined;
  if (authorizations.length > 1)
    auth = {
      error: new HttpError(401, 'unauthenticated', 'AUTH.MALFORMED_TOKEN', 'more than one authorization header'),
    };
  else if (authorizations.length === 0 && web) auth = await web.authenticate(req, verifier);
  else auth = await verifier.fromHeader(authorizations[0]);
  const peer = req.socket.remoteAddress;
  return {
    method: req.method ?? '',
    path,
    query,
    headers,
    body,
    // IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d; policies are written with a.b.c.d.
    sourceIp: peer?.startsWith('::ffff:') && peer.includes('.') ? peer.slice(7) : peer,
    userAgent: headers['user-agent'],
    requestId,
    ...(auth ? { auth } : {}),
  };
}

function tooLarge(max: number): TimeboxError {
  return new HttpError(413, 'invalid', 'REQUEST.TOO_LARGE', `the body is larger than ${max} bytes`);
}

function send(res: ServerResponse, answer: ApiResponse, close = false): void {
  if (res.headersSent) return;
  res.writeHead(answer.status, {
    ...answer.headers,
    'content-length': Buffer.byteLength(answer.body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(answer.body);
}

export interface RunningHttp {
  server: Server;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port (0 = any free port); a port in use is one clear error naming it. */
export async function listenHttp(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  host: string,
  port: number,
): Promise<RunningHttp> {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE')
        reject(
          new TimeboxError(
            'unavailable',
            'LOCAL.PORT_IN_USE',
            `${host}:${port} is already in use (another broker?); set PORT or --port`,
          ),
        );
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
        reject(new TimeboxError('invalid', 'LOCAL.BAD_HOST', `cannot listen on ${host}: no such local address`));
      else reject(e);
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    server,
    host,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        // Calls in flight are answered; a keep-alive connection is closed as soon as it is idle (after its answer),
        // so clients holding one open do not keep a stopping broker waiting. Only a call still running after the
        // request timeout has its connection cut.
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), 30_000);
        idle.unref();
        cut.unref();
        server.close(() => {
          clearInterval(idle);
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
