import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import type { CryptoKey } from 'jose';
import { HttpError } from '../api/http';
import { isTimeboxError, type TimeboxError } from '../core/errors';
import { type LocalAuth, mintSessionToken, type SessionVerifier, type TypedSigner } from './auth';
import type { SigninCodes } from './web-signin';

/**
 * The web console's side of a server: its static files (built by `npm run build` into dist/web), the sign-in
 * exchange (`POST /web/session`: a one-time code for an HttpOnly, SameSite=Strict session cookie), sign-out, and
 * the cookie check for API calls. Used by the local broker (local/server.ts) and by `timebox ui`.
 *
 * CSRF: a cookie alone never authenticates. An API call counts the cookie only when it carries the
 * `X-Timebox-Csrf: 1` header (which a cross-site page cannot send without a CORS preflight that this server never
 * grants), its Origin (when sent) is this server's, and Sec-Fetch-Site (when sent) is same-origin; the cookie is
 * SameSite=Strict besides. Bearer tokens work as before and take precedence.
 */

export const CSRF_HEADER = 'x-timebox-csrf';

/** The Content-Security-Policy of every console answer: own scripts and styles only, nothing inline, no framing. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The files the console is made of, by URL path. Nothing else is served from the directory. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** A web session lasts a working day; signing in again is one command. */
export const WEB_SESSION_TTL_MS = 8 * 60 * 60_000;
const MAX_BODY = 8 * 1024;

/**
 * Finds the built console (dist/web with app.js) from the sources (local/) or the CLI bundle (dist/cli/, its
 * chunks/). Undefined when it was not built.
 */
