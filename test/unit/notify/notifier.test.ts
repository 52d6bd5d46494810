import { describe, expect, it } from '@jest/globals';
import { type SignedWebhook, UserDirectory } from '../../../adapters/notify/config';
import { lifecycleDetail } from '../../../adapters/notify/detail';
import type { HttpClient, HttpRequest } from '../../../adapters/notify/http';
import { ACTION_APPROVE } from '../../../adapters/notify/messages';
import { Notifier } from '../../../adapters/notify/notifier';
import { verifyWebhookSignature } from '../../../adapters/notify/signatures';
import type { SlackMessage, SlackPoster } from '../../../adapters/notify/slack';
import type { GrantEvent } from '../../../core/grant/events';
import { foldGrant } from '../../../core/grant/state';
import { principal } from '../../../core/principal';
import { alice, carol, dan, requestDummy, world } from '../../helpers/world';

const WEBHOOK_SECRET = 'whsec-0123456789abcdef0123456789abcdef';

class FakePoster implements SlackPoster {
  readonly posts: { to: string; message: SlackMessage }[] = [];
  failNext = 0;
  constructor(readonly directMessages: boolean) {}
  async post(to: string, message: SlackMessage) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('slack is down');
    }
    this.posts.push({ to, message });
  }
}

/** An HTTP client that records requests and answers from a script (default 200). */
function fakeHttp(script: number[] = []) {
  const requests: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    requests.push(req);
    return { status: script.shift() ?? 200, headers: {}, body: '' };
  };
  return { http, requests };
}

function setup(
  opts: {
    directMessages?: boolean;
    webhooks?: SignedWebhook[];
    users?: Record<string, string>;
    script?: number[];
  } = {},
) {
  const w = world();
  const poster = new FakePoster(opts.directMessages ?? true);
  const { http, requests } = fakeHttp(opts.script);
  const sleeps: number[] = [];
  const notifier = new Notifier({
    slack: { poster, channel: 'C0APPROVALS', interactive: true },
    users: async () => new UserDirectory(opts.users ?? { U0ALICE: 'alice@corp.com', U0CAROL: 'carol@corp.com' }),
    webhooks: async () => opts.webhooks ?? [],
    http,
    clock: w.clock,
    log: w.log,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { w, poster, notifier, requests, sleeps };
}

async function breakGlassStream(w: ReturnType<typeof world>): Promise<GrantEvent[]> {
  const { grant } = await w.service.request(
    alice,
    requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000, ticket: 'INC-9' }),
  );
  await w.service.approve(grant.id, carol, 'ok');
  await w.service.approve(grant.id, dan);
  return w.events.read(grant.id);
}

/** The detail of the event of `type` with the grant as it was right after it. */
function detailOf(events: GrantEvent[], type: GrantEvent['type']) {
  const i = events.findIndex((e) => e.type === type);
  return lifecycleDetail(events[i] as GrantEvent, foldGrant(events.slice(0, i + 1)));
}

const flat = (m: SlackMessage | undefined) => JSON.stringify(m);

