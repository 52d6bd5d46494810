import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { ConcurrencyError, StateError, UnavailableError, ValidationError } from '../../../core/errors';
import { type ChainBreak, GENESIS_HASH } from '../../../core/grant/chain';
import type { GrantEvent, GrantStatus } from '../../../core/grant/events';
import { applyEvent, foldGrant, type Grant } from '../../../core/grant/state';
import type {
  EventPage,
  EventQuery,
  EventStore,
  ListOptions,
  ProjectionStore,
  SealedStream,
} from '../../../core/ports';
import { GroupSync } from './group-sync';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema';
import { Sealer, sealHolds } from './seal';

/**
 * better-sqlite3 is a native module: loaded through require so that bundlers leave it (and the .node file it finds
 * next to itself) in node_modules. `modulePath` is handed to the checkpoint worker, which opens the same file.
 */
const localRequire = createRequire(__filename);
const Database = localRequire('better-sqlite3') as typeof BetterSqlite3;
export const BETTER_SQLITE3_PATH = localRequire.resolve('better-sqlite3');

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

export type Durability = 'normal' | 'full';

export interface SqliteStoreOptions {
  /** The database file, or ':memory:'. */
  file: string;
  /** The audit key (adapters/local/files.ts loadAuditKey). */
  auditKey: Buffer;
  durability?: Durability;
}

const MAX_PAGE = 1000;
/** The longest a bus position waits for another write to carry it into the file (recordPublished). */
const MARKS_DUE_MS = 100;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A pending grant without a deadline never falls due (as adapters/aws/dynamodb.ts `dueAtOf`). */
const NEVER = '9999-12-31T23:59:59.999Z';
/** Where `auditLog` reports breaks that belong to the store's write order rather than to one grant. */
export const STORE_ORDER = 'store-write-order';

/** The due time `listDue` compares, by status: the same definition as the DynamoDB projection's `dueAt`. */
export function dueAtOf(g: Grant): string {
  if (g.status === 'pending') return g.pendingUntil ?? NEVER;
  if (g.status === 'approved') return g.startAt ?? g.requestedAt;
  if (g.status === 'active') return g.expiresAt ?? NEVER;
  return g.endedAt ?? g.updatedAt;
}

function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1)
    throw new ValidationError('QUERY.BAD_LIMIT', `limit must be a positive integer, got ${limit}`);
  return Math.min(limit, MAX_PAGE);
}

function tampered(what: string): UnavailableError {
  return new UnavailableError(
    'STORE.TAMPERED',
    `${what} does not carry the broker's seal: the database was changed outside the broker. Run \`timebox audit verify\` for the full report.`,
  );
}

interface GrantRow {
  id: string;
  view: string;
  mac: Buffer;
  last_seq: number;
  last_hash: string;
  published_seq: number;
}
interface EventRow {
  gseq: number;
  grant_id: string;
  seq: number;
  body: string;
  mac: Buffer;
}

/**
 * The local broker's store: events, projection and indexes in one SQLite file (WAL), implementing the EventStore and
 * ProjectionStore ports directly.
 *
 * One transition, one transaction. GrantService appends an event and then puts the projection, two calls; on
 * DynamoDB the projection may lag and the sweeper repairs it. Here `append` itself derives the grant's new view
 * with the core reducer (`applyEvent` on the stored view, `foldGrant` for a first event) and writes the event, the
 * view, its index columns, the awaiting rows and the sealed head of the write order in the same transaction: a crash
 * leaves all of it or none of it. The service's `put` that follows then finds the view already at that seq and only
 * records how far the bus got (`published`), which the ProjectionStore contract lets a stale put do. No port grows
 * a transaction API and the service stays the same for both stores.
 *
 * The bindings are synchronous and every statement is short (indexed, one grant); the port methods are async only
 * because the ports are. The broker is the only writer of its file (the runtime holds a lock), so the head of the
 * write order is kept in memory between transactions.
 *
 * Group commit. A COMMIT costs as much as the statements of a transition (each one writes every page it touched to
 * the WAL), and a busy broker makes many transitions in the same turn of the event loop. So writes join one open
 * transaction that commits when the turn ends (`setImmediate`): each transition is still its own savepoint (all of
 * it or none of it), an append resolves only once the COMMIT holding it has returned, and so nothing is acknowledged
 * before it is in the WAL. A crash loses only the open turn, none of it acknowledged. Reads on the broker's own
 * connection see the open turn's writes: a caller can be shown a state whose commit then fails (the append that
 * made it is refused, STORE.COMMIT_FAILED), never the opposite. How far the bus got (`published`) never opens a
 * transaction of its own: it waits for the next one (recordPublished).
 */
