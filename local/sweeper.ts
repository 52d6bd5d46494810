import type { SweepReport } from '../core/grant/service';
import type { Log } from '../core/ports';

/** Every 15 s by default: four times as often as the AWS sweeper, since nothing else backs up a lost local timer. */
export const DEFAULT_SWEEP_INTERVAL_MS = 15_000;

export interface SweeperLoopOptions {
  /** One pass; `first` is true for the pass at start-up. */
  sweep: (first: boolean) => Promise<SweepReport>;
  log: Log;
  intervalMs?: number;
}

/**
 * The sweeper of local mode: `GrantService.sweep` in a loop. Passes never overlap (the next is timed from the end
 * of the previous one), a failing pass is logged and the loop goes on, and the timer never keeps the process alive.
 */
export class SweeperLoop {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<SweepReport | undefined> | undefined;
  private stopped = true;
  readonly intervalMs: number;
  /** Passes completed (for tests and the broker's status line). */
  passes = 0;

  constructor(private readonly opts: SweeperLoopOptions) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (!(this.intervalMs >= 100)) throw new Error('the sweep interval must be at least 100 ms');
  }

  /** Starts the loop; the first pass runs after one interval (call `runOnce` for one at once). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm();
  }

  /** Stops the loop and waits for a pass in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  /** One pass now (joins a pass already running). Never throws: failures are logged. */
  runOnce(): Promise<SweepReport | undefined> {
    if (this.current) return this.current;
    const run = this.opts
      .sweep(this.passes === 0)
      .then((report) => {
        this.passes++;
        const acted = Object.entries(report).filter(([, n]) => n > 0);
        if (acted.length > 0) this.opts.log.info('sweep', { ...report });
        return report;
      })
      .catch((e: unknown) => {
        this.opts.log.error('sweep failed', { error: e instanceof Error ? e.message : String(e) });
        return undefined;
      })
      .finally(() => {
        this.current = undefined;
      });
    this.current = run;
    return run;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().then(() => this.arm());
    }, this.intervalMs);
    this.timer.unref();
  }
}
