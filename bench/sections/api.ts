/**
 * Local API benchmark: the broker started in this process exactly as `npm start` starts it (its SQLite store on
 * disk in a temporary TIMEBOX_HOME, the example policy), once per durability (normal, then full: `_full` metrics),
 * loaded over loopback by autocannon running in a child process, so the load generator does not share the broker's
 * event loop. Each autocannon connection loops over one
 * flow: POST /v1/requests for the auto-approved `user-service` read scope (decision, `requested` and `activated`
 * events, projection), then POST /v1/grants/{id}/credentials (a real ES256 token, `credentials-issued` event).
 * `api_rps` counts HTTP requests of both kinds; `api_flows_per_s` counts completed flows. Latency is reported at
 * 8 connections (what a busy broker answers) and at 1 connection (the time of one call, with no queue).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintSessionToken } from '../../local/auth';
import { startLocalBroker } from '../../local/broker';
import type { SectionContext, SectionResult } from '../lib/harness';

const ROOT = join(__dirname, '..', '..');
const log = (line = '') => process.stderr.write(`${line}\n`);

/**
 * The load generator, run by `node -e` from the repository root (so `autocannon` resolves). Each connection keeps
 * the grant id of its request in autocannon's per-connection context for the credentials call that follows.
 */
const LOAD = `
const autocannon = require('autocannon');
const o = JSON.parse(process.argv[1]);
const headers = { authorization: 'Bearer ' + o.token, 'content-type': 'application/json' };
let flows = 0;
autocannon({
  url: o.url,
  connections: o.connections,
  duration: o.duration,
  requests: [
    {
      method: 'POST',
      path: '/v1/requests',
      headers,
      body: JSON.stringify({ target: 'user-service', duration: '30m', reason: 'api benchmark' }),
      onResponse: (status, body, context) => { if (status === 201) context.id = JSON.parse(body).grant.id; },
    },
    {
      method: 'POST',
      headers,
      setupRequest: (req, context) => context.id ? { ...req, path: '/v1/grants/' + context.id + '/credentials' } : null,
      onResponse: (status) => { if (status === 200) flows++; },
    },
  ],
}, (err, r) => {
  if (err) { process.stderr.write(String(err)); process.exit(1); }
  process.stdout.write(JSON.stringify({
    total: r.requests.total, seconds: r.duration, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
    p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, flows,
    cpuMs: ((u) => (u.user + u.system) / 1000)(process.cpuUsage()),
  }));
});
`;

interface LoadResult {
  total: number;
  seconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  flows: number;
  /** CPU time of the load generator's process, ms. */
  cpuMs: number;
}

function runLoad(opts: { url: string; token: string; connections: number; duration: number }): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', LOAD, JSON.stringify(opts)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as LoadResult);
      } catch {
        reject(new Error(`autocannon printed no result: ${out}${err}`));
      }
    });
  });
}

/** One broker, one durability: a short warm-up, then the measured run at 8 connections and at one. */
async function measure(ctx: SectionContext, durability: 'normal' | 'full'): Promise<SectionResult> {
  const home = mkdtempSync(join(tmpdir(), 'timebox-bench-api-'));
  const broker = await startLocalBroker({
    home,
    configFile: join(ROOT, 'access.example.yaml'),
    host: '127.0.0.1',
    port: 0,
    durability,
    // Hours of sweeping are not what is measured; the loop would only add a pass in the middle of the run.
    sweepIntervalMs: 3_600_000,
  });
  try {
    const { token } = await mintSessionToken(broker.runtime.signer, {
      who: { id: 'alice@corp.com', groups: [], mfa: false },
      audience: broker.url,
      ttlMs: 3_600_000,
      now: new Date(),
    });
    const connections = 8;
    await runLoad({ url: broker.url, token, connections, duration: 1 });
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const r = await runLoad({ url: broker.url, token, connections, duration: ctx.quick ? 3 : 10 });
    const cpu = process.cpuUsage(cpu0);
    // How busy the broker's event loop was: below ~90%, the broker was waiting for the load generator.
    const elu = performance.eventLoopUtilization(elu0).utilization;
    // One connection: each call's own time, without waiting behind the other connections' calls.
    const single = await runLoad({ url: broker.url, token, connections: 1, duration: ctx.quick ? 2 : 5 });
    const rps = r.total / r.seconds;
    const cpuMsPerRequest = (cpu.user + cpu.system) / 1000 / Math.max(1, r.total);
    const tag = `api (${durability})`;
    log(
      `${tag}: ${r.total} requests (${r.flows} request+credentials flows) in ${r.seconds.toFixed(1)} s over ${connections} connections: ${rps.toFixed(0)} req/s, ${(r.flows / r.seconds).toFixed(0)} flows/s`,
    );
    log(
      `${tag}: latency ms p50 ${r.p50} p90 ${r.p90} p99 ${r.p99} max ${r.max}; non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}`,
    );
    log(
      `${tag}: one connection: ${(single.total / single.seconds).toFixed(0)} req/s, latency ms p50 ${single.p50} p90 ${single.p90} p99 ${single.p99} max ${single.max}`,
    );
    log(
      `${tag}: broker event loop busy ${(elu * 100).toFixed(0)}% of the run; load generator CPU ${(r.cpuMs / Math.max(1, r.total)).toFixed(2)} ms per request`,
    );
    log(
      `${tag}: broker CPU ${cpuMsPerRequest.toFixed(2)} ms per request (store: SQLite file, synchronous=${durability === 'full' ? 'FULL' : 'NORMAL'}); ${broker.runtime.scheduler.pending} expiry timers armed`,
    );
    log(
      `${tag}: load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')} on ${availableParallelism()} CPUs (autocannon runs in its own process)`,
    );
    const sfx = durability === 'full' ? '_full' : '';
    return {
      [`api_rps${sfx}`]: rps,
      [`api_p50_ms${sfx}`]: r.p50,
      [`api_p99_ms${sfx}`]: r.p99,
      [`api_1conn_p50_ms${sfx}`]: single.p50,
      [`api_1conn_p99_ms${sfx}`]: single.p99,
      [`api_flows_per_s${sfx}`]: r.flows / r.seconds,
      [`api_cpu_ms_per_req${sfx}`]: cpuMsPerRequest,
      [`api_loop_busy${sfx}`]: elu,
      [`api_errors${sfx}`]: r.non2xx + r.errors + r.timeouts + single.non2xx + single.errors + single.timeouts,
    };
  } finally {
    await broker.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Runs the API benchmark at the default durability, then with `--durability full` (fsync per commit). */
export default async function apiSection(ctx: SectionContext): Promise<SectionResult> {
  return { ...(await measure(ctx, 'normal')), ...(await measure(ctx, 'full')) };
}
