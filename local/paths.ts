import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DAY, HOUR } from '../core/duration';

/**
 * Where the local broker keeps its state, and where its defaults live; the store's own files in TIMEBOX_HOME are
 * named by adapters/local/store.ts. Deliberately free of heavy imports: the CLI reads these for `login --local`
 * without loading the broker.
 */

/** The local broker's default address (also the CLI's default endpoint, cli/endpoint.ts). */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;

/** The data directory: TIMEBOX_HOME, else `.timebox/` in the working directory. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const raw = env.TIMEBOX_HOME?.trim();
  if (!raw) return join(cwd, '.timebox');
  return isAbsolute(raw) ? raw : resolve(cwd, raw);
}

/** The local signing key (ES256, PKCS#8 PEM, mode 0600): it signs gRPC grant tokens and the CLI's session tokens. */
export function signingKeyPath(home: string): string {
  return join(home, 'signing-key.pem');
}

/** How long `login --local` lasts by default (kept here, free of jose, so the CLI can show it without loading it). */
export const DEFAULT_SESSION_TTL_MS = 12 * HOUR;
/** A login lasts at most a week: a token on disk is a credential, and local mode is for trying Timebox out. */
export const MAX_SESSION_TTL_MS = 7 * DAY;

/** The example policy shipped at the repository root, used when `serve` is given no `--config`. */
export const EXAMPLE_POLICY_FILE = 'access.example.yaml';

/**
 * Finds access.example.yaml next to the code: two levels up from the CLI bundle (dist/cli/), one level up from
 * the sources (local/). Undefined when neither exists (a copy of the bundle without the repository).
 */
export function examplePolicyPath(from: string = __dirname): string | undefined {
  let dir = from;
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, EXAMPLE_POLICY_FILE);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

export { isLoopbackHost } from '../core/net';

/** The base URL clients use for a broker bound to host:port (IPv6 literals in brackets, RFC 3986). */
export function brokerUrl(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/**
 * The URLs a loopback broker answers to: the audience of the CLI's session tokens is the endpoint the user logged
 * in to, and `localhost`, `127.0.0.1` and `[::1]` all reach the same broker.
 */
export function loopbackAliases(port: number): string[] {
  return [brokerUrl('127.0.0.1', port), brokerUrl('localhost', port), brokerUrl('::1', port)];
}
