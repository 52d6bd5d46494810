/**
 * Restart benchmark: a data folder holding 100,000 grants, mostly ended (97,000 denied requests, 2,000 expired
 * grants, 1,000 active ones), and the time from starting a broker on it until it answers GET /healthz with 200.
 * The broker answers 503 while its runtime starts (re-arming schedules, the first sweep), so this is the time
 * until it serves. The history is seeded more than an hour old, as in a folder used for a while: start-up must
 * cost the live grants, not the history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../adapters/local/store';
import { decide } from '../../core/decide';
import { HOUR, MINUTE } from '../../core/duration';
import { sealEvent } from '../../core/grant/chain';
import { activateCommand, expireCommand, requestCommand } from '../../core/grant/commands';
import type { GrantEvent } from '../../core/grant/events';
import { foldGrant } from '../../core/grant/state';
import { ulid } from '../../core/ids';
import type { CompiledPolicy } from '../../core/policy/compile';
import { principal } from '../../core/principal';
import { startLocalBroker } from '../../local/broker';
import { loadLocalPolicy } from '../../local/runtime';
import type { SectionContext, SectionResult } from '../lib/harness';
import { seed } from './expire';

const ROOT = join(__dirname, '..', '..');
const log = (line = '') => process.stderr.write(`${line}\n`);

/** One grant's events: `denied` (one event), `active` (two) or `expired` (three), requested at `at`. */
function stream(compiled: CompiledPolicy, n: number, kind: 'denied' | 'active' | 'expired', at: Date): GrantEvent[] {
  const id = `tb-${ulid(at.getTime(), Buffer.from(String(n).padStart(10, '0')))}`;
  const who = principal({ id: kind === 'denied' ? 'mallory@corp.com' : 'alice@corp.com' });
  const duration = kind === 'active' ? 2 * HOUR : 30 * MINUTE;
  const decision = decide(compiled, who, { target: 'user-service', scopes: [], duration }, at);
  const draft = requestCommand({ compiled, who, decision, targetName: 'user-service', duration, reason: 'bench' });
  const meta = { grantId: id, at: at.toISOString(), target: 'user-service' };
  const events = [sealEvent({ ...draft, ...meta }, undefined)];
  if (kind === 'denied') return events;
  const activation = activateCommand(foldGrant(events), at);
  if (!activation) throw new Error('the seeded grant did not activate');
  events.push(sealEvent({ ...activation, ...meta }, events[0]));
  if (kind === 'active') return events;
  const end = new Date(at.getTime() + duration);
  const expiry = expireCommand(foldGrant(events), end);
  if (!expiry) throw new Error('the seeded grant did not expire');
  events.push(sealEvent({ ...expiry, ...meta, at: end.toISOString() }, events[1]));
  return events;
}

export default async function restartSection(ctx: SectionContext): Promise<SectionResult> {
  const total = ctx.quick ? 10_000 : 100_000;
  const active = total / 100;
  const expired = total / 50;
  const home = mkdtempSync(join(tmpdir(), 'timebox-bench-restart-'));
  const configFile = join(ROOT, 'access.example.yaml');
  try {
    const compiled = loadLocalPolicy(configFile);
    const now = Date.now();
    const seeding = Date.now();
    const store = await openLocalStore({ home });
    try {
      let batch: GrantEvent[][] = [];
      for (let i = 0; i < total; i++) {
        const kind = i < active ? 'active' : i < active + expired ? 'expired' : 'denied';
        // Requested 90 minutes (active: still running) to three days ago, spread over the period.
        const at = new Date(now - (kind === 'active' ? 90 * MINUTE : 2 * HOUR + (i % 4320) * MINUTE));
        batch.push(stream(compiled, i, kind, at));
        if (batch.length === 5_000) {
          seed(store, batch);
          batch = [];
        }
      }
      seed(store, batch);
      const counts = store.projections.counts();
      if (counts.active !== active || counts.expired !== expired || counts.denied !== total - active - expired)
        throw new Error(`seeded ${JSON.stringify(counts)}, not the planned mix`);
    } finally {
      await store.close();
    }
    log(`restart: seeded ${total} grants (${active} active) in ${Date.now() - seeding} ms`);

    const results: SectionResult = {};
    for (const durability of ['normal', 'full'] as const) {
      const starting = Date.now();
      const broker = startLocalBroker({
        home,
        configFile,
        host: '127.0.0.1',
        port: 0,
        durability,
        sweepIntervalMs: 3_600_000,
      });
      // The HTTP server is bound first and answers 503 until the runtime is up: poll it the way a client would.
      let ms = -1;
      const up = await broker;
      try {
        for (;;) {
          const r = await fetch(`${up.url}/healthz`).catch(() => undefined);
          if (r?.status === 200) {
            ms = Date.now() - starting;
            break;
          }
          await new Promise((res) => setTimeout(res, 5));
        }
        if (up.runtime.rearmed.expire !== active)
          throw new Error(`re-armed ${up.runtime.rearmed.expire} expiries, expected ${active}`);
      } finally {
        await up.close();
      }
      log(
        `restart (${durability}): serving /healthz ${ms} ms after start with ${total} grants, ${active} expiries re-armed`,
      );
      results[
        total === 100_000
          ? `restart_100k_ms${durability === 'full' ? '_full' : ''}`
          : `restart_ms${durability === 'full' ? '_full' : ''}`
      ] = ms;
    }
    log(
      `restart: load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')} on ${availableParallelism()} CPUs`,
    );
    return { restart_grants: total, ...results };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
