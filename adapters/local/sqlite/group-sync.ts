import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Group commit for `--durability full`. SQLite's synchronous=FULL fsyncs the WAL inside every commit, on the
 * calling thread: with synchronous bindings that is the broker's event loop, blocked for the length of an fsync per
 * transition. Instead the connection commits with synchronous=NORMAL (the commit is in the WAL, in the operating
 * system's hands) and the caller waits, before answering, for an fdatasync of the WAL file that started after its
 * commit. The fdatasync runs on libuv's thread pool, and every commit made while one is running is covered by the
 * next one: one fsync serves all the transitions that queued behind it.
 */
export class GroupSync {
  private handle: FileHandle | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private dirSynced = false;

  constructor(private readonly walFile: string) {}

  /** Resolves once everything committed before this call is on stable storage. */
  sync(): Promise<void> {
    // A sync already queued starts after every commit made so far: it covers this caller too.
    if (this.queued) return this.queued;
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // The running sync may have started before this caller's commit: wait for the next one.
    this.queued = this.running.then(
      () => this.next(),
      () => this.next(),
    );
    return this.queued;
  }

  private next(): Promise<void> {
    this.queued = undefined;
    return this.sync();
  }

  private async run(): Promise<void> {
    if (!this.handle) this.handle = await open(this.walFile, 'r');
    await this.handle.datasync();
    if (!this.dirSynced) {
      // Once: the WAL file's directory entry, so that the file itself survives.
      const dir = await open(dirname(this.walFile), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.dirSynced = true;
    }
  }

  async close(): Promise<void> {
    await this.running?.catch(() => {});
    await this.queued?.catch(() => {});
    await this.handle?.close();
    this.handle = undefined;
  }
}
