import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import type { EventPublisher, Log } from '../../core/ports';

/** Where the broker writes its lines: process.stdout for `serve`, a buffer in tests, nothing in the benchmark. */
export interface LineSink {
  write(line: string): unknown;
}

export const NULL_SINK: LineSink = { write: () => true };

type Level = 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { info: 0, warn: 1, error: 2 };

/**
 * The core `Log` for a terminal: one line per entry, `time LEVEL message key=value ...`. Info lines (one per API
 * call, among others) are shown only when `verbose`: at hundreds of calls a second they would bury what matters.
 */
export class ConsoleLog implements Log {
  private readonly min: number;
  constructor(
    private readonly sink: LineSink,
    opts: { verbose?: boolean; now?: () => Date } = {},
  ) {
    this.min = opts.verbose ? RANK.info : RANK.warn;
    this.now = opts.now ?? (() => new Date());
  }
  private readonly now: () => Date;

  info(message: string, fields?: Record<string, unknown>): void {
    this.line('info', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.line('warn', message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.line('error', message, fields);
  }

  private line(level: Level, message: string, fields?: Record<string, unknown>): void {
    if (RANK[level] < this.min) return;
    this.sink.write(`${this.now().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${formatFields(fields)}\n`);
  }
}

/** `key=value` pairs; strings with spaces or quotes are JSON-quoted so a line stays one line. */
export function formatFields(fields?: Record<string, unknown>): string {
  if (!fields) return '';
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const text = typeof v === 'string' ? (/^[^\s"=]*$/.test(v) ? v : JSON.stringify(v)) : JSON.stringify(v);
    out += ` ${k}=${text}`;
  }
  return out;
}

/**
 * The local broker's lifecycle publisher: one line per event (`grant tb-... #3 approved by carol@corp.com ->
 * approved`), so whoever runs `npm start` sees every step as it happens.
 */
export class EventLinePublisher implements EventPublisher {
  constructor(private readonly sink: LineSink) {}

  async publish(events: GrantEvent[], grant: Grant): Promise<void> {
    for (const e of events)
      this.sink.write(
        `${e.at} EVENT grant ${e.grantId} #${e.seq} ${e.type} by ${e.actor.id} on ${e.target} -> ${grant.status}${eventDetail(e)}\n`,
      );
  }
}

function eventDetail(e: GrantEvent): string {
  switch (e.type) {
    case 'requested':
      return ` (${e.data.decision}${e.data.rule ? `, rule ${e.data.rule}` : ''}: ${JSON.stringify(e.data.reason)})`;
    case 'approved':
      return ` (${e.data.approvals}/${e.data.required})`;
    case 'activated':
      return ` (until ${e.data.expiresAt})`;
    case 'credentials-issued':
      return ` (${e.data.kind}, until ${e.data.expiresAt})`;
    case 'access-failed':
      return ` (${e.data.step}: ${e.data.error.code})`;
    default:
      return '';
  }
}

/**
 * Hands every batch to each publisher. One failing does not keep the others from the events; the failure is
 * rethrown afterwards so the service leaves `publishedSeq` behind and the sweeper publishes the batch again (to all:
 * delivery is at least once, and consumers deduplicate on grant id and sequence number).
 */
export class FanOutPublisher implements EventPublisher {
  private readonly publishers: EventPublisher[];

  constructor(publishers: EventPublisher[] = []) {
    this.publishers = [...publishers];
  }

  /** Adds a publisher (the notifier, a webhook sender...) from now on. */
  add(p: EventPublisher): void {
    this.publishers.push(p);
  }

  get size(): number {
    return this.publishers.length;
  }

  async publish(events: GrantEvent[], grant: Grant): Promise<void> {
    const results = await Promise.allSettled(this.publishers.map((p) => p.publish(events, grant)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0)
      throw new AggregateError(
        failed.map((f) => f.reason),
        `${failed.length} of ${this.publishers.length} publishers failed: ${failed.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))).join('; ')}`,
      );
  }
}
