import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { databasePath } from '../../../adapters/local/store';
import type { GrantEvent } from '../../../core/grant/events';
import type { Grant } from '../../../core/grant/state';
import { mintSessionToken } from '../../../local/auth';
import { signingKeyPath } from '../../../local/paths';
import { expectWith } from '../../helpers/runner';

/**
 * The broker as a process of its own, killed with SIGKILL in the middle of concurrent mixed traffic, again and
 * again. After each restart: every change the broker acknowledged is there as acknowledged, every chain verifies,
 * no grant is active past its expiry, no event exists without its grant, and the broker serves at once.
 */

const ROOT = join(__dirname, '..', '..', '..');
const FIXTURE = join(__dirname, 'fixtures', 'broker-process.ts');
const CYCLES = 3;

let home: string;
let child: ChildProcess | undefined;
let url = '';
let port = 0;
const tokens: Record<string, string> = {};

/** Starts the broker; resolves with the time until it printed READY (it serves from then on). */
function startBroker(): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', FIXTURE, home, String(port)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    child = p;
    let out = '';
    let err = '';
    p.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    p.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) {
        url = m[1] as string;
        port = Number(new URL(url).port);
        resolve(Date.now() - started);
      }
    });
    p.on('exit', (code) => reject(new Error(`broker exited ${code} before serving: ${err}`)));
  });
}

function kill9(): Promise<void> {
  const p = child;
  if (!p || p.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the test reads the JSON answers field by field
type Json = any;

async function call(as: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${tokens[as]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** What a 2xx answer acknowledged: this grant had this event (seq and hash) on the record. */
interface Ack {
  id: string;
  seq: number;
  hash: string;
  status: Grant['status'];
}

/**
 * Clients looping over requests (auto-approved 3-second grants and pending admin requests), credentials, approvals
 * and revocations, recording every acknowledged state, until `stop` says so. Failures of calls cut by the kill are
 * expected and ignored; only acknowledged answers count.
 */
async function traffic(acks: Ack[], stop: { now: boolean }): Promise<void> {
  const remember = (r: { status: number; json: Json }) => {
    const g = r.json?.grant as Grant | undefined;
    if (r.status >= 200 && r.status < 300 && g)
      acks.push({ id: g.id, seq: g.lastSeq, hash: g.lastHash, status: g.status });
  };
  const client = async (n: number) => {
    const mine: string[] = [];
    for (let i = 0; !stop.now; i++) {
      try {
        const kind = (n + i) % 5;
        if (kind === 4 && mine.length > 0) {
          remember(await call('alice', 'POST', `/v1/requests/${mine.shift()}/revoke`, { reason: 'crash test' }));
        } else if (kind === 3) {
          const r = await call('alice', 'POST', '/v1/requests', {
            target: 'user-service',
            scopes: ['/acme.admin.*'],
            duration: '10m',
            reason: 'crash test admin',
          });
          remember(r);
          if (r.status === 201) remember(await call('carol', 'POST', `/v1/requests/${r.json.grant.id}/approve`, {}));
        } else {
          const r = await call('alice', 'POST', '/v1/requests', {
            target: 'user-service',
            duration: '3s',
            reason: 'crash test',
          });
          remember(r);
          if (r.status === 201) {
            mine.push(r.json.grant.id);
            await call('alice', 'POST', `/v1/grants/${r.json.grant.id}/credentials`, {});
          }
        }
      } catch {
        // The connection was cut by the kill: nothing was acknowledged.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, n) => client(n)));
}

/** TCP sockets in LISTEN state that belong to process `pid` (Linux: /proc/<pid>/net/tcp* matched by inode). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // closed while listing
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, inode is the tenth field.
      if (f[3] === '0A' && inodes.has(f[9] as string))
        ports.push(Number.parseInt((f[1] as string).split(':')[1] as string, 16));
    }
  }
  return ports;
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'timebox-crash-'));
  await startBroker();
  const signer = await LocalTokenSigner.fromFile(signingKeyPath(home));
  for (const [as, mfa] of [
    ['alice', true],
    ['carol', true],
  ] as const)
    tokens[as] = (
      await mintSessionToken(signer, {
        who: { id: `${as}@corp.com`, groups: [], mfa },
        audience: url,
        ttlMs: 3_600_000,
        now: new Date(),
      })
    ).token;
});

afterAll(async () => {
  await kill9();
  rmSync(home, { recursive: true, force: true });
});

describe('Local broker process', () => {
  it('listens on exactly one TCP port, the API port', () => {
    expect(listeningPorts(child?.pid as number)).toEqual([port]);
  });

  it(`keeps every acknowledged change through ${CYCLES} kill -9 during concurrent traffic`, async () => {
    const acks: Ack[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const stop = { now: false };
      const running = traffic(acks, stop);
      await new Promise((r) => setTimeout(r, 600 + 300 * cycle));
      await kill9();
      stop.now = true;
      await running;
      const startup = await startBroker();
      // Serves at once: the first call after READY is answered.
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(startup).toBeLessThan(15_000);

      const db = new Database(databasePath(home), { readonly: true });
      try {
        const eventOf = db.prepare('SELECT body FROM events WHERE grant_id = ? AND seq = ?');
        for (const a of acks) {
          const row = eventOf.get(a.id, a.seq) as { body: string } | undefined;
          expectWith(row, `acknowledged event ${a.seq} of ${a.id} (${a.status})`).toBeDefined();
          expect((JSON.parse(row?.body as string) as GrantEvent).hash).toBe(a.hash);
        }
        // No phantom: every event belongs to a grant whose recorded head is at or past it.
        const orphans = db
          .prepare(
            'SELECT count(*) AS n FROM events e LEFT JOIN grants g ON g.id = e.grant_id WHERE g.id IS NULL OR g.last_seq < e.seq',
          )
          .get() as { n: number };
        expect(orphans.n).toBe(0);
        // No grant active past its expiry (a second of slack for the timer that is firing right now).
        const overdue = db
          .prepare("SELECT id, due_at FROM grants WHERE status = 'active' AND due_at < ?")
          .all(new Date(Date.now() - 1_000).toISOString());
        expect(overdue).toEqual([]);
      } finally {
        db.close();
      }
      const since = new Date(Date.now() - 3_600_000).toISOString();
      const verify = await call('carol', 'GET', `/v1/audit/verify?since=${since}`);
      expect(verify.status).toBe(200);
      expect(verify.json).toMatchObject({ ok: true, broken: [] });
      expect(verify.json.grants).toBeGreaterThan(0);
    }
    expect(acks.length).toBeGreaterThan(10);
  });
});
