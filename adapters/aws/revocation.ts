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
import { isTimeboxError, UnavailableError } from '../../core/errors';
import type { Log } from '../../core/ports';
import { awsCall, isAwsError, translateAwsError } from './errors';

/**
 * Early revocation on a target role: the `timebox-revoked` inline policy denies everything to sessions tagged with a
 * revoked grant id (docs/aws.md, "Early revocation"). IAM has no conditional write, so every write is followed by
 * one re-read that checks the entry is there, and a lost update is retried at once. The revoke call does not wait
 * any longer than that: a concurrent writer that read before our write and writes after our re-read could still
 * drop the entry, so the sweeper's pass (`ensure`) re-reads every role with a live revocation a minute later and
 * writes back any entry that went missing.
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
  /**
   * When this call's PutRolePolicy returned (null when the deny was already in place and nothing was written). From
   * then on IAM propagates the deny; AWS documents no bound ("usually" seconds, eventually consistent).
   */
  denyWrittenAt: string | null;
  /** When the re-read saw the deny in the policy. */
  denyCheckedAt: string;
  /** What confirms the deny stays in place: the sweeper's next pass re-reads the role and restores a lost entry. */
  confirmation: 'sweeper';
}

/** A revoked grant whose deny must stay on its role until `keepUntil`; its sessions were all issued before `revokedAt`. */
export interface LiveRevocation extends RevocationEntry {
  revokedAt: Date;
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
  /** Backoff between attempts after a lost update. */
  sleep?: (ms: number) => Promise<void>;
  /** Wall clock for the times reported on the record (default: the system clock). */
  clock?: () => Date;
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
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly clock: () => Date;

  constructor(private readonly opts: RoleRevokerOptions) {
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.sleep = opts.sleep ?? defaultSleep;
    this.clock = opts.clock ?? (() => new Date());
  }

  /**
   * Adds (or extends) the deny for one grant on one role, and answers once the write is read back. When the role's
   * inline policies cannot hold it, falls back to denying every session of the role issued before `now` (logged as
   * an error): sessions of other grants are cut too, and their holders fetch new credentials.
   */
  async revoke(ref: RoleRef, entry: RevocationEntry, now: Date): Promise<RevocationOutcome> {
    const out = await this.write(ref, [{ ...entry, revokedAt: now }], now);
    return {
      revocation: out.mode,
      role: ref.role,
      account: ref.account,
      policy: REVOCATION_POLICY_NAME,
      keepUntil: entry.keepUntil.toISOString(),
      policyChars: out.chars,
      attempts: out.attempts,
      denyWrittenAt: out.writtenAt?.toISOString() ?? null,
      denyCheckedAt: out.checkedAt.toISOString(),
      confirmation: 'sweeper',
    };
  }

  /**
   * The sweeper's confirmation: re-reads the role once and writes back every live revocation the policy no longer
   * covers (a concurrent writer dropped it, or someone edited the policy). Returns the grant ids it restored.
   */
  async ensure(ref: RoleRef, revocations: LiveRevocation[], now: Date): Promise<string[]> {
    const live = revocations.filter((r) => r.keepUntil.getTime() > now.getTime());
    if (live.length === 0) return [];
    const iam = await this.iam(ref);
    const { parsed } = await this.read(iam, ref);
    const missing = live.filter((r) => !covers(parsed, r, r.revokedAt));
    if (missing.length === 0) return [];
    this.opts.log.error('revocation deny missing from the role policy; writing it again', {
      account: ref.account,
      role: ref.role,
      grantIds: missing.map((r) => r.grantId),
    });
    try {
      await this.write(ref, missing, now);
    } catch (e) {
      // A role deleted since (its target removed from the stack) has no sessions left to deny: nothing to restore,
      // and no reason to fail every sweeper pass until the entries would have lapsed.
      if (isTimeboxError(e) && e.code === 'AWS.NOT_FOUND') {
        this.opts.log.warn('revocation deny not restored: the role no longer exists', {
          account: ref.account,
          role: ref.role,
        });
        return [];
      }
      throw e;
    }
    return missing.map((r) => r.grantId);
  }

