/**
 * The local store's schema (one SQLite file). `user_version` records the version; a file of a later version is
 * refused instead of being read wrongly.
 *
 * - `events`: the append-only event streams. `gseq` is the store's own write order (1, 2, 3 ... with no gaps), and
 *   `mac` the keyed seal of each row (./seal.ts) over its place in that order, its grant, its seq and its hash.
 * - `grants`: the projection, one sealed row per grant, with the columns its queries index.
 * - `awaiting`: one row per (approver subject, pending grant), for listAwaitingApproval.
 * - `meta`: the sealed head of the write order (the last `gseq`), so that removing the newest events shows.
 */
export const SCHEMA_VERSION = 1;

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

CREATE TABLE IF NOT EXISTS grants (
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
) WITHOUT ROWID;
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
