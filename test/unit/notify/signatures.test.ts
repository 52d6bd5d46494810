import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { signWebhook, verifySlackSignature, verifyWebhookSignature } from '../../../adapters/notify/signatures';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = new Date('2026-11-24T10:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const BODY =
  'payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U0CAROL%22%7D%7D&token=legacy';

/** What Slack sends: v0=hex(HMAC-SHA256(secret, "v0:<ts>:<body>")) (Slack API docs, "Verifying requests from Slack"). */
function slackSign(body: string, ts: number, secret = SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
}

const check = (over: Partial<Parameters<typeof verifySlackSignature>[0]> = {}) =>
  verifySlackSignature({
    signingSecret: SECRET,
    timestamp: String(NOW_S),
    signature: slackSign(BODY, NOW_S),
    rawBody: BODY,
    now: NOW,
    ...over,
  });

describe('Function: verifySlackSignature', () => {
  it('accepts a request signed with the signing secret', () => {
    expect(check()).toEqual({ ok: true });
  });

  it('accepts a request 4 minutes old (inside the five-minute window)', () => {
    const ts = NOW_S - 240;
    expect(check({ timestamp: String(ts), signature: slackSign(BODY, ts) })).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret', () => {
    expect(check({ signature: slackSign(BODY, NOW_S, 'not-the-signing-secret') })).toMatchObject({
      ok: false,
      code: 'SIGNATURE.MISMATCH',
    });
  });

  it('refuses a replayed request older than five minutes, even with a valid signature', () => {
    const ts = NOW_S - 301;
    expect(check({ timestamp: String(ts), signature: slackSign(BODY, ts) })).toMatchObject({
      ok: false,
      code: 'SIGNATURE.STALE',
    });
  });

  it('refuses a timestamp more than five minutes in the future', () => {
    const ts = NOW_S + 301;
    expect(check({ timestamp: String(ts), signature: slackSign(BODY, ts) })).toMatchObject({
      ok: false,
      code: 'SIGNATURE.FUTURE',
    });
  });

  it('refuses a tampered body', () => {
    expect(check({ rawBody: BODY.replace('U0CAROL', 'U0MALLO') })).toMatchObject({
      ok: false,
      code: 'SIGNATURE.MISMATCH',
    });
  });

  it('refuses a signature moved to another timestamp', () => {
    expect(check({ timestamp: String(NOW_S - 1) })).toMatchObject({ ok: false, code: 'SIGNATURE.MISMATCH' });
  });

  it('refuses missing headers', () => {
    expect(check({ signature: undefined })).toMatchObject({ ok: false, code: 'SIGNATURE.MISSING' });
    expect(check({ timestamp: undefined })).toMatchObject({ ok: false, code: 'SIGNATURE.MISSING' });
    expect(check({ signature: '' })).toMatchObject({ ok: false, code: 'SIGNATURE.MISSING' });
  });

  it('refuses malformed headers', () => {
    expect(check({ timestamp: '1.5e9' })).toMatchObject({ ok: false, code: 'SIGNATURE.MALFORMED' });
    expect(check({ signature: 'v1=abc' })).toMatchObject({ ok: false, code: 'SIGNATURE.MALFORMED' });
    expect(check({ signature: slackSign(BODY, NOW_S).toUpperCase() })).toMatchObject({ ok: false });
  });

  it('refuses any change to a signed body (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 3 }),
        (body, pos, insert) => {
          const signature = slackSign(body, NOW_S);
          const i = pos % (body.length + 1);
          const changed = body.slice(0, i) + insert + body.slice(i);
          fc.pre(changed !== body);
          return check({ rawBody: changed, signature }).ok === false && check({ rawBody: body, signature }).ok;
        },
      ),
    );
  });
});

describe('Function: signWebhook / verifyWebhookSignature', () => {
  const body = JSON.stringify({ id: 'tb-x:1', detail: { grantId: 'tb-x', seq: 1 } });

  it('round-trips: what the notifier signs, the receiver helper accepts', () => {
    const header = signWebhook(body, SECRET, NOW);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ header, body, secret: SECRET, now: new Date(NOW.getTime() + 30_000) })).toEqual({
      ok: true,
    });
  });

  it('signs `<t>.<body>` with HMAC-SHA256, as documented for receivers in other languages', () => {
    const header = signWebhook(body, SECRET, NOW);
    const expected = createHmac('sha256', SECRET).update(`${NOW_S}.${body}`).digest('hex');
    expect(header).toBe(`t=${NOW_S},v1=${expected}`);
  });

  it('refuses a tampered body, a wrong secret, an old or a future timestamp, and a missing header', () => {
    const header = signWebhook(body, SECRET, NOW);
    const v = (over: Partial<Parameters<typeof verifyWebhookSignature>[0]>) =>
      verifyWebhookSignature({ header, body, secret: SECRET, now: NOW, ...over });
    expect(v({ body: body.replace('"seq":1', '"seq":2') })).toMatchObject({ code: 'SIGNATURE.MISMATCH' });
    expect(v({ secret: 'another-secret-of-enough-length-000' })).toMatchObject({ code: 'SIGNATURE.MISMATCH' });
    expect(v({ now: new Date(NOW.getTime() + 301_000) })).toMatchObject({ code: 'SIGNATURE.STALE' });
    expect(v({ now: new Date(NOW.getTime() - 301_000) })).toMatchObject({ code: 'SIGNATURE.FUTURE' });
    expect(v({ header: undefined })).toMatchObject({ code: 'SIGNATURE.MISSING' });
    expect(v({ header: 'garbage' })).toMatchObject({ code: 'SIGNATURE.MALFORMED' });
    expect(v({ header: `t=${NOW_S}` })).toMatchObject({ code: 'SIGNATURE.MALFORMED' });
  });

  it('accepts any of several v1 signatures, so a secret can be rotated without a gap', () => {
    const old = signWebhook(body, 'old-secret-old-secret-old-secret-00', NOW);
    const current = signWebhook(body, SECRET, NOW);
    const header = `${old},v1=${current.split('v1=')[1]}`;
    expect(verifyWebhookSignature({ header, body, secret: SECRET, now: NOW })).toEqual({ ok: true });
  });
});
