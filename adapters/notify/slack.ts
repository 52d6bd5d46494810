import { UnavailableError, ValidationError } from '../../core/errors';
import { type HttpClient, httpsUrl, retryable, retryDelay } from './http';

/**
 * Posting to Slack. Two ways, both behind `SlackPoster`: the Web API with a bot token (`chat.postMessage`, which
 * can also post to a user id to reach them by direct message), or an incoming webhook (one fixed channel, no
 * direct messages). Interactive answers go to the `response_url` Slack put in the interaction payload.
 */

export type Block = Record<string, unknown>;
/** A Block Kit message; `text` is the notification and accessibility fallback Slack asks for with blocks. */
export interface SlackMessage {
  text: string;
  blocks?: Block[];
}

export interface SlackPoster {
  /** True when `post` may address a user id (a direct message). */
  readonly directMessages: boolean;
  /** Posts to a channel id, or to a user id when `directMessages`. */
  post(to: string, message: SlackMessage): Promise<void>;
}

const SLACK_API = 'https://slack.com/api/chat.postMessage';
/** Slack answers interactions on this host only; anything else in a payload's response_url is refused. */
const RESPONSE_HOST = 'hooks.slack.com';

async function send(
  http: HttpClient,
  url: string,
  headers: Record<string, string>,
  body: string,
  sleep: (ms: number) => Promise<void>,
  attempts = 3,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const res = await http({ url, method: 'POST', headers, body });
    if (res.status >= 200 && res.status < 300) return res.body;
    if (!retryable(res.status) || attempt >= attempts)
      throw new UnavailableError('SLACK.HTTP', `Slack answered HTTP ${res.status}: ${res.body.slice(0, 200)}`);
    await sleep(retryDelay(attempt, res.headers['retry-after']));
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** chat.postMessage with a bot token (scope chat:write). Posting to a user id opens a direct message from the app. */
export class SlackWebApi implements SlackPoster {
  readonly directMessages = true;
  constructor(
    private readonly token: string,
    private readonly http: HttpClient,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {
    if (!/^xox[bp]-/.test(token))
      throw new ValidationError('SLACK.INVALID_TOKEN', 'a Slack bot token starts with xoxb-');
  }

  async post(to: string, message: SlackMessage): Promise<void> {
    const text = await send(
      this.http,
      SLACK_API,
      { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${this.token}` },
      JSON.stringify({ channel: to, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) }),
      this.sleep,
    );
    // The Web API answers 200 with {"ok": false, "error": "..."} for refusals (channel_not_found, not_in_channel...).
    let parsed: { ok?: boolean; error?: string };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new UnavailableError('SLACK.HTTP', 'Slack answered chat.postMessage with something that is not JSON');
    }
    if (!parsed.ok)
      throw new UnavailableError('SLACK.REFUSED', `chat.postMessage to ${to}: ${parsed.error ?? 'not ok'}`);
  }
}

/** An incoming webhook: posts to the channel it was created for; `to` is ignored and direct messages are not possible. */
export class SlackIncomingWebhook implements SlackPoster {
  readonly directMessages = false;
  private readonly url: string;
  constructor(
    url: string,
    private readonly http: HttpClient,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {
    this.url = httpsUrl(url, 'the Slack webhook URL').toString();
  }

  async post(_to: string, message: SlackMessage): Promise<void> {
    await send(
      this.http,
      this.url,
      { 'content-type': 'application/json; charset=utf-8' },
      JSON.stringify(message),
      this.sleep,
    );
  }
}

/** How an interactive answer changes the message the button was on. */
export type InteractionAnswer =
  | { replaceOriginal: SlackMessage }
  /** Shown only to the person who clicked; the original message stays. */
  | { ephemeral: SlackMessage };

/**
 * Answers an interaction through its `response_url` (valid 30 minutes, up to 5 uses). The URL comes from a payload
 * whose signature was checked; its host is checked too, so a payload can never make the function post elsewhere.
 */
export async function respond(
  http: HttpClient,
  responseUrl: string,
  answer: InteractionAnswer,
  sleep: (ms: number) => Promise<void> = defaultSleep,
): Promise<void> {
  const url = httpsUrl(responseUrl, 'response_url');
  if (url.hostname !== RESPONSE_HOST)
    throw new ValidationError('SLACK.RESPONSE_URL', `response_url must be on ${RESPONSE_HOST}`);
  const body =
    'replaceOriginal' in answer
      ? { replace_original: true, ...answer.replaceOriginal }
      : { response_type: 'ephemeral', replace_original: false, ...answer.ephemeral };
  await send(http, url.toString(), { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(body), sleep);
}

/** Escapes the three characters Slack's mrkdwn treats as control characters ("Formatting text for app surfaces"). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts text to Block Kit's limits (section text 3000, fields 2000, header 150 characters). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
