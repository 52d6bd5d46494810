import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { ValidationError } from '../../core/errors';

/**
 * Owner-only files for the local broker's data folder. Whoever can read the database can read every grant; whoever
 * can write it can try to rewrite history; whoever can read the audit key can re-seal a rewritten history. So the
 * folder is 0700 and every file in it 0600, and a broker refuses a folder or file that is group- or world-
 * accessible rather than fixing it: someone may already have copied or changed it, which the operator has to judge.
 */

// Group and other permission bits.
const LOOSE_BITS = 0o077;

/** Throws LOCAL.DATA_TOO_OPEN when `path` exists and is accessible to group or others; a no-op when it is absent. */
export function assertOwnerOnly(path: string): void {
  if (process.platform === 'win32') return; // no POSIX mode bits; the ACL is the operator's to manage
  let mode: number;
  let dir: boolean;
  try {
    const st = statSync(path);
    mode = st.mode;
    dir = st.isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if ((mode & LOOSE_BITS) === 0) return;
  throw tooOpen(path, mode, dir);
}

function tooOpen(path: string, mode: number, dir: boolean): ValidationError {
  const octal = (mode & 0o777).toString(8).padStart(3, '0');
  return new ValidationError(
    'LOCAL.DATA_TOO_OPEN',
    `refusing to use ${path}: its mode is ${octal}, so other users can ${dir ? 'enter' : 'read'} it. ` +
      `If nobody else has used it, run \`chmod ${dir ? '700' : '600'} ${path}\` and start again.`,
  );
}

/** Creates `dir` (and parents) owner-only when missing, then checks it: an existing loose folder is refused. */
export function ensureOwnerOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  assertOwnerOnly(dir);
}

/** Creates an empty owner-only file when missing (so that what opens it later keeps its mode), then checks it. */
export function ensureOwnerOnlyFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  assertOwnerOnly(path);
}

/** Bytes in an audit key: HMAC-SHA256 keys of the hash's block size or less, at least its output size (RFC 2104). */
export const AUDIT_KEY_BYTES = 32;

/**
 * The audit key (mode 0600, created on first use): the HMAC-SHA256 key that seals every event and projection row
 * the local store writes. Kept beside the signing key, never in the database, so that someone who can only write the
 * database cannot produce a seal.
 */
export function loadAuditKey(path: string): Buffer {
  if (!existsSync(path)) {
    // Written aside, then linked into place: a crash never leaves a half-written key, and of two brokers racing
    // to create it, both end up with the one that was linked first.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, randomBytes(AUDIT_KEY_BYTES).toString('hex'), { mode: 0o600, flag: 'w' });
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ValidationError('LOCAL.AUDIT_KEY_INVALID', `${path} is not a regular file`);
    if (process.platform !== 'win32' && (st.mode & LOOSE_BITS) !== 0) throw tooOpen(path, st.mode, false);
    const text = readFileSync(fd, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text))
      throw new ValidationError(
        'LOCAL.AUDIT_KEY_INVALID',
        `${path} is not an audit key (64 hex digits); restore it from a backup: without it the audit record cannot be verified`,
      );
    return Buffer.from(text, 'hex');
  } finally {
    closeSync(fd);
  }
}
