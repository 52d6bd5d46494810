import type { SlackRequest, SlackResponse } from '../../adapters/notify/interactions';
import type { Log } from '../../core/ports';

/**
 * API Gateway (HTTP API payload 2.0, or REST proxy payload 1.0) <-> the Slack endpoint. Slack signs the raw body,
 * so the body is passed on byte for byte, only base64-decoded when API Gateway encoded it. Nothing here decides
 * anything: adapters/notify/interactions.ts does.
 */
export interface ProxyEvent {
  headers?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}
export interface ProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export function createSlackHandler(deps: {
  interactions: (req: SlackRequest) => Promise<SlackResponse>;
  log: Log;
}): (event: unknown) => Promise<ProxyResult> {
  return async (event) => {
    const e = (typeof event === 'object' && event !== null ? event : {}) as ProxyEvent;
    const raw = typeof e.body === 'string' ? e.body : '';
    const rawBody = e.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(e.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    try {
      const res = await deps.interactions({ headers, rawBody });
      return { statusCode: res.status, headers: res.headers, body: res.body };
    } catch (err) {
      // A fault (the signing secret or user mapping could not be read): Slack shows the user an error and nothing changed.
      deps.log.error('slack endpoint fault', {
        code: 'SLACK.UNAVAILABLE',
        error: err instanceof Error ? err.message : String(err),
      });
      return {
        statusCode: 503,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: { code: 'SLACK.UNAVAILABLE', message: 'try again shortly' } }),
      };
    }
  };
}
