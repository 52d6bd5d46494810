import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConcurrencyError, UnavailableError, ValidationError } from '../../core/errors';
import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import type { EventPage, EventQuery, EventStore, ListOptions, ProjectionStore } from '../../core/ports';
import { backoff, retry } from '../../core/retry';
import * as z from '../zod';
import { awsCall, isAwsError, translateAwsError } from './errors';

/**
 * The DynamoDB store: an append-only events table (the source of truth) and a grants projection table, both
 * described in ./tables.ts. No transactions (dynalite has none): every write stands alone and is conditional.
 */

/** The document client every store uses: `undefined` members dropped (as canonical JSON drops them). */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

type Item = Record<string, unknown>;

/** Sort key of the audit indexes: time first, then stream and sequence, so ties keep a total order. */
export function eventAtKey(at: string, grantId: string, seq: number): string {
  return `${at}#${grantId}#${String(seq).padStart(10, '0')}`;
}

const EVENT_INDEX_ATTRIBUTES = ['day', 'atKey', 'actorId'] as const;
const MAX_PAGE = 1000;
/** One Query per UTC day on byTime: a year is the widest range one audit query may span. */
export const MAX_QUERY_DAYS = 366;
const DAY_MS = 86_400_000;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const storedEvent = z.looseObject({
  grantId: z.string().check(z.minLength(1)),
  seq: z.number().check(z.int(), z.positive()),
  at: z.string(),
  type: z.string(),
  hash: z.string(),
  prevHash: z.string(),
  actor: z.looseObject({ id: z.string() }),
  target: z.string(),
});

const cursorSchema = z.object({
  q: z.string(),
  p: z.number().check(z.int(), z.nonnegative()),
  k: z.optional(z.record(z.string(), z.union([z.string(), z.number()]))),
});

function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1)
    throw new ValidationError('QUERY.BAD_LIMIT', `limit must be a positive integer, got ${limit}`);
  return Math.min(limit, MAX_PAGE);
}

/** Append-only per-grant event streams on DynamoDB: conditional PutItem only, never Update/Delete. */
/** Query calls one audit page may make (see DynamoEventStore.query). */
export const MAX_QUERIES_PER_PAGE = 25;

