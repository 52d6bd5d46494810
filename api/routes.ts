import { REVOCATION_FEED_PATH } from '../adapters/grpc/revocations';
import * as z from '../adapters/zod';
import { GRANT_STATUSES } from '../core/grant/events';
import { TARGET_NAME } from '../core/policy/names';

/**
 * The broker's HTTP API as data: every route's method, path template, who may call it and what it reads and answers.
 * The transport-neutral API (./app.ts) binds a handler to each id, the stack derives its public
 * resources from it, and the CLI builds its paths with `pathOf`, so none of them can name a route the others lack.
 * No handlers here: the table loads in the CLI and the Pulumi program too.
 */

// ---- bodies and queries --------------------------------------------------------------------------------------

/**
 * C0 controls and DEL are never legitimate in names, scopes or tickets, and confuse logs and notices; free text may
 * also carry tab and line breaks.
 */
function withoutControls(s: string, allowLines: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 || c === 0x7f) && !(allowLines && (c === 0x09 || c === 0x0a || c === 0x0d))) return false;
  }
  return true;
}
const freeText = (max: number) =>
  z.string().check(
    z.minLength(1),
    z.maxLength(max),
    z.refine((s) => withoutControls(s, true), 'must not contain control characters other than tab and line breaks'),
  );
const line = (max: number) =>
  z.string().check(
    z.minLength(1),
    z.maxLength(max),
    z.refine((s) => withoutControls(s, false), 'must not contain control characters'),
  );
const durationText = () => z.string().check(z.minLength(1), z.maxLength(32));

// Each body and query schema is built on its route's first request (z.lazy), not at every cold start: building
// them all costs a cold function about 5 ms, and one invocation uses one route.
const RequestBody = z.lazy(() =>
  z.strictObject({
    target: z.string().check(z.regex(TARGET_NAME, 'a target name is 1-63 of a-z, 0-9 and -')),
    scopes: z.optional(z.array(line(1024)).check(z.maxLength(50))),
    duration: durationText(),
    reason: freeText(1000),
    ticket: z.optional(line(128)),
    startAt: z.optional(z.iso.datetime({ offset: true })),
  }),
);
const OptionalComment = z.lazy(() => z.strictObject({ comment: z.optional(freeText(1000)) }));
const RequiredComment = z.lazy(() => z.strictObject({ comment: freeText(1000) }));
const RevokeBody = z.lazy(() => z.strictObject({ reason: freeText(1000) }));
const ExtendBody = z.lazy(() => z.strictObject({ duration: durationText(), reason: freeText(1000) }));
const EmptyBody = z.lazy(() => z.strictObject({}));

const flag = () =>
  z.pipe(
    z.enum(['true', 'false']),
    z.transform((v: 'true' | 'false') => v === 'true'),
  );
const intIn = (min: number, max: number) =>
  z.pipe(
    z.pipe(z.string().check(z.regex(/^\d{1,6}$/, 'must be a whole number')), z.transform(Number)),
    z.number().check(z.int(), z.minimum(min), z.maximum(max)),
  );
const instant = () =>
  z.pipe(
    z.iso.datetime({ offset: true }),
    z.transform((s: string) => new Date(s)),
  );

