import type { GrantService, SweepReport } from '../../core/grant/service';
import type { Log } from '../../core/ports';

export interface SweeperDeps {
  service: Pick<GrantService, 'sweep'>;
  log: Log;
}

/** Raised after a complete pass that had failures, so the Lambda Errors metric (alarmed by the stack) counts it. */
export class SweepFailedError extends Error {
  constructor(readonly report: SweepReport) {
    super(`sweeper pass finished with ${report.failures} failure(s); see the log lines before this one`);
    this.name = 'SweepFailedError';
  }
}

/**
 * One pass of the safety net every minute (EventBridge Scheduler rate schedule): expire what is overdue, lapse stale
 * requests, repair projections, retry cleanups. Each grant is handled on its own inside `sweep`, so the error is
 * thrown only after the whole pass.
 */
export function createSweeperHandler(deps: SweeperDeps): () => Promise<SweepReport> {
  return async () => {
    const report = await deps.service.sweep();
    deps.log.info('sweep finished', { ...report });
    if (report.failures > 0) throw new SweepFailedError(report);
    return report;
  };
}
