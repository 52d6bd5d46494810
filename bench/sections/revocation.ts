/**
 * Revocation response time on the local broker, through its public API only (so it holds for any store):
 *
 * - `grpc_revoke_*_ms`: the real broker on a loopback port, 50 instances of the shipped interceptor watching it with
 *   nothing but its URL (one of them in front of the example gRPC service, called for real; the other 49 asked
 *   through `authorize`). Per grant: from the moment `revoke` returns until each instance refuses the token.
 * - `expiry_lag_*_ms`: 5,000 grants whose expiries are spread over 10 s; from each `expiresAt` until its `expired`
 *   event reaches the runtime's publisher (called after the event is appended). The grants are made through the
 *   service, then the runtime restarts on them with its clock set to just before the first expiry, as after a
 *   broker restart: the scheduler re-arms every timer from the store, the sweeper runs as configured. Making the
 *   grants one by one through the service is bounded at 15 s: on a busy machine fewer are made (at the same rate
 *   of 500 expiries a second, over a shorter span), and `expiry_lag_grants` says how many.
 * - `grpc_expiry_*_ms`: from `expiresAt` until the example service refuses the token (called every 20 ms around
 *   it). The token's `exp` is the expiry rounded down to a whole second and the interceptor allows no skew on `exp`,
 *   so this is at most the probe interval, and negative when the expiry was not on a whole second.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { Clock } from '../../core/clock';
import type { IssuedCredential } from '../../core/ports';
import { principal } from '../../core/principal';
import { exampleServer, listen, loadExample, shutdown } from '../../grpc/example/service';
import { type TimeboxInterceptor, timeboxAuth } from '../../grpc/interceptor';
import { startLocalBroker } from '../../local/broker';
import { createLocalRuntime, type LocalRuntime } from '../../local/runtime';
import type { SectionContext, SectionResult } from '../lib/harness';
import { summarize } from '../lib/stats';

const ROOT = join(__dirname, '..', '..');
const CONFIG = join(ROOT, 'access.example.yaml');
const METHOD = '/acme.user.v1.UserService/GetUser';
const alice = principal({ id: 'alice@corp.com' });
const log = (line = '') => process.stderr.write(`${line}\n`);
/**
 * Longest time spent making the grants of the expiry measurement (through the service, 32 at a time). 5,000 take
 * about 12 s on a busy 2-CPU machine; the budget leaves room so that the lag is measured on the full number.
 */
const MAKE_BUDGET_MS = 60_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function grpcToken(rt: LocalRuntime, durationMs: number): Promise<{ id: string; token: string; exp: number }> {
  const { grant } = await rt.service.request(alice, {
    target: 'user-service',
    scopes: [METHOD],
    duration: durationMs,
    reason: 'bench',
  });
  if (grant.status !== 'active') throw new Error(`bench grant is ${grant.status}, not active`);
  const { credential } = await rt.service.issueCredentials(grant.id, alice, 'token');
  const token = (credential as IssuedCredential & { secret: { token: string } }).secret.token;
  return { id: grant.id, token, exp: Date.parse(grant.expiresAt as string) };
}

