import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgePublisher } from '../../../adapters/aws/eventbridge';
import { UserDirectory } from '../../../adapters/notify/config';
import type { HttpClient } from '../../../adapters/notify/http';
import { ACTION_APPROVE } from '../../../adapters/notify/messages';
import { Notifier } from '../../../adapters/notify/notifier';
import type { SlackMessage, SlackPoster } from '../../../adapters/notify/slack';
import { foldGrant } from '../../../core/grant/state';
import { createNotifierHandler, REMINDERS_INPUT } from '../../../lambdas/notifier/handler';
import { alice, carol, requestDummy, world } from '../../helpers/world';

class Poster implements SlackPoster {
  readonly directMessages = true;
  readonly posts: { to: string; message: SlackMessage }[] = [];
  fail = false;
  async post(to: string, message: SlackMessage) {
    if (this.fail) throw new Error('slack is down');
    this.posts.push({ to, message });
  }
}

/**
 * The bus end to end, minus AWS: what the EventBridge publisher puts is wrapped the way EventBridge delivers a
 * matched event to a Lambda target, and handed to the notifier handler.
 */
async function setup() {
  const w = world();
  const client = new EventBridgeClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const mock = mockClient(client);
  mock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map((_, i) => ({ EventId: `id-${i}` })),
  }));
  const publisher = new EventBridgePublisher(client, { busName: 'timebox', sleep: async () => {} });
  const poster = new Poster();
  const http: HttpClient = async () => ({ status: 200, headers: {}, body: '' });
  const notifier = new Notifier({
    slack: { poster, channel: 'C0APPROVALS', interactive: true },
    users: async () => new UserDirectory({ U0ALICE: 'alice@corp.com' }),
    webhooks: async () => [],
    http,
    clock: w.clock,
    log: w.log,
  });
  const handler = createNotifierHandler({ notifier, projections: w.projections, log: w.log });
  /** The events of a grant as the Lambda target receives them from the bus. */
  const delivered = async (grantId: string) => {
    const events = await w.events.read(grantId);
    mock.resetHistory();
    await publisher.publish(events, foldGrant(events));
    return mock
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries ?? [])
      .map((e, i) => ({
        version: '0',
        id: `6a7e8feb-b491-4cf7-a9f1-bf3703467718-${i}`,
        'detail-type': e.DetailType,
        source: e.Source,
        account: '111122223333',
        time: e.Time?.toISOString(),
        region: 'eu-west-1',
        resources: [],
        detail: JSON.parse(e.Detail ?? '{}'),
      }));
  };
  return { w, poster, handler, delivered };
}

describe('Handler: notifier', () => {
  it('posts the approval request from the bus event to the channel, with buttons', async () => {
    const { w, poster, handler, delivered } = await setup();
    const { grant } = await w.service.request(
      alice,
      requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
    );
    const [requested] = await delivered(grant.id);
    const out = await handler(requested);
    expect(out).toMatchObject({ outcome: 'notified', grantId: grant.id, seq: 1 });
    expect(poster.posts.map((p) => p.to)).toEqual(['C0APPROVALS']);
    expect(JSON.stringify(poster.posts[0]?.message)).toContain(ACTION_APPROVE);
  });

  it('tells the requester about a decision by direct message', async () => {
    const { w, poster, handler, delivered } = await setup();
    const { grant } = await w.service.request(
      alice,
      requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
    );
    await w.service.approve(grant.id, carol);
    const events = await delivered(grant.id);
    await handler(events[1]);
    expect(poster.posts.map((p) => p.to)).toEqual(['C0APPROVALS', 'U0ALICE']);
  });

  it('throws when a notice cannot be delivered, so Lambda retries the event and then dead-letters it', async () => {
    const { w, poster, handler, delivered } = await setup();
    const { grant } = await w.service.request(alice, requestDummy());
    const [requested] = await delivered(grant.id);
    poster.fail = true;
    await expect(handler(requested)).rejects.toMatchObject({ code: 'NOTIFY.DELIVERY_FAILED' });
  });

  it('sends reminders when the schedule fires', async () => {
    const { w, poster, handler } = await setup();
    await w.service.request(alice, requestDummy({ duration: 20 * 60_000 }));
    w.clock.advance(5 * 60_000);
    expect(await handler(REMINDERS_INPUT)).toMatchObject({ outcome: 'reminded' });
    expect(poster.posts.map((p) => p.to)).toEqual(['U0ALICE']);
  });

  it('drops what is not a Timebox lifecycle event, with a log line, without retrying', async () => {
    const { w, handler, poster } = await setup();
    expect(await handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({
      outcome: 'dropped',
      reason: 'malformed event',
    });
    expect(
      await handler({ source: 'timebox', 'detail-type': 'Timebox Grant Requested', detail: { version: 2 } }),
    ).toMatchObject({ outcome: 'dropped' });
    expect(poster.posts).toEqual([]);
    expect(w.log.lines.filter((l) => l.message === 'malformed bus event dropped')).toHaveLength(2);
  });
});
