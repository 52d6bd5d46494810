import { cachedRevocationFeed, etagMatches, feedEtag, revocationFeed } from '../adapters/grpc/revocations';
import type { CloudActionSource } from '../adapters/notify/timeline';
import * as z from '../adapters/zod';
import type { Clock } from '../core/clock';
import { type Decision, decide } from '../core/decide';
import { parseDuration } from '../core/duration';
import { eligibility } from '../core/eligibility';
import { isTimeboxError, type TimeboxError } from '../core/errors';
import type { ChainBreak } from '../core/grant/chain';
import { GRANT_STATUSES } from '../core/grant/events';
import type { GrantService, RequestOutcome } from '../core/grant/service';
import { foldGrant, type Grant } from '../core/grant/state';
import { isGrantId } from '../core/ids';
import type { CompiledPolicy } from '../core/policy/compile';
import {
  type EventStore,
  type IssuedCredential,
  type Log,
  PLAN_CREDENTIAL_KIND,
  type ProjectionStore,
  scopedLog,
  type TokenSigner,
} from '../core/ports';
import { normalizePrincipalId, type Principal } from '../core/principal';
import {
  type ApiRequest,
  type ApiResponse,
  badRequest,
  errorResponse,
  HttpError,
  json,
  lowerCaseHeaders,
  MAX_BODY_BYTES,
  parseBody,
  parseQuery,
} from './http';
import { ROUTE_IDS, ROUTES, type RouteId, type RouteSpec, templatePattern } from './routes';

export type { ApiRequest, ApiResponse } from './http';
export { MAX_BODY_BYTES } from './http';

export interface ApiDeps {
  service: GrantService;
  /** The only source of the principal; throws a 401/403 TimeboxError when the caller cannot be mapped. */
  authenticate: (req: ApiRequest) => Promise<Principal>;
  signer: TokenSigner;
  /** The broker's URL as services know it: `iss` of its tokens and of the signed revocation feed. */
  issuer: string;
  projections: ProjectionStore;
  events: EventStore;
  clock: Clock;
  log: Log;
  policy: () => CompiledPolicy;
  /** AWS calls made under a grant (CloudTrail through Athena); absent locally, where timelines are lifecycle only. */
  cloudActions?: CloudActionSource;
}

/** The widest audit window one query may span; DynamoDB reads one `byTime` partition per day. */
const MAX_AUDIT_WINDOW_MS = 31 * 24 * 60 * 60_000;
const DEFAULT_AUDIT_WINDOW_MS = 24 * 60 * 60_000;
/** Without a grant, verification walks every grant with events in the window; bounded so one call stays in budget. */
const MAX_VERIFY_GRANTS = 1000;

// ---- routing -------------------------------------------------------------------------------------------------

interface Ctx {
  req: ApiRequest;
  headers: Map<string, string>;
  who: Principal;
  id: string;
  log: Log;
}
type Handler = (ctx: Ctx) => Promise<ApiResponse>;
/** A route of the table (api/routes.ts) with its handler; public routes skip `authenticate`. */
interface Route extends RouteSpec {
  id: RouteId;
  handle: Handler;
}

/**
 * How long one build of the revocation feed is served (per process): at most one projection query and one KMS Sign
 * per 2 s per instance, however often the public route is called. Here (the deployed API) a service polls: worst
 * case for it to see a revocation is this plus its poll interval (15 s by default). The local broker also answers
 * long polls (local/revocation-push.ts), which this route does not: API Gateway REST has no streaming and a held
 * Lambda would bill for the whole wait.
 */
const REVOCATION_FEED_BUILD_MS = 2_000;

/**
 * The HTTP API of the broker, independent of transport. Every answer is JSON; every failure is
 * `{"error": {code, message, requestId}}` with a status from the error's kind. Nothing escapes as an exception.
 */
