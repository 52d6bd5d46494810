import { UnavailableError, ValidationError } from '../../core/errors';

/**
 * The one way notifications leave the process: an injectable HTTP client, so Slack and webhook delivery are
 * tested without a network and the local broker can swap it. The default uses Node's fetch with a timeout.
 */
export interface HttpRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}
export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>;

/** fetch with a per-request timeout; network failures become UnavailableError('NOTIFY.UNREACHABLE'). */
export function fetchHttpClient(timeoutMs = 5000): HttpClient {
  return async (req) => {
    let res: Response;
    try {
      res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new UnavailableError('NOTIFY.UNREACHABLE', `${new URL(req.url).host} did not answer (${cause})`, {
        cause: e,
      });
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { status: res.status, headers, body: await res.text() };
  };
}

/** Notifications go to https URLs only (a webhook URL is operator input; plain http would leak the event). */
export function httpsUrl(raw: string, what: string, allowLoopbackHttp = false): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError('NOTIFY.INVALID_URL', `${what} is not a URL`);
  }
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(url.hostname);
  if (url.protocol !== 'https:' && !(allowLoopbackHttp && loopback && url.protocol === 'http:'))
    throw new ValidationError('NOTIFY.INVALID_URL', `${what} must be an https URL`);
  if (url.username || url.password)
    throw new ValidationError('NOTIFY.INVALID_URL', `${what} must not carry credentials in the URL`);
  return url;
}

/** Exponential backoff for a delivery: 200 ms, 400 ms, 800 ms..., at most 5 s, or what Retry-After asks (capped). */
export function retryDelay(attempt: number, retryAfterHeader?: string): number {
  const asked = retryAfterHeader && /^\d{1,4}$/.test(retryAfterHeader) ? Number(retryAfterHeader) * 1000 : undefined;
  return Math.min(5000, asked ?? 200 * 2 ** (attempt - 1));
}

/** True for answers worth retrying: throttling and server errors. */
export function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}
