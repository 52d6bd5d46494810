import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { expect } from '@jest/globals';
import { type RevokedToken, signRevocationFeed } from '../../../adapters/grpc/revocations';
import type { LocalTokenSigner } from '../../../adapters/local/signer';
import { callMethod, exampleServer, listen, shutdown } from '../../../grpc/example/service';

/** A loopback HTTP server whose routes the test sets; counts requests per path. */
export class LoopbackHttp {
  readonly hits = new Map<string, number>();
  routes = new Map<string, (req: IncomingMessage, body: string, res: ServerResponse) => void>();
  private server: Server | undefined;
  base = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => {
        const route = this.routes.get(path);
        if (!route) res.writeHead(404).end();
        else route(req, body, res);
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  json(path: string, status: number, value: () => unknown): void {
    this.routes.set(path, (_req, _body, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value()));
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

/**
 * Serves the revocation feed as the broker does: the current list, signed by `signer` for `issuer` at each request.
 * `up()` false answers 503 (the broker unreachable).
 */
export function serveFeed(
  http: LoopbackHttp,
  path: string,
  o: { signer: LocalTokenSigner; issuer: string; revoked: () => RevokedToken[]; up?: () => boolean },
): void {
  http.routes.set(path, (_req, _body, res) => {
    if (o.up && !o.up()) {
      res.writeHead(503).end();
      return;
    }
    void signRevocationFeed(o.revoked(), o.signer, o.issuer, new Date()).then((feed) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(feed)),
    );
  });
}

/** Serves a JWKS made of the given signers' public keys (changeable at any time: key rotation). */
export function serveJwks(http: LoopbackHttp, signers: () => LocalTokenSigner[]): string {
  http.routes.set('/.well-known/jwks.json', (_req, _body, res) => {
    void Promise.all(signers().map((s) => s.jwks())).then((sets) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: sets.flatMap((s) => s.keys) })),
    );
  });
  return `${http.base}/.well-known/jwks.json`;
}

/** Paths registered next to the example services so scope edges can be called for real. */
export const EDGE_METHODS = [
  '/acme.adminx.v1.AdminService/DeleteUser',
  '/acme.user.v1.UserService/Get',
  '/acme.user.v1.UserService/GetAll',
] as const;

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v ?? {})),
  deserialize: (b: Buffer) => (b.length ? JSON.parse(b.toString('utf8')) : {}),
};

/** The example server plus the edge methods, on 127.0.0.1 at a random port; records which handlers ran. */
export async function startGrpc(interceptors: grpc.ServerInterceptor[]) {
  const handled: string[] = [];
  const server = exampleServer({ interceptors, onHandled: (m) => handled.push(m) });
  for (const path of EDGE_METHODS) {
    server.register(
      path,
      (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        handled.push(path);
        cb(null, { path, sub: call.metadata.get('timebox-sub')[0] ?? null });
      },
      json.serialize,
      json.deserialize,
      'unary',
    );
  }
  const port = await listen(server, '127.0.0.1', 0);
  return { server, address: `127.0.0.1:${port}`, handled, stop: () => shutdown(server) };
}

export type CallOutcome = { ok: true; value: unknown } | { ok: false; code: grpc.status; details: string };

/** Calls any method path (example or edge) with an optional authorization value or call credentials. */
export async function call(address: string, path: string, auth?: string | grpc.CallCredentials): Promise<CallOutcome> {
  const md = new grpc.Metadata();
  if (typeof auth === 'string') md.set('authorization', auth);
  const credentials = typeof auth === 'object' ? auth : undefined;
  try {
    if ((EDGE_METHODS as readonly string[]).includes(path)) {
      const client = new grpc.Client(address, grpc.credentials.createInsecure());
      try {
        const value = await new Promise<unknown>((resolve, reject) =>
          client.makeUnaryRequest(
            path,
            json.serialize,
            json.deserialize,
            {},
            md,
            { deadline: Date.now() + 10_000, ...(credentials ? { credentials } : {}) },
            (err, v) => (err ? reject(err) : resolve(v)),
          ),
        );
        return { ok: true, value };
      } finally {
        client.close();
      }
    }
    // DeleteUser gets an unknown id so that the example's users stay as they are for later tests.
    const request = { id: path.endsWith('/DeleteUser') ? 'u-unknown' : 'u-1' };
    const value = await callMethod(address, path, request, { metadata: md, ...(credentials ? { credentials } : {}) });
    return { ok: true, value };
  } catch (e) {
    const err = e as grpc.ServiceError;
    if (typeof err.code !== 'number') throw e;
    return { ok: false, code: err.code, details: err.details };
  }
}

/** Expects a refusal with this gRPC code and Timebox reason. */
export function refused(code: grpc.status, reason: string) {
  return { ok: false, code, details: expectDetails(reason) };
}

function expectDetails(reason: string): string {
  // Details are `timebox: <reason>: <explanation>`; matching the prefix keeps tests off the wording.
  return expect.stringMatching(new RegExp(`^timebox: ${reason}: `)) as unknown as string;
}
