import { describe, expect, it } from '@jest/globals';
import type { HttpClient, HttpRequest } from '../../../adapters/notify/http';
import { attachLocalNotifications, localNotifier, NotifyingPublisher } from '../../../adapters/notify/local';
import { ACTION_APPROVE } from '../../../adapters/notify/messages';
import { verifyWebhookSignature } from '../../../adapters/notify/signatures';
import { foldGrant } from '../../../core/grant/state';
import type { EventPublisher } from '../../../core/ports';
import { alice, requestDummy, world } from '../../helpers/world';

const SECRET = 'local-secret-local-secret-local-secret';

function recorder(status = 200) {
  const requests: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    requests.push(req);
    return { status, headers: {}, body: 'ok' };
  };
  return { http, requests };
}

describe('Function: localNotifier', () => {
  it('is off when nothing is configured', () => {
    const w = world();
    expect(localNotifier({}, { log: w.log })).toBeUndefined();
  });

  it('posts to an incoming webhook without buttons (Slack cannot reach a loopback broker) and signs webhooks', async () => {
    const w = world();
    const { http, requests } = recorder();
    const notifier = localNotifier(
      {
        TIMEBOX_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/xyz',
        TIMEBOX_SLACK_USERS: '{"U0ALICE":"alice@corp.com"}',
        TIMEBOX_WEBHOOKS: JSON.stringify([{ name: 'dev', url: 'http://127.0.0.1:9000/hook', secret: SECRET }]),
      },
      { log: w.log, clock: w.clock, http },
    );
    const { grant } = await w.service.request(
      alice,
      requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
    );
    const events = await w.events.read(grant.id);
    await new NotifyingPublisher(notifier as NonNullable<typeof notifier>).publish(events, foldGrant(events));
    expect(requests.map((r) => r.url)).toEqual([
      'https://hooks.slack.com/services/T0/B0/xyz',
      'http://127.0.0.1:9000/hook',
    ]);
    expect(requests[0]?.body).not.toContain(ACTION_APPROVE);
    expect(requests[0]?.body).toContain(`timebox approve ${grant.id}`);
    expect(requests[0]?.body).toContain('<@U0ALICE>');
    const hook = requests[1] as HttpRequest;
    expect(
      verifyWebhookSignature({
        header: hook.headers['timebox-signature'],
        body: hook.body,
        secret: SECRET,
        now: w.clock.now(),
      }),
    ).toEqual({ ok: true });
  });

  it('reads a settings file, with the environment taking precedence', async () => {
    // Prepare: the file names a bot token, a channel and a user map; the environment overrides the last two
    const w = world();
    const files: Record<string, string> = {
      '/etc/timebox/notify.json': JSON.stringify({
        slack: { botToken: 'xoxb-from-file', channel: 'C0FILE' },
        slackUsers: { U0FILE: 'alice@corp.com' },
      }),
    };
    const requests: HttpRequest[] = [];
    const http: HttpClient = async (req) => {
      requests.push(req);
      return { status: 200, headers: {}, body: '{"ok":true}' };
    };
    const n = localNotifier(
      {
        TIMEBOX_NOTIFY_CONFIG: '/etc/timebox/notify.json',
        TIMEBOX_SLACK_CHANNEL: 'C0ENV',
        TIMEBOX_SLACK_USERS: '{"U0ENV":"alice@corp.com"}',
      },
      { log: w.log, clock: w.clock, http, readFile: (p) => files[p] as string },
    );
    const { grant } = await w.service.request(
      alice,
      requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
    );
    const events = await w.events.read(grant.id);
    // Act
    await new NotifyingPublisher(n as NonNullable<typeof n>).publish(events, foldGrant(events));
    // Assess: the file's token, the environment's channel and users
    const posts = requests.map((r) => ({ auth: r.headers.authorization, body: JSON.parse(r.body) }));
    expect(posts.length).toBeGreaterThan(0);
    expect(posts.every((p) => p.auth === 'Bearer xoxb-from-file')).toBe(true);
    expect(posts.map((p) => p.body.channel)).toContain('C0ENV');
    expect(posts.map((p) => p.body.channel)).not.toContain('C0FILE');
    const text = requests.map((r) => r.body).join('\n');
    expect(text).toContain('<@U0ENV>');
    expect(text).not.toContain('U0FILE');
  });

  it('refuses malformed settings naming the variable, never echoing a secret', () => {
    const w = world();
    expect(() => localNotifier({ TIMEBOX_SLACK_USERS: '{"alice":"alice@corp.com"}' }, { log: w.log })).toThrow(
      /TIMEBOX_SLACK_USERS/,
    );
    let message = '';
    try {
      localNotifier(
        { TIMEBOX_WEBHOOKS: JSON.stringify([{ name: 'x', url: 'http://example.com', secret: 'short-secret' }]) },
        { log: w.log },
      );
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('TIMEBOX_WEBHOOKS');
    expect(message).not.toContain('short-secret');
    expect(() => localNotifier({ TIMEBOX_SLACK_BOT_TOKEN: 'xoxb-1' }, { log: w.log })).toThrow(/TIMEBOX_SLACK_CHANNEL/);
  });
});

describe('Function: attachLocalNotifications', () => {
  it('adds the notifier as a publisher of the running broker, and stops its reminder timer', () => {
    const w = world();
    const added: EventPublisher[] = [];
    const runtime = {
      addPublisher: (p: EventPublisher) => added.push(p),
      store: { projections: w.projections },
      log: w.log,
    };
    expect(attachLocalNotifications(runtime, {})).toBeUndefined();
    const attached = attachLocalNotifications(runtime, {
      TIMEBOX_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/x',
    });
    expect(added).toHaveLength(1);
    expect(added[0]).toBeInstanceOf(NotifyingPublisher);
    attached?.stop();
  });

  it('throws from the publisher when a notice fails, so the local service logs it', async () => {
    const w = world();
    const { http } = recorder(500);
    const notifier = localNotifier(
      { TIMEBOX_WEBHOOKS: JSON.stringify([{ name: 'dev', url: 'https://hooks.example/x', secret: SECRET }]) },
      { log: w.log, http },
    );
    const { grant } = await w.service.request(alice, requestDummy());
    const events = await w.events.read(grant.id);
    await expect(
      new NotifyingPublisher(notifier as NonNullable<typeof notifier>).publish(events.slice(0, 1), foldGrant(events)),
    ).rejects.toMatchObject({ code: 'NOTIFY.DELIVERY_FAILED' });
  });
});
