import { cachedRevocationFeed, etagMatches, feedEtag, revocationFeed } from '../adapters/grpc/revocations';
import { decide } from '../core/decide';
import { parseDuration } from '../core/duration';
import { eligibility } from '../core/eligibility';
import { isTimeboxError } from '../core/errors';
import type { RequestOutcome } from '../core/grant/service';
import { foldGrant, type Grant } from '../core/grant/state';
import { isGrantId } from '../core/ids';
import { PLAN_CREDENTIAL_KIND, scopedLog } from '../core/ports';
import { normalizePrincipalId, type Principal } from '../core/principal';
import { audit, verify } from './audit';
import { type ApiDeps, type Ctx, notFound } from './context';
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
import { listGrants } from './lists';
import { ROUTE_IDS, ROUTES, type RouteId, type RouteSpec, templatePattern } from './routes';
import { consoleUrl, credentialView, decisionView, grantView, planView } from './views';

export type { ApiDeps } from './context';
export type { ApiRequest, ApiResponse } from './http';
export { MAX_BODY_BYTES } from './http';

// ---- routing -------------------------------------------------------------------------------------------------

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
      const { credential } = await service.issueCredentials(ctx.id, ctx.who, kind, g);
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
      const { credential } = await service.issueCredentials(ctx.id, ctx.who, 'console', g);
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

function duration(text: string): number {
  const r = parseDuration(text);
  if (!r.ok) throw badRequest('REQUEST.INVALID_DURATION', r.message);
  return r.ms;
}
