import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  ThrottlingException,
} from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { batchEntries, EventBridgePublisher, entrySize, MAX_CALL_BYTES } from '../../../adapters/aws/eventbridge';
import { DETAIL_TYPES, lifecycleDetail } from '../../../adapters/notify/detail';
import type { GrantEvent } from '../../../core/grant/events';
import { foldGrant } from '../../../core/grant/state';
import { alice, carol, dan, requestDummy, world } from '../../helpers/world';

const BUS = 'timebox';

function setup(opts: { maxAttempts?: number } = {}) {
  const client = new EventBridgeClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const mock = mockClient(client);
  const sleeps: number[] = [];
  const publisher = new EventBridgePublisher(client, {
    busName: BUS,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...opts,
  });
  return { mock, publisher, sleeps };
}

/** A real stream: alice asks for break-glass access, carol and dan approve, it activates and is revoked. */
async function stream(): Promise<GrantEvent[]> {
  const w = world();
  const { grant } = await w.service.request(
    alice,
    requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000, ticket: 'INC-9' }),
  );
  await w.service.approve(grant.id, carol, 'looks right');
  await w.service.approve(grant.id, dan);
  await w.service.issueCredentials(grant.id, alice, 'token');
  await w.service.revoke(grant.id, carol, 'done early');
  return w.events.read(grant.id);
}

const accepted = (n: number, prefix = 'ev') => ({
  FailedEntryCount: 0,
  Entries: Array.from({ length: n }, (_, i) => ({ EventId: `${prefix}-${i}` })),
});

describe('Function: entrySize', () => {
  it('counts Time as 14 bytes and Source, DetailType, Detail and Resources as UTF-8 bytes', () => {
    // Prepare
    const entry: PutEventsRequestEntry = {
      Source: 'timebox',
      DetailType: 'Timebox Grant Requested',
      Detail: '{"reason":"café"}',
      Resources: ['arn:x'],
      Time: new Date(),
    };
    // Act + Assess: 14 + 7 + 23 + 18 (é is two bytes) + 5
    expect(entrySize(entry)).toBe(14 + 7 + 23 + 18 + 5);
  });
});

describe('Function: batchEntries', () => {
  it('keeps at most 10 entries per call, in order', () => {
    const entries = Array.from({ length: 23 }, (_, i) => ({
      Source: 'timebox',
      DetailType: 'x',
      Detail: `{"i":${i}}`,
    }));
    const batches = batchEntries(entries);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3]);
    expect(batches.flat()).toEqual(entries);
  });

  it('starts a new call before the entries of one call would exceed 256 KB', () => {
    const big = (i: number) => ({ Source: 'timebox', DetailType: 'x', Detail: `"${'a'.repeat(100 * 1024)}${i}"` });
    const batches = batchEntries([big(1), big(2), big(3)]);
    expect(batches.map((b) => b.length)).toEqual([2, 1]);
    for (const b of batches) expect(b.reduce((n, e) => n + entrySize(e), 0)).toBeLessThanOrEqual(MAX_CALL_BYTES);
  });
});

