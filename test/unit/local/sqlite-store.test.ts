import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { SCHEMA, SCHEMA_VERSION } from '../../../adapters/local/sqlite/schema';
import { SqliteStore } from '../../../adapters/local/sqlite/store';
import { ManualClock } from '../../../core/clock';
import { ConcurrencyError } from '../../../core/errors';
import { eventHash, sealEvent, verifyChain } from '../../../core/grant/chain';
import type { GrantEvent } from '../../../core/grant/events';
import { foldGrant } from '../../../core/grant/state';
import { waitFor } from '../../helpers/runner';
import { alice, carol, dan, grantServiceOver, requestDummy, sam } from '../../helpers/world';

const MIN = 60_000;
const adminScope = { target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * MIN, reason: 'INC-9' };

let dir: string;
let file: string;
const open: SqliteStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'timebox-sqlite-'));
  file = join(dir, 'timebox.db');
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const KEY = randomBytes(32);

function store(f = file): SqliteStore {
  const s = new SqliteStore({ file: f, auditKey: KEY });
  open.push(s);
  return s;
}

function world(s: SqliteStore) {
  const clock = new ManualClock('2026-11-24T10:00:00Z');
  return { clock, service: grantServiceOver({ events: s.events, projections: s.projections, clock }) };
}

