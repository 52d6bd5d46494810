import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { auditKeyPath, databasePath } from '../../../adapters/local/store';
import { EXIT } from '../../../cli/errors';
import { eventHash, sealEvent } from '../../../core/grant/chain';
import type { GrantEvent } from '../../../core/grant/events';
import { foldGrant } from '../../../core/grant/state';
import { principal } from '../../../core/principal';
import { mintSessionToken } from '../../../local/auth';
import { type LocalBroker, startLocalBroker } from '../../../local/broker';
import { examplePolicyPath, signingKeyPath } from '../../../local/paths';
import { runCli } from '../../helpers/cli';

/**
 * The local broker's audit record against someone who can write its database file but does not hold its audit key,
 * through the API and the CLI as an auditor runs them; and the data folder's permissions and old layouts.
 */

const alice = principal({ id: 'alice@corp.com', mfa: true });
let home: string;
let broker: LocalBroker | undefined;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'timebox-audit-'));
});
afterEach(async () => {
  await broker?.close();
  broker = undefined;
  rmSync(home, { recursive: true, force: true });
});

async function start(): Promise<LocalBroker> {
  broker = await startLocalBroker({
    home,
    configFile: examplePolicyPath() as string,
    host: '127.0.0.1',
    port: 0,
    sweepIntervalMs: 3_600_000,
  });
  return broker;
}

async function stop(): Promise<void> {
  await broker?.close();
  broker = undefined;
}

/** `timebox audit verify --since 1h --json` as carol (secops: an auditor). */
async function verifyCli(
  b: LocalBroker,
): Promise<{ code: number; json: { ok: boolean; grants: number; broken: { grantId: string; problem: string }[] } }> {
  const { token } = await mintSessionToken(b.runtime.signer, {
    who: { id: 'carol@corp.com', groups: [], mfa: true },
    audience: b.url,
    ttlMs: 600_000,
    now: new Date(),
  });
  const r = await runCli(['audit', 'verify', '--since', '1h', '--json'], {
    TIMEBOX_ENDPOINT: b.url,
    TIMEBOX_TOKEN: token,
    TIMEBOX_HOME: home,
    TIMEBOX_CONFIG_DIR: join(home, 'cli'),
  });
  return { code: r.code, json: JSON.parse(r.stdout) };
}

/** Three grants: one pending admin request and two active read grants. */
async function threeGrants(b: LocalBroker): Promise<string[]> {
  const s = b.runtime.service;
  const ids = [
    (
      await s.request(alice, {
        target: 'user-service',
        scopes: ['/acme.admin.*'],
        duration: 15 * 60_000,
        reason: 'INC-9',
      })
    ).grant.id,
    (await s.request(alice, { target: 'user-service', duration: 30 * 60_000, reason: 'a' })).grant.id,
    (await s.request(alice, { target: 'user-service', duration: 30 * 60_000, reason: 'b' })).grant.id,
  ];
  return ids;
}