export function createApi(deps: ApiDeps): (req: ApiRequest) => Promise<ApiResponse> {
  const { service } = deps;
  const feed = cachedRevocationFeed(
    (now) => revocationFeed(deps.projections, deps.signer, deps.issuer, now),
    REVOCATION_FEED_BUILD_MS,
  );
  const ok = (ctx: Ctx, body: unknown, status = 200) => json(status, body, { requestId: ctx.req.requestId });

  /** 404 for a grant the caller may not read, the same answer as for one that does not exist. */
  const visible = async (ctx: Ctx): Promise<Grant> => {
    if (!isGrantId(ctx.id)) throw notFound(ctx.id);
    return service.get(ctx.id, ctx.who);
  };

  const requestAnswer = (ctx: Ctx, outcome: RequestOutcome): ApiResponse => {
    if (outcome.decision.decision === 'deny')
      throw new HttpError(403, 'forbidden', 'REQUEST.DENIED', 'the access policy denied this request', {
        grantId: outcome.grant.id,
        reasons: outcome.decision.reasons,
      });
    return ok(
      ctx,
      { grant: grantView(outcome.grant), decision: decisionView(outcome.decision) },
      outcome.replayed ? 200 : 201,
    );
  };

  const handlers: Record<RouteId, Handler> = {
    'request.create': async (ctx) => {
      parseQuery(ROUTES['request.create'].query, ctx.req.query);
      const body = parseBody(ROUTES['request.create'].body, ctx.req.body, ctx.headers);
      const key = ctx.headers.get('idempotency-key');
      const outcome = await service.request(
        ctx.who,
        {
          target: body.target,
          ...(body.scopes ? { scopes: body.scopes } : {}),
          duration: duration(body.duration),
          reason: body.reason,
          ...(body.ticket ? { ticket: body.ticket } : {}),
          ...(body.startAt ? { startAt: new Date(body.startAt) } : {}),
        },
        key === undefined ? {} : { idempotencyKey: key },
      );
      return requestAnswer(ctx, outcome);
    },
    'request.list': async (ctx) => ok(ctx, { grants: (await listGrants(deps, ctx)).map(grantView) }),
    'request.get': async (ctx) => {
      parseQuery(ROUTES['request.get'].query, ctx.req.query);
      return ok(ctx, { grant: grantView(await visible(ctx)) });
    },
    'request.approve': async (ctx) => {
      const { comment } = parseBody(ROUTES['request.approve'].body, ctx.req.body, ctx.headers);
      await visible(ctx);
      return ok(ctx, { grant: grantView(await service.approve(ctx.id, ctx.who, comment)) });
    },
    'request.deny': async (ctx) => {
      const { comment } = parseBody(ROUTES['request.deny'].body, ctx.req.body, ctx.headers);
      await visible(ctx);
      return ok(ctx, { grant: grantView(await service.deny(ctx.id, ctx.who, comment)) });
    },
    'request.cancel': async (ctx) => {
      const { comment } = parseBody(ROUTES['request.cancel'].body, ctx.req.body, ctx.headers);
      await visible(ctx);
      return ok(ctx, { grant: grantView(await service.cancel(ctx.id, ctx.who, comment)) });
    },
    'request.revoke': async (ctx) => {
      const { reason } = parseBody(ROUTES['request.revoke'].body, ctx.req.body, ctx.headers);
      await visible(ctx);
      return ok(ctx, { grant: grantView(await service.revoke(ctx.id, ctx.who, reason)) });
    },
    'request.extend': async (ctx) => {
      const body = parseBody(ROUTES['request.extend'].body, ctx.req.body, ctx.headers);
      await visible(ctx);
      const outcome = await service.extend(ctx.id, ctx.who, {
        duration: duration(body.duration),
        reason: body.reason,
      });
      return requestAnswer(ctx, outcome);
    },
    'grant.credentials': async (ctx) => {
      parseBody(ROUTES['grant.credentials'].body, ctx.req.body, ctx.headers);
      const g = await visible(ctx);
      const kind = g.target.kind === 'grpc' ? 'token' : 'credentials';
      const { credential } = await service.issueCredentials(ctx.id, ctx.who, kind);
      return ok(ctx, credentialView(g.target.kind, credential));
    },
    'grant.console': async (ctx) => {
      parseBody(ROUTES['grant.console'].body, ctx.req.body, ctx.headers);
      const g = await visible(ctx);
      if (g.target.kind !== 'aws-role')
        throw new HttpError(
          422,
          'unprocessable',
          'CONSOLE.UNSUPPORTED',
          `console sign-in exists only for aws-role grants; ${g.id} is ${g.target.kind}`,
        );
      const { credential } = await service.issueCredentials(ctx.id, ctx.who, 'console');
      if (credential.kind === PLAN_CREDENTIAL_KIND) return ok(ctx, planView(credential));
      return ok(ctx, { url: consoleUrl(credential.secret), expiresAt: credential.expiresAt.toISOString() });
    },
    // Who the caller is to the broker and what they may ask for: the web console's request form and header.
    'eligibility.get': async (ctx) => {
      parseQuery(ROUTES['eligibility.get'].query, ctx.req.query);
      const compiled = deps.policy();
      const me = normalizePrincipalId(ctx.who.id);
      return ok(ctx, {
        principal: {
          id: me,
          groups: [...new Set([...compiled.groupsOf(me), ...ctx.who.groups])].sort(),
          mfa: ctx.who.mfa,
          auditor: service.isAuditor(ctx.who),
        },
        options: eligibility(compiled, ctx.who),
      });
    },
    // The decision a request would get now, without making it: the form shows it while the person types.
    'eligibility.check': async (ctx) => {
      parseQuery(ROUTES['eligibility.check'].query, ctx.req.query);
      const body = parseBody(ROUTES['eligibility.check'].body, ctx.req.body, ctx.headers);
      const d = decide(
        deps.policy(),
        ctx.who,
        {
          target: body.target,
          scopes: body.scopes ?? [],
          duration: duration(body.duration),
          ...(body.startAt ? { startAt: new Date(body.startAt) } : {}),
        },
        deps.clock.now(),
      );
      return ok(ctx, { decision: decisionView(d) });
    },
    'audit.list': (ctx) => audit(deps, ctx),
    'audit.verify': (ctx) => verify(deps, ctx),
    // One grant's lifecycle events and AWS calls, merged; the same visibility as the grant itself.
    'audit.timeline': async (ctx) => {
      const q = parseQuery(ROUTES['audit.timeline'].query, ctx.req.query);
      if (!isGrantId(q.grant)) throw notFound(q.grant);
      const events = await service.history(q.grant, ctx.who);
      // Loaded on the first timeline request: most API calls never need it, and a cold start loads less.
      const { grantTimeline } = await import('../adapters/notify/timeline.js');
      return ok(ctx, await grantTimeline(foldGrant(events), events, deps.cloudActions));
    },
    // Keys rotate rarely and verifiers cache them; five minutes bounds how long a retired key lingers.
    keys: async (ctx) =>
      json(200, await deps.signer.jwks(), { requestId: ctx.req.requestId, cache: 'public, max-age=300' }),
    // Services poll this with the tag of the list they hold: an unchanged list costs a 304 and no body. `no-cache`
    // lets an HTTP cache keep the answer only if it asks again each time, so no cache adds to how late a
    // revocation is seen. A 304 never makes a service's copy fresher (only a signed `iat` does).
    revocations: async (ctx) => {
      const current = await feed(deps.clock.now());
      const etag = feedEtag(current.revoked);
      const headers = { etag };
      const cache = 'public, no-cache';
      if (etagMatches(ctx.headers.get('if-none-match'), etag))
        return { ...json(304, null, { requestId: ctx.req.requestId, cache, headers }), body: '' };
      return json(200, current, { requestId: ctx.req.requestId, cache, headers });
    },
    health: async (ctx) => json(200, { ok: true }, { requestId: ctx.req.requestId }),
  };

  const routes: Route[] = ROUTE_IDS.map((id) => ({ ...ROUTES[id], id, handle: handlers[id] }));

  const patterns = new Map(routes.map((r) => [r, templatePattern(r.path)]));
  const match = (r: Route, path: string) => (patterns.get(r) as RegExp).exec(path);

  return async (req: ApiRequest): Promise<ApiResponse> => {
    const requestId = typeof req.requestId === 'string' && req.requestId ? req.requestId.slice(0, 128) : 'unknown';
    let log = scopedLog(deps.log, { requestId });
    try {
      const path = typeof req.path === 'string' ? req.path : '';
      const matching = routes.filter((r) => match(r, path));
      if (matching.length === 0) throw new HttpError(404, 'not-found', 'ROUTE.NOT_FOUND', 'no such route');
      const method = typeof req.method === 'string' ? req.method.toUpperCase() : '';
      const route = matching.find((r) => r.method === method);
      if (!route) {
        const allow = matching.map((r) => r.method).join(', ');
        throw new HttpError(405, 'invalid', 'ROUTE.METHOD_NOT_ALLOWED', `use ${allow}`, {}, { allow });
      }
      const body = typeof req.body === 'string' ? req.body : undefined;
      if (body !== undefined && Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES)
        throw new HttpError(413, 'invalid', 'REQUEST.TOO_LARGE', `the body is larger than ${MAX_BODY_BYTES} bytes`);
      const id = match(route, path)?.[1] ?? '';
      if (id) log = scopedLog(log, { grantId: id.slice(0, 64) });
      const who = route.access === 'public' ? ANONYMOUS : await deps.authenticate(req);
      const res = await route.handle({ req: { ...req, body }, headers: lowerCaseHeaders(req.headers), who, id, log });
      log.info('api request', { method, route: route.path, status: res.status, principal: who.id });
      return res;
    } catch (e) {
      if (isTimeboxError(e)) {
        const res = errorResponse(e, requestId);
        log.info('api request refused', { status: res.status, code: e.code });
        return res;
      }
      // A fault, not a refusal: the details go to the log only, the caller gets the request id to quote.
      log.error('unexpected fault', {
        error: e instanceof Error ? e.message : String(e),
        stack: e instanceof Error ? e.stack : undefined,
      });
      return json(
        500,
        { error: { code: 'INTERNAL', message: 'unexpected error; quote the request id', requestId } },
        { requestId },
      );
    }
  };
}