export class SqliteStore {
  readonly events: SqliteEventStore;
  readonly projections: SqliteProjectionStore;
  readonly db: Db;
  readonly sealer: Sealer;
  private closed = false;
  /** `full` durability on a file: appends resolve once the WAL holding them is fsynced. */
  readonly groupSync: GroupSync | undefined;
  private head: { gseq: number; mac: Buffer } | undefined;
  /** The head moved since it was last sealed into the file: sealed once per transaction, as it commits. */
  private headMoved = false;
  /** How far the bus got, for grants written outside any turn: applied by the next transaction (recordPublished). */
  private marks: { grantId: string; from: number; to: number }[] = [];
  private marksDue: NodeJS.Timeout | undefined;
  /** The open group-commit transaction (see above), committed at the end of this turn of the event loop. */
  private turn: { committed: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private readonly st: ReturnType<typeof prepare>;
  readonly appendTx: (event: GrantEvent) => Grant;
  /** Appends many events in one transaction of their own (bulk loads: the benchmarks' seeding). */
  readonly appendMany: (events: Iterable<GrantEvent>) => void;
  readonly putTx: (view: Grant, published?: { from: number; to: number }) => void;

  constructor(opts: SqliteStoreOptions) {
    this.sealer = new Sealer(opts.auditKey);
    this.db = new Database(opts.file);
    try {
      configure(this.db);
      this.st = prepare(this.db);
    } catch (e) {
      this.db.close();
      throw e;
    }
    this.appendTx = this.db.transaction((event: GrantEvent) => this.appendInTx(event));
    this.appendMany = this.db.transaction((events: Iterable<GrantEvent>) => {
      for (const e of events) this.appendInTx(e);
      this.sealHead();
    });
    this.putTx = this.db.transaction((view: Grant, published?: { from: number; to: number }) =>
      this.putInTx(view, published),
    );
    this.events = new SqliteEventStore(this);
    this.projections = new SqliteProjectionStore(this);
    if (opts.durability === 'full' && opts.file !== ':memory:') this.groupSync = new GroupSync(`${opts.file}-wal`);
  }

  /** Throws a clear error once closed, instead of the bindings' "The database connection is not open". */
  check(): void {
    if (this.closed)
      throw new UnavailableError('LOCAL.STORE_CLOSED', 'the local store is closed: the broker is stopping');
  }

  get statements(): ReturnType<typeof prepare> {
    this.check();
    return this.st;
  }

  private readonly cached = new Map<string, Statement>();

  /** A statement built from `sql` once and kept (the audit query's few shapes). */
  statementFor(sql: string): Statement {
    this.check();
    let st = this.cached.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.cached.set(sql, st);
    }
    return st;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    if (this.closed) return;
    if (this.marks.length > 0) void this.joinTurn();
    this.commitTurn();
    if (this.marksDue) clearTimeout(this.marksDue);
    this.closed = true;
    this.db.close();
    void this.groupSync?.close();
  }

  /** The sealed head of the write order; undefined for an empty store. Throws STORE.TAMPERED when it does not hold. */
  private currentHead(): { gseq: number; mac: Buffer } | undefined {
    if (this.head) return this.head;
    const row = this.st.head.get() as { gseq: number; mac: Buffer } | undefined;
    if (!row) {
      if (this.st.anyEvent.get()) throw tampered('the head of the event log');
      return undefined;
    }
    const last = this.st.eventAt.get(row.gseq) as EventRow | undefined;
    if (!last || !sealHolds(row.mac, this.sealer.head(row.gseq, last.mac))) throw tampered('the head of the event log');
    this.head = { gseq: row.gseq, mac: last.mac };
    return this.head;
  }

