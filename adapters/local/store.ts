import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UnavailableError } from '../../core/errors';
import { type Log, silentLog } from '../../core/ports';
import { assertOwnerOnly, ensureOwnerOnlyDir, ensureOwnerOnlyFile, loadAuditKey } from './files';
import { Checkpointer, DEFAULT_CHECKPOINT_MS } from './sqlite/checkpoint';
import { type Durability, type SqliteEventStore, type SqliteProjectionStore, SqliteStore } from './sqlite/store';

export type { Durability } from './sqlite/store';

/** The database: events, projection and indexes in one SQLite file (WAL beside it: `timebox.db-wal`, `-shm`). */
export function databasePath(home: string): string {
  return join(home, 'timebox.db');
}

/** The audit key (HMAC-SHA256, mode 0600) that seals every row of the database; created on first use. */
export function auditKeyPath(home: string): string {
  return join(home, 'audit.key');
}

/** Holds the pid of the broker using the folder: one broker per TIMEBOX_HOME. */
export function lockPath(home: string): string {
  return join(home, 'broker.lock');
}

/** Where versions before the SQLite store kept their tables (dynalite, LevelDB files): refused with a message. */
export function legacyDataDir(home: string): string {
  return join(home, 'data');
}

export interface LocalStore {
  sqlite: SqliteStore;
  events: SqliteEventStore;
  projections: SqliteProjectionStore;
  /** The database file ('' in memory). */
  file: string;
  close(): Promise<void>;
}

/**
 * The local broker's store: one SQLite file under TIMEBOX_HOME (adapters/local/sqlite), its audit key beside it,
 * a checkpoint worker, and a lock that keeps a second broker off the folder. The folder and every file in it are
 * owner-only; a folder or file that others can read is refused, naming the `chmod` that fixes it.
 */
export async function openLocalStore(opts: {
  home: string;
  memory?: boolean;
  durability?: Durability;
  log?: Log;
  checkpointMs?: number;
}): Promise<LocalStore> {
  const log = opts.log ?? silentLog;
  if (opts.memory) {
    // Tests and benchmarks: nothing on disk, a throwaway audit key.
    const sqlite = new SqliteStore({ file: ':memory:', auditKey: randomBytes(32) });
    return {
      sqlite,
      events: sqlite.events,
      projections: sqlite.projections,
      file: '',
      close: async () => sqlite.close(),
    };
  }
  ensureOwnerOnlyDir(opts.home);
  refuseLegacyData(opts.home);
  const unlock = lockHome(opts.home);
  try {
    const file = databasePath(opts.home);
    ensureOwnerOnlyFile(file);
    // SQLite creates the WAL and shared-memory files with the database file's mode; older ones are checked too.
    for (const extra of [`${file}-wal`, `${file}-shm`]) assertOwnerOnly(extra);
    const auditKey = loadAuditKey(auditKeyPath(opts.home));
    const durability = opts.durability ?? 'normal';
    let sqlite: SqliteStore;
    try {
      sqlite = new SqliteStore({ file, auditKey, durability });
    } catch (e) {
      if (e instanceof UnavailableError) throw e;
      throw new UnavailableError(
        'LOCAL.STORE_UNAVAILABLE',
        `cannot open the local store ${file}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    const checkpointer = new Checkpointer({
      file,
      full: durability === 'full',
      intervalMs: opts.checkpointMs ?? DEFAULT_CHECKPOINT_MS,
      log,
    });
    return {
      sqlite,
      events: sqlite.events,
      projections: sqlite.projections,
      file,
      async close() {
        try {
          await checkpointer.stop();
          sqlite.close();
        } finally {
          unlock();
        }
      },
    };
  } catch (e) {
    unlock();
    throw e;
  }
}

/**
 * A folder written by a version before the SQLite store holds its grants in `data/` (dynalite's LevelDB files),
 * which this version cannot read. Starting an empty broker over it would look as if every grant and the audit
 * record were gone, so the broker stops and says what to do.
 */
function refuseLegacyData(home: string): void {
  const legacy = legacyDataDir(home);
  if (!existsSync(legacy)) return;
  let leveldb = false;
  try {
    leveldb = readdirSync(legacy).some((f) => f === 'CURRENT' || f.startsWith('MANIFEST-') || f.endsWith('.ldb'));
  } catch {
    leveldb = true;
  }
  if (!leveldb) return;
  throw new UnavailableError(
    'LOCAL.LEGACY_DATA',
    `${legacy} holds grants written by an earlier Timebox version (a dynalite/LevelDB store), which this version cannot read. ` +
      'To keep that audit record, export it with the earlier version first (`timebox audit export`). ' +
      `Then move the folder away (\`mv ${legacy} ${legacy}.old\`) to start this broker with an empty store, or set TIMEBOX_HOME to another folder.`,
  );
}

/**
 * One broker per data folder: two would each keep their own timers over the same grants. A lock file with the
 * owner's pid makes the second broker fail at once with a clear message; a lock left by a process that no longer
 * runs (a crash, kill -9) is taken over.
 */
function lockHome(home: string): () => void {
  const file = lockPath(home);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw new UnavailableError(
          'LOCAL.DATA_DIR_IN_USE',
          `${home} is in use by another local broker (pid ${pid}); stop it or set TIMEBOX_HOME to another directory`,
        );
      if (pid === process.pid)
        throw new UnavailableError('LOCAL.DATA_DIR_IN_USE', `${home} is already open in this process`);
      rmSync(file, { force: true });
    }
  }
  throw new UnavailableError('LOCAL.DATA_DIR_IN_USE', `cannot lock ${home}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
