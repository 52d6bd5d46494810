import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { isGrantId } from '../core/ids';
import { tokenFile } from './endpoint';

/**
 * The `credential-process` cache: the AWS CLI runs `credential_process` for every command and keeps nothing between
 * runs, so without a cache every `aws` command would cost a new AssumeRole, a `credentials-issued` event and a bus
 * publish. Like aws-vault and Granted, the issued credentials are kept until 5 minutes before their `Expiration`,
 * owner-only, beside the saved login tokens (TIMEBOX_CONFIG_DIR, default ~/.config/timebox), one file per
 * endpoint + identity + target + scopes, naming the grant they belong to. The caller re-checks that grant with the
 * broker before serving (./commands/access.ts): a revoked or ended grant is never served from here.
 */

/** Cached credentials are served only while they have more than this left (aws-vault and Granted use 5 minutes). */
export const CACHE_MARGIN_MS = 5 * 60_000;

export interface CacheKey {
  endpoint: string;
  /**
   * Who is asking, as far as the environment tells: another TIMEBOX_TOKEN or AWS profile or key is another cache.
   * Only a digest is stored.
   */
  identity: string;
  target: string;
  scopes: string[];
}

export interface CachedCredentials {
  grantId: string;
  grantExpiresAt: string;
  credentials: {
    Version: 1;
    AccessKeyId: string;
    SecretAccessKey: string;
    SessionToken: string;
    Expiration: string;
  };
}

interface CacheFile extends CachedCredentials {
  version: 1;
  key: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The identity part of the key, from what selects the caller's identity: TIMEBOX_TOKEN and the AWS profile or keys. */
export function identityOf(env: NodeJS.ProcessEnv): string {
  return sha256(
    JSON.stringify([
      env.TIMEBOX_TOKEN ?? '',
      env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? '',
      env.AWS_ACCESS_KEY_ID ?? '',
    ]),
  );
}

/** Scopes compare as sets (IAM actions case-insensitively), as `sameScopes` matches grants. */
function keyText(k: CacheKey): string {
  const scopes = [...new Set(k.scopes.map((s) => (s.startsWith('arn:') ? s : s.toLowerCase())))].sort();
  return JSON.stringify([k.endpoint, k.identity, k.target, scopes]);
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(tokenFile(env)), 'credential-process');
}

export function cachePath(k: CacheKey, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), `${sha256(keyText(k))}.json`);
}

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/**
 * The cache folder, owner-only: created 0700, a group- or world-accessible one of ours set back to 0700. Undefined
 * (no caching) when it is not a directory we own: someone else's folder is never written to or read from.
 */
function ownedDir(env: NodeJS.ProcessEnv, create: boolean): string | undefined {
  const dir = cacheDir(env);
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const me = uid();
    if (!st.isDirectory() || (me !== undefined && st.uid !== me)) return undefined;
    if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    return dir;
  } catch {
    return undefined;
  }
}

function isCacheFile(v: unknown, key: string): v is CacheFile {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  const c = f.credentials as Record<string, unknown> | undefined;
  return (
    f.version === 1 &&
    f.key === key &&
    typeof f.grantId === 'string' &&
    isGrantId(f.grantId) &&
    typeof f.grantExpiresAt === 'string' &&
    !Number.isNaN(Date.parse(f.grantExpiresAt)) &&
    typeof c === 'object' &&
    c !== null &&
    c.Version === 1 &&
    typeof c.AccessKeyId === 'string' &&
    typeof c.SecretAccessKey === 'string' &&
    typeof c.SessionToken === 'string' &&
    typeof c.Expiration === 'string' &&
    !Number.isNaN(Date.parse(c.Expiration))
  );
}

/**
 * The cached credentials for `k`, when they and their grant both run more than CACHE_MARGIN_MS past `now`.
 * Anything else (no file, unreadable, not ours, readable by others, corrupt, for another key, expiring) is
 * undefined, and a file that cannot be trusted is removed. It never throws: a broken cache only costs a fresh issue.
 */
export function readCached(
  k: CacheKey,
  now: Date,
  env: NodeJS.ProcessEnv = process.env,
): CachedCredentials | undefined {
  const dir = ownedDir(env, false);
  if (!dir) return undefined;
  const file = cachePath(k, env);
  let text: string;
  try {
    // O_NOFOLLOW: a symlink planted in the folder is not followed to somebody else's file.
    const fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    try {
      const st = fstatSync(fd);
      const me = uid();
      if (!st.isFile() || (me !== undefined && st.uid !== me) || (st.mode & 0o077) !== 0) {
        // Credentials others could read are burnt: never served, and removed.
        forget(k, env);
        return undefined;
      }
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    forget(k, env);
    return undefined;
  }
  if (!isCacheFile(parsed, keyText(k))) {
    forget(k, env);
    return undefined;
  }
  const left = (iso: string) => Date.parse(iso) - now.getTime();
  if (left(parsed.credentials.Expiration) <= CACHE_MARGIN_MS || left(parsed.grantExpiresAt) <= CACHE_MARGIN_MS) {
    forget(k, env);
    return undefined;
  }
  return { grantId: parsed.grantId, grantExpiresAt: parsed.grantExpiresAt, credentials: parsed.credentials };
}

/**
 * Keeps `c` for `k`: written to a new 0600 file in the owner-only folder and renamed over the old one, so a reader
 * never sees half a file and a symlink in its place is replaced, never followed. Failing to cache is not an error.
 */
export function writeCached(k: CacheKey, c: CachedCredentials, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = ownedDir(env, true);
  if (!dir) return false;
  const file = cachePath(k, env);
  const temp = join(dir, `.${randomBytes(8).toString('hex')}.tmp`);
  const body: CacheFile = { version: 1, key: keyText(k), ...c };
  try {
    writeFileSync(temp, `${JSON.stringify(body)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(temp, 0o600);
    renameSync(temp, file);
    return true;
  } catch {
    rmSync(temp, { force: true });
    return false;
  }
}

/** Drops the cached credentials for `k` (a revoked or ended grant, a corrupt file). */
export function forget(k: CacheKey, env: NodeJS.ProcessEnv = process.env): void {
  try {
    rmSync(cachePath(k, env), { force: true });
  } catch {
    // Nothing more to do: the next read refuses the file again.
  }
}