  private appendInTx(event: GrantEvent): Grant {
    const row = this.st.grant.get(event.grantId) as GrantRow | undefined;
    let view: Grant;
    if (!row) {
      if (event.seq !== 1) {
        if (this.st.eventOf.get(event.grantId, event.seq)) throw new ConcurrencyError(event.grantId, event.seq);
        throw new StateError('STORE.SEQUENCE_GAP', `event ${event.seq} of ${event.grantId} follows no event`);
      }
      if (event.prevHash !== GENESIS_HASH)
        throw new StateError('STORE.BROKEN_LINK', `event 1 of ${event.grantId} does not start a chain`);
      if (this.st.eventOf.get(event.grantId, 1)) throw tampered(`the projection of ${event.grantId}`);
      view = foldGrant([event]);
    } else {
      if (event.seq <= row.last_seq) throw new ConcurrencyError(event.grantId, event.seq);
      if (event.seq !== row.last_seq + 1)
        throw new StateError(
          'STORE.SEQUENCE_GAP',
          `event ${event.seq} of ${event.grantId} does not follow its last event ${row.last_seq}`,
        );
      if (!sealHolds(row.mac, this.sealer.view(row.id, row.view))) throw tampered(`the projection of ${event.grantId}`);
      if (event.prevHash !== row.last_hash)
        throw new StateError(
          'STORE.BROKEN_LINK',
          `event ${event.seq} of ${event.grantId} does not link to event ${row.last_seq}`,
        );
      const stored = JSON.parse(row.view) as Grant;
      view = applyEvent(stored, event);
    }
    const head = this.currentHead();
    const gseq = (head?.gseq ?? 0) + 1;
    const mac = this.sealer.event(gseq, event.grantId, event.seq, event.hash);
    try {
      this.st.insertEvent.run(
        gseq,
        event.grantId,
        event.seq,
        event.at,
        event.actor.id,
        event.target,
        JSON.stringify(event),
        mac,
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new ConcurrencyError(event.grantId, event.seq, { cause: e });
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw tampered('the event log');
      throw e;
    }
    this.writeView(view, row?.published_seq ?? 0, row ? 'update' : 'insert');
    this.syncAwaiting(view);
    // Only once nothing after this can throw does the cached head move; a rolled-back transition leaves it as it
    // was. It is sealed into the file once per transaction, as it commits (sealHead).
    this.head = { gseq, mac };
    this.headMoved = true;
    return view;
  }

  /** Writes the sealed head of the write order, if it moved, inside the open transaction. */
  private sealHead(): void {
    if (!this.headMoved || !this.head) return;
    this.st.setHead.run(this.head.gseq, this.sealer.head(this.head.gseq, this.head.mac));
    this.headMoved = false;
  }

  /**
   * Runs the append as a savepoint of this turn's transaction; resolves with the new view once that transaction has
   * committed. A refused append rolls back to its savepoint and leaves the cached head where it was (it moves only
   * once a transition can no longer fail); a failed COMMIT drops it (commitTurn).
   */
  appendEvent(event: GrantEvent): Promise<Grant> {
    const committed = this.joinTurn();
    const view = this.appendTx(event);
    return committed.then(() => view);
  }

  /**
   * The transaction of this turn of the event loop, opened by its first write and committed once the turn ends;
   * the promise settles with that COMMIT.
   */
  joinTurn(): Promise<void> {
    this.check();
    if (this.turn) return this.turn.committed;
    this.st.begin.run();
    for (const m of this.marks.splice(0)) this.st.markPublished.run(m.to, m.grantId, m.from);
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const committed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Writes that do not wait for the commit (the bus position) must not leave its failure unhandled.
    committed.catch(() => {});
    this.turn = { committed, resolve, reject };
    setImmediate(() => this.commitTurn());
    return committed;
  }

  /**
   * Records how far the bus got for a grant (`from` must be the stored position): in the open turn's transaction if
   * there is one, else in the next one, or within MARKS_DUE_MS when nothing else is written, so that a mark never
   * costs a COMMIT of its own. Until then the views read here show it (viewOf). Losing one to a crash only means
   * the sweeper publishes those events again.
   */
  recordPublished(grantId: string, from: number, to: number): void {
    this.check();
    if (this.turn) {
      this.st.markPublished.run(to, grantId, from);
      return;
    }
    this.marks.push({ grantId, from, to });
    if (this.marksDue) return;
    this.marksDue = setTimeout(() => {
      this.marksDue = undefined;
      if (this.marks.length > 0 && !this.closed) void this.joinTurn();
    }, MARKS_DUE_MS);
    this.marksDue.unref();
  }

  /** Commits the open turn (at the end of the turn, or at once before closing). */
  commitTurn(): void {
    const turn = this.turn;
    if (!turn) return;
    this.turn = undefined;
    try {
      this.sealHead();
      this.st.commit.run();
    } catch (e) {
      this.head = undefined;
      this.headMoved = false;
      try {
        if (this.db.inTransaction) this.st.rollback.run();
      } catch {
        // The connection already rolled back.
      }
      turn.reject(
        new UnavailableError('STORE.COMMIT_FAILED', `the local store could not commit: ${(e as Error).message}`, {
          cause: e,
        }),
      );
      return;
    }
    turn.resolve();
  }

  private writeView(view: Grant, publishedSeq: number, how: 'insert' | 'update'): void {
    const { publishedSeq: _p, ...fields } = view;
    const text = JSON.stringify(fields);
    const row = {
      id: view.id,
      status: view.status,
      requester: view.requester.id,
      requested_at: view.requestedAt,
      due_at: dueAtOf(view),
      updated_at: view.updatedAt,
      cleanup: view.cleanupNeeded ? 1 : 0,
      last_seq: view.lastSeq,
      last_hash: view.lastHash,
      published_seq: publishedSeq,
      view: text,
      mac: this.sealer.view(view.id, text),
    };
    // The update leaves out the requester and the request time, which never change, sparing their index.
    (how === 'insert' ? this.st.insertGrant : this.st.updateGrant).run(row);
  }

  private syncAwaiting(view: Grant): void {
    this.st.clearAwaiting.run(view.id);
    if (view.status !== 'pending') return;
    for (const subject of new Set(view.approval?.from ?? [])) this.st.addAwaiting.run(subject, view.id);
  }

  private putInTx(view: Grant, published?: { from: number; to: number }): void {
    const row = this.st.grant.get(view.id) as GrantRow | undefined;
    const current = row?.published_seq ?? 0;
    const publishedSeq = published && published.from === current ? published.to : current;
    if (!row || row.last_seq < view.lastSeq) {
      this.writeView(view, publishedSeq, row ? 'update' : 'insert');
      this.syncAwaiting(view);
    } else if (publishedSeq !== current) this.st.markPublished.run(publishedSeq, view.id, current);
  }

  /** Parses and checks a projection row; undefined when its seal does not hold. */
  viewOf(row: GrantRow): Grant | undefined {
    if (!sealHolds(row.mac, this.sealer.view(row.id, row.view))) return undefined;
    let publishedSeq = row.published_seq;
    for (const m of this.marks) if (m.grantId === row.id && m.from === publishedSeq) publishedSeq = m.to;
    return { ...(JSON.parse(row.view) as Grant), publishedSeq };
  }

  /** The events of one grant and the breaks of their seals and of the recorded head. */
  auditStream(grantId: string): SealedStream {
    const rows = this.statements.stream.all(grantId) as EventRow[];
    const breaks: ChainBreak[] = [];
    const events: GrantEvent[] = [];
    for (const r of rows) {
      let e: GrantEvent;
      try {
        e = JSON.parse(r.body) as GrantEvent;
      } catch {
        breaks.push({ grantId, seq: r.seq, problem: 'unreadable', message: `event ${r.seq} is not JSON` });
        continue;
      }
      if (
        e.grantId !== grantId ||
        e.seq !== r.seq ||
        !sealHolds(r.mac, this.sealer.event(r.gseq, grantId, r.seq, e.hash))
      )
        breaks.push({
          grantId,
          seq: r.seq,
          problem: 'seal-mismatch',
          message: `event ${r.seq} does not carry the broker's seal: it was written or changed outside the broker`,
        });
      events.push(e);
    }
    const row = this.st.grant.get(grantId) as GrantRow | undefined;
    const view = row ? this.viewOf(row) : undefined;
    if (row && !view)
      breaks.push({
        grantId,
        seq: row.last_seq,
        problem: 'seal-mismatch',
        message: "the grant's recorded state does not carry the broker's seal: it was changed outside the broker",
      });
    if (!row && rows.length > 0)
      breaks.push({
        grantId,
        seq: 0,
        problem: 'head-mismatch',
        message: "the grant's recorded head is missing: it was removed outside the broker",
      });
    return {
      events,
      breaks,
      ...(view ? { view, head: { seq: view.lastSeq, hash: view.lastHash } } : {}),
    };
  }

  /**
   * Breaks in the write order around the events of [since, until): a missing place (an event deleted), a row after
   * the sealed head (an event added), a head that does not hold, and rows whose seal does not hold (an event added
   * or changed, which the audit query of the window leaves out).
   */
  auditLog(since: Date, until: Date): ChainBreak[] {
    const st = this.statements;
    const breaks: ChainBreak[] = [];
    const at = (gseq: number, problem: ChainBreak['problem'], message: string, grantId = STORE_ORDER) =>
      breaks.push({ grantId, seq: gseq, problem, message });
    const headRow = st.head.get() as { gseq: number; mac: Buffer } | undefined;
    const max = (st.maxGseq.get() as { g: number | null }).g ?? 0;
    let headGseq = max;
    if (!headRow) {
      if (max > 0) at(max, 'seal-mismatch', 'the head of the event log is missing');
    } else {
      headGseq = headRow.gseq;
      const last = st.eventAt.get(headRow.gseq) as EventRow | undefined;
      if (!last || !sealHolds(headRow.mac, this.sealer.head(headRow.gseq, last.mac)))
        at(headRow.gseq, 'seal-mismatch', 'the head of the event log does not carry the broker seal');
      if (max > headRow.gseq)
        at(max, 'seal-mismatch', `${max - headRow.gseq} event(s) were added after the sealed head of the event log`);
    }
    const range = st.windowRange.get(since.toISOString(), until.toISOString()) as {
      lo: number | null;
      hi: number | null;
    };
    if (range.lo === null || range.hi === null) return breaks;
    // One place beyond each end, so that deleting the first or last event of the window shows too.
    const lo = Math.max(1, range.lo - 1);
    const hi = Math.min(Math.max(headGseq, range.hi), range.hi + 1);
    let expected = lo;
    for (const r of st.byGseq.iterate(lo, hi) as Iterable<EventRow>) {
      for (; expected < r.gseq; expected++)
        at(expected, 'missing-event', `event #${expected} of the event log was removed`);
      expected = r.gseq + 1;
      let hash = '';
      try {
        hash = (JSON.parse(r.body) as GrantEvent).hash;
      } catch {
        // An unreadable body cannot hold its seal.
      }
      if (!sealHolds(r.mac, this.sealer.event(r.gseq, r.grant_id, r.seq, hash)))
        at(
          r.seq,
          'seal-mismatch',
          `event ${r.seq} (#${r.gseq} of the event log) does not carry the broker's seal`,
          r.grant_id,
        );
    }
    for (; expected <= hi; expected++) at(expected, 'missing-event', `event #${expected} of the event log was removed`);
    return breaks;
  }
}

/** Pragmas, schema and version; refuses a file written by a later version. */
function configure(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION)
    throw new UnavailableError(
      'LOCAL.STORE_TOO_NEW',
      `${db.name} was written by a later Timebox (store version ${version}); run that version, or start with another TIMEBOX_HOME`,
    );
  db.pragma('journal_mode = WAL');
  // A commit is in the WAL (the operating system has it) when the call returns: it survives the broker being killed,
  // not a power loss. `full` durability adds an fsync of the WAL before an append resolves (./group-sync.ts).
  db.pragma('synchronous = NORMAL');
  // Checkpoints run in a worker thread (./checkpoint.ts), never inside a commit on the event loop.
  db.pragma('wal_autocheckpoint = 0');
  db.pragma('journal_size_limit = 67108864');
  db.pragma('busy_timeout = 5000');
  // 16 MB of page cache (the default is 2 MB): the indexes of a long history stay in memory.
  db.pragma('cache_size = -16384');
  db.pragma('foreign_keys = OFF');
  // Version 0 is a new file; an earlier version is upgraded one step at a time, each in its own transaction.
  if (version > 0)
    for (let v = version + 1; v <= SCHEMA_VERSION; v++) {
      const sql = MIGRATIONS[v];
      db.transaction(() => {
        if (sql) db.exec(sql);
        db.pragma(`user_version = ${v}`);
      })();
    }
  db.exec(SCHEMA);
  if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

function prepare(db: Db) {
  const s = (sql: string): Statement => db.prepare(sql);
  const grantCols = 'id, view, mac, last_seq, last_hash, published_seq';
  return {
    begin: s('BEGIN IMMEDIATE'),
    commit: s('COMMIT'),
    rollback: s('ROLLBACK'),
    head: s(`SELECT gseq, mac FROM meta WHERE key = 'head'`),
    setHead: s(
      `INSERT INTO meta (key, gseq, mac) VALUES ('head', ?, ?) ON CONFLICT (key) DO UPDATE SET gseq = excluded.gseq, mac = excluded.mac`,
    ),
    anyEvent: s('SELECT 1 FROM events LIMIT 1'),
    maxGseq: s('SELECT max(gseq) AS g FROM events'),
    eventAt: s('SELECT gseq, grant_id, seq, body, mac FROM events WHERE gseq = ?'),
    eventOf: s('SELECT 1 FROM events WHERE grant_id = ? AND seq = ?'),
    insertEvent: s(
      'INSERT INTO events (gseq, grant_id, seq, at, actor, target, body, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    stream: s('SELECT gseq, grant_id, seq, body, mac FROM events WHERE grant_id = ? ORDER BY seq'),
    windowRange: s('SELECT min(gseq) AS lo, max(gseq) AS hi FROM events WHERE at >= ? AND at < ?'),
    byGseq: s('SELECT gseq, grant_id, seq, body, mac FROM events WHERE gseq BETWEEN ? AND ? ORDER BY gseq'),
    grant: s(`SELECT ${grantCols} FROM grants WHERE id = ?`),
    insertGrant: s(
      'INSERT INTO grants (id, status, requester, requested_at, due_at, updated_at, cleanup, last_seq, last_hash, published_seq, view, mac) VALUES (@id, @status, @requester, @requested_at, @due_at, @updated_at, @cleanup, @last_seq, @last_hash, @published_seq, @view, @mac)',
    ),
    updateGrant: s(
      'UPDATE grants SET status = @status, due_at = @due_at, updated_at = @updated_at, cleanup = @cleanup, last_seq = @last_seq, last_hash = @last_hash, published_seq = @published_seq, view = @view, mac = @mac WHERE id = @id',
    ),
    markPublished: s('UPDATE grants SET published_seq = ? WHERE id = ? AND published_seq = ?'),
    clearAwaiting: s('DELETE FROM awaiting WHERE grant_id = ?'),
    addAwaiting: s('INSERT OR IGNORE INTO awaiting (subject, grant_id) VALUES (?, ?)'),
    byRequester: s(`SELECT ${grantCols} FROM grants WHERE requester = ? ORDER BY requested_at DESC LIMIT ?`),
    awaiting: s(
      `SELECT ${grantCols} FROM grants WHERE status = 'pending' AND id IN (SELECT grant_id FROM awaiting WHERE subject IN (SELECT value FROM json_each(?))) ORDER BY requested_at DESC LIMIT ?`,
    ),
    due: s(`SELECT ${grantCols} FROM grants WHERE status = ? AND due_at <= ? ORDER BY due_at LIMIT ?`),
    dueIds: s('SELECT id, due_at FROM grants WHERE status = ? AND due_at <= ? ORDER BY due_at'),
    byStatus: s(`SELECT ${grantCols} FROM grants WHERE status = ? ORDER BY due_at DESC LIMIT ?`),
    cleanup: s(`SELECT ${grantCols} FROM grants WHERE cleanup = 1 ORDER BY updated_at LIMIT ?`),
    countByStatus: s('SELECT status, count(*) AS n FROM grants GROUP BY status'),
  };
}

/** The EventStore port over SqliteStore. */
export class SqliteEventStore implements EventStore {
  constructor(private readonly s: SqliteStore) {}

  /**
   * Appends with the expected-sequence check, and writes the grant's view with it (see SqliteStore). An event at a
   * seq already taken is a ConcurrencyError; one that skips a seq or does not link to the stored head is refused.
   */
  async append(event: GrantEvent): Promise<void> {
    if (!ISO_INSTANT.test(event.at))
      throw new ValidationError('STORE.BAD_EVENT_TIME', `event time must be an ISO instant in UTC, got ${event.at}`);
    await this.s.appendEvent(event);
    // Durability `full`: the transition is acknowledged only once it is on stable storage.
    await this.s.groupSync?.sync();
  }

  /**
   * The whole stream, ordered by seq. Refused (STORE.TAMPERED) when a seal does not hold, when a seq is missing, or
   * when it does not end at the head sealed with the projection: a stream edited outside the broker (an approval
   * added, a revocation removed) never drives a decision or a credential.
   */
  async read(grantId: string): Promise<GrantEvent[]> {
    if (!grantId) return [];
    const rows = this.s.statements.stream.all(grantId) as EventRow[];
    const head = this.s.statements.grant.get(grantId) as GrantRow | undefined;
    if (rows.length === 0) {
      if (head) throw tampered(`the events of ${grantId}`);
      return [];
    }
    const events = rows.map((r, i) => {
      const e = JSON.parse(r.body) as GrantEvent;
      if (
        r.seq !== i + 1 ||
        e.grantId !== grantId ||
        e.seq !== r.seq ||
        !sealHolds(r.mac, this.s.sealer.event(r.gseq, grantId, r.seq, e.hash))
      )
        throw tampered(`event ${r.seq} of ${grantId}`);
      return e;
    });
    const last = events[events.length - 1] as GrantEvent;
    if (
      !head ||
      !sealHolds(head.mac, this.s.sealer.view(head.id, head.view)) ||
      head.last_seq !== last.seq ||
      head.last_hash !== last.hash
    )
      throw tampered(`the recorded head of ${grantId}`);
    return events;
  }

  /**
   * Events in [since, until), oldest first (then by grant and seq), by actor and/or target. The cursor is the last
   * event's key, bound to the filter it was issued for. Rows whose seal does not hold are left out (audit verify
   * reports them).
   */
  async query(f: EventQuery): Promise<EventPage> {
    const limit = clampLimit(f.limit, 100);
    if (Number.isNaN(f.since.getTime()) || Number.isNaN(f.until.getTime()))
      throw new ValidationError('QUERY.BAD_RANGE', 'since and until must be valid times');
    if (f.until.getTime() <= f.since.getTime()) return { events: [] };
    const since = f.since.toISOString();
    const until = f.until.toISOString();
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([since, until, f.actor ?? '', f.target ?? '']))
      .digest('base64url')
      .slice(0, 16);
    const after = f.cursor ? decodeCursor(f.cursor, fingerprint) : undefined;
    const where = ['at >= ?', 'at < ?'];
    const args: (string | number)[] = [since, until];
    if (f.actor) {
      where.push('actor = ?');
      args.push(f.actor);
    }
    if (f.target) {
      where.push('target = ?');
      args.push(f.target);
    }
    if (after) {
      where.push('(at, grant_id, seq) > (?, ?, ?)');
      args.push(...after);
    }
    const sql = `SELECT gseq, grant_id, seq, at, body, mac FROM events WHERE ${where.join(' AND ')} ORDER BY at, grant_id, seq LIMIT ?`;
    const rows = this.s.statementFor(sql).all(...args, limit + 1) as (EventRow & { at: string })[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const events: GrantEvent[] = [];
    for (const r of page) {
      let e: GrantEvent;
      try {
        e = JSON.parse(r.body) as GrantEvent;
      } catch {
        continue;
      }
      if (sealHolds(r.mac, this.s.sealer.event(r.gseq, r.grant_id, r.seq, e.hash)) && e.grantId === r.grant_id)
        events.push(e);
    }
    const last = page[page.length - 1];
    if (!more || !last) return { events };
    return { events, cursor: encodeCursor([fingerprint, last.at, last.grant_id, last.seq]) };
  }

  async auditStream(grantId: string): Promise<SealedStream> {
    return this.s.auditStream(grantId);
  }

  async auditLog(window: { since: Date; until: Date }): Promise<ChainBreak[]> {
    return this.s.auditLog(window.since, window.until);
  }
}

function encodeCursor(c: [string, string, string, number]): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, fingerprint: string): [string, string, number] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (
    Array.isArray(v) &&
    v.length === 4 &&
    v[0] === fingerprint &&
    typeof v[1] === 'string' &&
    typeof v[2] === 'string' &&
    Number.isSafeInteger(v[3])
  )
    return [v[1], v[2], v[3] as number];
  throw new ValidationError('QUERY.BAD_CURSOR', 'the cursor is not one this query returned');
}

