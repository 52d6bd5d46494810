import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { GrantEvent } from '../../../core/grant/events';
import type { Grant } from '../../../core/grant/state';
import { principal } from '../../../core/principal';
import { examplePolicyPath } from '../../../local/paths';
import { createLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../../local/runtime';

/**
 * The local runtime over its SQLite store on disk: what survives a restart (grants, audit, the key) and what is rebuilt
 * (timers), so a grant still ends on time when the broker was down in between.
 */

const alice = principal({ id: 'alice@corp.com', mfa: true });
let home: string;
const open: LocalRuntime[] = [];

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'timebox-runtime-'));
});

afterEach(async () => {
  for (const r of open.splice(0)) await r.close().catch(() => {});
  rmSync(home, { recursive: true, force: true });
});

async function runtime(partial: Partial<LocalRuntimeOptions> = {}): Promise<LocalRuntime> {
  const r = await createLocalRuntime({
    home,
    configFile: examplePolicyPath() as string,
    issuer: 'http://127.0.0.1:8787',
    // Long enough that only timers act within a test, unless the test says otherwise.
    sweepIntervalMs: 3_600_000,
    ...partial,
  });
  open.push(r);
  return r;
}

async function close(r: LocalRuntime): Promise<void> {
  open.splice(open.indexOf(r), 1);
  await r.close();
}

/** Polls until the grant reaches `status` (the test timeout bounds the wait). */
async function until(r: LocalRuntime, id: string, status: Grant['status']): Promise<Grant> {
  for (;;) {
    const g = await r.service.load(id);
    if (g.status === status) return g;
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('Function: createLocalRuntime', () => {
  it('keeps grants, the audit record and the signing key across a restart', async () => {
    // Prepare
    const first = await runtime();
    const { grant } = await first.service.request(alice, {
      target: 'user-service',
      duration: 30 * 60_000,
      reason: 'INC-7',
    });
    const kid = first.signer.kid;
    const events = await first.service.history(grant.id, alice);
    await close(first);
    // Act
    const second = await runtime();
    // Assess
    expect(second.signer.kid).toBe(kid);
    expect(await second.service.history(grant.id, alice)).toEqual(events);
    expect(await second.service.verify(grant.id, alice)).toMatchObject({ ok: true, events: events.length });
    expect(second.rearmed.expire).toBe(1);
    expect(second.scheduler.scheduledAt(grant.id, 'expire')?.toISOString()).toBe(grant.expiresAt);
  });

  it('expires an active grant on time after a restart, by its re-armed timer', async () => {
    // Prepare: a 2-second grant, and the broker stopped while it is active.
    const first = await runtime();
    const { grant } = await first.service.request(alice, { target: 'prod-logs', duration: 2_000, reason: 'short' });
    expect(grant.status).toBe('active');
    await close(first);
    // Act
    const second = await runtime();
    const expired = await until(second, grant.id, 'expired');
    // Assess
    const last = (await second.service.history(grant.id, alice)).at(-1) as GrantEvent;
    expect(last).toMatchObject({ type: 'expired', actor: { id: 'timebox', kind: 'system' } });
    expect(Date.parse(last.at)).toBeGreaterThanOrEqual(Date.parse(grant.expiresAt as string));
    expect(expired.endReason).toBe('expired');
    // The sweeper ran once, at start-up, before the expiry: the timer did it.
    expect(second.sweeper.passes).toBe(1);
  });

  it('activates an approved grant at its start time after a restart', async () => {
    const first = await runtime();
    const startAt = new Date(Date.now() + 1_500);
    const { grant } = await first.service.request(alice, {
      target: 'prod-logs',
      duration: 60_000,
      reason: 'later',
      startAt,
    });
    expect(grant.status).toBe('approved');
    await close(first);
    const second = await runtime();
    expect(second.rearmed.activate).toBe(1);
    const active = await until(second, grant.id, 'active');
    expect(Date.parse(active.activatedAt as string)).toBeGreaterThanOrEqual(startAt.getTime());
  });

  it('lets the sweeper loop expire a grant whose timer was lost', async () => {
    const r = await runtime({ sweepIntervalMs: 200 });
    const { grant } = await r.service.request(alice, { target: 'prod-logs', duration: 1_000, reason: 'lost timer' });
    await r.scheduler.cancel(grant.id, 'expire');
    await until(r, grant.id, 'expired');
    expect(r.sweeper.passes).toBeGreaterThan(1);
  });

  it('hands every lifecycle event to a publisher added later (the notifier hook)', async () => {
    const r = await runtime();
    const seen: string[] = [];
    r.addPublisher({ publish: async (events) => void seen.push(...events.map((e) => `${e.seq}:${e.type}`)) });
    await r.service.request(alice, { target: 'prod-logs', duration: 60_000, reason: 'hook' });
    expect(seen).toEqual(['1:requested', '2:activated']);
  });

  it('refuses a second broker on the same data directory, and takes over a lock its dead owner left', async () => {
    const first = await runtime();
    await expect(runtime()).rejects.toMatchObject({ code: 'LOCAL.DATA_DIR_IN_USE' });
    await close(first);
    // A pid above the kernel's pid_max (4,194,304 at most) belongs to no process.
    writeFileSync(join(home, 'broker.lock'), '9999999');
    await expect(runtime()).resolves.toBeDefined();
  });
});
