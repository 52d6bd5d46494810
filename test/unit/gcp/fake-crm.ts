import nock from 'nock';
import type { IamBinding, IamPolicy } from '../../../adapters/gcp/policy';

/**
 * A stand-in for Cloud Resource Manager v1 behind nock: the real URLs, request and response shapes, and the
 * behaviours that matter to Timebox (etag check with 409 ABORTED, version 3 required for conditions, no conditions
 * on basic roles, the 100 conditional bindings limit, 403 for projects the caller cannot see). Every request is
 * recorded so tests can assert what was sent, and what was not.
 */
export const CRM = 'https://cloudresourcemanager.googleapis.com';
export const TOKEN = 'ya29.test-token';

export interface CrmCall {
  method: 'getIamPolicy' | 'setIamPolicy';
  project: string;
  body: Record<string, unknown>;
  authorization: string | undefined;
}

const BASIC = new Set(['roles/owner', 'roles/editor', 'roles/viewer']);

export class FakeCrm {
  readonly policies = new Map<string, IamPolicy>();
  readonly calls: CrmCall[] = [];
  /** Projects whose policy the caller may not read or write (403 PERMISSION_DENIED). */
  readonly denied = new Set<string>();
  /** Projects the caller may read but not write (setIamPolicy answers 403). */
  readonly readOnly = new Set<string>();
  /** Runs after a getIamPolicy response is prepared: a concurrent writer changing the policy in between. */
  afterGet: ((project: string) => void) | undefined;
  private etagSeq = 0;

  /** Puts a project with a policy in place (version and etag filled in). */
  seed(project: string, bindings: IamBinding[], extra: Partial<IamPolicy> = {}): void {
    this.policies.set(project, { version: 1, ...extra, etag: this.nextEtag(), bindings: structuredClone(bindings) });
  }

  /** A change made outside Timebox (the console, Terraform, a person): new etag. */
  edit(project: string, f: (bindings: IamBinding[]) => IamBinding[]): void {
    const p = this.policies.get(project);
    if (!p) throw new Error(`no project ${project}`);
    this.policies.set(project, { ...p, etag: this.nextEtag(), bindings: f(structuredClone(p.bindings ?? [])) });
  }

  bindings(project: string): IamBinding[] {
    return this.policies.get(project)?.bindings ?? [];
  }

  writes(): CrmCall[] {
    return this.calls.filter((c) => c.method === 'setIamPolicy');
  }

  /** Intercepts every Resource Manager call until `nock.cleanAll()`. */
  install(): nock.Scope {
    const fake = this;
    return nock(CRM)
      .persist()
      .post(/^\/v1\/projects\/[^/:]+:(getIamPolicy|setIamPolicy)$/)
      .reply(function (uri, body) {
        const m = /^\/v1\/projects\/([^/:]+):(getIamPolicy|setIamPolicy)$/.exec(uri);
        const project = decodeURIComponent(m?.[1] ?? '');
        const method = m?.[2] as CrmCall['method'];
        const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown>;
        fake.calls.push({ method, project, body: parsed, authorization: this.req.headers.authorization });
        return method === 'getIamPolicy' ? fake.get(project, parsed) : fake.set(project, parsed);
      });
  }

  private get(project: string, body: Record<string, unknown>): [number, unknown] {
    const p = this.policies.get(project);
    if (!p || this.denied.has(project)) return denied(project, 'getIamPolicy');
    const requested = (body.options as { requestedPolicyVersion?: number } | undefined)?.requestedPolicyVersion ?? 1;
    const hasConditions = (p.bindings ?? []).some((b) => b.condition);
    // A v1 read of a policy with conditions returns v1 and marks conditional bindings; Timebox must ask for 3.
    const answer = structuredClone(p);
    if (requested < 3 && hasConditions) answer.version = 1;
    const out: [number, unknown] = [200, answer];
    this.afterGet?.(project);
    return out;
  }

  private set(project: string, body: Record<string, unknown>): [number, unknown] {
    const p = this.policies.get(project);
    if (!p || this.denied.has(project) || this.readOnly.has(project)) return denied(project, 'setIamPolicy');
    const policy = body.policy as IamPolicy | undefined;
    if (!policy) return error(400, 'INVALID_ARGUMENT', 'policy is required');
    if (policy.etag !== p.etag)
      return error(
        409,
        'ABORTED',
        'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.',
      );
    const bindings = policy.bindings ?? [];
    const conditional = bindings.filter((b) => b.condition);
    if (conditional.length > 0 && policy.version !== 3)
      return error(400, 'INVALID_ARGUMENT', 'Policy version 3 is required for conditional role bindings');
    if (conditional.some((b) => BASIC.has(b.role)))
      return error(400, 'INVALID_ARGUMENT', 'Conditions are not supported for basic roles');
    if (conditional.length > 100)
      return error(400, 'INVALID_ARGUMENT', 'A policy can have at most 100 conditional role bindings');
    // updateMask bindings,etag: audit configs and anything else stay as stored.
    const mask = String(body.updateMask ?? 'bindings,etag');
    const stored: IamPolicy = {
      ...p,
      version: conditional.length > 0 || p.version === 3 ? 3 : (policy.version ?? 1),
      etag: this.nextEtag(),
      bindings: mask.includes('bindings') ? structuredClone(bindings) : p.bindings,
    };
    this.policies.set(project, stored);
    return [200, structuredClone(stored)];
  }

  private nextEtag(): string {
    this.etagSeq++;
    return Buffer.from(`etag-${this.etagSeq}`).toString('base64');
  }
}

function error(code: number, status: string, message: string): [number, unknown] {
  return [code, { error: { code, message, status } }];
}

function denied(project: string, method: string): [number, unknown] {
  return error(
    403,
    'PERMISSION_DENIED',
    `The caller does not have permission (resourcemanager.projects.${method} on projects/${project})`,
  );
}
