import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { awaitingKey, DynamoEventStore } from '../../../adapters/aws/dynamodb';
import { ManualClock } from '../../../core/clock';
import { ConcurrencyError } from '../../../core/errors';
import { sealEvent, verifyChain } from '../../../core/grant/chain';
import type { EventDraft, GrantEvent } from '../../../core/grant/events';
import { foldGrant, type Grant } from '../../../core/grant/state';
import { type DynamoFixture, dynamoTables } from '../../helpers/dynalite';
import { FakeProvider, RecordingLog } from '../../helpers/memory';
import { raceGate } from '../../helpers/race';
import { alice, bob, carol, dan, grantServiceOver, requestDummy, world } from '../../helpers/world';

const MIN = 60_000;
const adminScope = { target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * MIN, reason: 'INC-9' };

let db: DynamoFixture;
beforeEach(async () => {
  db = await dynamoTables();
});
afterEach(async () => {
  await db.dispose();
});

/** A real stream (requested, activated...) produced by the service over memory doubles. */
async function realStream(): Promise<GrantEvent[]> {
  const w = world();
  const { grant } = await w.service.request(alice, requestDummy());
  await w.service.issueCredentials(grant.id, alice, 'credentials');
  return w.events.read(grant.id);
}

function eventDummy(
  grantId: string,
  prev: GrantEvent | undefined,
  partial: Partial<EventDraft> & { at?: string } = {},
) {
  const { at, ...draft } = partial;
  return sealEvent(
    {
      type: 'access-provisioned',
      actor: { id: 'timebox', kind: 'system' },
      data: { details: {} },
      ...draft,
      grantId,
      at: at ?? '2026-11-24T10:00:00.000Z',
      target: 'prod-logs',
    } as Omit<GrantEvent, 'seq' | 'prevHash' | 'hash'>,
    prev,
  );
}

