import { z } from 'zod';
import { isTimeboxError } from '../core/errors';
import { isGrantId } from '../core/ids';
import type { ApiDeps } from '../lambdas/api/app';
import { createApi } from '../lambdas/api/app';
import {
  type ApiRequest,
  type ApiResponse,
  errorResponse,
  HttpError,
  json,
  lowerCaseHeaders,
  parseBody,
} from '../lambdas/api/http';
import { scopedLog } from '../lambdas/log';
import { LOCAL_PLAN_KIND } from './providers';

const PLAN_ROUTE = /^\/v1\/grants\/([^/]+)\/(credentials|console)$/;
const EmptyBody = z.strictObject({});

/**
 * The broker API of local mode: `createApi` as deployed, plus one difference. For `aws-role` and `gcp-role` grants
 * there are no cloud credentials locally, so POST /v1/grants/{id}/credentials and /console answer with the plan the
 * local providers build (./providers.ts), the exact session policy or bindings a deployment would apply, instead of
 * the AWS credential_process document. The call goes through the same GrantService path: same checks (requester,
 * active, MFA and source-IP conditions), same `credentials-issued` audit event. gRPC grants, and every other
 * route, are the deployed API unchanged.
 */
export function localApi(deps: ApiDeps): (req: ApiRequest) => Promise<ApiResponse> {
  const api = createApi(deps);
  return async (req) => {
    const m = typeof req.path === 'string' ? PLAN_ROUTE.exec(req.path) : null;
    if (!m || req.method?.toUpperCase() !== 'POST') return api(req);
    const id = m[1] as string;
    // Which path a grant takes depends only on its target kind, which never changes; an unknown or invisible grant
    // goes to the deployed API, which answers 404 exactly as for any other route. (The stream read is served by
    // the runtime's stream cache, ./cache.ts, so this costs no store call on the hot path.)
    const view = isGrantId(id) ? await deps.service.load(id).catch(() => undefined) : undefined;
    if (!view || view.target.kind === 'grpc') return api(req);
    const action = m[2] as 'credentials' | 'console';
    if (action === 'console' && view.target.kind !== 'aws-role') return api(req);
    return plan(deps, req, id, action);
  };
}

async function plan(
  deps: ApiDeps,
  req: ApiRequest,
  id: string,
  action: 'credentials' | 'console',
): Promise<ApiResponse> {
  const requestId = req.requestId || 'unknown';
  const log = scopedLog(deps.log, { requestId, grantId: id });
  try {
    const who = await deps.authenticate(req);
    parseBody(EmptyBody, req.body, lowerCaseHeaders(req.headers));
    // Visibility first: a grant the caller may not read is 404, as on every other route.
    await deps.service.get(id, who);
    const { credential } = await deps.service.issueCredentials(id, who, action);
    if (credential.kind !== LOCAL_PLAN_KIND || typeof credential.secret !== 'object' || credential.secret === null)
      throw new Error(`the ${action} of ${id} came from a provider that is not a local plan provider`);
    log.info('api request', { method: 'POST', route: `/v1/grants/{id}/${action}`, status: 200, principal: who.id });
    return json(200, { ...credential.secret, expiresAt: credential.expiresAt.toISOString() }, { requestId });
  } catch (e) {
    if (isTimeboxError(e)) {
      const res = errorResponse(e, requestId);
      log.info('api request refused', { status: res.status, code: e.code });
      return res;
    }
    log.error('unexpected fault', { error: e instanceof Error ? e.message : String(e) });
    return errorResponse(
      new HttpError(500, 'unavailable', 'INTERNAL', 'unexpected error; quote the request id'),
      requestId,
    );
  }
}