export class DynamoEventStore implements EventStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Conditional put on (grantId, seq); an existing item becomes ConcurrencyError, nothing is overwritten. */
  async append(event: GrantEvent): Promise<void> {
    if (!ISO_INSTANT.test(event.at))
      throw new ValidationError('STORE.BAD_EVENT_TIME', `event time must be an ISO instant in UTC, got ${event.at}`);
    const item: Item = {
      ...event,
      day: event.at.slice(0, 10),
      atKey: eventAtKey(event.at, event.grantId, event.seq),
      actorId: event.actor.id,
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(grantId)',
        }),
      );
    } catch (e) {
      if (isAwsError(e, 'ConditionalCheckFailedException'))
        throw new ConcurrencyError(event.grantId, event.seq, { cause: e });
      throw translateAwsError(e, 'dynamodb:PutItem', this.tableName);
    }
  }

  /** The whole stream, strongly consistent, every page. */
  async read(grantId: string): Promise<GrantEvent[]> {
    if (!grantId) return [];
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'grantId = :g',
      ExpressionAttributeValues: { ':g': grantId },
      ConsistentRead: true,
    });
    return items.map((i) => toEvent(i, this.tableName));
  }

  /**
   * Audit query through the indexes: byActor (with an optional target filter) or byTarget, else byTime with one
   * Query per UTC day. Oldest first. The cursor is opaque base64 and bound to the filter it was issued for.
   */
  async query(f: EventQuery): Promise<EventPage> {
    const limit = clampLimit(f.limit, 100);
    if (Number.isNaN(f.since.getTime()) || Number.isNaN(f.until.getTime()))
      throw new ValidationError('QUERY.BAD_RANGE', 'since and until must be valid times');
    if (f.until.getTime() <= f.since.getTime()) return { events: [] };
    const parts = this.plan(f);
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([f.since.toISOString(), f.until.toISOString(), f.actor ?? '', f.target ?? '']))
      .digest('base64url')
      .slice(0, 16);
    const start = f.cursor ? decodeCursor(f.cursor, fingerprint) : { q: fingerprint, p: 0 };

    const events: GrantEvent[] = [];
    let part = start.p;
    let key = start.k;
    // A filter (actor + target) can read a whole partition to fill one page: a page makes at most this many Query
    // calls and then answers with what it has and a cursor, so no request's work is unbounded.
    let calls = 0;
    while (part < parts.length && events.length < limit && calls < MAX_QUERIES_PER_PAGE) {
      calls++;
      const p = parts[part] as QueryPart;
      const out = await awsCall('dynamodb:Query', this.tableName, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: p.index,
            KeyConditionExpression: '#h = :h AND atKey BETWEEN :lo AND :hi',
            ...(p.filterTarget ? { FilterExpression: '#t = :t' } : {}),
            ExpressionAttributeNames: { '#h': p.hashName, ...(p.filterTarget ? { '#t': 'target' } : {}) },
            ExpressionAttributeValues: {
              ':h': p.hashValue,
              // "<at>#..." sorts after "<at>", so BETWEEN since AND until keeps since <= at < until exactly.
              ':lo': f.since.toISOString(),
              ':hi': f.until.toISOString(),
              ...(p.filterTarget ? { ':t': p.filterTarget } : {}),
            },
            // Limit counts items evaluated, before the filter, so a page never overshoots what is left.
            Limit: limit - events.length,
            ...(key ? { ExclusiveStartKey: key } : {}),
          }),
        ),
      );
      for (const i of out.Items ?? []) events.push(toEvent(i, this.tableName));
      key = out.LastEvaluatedKey as Record<string, string | number> | undefined;
      if (!key) part++;
    }
    if (part >= parts.length) return { events };
    return { events, cursor: encodeCursor({ q: fingerprint, p: part, ...(key ? { k: key } : {}) }) };
  }

  private plan(f: EventQuery): QueryPart[] {
    if (f.actor)
      return [
        { index: 'byActor', hashName: 'actorId', hashValue: f.actor, ...(f.target ? { filterTarget: f.target } : {}) },
      ];
    if (f.target) return [{ index: 'byTarget', hashName: 'target', hashValue: f.target }];
    const first = Math.floor(f.since.getTime() / DAY_MS);
    const last = Math.floor((f.until.getTime() - 1) / DAY_MS);
    if (last - first + 1 > MAX_QUERY_DAYS)
      throw new ValidationError(
        'QUERY.RANGE_TOO_LONG',
        `an audit query without actor or target may span at most ${MAX_QUERY_DAYS} days`,
      );
    const parts: QueryPart[] = [];
    for (let d = first; d <= last; d++)
      parts.push({ index: 'byTime', hashName: 'day', hashValue: new Date(d * DAY_MS).toISOString().slice(0, 10) });
    return parts;
  }
}

interface QueryPart {
  index: 'byTime' | 'byActor' | 'byTarget';
  hashName: string;
  hashValue: string;
  filterTarget?: string;
}

function encodeCursor(c: z.infer<typeof cursorSchema>): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, fingerprint: string): z.infer<typeof cursorSchema> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const r = cursorSchema.safeParse(parsed);
  if (!r.success || r.data.q !== fingerprint)
    throw new ValidationError('QUERY.BAD_CURSOR', 'the cursor is not one this query returned');
  return r.data;
}

function toEvent(item: Item, table: string): GrantEvent {
  const r = storedEvent.safeParse(item);
  if (!r.success)
    throw new UnavailableError(
      'STORE.CORRUPT_ITEM',
      `an item in ${table} is not a grant event: ${r.error.issues[0]?.message}`,
    );
  const event: Item = { ...item };
  for (const a of EVENT_INDEX_ATTRIBUTES) delete event[a];
  return event as unknown as GrantEvent;
}

