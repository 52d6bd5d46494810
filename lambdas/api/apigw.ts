import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { ApiRequest, ApiResponse } from '../../api/http';

/**
 * API Gateway REST (payload v1, Lambda proxy integration) <-> the transport-neutral API request and response.
 * The verified caller (IAM auth) is passed on as `auth` for `authenticate`; nothing else about identity is read.
 */
export function toApiRequest(event: APIGatewayProxyEvent): ApiRequest {
  const ctx = event.requestContext ?? ({} as APIGatewayProxyEvent['requestContext']);
  const identity = ctx.identity ?? ({} as APIGatewayProxyEvent['requestContext']['identity']);
  const raw = typeof event.body === 'string' ? event.body : undefined;
  return {
    method: event.httpMethod ?? '',
    path: requestPath(event),
    query: query(event),
    headers: headers(event),
    body: raw !== undefined && event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw,
    sourceIp: identity.sourceIp ?? undefined,
    userAgent: identity.userAgent ?? undefined,
    requestId: ctx.requestId ?? 'unknown',
    auth: {
      userArn: identity.userArn,
      accountId: identity.accountId,
      sourceIp: identity.sourceIp,
      userAgent: identity.userAgent,
    },
  };
}

/** The API's answer as a proxy integration result. */
export function toProxyResult(res: ApiResponse): APIGatewayProxyResult {
  return { statusCode: res.status, headers: { ...res.headers }, body: res.body };
}

/**
 * With a greedy `{proxy+}` resource the path the API routes on is rebuilt from the resource and the captured
 * part: `event.path` would also carry a custom domain's base path mapping (e.g. `/timebox/v1/...`).
 */
function requestPath(event: APIGatewayProxyEvent): string {
  const proxy = event.pathParameters?.proxy;
  if (typeof event.resource === 'string' && event.resource.includes('{proxy+}') && typeof proxy === 'string')
    // A function, not a string: `$&`, `$'` and friends in the caller's path must stay literal (String.replace
    // expands them in a replacement string), so the app routes exactly the path API Gateway authorised.
    return event.resource.replace('{proxy+}', () => proxy);
  return typeof event.path === 'string' ? event.path : '';
}

/** Multi-value headers joined with ", " (RFC 9110 section 5.3), falling back to the single-value map. */
function headers(event: APIGatewayProxyEvent): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) if (typeof v === 'string') out[k.toLowerCase()] = v;
  for (const [k, v] of Object.entries(event.multiValueHeaders ?? {}))
    if (Array.isArray(v) && v.length > 0) out[k.toLowerCase()] = v.join(', ');
  return out;
}

/** Repeated parameters stay arrays so the API can refuse them instead of silently taking the last one. */
function query(event: APIGatewayProxyEvent): ApiRequest['query'] {
  const out: ApiRequest['query'] = {};
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (typeof v === 'string') out[k] = v;
  for (const [k, v] of Object.entries(event.multiValueQueryStringParameters ?? {}))
    if (Array.isArray(v) && v.length > 0) out[k] = v.length === 1 ? (v[0] as string) : [...v];
  return out;
}

const INTERNAL = JSON.stringify({
  error: { code: 'INTERNAL', message: 'the function received an event it cannot read' },
});

/** The Lambda handler around an API: adapts the event, records the invocation context, never throws. */
export function createApiGatewayHandler(
  api: (req: ApiRequest) => Promise<ApiResponse>,
  opts: { onInvoke?: (context: Context) => void } = {},
): (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult> {
  return async (event, context) => {
    opts.onInvoke?.(context);
    let req: ApiRequest;
    try {
      req = toApiRequest(event);
    } catch {
      // Not a REST proxy event at all (a misrouted invocation): a fault of the wiring, not of the caller.
      return { statusCode: 500, headers: { 'content-type': 'application/json' }, body: INTERNAL };
    }
    return toProxyResult(await api(req));
  };
}
