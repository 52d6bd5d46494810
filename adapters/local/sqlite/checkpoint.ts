import { Worker } from 'node:worker_threads';
import type { Log } from '../../../core/ports';
import { BETTER_SQLITE3_PATH } from './store';

/** How often the worker copies the WAL back into the database file (and fsyncs both). */
export const DEFAULT_CHECKPOINT_MS = 1_000;

/**
 * The worker's code, evaluated as CommonJS (a bundle has no separate file to point a Worker at). It opens the same
 * database file on its own connection and runs PASSIVE checkpoints: they never wait for, nor block, the broker's
 * reads and writes, and their fsyncs happen on this thread, not on the broker's event loop.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = ' + (workerData.full ? 'FULL' : 'NORMAL'));
const run = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  run();
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

/** A checkpoint worker for one database file; `stop` runs a last checkpoint and closes its connection. */
export class Checkpointer {
  private readonly worker: Worker;
  private readonly stopped: Promise<void>;

  constructor(opts: { file: string; full: boolean; intervalMs?: number; log: Log }) {
    this.worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        module: BETTER_SQLITE3_PATH,
        file: opts.file,
        full: opts.full,
        intervalMs: opts.intervalMs ?? DEFAULT_CHECKPOINT_MS,
      },
    });
    this.worker.unref();
    this.stopped = new Promise<void>((resolve) => {
      this.worker.on('message', (m: { error?: string; stopped?: boolean }) => {
        if (m.error) opts.log.warn('checkpoint failed; the next one retries', { error: m.error });
        if (m.stopped) resolve();
      });
      this.worker.on('error', (e) => {
        opts.log.error('checkpoint worker failed', { error: e.message });
        resolve();
      });
      this.worker.on('exit', () => resolve());
    });
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await this.stopped;
    await this.worker.terminate();
  }
}