async function queryAll(doc: DynamoDBDocumentClient, input: QueryCommandInput, max = Number.POSITIVE_INFINITY) {
  const items: Item[] = [];
  let key: Record<string, unknown> | undefined;
  do {
    const out = await awsCall('dynamodb:Query', input.TableName, () =>
      doc.send(
        new QueryCommand({
          ...input,
          ...(Number.isFinite(max) ? { Limit: Math.min(MAX_PAGE, max - items.length) } : {}),
          ...(key ? { ExclusiveStartKey: key } : {}),
        }),
      ),
    );
    items.push(...((out.Items ?? []) as Item[]));
    key = out.LastEvaluatedKey;
  } while (key && items.length < max);
  return items;
}

// ---- projection ------------------------------------------------------------------------------------------

/** Optional Grant members: when a view lacks one, the stored item must lose it too, so the item equals the view. */
const OPTIONAL_GRANT_FIELDS = [
  'ticket',
  'startAt',
  'hours',
  'extends',
  'requestHash',
  'decidedAt',
  'decidedBy',
  'activatedAt',
  'expiresAt',
  'endedAt',
  'endedBy',
  'endReason',
  'lastCredentialExpiresAt',
] as const satisfies readonly (keyof Grant)[];

/** Attributes the projection adds for its indexes; never part of the Grant read back. */
const VIEW_INDEX_ATTRIBUTES = ['grantId', 'requesterId', 'dueAt', 'cleanup'] as const;
/** A pending grant without a pending deadline never falls due, but must still be listed by status. */
const NEVER = '9999-12-31T23:59:59.999Z';
const AWAITING = '#awaiting#';

/** The due time the sweeper's `listDue` compares, by status (tables.ts: GRANTS_TABLE). */
export function dueAtOf(g: Grant): string {
  if (g.status === 'pending') return g.pendingUntil ?? NEVER;
  if (g.status === 'approved') return g.startAt ?? g.requestedAt;
  if (g.status === 'active') return g.expiresAt ?? NEVER;
  return g.endedAt ?? g.updatedAt;
}

/** Key of the item that lists a pending grant under one approver subject. */
export function awaitingKey(grantId: string, subject: string): string {
  return `${grantId}${AWAITING}${subject}`;
}

