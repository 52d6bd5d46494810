import { readFileSync } from 'node:fs';
import { GrpcTokenProvider } from '../adapters/grpc/provider';
import { revocationFeed } from '../adapters/grpc/revocations';
import { ConsoleLog, EventLinePublisher, FanOutPublisher, type LineSink, NULL_SINK } from '../adapters/local/log';
import { LocalAwsRoleProvider, LocalGcpRoleProvider } from '../adapters/local/providers';
import { LocalScheduler } from '../adapters/local/scheduler';
import { LocalTokenSigner } from '../adapters/local/signer';
import { type Durability, type LocalStore, openLocalStore } from '../adapters/local/store';
import { createApi } from '../api/app';
import type { ApiRequest, ApiResponse } from '../api/http';
import { type Clock, systemClock } from '../core/clock';
import { TimeboxError } from '../core/errors';
import { GrantService } from '../core/grant/service';
import { grantIdGenerator } from '../core/ids';
import { type CompiledPolicy, compilePolicy } from '../core/policy/compile';
import { formatProblem, loadPolicy } from '../core/policy/load';
import type { TargetKind } from '../core/policy/types';
import type { AccessProvider, EventPublisher, Log } from '../core/ports';
import { localAuthenticate } from './auth';
import { signingKeyPath } from './paths';
import { notifyingProjections, RevocationPush } from './revocation-push';
import { DEFAULT_SWEEP_INTERVAL_MS, SweeperLoop } from './sweeper';

/** gRPC tokens live five minutes by default, as on AWS (TIMEBOX_TOKEN_TTL): a revoked token dies soon everywhere. */
export const DEFAULT_TOKEN_TTL_MS = 5 * 60_000;

export interface LocalRuntimeOptions {
  /** TIMEBOX_HOME: signing key and data. */
  home: string;
  /** The access policy file. */
  configFile: string;
  /** The broker's base URL: `iss` of gRPC tokens, audience of session tokens. */
  issuer: string;
  /** Lines for people: lifecycle events, warnings, errors (and every API call when `verbose`). */
  out?: LineSink;
  verbose?: boolean;
  /** Keep the store in memory instead of under `home` (tests, benchmarks). */
  memory?: boolean;
  /** `normal` (default): every acknowledged change survives the broker being killed; `full`: also a power loss. */
  durability?: Durability;
  sweepIntervalMs?: number;
  tokenTtlMs?: number;
  /**
   * More lifecycle publishers (a notifier, webhooks), each given every event after the log line. This is the seam
   * for adding one to local mode; `LocalRuntime.addPublisher` adds one to a running broker.
   */
  publishers?: EventPublisher[];
  /** How many scheduled actions run at once (default 16). */
  schedulerConcurrency?: number;
  clock?: Clock;
  log?: Log;
}

export interface LocalRuntime {
  service: GrantService;
  /** The broker API over ApiRequest/ApiResponse (the HTTP adapter is ./server.ts). */
  api: (req: ApiRequest) => Promise<ApiResponse>;
  store: LocalStore;
  scheduler: LocalScheduler;
  sweeper: SweeperLoop;
  signer: LocalTokenSigner;
  policy: () => CompiledPolicy;
  log: Log;
  issuer: string;
  /** Schedules re-armed from the store at start-up. */
  rearmed: { expire: number; activate: number };
  addPublisher(p: EventPublisher): void;
  /** Long polls on the revocation feed (the HTTP adapter hands them over); told of every gRPC revocation. */
  revocationPush: RevocationPush;
  /** Stops the sweeper and the timers, waits for actions in flight, closes the store. */
  close(): Promise<void>;
}