describe('Class: SqliteStore', () => {
  it('writes the event and the projection it implies in one transaction', async () => {
    const s = store();
    const { service } = world(s);
    const { grant } = await service.request(alice, requestDummy());
    const events = await s.events.read(grant.id);
    expect(events.map((e) => e.type)).toEqual(['requested', 'activated']);
    // The view follows the event even without the service's put: append wrote it.
    const view = await s.projections.get(grant.id);
    expect(view).toMatchObject({ status: 'active', lastSeq: 2, lastHash: events[1]?.hash, publishedSeq: 2 });
    expect(view).toEqual({ ...foldGrant(events), publishedSeq: 2 });
  });

  it('refuses a taken seq (ConcurrencyError), a gap and a broken link, and leaves nothing of a refused write', async () => {
    const s = store();
    const { service } = world(s);
    const { grant } = await service.request(alice, requestDummy());
    const [first, second] = await s.events.read(grant.id);
    const dup = sealEvent(
      {
        type: 'revoked',
        actor: { id: 'x', kind: 'principal' },
        data: { reason: 'r' },
        grantId: grant.id,
        at: second?.at as string,
        target: 'prod-logs',
      },
      first,
    );
    await expect(s.events.append(dup)).rejects.toBeInstanceOf(ConcurrencyError);
    const gap = sealEvent({ ...dup }, { seq: 5, hash: second?.hash as string });
    await expect(s.events.append(gap)).rejects.toMatchObject({ code: 'STORE.SEQUENCE_GAP' });
    const unlinked = sealEvent({ ...dup }, { seq: 2, hash: 'f'.repeat(64) });
    await expect(s.events.append(unlinked)).rejects.toMatchObject({ code: 'STORE.BROKEN_LINK' });
    // A first event that is not a request fails inside the transaction: neither event nor view is left.
    const orphan = sealEvent({ ...dup, grantId: 'tb-01jd0000000000000000000001' }, undefined);
    await expect(s.events.append(orphan)).rejects.toThrow();
    expect(await s.events.read('tb-01jd0000000000000000000001')).toEqual([]);
    expect(await s.projections.get('tb-01jd0000000000000000000001')).toBeUndefined();
    expect(await s.events.read(grant.id)).toHaveLength(2);
  });

  it('commits the appends of one turn together, and resolves each only once that commit is in the file', async () => {
    const s = store();
    const { service } = world(s);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await service.request(alice, requestDummy())).grant.id);
    const streams = await Promise.all(ids.map((id) => s.events.read(id)));
    const revocations = streams.map((events) => {
      const last = events[events.length - 1] as GrantEvent;
      return sealEvent(
        {
          type: 'revoked',
          actor: { id: 'sam@corp.com', kind: 'principal' },
          data: { reason: 'done' },
          grantId: last.grantId,
          at: last.at,
          target: last.target,
        },
        last,
      );
    });
    const outside = new Database(file, { readonly: true });
    const committed = () =>
      (outside.prepare('SELECT count(*) AS n FROM events WHERE body LIKE \'%"revoked"%\'').get() as { n: number }).n;
    let resolved = 0;
    const appends = revocations.map((e) => s.events.append(e).then(() => resolved++));
    // Written inside this turn's transaction: another connection sees none of it yet, and nothing has resolved.
    expect(committed()).toBe(0);
    expect(resolved).toBe(0);
    await Promise.all(appends);
    expect(committed()).toBe(3);
    outside.close();
  });

  it('keeps the rest of a turn when one of its appends is refused', async () => {
    const s = store();
    const { service } = world(s);
    const a = (await service.request(alice, requestDummy())).grant;
    const b = (await service.request(alice, requestDummy())).grant;
    const [a1] = await s.events.read(a.id);
    const bEvents = await s.events.read(b.id);
    const bLast = bEvents[bEvents.length - 1] as GrantEvent;
    const draft = (g: string, at: string) => ({
      type: 'revoked' as const,
      actor: { id: 'sam@corp.com', kind: 'principal' as const },
      data: { reason: 'done' },
      grantId: g,
      at,
      target: 'user-service',
    });
    const taken = sealEvent(draft(a.id, bLast.at), a1); // seq 2 of a is taken: refused
    const good = sealEvent(draft(b.id, bLast.at), bLast);
    const results = await Promise.allSettled([s.events.append(taken), s.events.append(good)]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: expect.any(ConcurrencyError) });
    expect(results[1]).toMatchObject({ status: 'fulfilled' });
    expect((await s.events.read(a.id)).map((e) => e.type)).toEqual(['requested', 'activated']);
    expect((await s.projections.get(b.id))?.status).toBe('revoked');
  });

  it('refuses every append of a turn whose commit fails, keeps none of it, and goes on after', async () => {
    const s = store();
    const { service } = world(s);
    const g = (await service.request(alice, requestDummy())).grant;
    const events = await s.events.read(g.id);
    const last = events[events.length - 1] as GrantEvent;
    const revoke = sealEvent(
      {
        type: 'revoked',
        actor: { id: 'sam@corp.com', kind: 'principal' },
        data: { reason: 'done' },
        grantId: g.id,
        at: last.at,
        target: 'user-service',
      },
      last,
    );
    // The COMMIT fails as it would on a full disk or an I/O error.
    const statements = (s as unknown as { st: { commit: { run(): unknown } } }).st;
    const commit = statements.commit;
    statements.commit = {
      run() {
        throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
      },
    };
    const refused = Promise.allSettled([s.events.append(revoke), service.request(alice, requestDummy())]);
    await new Promise((r) => setImmediate(r));
    statements.commit = commit;
    const [appended, requested] = await refused;
    expect(appended).toMatchObject({ status: 'rejected', reason: { code: 'STORE.COMMIT_FAILED' } });
    expect(requested.status).toBe('rejected');
    expect((await s.events.read(g.id)).map((e) => e.type)).toEqual(['requested', 'activated']);
    expect((await s.projections.get(g.id))?.status).toBe('active');
    // The head of the write order is read again from the file: the next transition links to what was committed.
    await s.events.append(revoke);
    expect((await s.projections.get(g.id))?.status).toBe('revoked');
    expect(await s.events.auditLog({ since: new Date(0), until: new Date('2100-01-01T00:00:00Z') })).toEqual([]);
  });

  it('records how far the bus got even when the view was already written, only from the expected position', async () => {
    const s = store();
    const { service } = world(s);
    const { grant } = await service.request(alice, requestDummy());
    const view = await s.projections.get(grant.id);
    await s.projections.put({ ...(view as typeof grant), publishedSeq: undefined }, { from: 1, to: 9 });
    expect((await s.projections.get(grant.id))?.publishedSeq).toBe(2);
    await s.projections.markPublished(grant.id, 2, 3);
    expect((await s.projections.get(grant.id))?.publishedSeq).toBe(3);
  });

  it('records how far the bus got without a COMMIT of its own: shown at once, in the file with the next write', async () => {
    const s = store();
    const { service } = world(s);
    const a = (await service.request(alice, requestDummy())).grant;
    const outside = new Database(file, { readonly: true });
    const stored = (id: string) =>
      (outside.prepare('SELECT published_seq AS p FROM grants WHERE id = ?').get(id) as { p: number }).p;
    // requested (published 0 -> 1, carried by the activation's transaction), activated (1 -> 2, waiting).
    expect(stored(a.id)).toBe(1);
    expect((await s.projections.get(a.id))?.publishedSeq).toBe(2);
    // Nothing else is written: it reaches the file on its own, shortly.
    await waitFor(() => expect(stored(a.id)).toBe(2), { timeout: 2_000 });
    // Closing writes what is still waiting.
    const b = (await service.request(alice, requestDummy())).grant;
    expect(stored(b.id)).toBe(1);
    s.close();
    expect(stored(b.id)).toBe(2);
    outside.close();
  });

  it('upgrades a version 1 file (grants WITHOUT ROWID) in place, keeping every row, seal and index', async () => {
    const first = store();
    const { service } = world(first);
    const kept = (await service.request(alice, requestDummy())).grant;
    const ended = (await service.request(alice, requestDummy())).grant;
    await service.revoke(ended.id, sam, 'done');
    const before = { kept: await first.events.read(kept.id), ended: await first.projections.get(ended.id) };
    first.close();
    // The file as version 1 wrote it: the same columns in a WITHOUT ROWID table, with its indexes.
    const raw = new Database(file);
    const cols =
      'id, status, requester, requested_at, due_at, updated_at, cleanup, last_seq, last_hash, published_seq, view, mac';
    raw.exec(`
      CREATE TABLE grants_v1 (id TEXT PRIMARY KEY, status TEXT NOT NULL, requester TEXT NOT NULL,
        requested_at TEXT NOT NULL, due_at TEXT NOT NULL, updated_at TEXT NOT NULL, cleanup INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL, published_seq INTEGER NOT NULL DEFAULT 0,
        view TEXT NOT NULL, mac BLOB NOT NULL) WITHOUT ROWID;
      INSERT INTO grants_v1 (${cols}) SELECT ${cols} FROM grants;
      DROP TABLE grants;
      ALTER TABLE grants_v1 RENAME TO grants;`);
    raw.exec(SCHEMA);
    raw.pragma('user_version = 1');
    const layout = () =>
      (raw.prepare("SELECT sql FROM sqlite_master WHERE name = 'grants'").get() as { sql: string }).sql;
    expect(layout()).toContain('WITHOUT ROWID');
    raw.close();

    const upgraded = store();
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(
      (after.prepare("SELECT sql FROM sqlite_master WHERE name = 'grants'").get() as { sql: string }).sql,
    ).not.toContain('WITHOUT ROWID');
    const indexes = after.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'grants'").all();
    expect(indexes.map((r) => (r as { name: string }).name).sort()).toEqual(
      expect.arrayContaining(['grants_cleanup', 'grants_requester', 'grants_status']),
    );
    after.close();
    expect(await upgraded.events.read(kept.id)).toEqual(before.kept);
    expect(await upgraded.projections.get(ended.id)).toEqual(before.ended);
    expect((await upgraded.projections.listByStatus('active')).map((g) => g.id)).toEqual([kept.id]);
    expect(await upgraded.events.auditLog({ since: new Date(0), until: new Date('2100-01-01T00:00:00Z') })).toEqual([]);
    // And it goes on: a new transition on a carried-over grant.
    await world(upgraded).service.revoke(kept.id, sam, 'done');
    expect((await upgraded.projections.get(kept.id))?.status).toBe('revoked');
  });

  it('refuses a file written by a later version instead of reading it wrongly', () => {
    store().close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => store()).toThrow(expect.objectContaining({ code: 'LOCAL.STORE_TOO_NEW' }));
  });

  it('serves the lists the service and the sweeper use', async () => {
    const s = store();
    const { service, clock } = world(s);
    const pending = (await service.request(alice, adminScope)).grant;
    const active = (await service.request(alice, requestDummy())).grant;
    expect((await s.projections.listAwaitingApproval(['group:secops'])).map((g) => g.id)).toEqual([pending.id]);
    expect(await s.projections.listAwaitingApproval(['group:nobody'])).toEqual([]);
    expect((await s.projections.listByRequester('alice@corp.com')).map((g) => g.id).sort()).toEqual(
      [pending.id, active.id].sort(),
    );
    expect(await s.projections.listDue('active', clock.now())).toEqual([]);
    clock.advance(61 * MIN);
    expect((await s.projections.listDue('active', clock.now())).map((g) => g.id)).toEqual([active.id]);
    expect(s.projections.dueIds('active', clock.now()).map((g) => g.grantId)).toEqual([active.id]);
    await service.approve(pending.id, carol).catch(() => {});
    await service.deny(pending.id, dan, 'no').catch(() => {});
    expect(await s.projections.listAwaitingApproval(['group:secops'])).toEqual([]);
    await expect(s.projections.listByStatus('active', { limit: 0 })).rejects.toMatchObject({ code: 'QUERY.BAD_LIMIT' });
  });

  it('pages audit queries with a cursor bound to its filter, losing nothing', async () => {
    const s = store();
    const { service, clock } = world(s);
    for (let i = 0; i < 7; i++) {
      await service.request(alice, requestDummy());
      clock.advance(1000);
    }
    const window = { since: new Date('2026-11-24T00:00:00Z'), until: new Date('2026-11-25T00:00:00Z') };
    const seen: GrantEvent[] = [];
    let cursor: string | undefined;
    do {
      const page = await s.events.query({ ...window, limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.events);
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toHaveLength(14);
    expect(seen.map((e) => e.at)).toEqual([...seen.map((e) => e.at)].sort());
    const first = await s.events.query({ ...window, limit: 3 });
    await expect(
      s.events.query({ ...window, actor: 'alice@corp.com', limit: 3, cursor: first.cursor as string }),
    ).rejects.toMatchObject({ code: 'QUERY.BAD_CURSOR' });
    expect((await s.events.query({ ...window, actor: 'timebox' })).events.every((e) => e.type === 'activated')).toBe(
      true,
    );
    expect((await s.events.query({ ...window, target: 'nothing' })).events).toEqual([]);
  });

  it("answers a clear error once closed, not the bindings' own", async () => {
    const s = store();
    s.close();
    await expect(s.events.read('tb-01jd0000000000000000000001')).rejects.toMatchObject({ code: 'LOCAL.STORE_CLOSED' });
  });
});

