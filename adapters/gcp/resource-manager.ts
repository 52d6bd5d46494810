import { GCP_PROJECT_ID } from './config';
import { GCP_CODES, GcpError } from './errors';
import { type IamPolicy, IamPolicySchema, UPDATE_MASK } from './policy';

/** What the client needs from an auth client: a bearer token (google-auth-library clients have this method). */
export interface GcpAuthClient {
  getAccessToken(): Promise<{ token?: string | null }>;
}

export interface ResourceManagerOptions {
  auth: GcpAuthClient;
  fetch?: typeof fetch;
  /** Default `https://cloudresourcemanager.googleapis.com`. */
  endpoint?: string;
  /** Per-call timeout; the Lambda has a budget and the sweeper retries. Default 10 s. */
  timeoutMs?: number;
}

/**
 * Cloud Resource Manager v1, the two calls Timebox makes: `projects.getIamPolicy` and `projects.setIamPolicy`.
 * HTTP failures become GcpError with a stable code; the provider decides what to retry (only etag conflicts).
 */
export class ResourceManagerClient {
  private readonly fetch: typeof fetch;
  private readonly endpoint: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ResourceManagerOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.endpoint = (opts.endpoint ?? 'https://cloudresourcemanager.googleapis.com').replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Reads the policy as version 3, so conditional bindings come back whole (a v1 read would hide them). */
  async getIamPolicy(project: string): Promise<IamPolicy> {
    return this.call(project, 'getIamPolicy', { options: { requestedPolicyVersion: 3 } });
  }

  /** Writes bindings only (`updateMask: bindings,etag`); Google refuses with 409 ABORTED if the etag is stale. */
  async setIamPolicy(project: string, policy: IamPolicy): Promise<IamPolicy> {
    return this.call(project, 'setIamPolicy', { policy, updateMask: UPDATE_MASK });
  }

  private async call(project: string, method: 'getIamPolicy' | 'setIamPolicy', body: unknown): Promise<IamPolicy> {
    if (!GCP_PROJECT_ID.test(project))
      throw new GcpError('invalid', GCP_CODES.invalidProject, `"${project.slice(0, 64)}" is not a GCP project id`);
    const token = await this.token();
    const url = `${this.endpoint}/v1/projects/${project}:${method}`;
    let res: Response;
    try {
      res = await this.fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new GcpError('unavailable', GCP_CODES.unavailable, `${method} on ${project} failed: ${errorText(e)}`, {
        cause: e,
      });
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw httpError(project, method, res.status, text);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new GcpError('unavailable', GCP_CODES.badResponse, `${method} on ${project} answered with non-JSON`, {
        cause: e,
        httpStatus: res.status,
      });
    }
    // Validated, but the raw value is what is returned: bindings Timebox does not own go back exactly as read.
    const checked = IamPolicySchema.safeParse(raw);
    if (!checked.success)
      throw new GcpError('unavailable', GCP_CODES.badResponse, `${method} on ${project} did not return an IAM policy`, {
        details: checked.error.issues.slice(0, 5),
        httpStatus: res.status,
      });
    return raw as IamPolicy;
  }

  private async token(): Promise<string> {
    try {
      const { token } = await this.opts.auth.getAccessToken();
      if (!token) throw new Error('no access token returned');
      return token;
    } catch (e) {
      if (e instanceof GcpError) throw e;
      throw new GcpError(
        'unavailable',
        GCP_CODES.authFailed,
        `could not get a GCP token through Workload Identity Federation: ${errorText(e)}`,
        { cause: e },
      );
    }
  }
}

interface GoogleErrorBody {
  error?: { code?: number; status?: string; message?: string };
}

function httpError(project: string, method: string, status: number, text: string): GcpError {
  let body: GoogleErrorBody = {};
  try {
    body = JSON.parse(text) as GoogleErrorBody;
  } catch {
    // Not JSON (a proxy page): the status alone decides.
  }
  const googleStatus = body.error?.status ?? '';
  const googleMessage = (body.error?.message ?? text).slice(0, 300);
  const opts = { httpStatus: status, details: { status: googleStatus, message: googleMessage } };
  const where = `${method} on project ${project}`;
  // Etag mismatch: 409 ABORTED per the IAM docs; some surfaces answer 412 FAILED_PRECONDITION for the same race.
  if (status === 409 || status === 412 || googleStatus === 'ABORTED')
    return new GcpError(
      'conflict',
      GCP_CODES.conflict,
      `${where}: the policy changed concurrently (${googleStatus || status})`,
      opts,
    );
  if (status === 403)
    return new GcpError(
      'forbidden',
      GCP_CODES.permissionDenied,
      `${where} was denied (${googleMessage}): the broker service account lacks the Timebox broker role on this project, a granted role is not one access.yaml names for it (the broker's binding only lets it grant those), or the project does not exist; run pulumi up after editing access.yaml`,
      opts,
    );
  if (status === 404)
    return new GcpError('not-found', GCP_CODES.projectNotFound, `${where}: project not found (${googleMessage})`, opts);
  if (status === 401)
    return new GcpError(
      'unavailable',
      GCP_CODES.authFailed,
      `${where}: the access token was refused (${googleMessage})`,
      opts,
    );
  if (status === 400)
    return new GcpError('unprocessable', GCP_CODES.rejected, `${where} was rejected: ${googleMessage}`, opts);
  return new GcpError(
    'unavailable',
    GCP_CODES.unavailable,
    `${where} failed with HTTP ${status} ${googleStatus}`.trim(),
    opts,
  );
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
