import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { HttpClient, HttpRequest } from '../../../adapters/notify/http';
import { attachLocalNotifications } from '../../../adapters/notify/local';
import { verifyWebhookSignature } from '../../../adapters/notify/signatures';
import { principal } from '../../../core/principal';
import { createLocalRuntime, type LocalRuntime } from '../../../local/runtime';

const SECRET = 'local-integration-secret-0123456789abcdef';
let runtime: LocalRuntime | undefined;

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
});

describe('Local mode: notifications through the runtime publisher seam', () => {
  it('posts to Slack and a signed webhook for every transition of a grant the local broker makes', async () => {
    // Prepare: the local runtime over its real store (dynalite in memory), with notifications attached.
    const requests: HttpRequest[] = [];
    const http: HttpClient = async (req) => {
      requests.push(req);
      return { status: 200, headers: {}, body: 'ok' };
    };
    runtime = await createLocalRuntime({
      home: mkdtempSync(join(tmpdir(), 'timebox-notify-')),
      configFile: join(__dirname, '..', '..', '..', 'access.example.yaml'),
      issuer: 'http://127.0.0.1:8787',
      memory: true,
    });
    const attached = attachLocalNotifications(
      runtime,
      {
        TIMEBOX_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/local',
        TIMEBOX_SLACK_USERS: '{"U0ALICE":"alice@corp.com"}',
        TIMEBOX_WEBHOOKS: JSON.stringify([{ name: 'dev', url: 'http://127.0.0.1:9/hook', secret: SECRET }]),
      },
      { http },
    );
    expect(attached).toBeDefined();

    // Act: alice gets auto-approved access to the production logs, then revokes it.
    const alice = principal({ id: 'alice@corp.com', groups: [], sourceIp: '10.1.2.3' });
    const { grant } = await runtime.service.request(alice, {
      target: 'prod-logs',
      duration: 30 * 60_000,
      reason: 'INC-42 <!channel> check',
    });
    await runtime.service.revoke(grant.id, alice, 'done');
    attached?.stop();

    // Assess
    const slack = requests.filter((r) => r.url.startsWith('https://hooks.slack.com/'));
    const hooks = requests.filter((r) => r.url === 'http://127.0.0.1:9/hook');
    expect(hooks.map((h) => JSON.parse(h.body)['detail-type'])).toEqual([
      'Timebox Grant Requested',
      'Timebox Grant Activated',
      'Timebox Grant Revoked',
    ]);
    for (const h of hooks)
      expect(
        verifyWebhookSignature({
          header: h.headers['timebox-signature'],
          body: h.body,
          secret: SECRET,
          now: new Date(),
        }),
      ).toEqual({ ok: true });
    const text = slack.map((s) => s.body).join('\n');
    expect(text).toContain('auto-approved');
    expect(text).toContain('is active until');
    expect(text).toContain('<@U0ALICE>');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
  });
});