/** Reads and compiles the policy file; a bad file fails start-up with every problem, one per line. */
export function loadLocalPolicy(file: string): CompiledPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TimeboxError(
      'invalid',
      'LOCAL.CONFIG_UNREADABLE',
      `cannot read the access policy file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const loaded = loadPolicy(text, { fileName: file });
  if (!loaded.ok)
    throw new TimeboxError(
      'invalid',
      'LOCAL.CONFIG_INVALID',
      `invalid access policy:\n${loaded.problems.map((p) => formatProblem({ ...p, file })).join('\n')}`,
    );
  return compilePolicy(loaded.policy);
}

/**
 * The local composition root: the deployed GrantService and API over the SQLite store (./store.ts), the local signing key,
 * an in-process scheduler, the sweeper loop, plan providers for aws-role/gcp-role and real tokens for grpc.
 * Schedules are re-armed from the store and one sweep runs before this resolves, so whatever fell due while the
 * broker was down is handled at once.
 */
export async function createLocalRuntime(opts: LocalRuntimeOptions): Promise<LocalRuntime> {
  const compiled = loadLocalPolicy(opts.configFile);
  const policy = () => compiled;
  const clock = opts.clock ?? systemClock;
  const out = opts.out ?? NULL_SINK;
  const log = opts.log ?? new ConsoleLog(out, { verbose: opts.verbose ?? false });
  const signer = await LocalTokenSigner.fromFile(signingKeyPath(opts.home));
  const store = await openLocalStore({
    home: opts.home,
    log,
    ...(opts.memory ? { memory: true } : {}),
    ...(opts.durability ? { durability: opts.durability } : {}),
  });
  const events = store.events;
  const publisher = new FanOutPublisher([new EventLinePublisher(out), ...(opts.publishers ?? [])]);
  const revocationPush = new RevocationPush({
    build: (now) => revocationFeed(store.projections, signer, opts.issuer, now),
    now: () => clock.now(),
  });
  const projections = notifyingProjections(store.projections, () => revocationPush.notify());

  let service: GrantService | undefined;
  const scheduler = new LocalScheduler({
    log,
    now: () => clock.now().getTime(),
    ...(opts.schedulerConcurrency ? { concurrency: opts.schedulerConcurrency } : {}),
    fire: async (grantId, action) => {
      if (!service) return;
      if (action === 'expire') await service.expire(grantId);
      else await service.activate(grantId);
    },
  });
  const providers: Partial<Record<TargetKind, AccessProvider>> = {
    grpc: new GrpcTokenProvider({
      signer,
      issuer: opts.issuer,
      tokenTtlMs: opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS,
    }),
    'aws-role': new LocalAwsRoleProvider(),
    'gcp-role': new LocalGcpRoleProvider(),
  };
  service = new GrantService({
    events,
    projections,
    scheduler,
    providers,
    publisher,
    clock,
    ids: grantIdGenerator(clock),
    policy,
    log,
  });
  const api = createApi({
    service,
    authenticate: localAuthenticate,
    signer,
    issuer: opts.issuer,
    projections,
    events,
    clock,
    log,
    policy,
  });
  const grants = service;
  const intervalMs = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  const sweeper = new SweeperLoop({
    // A pass re-reads every grant with events inside its repair window (four store reads each) to repair lagging
    // projections and re-publish. At start-up the window is the service's default hour, which covers whatever the
    // broker missed while down; after that, passes run every few seconds, so a few intervals back is enough, and
    // an hour would make every pass re-read every grant touched in the last hour.
    sweep: (first) => grants.sweep(first ? {} : { repairWindowMs: Math.max(4 * intervalMs, 60_000) }),
    log,
    intervalMs,
  });

  let rearmed = { expire: 0, activate: 0 };
  try {
    rearmed = await rearm(store, scheduler);
    // What fell due while the broker was down runs first through the timers; the sweep then finds only the rest.
    await scheduler.idle();
    await sweeper.runOnce();
  } catch (e) {
    scheduler.stop();
    await store.close();
    throw e;
  }
  sweeper.start();

  return {
    service,
    api,
    store,
    scheduler,
    sweeper,
    signer,
    policy,
    log,
    issuer: opts.issuer,
    rearmed,
    addPublisher: (p) => publisher.add(p),
    revocationPush,
    async close() {
      revocationPush.close();
      await sweeper.stop();
      scheduler.stop();
      await scheduler.idle();
      await store.close();
    },
  };
}

/**
 * Timers do not survive a restart: active grants get their expiry again, approved ones their activation. A time
 * already past fires at once. Only the live grants are read, from the status index (ids and due times, no view
 * parsed): a store holding years of ended grants starts as fast as an empty one.
 */
async function rearm(store: LocalStore, scheduler: LocalScheduler): Promise<{ expire: number; activate: number }> {
  const forever = new Date('9999-12-31T23:59:59.999Z');
  const active = store.projections.dueIds('active', forever);
  for (const g of active) await scheduler.schedule(g.grantId, 'expire', new Date(g.dueAt));
  const approved = store.projections.dueIds('approved', forever);
  for (const g of approved) await scheduler.schedule(g.grantId, 'activate', new Date(g.dueAt));
  return { expire: active.length, activate: approved.length };
}