describe('Class: DynamoEventStore', () => {
  describe('Method: append / read', () => {
    it('round-trips real events exactly, including unicode and nested data, and the chain verifies', async () => {
      // Prepare
      const stream = await realStream();
      const last = stream[stream.length - 1] as GrantEvent;
      const odd = eventDummy(last.grantId, last, {
        data: {
          details: {
            note: 'Grüße, 日本語, emoji 🚀, quotes "\' and \\ backslash',
            nested: { deep: [1, 2.5, -3, { x: 'ü' }, [true, false, null]], empty: '', list: [], map: {} },
          },
        },
      } as Partial<EventDraft>);
      // Act
      for (const e of [...stream, odd]) await db.events.append(e);
      const back = await db.events.read(last.grantId);
      // Assess
      expect(back).toEqual([...stream, odd]);
      expect(verifyChain(last.grantId, back)).toMatchObject({ ok: true, events: stream.length + 1 });
      const raw = await db.doc.send(
        new GetCommand({ TableName: db.names.events, Key: { grantId: odd.grantId, seq: odd.seq } }),
      );
      expect(raw.Item).toMatchObject({
        day: '2026-11-24',
        atKey: `2026-11-24T10:00:00.000Z#${odd.grantId}#${String(odd.seq).padStart(10, '0')}`,
        actorId: 'timebox',
      });
    });

    it('reads an unknown stream as empty', async () => {
      expect(await db.events.read('tb-unknown')).toEqual([]);
    });

    it('pages through a long stream', async () => {
      let prev: GrantEvent | undefined;
      const big = 'x'.repeat(20_000); // ~60 items of 20 KB exceed one 1 MB Query page
      for (let i = 0; i < 60; i++) {
        prev = eventDummy('tb-long', prev, { data: { details: { big } } } as Partial<EventDraft>);
        await db.events.append(prev);
      }
      const back = await db.events.read('tb-long');
      expect(back.map((e) => e.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(verifyChain('tb-long', back).ok).toBe(true);
    });

    it('refuses a duplicate sequence number with ConcurrencyError and keeps the first event', async () => {
      const first = eventDummy('tb-dup', undefined, { data: { details: { who: 'first' } } } as Partial<EventDraft>);
      const second = eventDummy('tb-dup', undefined, { data: { details: { who: 'second' } } } as Partial<EventDraft>);
      await db.events.append(first);
      const err = await db.events.append(second).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ code: 'STORE.CONFLICT', streamId: 'tb-dup', seq: 1 });
      expect(await db.events.read('tb-dup')).toEqual([first]);
    });

    it('lets exactly one of 20 concurrent writers win the same sequence number', async () => {
      const writers = Array.from({ length: 20 }, (_, i) =>
        eventDummy('tb-race', undefined, { data: { details: { writer: i } } } as Partial<EventDraft>),
      );
      const results = await Promise.allSettled(writers.map((e) => db.events.append(e)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError);
      expect(await db.events.read('tb-race')).toEqual([writers[won[0] as number]]);
    });

    it('refuses an event time that would break the index keys', async () => {
      const e = { ...eventDummy('tb-t', undefined), at: '2026-11-24T10:00:00Z' };
      await expect(db.events.append(e)).rejects.toMatchObject({ code: 'STORE.BAD_EVENT_TIME' });
      expect(await db.events.read('tb-t')).toEqual([]);
    });
  });

  describe('Method: query', () => {
    async function seed() {
      const mk = (grantId: string, n: number, at: (i: number) => string, actor: string, target: string) => {
        const out: GrantEvent[] = [];
        for (let i = 0; i < n; i++)
          out.push(
            sealEvent(
              {
                type: 'access-provisioned',
                actor: { id: actor, kind: 'principal' },
                data: { details: { i } },
                grantId,
                at: at(i),
                target,
              } as Omit<GrantEvent, 'seq' | 'prevHash' | 'hash'>,
              out[out.length - 1],
            ),
          );
        return out;
      };
      // Grant a spans midnight UTC; grant b is on the second day only.
      const a = mk(
        'tb-a',
        6,
        (i) => new Date(Date.UTC(2026, 10, 24, 23, 57 + i)).toISOString(),
        'alice@corp.com',
        'prod-logs',
      );
      const b = mk(
        'tb-b',
        3,
        (i) => new Date(Date.UTC(2026, 10, 25, 0, 1, i)).toISOString(),
        'bob@corp.com',
        'analytics',
      );
      for (const e of [...a, ...b]) await db.events.append(e);
      return { a, b };
    }
    const byTime = (x: GrantEvent, y: GrantEvent) =>
      x.at.localeCompare(y.at) || x.grantId.localeCompare(y.grantId) || x.seq - y.seq;

    it('serves a time range across days, oldest first, with since inclusive and until exclusive', async () => {
      const { a, b } = await seed();
      const page = await db.events.query({
        since: new Date('2026-11-24T23:58:00.000Z'),
        until: new Date('2026-11-25T00:02:00.000Z'),
      });
      const want = [...a, ...b].filter((e) => e.at >= '2026-11-24T23:58:00.000Z' && e.at < '2026-11-25T00:02:00.000Z');
      expect(page.events).toEqual(want.sort(byTime));
      expect(page.cursor).toBeUndefined();
      expect(want.map((e) => e.at)).not.toContain('2026-11-25T00:02:00.000Z'); // a's 6th event sits exactly on `until`
    });

    it('pages with an opaque cursor and loses nothing', async () => {
      const { a, b } = await seed();
      const q = { since: new Date('2026-11-24T00:00:00Z'), until: new Date('2026-11-26T00:00:00Z'), limit: 2 };
      const seen: GrantEvent[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await db.events.query({ ...q, ...(cursor ? { cursor } : {}) });
        expect(page.events.length).toBeLessThanOrEqual(2);
        seen.push(...page.events);
        cursor = page.cursor;
        pages++;
      } while (cursor && pages < 20);
      expect(seen).toEqual([...a, ...b].sort(byTime));
    });

    it('filters by actor, by target, and by both through the indexes', async () => {
      const { a, b } = await seed();
      const range = { since: new Date('2026-11-24T00:00:00Z'), until: new Date('2026-11-26T00:00:00Z') };
      expect((await db.events.query({ ...range, actor: 'bob@corp.com' })).events).toEqual(b);
      expect((await db.events.query({ ...range, target: 'prod-logs' })).events).toEqual(a);
      expect((await db.events.query({ ...range, actor: 'alice@corp.com', target: 'analytics' })).events).toEqual([]);
      expect(
        (await db.events.query({ ...range, actor: 'alice@corp.com', target: 'prod-logs', limit: 4 })).events,
      ).toEqual(a.slice(0, 4));
    });

    it('bounds the work of one filtered page, and its cursor still reaches every match', async () => {
      // Prepare: 60 events by carl on one target, then one on another; a page of one event for the other target
      const out: GrantEvent[] = [];
      for (let i = 0; i < 61; i++)
        out.push(
          sealEvent(
            {
              type: 'access-provisioned',
              actor: { id: 'carl@corp.com', kind: 'principal' },
              data: { details: { i } },
              grantId: 'tb-carl',
              at: new Date(Date.UTC(2026, 10, 24, 12, 0, i)).toISOString(),
              target: i === 60 ? 'analytics' : 'prod-logs',
            } as Omit<GrantEvent, 'seq' | 'prevHash' | 'hash'>,
            out[out.length - 1],
          ),
        );
      for (const e of out) await db.events.append(e);
      const q = {
        since: new Date('2026-11-24T00:00:00Z'),
        until: new Date('2026-11-25T00:00:00Z'),
        actor: 'carl@corp.com',
        target: 'analytics',
        limit: 1,
      };
      // Act
      const first = await db.events.query(q);
      const found: GrantEvent[] = [...first.events];
      let cursor = first.cursor;
      for (let pages = 1; cursor && pages < 10; pages++) {
        const page = await db.events.query({ ...q, cursor });
        found.push(...page.events);
        cursor = page.cursor;
      }
      // Assess: the first page stopped early (25 reads of one item) instead of reading the whole partition
      expect(first.events).toEqual([]);
      expect(first.cursor).toBeDefined();
      expect(found).toEqual([out[60]]);
    });

    it('refuses a forged cursor, and a cursor from another query', async () => {
      await seed();
      const range = { since: new Date('2026-11-24T00:00:00Z'), until: new Date('2026-11-26T00:00:00Z'), limit: 1 };
      const { cursor } = await db.events.query(range);
      expect(typeof cursor).toBe('string');
      await expect(db.events.query({ ...range, cursor: 'not-a-cursor' })).rejects.toMatchObject({
        code: 'QUERY.BAD_CURSOR',
      });
      await expect(
        db.events.query({ ...range, actor: 'bob@corp.com', cursor: cursor as string }),
      ).rejects.toMatchObject({
        code: 'QUERY.BAD_CURSOR',
      });
    });

    it('refuses an unbounded time range without actor or target', async () => {
      await expect(
        db.events.query({ since: new Date('2020-01-01T00:00:00Z'), until: new Date('2026-01-01T00:00:00Z') }),
      ).rejects.toMatchObject({ code: 'QUERY.RANGE_TOO_LONG' });
    });
  });
});

describe('Class: DynamoProjectionStore', () => {
  /** Views of one real approval flow: pending (seq 1), approved by carol (2), by dan -> approved (3), active (4). */
  async function pendingFlow() {
    const w = world();
    const { grant } = await w.service.request(alice, adminScope);
    await w.service.approve(grant.id, carol);
    await w.service.approve(grant.id, dan);
    const events = await w.events.read(grant.id);
    const views = events.map((_, i) => foldGrant(events.slice(0, i + 1)));
    return { w, id: grant.id, views, events };
  }

  async function rawView(id: string) {
    return (await db.doc.send(new GetCommand({ TableName: db.names.grants, Key: { grantId: id } }))).Item;
  }

  describe('Method: put / get', () => {
    it('stores the view and reads it back exactly, with publishedSeq 0 and the index attributes', async () => {
      const { views, id } = await pendingFlow();
      const v1 = views[0] as Grant;
      await db.projections.put(v1);
      expect(await db.projections.get(id)).toEqual({ ...v1, publishedSeq: 0 });
      expect(await rawView(id)).toMatchObject({
        grantId: id,
        requesterId: 'alice@corp.com',
        status: 'pending',
        dueAt: v1.pendingUntil,
        requestedAt: v1.requestedAt,
      });
    });

    it('is monotonic: a stale or equal seq loses quietly, whatever the order', async () => {
      const { views, id } = await pendingFlow();
      const last = views[views.length - 1] as Grant;
      await db.projections.put(last);
      for (const v of [...views].reverse()) await db.projections.put(v);
      expect(await db.projections.get(id)).toEqual({ ...last, publishedSeq: 0 });
      // Concurrent puts of every version: the newest always ends up stored.
      const { views: again, id: id2 } = await pendingFlow();
      await Promise.all([...again].reverse().map((v) => db.projections.put(v)));
      expect((await db.projections.get(id2))?.lastSeq).toBe((again[again.length - 1] as Grant).lastSeq);
    });

    it('never touches publishedSeq after creation, and removes fields the newer view lacks', async () => {
      const { views, id } = await pendingFlow();
      await db.projections.put(views[0] as Grant);
      await db.projections.markPublished(id, 0, 1);
      await db.projections.put({ ...(views[1] as Grant), publishedSeq: 99 });
      expect((await db.projections.get(id))?.publishedSeq).toBe(1);
      // A field present at seq 2 but absent at seq 3 must disappear from the item.
      await db.projections.put({ ...(views[1] as Grant), lastSeq: 10, ticket: 'T-1' });
      await db.projections.put({ ...(views[1] as Grant), lastSeq: 11 });
      expect(await rawView(id)).not.toHaveProperty('ticket');
    });

    it('sets the due time by status and the cleanup marker only while cleanup is needed', async () => {
      const { views, id } = await pendingFlow();
      const active = views[views.length - 1] as Grant;
      expect(active.status).toBe('active');
      await db.projections.put(active);
      expect(await rawView(id)).toMatchObject({ status: 'active', dueAt: active.expiresAt });
      expect(await rawView(id)).not.toHaveProperty('cleanup');
      const revoked: Grant = {
        ...active,
        status: 'revoked',
        endedAt: '2026-11-24T10:05:00.000Z',
        cleanupNeeded: true,
        lastSeq: active.lastSeq + 1,
      };
      await db.projections.put(revoked);
      expect(await rawView(id)).toMatchObject({
        status: 'revoked',
        dueAt: '2026-11-24T10:05:00.000Z',
        cleanup: 'needed',
      });
      await db.projections.put({ ...revoked, cleanupNeeded: false, lastSeq: revoked.lastSeq + 1 });
      expect(await rawView(id)).not.toHaveProperty('cleanup');
    });

    it('returns undefined for unknown ids and never returns an awaiting item as a grant', async () => {
      const { views, id } = await pendingFlow();
      await db.projections.put(views[0] as Grant);
      expect(await db.projections.get('tb-nothing')).toBeUndefined();
      expect(await db.projections.get(awaitingKey(id, 'group:secops'))).toBeUndefined();
    });
  });

  describe('Method: markPublished', () => {
    it('advances only from the expected value, and never creates an item', async () => {
      const { views, id } = await pendingFlow();
      await db.projections.markPublished(id, 0, 1); // no item yet: no-op
      expect(await rawView(id)).toBeUndefined();
      await db.projections.put(views[0] as Grant);
      await db.projections.markPublished(id, 0, 1);
      await db.projections.markPublished(id, 0, 5); // stale: no-op
      expect((await db.projections.get(id))?.publishedSeq).toBe(1);
      await db.projections.markPublished(id, 1, 3);
      expect((await db.projections.get(id))?.publishedSeq).toBe(3);
    });
  });

  describe('Method: list*', () => {
    it('lists awaiting approvals by group or principal while pending, and forgets them after', async () => {
      const { views, id } = await pendingFlow();
      await db.projections.put(views[0] as Grant);
      expect((await db.projections.listAwaitingApproval(['group:secops'])).map((g) => g.id)).toEqual([id]);
      expect(await db.projections.listAwaitingApproval(['group:sre', 'carol@corp.com'])).toEqual([]);
      await db.projections.put(views[views.length - 1] as Grant); // active
      expect(await db.projections.listAwaitingApproval(['group:secops'])).toEqual([]);
      const items = await db.doc.send(new ScanCommand({ TableName: db.names.grants }));
      expect(items.Items?.map((i) => i.grantId)).toEqual([id]);
    });

    it('ignores and removes a stale awaiting item left by a lost race', async () => {
      const { views, id } = await pendingFlow();
      await db.projections.put(views[views.length - 1] as Grant);
      await db.doc.send(
        new PutCommand({
          TableName: db.names.grants,
          Item: {
            grantId: awaitingKey(id, 'group:secops'),
            awaitingSubject: 'group:secops',
            requestedAt: 'x',
            ref: id,
          },
        }),
      );
      expect(await db.projections.listAwaitingApproval(['group:secops'])).toEqual([]);
      expect(
        (
          await db.doc.send(
            new GetCommand({ TableName: db.names.grants, Key: { grantId: awaitingKey(id, 'group:secops') } }),
          )
        ).Item,
      ).toBeUndefined();
    });

    it('lists by requester (newest first), by status, due grants and cleanup', async () => {
      const w = world();
      const first = (await w.service.request(alice, requestDummy())).grant; // active, expires 10:30
      w.clock.advance(MIN);
      const second = (await w.service.request(alice, adminScope)).grant; // pending until 10:21
      w.clock.advance(MIN);
      const third = (await w.service.request(bob, requestDummy({ duration: 10 * MIN }))).grant; // active, expires 10:12
      await w.service.revoke(third.id, bob, 'done'); // revoked; aws-role fake => cleanup done
      for (const g of [first, second, third]) await db.projections.put(await w.service.load(g.id));

      expect((await db.projections.listByRequester('alice@corp.com')).map((g) => g.id)).toEqual([second.id, first.id]);
      expect((await db.projections.listByRequester('alice@corp.com', { limit: 1 })).map((g) => g.id)).toEqual([
        second.id,
      ]);
      expect((await db.projections.listByStatus('active')).map((g) => g.id)).toEqual([first.id]);
      expect((await db.projections.listByStatus('revoked')).map((g) => g.id)).toEqual([third.id]);

      expect(await db.projections.listDue('active', new Date('2026-11-24T10:29:59.999Z'))).toEqual([]);
      expect((await db.projections.listDue('active', new Date('2026-11-24T10:30:00.000Z'))).map((g) => g.id)).toEqual([
        first.id,
      ]);
      expect((await db.projections.listDue('pending', new Date('2026-11-24T10:21:00.000Z'))).map((g) => g.id)).toEqual([
        second.id,
      ]);
      expect(await db.projections.listDue('approved', new Date('2030-01-01T00:00:00Z'))).toEqual([]);

      expect(await db.projections.listCleanupNeeded()).toEqual([]);
      const dirty = await w.service.load(first.id);
      await db.projections.put({
        ...dirty,
        status: 'expired',
        endedAt: '2026-11-24T10:30:00.000Z',
        cleanupNeeded: true,
        lastSeq: dirty.lastSeq + 1,
      });
      expect((await db.projections.listCleanupNeeded()).map((g) => g.id)).toEqual([first.id]);
    });

    it('refuses a nonsense limit', async () => {
      await expect(db.projections.listByStatus('active', { limit: 0 })).rejects.toMatchObject({
        code: 'QUERY.BAD_LIMIT',
      });
    });
  });
});

/** Appends wait at the gate until `n` writers have arrived, so they race on the same sequence number. */
class GatedEventStore extends DynamoEventStore {
  gate?: (e: GrantEvent) => Promise<void>;
  override async append(e: GrantEvent): Promise<void> {
    await this.gate?.(e);
    return super.append(e);
  }
}

describe('Class: GrantService over DynamoDB', () => {
  function dynamoWorld() {
    const clock = new ManualClock('2026-11-24T10:00:00Z');
    const events = new GatedEventStore(db.doc, db.names.events);
    const log = new RecordingLog();
    let failProjection = 0;
    const projections = db.projections;
    const flaky = Object.create(projections) as typeof projections;
    flaky.put = async (g: Grant, published?: { from: number; to: number }) => {
      if (failProjection > 0) {
        failProjection--;
        throw new Error('injected projection failure');
      }
      return projections.put(g, published);
    };
    const service = grantServiceOver({
      events,
      projections: flaky,
      providers: { 'aws-role': new FakeProvider('aws-role'), grpc: new FakeProvider('grpc') },
      clock,
      log,
    });
    return { clock, events, log, service, failProjections: (n: number) => (failProjection = n) };
  }

  it('runs request, two racing approvals, credentials, revoke and verify through the real store', async () => {
    const w = dynamoWorld();
    const { grant } = await w.service.request(alice, adminScope);
    expect(grant.status).toBe('pending');
    expect((await db.projections.listAwaitingApproval(['group:secops'])).map((g) => g.id)).toEqual([grant.id]);

    w.events.gate = raceGate(2);
    const settled = await Promise.allSettled([w.service.approve(grant.id, carol), w.service.approve(grant.id, dan)]);
    w.events.gate = undefined;
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(w.log.lines.filter((l) => l.message === 'concurrent write, retrying')).toHaveLength(1);

    const active = await w.service.load(grant.id);
    expect(active.status).toBe('active');
    expect(active.approvals.map((a) => a.by).sort()).toEqual(['carol@corp.com', 'dan@corp.com']);
    await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done early');

    const stored = await db.events.read(grant.id);
    expect(stored.map((e) => e.type)).toEqual([
      'requested',
      'approved',
      'approved',
      'activated',
      'credentials-issued',
      'revoked',
      'access-removed',
    ]);
    expect(verifyChain(grant.id, stored).ok).toBe(true);
    expect(await w.service.verify(grant.id, alice)).toMatchObject({ ok: true, events: 7 });
    expect(await db.projections.get(grant.id)).toMatchObject({ status: 'revoked', lastSeq: 7, cleanupNeeded: false });
    expect(await db.projections.listAwaitingApproval(['group:secops'])).toEqual([]);
  });

  it('lets the sweeper repair a projection that missed its writes, then expire the grant', async () => {
    const w = dynamoWorld();
    w.failProjections(2);
    const { grant } = await w.service.request(alice, requestDummy());
    expect(await db.projections.get(grant.id)).toBeUndefined();
    w.clock.advance(30 * MIN);
    const report = await w.service.sweep();
    expect(report).toMatchObject({ repaired: 1, expired: 1, failures: 0 });
    const view = await db.projections.get(grant.id);
    expect(view).toMatchObject({ status: 'expired', lastSeq: 3 });
    expect(view?.publishedSeq).toBe(3);
  });
});

describe('Method: DynamoProjectionStore.put with a bus position', () => {
  it('records publication in the same write only when the bus is exactly where the write says it starts', async () => {
    const [first, second] = await realStream();
    const grant = { id: (first as GrantEvent).grantId };
    const v1 = foldGrant([first as GrantEvent]);
    const v2 = foldGrant([first as GrantEvent, second as GrantEvent]);
    const store = db.projections;
    // A new item published from 0: recorded.
    await store.put(v1, { from: 0, to: 1 });
    expect((await store.get(grant.id))?.publishedSeq).toBe(1);
    // The next write claims the bus was at 0, but it is at 1: the view is written, the position left alone.
    await store.put(v2, { from: 0, to: 2 });
    expect(await store.get(grant.id)).toMatchObject({ lastSeq: 2, publishedSeq: 1 });
    // A stale view loses quietly whatever it says about the bus.
    await store.put(v1, { from: 1, to: 5 });
    expect(await store.get(grant.id)).toMatchObject({ lastSeq: 2, publishedSeq: 1 });
  });
});