/** The ProjectionStore port over SqliteStore. Rows whose seal does not hold are never returned. */
export class SqliteProjectionStore implements ProjectionStore {
  constructor(private readonly s: SqliteStore) {}

  /**
   * Monotonic in lastSeq; `published` is recorded when the stored publishedSeq is exactly `from`, also when the view
   * itself is not newer (append already wrote it: see SqliteStore).
   */
  async put(view: Grant, published?: { from: number; to: number }): Promise<void> {
    const row = this.s.statements.grant.get(view.id) as GrantRow | undefined;
    if (row && row.last_seq >= view.lastSeq) {
      // The common case, the service's put after an append that already wrote this view: only the bus position is
      // new, and it is recorded without a transaction of its own (SqliteStore.recordPublished).
      if (published) this.s.recordPublished(view.id, published.from, published.to);
      return;
    }
    const committed = this.s.joinTurn();
    this.s.putTx(view, published);
    await committed;
  }

  async get(grantId: string): Promise<Grant | undefined> {
    if (!grantId) return undefined;
    const row = this.s.statements.grant.get(grantId) as GrantRow | undefined;
    if (!row) return undefined;
    const view = this.s.viewOf(row);
    if (!view) throw tampered(`the recorded state of ${grantId}`);
    return view;
  }