const ListQuery = z.lazy(() =>
  z.strictObject({
    mine: z.optional(flag()),
    approvable: z.optional(flag()),
    status: z.optional(z.enum(GRANT_STATUSES)),
    limit: z.optional(intIn(1, 100)),
  }),
);
const AuditQuery = z.lazy(() =>
  z.strictObject({
    grant: z.optional(z.string().check(z.maxLength(64))),
    actor: z.optional(line(128)),
    target: z.optional(z.string().check(z.regex(TARGET_NAME))),
    since: z.optional(instant()),
    until: z.optional(instant()),
    limit: z.optional(intIn(1, 1000)),
    cursor: z.optional(
      z.string().check(z.maxLength(2048), z.regex(/^[A-Za-z0-9_\-=+/.:#]+$/, 'is not a cursor this API returned')),
    ),
  }),
);
const VerifyQuery = z.lazy(() =>
  z.strictObject({
    grant: z.optional(z.string().check(z.maxLength(64))),
    since: z.optional(instant()),
    until: z.optional(instant()),
  }),
);
const TimelineQuery = z.lazy(() => z.strictObject({ grant: z.string().check(z.maxLength(64)) }));
const NoQuery = z.lazy(() => z.strictObject({}));

// ---- the table -----------------------------------------------------------------------------------------------

/** `public`: served without credentials (no SigV4 in AWS, no token locally); `authenticated`: everything else. */
export type Access = 'public' | 'authenticated';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** Path template; `{id}` matches one path segment (a grant id). */
  path: string;
  access: Access;
  /** The query string it accepts (absent: not checked). */
  query?: z.ZodMiniType;
  /** The JSON body it accepts (absent: none read). */
  body?: z.ZodMiniType;
}

/** Each route's comment says what a success answers (docs/api.md has the shapes). */
export const ROUTES = {
  /** 201 {grant, decision}; 200 when an Idempotency-Key replays */
  'request.create': {
    method: 'POST',
    path: '/v1/requests',
    access: 'authenticated',
    query: NoQuery,
    body: RequestBody,
  },
  /** 200 {grants} */
  'request.list': {
    method: 'GET',
    path: '/v1/requests',
    access: 'authenticated',
    query: ListQuery,
  },
  /** 200 {grant} */
  'request.get': {
    method: 'GET',
    path: '/v1/requests/{id}',
    access: 'authenticated',
    query: NoQuery,
  },
  /** 200 {grant} */
  'request.approve': {
    method: 'POST',
    path: '/v1/requests/{id}/approve',
    access: 'authenticated',
    body: OptionalComment,
  },
  /** 200 {grant} */
  'request.deny': {
    method: 'POST',
    path: '/v1/requests/{id}/deny',
    access: 'authenticated',
    body: RequiredComment,
  },
  /** 200 {grant} */
  'request.cancel': {
    method: 'POST',
    path: '/v1/requests/{id}/cancel',
    access: 'authenticated',
    body: OptionalComment,
  },
  /** 200 {grant} */
  'request.revoke': {
    method: 'POST',
    path: '/v1/requests/{id}/revoke',
    access: 'authenticated',
    body: RevokeBody,
  },
  /** 201 {grant, decision} */
  'request.extend': {
    method: 'POST',
    path: '/v1/requests/{id}/extend',
    access: 'authenticated',
    body: ExtendBody,
  },
  /** 200 credential_process JSON (aws-role), {token, expiresAt} (grpc), {binding, expiresAt} (gcp-role), or a plan */
  'grant.credentials': {
    method: 'POST',
    path: '/v1/grants/{id}/credentials',
    access: 'authenticated',
    body: EmptyBody,
  },
  /** 200 {url, expiresAt} (aws-role only), or a plan */
  'grant.console': {
    method: 'POST',
    path: '/v1/grants/{id}/console',
    access: 'authenticated',
    body: EmptyBody,
  },
  /** 200 {principal, options} */
  'eligibility.get': {
    method: 'GET',
    path: '/v1/eligibility',
    access: 'authenticated',
    query: NoQuery,
  },
  /** 200 {decision} */
  'eligibility.check': {
    method: 'POST',
    path: '/v1/eligibility/check',
    access: 'authenticated',
    query: NoQuery,
    body: RequestBody,
  },
  /** 200 {events, cursor?} */
  'audit.list': {
    method: 'GET',
    path: '/v1/audit',
    access: 'authenticated',
    query: AuditQuery,
  },
  /** 200 {grantId, ok, ...} for one grant, {ok, grants, broken, since, until, truncated?} for a window */
  'audit.verify': {
    method: 'GET',
    path: '/v1/audit/verify',
    access: 'authenticated',
    query: VerifyQuery,
  },
  /** 200 lifecycle events and CloudTrail actions in time order */
  'audit.timeline': {
    method: 'GET',
    path: '/v1/audit/timeline',
    access: 'authenticated',
    query: TimelineQuery,
  },
  /** 200 {keys} (cached 5 minutes) */
  keys: {
    method: 'GET',
    path: '/.well-known/jwks.json',
    access: 'public',
  },
  /** 200 {revoked, generatedAt, jwt}, or 304 for an unchanged If-None-Match */
  revocations: {
    method: 'GET',
    path: REVOCATION_FEED_PATH,
    access: 'public',
  },
  /** 200 {ok: true} */
  health: {
    method: 'GET',
    path: '/healthz',
    access: 'public',
  },
} as const satisfies Record<string, RouteSpec>;

export type RouteId = keyof typeof ROUTES;

export const ROUTE_IDS = Object.keys(ROUTES) as RouteId[];

/**
 * Paths served without credentials, in table order. Public routes are GETs of fixed paths (a test holds the table to
 * it): the stack opens exactly these as API Gateway resources without SigV4.
 */
export const PUBLIC_PATHS: readonly string[] = ROUTE_IDS.filter((id) => ROUTES[id].access === 'public').map(
  (id) => ROUTES[id].path,
);

type Templated = { [K in RouteId]: (typeof ROUTES)[K]['path'] extends `${string}{id}${string}` ? K : never }[RouteId];

/**
 * The concrete path of a route: `pathOf('request.approve', { id })` is `/v1/requests/<id>/approve`. The id is
 * URL-encoded, so a hostile id cannot reach another route.
 */
export function pathOf(route: Exclude<RouteId, Templated>): string;
export function pathOf(route: Templated, params: { id: string }): string;
export function pathOf(route: RouteId, params?: { id: string }): string {
  const template: string = ROUTES[route].path;
  if (!template.includes('{id}')) return template;
  if (params === undefined) throw new Error(`route ${route} needs an id`);
  return template.replace('{id}', encodeURIComponent(params.id));
}

/** `/v1/requests/{id}/approve` -> an anchored pattern capturing the id segment. */
export function templatePattern(template: string): RegExp {
  const escaped = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace('{id}', '([^/]+)');
  return new RegExp(`^${escaped}$`);
}
