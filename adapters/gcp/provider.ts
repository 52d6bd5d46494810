import type { AwsSecurityCredentialsSupplier } from 'google-auth-library';
import { bindingTitle, celTimestamp, gcpBindings } from '../../core/builders/gcp';
import { type Clock, systemClock } from '../../core/clock';
import type { Grant } from '../../core/grant/state';
import type {
  AccessContext,
  AccessProvider,
  ActiveGrant,
  CredentialKind,
  IssuedCredential,
  Log,
} from '../../core/ports';
import { backoff, retry } from '../../core/retry';
import { isBasicRole, parseGcpRole } from '../../core/scope/gcp';
import { createAuthClient } from './auth';
import { GCP_PROJECT_ID, type GcpConfig } from './config';
import { GCP_CODES, GcpError } from './errors';
import { memberFor } from './members';
import {
  countConditional,
  countSameRoleMember,
  type IamBinding,
  type IamPolicy,
  MAX_CONDITIONAL_BINDINGS,
  MAX_SAME_ROLE_MEMBER_BINDINGS,
  planAdd,
  planRemove,
  policyToWrite,
} from './policy';
import { type GcpAuthClient, ResourceManagerClient } from './resource-manager';

/** What a requester is told about when the binding takes effect (IAM changes are eventually consistent). */
export const PROPAGATION_NOTE = 'propagation typically ~2 min, sometimes 7+';

export interface GcpProviderDeps {
  log: Log;
  /** Defaults to the global fetch; tests pass nock-intercepted or fake fetches. */
  fetch?: typeof fetch;
  /** Defaults to Workload Identity Federation from the Lambda's AWS role (./auth.ts). */
  authClient?: GcpAuthClient;
  /** Used only when `authClient` is absent: where the AWS credentials come from (default: Lambda environment). */
  awsCredentials?: AwsSecurityCredentialsSupplier;
  /** Backoff between etag retries; injected so tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1) source for backoff jitter. */
  random?: () => number;
  /** When a write happened (`writtenAt` on the audit record). */
  clock?: Clock;
  /** Resource Manager endpoint override (tests, private service connect). */
  endpoint?: string;
}

/** Builds the `gcp-role` access provider from TIMEBOX_GCP. */
export function createGcpProvider(config: GcpConfig, deps: GcpProviderDeps): AccessProvider {
  return new GcpAccessProvider(config, deps);
}

/**
 * `gcp-role` targets: access is an expiring conditional role binding on the project, `timebox:<grant id>` titled,
 * added at activation and removed at revocation or expiry. GCP itself stops honouring the binding at the
 * condition's timestamp, so expiry needs no call to take effect; removal keeps the policy clean and under its
 * 100-conditional-binding limit.
 */
export class GcpAccessProvider implements AccessProvider {
  readonly kind = 'gcp-role' as const;
  private readonly crm: ResourceManagerClient;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly clock: Clock;

