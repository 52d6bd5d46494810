import type { Clock } from '../clock';
import { ConcurrencyError, NotFoundError } from '../errors';
import type { IdGenerator } from '../ids';
import type { CompiledPolicy } from '../policy/compile';
import type { TargetKind } from '../policy/types';
import type { AccessProvider, EventPublisher, EventStore, GrantScheduler, Log, ProjectionStore } from '../ports';
import { backoff, type RetryOptions, retry } from '../retry';
import { sealEvent } from './chain';
import type { EventDraft, GrantEvent } from './events';
import { applyEvent, foldGrant, type Grant } from './state';

export interface GrantServiceDeps {
  events: EventStore;
  projections: ProjectionStore;
  scheduler: GrantScheduler;
  providers: Partial<Record<TargetKind, AccessProvider>>;
  publisher: EventPublisher;
  clock: Clock;
  ids: IdGenerator;
  /** The current policy; called per operation so a reloaded policy applies at once. */
  policy: () => CompiledPolicy;
  log: Log;
  /** Optimistic-concurrency retries before a conflict escapes (default 8). */
  maxAttempts?: number;
  /** Backoff between retries; injected so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The events of a grant; a grant with none does not exist. */
export async function readStream(events: EventStore, id: string): Promise<GrantEvent[]> {
  const stream = await events.read(id);
  if (stream.length === 0) throw new NotFoundError('GRANT.NOT_FOUND', `no grant ${id}`);
  return stream;
}

/** 10 ms doubling up to 200 ms, each wait between half and all of it. */
const CONFLICT_BACKOFF = backoff({ baseMs: 10, maxMs: 200, jitter: 'equal', random: Math.random });

/**
 * The write path every grant operation shares: read a grant's stream, append one event at the next sequence
 * number (retrying when another writer won the race), then let the projection and the bus follow. The projection
 * and the bus may lag (the sweeper repairs them), never lead.
 */
export class GrantLedger {
  protected readonly d: Required<Pick<GrantServiceDeps, 'maxAttempts' | 'sleep'>> & GrantServiceDeps;

  constructor(deps: GrantServiceDeps) {
    this.d = { maxAttempts: 8, sleep: defaultSleep, ...deps };
  }

  protected readStream(id: string): Promise<GrantEvent[]> {
    return readStream(this.d.events, id);
  }

  /** The grant folded from its stream (strongly consistent). */
  async load(id: string): Promise<Grant> {
    return foldGrant(await this.readStream(id));
  }

  /** The grant, or undefined when it has no events. */
  protected async loadOptional(id: string): Promise<Grant | undefined> {
    const events = await this.d.events.read(id);
    return events.length ? foldGrant(events) : undefined;
  }

  /**
   * Read, decide, append with the next sequence number; on a concurrent append, re-read and decide again.
   * The command sees the newest state every time, so a late approval after a revoke fails instead of winning.
   */
  async mutate(
    id: string,
    command: (g: Grant) => EventDraft | null,
    start?: Grant,
  ): Promise<{ grant: Grant; event: GrantEvent | null }> {
    // `start` is a state the caller already holds (a projection view). It is safe to append from: the append is
    // conditional on the next sequence number, so a stale start only conflicts. A stale start that makes the
    // command do nothing is not trusted either: the stream is read before answering "nothing to do".
    let known = start;
    const attempt = async (): Promise<{ grant: Grant; event: GrantEvent | null }> => {
      for (;;) {
        const g = known ?? (await this.load(id));
        const draft = command(g);
        if (!draft) {
          if (!known) {
            // The caller's view (a projection) was behind the stream: bring the projection up to date on the way,
            // or the sweeper would keep finding the same stale view, pass after pass.
            if (start && g.lastSeq > start.lastSeq)
              await this.quietly(id, 'update projection', () => this.d.projections.put(g));
            return { grant: g, event: null };
          }
          // A view that makes the command do nothing is checked against the stream; that read is no attempt.
          known = undefined;
          continue;
        }
        known = undefined;
        return await this.appendAndFollow(g, draft, this.d.clock.now());
      }
    };
    return retry(
      attempt,
      this.onConflict((n) => this.d.log.info('concurrent write, retrying', { grantId: id, attempt: n })),
    );
  }

  /** Retries after losing a race for the next sequence number: up to maxAttempts, with jittered backoff. */
  protected onConflict(onRetry?: (attempt: number) => void): RetryOptions {
    return {
      attempts: this.d.maxAttempts,
      retryable: (e) => e instanceof ConcurrencyError,
      delay: CONFLICT_BACKOFF,
      sleep: this.d.sleep,
      ...(onRetry ? { onRetry: (r: { attempt: number }) => onRetry(r.attempt) } : {}),
    };
  }

  /** Appends one event after `g`'s head (a conflict if another writer got there first), then follows it. */
  protected async appendAndFollow(
    g: Grant,
    draft: EventDraft,
    now: Date,
  ): Promise<{ grant: Grant; event: GrantEvent }> {
    const event = sealEvent(
      { ...draft, grantId: g.id, at: now.toISOString(), target: g.target.name },
      { seq: g.lastSeq, hash: g.lastHash },
    );
    await this.d.events.append(event);
    const grant = applyEvent(g, event);
    await this.follow(grant, [event]);
    return { grant, event };
  }

  /**
   * Projection and bus follow the event; their failures are logged and repaired later, never thrown. The bus
   * first, then the projection, which records in the same write how far the bus got: one store write per event
   * instead of two. A failed publish leaves `publishedSeq` behind for the sweeper to catch up.
   */
  protected async follow(grant: Grant, events: GrantEvent[]): Promise<void> {
    let published: { from: number; to: number } | undefined;
    await this.quietly(grant.id, 'publish events', async () => {
      await this.d.publisher.publish(events, grant);
      published = { from: (events[0] as GrantEvent).seq - 1, to: (events[events.length - 1] as GrantEvent).seq };
    });
    await this.quietly(grant.id, 'update projection', () => this.d.projections.put(grant, published));
  }

  /** Runs a step whose failure the sweeper repairs: logged as a warning, never thrown. */
  protected async quietly(grantId: string, what: string, f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.d.log.warn(`${what} failed; the sweeper will retry`, {
        grantId,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
}
