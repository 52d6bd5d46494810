import type { Grant } from '../core/grant/state';
import { normalizePrincipalId } from '../core/principal';
import type { ApiDeps, Ctx } from './context';
import { badRequest, parseQuery } from './http';
import { ROUTES } from './routes';

/**
 * `mine` (the default): the caller's own requests. `approvable`: pending requests the caller could approve now
 * (not their own, not already approved by them). `status` alone: auditors see every grant in that status, others
 * only those they may read. Filtering happens after the index read, so a filtered page can be shorter than `limit`.
 */
export async function listGrants(deps: ApiDeps, ctx: Ctx): Promise<Grant[]> {
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
