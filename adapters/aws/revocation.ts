import {
  DeleteRolePolicyCommand,
  GetRolePolicyCommand,
  type IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import type { IamPolicyDocument, IamStatement } from '../../core/builders/aws';
import {
  mergeRevocations,
  type ParsedRevocations,
  parseRevocationPolicy,
  policyChars,
  REVOCATION_POLICY_NAME,
  type RevocationEntry,
  ROLE_INLINE_BUDGET,
  revocationPolicy,
} from '../../core/builders/aws-iam';
import { UnavailableError } from '../../core/errors';
import type { Log } from '../../core/ports';
import { awsCall, isAwsError, translateAwsError } from './errors';

/**
 * Early revocation on a target role: the `timebox-revoked` inline policy denies everything to sessions tagged with a
 * revoked grant id (DESIGN.md, "AWS: early revocation"). IAM has no conditional write, so every write is followed by
 * a re-read that checks the entry is there (and, after a settle delay, still there); a lost update is retried.
 */

export interface RoleRef {
  account: string;
  /** Role name without path (IAM role APIs take the name). */
  role: string;
}

export interface RevocationOutcome extends Record<string, unknown> {
  revocation: 'deny-by-tag' | 'fallback-token-issue-time';
  role: string;
  account: string;
  policy: string;
  keepUntil: string;
  policyChars: number;
  attempts: number;
}

interface CurrentPolicy {
  parsed: ParsedRevocations;
  /** The document as IAM returned it, re-serialised without whitespace ('' when the policy does not exist). */
  json: string;
}

export interface RoleRevokerOptions {
  iamFor: (account: string) => Promise<IAMClient>;
  log: Log;
  /** Write-and-verify attempts before giving up (default 5). */
  maxAttempts?: number;
  /**
   * Pause before the second verification (default 2 s): a concurrent writer that read before our write and writes
   * after our first check would overwrite us; its write lands within its own read-to-write latency.
   */
  settleMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function withForeign(doc: IamPolicyDocument, foreign: IamStatement[]): IamPolicyDocument {
  return foreign.length ? { ...doc, Statement: [...doc.Statement, ...foreign] } : doc;
}

/** True when the parsed document still denies `entry` at least until its keep-until, or cuts it by issue time. */
function covers(parsed: ParsedRevocations, entry: RevocationEntry, issuedBefore: Date): boolean {
  const e = parsed.entries.find((x) => x.grantId === entry.grantId);
  if (e && e.keepUntil.getTime() >= entry.keepUntil.getTime()) return true;
  return (
    parsed.fallbackIssuedBefore !== undefined &&
    parsed.fallbackIssuedBefore.getTime() >= issuedBefore.getTime() &&
    (parsed.fallbackUntil?.getTime() ?? 0) >= entry.keepUntil.getTime()
  );
}

export class RoleRevoker {
  private readonly maxAttempts: number;
  private readonly settleMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: RoleRevokerOptions) {
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.settleMs = opts.settleMs ?? 2000;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  /**
   * Adds (or extends) the deny for one grant on one role. When the role's inline policies cannot hold it, falls
   * back to denying every session of the role issued before `now` (logged as an error): sessions of other grants
   * are cut too, and their holders fetch new credentials.
   */
  async revoke(ref: RoleRef, entry: RevocationEntry, now: Date): Promise<RevocationOutcome> {
    const iam = await this.iam(ref);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = await this.read(iam, ref);
      const others = await this.otherInlineChars(iam, ref);
      const live = mergeRevocations([...current.parsed.entries, entry], now);
      const keptFallback =
        current.parsed.fallbackUntil && current.parsed.fallbackUntil.getTime() > now.getTime()
          ? current.parsed.fallbackIssuedBefore
          : undefined;
      let mode: RevocationOutcome['revocation'] = 'deny-by-tag';
      let doc = withForeign(revocationPolicy(live, keptFallback), current.parsed.foreign);
      if (others + policyChars(doc) > ROLE_INLINE_BUDGET) {
        mode = 'fallback-token-issue-time';
        doc = this.fallback(ref, current, now, others, entry);
      }
      let json = JSON.stringify(doc);
      if (json !== current.json) {
        try {
          await this.put(iam, ref, json);
        } catch (e) {
          // IAM measures the quota itself; if it disagrees with our count, the fallback is the smaller document.
          if (mode === 'fallback-token-issue-time' || !isAwsError(e, 'LimitExceededException', 'LimitExceeded'))
            throw e;
          mode = 'fallback-token-issue-time';
          doc = this.fallback(ref, current, now, others, entry);
          json = JSON.stringify(doc);
          await this.put(iam, ref, json);
        }
      }
      if (await this.verified(iam, ref, entry, now)) {
        return {
          revocation: mode,
          role: ref.role,
          account: ref.account,
          policy: REVOCATION_POLICY_NAME,
          keepUntil: entry.keepUntil.toISOString(),
          policyChars: json.length,
          attempts: attempt,
        };
      }
      this.opts.log.warn('revocation policy lost a concurrent update; retrying', {
        account: ref.account,
        role: ref.role,
        grantId: entry.grantId,
        attempt,
      });
      await this.sleep(100 * 2 ** attempt);
    }
    throw new UnavailableError(
      'REVOCATION.LOST_UPDATE',
      `could not keep the ${REVOCATION_POLICY_NAME} deny for ${entry.grantId} on ${ref.role} after ${this.maxAttempts} attempts; the sweeper retries`,
    );
  }

  /**
   * Drops entries (and a fallback) whose keep-until has passed; deletes the policy when nothing is left. Reads only
   * the roles it is given. Expired statements are already inert (their own time condition), so GC is only tidying.
   */
  async collect(ref: RoleRef, now: Date): Promise<{ removed: number; deleted: boolean }> {
    const iam = await this.iam(ref);
    const current = await this.read(iam, ref);
    if (!current.json) return { removed: 0, deleted: false };
    const live = mergeRevocations(current.parsed.entries, now);
    const fallbackLive =
      current.parsed.fallbackUntil !== undefined && current.parsed.fallbackUntil.getTime() > now.getTime();
    const doc = withForeign(
      revocationPolicy(live, fallbackLive ? current.parsed.fallbackIssuedBefore : undefined),
      current.parsed.foreign,
    );
    const removed =
      current.parsed.entries.length - live.length + (current.parsed.fallbackIssuedBefore && !fallbackLive ? 1 : 0);
    if (removed === 0) return { removed: 0, deleted: false };
    if (doc.Statement.length === 0) {
      try {
        await iam.send(new DeleteRolePolicyCommand({ RoleName: ref.role, PolicyName: REVOCATION_POLICY_NAME }));
      } catch (e) {
        if (!isAwsError(e, 'NoSuchEntityException', 'NoSuchEntity'))
          throw translateAwsError(e, 'iam:DeleteRolePolicy', ref.role);
      }
      return { removed, deleted: true };
    }
    await this.put(iam, ref, JSON.stringify(doc));
    return { removed, deleted: false };
  }

  private fallback(
    ref: RoleRef,
    current: CurrentPolicy,
    now: Date,
    others: number,
    entry: RevocationEntry,
  ): IamPolicyDocument {
    // Every session a revoked grant holds was issued before now, so the issue-time deny alone covers every entry.
    const doc = withForeign(revocationPolicy([], now), current.parsed.foreign);
    this.opts.log.error('early revocation fell back to denying every session of the role issued before now', {
      account: ref.account,
      role: ref.role,
      grantId: entry.grantId,
      otherInlinePolicyChars: others,
      budget: ROLE_INLINE_BUDGET,
      issuedBefore: now.toISOString(),
    });
    if (others + policyChars(doc) > ROLE_INLINE_BUDGET)
      throw new UnavailableError(
        'REVOCATION.NO_ROOM',
        `role ${ref.role} has no room left in its ${ROLE_INLINE_BUDGET}-character inline policy budget for the ${REVOCATION_POLICY_NAME} policy; remove other inline policies`,
      );
    return doc;
  }

  private async verified(iam: IAMClient, ref: RoleRef, entry: RevocationEntry, now: Date): Promise<boolean> {
    if (!covers((await this.read(iam, ref)).parsed, entry, now)) return false;
    await this.sleep(this.settleMs);
    return covers((await this.read(iam, ref)).parsed, entry, now);
  }

  private async iam(ref: RoleRef): Promise<IAMClient> {
    return this.opts.iamFor(ref.account);
  }

  private async put(iam: IAMClient, ref: RoleRef, json: string): Promise<void> {
    try {
      await iam.send(
        new PutRolePolicyCommand({ RoleName: ref.role, PolicyName: REVOCATION_POLICY_NAME, PolicyDocument: json }),
      );
    } catch (e) {
      if (isAwsError(e, 'LimitExceededException', 'LimitExceeded')) throw e;
      throw translateAwsError(e, 'iam:PutRolePolicy', ref.role);
    }
  }

  private async read(iam: IAMClient, ref: RoleRef): Promise<CurrentPolicy> {
    const doc = await this.getRolePolicy(iam, ref, REVOCATION_POLICY_NAME);
    if (doc === undefined) return { parsed: { entries: [], foreign: [] }, json: '' };
    return { parsed: parseRevocationPolicy(doc), json: JSON.stringify(doc) };
  }

  /** The parsed document of one inline policy, or undefined when it does not exist. */
  private async getRolePolicy(iam: IAMClient, ref: RoleRef, name: string): Promise<unknown | undefined> {
    try {
      const out = await iam.send(new GetRolePolicyCommand({ RoleName: ref.role, PolicyName: name }));
      // IAM returns policy documents URL-encoded (RFC 3986), per the GetRolePolicy API reference.
      return JSON.parse(decodeURIComponent(out.PolicyDocument ?? '{}'));
    } catch (e) {
      if (isAwsError(e, 'NoSuchEntityException', 'NoSuchEntity')) return undefined;
      if (e instanceof SyntaxError || e instanceof URIError)
        throw new UnavailableError('REVOCATION.UNREADABLE_POLICY', `inline policy ${name} of ${ref.role} is not JSON`, {
          cause: e,
        });
      throw translateAwsError(e, 'iam:GetRolePolicy', ref.role);
    }
  }

  /** Characters used by the role's other inline policies (the 10,240 budget is shared, whitespace not counted). */
  private async otherInlineChars(iam: IAMClient, ref: RoleRef): Promise<number> {
    const names: string[] = [];
    let marker: string | undefined;
    do {
      const out = await awsCall('iam:ListRolePolicies', ref.role, () =>
        iam.send(new ListRolePoliciesCommand({ RoleName: ref.role, ...(marker ? { Marker: marker } : {}) })),
      );
      names.push(...(out.PolicyNames ?? []));
      marker = out.IsTruncated ? out.Marker : undefined;
    } while (marker);
    let total = 0;
    for (const name of names) {
      if (name === REVOCATION_POLICY_NAME) continue;
      const doc = await this.getRolePolicy(iam, ref, name);
      if (doc !== undefined) total += JSON.stringify(doc).length;
    }
    return total;
  }
}