const ANONYMOUS: Principal = { id: 'anonymous', groups: [], mfa: false, attributes: {} };

function notFound(id: string): TimeboxError {
  return new HttpError(404, 'not-found', 'GRANT.NOT_FOUND', `no grant ${id.slice(0, 64)}`);
}

function duration(text: string): number {
  const r = parseDuration(text);
  if (!r.ok) throw badRequest('REQUEST.INVALID_DURATION', r.message);
  return r.ms;
}

// ---- lists ---------------------------------------------------------------------------------------------------

/**
 * `mine` (the default): the caller's own requests. `approvable`: pending requests the caller could approve now
 * (not their own, not already approved by them). `status` alone: auditors see every grant in that status, others
 * only those they may read. Filtering happens after the index read, so a filtered page can be shorter than `limit`.
 */
async function listGrants(deps: ApiDeps, ctx: Ctx): Promise<Grant[]> {
  const q = parseQuery(ROUTES['request.list'].query, ctx.req.query);
  const limit = q.limit ?? 50;
  const me = normalizePrincipalId(ctx.who.id);
  if (q.mine && q.approvable) throw badRequest('REQUEST.INVALID_QUERY', 'use either mine=true or approvable=true');
  const ofStatus = (g: Grant) => !q.status || g.status === q.status;
  // A filter applied after the read needs a wider read to fill the page.
  const readLimit = q.status ? 1000 : limit;
  let grants: Grant[];
  if (q.approvable) {
    const compiled = deps.policy();
    const groups = new Set([...compiled.groupsOf(me), ...ctx.who.groups]);
    const subjects = [...[...groups].map((g) => `group:${g}`), me];
    grants = (await deps.projections.listAwaitingApproval(subjects, { limit: readLimit })).filter(
      (g) =>
        g.status === 'pending' &&
        g.requester.id !== me &&
        !g.approvals.some((a) => a.by === me) &&
        deps.service.canRead(g, ctx.who),
    );
  } else if (q.status && q.mine !== true) {
    const all = await deps.projections.listByStatus(q.status, { limit: readLimit });
    grants = deps.service.isAuditor(ctx.who) ? all : all.filter((g) => deps.service.canRead(g, ctx.who));
  } else {
    grants = await deps.projections.listByRequester(me, { limit: readLimit });
  }
  return grants.filter(ofStatus).slice(0, limit);
}

