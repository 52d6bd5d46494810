import type { IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, type AssumeRoleCommandInput, type STSClient } from '@aws-sdk/client-sts';
import { GRANT_TAG, ROLE_PATH, sessionPolicyJson } from '../../core/builders/aws';
import { StateError, UnavailableError, ValidationError } from '../../core/errors';
import type { Grant } from '../../core/grant/state';
import type { AwsRoleTarget } from '../../core/policy/types';
import type {
  AccessContext,
  AccessProvider,
  ActiveGrant,
  CredentialKind,
  IssuedCredential,
  Log,
} from '../../core/ports';
import * as z from '../zod';
import { awsCall, translateAwsError } from './errors';
import { type LiveRevocation, type RoleRef, RoleRevoker } from './revocation';
import { awsRoleProvision, awsRoleRevocation, MAX_SESSION_SECONDS } from './role-plan';

/**
 * `aws-role` targets by credential vending (docs/aws.md, "Credentials"): the broker assumes the target
 * role for the requester with a session policy that ends at the grant's expiry. Nothing is written to IAM when a
 * grant starts; only an early revocation writes (./revocation.ts).
 */

/** Role chaining (the broker's Lambda role assuming the target role) caps a session at 1 h; STS's floor is 15 min. */
export const MIN_SESSION_SECONDS = 900;
export { MAX_SESSION_SECONDS };

/** AssumeRole `SourceIdentity` and `RoleSessionName`: 2-64 characters of [\w+=,.@-]. */
const STS_NAME = /^[\w+=,.@-]{2,64}$/;
/** Only roles Timebox manages (created under /timebox/ by the stack) may be assumed. */
const TIMEBOX_ROLE_ARN = new RegExp(`^arn:aws[a-z-]*:iam::\\d{12}:role${ROLE_PATH}[\\w+=,.@-]{1,64}$`);

/**
 * Sign-in endpoints by partition. The federation endpoint is partition-global; see the IAM User Guide, "Enable
 * custom identity broker access to the AWS console" (aws-us-gov and aws-cn have their own sign-in hosts).
 */
export const CONSOLE_ENDPOINTS: Record<string, { federation: string; console: string }> = {
  aws: { federation: 'https://signin.aws.amazon.com/federation', console: 'https://console.aws.amazon.com/' },
  'aws-us-gov': {
    federation: 'https://signin.amazonaws-us-gov.com/federation',
    console: 'https://console.amazonaws-us-gov.com/',
  },
  'aws-cn': { federation: 'https://signin.amazonaws.cn/federation', console: 'https://console.amazonaws.cn/' },
};

const SigninTokenResponse = z.object({ SigninToken: z.string().check(z.minLength(1)) });

export interface AwsRoleProviderOptions {
  sts: STSClient;
  iamFor: (account: string) => Promise<IAMClient>;
  /** The configured aws-role targets; `maintain` reads only these roles. */
  targets: () => AwsRoleTarget[];
  fetch?: typeof fetch;
  /** Console page a sign-in link opens (default: the partition's console home). */
  consoleDestination?: string;
  /** `Issuer` of the sign-in link: where the console sends the user when the session ends (default: timebox). */
  consoleIssuer?: string;
  log: Log;
  /** Revocation write/verify tuning, for tests. */
  revocation?: { maxAttempts?: number; sleep?: (ms: number) => Promise<void>; clock?: () => Date };
  /**
   * Revoked grants, newest revocation first (the projection's `byStatus` index): `maintain` checks that the deny of
   * each one still within its keep-until is in its role's policy, and writes back any that went missing.
   */
  revokedGrants?: () => Promise<Grant[]>;
}

/** Seconds of credential lifetime to ask STS for: what is left of the grant, within STS's 900..3600 for chaining. */
export function sessionSeconds(now: Date, expiresAt: Date): number {
  const left = Math.ceil((expiresAt.getTime() - now.getTime()) / 1000);
  return Math.min(MAX_SESSION_SECONDS, Math.max(MIN_SESSION_SECONDS, left));
}

