import type { ChainBreak } from '../core/grant/chain';
import { GRANT_STATUSES } from '../core/grant/events';
import { isGrantId } from '../core/ids';
import { normalizePrincipalId, type Principal } from '../core/principal';
import { type ApiDeps, type Ctx, notFound } from './context';
import { type ApiResponse, badRequest, HttpError, json, parseQuery } from './http';
import { ROUTES } from './routes';

// The audit routes: one grant's events, events across grants, and verification of the hash chains.

/** The widest audit window one query may span; DynamoDB reads one `byTime` partition per day. */
const MAX_AUDIT_WINDOW_MS = 31 * 24 * 60 * 60_000;
const DEFAULT_AUDIT_WINDOW_MS = 24 * 60 * 60_000;
/** Without a grant, verification walks every grant with events in the window; bounded so one call stays in budget. */
const MAX_VERIFY_GRANTS = 1000;

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
export async function audit(deps: ApiDeps, ctx: Ctx): Promise<ApiResponse> {
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
export async function verify(deps: ApiDeps, ctx: Ctx): Promise<ApiResponse> {
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
