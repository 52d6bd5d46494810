import { apiGatewayRegion, loadSavedToken } from './endpoint';
import { CliError, EXIT } from './errors';

export interface ApiError {
  code: string;
  message: string;
  [k: string]: unknown;
}

/** An error answer from the broker, kept whole so commands can show reasons. */
export class BrokerError extends CliError {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(`${error.code}: ${error.message}`, status >= 500 ? EXIT.unavailable : EXIT.refused);
    this.name = 'BrokerError';
  }
}

export type AuthHeaders = (req: {
  method: string;
  url: URL;
  body?: string;
  headers: Record<string, string>;
}) => Promise<Record<string, string>>;

/**
 * Authentication: a bearer token (TIMEBOX_TOKEN, else the one `timebox login --local` saved) for a local broker;
 * SigV4 from the default AWS credential chain for an API Gateway endpoint.
 */
export function authFor(endpoint: URL, env: NodeJS.ProcessEnv = process.env): AuthHeaders {
  const region = apiGatewayRegion(endpoint) ?? env.TIMEBOX_AWS_REGION;
  // An API Gateway endpoint is always signed: a local session token in TIMEBOX_TOKEN is never sent to a deployment.
  if (region && (apiGatewayRegion(endpoint) || !env.TIMEBOX_TOKEN)) {
    // The SDK pieces load only for a signed call: commands against a local broker start without them.
    const sdk = import('./sigv4.js');
    const signer = sdk.then(
      ({ SignatureV4, fromNodeProviderChain, Sha256 }) =>
        new SignatureV4({ service: 'execute-api', region, credentials: fromNodeProviderChain(), sha256: Sha256 }),
    );
    return async ({ method, url, body, headers }) => {
      const { HttpRequest } = await sdk;
      const request = new HttpRequest({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...headers, host: url.host },
        ...(body === undefined ? {} : { body }),
      });
      try {
        const signed = await (await signer).sign(request);
        return signed.headers as Record<string, string>;
      } catch (e) {
        throw new CliError(`cannot sign the request with AWS credentials: ${(e as Error).message}`, EXIT.usage);
      }
    };
  }
  return async ({ headers }) => {
    const token = env.TIMEBOX_TOKEN ?? loadSavedToken(endpoint, env);
    if (!token)
      throw new CliError(
        `not logged in to ${endpoint.origin}: run timebox login --local --as <you>, or set TIMEBOX_TOKEN`,
        EXIT.usage,
      );
    return { ...headers, authorization: `Bearer ${token}` };
  };
}

/** A small JSON client for the broker API. Network failures and 5xx exit 4; 4xx exit 3 with the broker's code. */
export class ApiClient {
  constructor(
    readonly endpoint: URL,
    private readonly auth: AuthHeaders,
    private readonly userAgent = 'timebox-cli',
  ) {}

  async call<T>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    // Built from the origin: a path such as `//other.host/` must not become the host the credentials go to.
    const url = new URL(this.endpoint.origin + this.endpoint.pathname.replace(/\/+$/, '') + path);
    if (url.origin !== this.endpoint.origin)
      throw new CliError(
        `refusing to send a request to ${url.origin}, which is not ${this.endpoint.origin}`,
        EXIT.usage,
      );
    const text = body === undefined ? undefined : JSON.stringify(body);
    const base: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent, ...extraHeaders };
    if (text !== undefined) base['content-type'] = 'application/json';
    const headers = await this.auth({ method, url, ...(text === undefined ? {} : { body: text }), headers: base });
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(text === undefined ? {} : { body: text }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new CliError(`cannot reach ${url.origin}: ${cause ?? (e as Error).message}`, EXIT.unavailable);
    }
    const raw = await res.text();
    let json: unknown;
    try {
      json = raw ? JSON.parse(raw) : {};
    } catch {
      throw new CliError(`${url.origin} answered ${res.status} with something that is not JSON`, EXIT.unavailable);
    }
    if (!res.ok) {
      const error = (json as { error?: ApiError }).error ?? {
        code: `HTTP.${res.status}`,
        message: res.statusText || 'request failed',
      };
      throw new BrokerError(res.status, error);
    }
    return json as T;
  }
}