  /**
   * Writes `entries` into the role's policy, keeping what is there, until one re-read shows every entry covered.
   * A fallback cuts sessions issued before the latest `revokedAt`: every session of these grants, and no later one.
   */
  private async write(
    ref: RoleRef,
    entries: LiveRevocation[],
    now: Date,
  ): Promise<{
    mode: RevocationOutcome['revocation'];
    chars: number;
    attempts: number;
    writtenAt?: Date;
    checkedAt: Date;
  }> {
    const iam = await this.iam(ref);
    const issuedBefore = new Date(Math.max(...entries.map((e) => e.revokedAt.getTime())));
    const first = entries[0] as LiveRevocation;
    let writtenAt: Date | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = await this.read(iam, ref);
      const others = await this.otherInlineChars(iam, ref);
      const live = mergeRevocations([...current.parsed.entries, ...entries], now);
      const keptFallback =
        current.parsed.fallbackUntil && current.parsed.fallbackUntil.getTime() > now.getTime()
          ? current.parsed.fallbackIssuedBefore
          : undefined;
      let mode: RevocationOutcome['revocation'] = 'deny-by-tag';
      let doc = withForeign(revocationPolicy(live, keptFallback), current.parsed.foreign);
      if (others + policyChars(doc) > ROLE_INLINE_BUDGET) {
        mode = 'fallback-token-issue-time';
        doc = this.fallback(ref, current, issuedBefore, others, first);
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
          doc = this.fallback(ref, current, issuedBefore, others, first);
          json = JSON.stringify(doc);
          await this.put(iam, ref, json);
        }
        writtenAt = this.clock();
      }
      // One read-after-write, no pause: a write lost later is the sweeper's to restore (`ensure`).
      const { parsed } = await this.read(iam, ref);
      if (entries.every((e) => covers(parsed, e, e.revokedAt))) {
        return {
          mode,
          chars: json.length,
          attempts: attempt,
          ...(writtenAt ? { writtenAt } : {}),
          checkedAt: this.clock(),
        };
      }
      this.opts.log.warn('revocation policy lost a concurrent update; retrying', {
        account: ref.account,
        role: ref.role,
        grantIds: entries.map((e) => e.grantId),
        attempt,
      });
      await this.sleep(100 * 2 ** attempt);
    }
    throw new UnavailableError(
      'REVOCATION.LOST_UPDATE',
      `could not keep the ${REVOCATION_POLICY_NAME} deny for ${entries.map((e) => e.grantId).join(', ')} on ${ref.role} after ${this.maxAttempts} attempts; the sweeper retries`,
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
    issuedBefore: Date,
    others: number,
    entry: RevocationEntry,
  ): IamPolicyDocument {
    // Every session a revoked grant holds was issued before its revocation, so the issue-time deny alone covers
    // every entry; a live fallback that already reaches later is never moved back.
    const kept = current.parsed.fallbackIssuedBefore;
    const before = kept && kept.getTime() > issuedBefore.getTime() ? kept : issuedBefore;
    const doc = withForeign(revocationPolicy([], before), current.parsed.foreign);
    this.opts.log.error('early revocation fell back to denying every session of the role issued before now', {
      account: ref.account,
      role: ref.role,
      grantId: entry.grantId,
      otherInlinePolicyChars: others,
      budget: ROLE_INLINE_BUDGET,
      issuedBefore: before.toISOString(),
    });
    if (others + policyChars(doc) > ROLE_INLINE_BUDGET)
      throw new UnavailableError(
        'REVOCATION.NO_ROOM',
        `role ${ref.role} has no room left in its ${ROLE_INLINE_BUDGET}-character inline policy budget for the ${REVOCATION_POLICY_NAME} policy; remove other inline policies`,
      );
    return doc;
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
