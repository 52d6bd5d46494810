/**
 * Expiry benchmark: 10,000 active grants sharing one expiry second, and how long the local runtime takes, from
 * that second, until every one is expired and its `expired` event written (counted as each event reaches the
 * runtime's publisher, which the service calls only after the event is appended). The grants are seeded straight
 * into the store (events hash-chained by the core, appended in one transaction), then the runtime starts over that
 * data directory as after a restart: its scheduler re-arms 10,000 timers from the store's status index and the
 * sweeper loop runs as configured (every 15 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalStore, openLocalStore } from '../../adapters/local/store';
import { decide } from '../../core/decide';
import { HOUR } from '../../core/duration';
import { sealEvent } from '../../core/grant/chain';
import { activateCommand, requestCommand } from '../../core/grant/commands';
import type { GrantEvent } from '../../core/grant/events';
import { foldGrant } from '../../core/grant/state';
import { ulid } from '../../core/ids';
import type { CompiledPolicy } from '../../core/policy/compile';
import { principal } from '../../core/principal';
import { createLocalRuntime, loadLocalPolicy } from '../../local/runtime';
import type { SectionContext, SectionResult } from '../lib/harness';

const ROOT = join(__dirname, '..', '..');
const log = (line = '') => process.stderr.write(`${line}\n`);

/** The events of one auto-approved, activated grant expiring at `expiresAt` (as the service would write them). */
export function grantEvents(compiled: CompiledPolicy, id: string, at: Date, expiresAt: Date): GrantEvent[] {
  const who = principal({ id: 'alice@corp.com' });
  const duration = expiresAt.getTime() - at.getTime();
  const decision = decide(compiled, who, { target: 'user-service', scopes: [], duration }, at);
  if (decision.decision !== 'allow') throw new Error(`the example policy did not auto-approve: ${decision.decision}`);
  const draft = requestCommand({ compiled, who, decision, targetName: 'user-service', duration, reason: 'bench' });
  const requested = sealEvent({ ...draft, grantId: id, at: at.toISOString(), target: 'user-service' }, undefined);
  const activation = activateCommand(foldGrant([requested]), at);
  if (activation?.type !== 'activated') throw new Error('the seeded grant did not activate');
  return [
    requested,
    sealEvent({ ...activation, grantId: id, at: at.toISOString(), target: 'user-service' }, requested),
  ];
}

/**
 * Writes the grants through the store's own append (event, view and indexes per event, as the service writes
 * them), all in one transaction: one commit instead of 20,000 keeps seeding short of the measurement.
 */
export function seed(store: LocalStore, streams: GrantEvent[][]): void {
  const { sqlite } = store;
  sqlite.appendMany(streams.flat());
}

/** Seeds N grants (quick: 1,000), restarts the runtime on them and times their expiry. */
export default async function expireSection(ctx: SectionContext): Promise<SectionResult> {
  const n = ctx.quick ? 1_000 : 10_000;
  const home = mkdtempSync(join(tmpdir(), 'timebox-bench-expire-'));
  const configFile = join(ROOT, 'access.example.yaml');
  try {
    const compiled = loadLocalPolicy(configFile);
    // Activated two hours (the rule's longest grant) before a whole-second expiry, so the events lie outside the
    // sweeper's one-hour repair window, as for grants that have been running a while; the runtime's clock is then
    // moved to just before that second.
    const expiresAt = new Date(Math.ceil((Date.now() + 2 * HOUR) / 1000) * 1000);
    const at = new Date(expiresAt.getTime() - 2 * HOUR);
    const streams = Array.from({ length: n }, (_, i) =>
      grantEvents(compiled, `tb-${ulid(at.getTime(), Buffer.from(String(i).padStart(10, '0')))}`, at, expiresAt),
    );
    const seeding = Date.now();
    const store = await openLocalStore({ home });
    try {
      seed(store, streams);
      const listed = store.projections.counts().active ?? 0;
      if (listed !== n) throw new Error(`seeded ${n} grants but the byStatus index lists ${listed} as active`);
      const sample = streams[n - 1] as GrantEvent[];
      const id = sample[0]?.grantId as string;
      const view = await store.projections.get(id);
      const read = await store.events.read(id);
      if (view?.status !== 'active' || view.expiresAt !== expiresAt.toISOString() || read.length !== 2)
        throw new Error('the seeded grants do not read back through the adapters as active grants');
    } finally {
      await store.close();
    }
    log(`expire: seeded ${n} active grants expiring at ${expiresAt.toISOString()} in ${Date.now() - seeding} ms`);

    let offset = 0;
    const clock = { now: () => new Date(Date.now() + offset) };
    let expired = 0;
    let done: () => void = () => {};
    const allExpired = new Promise<void>((resolve) => {
      done = resolve;
    });
    // Three seconds of real time before the expiry second: start-up (re-arming every timer) happens before it.
    offset = expiresAt.getTime() - 3_000 - Date.now();
    const starting = Date.now();
    const runtime = await createLocalRuntime({
      home,
      configFile,
      issuer: 'http://127.0.0.1:8787',
      clock,
      publishers: [
        {
          publish: async (events) => {
            for (const e of events) if (e.type === 'expired' && ++expired === n) done();
          },
        },
      ],
    });
    try {
      log(
        `expire: runtime up in ${Date.now() - starting} ms, ${runtime.rearmed.expire} expiries re-armed; expiry in ${expiresAt.getTime() - clock.now().getTime()} ms`,
      );
      const cpu0 = process.cpuUsage();
      await allExpired;
      const seconds = (clock.now().getTime() - expiresAt.getTime()) / 1000;
      const cpu = process.cpuUsage(cpu0);
      await runtime.scheduler.idle();
      const counts = runtime.store.projections.counts();
      const stillActive = counts.active ?? 0;
      const nowExpired = counts.expired ?? 0;
      if (stillActive !== 0 || nowExpired !== n)
        throw new Error(`after expiry: ${stillActive} still active, ${nowExpired} expired of ${n}`);
      log(
        `expire: all ${n} expired and audited ${seconds.toFixed(2)} s after the expiry second (${(n / seconds).toFixed(0)} grants/s, ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms CPU each); sweeper passes during the run: ${runtime.sweeper.passes - 1}`,
      );
      log(
        `expire: load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' / ')} on ${availableParallelism()} CPUs`,
      );
      return {
        expire_grants: n,
        ...(n === 10_000 ? { expire_10k_s: seconds } : { expire_s: seconds }),
        expire_per_s: n / seconds,
      };
    } finally {
      await runtime.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