describe('Audit verify over the local store', () => {
  it('passes an untouched record, exit 0', async () => {
    const b = await start();
    await threeGrants(b);
    const r = await verifyCli(b);
    expect(r).toMatchObject({ code: EXIT.ok, json: { ok: true, grants: 3, broken: [] } });
  });

  it('fails when an approval is forged into the file with a recomputed chain and projection, and the broker will not act on it', async () => {
    const b = await start();
    const [pending] = await threeGrants(b);
    await stop();
    // The attacker: no audit key, full write access to the database file.
    const db = new Database(databasePath(home));
    const rows = db.prepare('SELECT body FROM events WHERE grant_id = ? ORDER BY seq').all(pending) as {
      body: string;
    }[];
    const requested = JSON.parse(rows[0]?.body as string) as GrantEvent;
    const meta = { grantId: pending as string, at: requested.at, target: 'user-service' };
    const first = sealEvent(
      {
        type: 'approved',
        actor: { id: 'carol@corp.com', kind: 'principal' },
        data: { approvals: 1, required: 2 },
        ...meta,
      },
      requested,
    );
    const second = sealEvent(
      {
        type: 'approved',
        actor: { id: 'dan@corp.com', kind: 'principal' },
        data: { approvals: 2, required: 2 },
        ...meta,
      },
      first,
    );
    const max = (db.prepare('SELECT max(gseq) AS g FROM events').get() as { g: number }).g;
    const insert = db.prepare(
      'INSERT INTO events (gseq, grant_id, seq, at, actor, target, body, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    insert.run(
      max + 1,
      pending,
      2,
      first.at,
      'carol@corp.com',
      'user-service',
      JSON.stringify(first),
      Buffer.alloc(32),
    );
    insert.run(
      max + 2,
      pending,
      3,
      second.at,
      'dan@corp.com',
      'user-service',
      JSON.stringify(second),
      Buffer.alloc(32),
    );
    const view = foldGrant([requested, first, second]);
    db.prepare(
      "UPDATE grants SET status = 'approved', due_at = ?, last_seq = 3, last_hash = ?, view = ? WHERE id = ?",
    ).run(view.requestedAt, second.hash, JSON.stringify(view), pending);
    db.close();

    const again = await start();
    // The sweeper does not activate it and no credential comes out of it.
    expect(await again.runtime.store.projections.listDue('approved', new Date(Date.now() + 3_600_000))).toEqual([]);
    await expect(again.runtime.service.issueCredentials(pending as string, alice, 'token')).rejects.toMatchObject({
      code: 'STORE.TAMPERED',
    });
    const r = await verifyCli(again);
    expect(r.code).toBe(EXIT.failed);
    expect(r.json.ok).toBe(false);
    expect(r.json.broken.filter((x) => x.grantId === pending).map((x) => x.problem)).toContain('seal-mismatch');
  });

  it('fails when an event is changed, rehashed, or a grant is deleted outright', async () => {
    const b = await start();
    const [, active, other] = await threeGrants(b);
    await stop();
    const db = new Database(databasePath(home));
    const row = db.prepare('SELECT gseq, body FROM events WHERE grant_id = ? AND seq = 1').get(active) as {
      gseq: number;
      body: string;
    };
    const e = JSON.parse(row.body) as GrantEvent & { data: { reason: string } };
    e.data.reason = 'routine';
    e.hash = eventHash(e);
    db.prepare('UPDATE events SET body = ? WHERE gseq = ?').run(JSON.stringify(e), row.gseq);
    db.prepare('DELETE FROM events WHERE grant_id = ?').run(other);
    db.prepare('DELETE FROM grants WHERE id = ?').run(other);
    db.close();
    const r = await verifyCli(await start());
    expect(r.code).toBe(EXIT.failed);
    const problems = r.json.broken.map((x) => `${x.grantId === active ? 'active' : x.grantId}:${x.problem}`);
    expect(problems).toContain('active:seal-mismatch');
    expect(problems.some((p) => p.endsWith(':missing-event'))).toBe(true);
  });

  it('reports a grant that cannot be read as a break and still verifies every other grant', async () => {
    const b = await start();
    const [pending, active, other] = await threeGrants(b);
    await stop();
    const db = new Database(databasePath(home));
    // The grant's events are gone but its projection (and thus its name) remains; another one is not JSON.
    db.prepare('DELETE FROM events WHERE grant_id = ?').run(pending);
    db.prepare("UPDATE events SET body = '{' WHERE grant_id = ? AND seq = 2").run(active);
    db.close();
    const r = await verifyCli(await start());
    expect(r.code).toBe(EXIT.failed);
    expect(r.json.grants).toBe(3);
    const brokenIds = new Set(r.json.broken.map((x) => x.grantId));
    expect(brokenIds.has(pending as string)).toBe(true);
    expect(brokenIds.has(active as string)).toBe(true);
    expect(brokenIds.has(other as string)).toBe(false);
  });
});

describe('The data folder', () => {
  it('is created owner-only, with every file in it', async () => {
    const b = await start();
    await threeGrants(b);
    await stop();
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(home)).toBe(0o700);
    for (const f of [databasePath(home), auditKeyPath(home), signingKeyPath(home)]) expect(mode(f)).toBe(0o600);
  });

  it('is refused when others can read the database, naming the chmod that fixes it', async () => {
    await start();
    await stop();
    chmodSync(databasePath(home), 0o644);
    await expect(start()).rejects.toMatchObject({
      code: 'LOCAL.DATA_TOO_OPEN',
      message: expect.stringContaining(`chmod 600 ${databasePath(home)}`),
    });
  });

  it('written by the dynalite version: a clear message naming the folder, no empty broker', async () => {
    mkdirSync(join(home, 'data'), { mode: 0o700 });
    writeFileSync(join(home, 'data', 'CURRENT'), 'MANIFEST-000004\n');
    await expect(start()).rejects.toMatchObject({
      code: 'LOCAL.LEGACY_DATA',
      message: expect.stringContaining(`mv ${join(home, 'data')}`),
    });
    expect(existsSync(databasePath(home))).toBe(false);
  });
});
