import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { isLoopbackHost } from '../core/net';
import { resolveHome } from '../local/paths';
import { CliError, EXIT } from './errors';

/** The local broker's default address, when nothing says where the broker is. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8787';

/**
 * Where the broker is, the same way for every command: `--endpoint`, then TIMEBOX_ENDPOINT, then the local broker
 * running from the data directory the command is pointed at (`--home`, TIMEBOX_HOME), else the one `serve` last
 * started as this user (see locateBroker), then http://127.0.0.1:8787.
 */
export function resolveEndpoint(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  where: { home?: string; cwd?: string } = {},
): URL {
  const raw = flag ?? env.TIMEBOX_ENDPOINT ?? locateBroker({ ...where, env }).url ?? DEFAULT_ENDPOINT;
  return checkEndpoint(raw);
}

function checkEndpoint(raw: string): URL {
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

/** The CLI's own directory: saved logins, and the record of the last local broker started. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TIMEBOX_CONFIG_DIR ?? join(homedir(), '.config', 'timebox');
}

/** The CLI's saved local bearer token (written by `timebox login --local`), per endpoint. */
export function tokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'tokens.json');
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
  // The token is a credential: owner-only, whatever mode an older file had.
  writeOwnerOnly(file, `${JSON.stringify(saved, null, 2)}\n`);
  return file;
}

/**
 * Writes a file readable by its owner only. Written to a new file and renamed over the old one, so a symlink in its
 * place is replaced, never followed, and a reader never sees half a file.
 */
function writeOwnerOnly(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(temp, 0o600);
    renameSync(temp, file);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

// ---- finding the local broker ----------------------------------------------------------------------------------

/** What a running `timebox serve` says about itself, in its data directory and in the CLI's directory. */
export interface BrokerRecord {
  /** The URL clients use (`--public-url`, else http://<host>:<port> with the port it really listens on). */
  url: string;
  pid: number;
  /** Its data directory (absolute): the signing key `login --local` needs is there. */
  home: string;
  startedAt: string;
}

const BROKER_FILE = 'broker.json';

/** The record a broker keeps in its own data directory while it runs. */
export function homeRecordPath(home: string): string {
  return join(home, BROKER_FILE);
}

/** The record of the last broker this user started, whatever its data directory. */
export function userRecordPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), BROKER_FILE);
}

/** Called by `serve` once it listens: both records, owner-only. Returns the files written. */
export function writeBrokerRecord(record: BrokerRecord, env: NodeJS.ProcessEnv = process.env): string[] {
  const text = `${JSON.stringify(record, null, 2)}\n`;
  const files = [homeRecordPath(record.home), userRecordPath(env)];
  mkdirSync(dirname(files[1] as string), { recursive: true, mode: 0o700 });
  for (const f of files) writeOwnerOnly(f, text);
  return files;
}

/** Called by `serve` when it stops: removes each record that still names this process (a newer broker's stays). */
export function removeBrokerRecord(home: string, pid: number, env: NodeJS.ProcessEnv = process.env): void {
  for (const f of [homeRecordPath(home), userRecordPath(env)])
    if (readRecordFile(f, { alive: () => true })?.pid === pid) rmSync(f, { force: true });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: gone. EPERM: another user's process holds the pid now, so the broker (ours) that wrote it is gone too.
    return false;
  }
};

/**
 * Reads a broker record, or undefined when there is none, it is stale (its process is gone) or it cannot be trusted:
 * only a regular file owned by this user and writable by nobody else is read, so another local user cannot point
 * this CLI, and the token it sends, at a server of theirs by leaving a file in a shared folder.
 */
export function readRecordFile(
  file: string,
  opts: { alive?: (pid: number) => boolean } = {},
): BrokerRecord | undefined {
  let text: string;
  try {
    const st = lstatSync(file);
    if (!st.isFile() || (st.mode & 0o022) !== 0) return undefined;
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let r: Partial<BrokerRecord>;
  try {
    r = JSON.parse(text) as Partial<BrokerRecord>;
  } catch {
    return undefined;
  }
  if (typeof r.url !== 'string' || typeof r.home !== 'string' || !Number.isSafeInteger(r.pid) || (r.pid as number) <= 0)
    return undefined;
  if (!(opts.alive ?? isAlive)(r.pid as number)) return undefined;
  return { url: r.url, pid: r.pid as number, home: r.home, startedAt: String(r.startedAt ?? '') };
}

/** Where the local broker a command talks to keeps its data, and its URL when it is running. */
export interface LocatedBroker {
  home: string;
  url?: string;
  /** How it was found, for messages. */
  from: '--home' | 'TIMEBOX_HOME' | 'working directory' | 'last started broker' | 'default';
}

/**
 * The local broker a command means, the same way for every command:
 * 1. a data directory given with `--home` or TIMEBOX_HOME: that one (and its URL if a broker runs from it);
 * 2. else a broker running from `./.timebox`;
 * 3. else the broker this user started last (the record `serve` keeps in the CLI's directory), if it still runs;
 * 4. else `./.timebox`, with no URL (the default endpoint applies).
 */
export function locateBroker(
  opts: { home?: string; env?: NodeJS.ProcessEnv; cwd?: string; alive?: (pid: number) => boolean } = {},
): LocatedBroker {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const read = (file: string) => readRecordFile(file, opts.alive ? { alive: opts.alive } : {});
  const explicit = opts.home ?? env.TIMEBOX_HOME?.trim();
  if (explicit) {
    const home = opts.home ? resolve(cwd, opts.home) : resolveHome(env, cwd);
    const running = read(homeRecordPath(home));
    return { home, ...(running ? { url: running.url } : {}), from: opts.home ? '--home' : 'TIMEBOX_HOME' };
  }
  const local = resolveHome({}, cwd);
  const here = read(homeRecordPath(local));
  if (here) return { home: local, url: here.url, from: 'working directory' };
  const last = read(userRecordPath(env));
  if (last) return { home: last.home, url: last.url, from: 'last started broker' };
  return { home: local, from: 'default' };
}
