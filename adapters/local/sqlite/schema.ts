/**
 * The local store's schema (one SQLite file). `user_version` records the version; a file of a later version is
 * refused instead of being read wrongly.
 *
 * - `events`: the append-only event streams. `gseq` is the store's own write order (1, 2, 3 ... with no gaps), and
 *   `mac` the keyed seal of each row (./seal.ts) over its place in that order, its grant, its seq and its hash.
 * - `grants`: the projection, one sealed row per grant, with the columns its queries index. A rowid table: its rows
 *   (the view is about a kilobyte) are too large for a WITHOUT ROWID table, whose B-tree keeps under about 1 KB of a
 *   row in the page and moves the rest to an overflow page that every update then rewrites (version 1 did that).
 * - `awaiting`: one row per (approver subject, pending grant), for listAwaitingApproval.
 * - `meta`: the sealed head of the write order (the last `gseq`), so that removing the newest events shows.
 */
export const SCHEMA_VERSION = 2;

/** The projection's columns, as created by SCHEMA and by the version 2 upgrade. */
const GRANT_TABLE_COLUMNS = `
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  requester TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  due_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  cleanup INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  last_hash TEXT NOT NULL,
  published_seq INTEGER NOT NULL DEFAULT 0,
  view TEXT NOT NULL,
  mac BLOB NOT NULL
`;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  gseq INTEGER PRIMARY KEY,
  grant_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  target TEXT NOT NULL,
  body TEXT NOT NULL,
  mac BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream ON events (grant_id, seq);
CREATE INDEX IF NOT EXISTS events_at ON events (at, grant_id, seq);
CREATE INDEX IF NOT EXISTS events_actor ON events (actor, at, grant_id, seq);
CREATE INDEX IF NOT EXISTS events_target ON events (target, at, grant_id, seq);

CREATE TABLE IF NOT EXISTS grants (${GRANT_TABLE_COLUMNS});
CREATE INDEX IF NOT EXISTS grants_requester ON grants (requester, requested_at);
CREATE INDEX IF NOT EXISTS grants_status ON grants (status, due_at);
CREATE INDEX IF NOT EXISTS grants_cleanup ON grants (updated_at) WHERE cleanup = 1;

CREATE TABLE IF NOT EXISTS awaiting (
  subject TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  PRIMARY KEY (subject, grant_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS awaiting_grant ON awaiting (grant_id);

CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  gseq INTEGER NOT NULL,
  mac BLOB NOT NULL
) WITHOUT ROWID;
`;

const GRANT_COLUMNS =
  'id, status, requester, requested_at, due_at, updated_at, cleanup, last_seq, last_hash, published_seq, view, mac';

/**
 * Upgrades of a file written by an earlier version, by the version they lead to; each runs in one transaction with
 * the new `user_version`, before SCHEMA (which then creates what is missing, such as dropped indexes).
 */
export const MIGRATIONS: Record<number, string> = {
  // Version 2: `grants` becomes a rowid table (see above). Rows, seals and indexes are carried over as they are.
  2: `
CREATE TABLE grants_v2 (${GRANT_TABLE_COLUMNS});
INSERT INTO grants_v2 (${GRANT_COLUMNS}) SELECT ${GRANT_COLUMNS} FROM grants;
DROP TABLE grants;
ALTER TABLE grants_v2 RENAME TO grants;
`,
};
