import { describe, expect, it } from '@jest/globals';
import {
  parseSecretJson,
  SignedWebhooksSchema,
  SlackUsersSchema,
  UserDirectory,
  wantsEvent,
} from '../../../adapters/notify/config';
import { type GrantSummary, grantSummary } from '../../../adapters/notify/detail';
import type { HttpClient, HttpRequest } from '../../../adapters/notify/http';
import { ACTION_APPROVE, ACTION_DENY, COMMENT_BLOCK, requestMessage } from '../../../adapters/notify/messages';
import { respond, SlackIncomingWebhook, SlackWebApi } from '../../../adapters/notify/slack';
import { alice, requestDummy, world } from '../../helpers/world';

function fakeHttp(answers: { status: number; body?: string; headers?: Record<string, string> }[]) {
  const requests: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    requests.push(req);
    const a = answers.shift() ?? { status: 200, body: '{"ok":true}' };
    return { status: a.status, headers: a.headers ?? {}, body: a.body ?? '' };
  };
  return { http, requests };
}
const noSleep = async () => {};

async function pendingSummary(partial: Partial<GrantSummary> = {}): Promise<{ id: string; g: GrantSummary }> {
  const w = world();
  const { grant } = await w.service.request(
    alice,
    requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
  );
  return { id: grant.id, g: { ...grantSummary(grant), ...partial } };
}

const blocksOf = (m: { blocks?: Record<string, unknown>[] }) => m.blocks ?? [];
const hasButtons = (m: { blocks?: Record<string, unknown>[] }) => blocksOf(m).some((b) => b.type === 'actions');