  constructor(
    private readonly config: GcpConfig,
    private readonly deps: GcpProviderDeps,
  ) {
    const auth =
      deps.authClient ?? createAuthClient(config, deps.awsCredentials ? { awsCredentials: deps.awsCredentials } : {});
    this.crm = new ResourceManagerClient({
      auth,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.endpoint ? { endpoint: deps.endpoint } : {}),
    });
    this.sleep = deps.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
    this.random = deps.random ?? Math.random;
    this.clock = deps.clock ?? systemClock;
  }

  /** Adds one conditional binding per granted role (idempotent), refusing basic roles and the binding limits. */
  async provision(grant: ActiveGrant, _ctx: AccessContext): Promise<Record<string, unknown>> {
    const { project, roles } = this.target(grant);
    const member = this.member(grant);
    const expiresAt = new Date(grant.expiresAt);
    const wanted = gcpBindings({ grantId: grant.id, member, roles, expiresAt, reason: grant.reason });
    const title = bindingTitle(grant.id);
    const base = { project, member, roles, title, expiresAt: `${celTimestamp(expiresAt)}` };

    const outcome = await this.readModifyWrite(project, grant.id, (bindings) => {
      const plan = planAdd(bindings, wanted);
      if (!plan.bindings) return { write: null, result: { plan, conditional: countConditional(bindings) } };
      const conditional = countConditional(plan.bindings);
      if (conditional > MAX_CONDITIONAL_BINDINGS)
        throw new GcpError(
          'unprocessable',
          GCP_CODES.conditionalLimit,
          `project ${project} would hold ${conditional} conditional role bindings; GCP allows ${MAX_CONDITIONAL_BINDINGS} per policy. End or wait out other grants on this project first`,
          { details: { project, conditional, limit: MAX_CONDITIONAL_BINDINGS } },
        );
      for (const role of plan.added) {
        const same = countSameRoleMember(plan.bindings, role, member);
        if (same > MAX_SAME_ROLE_MEMBER_BINDINGS)
          throw new GcpError(
            'unprocessable',
            GCP_CODES.sameRoleMemberLimit,
            `${member} would hold ${same} conditional bindings of ${role} on ${project}; GCP allows ${MAX_SAME_ROLE_MEMBER_BINDINGS}`,
            { details: { project, role, member, count: same } },
          );
      }
      return { write: plan.bindings, result: { plan, conditional } };
    });

    const { plan, conditional } = outcome.result;
    const details: Record<string, unknown> = {
      ...base,
      expression: wanted[0]?.condition.expression,
      added: plan.added,
      alreadyPresent: plan.present,
      conditionalBindings: conditional,
      writtenAt: outcome.writtenAt,
      attempts: outcome.attempts,
      propagation: PROPAGATION_NOTE,
    };
    if (conditional >= this.config.warnAtConditionalBindings) {
      details.warning = `project ${project} holds ${conditional} conditional role bindings (GCP limit ${MAX_CONDITIONAL_BINDINGS})`;
      this.deps.log.warn('GCP conditional binding count near the limit', {
        grantId: grant.id,
        project,
        conditional,
        limit: MAX_CONDITIONAL_BINDINGS,
      });
    }
    this.deps.log.info(outcome.writtenAt ? 'GCP bindings written' : 'GCP bindings already in place', {
      grantId: grant.id,
      project,
      roles,
      attempts: outcome.attempts,
    });
    return details;
  }

  /**
   * GCP access is the binding itself: there is no secret to hand out, only where and until when. Refused while the
   * binding is not in place (provisioning failed and the sweeper has not yet repaired it).
   */
  async credentials(grant: ActiveGrant, kind: CredentialKind, _ctx: AccessContext): Promise<IssuedCredential> {
    if (kind === 'token')
      throw new GcpError(
        'invalid',
        GCP_CODES.unsupportedCredential,
        'gcp-role targets hand out no token: access is an IAM binding on the project',
      );
    const { project, roles } = this.target(grant);
    if (!grant.accessInPlace)
      throw new GcpError(
        'unavailable',
        GCP_CODES.bindingPending,
        `the GCP binding for ${grant.id} is not in place yet (provisioning failed or is being retried); try again in a minute`,
      );
    const member = this.member(grant);
    const expiresAt = new Date(grant.expiresAt);
    const consoleUrl = `https://console.cloud.google.com/home/dashboard?project=${encodeURIComponent(project)}`;
    return {
      kind: 'gcp-binding',
      expiresAt,
      secret: { project, roles, member, expiresAt: expiresAt.toISOString(), consoleUrl, note: PROPAGATION_NOTE },
      audit: { project, roles, member, title: bindingTitle(grant.id), requested: kind },
    };
  }

  /** Removes exactly the bindings titled `timebox:<grant id>`; a binding already gone (by hand) is fine. */
  async revoke(grant: Grant, why: 'revoked' | 'expired', _ctx: AccessContext): Promise<Record<string, unknown>> {
    const project = this.project(grant);
    const title = bindingTitle(grant.id);
    const outcome = await this.readModifyWrite(project, grant.id, (bindings) => {
      const plan = planRemove(bindings, title);
      return { write: plan.bindings, result: plan };
    });
    this.deps.log.info(outcome.result.removed.length ? 'GCP bindings removed' : 'GCP bindings already absent', {
      grantId: grant.id,
      project,
      why,
      removed: outcome.result.removed,
    });
    return {
      project,
      title,
      why,
      removed: outcome.result.removed,
      alreadyAbsent: outcome.result.removed.length === 0,
      writtenAt: outcome.writtenAt,
      attempts: outcome.attempts,
    };
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /**
   * getIamPolicy (v3) -> change -> setIamPolicy with the etag read. On an etag conflict (409 ABORTED), re-read and
   * apply the change again to the new policy: bounded attempts, exponential backoff with full jitter. Any other
   * failure is thrown at once (the grant records it; the sweeper retries later).
   */
  private async readModifyWrite<R>(
    project: string,
    grantId: string,
    change: (bindings: readonly IamBinding[]) => { write: IamBinding[] | null; result: R },
  ): Promise<{ result: R; writtenAt: string | null; attempts: number }> {
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.config.retry;
    return retry(
      async (attempt) => {
        const read = await this.crm.getIamPolicy(project);
        const { write, result } = change(read.bindings ?? []);
        if (!write) return { result, writtenAt: null, attempts: attempt };
        if (read.etag === undefined)
          throw new GcpError('unavailable', GCP_CODES.badResponse, `getIamPolicy on ${project} returned no etag`);
        try {
          await this.crm.setIamPolicy(project, policyToWrite(read as IamPolicy, write));
        } catch (e) {
          // Only an etag conflict on the write is worth a fresh read; anything else is thrown as it is.
          throw e instanceof GcpError && e.code === GCP_CODES.conflict ? new EtagConflict(e) : e;
        }
        return { result, writtenAt: this.clock.now().toISOString(), attempts: attempt };
      },
      {
        attempts: maxAttempts,
        retryable: (e) => e instanceof EtagConflict,
        delay: backoff({ baseMs: baseDelayMs, maxMs: maxDelayMs, jitter: 'full', random: this.random }),
        sleep: this.sleep,
        onRetry: ({ attempt, delayMs }) =>
          this.deps.log.info('GCP policy changed concurrently, retrying', { grantId, project, attempt, delayMs }),
        exhausted: (e, attempts) =>
          new GcpError(
            'conflict',
            GCP_CODES.conflict,
            `the IAM policy of ${project} kept changing: gave up after ${attempts} attempts`,
            { cause: (e as EtagConflict).conflict, details: { project, attempts } },
          ),
      },
    );
  }

  private member(grant: Grant): string {
    const member = memberFor(grant.requester.id, this.config.members);
    // The broker's own identity must never receive a grant: it would outlive the grant through the broker.
    if (member === `serviceAccount:${this.config.serviceAccount}`)
      throw new GcpError(
        'invalid',
        GCP_CODES.memberUnmapped,
        `principal "${grant.requester.id}" maps to the broker service account, which cannot receive grants`,
      );
    return member;
  }

  private project(grant: Grant): string {
    if (grant.target.kind !== 'gcp-role')
      throw new GcpError(
        'invalid',
        GCP_CODES.invalidGrant,
        `${grant.id} is a ${grant.target.kind} grant, not gcp-role`,
      );
    const project = grant.target.project;
    if (!GCP_PROJECT_ID.test(project))
      throw new GcpError('invalid', GCP_CODES.invalidProject, `"${project.slice(0, 64)}" is not a GCP project id`);
    if (this.config.projects && !this.config.projects.includes(project))
      throw new GcpError(
        'unprocessable',
        GCP_CODES.projectNotConfigured,
        `project ${project} is not one the broker was set up for (${this.config.projects.join(', ') || 'none'}); add it to access.yaml and run pulumi up`,
      );
    return project;
  }

  private target(grant: Grant): { project: string; roles: string[] } {
    const project = this.project(grant);
    if (grant.scope?.kind !== 'gcp-role' || grant.scope.roles.length === 0)
      throw new GcpError('invalid', GCP_CODES.invalidGrant, `${grant.id} carries no GCP roles`);
    for (const role of grant.scope.roles) {
      // The policy file refuses these already; checked again because a binding without its condition never ends.
      if (isBasicRole(role))
        throw new GcpError(
          'invalid',
          GCP_CODES.basicRole,
          `${role} is a basic role: GCP does not allow IAM conditions on basic roles, so it cannot be granted for a time`,
        );
      const parsed = parseGcpRole(role);
      if (!parsed.ok) throw new GcpError('invalid', GCP_CODES.invalidRole, parsed.message);
    }
    if (!grant.expiresAt || Number.isNaN(Date.parse(grant.expiresAt)))
      throw new GcpError('invalid', GCP_CODES.invalidGrant, `${grant.id} has no expiry`);
    return { project, roles: [...grant.scope.roles] };
  }
}

/** A setIamPolicy refused for a stale etag, marked so that retry() tells it from a conflict anywhere else. */
class EtagConflict extends Error {
  constructor(readonly conflict: GcpError) {
    super(conflict.message);
  }
}