describe('Class: EventBridgePublisher', () => {
  describe('Method: publish', () => {
    it('puts one entry per event on the bus with source timebox, a detail type per event type and a versioned detail', async () => {
      // Prepare
      const { mock, publisher } = setup();
      const events = await stream();
      const grant = foldGrant(events);
      mock.on(PutEventsCommand).callsFake((input) => accepted(input.Entries.length));

      // Act
      await publisher.publish(events, grant);

      // Assess
      const sent = mock.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
      expect(sent.map((e) => e.DetailType)).toEqual(events.map((e) => DETAIL_TYPES[e.type]));
      expect(sent.map((e) => e.DetailType)).toContain('Timebox Credentials Issued');
      expect(new Set(sent.map((e) => e.Source))).toEqual(new Set(['timebox']));
      expect(new Set(sent.map((e) => e.EventBusName))).toEqual(new Set([BUS]));
      const first = JSON.parse(sent[0]?.Detail ?? '{}');
      expect(first).toMatchObject({
        version: 1,
        grantId: grant.id,
        seq: 1,
        type: 'requested',
        at: events[0]?.at,
        actor: { id: 'alice@corp.com', kind: 'principal' },
        target: 'user-service',
        data: { decision: 'needs-approval', rule: 'admin-break-glass' },
        grant: {
          status: 'revoked',
          requester: 'alice@corp.com',
          ticket: 'INC-9',
          approval: { count: 2, from: ['group:secops'] },
          approvals: [{ by: 'carol@corp.com', comment: 'looks right' }, { by: 'dan@corp.com' }],
        },
      });
      expect(sent[0]?.Time).toEqual(new Date(events[0]?.at ?? ''));
    });

    /** Publishes a whole grant's stream with every entry accepted; the details as sent, in order. */
    async function publishedDetails() {
      const { mock, publisher } = setup();
      const events = await stream();
      mock.on(PutEventsCommand).callsFake((input) => accepted(input.Entries.length));
      await publisher.publish(events, foldGrant(events));
      const details = mock
        .commandCalls(PutEventsCommand)
        .flatMap((c) => c.args[0].input.Entries ?? [])
        .map((e) => e.Detail ?? '');
      return { events, details };
    }

    it('never carries credentials, provider details or identity attributes', async () => {
      const { details } = await publishedDetails();
      const issued = details.map((d) => JSON.parse(d)).find((d) => d.type === 'credentials-issued');
      expect(issued.data).toEqual({ kind: 'token', expiresAt: expect.any(String) });
      for (const d of details) {
        expect(d).not.toContain('secret-');
        expect(d).not.toContain('"details"');
        expect(d).not.toContain('"attributes"');
        expect(d).not.toContain('requestHash');
      }
    });

    it("carries each event's chain hashes, so a copy kept outside the broker witnesses the record", async () => {
      const { events, details } = await publishedDetails();
      const sent = details.map((d) => JSON.parse(d));
      expect(sent.map((d) => [d.seq, d.hash, d.prevHash])).toEqual(events.map((e) => [e.seq, e.hash, e.prevHash]));
    });

    it('retries only the entries EventBridge failed, with backoff, until all are accepted', async () => {
      // Prepare: 3 events; the first call fails the 2nd and 3rd, the second call fails the 3rd again.
      const { mock, publisher, sleeps } = setup();
      const events = (await stream()).slice(0, 3);
      mock
        .on(PutEventsCommand)
        .resolvesOnce({
          FailedEntryCount: 2,
          Entries: [
            { EventId: 'a' },
            { ErrorCode: 'InternalFailure', ErrorMessage: 'x' },
            { ErrorCode: 'ThrottlingException', ErrorMessage: 'y' },
          ],
        })
        .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'b' }, { ErrorCode: 'InternalFailure' }] })
        .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'c' }] });

      // Act
      await publisher.publish(events, foldGrant(events));

      // Assess
      const calls = mock
        .commandCalls(PutEventsCommand)
        .map((c) => (c.args[0].input.Entries ?? []).map((e) => JSON.parse(e.Detail ?? '{}').seq));
      expect(calls).toEqual([[1, 2, 3], [2, 3], [3]]);
      expect(sleeps).toEqual([100, 200]);
    });

    it('throws a stable error naming the codes when entries still fail after the last attempt', async () => {
      const { mock, publisher, sleeps } = setup({ maxAttempts: 3 });
      const events = (await stream()).slice(0, 2);
      // EventBridge keeps refusing the second event, whatever else the call carries.
      mock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => {
        const results = input.Entries.map((e) =>
          JSON.parse(e.Detail ?? '{}').seq === 2
            ? { ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }
            : { EventId: 'ok' },
        );
        return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
      });
      await expect(publisher.publish(events, foldGrant(events))).rejects.toMatchObject({
        code: 'EVENTS.PUBLISH_FAILED',
        message: expect.stringContaining('1 of 2 events'),
      });
      expect(mock.commandCalls(PutEventsCommand)).toHaveLength(3);
      expect(sleeps).toHaveLength(2);
    });

    it('translates a refused call (throttled after the SDK retries)', async () => {
      const { mock, publisher } = setup();
      const events = (await stream()).slice(0, 1);
      mock.on(PutEventsCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: {} }));
      await expect(publisher.publish(events, foldGrant(events))).rejects.toMatchObject({ code: 'AWS.THROTTLED' });
    });

    it('keeps a grant with an enormous scope under 256 KB by dropping the scope, marked truncated', async () => {
      const { mock, publisher } = setup();
      const events = (await stream()).slice(0, 1);
      const grant = foldGrant(events);
      const huge = {
        ...grant,
        scope: { kind: 'grpc' as const, methods: Array.from({ length: 300 }, () => `/${'x'.repeat(1000)}`) },
      };
      mock.on(PutEventsCommand).callsFake((input) => accepted(input.Entries.length));
      await publisher.publish(events, huge);
      const entry = mock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0] as PutEventsRequestEntry;
      expect(entrySize(entry)).toBeLessThanOrEqual(MAX_CALL_BYTES);
      expect(JSON.parse(entry.Detail ?? '{}')).toMatchObject({ truncated: true, grant: { scope: null } });
    });
  });

  describe('Method: notice', () => {
    it('publishes a versioned notice with its own detail type', async () => {
      const { mock, publisher } = setup();
      mock.on(PutEventsCommand).resolves(accepted(1));
      await publisher.notice(
        'Timebox Slack Action Refused',
        { slackUserId: 'U999', action: 'approve' },
        new Date('2026-11-24T10:00:00Z'),
      );
      expect(mock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries).toEqual([
        {
          EventBusName: BUS,
          Source: 'timebox',
          DetailType: 'Timebox Slack Action Refused',
          Detail: JSON.stringify({ version: 1, slackUserId: 'U999', action: 'approve' }),
          Time: new Date('2026-11-24T10:00:00Z'),
        },
      ]);
    });
  });
});

describe('Function: lifecycleDetail', () => {
  it('describes each event with the grant as it stands, leaving out bookkeeping', async () => {
    const events = await stream();
    const grant = foldGrant(events);
    const d = lifecycleDetail(events[events.length - 1] as GrantEvent, grant);
    expect(Object.keys(d.grant)).not.toContain('lastHash');
    expect(Object.keys(d.grant)).not.toContain('publishedSeq');
    expect(d.grant.requester).toBe('alice@corp.com');
  });
});
