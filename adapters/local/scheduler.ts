import type { GrantScheduler, Log } from '../../core/ports';

export type ScheduledAction = 'expire' | 'activate';

/**
 * Node's timers hold their delay in a signed 32-bit integer: anything above 2^31-1 ms (about 24.8 days) is
 * replaced by 1 ms with a TimeoutOverflowWarning (Node docs, setTimeout). Longer delays are waited out in steps.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LocalSchedulerOptions {
  /** Carries out a due action (GrantService.expire / activate). Failures are logged; the sweeper is the backstop. */
  fire: (grantId: string, action: ScheduledAction) => Promise<void>;
  log: Log;
  /** Epoch milliseconds; injected for tests. */
  now?: () => number;
  /**
   * How many due actions run at once. Thousands of grants can fall due in the same second; running them all at
   * once would only queue them inside the store client, each holding memory, with no gain in throughput.
   */
  concurrency?: number;
}

interface Entry {
  at: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The in-process scheduler of local mode: one timer per (grant, action), the `GrantScheduler` port that
 * EventBridge Scheduler implements on AWS. Schedules live in memory only; the runtime re-arms them from the store
 * at start-up (local/runtime.ts `rearm`), and the sweeper loop catches anything missed, so a restart never lets a
 * grant outlive its expiry.
 */
export class LocalScheduler implements GrantScheduler {
  private readonly entries = new Map<string, Entry>();
  // A FIFO as an array and a read index: Array#shift moves every element, which is quadratic over 10,000 grants.
  private queue: [string, ScheduledAction][] = [];
  private head = 0;
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private readonly now: () => number;
  private readonly concurrency: number;

  constructor(private readonly opts: LocalSchedulerOptions) {
    this.now = opts.now ?? Date.now;
    this.concurrency = opts.concurrency ?? 16;
    if (!(this.concurrency >= 1)) throw new Error('LocalScheduler concurrency must be at least 1');
  }

  /** Replaces any schedule of the same (grant, action). A time in the past fires at once. */
  async schedule(grantId: string, action: ScheduledAction, at: Date): Promise<void> {
    const ms = at.getTime();
    if (!Number.isFinite(ms)) throw new Error(`cannot schedule ${action} of ${grantId} at an invalid time`);
    if (this.stopped) return;
    const key = keyOf(grantId, action);
    const existing = this.entries.get(key);
    if (existing?.timer) clearTimeout(existing.timer);
    const entry: Entry = { at: ms, timer: undefined };
    this.entries.set(key, entry);
    this.arm(key, grantId, action, entry);
  }

  /** Idempotent: cancelling what is not scheduled (or already fired) is not an error. */
  async cancel(grantId: string, action: ScheduledAction): Promise<void> {
    const key = keyOf(grantId, action);
    const entry = this.entries.get(key);
    if (entry?.timer) clearTimeout(entry.timer);
    this.entries.delete(key);
  }

  /** When (grant, action) is due, if scheduled. */
  scheduledAt(grantId: string, action: ScheduledAction): Date | undefined {
    const e = this.entries.get(keyOf(grantId, action));
    return e ? new Date(e.at) : undefined;
  }

  /** Schedules waiting for their time. */
  get pending(): number {
    return this.entries.size;
  }

  /** Resolves once nothing is queued or running (tests and the benchmark wait on it). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops every timer; actions already running finish. Nothing fires after this. */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.entries.clear();
    this.queue = [];
    this.head = 0;
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  private arm(key: string, grantId: string, action: ScheduledAction, entry: Entry): void {
    const delay = entry.at - this.now();
    if (delay <= 0) {
      this.entries.delete(key);
      this.enqueue(grantId, action);
      return;
    }
    // A timer may fire a millisecond early (Node rounds timer delays), and an action run before its time is a
    // no-op in the domain (expireCommand refuses an early expiry). So each firing re-checks the clock and re-arms
    // for what is left: the action runs at, never before, its time.
    entry.timer = setTimeout(
      () => {
        if (this.entries.get(key) !== entry) return;
        entry.timer = undefined;
        this.arm(key, grantId, action, entry);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    // Schedules never keep a process alive on their own: the broker's HTTP server does.
    entry.timer.unref();
  }

  private enqueue(grantId: string, action: ScheduledAction): void {
    if (this.stopped) return;
    this.queue.push([grantId, action]);
    this.drain();
  }

  private drain(): void {
    while (this.running < this.concurrency && this.queued > 0) {
      const [grantId, action] = this.queue[this.head++] as [string, ScheduledAction];
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      this.running++;
      this.opts
        .fire(grantId, action)
        .catch((e: unknown) => {
          this.opts.log.error('scheduled action failed; the sweeper will retry', {
            grantId,
            action,
            error: e instanceof Error ? e.message : String(e),
          });
        })
        .finally(() => {
          this.running--;
          this.drain();
          if (this.running === 0 && this.queued === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }
}

function keyOf(grantId: string, action: ScheduledAction): string {
  return `${action}:${grantId}`;
}