export class AwsRoleProvider implements AccessProvider {
  readonly kind = 'aws-role' as const;
  private readonly revoker: RoleRevoker;
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: AwsRoleProviderOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.revoker = new RoleRevoker({ iamFor: opts.iamFor, log: opts.log, ...opts.revocation });
  }

  /** Nothing to put in place: access comes from AssumeRole at credential time. */
  async provision(_grant: ActiveGrant, _ctx: AccessContext): Promise<Record<string, unknown>> {
    return awsRoleProvision();
  }

  /** Exact AssumeRole input for a grant; `console` omits DurationSeconds (see `credentials`). */
  assumeRoleInput(grant: ActiveGrant, kind: 'credentials' | 'console', now: Date): AssumeRoleCommandInput {
    if (grant.target.kind !== 'aws-role' || grant.scope?.kind !== 'aws-role')
      throw new StateError('TARGET.KIND_MISMATCH', `${grant.id} is not an aws-role grant`);
    const roleArn = grant.target.roleArn;
    if (!TIMEBOX_ROLE_ARN.test(roleArn))
      throw new ValidationError(
        'STS.ROLE_NOT_MANAGED',
        `${roleArn} is not a role under ${ROLE_PATH}; Timebox assumes only its own roles`,
      );
    if (!STS_NAME.test(grant.requester.id))
      throw new ValidationError(
        'STS.BAD_SOURCE_IDENTITY',
        `requester id "${grant.requester.id}" cannot be an STS SourceIdentity (2-64 characters of letters, digits and _+=,.@-)`,
      );
    if (!STS_NAME.test(grant.id))
      throw new ValidationError('STS.BAD_SESSION_NAME', `grant id "${grant.id}" cannot be an STS RoleSessionName`);
    const expiresAt = new Date(grant.expiresAt);
    if (!(expiresAt.getTime() > now.getTime()))
      throw new StateError('GRANT.EXPIRED', `${grant.id} expired at ${grant.expiresAt}`);
    return {
      RoleArn: roleArn,
      RoleSessionName: grant.id,
      SourceIdentity: grant.requester.id,
      Tags: [{ Key: GRANT_TAG, Value: grant.id }],
      Policy: sessionPolicyJson(grant.scope, expiresAt),
      // AWS: the federation endpoint refuses sessions whose DurationSeconds was set by a caller that is not an IAM
      // user with long-term keys (our Lambda is a role), so console sessions take STS's default (1 h).
      ...(kind === 'credentials' ? { DurationSeconds: sessionSeconds(now, expiresAt) } : {}),
    };
  }

  /**
   * `credentials`: a credential_process document, expiring by the grant's end so the CLI refreshes then.
   * `console`: a one-time sign-in link through the partition's federation endpoint.
   */
  async credentials(grant: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential> {
    if (kind !== 'credentials' && kind !== 'console')
      throw new ValidationError(
        'CREDENTIALS.UNSUPPORTED_KIND',
        `aws-role grants issue credentials or console, not ${kind}`,
      );
    const input = this.assumeRoleInput(grant, kind, ctx.now);
    const out = await awsCall('sts:AssumeRole', input.RoleArn, () => this.opts.sts.send(new AssumeRoleCommand(input)));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
      throw new UnavailableError('AWS.NO_CREDENTIALS', `sts:AssumeRole on ${input.RoleArn} returned no credentials`);
    const expiresAt = new Date(Math.min(new Date(c.Expiration).getTime(), Date.parse(grant.expiresAt)));
    const audit: Record<string, unknown> = {
      accessKeyId: c.AccessKeyId,
      roleArn: input.RoleArn,
      assumedRoleArn: out.AssumedRoleUser?.Arn ?? null,
      sessionName: input.RoleSessionName,
      sourceIdentity: input.SourceIdentity,
      durationSeconds: input.DurationSeconds ?? null,
      stsExpiration: new Date(c.Expiration).toISOString(),
      packedPolicySize: out.PackedPolicySize ?? null,
      sourceIp: ctx.sourceIp ?? null,
      userAgent: ctx.userAgent ?? null,
    };
    if (kind === 'credentials') {
      return {
        kind,
        expiresAt,
        secret: {
          Version: 1,
          AccessKeyId: c.AccessKeyId,
          SecretAccessKey: c.SecretAccessKey,
          SessionToken: c.SessionToken,
          Expiration: expiresAt.toISOString(),
        },
        audit,
      };
    }
    const url = await this.consoleUrl(grant.target.kind === 'aws-role' ? grant.target.partition : 'aws', {
      sessionId: c.AccessKeyId,
      sessionKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
    });
    return { kind, expiresAt, secret: { url, expiresAt: expiresAt.toISOString() }, audit: { ...audit, console: true } };
  }

  /** getSigninToken then the `login` URL (no SessionDuration: see assumeRoleInput). */
  private async consoleUrl(
    partition: string,
    session: { sessionId: string; sessionKey: string; sessionToken: string },
  ): Promise<string> {
    const endpoints = CONSOLE_ENDPOINTS[partition];
    if (!endpoints)
      throw new ValidationError(
        'CONSOLE.UNKNOWN_PARTITION',
        `no console sign-in endpoint is known for partition ${partition}`,
      );
    const tokenUrl = `${endpoints.federation}?Action=getSigninToken&Session=${encodeURIComponent(JSON.stringify(session))}`;
    let body: unknown;
    try {
      const res = await this.fetch(tokenUrl, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok)
        throw new UnavailableError('CONSOLE.FEDERATION_FAILED', `the AWS federation endpoint answered ${res.status}`);
      body = await res.json();
    } catch (e) {
      if (e instanceof UnavailableError) throw e;
      throw new UnavailableError('CONSOLE.FEDERATION_FAILED', 'the AWS federation endpoint did not answer', {
        cause: e,
      });
    }
    const parsed = SigninTokenResponse.safeParse(body);
    if (!parsed.success)
      throw new UnavailableError('CONSOLE.FEDERATION_FAILED', 'the AWS federation endpoint returned no sign-in token');
    const q = new URLSearchParams({
      Action: 'login',
      Issuer: this.opts.consoleIssuer ?? 'timebox',
      Destination: this.opts.consoleDestination ?? endpoints.console,
      SigninToken: parsed.data.SigninToken,
    });
    return `${endpoints.federation}?${q.toString()}`;
  }

  /**
   * `revoked`: deny the grant's sessions on the target role until its last credential has expired (+5 min skew).
   * `expired`: nothing to write; the session policy's time condition already ends every session at expiry.
   */
  async revoke(grant: Grant, why: 'revoked' | 'expired', ctx: AccessContext): Promise<Record<string, unknown>> {
    const plan = awsRoleRevocation(grant, why, ctx.now);
    if (plan.revocation === 'none') return { ...plan };
    return this.revoker.revoke(plan.role, { grantId: grant.id, keepUntil: plan.keepUntil }, ctx.now);
  }

  /**
   * The sweeper's pass over the roles: confirms that the deny of every recent revocation is still in its role's
   * policy (writing back any a concurrent update dropped), then garbage-collects lapsed entries. Reads the configured
   * target roles and the roles of recently revoked grants (a target removed from the policy keeps its denies).
   */
  async maintain(ctx: AccessContext): Promise<void> {
    const roles = new Map<string, RoleRef>();
    const live = new Map<string, LiveRevocation[]>();
    for (const t of this.opts.targets()) if (t.kind === 'aws-role') roles.set(`${t.account}/${t.role}`, t);
    const failures: unknown[] = [];
    try {
      for (const g of (await this.opts.revokedGrants?.()) ?? []) {
        if (g.target.kind !== 'aws-role' || !g.endedAt) continue;
        const plan = awsRoleRevocation(g, 'revoked', ctx.now);
        // A grant whose credentials have all expired needs no deny any more.
        if (plan.revocation === 'none') continue;
        const key = `${plan.role.account}/${plan.role.role}`;
        roles.set(key, roles.get(key) ?? plan.role);
        live.set(key, [
          ...(live.get(key) ?? []),
          { grantId: g.id, keepUntil: plan.keepUntil, revokedAt: new Date(g.endedAt) },
        ]);
      }
    } catch (e) {
      failures.push(e);
      this.opts.log.error('revocation confirmation could not list revoked grants', {
        error: e instanceof Error ? e.message : String(e),
      });
    }
    for (const [key, ref] of roles) {
      try {
        const restored = await this.revoker.ensure(
          { account: ref.account, role: ref.role },
          live.get(key) ?? [],
          ctx.now,
        );
        if (restored.length > 0)
          this.opts.log.warn('revocation denies restored', { account: ref.account, role: ref.role, restored });
        const r = await this.revoker.collect({ account: ref.account, role: ref.role }, ctx.now);
        if (r.removed > 0)
          this.opts.log.info('revocation entries collected', { account: ref.account, role: ref.role, ...r });
      } catch (e) {
        // One unreachable account must not stop the others; the sweeper reports the failure.
        failures.push(e);
        this.opts.log.error('revocation maintenance failed', {
          account: ref.account,
          role: ref.role,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
    if (failures.length) throw translateAwsError(failures[0], 'iam:PutRolePolicy');
  }
}