/**
 * Someone who can write the database file but does not hold the audit key: edits made the way an attacker would,
 * recomputing the plain hash chain and the projection so that only the keyed seals can tell.
 */
describe('Tampering with the database file', () => {
  async function seeded() {
    const s = store();
    const { service } = world(s);
    const pending = (await service.request(alice, adminScope)).grant;
    const other = (await service.request(alice, requestDummy())).grant;
    s.close();
    open.splice(open.indexOf(s), 1);
    return { pending, other };
  }

  function attacker() {
    const db = new Database(file);
    const rows = (id: string) =>
      db.prepare('SELECT gseq, body FROM events WHERE grant_id = ? ORDER BY seq').all(id) as {
        gseq: number;
        body: string;
      }[];
    return { db, rows };
  }

  it('adds an approval with a recomputed chain and projection: refused on read, reported by verify', async () => {
    const { pending } = await seeded();
    const a = attacker();
    const [req] = a.rows(pending.id).map((r) => JSON.parse(r.body) as GrantEvent);
    const forged = sealEvent(
      {
        type: 'approved',
        actor: { id: 'carol@corp.com', kind: 'principal' },
        data: { approvals: 2, required: 2 },
        grantId: pending.id,
        at: req?.at as string,
        target: 'user-service',
      },
      req,
    );
    const view = foldGrant([req as GrantEvent, forged]);
    a.db
      .prepare(
        'INSERT INTO events (gseq, grant_id, seq, at, actor, target, body, mac) VALUES (100, ?, 2, ?, ?, ?, ?, ?)',
      )
      .run(pending.id, forged.at, 'carol@corp.com', 'user-service', JSON.stringify(forged), Buffer.alloc(32));
    a.db
      .prepare("UPDATE grants SET status = 'approved', last_seq = 2, last_hash = ?, view = ? WHERE id = ?")
      .run(forged.hash, JSON.stringify(view), pending.id);
    a.db.close();
    expect(verifyChain(pending.id, [req as GrantEvent, forged]).ok).toBe(true);

    const s = store();
    await expect(s.events.read(pending.id)).rejects.toMatchObject({ code: 'STORE.TAMPERED' });
    await expect(s.projections.get(pending.id)).rejects.toMatchObject({ code: 'STORE.TAMPERED' });
    expect(await s.projections.listDue('approved', new Date('2100-01-01T00:00:00Z'))).toEqual([]);
    const r = await world(s).service.verify(pending.id, sam);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.breaks.map((b) => b.problem)).toEqual(expect.arrayContaining(['seal-mismatch']));
    const log = await s.events.auditLog({
      since: new Date('2026-11-24T00:00:00Z'),
      until: new Date('2026-11-25T00:00:00Z'),
    });
    expect(log.map((b) => b.problem)).toEqual(expect.arrayContaining(['seal-mismatch']));
  });

  it('changes an event and recomputes its hash: verify names the event', async () => {
    const { other } = await seeded();
    const a = attacker();
    const rows = a.rows(other.id);
    const ev = JSON.parse(rows[0]?.body as string) as GrantEvent & { data: { reason: string } };
    ev.data.reason = 'nothing to see';
    ev.hash = eventHash(ev);
    a.db.prepare('UPDATE events SET body = ? WHERE gseq = ?').run(JSON.stringify(ev), rows[0]?.gseq);
    a.db.close();
    const s = store();
    const r = await world(s).service.verify(other.id, sam);
    expect(!r.ok && r.breaks.some((b) => b.problem === 'seal-mismatch' && b.seq === 1)).toBe(true);
  });

  it('removes the last event and rolls the projection back to the one before: verify fails', async () => {
    const { other } = await seeded();
    const a = attacker();
    const rows = a.rows(other.id);
    const first = JSON.parse(rows[0]?.body as string) as GrantEvent;
    a.db.prepare('DELETE FROM events WHERE gseq = ?').run(rows[1]?.gseq);
    a.db
      .prepare("UPDATE grants SET status = 'approved', last_seq = 1, last_hash = ?, view = ? WHERE id = ?")
      .run(first.hash, JSON.stringify(foldGrant([first])), other.id);
    a.db.close();
    const s = store();
    const r = await world(s).service.verify(other.id, sam);
    expect(r.ok).toBe(false);
    const log = await s.events.auditLog({
      since: new Date('2026-11-24T00:00:00Z'),
      until: new Date('2026-11-25T00:00:00Z'),
    });
    expect(log.some((b) => b.problem === 'missing-event' || b.problem === 'seal-mismatch')).toBe(true);
  });

  it('swaps two events of the write order: verify fails', async () => {
    const { pending, other } = await seeded();
    const a = attacker();
    const x = a.rows(pending.id)[0] as { gseq: number };
    const y = a.rows(other.id)[0] as { gseq: number };
    a.db.prepare('UPDATE events SET gseq = -1 WHERE gseq = ?').run(x.gseq);
    a.db.prepare('UPDATE events SET gseq = ? WHERE gseq = ?').run(x.gseq, y.gseq);
    a.db.prepare('UPDATE events SET gseq = ? WHERE gseq = -1').run(y.gseq);
    a.db.close();
    const s = store();
    expect((await world(s).service.verify(pending.id, sam)).ok).toBe(false);
    expect((await world(s).service.verify(other.id, sam)).ok).toBe(false);
  });

  it('deletes a whole grant, events and projection: the write order shows the gap', async () => {
    const { pending } = await seeded();
    const a = attacker();
    a.db.prepare('DELETE FROM events WHERE grant_id = ?').run(pending.id);
    a.db.prepare('DELETE FROM grants WHERE id = ?').run(pending.id);
    a.db.close();
    const s = store();
    const log = await s.events.auditLog({
      since: new Date('2026-11-24T00:00:00Z'),
      until: new Date('2026-11-25T00:00:00Z'),
    });
    expect(log.filter((b) => b.problem === 'missing-event')).toHaveLength(1);
  });

  it('verifies an untouched store without a break', async () => {
    const { pending, other } = await seeded();
    const s = store();
    const w = world(s);
    expect((await w.service.verify(pending.id, sam)).ok).toBe(true);
    expect((await w.service.verify(other.id, sam)).ok).toBe(true);
    expect(
      await s.events.auditLog({ since: new Date('2026-11-24T00:00:00Z'), until: new Date('2026-11-25T00:00:00Z') }),
    ).toEqual([]);
  });
});