describe('Function: requestMessage', () => {
  it('carries Approve and Deny buttons valued with the grant id, and a comment box', async () => {
    const { id, g } = await pendingSummary();
    const m = requestMessage(id, g, { interactive: true });
    const actions = blocksOf(m).find((b) => b.type === 'actions') as {
      elements: { action_id: string; value: string }[];
    };
    expect(actions.elements.map((e) => [e.action_id, e.value])).toEqual([
      [ACTION_APPROVE, id],
      [ACTION_DENY, id],
    ]);
    expect(blocksOf(m).some((b) => b.block_id === COMMENT_BLOCK)).toBe(true);
    expect(m.text).toContain('alice@corp.com');
  });

  it('offers no buttons when approving needs MFA, and says to use timebox approve instead', async () => {
    const { id, g } = await pendingSummary();
    const m = requestMessage(
      id,
      { ...g, approval: { count: 2, from: ['group:secops'], requireMfa: true } },
      { interactive: true },
    );
    expect(hasButtons(m)).toBe(false);
    expect(JSON.stringify(m)).toContain(`timebox approve ${id}`);
    expect(JSON.stringify(m)).toContain('MFA');
  });

  it('offers no buttons when Slack is not interactive or the request is decided', async () => {
    const { id, g } = await pendingSummary();
    expect(hasButtons(requestMessage(id, g, { interactive: false }))).toBe(false);
    const denied = requestMessage(
      id,
      { ...g, status: 'denied', endedBy: 'carol@corp.com', endReason: 'no' },
      { interactive: true },
    );
    expect(hasButtons(denied)).toBe(false);
    expect(JSON.stringify(denied)).toContain('Denied by');
  });

  it('escapes what requesters typed, so a reason cannot mention @channel or forge a link', async () => {
    const { id, g } = await pendingSummary({
      reason: '<!channel> see <https://evil.example|docs> & more',
      ticket: '<@U0BOSS>',
    });
    const text = JSON.stringify(requestMessage(id, g, { interactive: true }));
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil');
    expect(text).not.toContain('<@U0BOSS>');
    expect(text).toContain('&lt;!channel&gt;');
  });

  it('keeps every section within Block Kit limits for a very long reason', async () => {
    const { id, g } = await pendingSummary({ reason: 'x'.repeat(5000) });
    for (const b of blocksOf(requestMessage(id, g, { interactive: true }))) {
      const section = b as { text?: { text: string }; fields?: { text: string }[] };
      if (section.text) expect(section.text.text.length).toBeLessThanOrEqual(3000);
      for (const f of section.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
    }
  });
});

describe('Class: SlackWebApi', () => {
  it('posts with the bot token and treats {"ok": false} as a refusal', async () => {
    const { http, requests } = fakeHttp([
      { status: 200, body: '{"ok":true}' },
      { status: 200, body: '{"ok":false,"error":"channel_not_found"}' },
    ]);
    const api = new SlackWebApi('xoxb-123-456-abc', http, noSleep);
    await api.post('C0APPROVALS', { text: 'hi', blocks: [] });
    expect(requests[0]).toMatchObject({
      url: 'https://slack.com/api/chat.postMessage',
      headers: { authorization: 'Bearer xoxb-123-456-abc' },
    });
    expect(JSON.parse(requests[0]?.body ?? '')).toEqual({ channel: 'C0APPROVALS', text: 'hi', blocks: [] });
    await expect(api.post('C0NOPE', { text: 'x' })).rejects.toMatchObject({ code: 'SLACK.REFUSED' });
  });

  it('waits what Retry-After asks on 429 and tries again', async () => {
    const { http, requests } = fakeHttp([
      { status: 429, headers: { 'retry-after': '2' } },
      { status: 200, body: '{"ok":true}' },
    ]);
    const sleeps: number[] = [];
    await new SlackWebApi('xoxb-1', http, async (ms) => {
      sleeps.push(ms);
    }).post('C1', { text: 'x' });
    expect(requests).toHaveLength(2);
    expect(sleeps).toEqual([2000]);
  });

  it('refuses a token that is not a bot token', () => {
    expect(() => new SlackWebApi('hunter2', fakeHttp([]).http)).toThrow(/xoxb-/);
  });
});

describe('Class: SlackIncomingWebhook', () => {
  it('posts the message to its URL and cannot send direct messages', async () => {
    const { http, requests } = fakeHttp([{ status: 200, body: 'ok' }]);
    const hook = new SlackIncomingWebhook('https://hooks.slack.com/services/T0/B0/xyz', http, noSleep);
    expect(hook.directMessages).toBe(false);
    await hook.post('ignored', { text: 'hi' });
    expect(requests.map((r) => [r.url, r.body])).toEqual([
      ['https://hooks.slack.com/services/T0/B0/xyz', '{"text":"hi"}'],
    ]);
    expect(() => new SlackIncomingWebhook('http://hooks.slack.com/x', http)).toThrow(/https/);
  });
});

describe('Function: respond', () => {
  it('replaces the original message or answers ephemerally through response_url', async () => {
    const { http, requests } = fakeHttp([{ status: 200 }, { status: 200 }]);
    await respond(http, 'https://hooks.slack.com/actions/T0/1/abc', { replaceOriginal: { text: 'done' } }, noSleep);
    await respond(http, 'https://hooks.slack.com/actions/T0/1/abc', { ephemeral: { text: 'no' } }, noSleep);
    expect(requests.map((r) => JSON.parse(r.body))).toEqual([
      { replace_original: true, text: 'done' },
      { response_type: 'ephemeral', replace_original: false, text: 'no' },
    ]);
  });

  it('never posts anywhere but hooks.slack.com', async () => {
    const { http, requests } = fakeHttp([]);
    await expect(respond(http, 'https://evil.example/actions', { ephemeral: { text: 'x' } })).rejects.toMatchObject({
      code: 'SLACK.RESPONSE_URL',
    });
    await expect(respond(http, 'http://hooks.slack.com/actions', { ephemeral: { text: 'x' } })).rejects.toMatchObject({
      code: 'NOTIFY.INVALID_URL',
    });
    expect(requests).toEqual([]);
  });
});

describe('Configuration', () => {
  it('maps Slack users to principals both ways, case-insensitively', () => {
    const users = new UserDirectory(
      parseSecretJson(
        'the Slack user mapping',
        '{"U0CAROL":"Carol@corp.com","W0DAN":{"principal":"dan@corp.com","groups":["secops"]}}',
        SlackUsersSchema,
      ),
    );
    expect(users.principalOf('U0CAROL')).toEqual({ id: 'carol@corp.com', groups: [] });
    expect(users.principalOf('W0DAN')).toEqual({ id: 'dan@corp.com', groups: ['secops'] });
    expect(users.slackIdOf('CAROL@corp.com')).toBe('U0CAROL');
    expect(users.principalOf('U0NOBODY')).toBeUndefined();
  });

  it('reports where a secret is wrong without echoing its values', () => {
    expect(() => parseSecretJson('the Slack user mapping', '{"carol":"carol@corp.com"}', SlackUsersSchema)).toThrow(
      /Slack user mapping is invalid/,
    );
    const hooks = '[{"name":"siem","url":"http://siem.example","secret":"tooshort-secret-value"}]';
    let message = '';
    try {
      parseSecretJson('the webhooks secret', hooks, SignedWebhooksSchema);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('0.url');
    expect(message).toContain('0.secret');
    expect(message).not.toContain('tooshort-secret-value');
    expect(() => parseSecretJson('x', 'not json', SlackUsersSchema)).toThrow(/not JSON/);
  });

  it('filters webhook events by event type or detail type', () => {
    expect(wantsEvent({}, 'approved')).toBe(true);
    expect(wantsEvent({ events: ['revoked'] }, 'approved')).toBe(false);
    expect(wantsEvent({ events: ['Timebox Grant Approved'] }, 'approved')).toBe(true);
  });
});