/** The grants projection: one view item per grant, monotonic in `lastSeq`, plus "awaiting" items while pending. */
export class DynamoProjectionStore implements ProjectionStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Monotonic UpdateItem: a writer holding an older or equal `lastSeq` loses quietly. Never touches publishedSeq. */
  async put(view: Grant, published?: { from: number; to: number }): Promise<void> {
    const { publishedSeq: _published, ...fields } = view;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    let n = 0;
    const set = (attr: string, value: unknown) => {
      names[`#a${n}`] = attr;
      values[`:v${n}`] = value;
      sets.push(`#a${n} = :v${n}`);
      n++;
    };
    const remove = (attr: string) => {
      names[`#a${n}`] = attr;
      removes.push(`#a${n}`);
      n++;
    };
    const present = new Set<string>();
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      present.add(k);
      set(k, v);
    }
    for (const k of OPTIONAL_GRANT_FIELDS) if (!present.has(k)) remove(k);
    set('requesterId', view.requester.id);
    set('dueAt', dueAtOf(view));
    if (view.cleanupNeeded) set('cleanup', 'needed');
    else remove('cleanup');
    names['#pub'] = 'publishedSeq';
    names['#seq'] = 'lastSeq';
    values[':seq'] = view.lastSeq;
    const update = (withPublished: boolean) => {
      const v = { ...values };
      let pub = '#pub = if_not_exists(#pub, :zero)';
      let condition = 'attribute_not_exists(#seq) OR #seq < :seq';
      if (withPublished && published) {
        // Recorded only when the bus is exactly at `from`: a gap left by an earlier failed publish stays visible.
        v[':to'] = published.to;
        v[':from'] = published.from;
        pub = '#pub = :to';
        condition =
          published.from === 0
            ? 'attribute_not_exists(#seq) OR (#seq < :seq AND #pub = :from)'
            : '#seq < :seq AND #pub = :from';
      } else v[':zero'] = 0;
      return new UpdateCommand({
        TableName: this.tableName,
        Key: { grantId: view.id },
        UpdateExpression: `SET ${[...sets, pub].join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: v,
        ReturnValues: 'UPDATED_OLD',
      });
    };

    let oldStatus: string | undefined;
    for (const withPublished of published ? [true, false] : [false]) {
      try {
        const out = await this.doc.send(update(withPublished));
        const old = out.Attributes?.status;
        oldStatus = typeof old === 'string' ? old : undefined;
        await this.syncAwaiting(view, oldStatus);
        return;
      } catch (e) {
        if (!isAwsError(e, 'ConditionalCheckFailedException'))
          throw translateAwsError(e, 'dynamodb:UpdateItem', this.tableName);
        // Either the bus position did not match (try again without it) or a newer view is stored: this writer is
        // stale and loses, quietly (ProjectionStore contract).
      }
    }
  }

  /**
   * Awaiting items follow the view: written while pending, deleted when the grant leaves pending. They are written
   * only after the view write succeeded; a stale one left by a race is ignored and removed by listAwaitingApproval,
   * which always checks the view.
   */
  private async syncAwaiting(view: Grant, oldStatus: string | undefined): Promise<void> {
    const subjects = view.approval?.from ?? [];
    if (subjects.length === 0) return;
    if (view.status === 'pending') {
      for (const subject of subjects) {
        await awsCall('dynamodb:PutItem', this.tableName, () =>
          this.doc.send(
            new PutCommand({
              TableName: this.tableName,
              Item: {
                grantId: awaitingKey(view.id, subject),
                awaitingSubject: subject,
                requestedAt: view.requestedAt,
                ref: view.id,
              },
            }),
          ),
        );
      }
    } else if (oldStatus === undefined || oldStatus === 'pending') {
      await this.deleteAwaiting(view.id, subjects);
    }
  }

  private async deleteAwaiting(grantId: string, subjects: string[]): Promise<void> {
    for (const subject of subjects) {
      await awsCall('dynamodb:DeleteItem', this.tableName, () =>
        this.doc.send(
          new DeleteCommand({ TableName: this.tableName, Key: { grantId: awaitingKey(grantId, subject) } }),
        ),
      );
    }
  }

  /** The view (strongly consistent), with its publishedSeq; undefined when absent. */
  async get(grantId: string): Promise<Grant | undefined> {
    if (!grantId || grantId.includes(AWAITING)) return undefined;
    const out = await awsCall('dynamodb:GetItem', this.tableName, () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: { grantId }, ConsistentRead: true })),
    );
    return out.Item ? toGrant(out.Item) : undefined;
  }

  /** A requester's grants, newest request first (byRequester). */
  async listByRequester(principalId: string, opts?: ListOptions): Promise<Grant[]> {
    return this.list(
      {
        IndexName: 'byRequester',
        KeyConditionExpression: 'requesterId = :r',
        ExpressionAttributeValues: { ':r': principalId },
        ScanIndexForward: false,
      },
      opts,
    );
  }

  /** Pending grants awaiting any of these subjects (byAwaiting), newest request first; stale entries are dropped. */
  async listAwaitingApproval(subjects: string[], opts?: ListOptions): Promise<Grant[]> {
    const limit = clampLimit(opts?.limit, 1000);
    const refs = new Map<string, Set<string>>();
    for (const subject of new Set(subjects)) {
      if (!subject) continue;
      const items = await queryAll(
        this.doc,
        {
          TableName: this.tableName,
          IndexName: 'byAwaiting',
          KeyConditionExpression: 'awaitingSubject = :s',
          ExpressionAttributeValues: { ':s': subject },
          ScanIndexForward: false,
        },
        10 * limit,
      );
      for (const i of items) {
        if (typeof i.ref !== 'string') continue;
        refs.set(i.ref, (refs.get(i.ref) ?? new Set()).add(subject));
      }
    }
    const views = await this.batchGet([...refs.keys()]);
    const out: Grant[] = [];
    for (const [id, subs] of refs) {
      const g = views.get(id);
      if (g?.status === 'pending') out.push(g);
      else if (g) await this.deleteAwaiting(id, [...subs]);
    }
    return out.sort((a, b) => b.requestedAt.localeCompare(a.requestedAt)).slice(0, limit);
  }

  /** Grants in `status` due at or before `dueBefore`, most overdue first (byStatus, dueAt <= :before). */
  async listDue(status: 'pending' | 'approved' | 'active', dueBefore: Date, opts?: ListOptions): Promise<Grant[]> {
    return this.list(
      {
        IndexName: 'byStatus',
        KeyConditionExpression: '#s = :s AND dueAt <= :before',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': status, ':before': dueBefore.toISOString() },
        ScanIndexForward: true,
      },
      opts,
    );
  }

  /** Grants in a status, latest due time first (for terminal grants: most recently ended first). */
  async listByStatus(status: Grant['status'], opts?: ListOptions): Promise<Grant[]> {
    return this.list(
      {
        IndexName: 'byStatus',
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': status },
        ScanIndexForward: false,
      },
      opts,
    );
  }

  /** Grants whose cloud-side cleanup is outstanding, longest waiting first (sparse byCleanup index). */
  async listCleanupNeeded(opts?: ListOptions): Promise<Grant[]> {
    return this.list(
      {
        IndexName: 'byCleanup',
        KeyConditionExpression: 'cleanup = :c',
        ExpressionAttributeValues: { ':c': 'needed' },
        ScanIndexForward: true,
      },
      opts,
    );
  }

  /** Advances publishedSeq from exactly `fromSeq` to `toSeq`; a no-op otherwise or when the view is absent. */
  async markPublished(grantId: string, fromSeq: number, toSeq: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { grantId },
          UpdateExpression: 'SET publishedSeq = :to',
          ConditionExpression: 'publishedSeq = :from',
          ExpressionAttributeValues: { ':from': fromSeq, ':to': toSeq },
        }),
      );
    } catch (e) {
      if (isAwsError(e, 'ConditionalCheckFailedException')) return;
      throw translateAwsError(e, 'dynamodb:UpdateItem', this.tableName);
    }
  }

  private async list(q: Omit<QueryCommandInput, 'TableName'>, opts?: ListOptions): Promise<Grant[]> {
    const limit = clampLimit(opts?.limit, 1000);
    const items = await queryAll(this.doc, { TableName: this.tableName, ...q }, limit);
    return items.map(toGrant).filter((g): g is Grant => g !== undefined);
  }

  private async batchGet(ids: string[]): Promise<Map<string, Grant>> {
    const found = new Map<string, Grant>();
    // BatchGetItem takes at most 100 keys per call and may hand back some as UnprocessedKeys under load.
    for (let i = 0; i < ids.length; i += 100) {
      let keys: Record<string, unknown>[] = ids.slice(i, i + 100).map((grantId) => ({ grantId }));
      await retry(
        async () => {
          const out = await awsCall('dynamodb:BatchGetItem', this.tableName, () =>
            this.doc.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } })),
          );
          for (const item of out.Responses?.[this.tableName] ?? []) {
            const g = toGrant(item);
            if (g) found.set(g.id, g);
          }
          keys = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
          if (keys.length > 0) throw UNPROCESSED;
        },
        {
          attempts: 8,
          retryable: (e) => e === UNPROCESSED,
          delay: backoff({ baseMs: 20, maxMs: Number.POSITIVE_INFINITY, jitter: 'none' }),
          sleep,
          exhausted: () =>
            new UnavailableError('AWS.THROTTLED', 'dynamodb:BatchGetItem kept returning unprocessed keys'),
        },
      );
    }
    return found;
  }
}

/** Thrown inside batchGet's retry while keys are left unprocessed. */
const UNPROCESSED = new Error('unprocessed keys');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function toGrant(item: Item): Grant | undefined {
  if (typeof item.lastSeq !== 'number' || typeof item.id !== 'string' || 'awaitingSubject' in item) return undefined;
  const g: Item = { ...item };
  for (const a of VIEW_INDEX_ATTRIBUTES) delete g[a];
  return g as unknown as Grant;
}
