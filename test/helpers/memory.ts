import { ConcurrencyError } from '../../core/errors';
import type { GrantEvent } from '../../core/grant/events';
import { type Grant, isTerminal } from '../../core/grant/state';
import type {
  AccessContext,
  AccessProvider,
  ActiveGrant,
  CredentialKind,
  EventPage,
  EventPublisher,
  EventQuery,
  EventStore,
  GrantScheduler,
  IssuedCredential,
  ListOptions,
  Log,
  ProjectionStore,
} from '../../core/ports';

/** In-memory event store with the same conditional-put contract as the DynamoDB one. */
export class MemoryEventStore implements EventStore {
  readonly streams = new Map<string, GrantEvent[]>();
  /** Fault injection: called before every append; throw to simulate a failure. */
  beforeAppend?: (e: GrantEvent) => void | Promise<void>;
  appends = 0;

  async append(event: GrantEvent): Promise<void> {
    await this.beforeAppend?.(event);
    const stream = this.streams.get(event.grantId) ?? [];
    if (stream.some((e) => e.seq === event.seq)) throw new ConcurrencyError(event.grantId, event.seq);
    stream.push(structuredClone(event));
    stream.sort((a, b) => a.seq - b.seq);
    this.streams.set(event.grantId, stream);
    this.appends++;
  }

  async read(grantId: string): Promise<GrantEvent[]> {
    return structuredClone(this.streams.get(grantId) ?? []);
  }

  async query(f: EventQuery): Promise<EventPage> {
    const all = [...this.streams.values()]
      .flat()
      .filter((e) => Date.parse(e.at) >= f.since.getTime() && Date.parse(e.at) < f.until.getTime())
      .filter((e) => !f.actor || e.actor.id === f.actor)
      .filter((e) => !f.target || e.target === f.target)
      .sort((a, b) => a.at.localeCompare(b.at) || a.grantId.localeCompare(b.grantId) || a.seq - b.seq);
    const start = f.cursor ? Number(f.cursor) : 0;
    const limit = f.limit ?? 100;
    const events = structuredClone(all.slice(start, start + limit));
    return start + limit < all.length ? { events, cursor: String(start + limit) } : { events };
  }

  allEvents(): GrantEvent[] {
    return [...this.streams.values()].flat();
  }
}

function dueOf(g: Grant): string | undefined {
  if (g.status === 'pending') return g.pendingUntil ?? undefined;
  if (g.status === 'approved') return g.startAt ?? g.requestedAt;
  if (g.status === 'active') return g.expiresAt;
  return undefined;
}

export class MemoryProjectionStore implements ProjectionStore {
  readonly views = new Map<string, Grant>();
  failPuts = 0;

  puts = 0;
  async put(view: Grant, published?: { from: number; to: number }): Promise<void> {
    if (this.failPuts > 0) {
      this.failPuts--;
      throw new Error('injected projection failure');
    }
    this.puts++;
    const existing = this.views.get(view.id);
    if (existing && existing.lastSeq >= view.lastSeq) return;
    const before = existing?.publishedSeq ?? 0;
    const publishedSeq = published && published.from === before ? published.to : before;
    const { publishedSeq: _ignored, ...fields } = structuredClone(view);
    this.views.set(view.id, { ...fields, publishedSeq });
  }
  async get(id: string): Promise<Grant | undefined> {
    const v = this.views.get(id);
    return v ? structuredClone(v) : undefined;
  }
  private list(pred: (g: Grant) => boolean, opts?: ListOptions): Grant[] {
    return [...this.views.values()]
      .filter(pred)
      .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt))
      .slice(0, opts?.limit ?? 1000)
      .map((g) => structuredClone(g));
  }
  async listByRequester(id: string, opts?: ListOptions) {
    return this.list((g) => g.requester.id === id, opts);
  }
  async listAwaitingApproval(subjects: string[], opts?: ListOptions) {
    return this.list((g) => g.status === 'pending' && !!g.approval?.from.some((s) => subjects.includes(s)), opts);
  }
  async listDue(status: 'pending' | 'approved' | 'active', dueBefore: Date, opts?: ListOptions) {
    return this.list(
      (g) => g.status === status && !!dueOf(g) && Date.parse(dueOf(g) as string) <= dueBefore.getTime(),
      opts,
    );
  }
  async listByStatus(status: Grant['status'], opts?: ListOptions) {
    return this.list((g) => g.status === status, opts);
  }
  async listCleanupNeeded(opts?: ListOptions) {
    return this.list((g) => g.cleanupNeeded, opts);
  }
  async markPublished(id: string, fromSeq: number, toSeq: number) {
    const v = this.views.get(id);
    if (v && (v.publishedSeq ?? 0) === fromSeq) v.publishedSeq = toSeq;
  }
}

export class FakeScheduler implements GrantScheduler {
  readonly schedules = new Map<string, Date>();
  failNext = 0;
  async schedule(grantId: string, action: 'expire' | 'activate', at: Date) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected scheduler failure');
    }
    this.schedules.set(`${grantId}/${action}`, at);
  }
  async cancel(grantId: string, action: 'expire' | 'activate') {
    this.schedules.delete(`${grantId}/${action}`);
  }
  /** Schedules due at `now`, as [grantId, action]. */
  due(now: Date): [string, 'expire' | 'activate'][] {
    return [...this.schedules.entries()]
      .filter(([, at]) => at.getTime() <= now.getTime())
      .map(([k]) => k.split('/') as [string, 'expire' | 'activate']);
  }
}

/** A provider that records what it was asked to do, with optional faults. */
export class FakeProvider implements AccessProvider {
  readonly calls: { op: string; grantId: string; at: Date }[] = [];
  /** Grants whose access is currently in place, per this provider. */
  readonly live = new Set<string>();
  failProvision = 0;
  failRevoke = 0;
  credentialTtlMs = 60 * 60_000;
  constructor(readonly kind: AccessProvider['kind']) {}

  async provision(g: ActiveGrant, ctx: AccessContext) {
    this.calls.push({ op: 'provision', grantId: g.id, at: ctx.now });
    if (this.failProvision > 0) {
      this.failProvision--;
      throw new Error('injected provision failure');
    }
    this.live.add(g.id);
    return this.kind === 'gcp-role' ? { binding: `timebox:${g.id}` } : {};
  }
  async credentials(g: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential> {
    this.calls.push({ op: `credentials:${kind}`, grantId: g.id, at: ctx.now });
    const expiresAt = new Date(Math.min(ctx.now.getTime() + this.credentialTtlMs, Date.parse(g.expiresAt)));
    return { kind, expiresAt, secret: { token: `secret-${g.id}` }, audit: { sourceIp: ctx.sourceIp ?? null } };
  }
  async revoke(g: Grant, why: 'revoked' | 'expired', ctx: AccessContext) {
    this.calls.push({ op: `revoke:${why}`, grantId: g.id, at: ctx.now });
    if (this.failRevoke > 0) {
      this.failRevoke--;
      throw new Error('injected revoke failure');
    }
    this.live.delete(g.id);
    return { removed: g.id };
  }
}

export class RecordingPublisher implements EventPublisher {
  readonly published: GrantEvent[] = [];
  failNext = 0;
  async publish(events: GrantEvent[]) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected publish failure');
    }
    this.published.push(...events);
  }
}

export class RecordingLog implements Log {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: 'info', message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  }
}

export { isTerminal };