export function findWebRoot(from: string = __dirname): string | undefined {
  let dir = from;
  for (let i = 0; i < 4; i++) {
    for (const candidate of [join(dir, 'dist', 'web'), join(dir, 'web')])
      if (existsSync(join(candidate, 'app.js')) && existsSync(join(candidate, 'index.html'))) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

export interface WebConsoleOptions {
  /** The built console; undefined answers `/` with how to build it. */
  root: string | undefined;
  codes: SigninCodes;
  /** Signs the session tokens the cookie holds (the broker's key). */
  signer: TypedSigner;
  /** The session tokens' audience: the URL this server is reached at. */
  audience: string;
  /** Origins whose pages may use the session (this server's URLs). */
  origins: string[];
  sessionTtlMs?: number;
  now?: () => Date;
}

export class WebConsole {
  private readonly files = new Map<string, { body: Buffer; type: string; etag: string }>();
  /** Signed-out session tokens (by hash) and when they would have expired. */
  private readonly signedOut = new Map<string, number>();
  private readonly origins: Set<string>;
  private readonly cookieName: string;
  private readonly secure: boolean;
  private readonly now: () => Date;

  constructor(private readonly opts: WebConsoleOptions) {
    const url = new URL(opts.audience);
    // Cookies are shared by every port of a host: the port in the name keeps two servers from overwriting each other.
    this.cookieName = `timebox_session_${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
    this.secure = url.protocol === 'https:';
    this.origins = new Set(opts.origins.map((o) => new URL(o).origin));
    this.now = opts.now ?? (() => new Date());
    if (opts.root)
      for (const [path, { file, type }] of Object.entries(FILES)) {
        const body = readFileSync(join(opts.root, file));
        this.files.set(path, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url')}"` });
      }
  }

  /** Answers the console's own paths and returns true; false leaves the request to the API. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/web/session' || path === '/web/session/end') {
      this.session(req, res, path).catch((e: unknown) => this.fail(res, e));
      return true;
    }
    const file = FILES[path];
    if (!file) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.sendJson(res, 405, { error: { code: 'ROUTE.METHOD_NOT_ALLOWED', message: 'use GET' } }, { allow: 'GET' });
      return true;
    }
    const loaded = this.files.get(path);
    if (!loaded) {
      const body = 'The web console is not built: run npm run build, then reload.\n';
      res.writeHead(503, {
        ...SECURITY_HEADERS,
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': loaded.type,
      'content-length': String(loaded.body.length),
      etag: loaded.etag,
      // The page is tiny and must never be a stale copy; assets revalidate by ETag.
      'cache-control': file.file === 'index.html' ? 'no-store' : 'no-cache',
    };
    if (req.headers['if-none-match'] === loaded.etag && file.file !== 'index.html') {
      res.writeHead(304, { etag: loaded.etag, 'cache-control': 'no-cache' });
      res.end();
      return true;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : loaded.body);
    return true;
  }

  /**
   * The session cookie's verdict for an API call without an Authorization header: undefined when there is no
   * cookie (the route decides), a refusal when the CSRF conditions are not met, else the verified session token's.
   */
  async authenticate(
    req: IncomingMessage,
    verifier: Pick<SessionVerifier, 'fromHeader'>,
  ): Promise<LocalAuth | undefined> {
    const token = this.cookieOf(req);
    if (token === undefined) return undefined;
    const refused = this.crossSite(req);
    if (refused) return { error: refused };
    if (token === null || !/^[A-Za-z0-9_.-]{1,4096}$/.test(token))
      return {
        error: new HttpError(401, 'unauthenticated', 'AUTH.MALFORMED_TOKEN', 'the session cookie is malformed'),
      };
    const until = this.signedOut.get(digest(token));
    if (until !== undefined && until > this.now().getTime())
      return { error: new HttpError(401, 'unauthenticated', 'AUTH.SIGNED_OUT', 'this session was signed out') };
    return verifier.fromHeader(`Bearer ${token}`);
  }

  /** Why a cookie-carrying call is refused as possibly cross-site, or undefined when it is same-origin. */
  private crossSite(req: IncomingMessage): TimeboxError | undefined {
    const forbid = (code: string, message: string) => new HttpError(403, 'forbidden', code, message);
    if (req.headers[CSRF_HEADER] !== '1')
      return forbid('AUTH.CSRF_HEADER_MISSING', `a call with the session cookie needs the ${CSRF_HEADER}: 1 header`);
    const origin = req.headers.origin;
    if (origin !== undefined && !this.origins.has(origin))
      return forbid('AUTH.CROSS_ORIGIN', 'the session cookie is accepted only from pages of this server');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin')
      return forbid('AUTH.CROSS_ORIGIN', 'the session cookie is accepted only from pages of this server');
    return undefined;
  }

  /** The session cookie's value; null when it is sent more than once (ambiguous, so neither is used). */
  private cookieOf(req: IncomingMessage): string | null | undefined {
    const header = req.headers.cookie;
    if (!header) return undefined;
    const values = header
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p.startsWith(`${this.cookieName}=`))
      .map((p) => p.slice(this.cookieName.length + 1));
    if (values.length === 0) return undefined;
    return values.length === 1 ? (values[0] as string) : null;
  }

  private async session(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      return this.sendJson(
        res,
        405,
        { error: { code: 'ROUTE.METHOD_NOT_ALLOWED', message: 'use POST' } },
        { allow: 'POST' },
      );
    }
    // Sign-in needs an Origin: browsers send it on every POST, and a code must come from this server's page.
    if (req.headers.origin === undefined) {
      req.resume();
      throw new HttpError(403, 'forbidden', 'AUTH.CROSS_ORIGIN', 'sign in from the console page');
    }
    const refused = this.crossSite(req);
    if (refused) {
      req.resume();
      throw refused;
    }
    const body = await readJson(req);
    if (path === '/web/session/end') {
      const token = this.cookieOf(req);
      if (typeof token === 'string') {
        const nowMs = this.now().getTime();
        for (const [k, until] of this.signedOut) if (until <= nowMs) this.signedOut.delete(k);
        this.signedOut.set(digest(token), nowMs + (this.opts.sessionTtlMs ?? WEB_SESSION_TTL_MS));
      }
      return this.sendJson(res, 200, { signedOut: true }, { 'set-cookie': this.cookie('', 0) });
    }
    const code = (body as { code?: unknown } | null)?.code;
    const who = await this.opts.codes.redeem(code);
    const ttlMs = this.opts.sessionTtlMs ?? WEB_SESSION_TTL_MS;
    const { token, expiresAt } = await mintSessionToken(this.opts.signer, {
      who,
      audience: this.opts.audience,
      ttlMs,
      now: this.now(),
    });
    this.sendJson(
      res,
      200,
      { principal: who, expiresAt: expiresAt.toISOString() },
      { 'set-cookie': this.cookie(token, Math.floor(ttlMs / 1000)) },
    );
  }

  private cookie(value: string, maxAge: number): string {
    return `${this.cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${this.secure ? '; Secure' : ''}`;
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (isTimeboxError(e)) {
      const status =
        e instanceof HttpError ? e.status : e.kind === 'unauthenticated' ? 401 : e.kind === 'unavailable' ? 503 : 400;
      this.sendJson(res, status, { error: { code: e.code, message: e.message } });
      return;
    }
    this.sendJson(res, 500, { error: { code: 'INTERNAL', message: 'unexpected error' } });
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    sendJson(res, status, body, extra);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A small JSON body (sign-in code), refused when it is not JSON or too large. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    req.resume();
    throw new HttpError(415, 'invalid', 'REQUEST.UNSUPPORTED_MEDIA_TYPE', 'send application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new HttpError(413, 'invalid', 'REQUEST.TOO_LARGE', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid', 'REQUEST.INVALID_JSON', 'the body is not JSON');
  }
}

/**
 * The console of a broker: sign-in codes and sessions for `url` (and its loopback aliases), files from `root`
 * (default: the built dist/web, found from here). One call, so the broker's own wiring stays one line.
 */
export async function brokerWebConsole(args: {
  root?: string | undefined;
  signer: TypedSigner & { verifyKey(): Promise<CryptoKey> };
  url: string;
  audiences: string[];
}): Promise<WebConsole> {
  const { SigninCodes } = await import('./web-signin.js');
  return new WebConsole({
    root: args.root ?? findWebRoot(),
    codes: new SigninCodes({ key: await args.signer.verifyKey(), audiences: args.audiences }),
    signer: args.signer,
    audience: args.url,
    origins: args.audiences,
  });
}

/** A JSON answer with the console's security headers, never cached; nothing once headers went out. */
export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
    ...extra,
  });
  res.end(text);
}