  async listByRequester(principalId: string, opts?: ListOptions): Promise<Grant[]> {
    return this.views(this.s.statements.byRequester.all(principalId, clampLimit(opts?.limit, 1000)));
  }

  async listAwaitingApproval(subjects: string[], opts?: ListOptions): Promise<Grant[]> {
    const wanted = [...new Set(subjects.filter((x) => x))];
    if (wanted.length === 0) return [];
    return this.views(this.s.statements.awaiting.all(JSON.stringify(wanted), clampLimit(opts?.limit, 1000)));
  }

  async listDue(status: 'pending' | 'approved' | 'active', dueBefore: Date, opts?: ListOptions): Promise<Grant[]> {
    return this.views(this.s.statements.due.all(status, dueBefore.toISOString(), clampLimit(opts?.limit, 1000)));
  }

  async listByStatus(status: Grant['status'], opts?: ListOptions): Promise<Grant[]> {
    return this.views(this.s.statements.byStatus.all(status, clampLimit(opts?.limit, 1000)));
  }

  async listCleanupNeeded(opts?: ListOptions): Promise<Grant[]> {
    return this.views(this.s.statements.cleanup.all(clampLimit(opts?.limit, 1000)));
  }

  async markPublished(grantId: string, fromSeq: number, toSeq: number): Promise<void> {
    this.s.recordPublished(grantId, fromSeq, toSeq);
  }

  /**
   * Ids and due times of every grant in `status` due before `dueBefore`, read from the index alone (no view is
   * parsed): what the runtime re-arms at start-up, so a start-up costs the live grants, not the history.
   */
  dueIds(status: GrantStatus, dueBefore: Date): { grantId: string; dueAt: string }[] {
    return (this.s.statements.dueIds.all(status, dueBefore.toISOString()) as { id: string; due_at: string }[]).map(
      (r) => ({ grantId: r.id, dueAt: r.due_at }),
    );
  }

  /** Grants per status (the banner and tests). */
  counts(): Partial<Record<GrantStatus, number>> {
    const out: Partial<Record<GrantStatus, number>> = {};
    for (const r of this.s.statements.countByStatus.all() as { status: GrantStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  private views(rows: unknown[]): Grant[] {
    const out: Grant[] = [];
    for (const row of rows as GrantRow[]) {
      const v = this.s.viewOf(row);
      if (v) out.push(v);
    }
    return out;
  }
}
