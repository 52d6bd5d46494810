import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { UnavailableError, ValidationError } from '../../core/errors';
import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import type { EventPublisher, Log } from '../../core/ports';
import { backoff, retry } from '../../core/retry';
import { DETAIL_TYPES, EVENT_SOURCE, type LifecycleDetail, lifecycleDetail, truncatedDetail } from '../notify/detail';
import { awsCall } from './errors';

/**
 * Lifecycle events to the `timebox` EventBridge bus. Rules on the bus route them to the Slack notifier, to
 * webhooks (API destinations) and to whatever an operator adds. Delivery is at least once: a publish that fails
 * is thrown, GrantService logs it, and the sweeper publishes the events again from the projection's
 * `publishedSeq`; subscribers deduplicate on (detail.grantId, detail.seq).
 */

/** PutEvents takes at most 10 entries per call (EventBridge quotas). */
export const MAX_ENTRIES_PER_CALL = 10;
/**
 * An entry, and the entries of one call together, must stay under 256 KB as EventBridge counts it
 * (User Guide, "Calculating PutEvents event entry size").
 */
export const MAX_CALL_BYTES = 256 * 1024;

/** The size EventBridge counts for an entry: 14 bytes for Time, plus the UTF-8 bytes of Source, DetailType, Detail, Resources. */
export function entrySize(e: PutEventsRequestEntry): number {
  let size = e.Time ? 14 : 0;
  for (const s of [e.Source, e.DetailType, e.Detail, ...(e.Resources ?? [])])
    if (s) size += Buffer.byteLength(s, 'utf8');
  return size;
}

/** Splits entries into PutEvents calls of at most 10 entries and 256 KB, keeping their order. */
export function batchEntries(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const batches: PutEventsRequestEntry[][] = [];
  let current: PutEventsRequestEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = entrySize(e);
    if (current.length > 0 && (current.length >= MAX_ENTRIES_PER_CALL || bytes + size > MAX_CALL_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface EventBridgePublisherOptions {
  /** Bus name or ARN (TIMEBOX_EVENT_BUS). */
  busName: string;
  /** Attempts per entry, the first included (default 4). */
  maxAttempts?: number;
  /** Backoff between attempts; injected so tests need not wait. */
  sleep?: (ms: number) => Promise<void>;
  log?: Log;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Thrown inside put's retry while some entries of a batch were not accepted. */
const NOT_ALL_ACCEPTED = new Error('not all entries accepted');
/** 100 ms doubling up to 2 s. */
const PUT_BACKOFF = backoff({ baseMs: 100, maxMs: 2000, jitter: 'none' });

/** Publishes lifecycle events (and the Slack notifier's refusal notices) to the Timebox bus. */
export class EventBridgePublisher implements EventPublisher {
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: Pick<EventBridgeClient, 'send'>,
    private readonly opts: EventBridgePublisherOptions,
  ) {
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  /** One entry per event, with the grant's current state; throws if any entry still fails after the retries. */
  async publish(events: GrantEvent[], grant: Grant): Promise<void> {
    await this.put(events.map((e) => this.lifecycleEntry(lifecycleDetail(e, grant))));
  }

  /** Publishes one non-lifecycle notice (e.g. `Timebox Slack Action Refused`); same retries as lifecycle events. */
  async notice(detailType: string, detail: Record<string, unknown>, at: Date = new Date()): Promise<void> {
    const entry = this.entry(detailType, JSON.stringify({ version: 1, ...detail }), at.toISOString());
    if (entrySize(entry) > MAX_CALL_BYTES)
      throw new ValidationError('EVENTS.TOO_LARGE', `a ${detailType} notice is larger than EventBridge's 256 KB`);
    await this.put([entry]);
  }

  /** The entry of one lifecycle event; bulky optional fields are dropped if it would exceed 256 KB. */
  lifecycleEntry(detail: LifecycleDetail): PutEventsRequestEntry {
    const type = DETAIL_TYPES[detail.type];
    const full = this.entry(type, JSON.stringify(detail), detail.at);
    if (entrySize(full) <= MAX_CALL_BYTES) return full;
    const smaller = this.entry(type, JSON.stringify(truncatedDetail(detail)), detail.at);
    if (entrySize(smaller) > MAX_CALL_BYTES)
      throw new ValidationError(
        'EVENTS.TOO_LARGE',
        `event ${detail.seq} of ${detail.grantId} is larger than EventBridge's 256 KB even without its scope`,
      );
    this.opts.log?.warn('lifecycle event truncated to fit EventBridge', { grantId: detail.grantId, seq: detail.seq });
    return smaller;
  }

  private entry(detailType: string, detail: string, at: string): PutEventsRequestEntry {
    return {
      EventBusName: this.opts.busName,
      Source: EVENT_SOURCE,
      DetailType: detailType,
      Detail: detail,
      Time: new Date(at),
    };
  }

  /**
   * Sends entries in batches; a call that succeeds with FailedEntryCount > 0 is retried with only the entries
   * that failed (their result carries an ErrorCode), with exponential backoff. What still fails is thrown.
   */
  private async put(entries: PutEventsRequestEntry[]): Promise<void> {
    const failed: { entry: PutEventsRequestEntry; code: string }[] = [];
    for (const batch of batchEntries(entries)) {
      let pending = batch;
      // What the last call did not accept, and why: retried on its own, and reported once attempts run out.
      let refused: { entry: PutEventsRequestEntry; code: string }[] = [];
      await retry(
        async () => {
          const out = await awsCall('events:PutEvents', this.opts.busName, () =>
            this.client.send(new PutEventsCommand({ Entries: pending })),
          );
          if (!out.FailedEntryCount) return;
          const results = out.Entries ?? [];
          refused = [];
          pending.forEach((entry, i) => {
            const r = results[i];
            // A result without an EventId and without an ErrorCode is not proof of delivery: retry it too.
            if (r?.EventId && !r.ErrorCode) return;
            refused.push({ entry, code: r?.ErrorCode ?? 'Unknown' });
          });
          pending = refused.map((f) => f.entry);
          throw NOT_ALL_ACCEPTED;
        },
        {
          attempts: Math.max(1, Math.ceil(this.maxAttempts)),
          retryable: (e) => e === NOT_ALL_ACCEPTED,
          delay: PUT_BACKOFF,
          sleep: this.sleep,
          onRetry: ({ attempt }) =>
            this.opts.log?.warn('some events were not accepted by EventBridge; retrying them', {
              failed: refused.length,
              codes: [...new Set(refused.map((f) => f.code))],
              attempt,
            }),
        },
      ).catch((e: unknown) => {
        if (e !== NOT_ALL_ACCEPTED) throw e;
        failed.push(...refused);
      });
    }
    if (failed.length > 0) {
      const codes = [...new Set(failed.map((f) => f.code))].join(', ');
      throw new UnavailableError(
        'EVENTS.PUBLISH_FAILED',
        `${failed.length} of ${entries.length} events were not accepted by EventBridge after ${this.maxAttempts} attempts (${codes})`,
      );
    }
  }
}

/**
 * The publisher of a Lambda function, with its own client. Functions load this module on their first publish
 * (lambdas/runtime.ts `busPublisher`), so the EventBridge client is not part of their cold start.
 */
export function eventBridgePublisher(busName: string, log: Log): EventBridgePublisher {
  return new EventBridgePublisher(new EventBridgeClient({}), { busName, log });
}
