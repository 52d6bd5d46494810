import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { type HttpRequest, HttpResponse } from '@smithy/protocol-http';

/**
 * dynalite inside the broker's process, reached by the SDK without a socket. adapters/aws/dynalite.ts runs dynalite
 * as a loopback HTTP server, which is what tests of the adapter want; for the broker, every DynamoDB call then pays
 * for an HTTP client request, a socket round trip and an HTTP server parse on top of dynalite's own work (a third of
 * the broker's CPU in the API benchmark's profile). Here the SDK's request handler hands each request straight to
 * dynalite's request listener: the same SDK serialization, the same dynalite validation and storage, no socket.
 */

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

// dynalite ships no type declarations; loaded as adapters/aws/dynalite.ts loads it (which also keeps esbuild from
// inlining it: it stays a run-time dependency, resolved from node_modules).
const dynalite = createRequire(__filename)('dynalite') as (opts: DynaliteOptions) => Server;

export interface InProcessDynalite {
  /** The SDK request handler that calls dynalite directly. */
  requestHandler: DirectDynaliteHandler;
  /** A loopback endpoint too (the SDK needs an endpoint URL; tools can point at it for debugging). */
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite (persisted at `path`, else in memory) and returns a socket-free handler to it. */
export async function startInProcessDynalite(opts: { path?: string } = {}): Promise<InProcessDynalite> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(opts.path ? { path: opts.path } : {}),
  });
  const listener = server.listeners('request')[0] as RequestListener | undefined;
  if (!listener) throw new Error('dynalite created a server without a request listener');
  // dynalite closes its LevelDB store only when its server closes, and server.close() of a server that never
  // listened fails before that step: so it listens, on loopback, though the broker never uses the socket.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    requestHandler: new DirectDynaliteHandler(listener),
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/**
 * An SDK HTTP handler (the `requestHandler` client option) that runs dynalite's request listener on a minimal
 * request/response pair. dynalite reads `method`, `url`, `headers` and the body events, and answers through
 * `statusCode`, `setHeader` and `end`; nothing else of node:http is involved.
 */
export class DirectDynaliteHandler {
  readonly metadata = { handlerProtocol: 'in-process' };

  constructor(private readonly listener: RequestListener) {}

  handle(request: HttpRequest): Promise<{ response: HttpResponse }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = v;
      const query = Object.entries(request.query ?? {})
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
        .join('&');
      const req = Object.assign(new EventEmitter(), {
        method: request.method,
        url: `${request.path || '/'}${query ? `?${query}` : ''}`,
        headers,
      });
      const resHeaders: Record<string, string> = {};
      const res = {
        statusCode: 200,
        contentType: undefined as string | undefined,
        setHeader(name: string, value: string | number) {
          resHeaders[name.toLowerCase()] = String(value);
        },
        end(chunk?: string | Buffer) {
          const body = chunk === undefined ? Buffer.alloc(0) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
          resolve({ response: new HttpResponse({ statusCode: res.statusCode, headers: resHeaders, body }) });
        },
      };
      try {
        this.listener(req as unknown as IncomingMessage, res as unknown as ServerResponse);
        const body: unknown = request.body;
        // The SDK's JSON bodies are Uint8Array subclasses that also act as strings; wrap their bytes, no copy.
        if (typeof body === 'string' && body !== '') req.emit('data', Buffer.from(body));
        else if (body instanceof Uint8Array && body.byteLength > 0)
          req.emit('data', Buffer.from(body.buffer, body.byteOffset, body.byteLength));
        req.emit('end');
      } catch (e) {
        reject(e);
      }
    });
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}