/** One persistent client of the example service: true when the call got through, false when refused. */
function grpcCaller(address: string): { call(token: string): Promise<boolean>; close(): void } {
  const def = loadExample();
  const method = (def['acme.user.v1.UserService'] as protoLoader.ServiceDefinition)
    .GetUser as protoLoader.MethodDefinition<object, object>;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return {
    call: (token) =>
      new Promise<boolean>((resolve, reject) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${token}`);
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          { id: 'u-1' },
          md,
          { deadline: Date.now() + 5_000 },
          (err) => {
            if (!err) resolve(true);
            else if (err.code === grpc.status.UNAUTHENTICATED) resolve(false);
            else reject(err);
          },
        );
      }),
    close: () => client.close(),
  };
}

const p = (values: number[]) => summarize(values);

async function revokeLatency(quick: boolean): Promise<SectionResult> {
  const instances = 50;
  const grants = quick ? 20 : 50;
  const home = mkdtempSync(join(tmpdir(), 'timebox-bench-revoke-'));
  const broker = await startLocalBroker({ home, configFile: CONFIG, host: '127.0.0.1', port: 0, memory: true });
  const auths: TimeboxInterceptor[] = [];
  // Checks triggered by each instance's feed updates: when a copy lands, the instance is asked at once.
  const pending = new Map<number, () => void>();
  for (let i = 0; i < instances; i++)
    auths.push(
      timeboxAuth({
        broker: broker.url,
        audience: 'user-service',
        onRevocationPoll: () => pending.get(i)?.(),
      }),
    );
  const server = exampleServer({ interceptors: [auths[0] as TimeboxInterceptor] });
  const port = await listen(server, '127.0.0.1', 0);
  const client = grpcCaller(`127.0.0.1:${port}`);
  try {
    const deadline = Date.now() + 15_000;
    while (broker.runtime.revocationPush.waiting < instances) {
      if (Date.now() > deadline) throw new Error('the interceptors did not all hold a request within 15 s');
      await sleep(20);
    }
    const samples: number[] = [];
    const viaGrpc: number[] = [];
    let worst = 0;
    for (let g = 0; g < grants; g++) {
      const t = await grpcToken(broker.runtime, 30 * 60_000);
      if (!(await client.call(t.token))) throw new Error('a fresh token was refused by the example service');
      const refused = (i: number): Promise<boolean> =>
        i === 0
          ? client.call(t.token).then((ok) => !ok)
          : (auths[i] as TimeboxInterceptor).authorize([`Bearer ${t.token}`], METHOD).then((o) => o.result !== 'ok');
      for (let i = 1; i < instances; i++) if (await refused(i)) throw new Error('a fresh token was refused');
      await broker.runtime.service.revoke(t.id, alice, 'bench');
      const returned = performance.now();
      // Each instance is checked when its copy of the feed changes, and every 50 ms besides (bounded at 5 s).
      const done = await Promise.all(
        Array.from(
          { length: instances },
          (_, i) =>
            new Promise<number>((resolve) => {
              let settled = false;
              const check = () => {
                if (settled) return;
                void refused(i).then((yes) => {
                  if (!yes || settled) return;
                  settled = true;
                  pending.delete(i);
                  clearInterval(timer);
                  resolve(performance.now() - returned);
                });
              };
              const timer = setInterval(() => {
                if (performance.now() - returned > 5_000) {
                  settled = true;
                  pending.delete(i);
                  clearInterval(timer);
                  resolve(Number.POSITIVE_INFINITY);
                  return;
                }
                check();
              }, 50);
              pending.set(i, check);
              check();
            }),
        ),
      );
      for (const [i, ms] of done.entries()) {
        if (!Number.isFinite(ms)) throw new Error(`instance ${i} still accepted a revoked token after 5 s`);
        samples.push(ms);
        if (i === 0) viaGrpc.push(ms);
        worst = Math.max(worst, ms);
      }
    }
    const s = p(samples);
    const sg = p(viaGrpc);
    log(
      `revocation: ${grants} revokes x ${instances} interceptors: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${worst.toFixed(1)} ms; through the example gRPC service p50 ${sg.p50.toFixed(1)} ms, p99 ${sg.p99.toFixed(1)} ms`,
    );
    return {
      grpc_revoke_p50_ms: s.p50,
      grpc_revoke_p99_ms: s.p99,
      grpc_revoke_max_ms: worst,
      grpc_revoke_samples: s.n,
      ...(await expiryThroughGrpc(broker.runtime, client, quick)),
    };
  } finally {
    client.close();
    for (const a of auths) a.close();
    await shutdown(server);
    await broker.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Tokens expiring over a few seconds, each called every 20 ms from just before its `exp` until refused. */
async function expiryThroughGrpc(
  rt: LocalRuntime,
  client: ReturnType<typeof grpcCaller>,
  quick: boolean,
): Promise<SectionResult> {
  const n = quick ? 20 : 60;
  const spreadMs = 5_000;
  // Time to make them first (80 ms each is ample on a busy machine); one whose expiry is too close by then is skipped.
  const base = Date.now() + 2_000 + n * 80;
  const tokens = [];
  for (let i = 0; i < n; i++) {
    const target = base + Math.floor((i * spreadMs) / n) + Math.floor(Math.random() * 1000);
    if (target - Date.now() < 1_500) continue;
    tokens.push(await grpcToken(rt, target - Date.now()));
  }
  if (tokens.length < n / 2) throw new Error(`only ${tokens.length} of ${n} expiring tokens could be made in time`);
  const lags = await Promise.all(
    tokens.map(async (t) => {
      // The token's `exp` is whole seconds; refusal can come up to a second before `expiresAt`.
      const from = Math.floor(t.exp / 1000) * 1000 - 100;
      await sleep(Math.max(0, from - Date.now()));
      for (;;) {
        const at = Date.now();
        if (!(await client.call(t.token))) return at - t.exp;
        if (at - t.exp > 5_000)
          throw new Error(`an expired token still worked 5 s after ${new Date(t.exp).toISOString()}`);
        await sleep(20);
      }
    }),
  );
  const s = p(lags);
  log(
    `revocation: ${tokens.length} tokens through the example service: expiry to refusal p50 ${s.p50} ms, p99 ${s.p99} ms`,
  );
  return { grpc_expiry_p50_ms: s.p50, grpc_expiry_p99_ms: s.p99 };
}

async function expiryLag(quick: boolean): Promise<SectionResult> {
  const n = quick ? 1_000 : 5_000;
  const spreadMs = 10_000;
  const home = mkdtempSync(join(tmpdir(), 'timebox-bench-expiry-'));
  let offset = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offset) };
  try {
    // Made an hour and a quarter in the past, so that at the restart the grants lie outside the sweeper's one-hour
    // repair window, like grants that have been running a while (a fresh one would be re-read by the first sweep).
    const backMs = 75 * 60_000;
    offset = -backMs;
    // The first expiry, in the clock's terms: grants last about 75 minutes, as seen by the clock while they are made.
    const first = Date.now() + 10_000;
    const made = await createLocalRuntime({ home, configFile: CONFIG, issuer: 'http://127.0.0.1:1', clock });
    const expiries: number[] = [];
    const making = Date.now();
    try {
      const batch = 32;
      for (let i = 0; i < n; i += batch) {
        // Bounded: on a busy machine fewer grants are made, and the count says so.
        if (Date.now() - making > MAKE_BUDGET_MS) break;
        await Promise.all(
          Array.from({ length: Math.min(batch, n - i) }, async (_, k) => {
            // In the clock's terms: expiries from `first` onwards, spread evenly over 10 s.
            const expiresAt = first + Math.floor(((i + k) * spreadMs) / n);
            const { grant } = await made.service.request(alice, {
              target: 'user-service',
              scopes: [METHOD],
              duration: expiresAt - clock.now().getTime(),
              reason: 'bench',
            });
            if (grant.status !== 'active') throw new Error(`bench grant is ${grant.status}`);
            expiries.push(Date.parse(grant.expiresAt as string));
          }),
        );
      }
    } finally {
      await made.close();
    }
    log(`revocation: made ${expiries.length} of ${n} grants in ${Date.now() - making} ms`);
    const made_ = expiries.length;

    // The restart: the clock is moved to three seconds before the first expiry.
    const firstExpiry = Math.min(...expiries);
    const lags: number[] = [];
    let resolveAll: () => void = () => {};
    const all = new Promise<void>((r) => {
      resolveAll = r;
    });
    offset = firstExpiry - 3_000 - Date.now();
    const rt = await createLocalRuntime({
      home,
      configFile: CONFIG,
      issuer: 'http://127.0.0.1:1',
      clock,
      publishers: [
        {
          publish: async (events, grant) => {
            for (const e of events)
              if (e.type === 'expired') {
                lags.push(clock.now().getTime() - Date.parse(grant.expiresAt as string));
                if (lags.length === made_) resolveAll();
              }
          },
        },
      ],
    });
    try {
      const startedIn = clock.now().getTime() - (firstExpiry - 3_000);
      if (startedIn > 2_500) log(`revocation: restart took ${startedIn} ms, close to the first expiry`);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`only ${lags.length} of ${made_} grants expired within 30 s of the last expiry`)),
          spreadMs + 33_000,
        );
      });
      try {
        await Promise.race([all, timeout]);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      await rt.close();
    }
    const s = p(lags);
    log(
      `revocation: ${made_} expiries at ${Math.round(n / (spreadMs / 1000))}/s: lag p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms`,
    );
    return { expiry_lag_grants: made_, expiry_lag_p50_ms: s.p50, expiry_lag_p99_ms: s.p99, expiry_lag_max_ms: s.max };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export default async function revocationSection(ctx: SectionContext): Promise<SectionResult> {
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  log(`revocation: load average ${load} on ${availableParallelism()} CPUs at start`);
  const revoke = await revokeLatency(ctx.quick);
  const expiry = await expiryLag(ctx.quick);
  return { ...revoke, ...expiry };
}
