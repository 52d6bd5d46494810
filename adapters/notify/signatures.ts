import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Request signatures, both directions: checking that a request really comes from Slack (Slack's v0 signing
 * scheme), and signing the webhooks Timebox sends so receivers can check them (the same idea, documented in
 * docs/notifications.md with a receiver-side snippet). Both are HMAC-SHA256 over `<timestamp>` and the raw body,
 * compared in constant time, within a five-minute window against replays.
 */

/** Slack's replay window: requests older (or newer) than five minutes are refused ("Verifying requests from Slack"). */
export const SLACK_TOLERANCE_SECONDS = 5 * 60;
/** Receivers of Timebox webhooks should refuse signatures outside this window too. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;
/** The header carrying Timebox's webhook signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Timebox-Signature';

export type SignatureCheck =
  | { ok: true }
  | {
      ok: false;
      code: 'SIGNATURE.MISSING' | 'SIGNATURE.MALFORMED' | 'SIGNATURE.STALE' | 'SIGNATURE.FUTURE' | 'SIGNATURE.MISMATCH';
      message: string;
    };

function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex strings (different lengths are unequal without leaking where). */
function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    // Compare anyway so a wrong length costs the same as a wrong value.
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

function checkTime(ts: string | undefined, nowSeconds: number, tolerance: number): SignatureCheck {
  if (ts === undefined || ts === '') return { ok: false, code: 'SIGNATURE.MISSING', message: 'no request timestamp' };
  if (!/^\d{1,12}$/.test(ts))
    return { ok: false, code: 'SIGNATURE.MALFORMED', message: 'the request timestamp is not unix seconds' };
  const age = nowSeconds - Number(ts);
  if (age > tolerance)
    return {
      ok: false,
      code: 'SIGNATURE.STALE',
      message: `the request is ${age}s old; at most ${tolerance}s is accepted`,
    };
  if (-age > tolerance)
    return {
      ok: false,
      code: 'SIGNATURE.FUTURE',
      message: `the request is dated ${-age}s in the future; at most ${tolerance}s of clock skew is accepted`,
    };
  return { ok: true };
}

/**
 * Checks Slack's `X-Slack-Signature` (`v0=<hex HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<raw body>">`,
 * keyed with the app's signing secret). `rawBody` must be the bytes exactly as received: parsing and re-encoding
 * the form body first would change them.
 */
export function verifySlackSignature(a: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  now: Date;
}): SignatureCheck {
  if (a.signature === undefined || a.signature === '')
    return { ok: false, code: 'SIGNATURE.MISSING', message: 'no X-Slack-Signature header' };
  const time = checkTime(a.timestamp, Math.floor(a.now.getTime() / 1000), SLACK_TOLERANCE_SECONDS);
  if (!time.ok) return time;
  if (!/^v0=[0-9a-f]{64}$/.test(a.signature))
    return { ok: false, code: 'SIGNATURE.MALFORMED', message: 'X-Slack-Signature is not a v0 signature' };
  const expected = `v0=${hmacHex(a.signingSecret, `v0:${a.timestamp}:${a.rawBody}`)}`;
  return sameHex(expected, a.signature)
    ? { ok: true }
    : { ok: false, code: 'SIGNATURE.MISMATCH', message: 'X-Slack-Signature does not match the body' };
}

/** The value of the Timebox-Signature header for a webhook body sent at `now`. */
export function signWebhook(body: string, secret: string, now: Date): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},v1=${hmacHex(secret, `${t}.${body}`)}`;
}

/**
 * The receiver's side of a Timebox webhook: parses `Timebox-Signature`, refuses timestamps outside the window,
 * and compares every `v1` signature given (several appear while a secret is being rotated) in constant time.
 */
export function verifyWebhookSignature(a: {
  header: string | undefined;
  body: string;
  secret: string;
  now: Date;
  toleranceSeconds?: number;
}): SignatureCheck {
  if (!a.header) return { ok: false, code: 'SIGNATURE.MISSING', message: `no ${WEBHOOK_SIGNATURE_HEADER} header` };
  let t: string | undefined;
  const v1: string[] = [];
  for (const part of a.header.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) return { ok: false, code: 'SIGNATURE.MALFORMED', message: `"${part.trim()}" is not key=value` };
    const key = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (key === 't') t = value;
    else if (key === 'v1') v1.push(value);
  }
  if (v1.length === 0) return { ok: false, code: 'SIGNATURE.MALFORMED', message: 'no v1 signature' };
  const time = checkTime(t, Math.floor(a.now.getTime() / 1000), a.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS);
  if (!time.ok) return time;
  const expected = hmacHex(a.secret, `${t}.${a.body}`);
  let match = false;
  for (const s of v1) if (sameHex(expected, s)) match = true;
  return match
    ? { ok: true }
    : { ok: false, code: 'SIGNATURE.MISMATCH', message: `${WEBHOOK_SIGNATURE_HEADER} does not match the body` };
}