// ---- audit ---------------------------------------------------------------------------------------------------

function auditWindow(
  deps: ApiDeps,
  q: { since?: Date | undefined; until?: Date | undefined },
): { since: Date; until: Date } {
  // `until` is exclusive; by default the window ends just after now, so an event written this millisecond counts.
  const until = q.until ?? new Date(deps.clock.now().getTime() + 1);
  const since = q.since ?? new Date(until.getTime() - DEFAULT_AUDIT_WINDOW_MS);
  if (since.getTime() >= until.getTime()) throw badRequest('AUDIT.INVALID_WINDOW', 'since must be before until');
  if (until.getTime() - since.getTime() > MAX_AUDIT_WINDOW_MS)
    throw badRequest('AUDIT.WINDOW_TOO_LARGE', 'an audit query spans at most 31 days; page through longer periods');
  return { since, until };
}

function auditorsOnly(deps: ApiDeps, who: Principal, what: string): void {
  if (!deps.service.isAuditor(who))
    throw new HttpError(403, 'forbidden', 'AUDIT.AUDITORS_ONLY', `${what} is open to auditors and admins only`);
}

/** One grant's events (anyone who may read the grant), or events across grants (auditors only). */
async function audit(deps: ApiDeps, ctx: Ctx): Promise<ApiResponse> {
  const q = parseQuery(ROUTES['audit.list'].query, ctx.req.query);
  const limit = q.limit ?? 100;
  const ok = (body: unknown) => json(200, body, { requestId: ctx.req.requestId });
  if (q.grant !== undefined) {
    if (!isGrantId(q.grant)) throw notFound(q.grant);
    const actor = q.actor === undefined ? undefined : normalizePrincipalId(q.actor);
    const after = q.cursor === undefined ? 0 : Number(q.cursor);
    if (!Number.isSafeInteger(after) || after < 0)
      throw badRequest('AUDIT.INVALID_CURSOR', 'not a cursor this API returned');
    const events = (await deps.service.history(q.grant, ctx.who)).filter(
      (e) =>
        e.seq > after &&
        (!actor || e.actor.id === actor) &&
        (!q.since || Date.parse(e.at) >= q.since.getTime()) &&
        (!q.until || Date.parse(e.at) < q.until.getTime()),
    );
    const page = events.slice(0, limit);
    const last = page[page.length - 1];
    return ok({ events: page, ...(events.length > limit && last ? { cursor: String(last.seq) } : {}) });
  }
  auditorsOnly(deps, ctx.who, 'the audit record across grants');
  // A cursor carries the window it was issued for: the default window moves with the clock, so a next page asked
  // for without `since`/`until` must not be read against a new one.
  const carried = q.cursor === undefined ? undefined : readAuditCursor(q.cursor);
  const window = carried
    ? auditWindow(deps, { since: q.since ?? carried.since, until: q.until ?? carried.until })
    : auditWindow(deps, q);
  if (
    carried &&
    (window.since.getTime() !== carried.since.getTime() || window.until.getTime() !== carried.until.getTime())
  )
    throw badRequest('AUDIT.INVALID_CURSOR', 'this cursor belongs to another window; repeat the same since and until');
  const page = await deps.events.query({
    ...window,
    limit,
    ...(q.actor ? { actor: normalizePrincipalId(q.actor) } : {}),
    ...(q.target ? { target: q.target } : {}),
    ...(carried ? { cursor: carried.cursor } : {}),
  });
  return ok({ events: page.events, ...(page.cursor ? { cursor: auditCursor(window, page.cursor) } : {}) });
}

