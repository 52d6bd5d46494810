import type { GrantEvent } from '../core/grant/events';
import type { EventPage, EventQuery, EventStore } from '../core/ports';

/**
 * A write-through cache of recent event streams in front of the local store. Every write still goes to DynamoDB
 * (dynalite) as a conditional put; only re-reads of a stream this process has just read or written are answered
 * from memory. GrantService reads a stream up to three times per API call (check, then re-read before each append),
 * and each dynalite Query costs about a millisecond of CPU: the API benchmark's hot spot.
 *
 * This is sound only because the local broker is the single writer of its data directory (LevelDB locks it to one
 * process), and even then the store stays the arbiter: a stale cached stream makes the next conditional append fail
 * (ConcurrencyError), which drops the entry, and the service re-reads from the store and retries.
 */
export class CachedEventStore implements EventStore {
  private readonly streams = new Map<string, readonly GrantEvent[]>();
  /**
   * Moves at the start and at the end of every append: a store read during which it moved may predate a write, so
   * it is returned but not remembered.
   */
  private epoch = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: EventStore,
    private readonly maxStreams = 5_000,
  ) {}

  async append(event: GrantEvent): Promise<void> {
    const id = event.grantId;
    this.epoch++;
    try {
      await this.inner.append(event);
    } catch (e) {
      this.streams.delete(id);
      throw e;
    } finally {
      this.epoch++;
    }
    const cached = this.streams.get(id);
    const frozen = deepFreeze(structuredClone(event));
    if (event.seq === 1) this.remember(id, [frozen]);
    else if (cached && cached[cached.length - 1]?.seq === event.seq - 1) this.remember(id, [...cached, frozen]);
    else this.streams.delete(id);
  }

  /** The stream from memory when known, else from the store (and remembered, unless a write overlapped). */
  async read(grantId: string): Promise<GrantEvent[]> {
    const cached = this.streams.get(grantId);
    if (cached) {
      this.hits++;
      this.remember(grantId, cached);
      return [...cached];
    }
    this.misses++;
    const epoch = this.epoch;
    const events = await this.inner.read(grantId);
    if (events.length > 0 && epoch === this.epoch && !this.streams.has(grantId))
      this.remember(
        grantId,
        events.map((e) => deepFreeze(structuredClone(e))),
      );
    return events;
  }

  /** Audit queries always go to the store. */
  query(filter: EventQuery): Promise<EventPage> {
    return this.inner.query(filter);
  }

  /** Forgets everything (tests). */
  clear(): void {
    this.streams.clear();
  }

  private remember(id: string, events: readonly GrantEvent[]): void {
    // Map order is insertion order: deleting and re-adding keeps the most recently used last, the oldest first.
    this.streams.delete(id);
    this.streams.set(id, events);
    if (this.streams.size > this.maxStreams) {
      const oldest = this.streams.keys().next();
      if (!oldest.done) this.streams.delete(oldest.value);
    }
  }
}

/** Cached events are shared by every reader; freezing them turns an accidental mutation into an error. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
