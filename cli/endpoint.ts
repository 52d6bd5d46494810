import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { isLoopbackHost } from '../core/net';
import { CliError, EXIT } from './errors';

/** Where the broker is: `--endpoint`, then TIMEBOX_ENDPOINT, then the local broker's default address. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8787';

export function resolveEndpoint(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): URL {
  const raw = flag ?? env.TIMEBOX_ENDPOINT ?? DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`--endpoint: "${raw}" is not a URL`, EXIT.usage);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new CliError(`--endpoint: "${raw}" must be http(s)`, EXIT.usage);
  // `//host` or `\host` in a path reads as another host to URL resolution: nothing to do in a broker URL.
  if (url.pathname.includes('//') || raw.includes('\\'))
    throw new CliError(`--endpoint: "${raw}" has an empty path segment or a backslash`, EXIT.usage);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new CliError(`--endpoint: plain http is only allowed to a loopback broker, not ${url.hostname}`, EXIT.usage);
  return url;
}

/** API Gateway endpoints are signed with SigV4 (the stack puts IAM auth on every route); the region is in the host. */
export function apiGatewayRegion(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
}

/** The CLI's saved local bearer token (written by `timebox login --local`), per endpoint. */
export function tokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.TIMEBOX_CONFIG_DIR ?? join(homedir(), '.config', 'timebox'), 'tokens.json');
}

export function loadSavedToken(endpoint: URL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = tokenFile(env);
  if (!existsSync(file)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    return saved[endpoint.origin];
  } catch {
    throw new CliError(`${file} is not valid JSON; delete it and run timebox login again`, EXIT.usage);
  }
}

export function saveToken(endpoint: URL, token: string, env: NodeJS.ProcessEnv = process.env): string {
  const file = tokenFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let saved: Record<string, string> = {};
  if (existsSync(file)) {
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      saved = {};
    }
  }
  saved[endpoint.origin] = token;
  // The token is a credential: owner-only, whatever mode an older file had. Written to a new file and renamed over
  // the old one, so a symlink in its place is replaced, never followed.
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(temp, 0o600);
    renameSync(temp, file);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  return file;
}