/** The API's cursor for audit pages across grants: the window, and the store's own cursor inside it. */
function auditCursor(w: { since: Date; until: Date }, cursor: string): string {
  return Buffer.from(JSON.stringify([w.since.getTime(), w.until.getTime(), cursor])).toString('base64url');
}

function readAuditCursor(text: string): { since: Date; until: Date; cursor: string } {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 3 &&
      Number.isSafeInteger(v[0]) &&
      Number.isSafeInteger(v[1]) &&
      typeof v[2] === 'string'
    )
      return { since: new Date(v[0] as number), until: new Date(v[1] as number), cursor: v[2] as string };
  } catch {
    // Falls through to the one answer for anything this API did not issue.
  }
  throw badRequest('AUDIT.INVALID_CURSOR', 'not a cursor this API returned');
}

/** Verifies the hash chain of one grant, or of every grant with events in a window (auditors only). */
async function verify(deps: ApiDeps, ctx: Ctx): Promise<ApiResponse> {
  const q = parseQuery(ROUTES['audit.verify'].query, ctx.req.query);
  const ok = (body: unknown) => json(200, body, { requestId: ctx.req.requestId });
  if (q.grant !== undefined) {
    if (!isGrantId(q.grant)) throw notFound(q.grant);
    return ok({ grantId: q.grant, ...(await deps.service.verify(q.grant, ctx.who)) });
  }
  auditorsOnly(deps, ctx.who, 'verifying every grant');
  const { since, until } = auditWindow(deps, q);
  const ids = new Set<string>();
  let cursor: string | undefined;
  let truncated = false;
  do {
    const page = await deps.events.query({ since, until, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const e of page.events) {
      if (ids.size >= MAX_VERIFY_GRANTS && !ids.has(e.grantId)) truncated = true;
      else ids.add(e.grantId);
    }
    cursor = truncated ? undefined : page.cursor;
  } while (cursor);
  // Grants whose events in the window were deleted leave no trace in the event query; their projections, last
  // updated in the window, still name them, and verify then reports the missing head.
  for (const status of GRANT_STATUSES) {
    for (const g of await deps.projections.listByStatus(status, { limit: MAX_VERIFY_GRANTS })) {
      const at = Date.parse(g.updatedAt);
      if (at < since.getTime() || at > until.getTime() || ids.has(g.id)) continue;
      if (ids.size >= MAX_VERIFY_GRANTS) truncated = true;
      else ids.add(g.id);
    }
  }
  const broken: { grantId: string; breaks: unknown }[] = [];
  for (const id of ids) {
    // One grant that cannot be read (its events gone, an item that does not parse) is a break of that grant,
    // never the end of the run: every other grant of the window is still verified.
    try {
      const r = await deps.service.verify(id, ctx.who);
      if (!r.ok) broken.push({ grantId: id, breaks: r.breaks });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      broken.push({ grantId: id, breaks: [{ grantId: id, seq: 0, problem: 'unreadable', message }] });
    }
  }
  // A store that seals its write order (the local SQLite store) also shows events deleted or added around the
  // window, including whole grants that no query above can name any more.
  if (deps.events.auditLog) {
    const byGrant = new Map<string, ChainBreak[]>();
    for (const b of await deps.events.auditLog({ since, until }))
      byGrant.set(b.grantId, [...(byGrant.get(b.grantId) ?? []), b]);
    for (const [grantId, breaks] of byGrant) {
      const seen = broken.find((x) => x.grantId === grantId);
      if (!seen) broken.push({ grantId, breaks });
      else if (Array.isArray(seen.breaks))
        for (const b of breaks)
          if (!seen.breaks.some((x: ChainBreak) => x.seq === b.seq && x.problem === b.problem)) seen.breaks.push(b);
    }
  }
  return ok({
    ok: broken.length === 0,
    grants: ids.size,
    broken,
    since: since.toISOString(),
    until: until.toISOString(),
    ...(truncated ? { truncated: true } : {}),
  });
}

// ---- views ---------------------------------------------------------------------------------------------------

/** A grant as the API shows it: internal bookkeeping (idempotency hash, bus position) left out. */
export function grantView(g: Grant): Omit<Grant, 'requestHash' | 'publishedSeq'> {
  const { requestHash: _h, publishedSeq: _p, ...rest } = g;
  return rest;
}

/** The decision without the policy's target definition (the grant already carries its snapshot). */
export function decisionView(d: Decision) {
  return {
    decision: d.decision,
    rule: d.rule,
    reasons: d.reasons,
    scope: d.scope,
    startAt: d.startAt.toISOString(),
    expiresAt: d.expiresAt?.toISOString() ?? null,
    maxDuration: d.maxDuration,
    approval: d.approval,
    pendingUntil: d.pendingUntil?.toISOString() ?? null,
  };
}

// Built on first use, like the route schemas: only credential and console requests read them.
const StsCredentials = z.lazy(() =>
  z.union([
    z.object({ AccessKeyId: z.string(), SecretAccessKey: z.string(), SessionToken: z.string() }),
    z.pipe(
      z.object({ accessKeyId: z.string(), secretAccessKey: z.string(), sessionToken: z.string() }),
      z.transform((c: { accessKeyId: string; secretAccessKey: string; sessionToken: string }) => ({
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        SessionToken: c.sessionToken,
      })),
    ),
  ]),
);
const TokenSecret = z.lazy(() =>
  z.union([
    z.string().check(z.minLength(1)),
    z.pipe(
      z.object({ token: z.string().check(z.minLength(1)) }),
      z.transform((t: { token: string }) => t.token),
    ),
  ]),
);
const UrlSecret = z.lazy(() =>
  z.pipe(
    z.union([
      z.string(),
      z.pipe(
        z.object({ url: z.string() }),
        z.transform((u: { url: string }) => u.url),
      ),
    ]),
    z.string().check(z.regex(/^https:\/\//, 'a console URL is https')),
  ),
);

/**
 * What each target kind hands the caller: the AWS CLI `credential_process` document (Version 1, with
 * Expiration so the CLI refreshes before it), a bearer token for gRPC, the binding details for GCP.
 */
/** A plan answers with what a deployment would apply (local mode has no cloud credentials to give). */
function planView(c: IssuedCredential): unknown {
  if (typeof c.secret !== 'object' || c.secret === null) throw new Error('a plan provider returned no plan');
  return { ...c.secret, expiresAt: c.expiresAt.toISOString() };
}

function credentialView(kind: Grant['target']['kind'], c: IssuedCredential): unknown {
  if (c.kind === PLAN_CREDENTIAL_KIND) return planView(c);
  const expiresAt = c.expiresAt.toISOString();
  if (kind === 'aws-role') {
    const r = StsCredentials.safeParse(c.secret);
    if (!r.success) throw new Error('the aws-role provider returned credentials of an unknown shape');
    return { Version: 1, ...r.data, Expiration: expiresAt };
  }
  if (kind === 'grpc') {
    const r = TokenSecret.safeParse(c.secret);
    if (!r.success) throw new Error('the grpc provider returned a token of an unknown shape');
    return { token: r.data, expiresAt };
  }
  return { binding: c.secret, expiresAt };
}

function consoleUrl(secret: unknown): string {
  const r = UrlSecret.safeParse(secret);
  if (!r.success) throw new Error('the aws-role provider returned a console link of an unknown shape');
  return r.data;
}