describe('Class: Notifier', () => {
  describe('Method: notify', () => {
    it('posts a new request to the channel with the facts and Approve/Deny buttons', async () => {
      const { w, poster, notifier } = setup();
      const events = await breakGlassStream(w);
      await notifier.notify(detailOf(events, 'requested'));
      expect(poster.posts.map((p) => p.to)).toEqual(['C0APPROVALS']);
      const text = flat(poster.posts[0]?.message);
      for (const s of [
        '<@U0ALICE>',
        'user-service',
        '/acme.admin.*',
        '20m',
        'INC-123 investigating',
        'INC-9',
        '0 of 2',
      ])
        expect(text).toContain(s);
      expect(text).toContain(ACTION_APPROVE);
      expect(text).toContain(events[0]?.grantId);
    });

    it('tells the requester of each decision by direct message when they are mapped', async () => {
      const { w, poster, notifier } = setup();
      const events = await breakGlassStream(w);
      await notifier.notify(detailOf(events, 'approved'));
      expect(poster.posts.map((p) => p.to)).toEqual(['C0APPROVALS', 'U0ALICE']);
      expect(flat(poster.posts[1]?.message)).toContain('1 of 2 approvals');
      expect(flat(poster.posts[1]?.message)).toContain('<@U0CAROL>');
    });

    it('falls back to a mention in the channel when direct messages are impossible', async () => {
      const { w, poster, notifier } = setup({ directMessages: false });
      const { grant } = await w.service.request(
        principal({ id: 'alice@corp.com', mfa: true }),
        requestDummy({ target: 'analytics', duration: 60 * 60_000 }),
      );
      const denied = await w.service
        .deny(grant.id, principal({ id: 'carol@corp.com', mfa: true }), 'no')
        .then(() => w.events.read(grant.id));
      poster.posts.length = 0;
      await notifier.notify(detailOf(denied, 'denied'));
      // The channel message itself mentions alice: one post, no second notice.
      expect(poster.posts).toHaveLength(1);
      expect(flat(poster.posts[0]?.message)).toContain('<@U0ALICE>');
      expect(flat(poster.posts[0]?.message)).toContain('denied');
    });

    it('signs webhooks so the receiver helper verifies them, and posts only the events a webhook asked for', async () => {
      const hooks: SignedWebhook[] = [
        { name: 'siem', url: 'https://siem.example.com/timebox', secret: WEBHOOK_SECRET },
        {
          name: 'pager',
          url: 'https://pager.example.com/in',
          secret: WEBHOOK_SECRET,
          events: ['Timebox Grant Revoked'],
        },
      ];
      const { w, notifier, requests } = setup({ webhooks: hooks });
      const events = await breakGlassStream(w);
      const d = detailOf(events, 'requested');
      await notifier.notify(d);
      expect(requests.map((r) => r.url)).toEqual(['https://siem.example.com/timebox']);
      const req = requests[0] as HttpRequest;
      expect(JSON.parse(req.body)).toEqual({
        id: `${d.grantId}:1`,
        'detail-type': 'Timebox Grant Requested',
        source: 'timebox',
        time: d.at,
        detail: d,
      });
      expect(req.headers['timebox-event-id']).toBe(`${d.grantId}:1`);
      expect(
        verifyWebhookSignature({
          header: req.headers['timebox-signature'],
          body: req.body,
          secret: WEBHOOK_SECRET,
          now: w.clock.now(),
        }),
      ).toEqual({ ok: true });
    });

    it('retries a webhook on 5xx/429 with backoff, and gives up on other answers', async () => {
      const hooks: SignedWebhook[] = [{ name: 'siem', url: 'https://siem.example.com/t', secret: WEBHOOK_SECRET }];
      const retried = setup({ webhooks: hooks, script: [503, 429, 200] });
      const events = await breakGlassStream(retried.w);
      await retried.notifier.notify(detailOf(events, 'requested'));
      expect(retried.requests).toHaveLength(3);
      expect(retried.sleeps).toEqual([200, 400]);

      const refused = setup({ webhooks: hooks, script: [401] });
      const events2 = await breakGlassStream(refused.w);
      await expect(refused.notifier.notify(detailOf(events2, 'requested'))).rejects.toMatchObject({
        code: 'NOTIFY.DELIVERY_FAILED',
      });
      expect(refused.requests).toHaveLength(1);
    });

    it('delivers everything it can, throws for what failed, and does not repeat what succeeded on the retry', async () => {
      const hooks: SignedWebhook[] = [{ name: 'siem', url: 'https://siem.example.com/t', secret: WEBHOOK_SECRET }];
      const { w, poster, notifier, requests } = setup({ webhooks: hooks });
      const events = await breakGlassStream(w);
      const d = detailOf(events, 'approved');
      poster.failNext = 1;
      await expect(notifier.notify(d)).rejects.toMatchObject({ code: 'NOTIFY.DELIVERY_FAILED' });
      // The channel post failed; the DM and the webhook went out.
      expect(poster.posts.map((p) => p.to)).toEqual(['U0ALICE']);
      expect(requests).toHaveLength(1);

      const report = await notifier.notify(d);
      expect(poster.posts.map((p) => p.to)).toEqual(['U0ALICE', 'C0APPROVALS']);
      expect(requests).toHaveLength(1);
      expect(report.skipped).toHaveLength(2);
    });

    it('stays quiet for bookkeeping events', async () => {
      const { w, poster, notifier } = setup();
      const { grant } = await w.service.request(alice, requestDummy());
      await w.service.issueCredentials(grant.id, alice, 'credentials');
      const events = await w.events.read(grant.id);
      await notifier.notify(detailOf(events, 'credentials-issued'));
      expect(poster.posts).toEqual([]);
    });
  });

  describe('Method: remind', () => {
    it('reminds each pending request and each expiring grant exactly once across consecutive runs', async () => {
      const { w, poster, notifier } = setup();
      // pendingTimeout is 1h; the auto-approved grant runs 30m.
      const { grant: pending } = await w.service.request(
        alice,
        requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
      );
      const { grant: active } = await w.service.request(alice, requestDummy({ duration: 30 * 60_000 }));
      expect(active.status).toBe('active');
      const remindedAt: Record<string, string[]> = {};
      for (let minute = 0; minute <= 60; minute += 5) {
        poster.posts.length = 0;
        await notifier.remind(w.projections);
        for (const p of poster.posts) {
          const key = flat(p.message).includes(pending.id) ? 'pending' : 'expiry';
          remindedAt[key] = [...(remindedAt[key] ?? []), `${minute}:${p.to}`];
        }
        w.clock.advance(5 * 60_000);
      }
      // Expiry at +30m: the run at +15m. The request lapses at +20m (a request never waits longer than it would
      // last): the run at +5m.
      expect(pending.pendingUntil).toBe(new Date(Date.parse(pending.requestedAt) + 20 * 60_000).toISOString());
      expect(remindedAt).toEqual({ expiry: ['15:U0ALICE'], pending: ['5:C0APPROVALS'] });
    });
  });
});
