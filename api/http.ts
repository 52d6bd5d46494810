import type * as zc from 'zod/v4/core';
import * as z from '../adapters/zod';
import { type ErrorKind, TimeboxError } from '../core/errors';

/**
 * The transport-neutral request and response of the API. The Lambda entry adapts API Gateway REST events to
 * these (lambdas/api/apigw.ts); the local broker adapts node:http (local/server.ts). Nothing here knows about either.
 */
export interface ApiRequest {
  method: string;
  /** Path without query string, e.g. `/v1/requests/tb-...`. */
  path: string;
  /** Query parameters; a parameter given more than once arrives as an array (and is refused). */
  query: Record<string, string | string[] | undefined>;
  /** Header names in any case; the API compares them case-insensitively. */
  headers: Record<string, string | undefined>;
  body: string | undefined;
  sourceIp: string | undefined;
  userAgent: string | undefined;
  requestId: string;
  /**
   * What the transport itself verified about the caller (API Gateway IAM auth: `requestContext.identity`).
   * Only `authenticate` reads it; the API never derives a principal from headers or body.
   */
  auth?: unknown;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Bodies above this are refused before parsing: the largest legitimate body (50 scopes of a few hundred characters) is far below. */
export const MAX_BODY_BYTES = 16 * 1024;

export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

/** An error that is already an HTTP answer: fixed status and extra fields for the error body. */
export class HttpError extends TimeboxError {
  constructor(
    readonly status: number,
    kind: ErrorKind,
    code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(kind, code, message);
    this.name = 'HttpError';
  }
}

export const badRequest = (code: string, message: string, extra?: Record<string, unknown>) =>
  new HttpError(400, 'invalid', code, message, extra);

const BASE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'x-content-type-options': 'nosniff',
};

/** A JSON response. Authenticated answers are never cached (they carry grants and credentials). */
export function json(
  status: number,
  body: unknown,
  opts: { requestId: string; cache?: string; headers?: Record<string, string> },
): ApiResponse {
  return {
    status,
    headers: {
      ...BASE_HEADERS,
      'cache-control': opts.cache ?? 'no-store',
      'x-request-id': opts.requestId,
      ...opts.headers,
    },
    body: JSON.stringify(body),
  };
}

/** `{"error": {code, message, requestId, ...}}` for a domain or HTTP error. */
export function errorResponse(e: TimeboxError, requestId: string): ApiResponse {
  const status = e instanceof HttpError ? e.status : STATUS_OF_KIND[e.kind];
  const extra = e instanceof HttpError ? e.extra : {};
  return json(
    status,
    { error: { code: e.code, message: e.message, requestId, ...extra } },
    { requestId, ...(e instanceof HttpError ? { headers: e.headers } : {}) },
  );
}

/** Headers by lower-cased name (HTTP header names are case-insensitive, RFC 9110 section 5.1). */
export function lowerCaseHeaders(headers: ApiRequest['headers']): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(headers ?? {})) if (typeof v === 'string') out.set(k.toLowerCase(), v);
  return out;
}

const JSON_MEDIA_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * Parses a JSON body against a zod schema. An empty body counts as `{}` (routes whose fields are all optional
 * accept a bare POST); anything else must be `application/json`, valid JSON and match the schema exactly.
 */
export function parseBody<S extends zc.$ZodType>(
  schema: S,
  body: string | undefined,
  headers: Map<string, string>,
): zc.output<S> {
  let value: unknown = {};
  if (body !== undefined && body.length > 0) {
    const type = headers.get('content-type');
    if (!type || !JSON_MEDIA_TYPE.test(type.trim()))
      throw badRequest(
        'REQUEST.UNSUPPORTED_MEDIA_TYPE',
        'the body must be JSON sent as Content-Type: application/json',
      );
    try {
      value = JSON.parse(body);
    } catch {
      throw badRequest('REQUEST.INVALID_JSON', 'the body is not valid JSON');
    }
  }
  const r = z.safeParse(schema, value);
  if (!r.success) throw badRequest('REQUEST.INVALID_BODY', describeIssues(r.error), { issues: issues(r.error) });
  return r.data;
}

/** Parses query parameters against a zod schema; a parameter given twice is refused rather than guessed at. */
export function parseQuery<S extends zc.$ZodType>(schema: S, query: ApiRequest['query']): zc.output<S> {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length !== 1) throw badRequest('REQUEST.INVALID_QUERY', `query parameter ${k} is given more than once`);
      flat[k] = v[0] as string;
    } else flat[k] = v;
  }
  const r = z.safeParse(schema, flat);
  if (!r.success) throw badRequest('REQUEST.INVALID_QUERY', describeIssues(r.error), { issues: issues(r.error) });
  return r.data;
}

function issues(error: zc.$ZodError): { path: string; message: string }[] {
  return error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

function describeIssues(error: zc.$ZodError): string {
  return issues(error)
    .slice(0, 5)
    .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
    .join('; ');
}
