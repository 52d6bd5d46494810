import { ValidationError } from '../errors';
import type { AwsRoleTarget } from '../policy/types';
import { GRANT_TAG, type IamPolicyDocument, type IamStatement, iamTime, ROLE_PATH } from './aws';

/**
 * IAM documents around `aws-role` targets: the target role's own policy, its trust policy, the permission
 * boundary every target role carries, and the `timebox-revoked` inline policy used for early revocation.
 * Pure functions shared by the Pulumi stack (which creates the roles) and the runtime (which revokes).
 */

/** Name of the inline policy on a target role that holds early-revocation denies. */
export const REVOCATION_POLICY_NAME = 'timebox-revoked';
/** IAM quota: all inline policies of one role share 10,240 characters (whitespace not counted). */
export const ROLE_INLINE_BUDGET = 10_240;
/** IAM quota: a customer managed policy (the permission boundary) holds at most 6,144 characters. */
export const MANAGED_POLICY_MAX_CHARS = 6_144;
/**
 * Revocation entries are grouped into buckets of this width, each rounded UP to the bucket end, so a handful of
 * statements cover every revocation of the last hour (credentials live at most 1 h under role chaining).
 * Rounding up only ever keeps a deny longer, never shorter.
 */
export const REVOCATION_BUCKET_MS = 5 * 60_000;
/** Role chaining caps sessions at 1 h: every session issued before T has expired by T + 1 h. */
export const MAX_SESSION_MS = 60 * 60_000;
/** Clock skew allowance added to every keep-until, so a deny never lapses a moment before the credential. */
export const REVOCATION_SKEW_MS = 5 * 60_000;

const BUCKET_SID_PREFIX = 'TimeboxRevokedUntil';
const FALLBACK_SID = 'TimeboxRevokedIssuedBefore';

/** One revoked grant: deny its sessions until `keepUntil` (after which all its credentials have expired). */
export interface RevocationEntry {
  grantId: string;
  keepUntil: Date;
}

/** A trust-policy statement: an IAM statement with a `Principal` and no `Resource`. */
export type IamTrustStatement = IamStatement & { Principal: { AWS: string | string[] } };

/** Characters IAM counts against its quotas: the JSON without insignificant whitespace. */
export function policyChars(doc: IamPolicyDocument): number {
  return JSON.stringify(doc).length;
}

function one(values: string[]): string | string[] {
  return values.length === 1 ? (values[0] as string) : values;
}

function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** The target's allowed actions on its resources: the role's own (only) permission policy. */
export function targetRolePolicy(t: AwsRoleTarget): IamPolicyDocument {
  if (t.actions.length === 0 || t.resources.length === 0) {
    throw new ValidationError('IAM.EMPTY_TARGET', `target ${t.name} needs at least one action and one resource`);
  }
  return {
    Version: '2012-10-17',
    Statement: [{ Sid: 'TimeboxTarget', Effect: 'Allow', Action: one(t.actions), Resource: one(t.resources) }],
  };
}

/**
 * Trust policy of a target role: only the broker's credentials role(s) may assume it, only with a source identity
 * set (sts:SourceIdentity, recorded on every CloudTrail event of the session and immutable across chaining), and
 * only tagging the session with the `timebox-grant` tag and nothing else (early revocation matches on that tag).
 * Session tags are authorised through `sts:TagSession`, whose request carries `aws:RequestTag/*` and `aws:TagKeys`
 * (IAM User Guide, "Pass session tags in AWS STS", permissions required to add session tags).
 */
export function targetTrustPolicy(args: { brokerRoleArns: string[] }): IamPolicyDocument {
  const brokers = uniqueSorted(args.brokerRoleArns);
  if (brokers.length === 0)
    throw new ValidationError('IAM.NO_BROKER', 'a target role must trust at least one broker role');
  const principal = { AWS: one(brokers) };
  const assume: IamTrustStatement = {
    Sid: 'TimeboxBrokerAssume',
    Effect: 'Allow',
    Principal: principal,
    Action: 'sts:AssumeRole',
    // Null=false: the keys must be present. `sts:TagSession` is only checked when tags are sent, so without the
    // tag condition here a session with no `timebox-grant` tag (one early revocation could never match) would pass.
    Condition: { Null: { 'sts:SourceIdentity': 'false', [`aws:RequestTag/${GRANT_TAG}`]: 'false' } },
  };
  const sourceIdentity: IamTrustStatement = {
    Sid: 'TimeboxBrokerSourceIdentity',
    Effect: 'Allow',
    Principal: principal,
    Action: 'sts:SetSourceIdentity',
    Condition: { Null: { 'sts:SourceIdentity': 'false' } },
  };
  const tag: IamTrustStatement = {
    Sid: 'TimeboxBrokerTagSession',
    Effect: 'Allow',
    Principal: principal,
    Action: 'sts:TagSession',
    Condition: {
      Null: { [`aws:RequestTag/${GRANT_TAG}`]: 'false' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [GRANT_TAG] },
    },
  };
  return { Version: '2012-10-17', Statement: [assume, sourceIdentity, tag] };
}

/** IAM writes that could strip a Timebox role of its boundary, its revocation policy or its trust policy. */
const ROLE_TAMPER_ACTIONS = [
  'iam:AttachRolePolicy',
  'iam:CreatePolicyVersion',
  'iam:DeletePolicy',
  'iam:DeletePolicyVersion',
  'iam:DeleteRole',
  'iam:DeleteRolePermissionsBoundary',
  'iam:DeleteRolePolicy',
  'iam:DetachRolePolicy',
  'iam:PutRolePermissionsBoundary',
  'iam:PutRolePolicy',
  'iam:SetDefaultPolicyVersion',
  'iam:TagRole',
  'iam:UntagRole',
  'iam:UpdateAssumeRolePolicy',
  'iam:UpdateRole',
];

/**
 * The permission boundary of every target role: the union of what targets allow (one statement per distinct
 * resource set, so a target's actions never spill onto another target's resources), a Deny on the protected ARNs
 * (the broker's own tables, keys, trail and buckets) and a Deny on tampering with Timebox roles and policies, so
 * no grant can remove its own revocation deny. Throws `IAM.BOUNDARY_TOO_LARGE` past the managed-policy quota.
 */
export function permissionBoundary(args: { targets: AwsRoleTarget[]; protectedArns: string[] }): IamPolicyDocument {
  const byResources = new Map<string, { resources: string[]; actions: Set<string> }>();
  for (const t of args.targets) {
    const resources = uniqueSorted(t.resources);
    const key = JSON.stringify(resources);
    const entry = byResources.get(key) ?? { resources, actions: new Set<string>() };
    for (const a of t.actions) entry.actions.add(a);
    byResources.set(key, entry);
  }
  const statements: IamStatement[] = [...byResources.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, e], i) => ({
      Sid: `TimeboxTargets${i}`,
      Effect: 'Allow' as const,
      Action: one(uniqueSorted(e.actions)),
      Resource: one(e.resources),
    }));
  const partitions = uniqueSorted(args.targets.map((t) => t.partition));
  if (partitions.length === 0) partitions.push('aws');
  statements.push({
    Sid: 'TimeboxProtectRoles',
    Effect: 'Deny',
    Action: ROLE_TAMPER_ACTIONS,
    Resource: partitions.flatMap((p) => [`arn:${p}:iam::*:role${ROLE_PATH}*`, `arn:${p}:iam::*:policy${ROLE_PATH}*`]),
  });
  // A session chained from a grant into another role carries neither the grant's session policy (its expiry) nor
  // its tag (the revocation deny), and lives up to an hour: so a grant session may not assume roles or tag sessions.
  statements.push({
    Sid: 'TimeboxNoChaining',
    Effect: 'Deny',
    Action: [
      'sts:AssumeRole',
      'sts:AssumeRoleWithSAML',
      'sts:AssumeRoleWithWebIdentity',
      'sts:SetSourceIdentity',
      'sts:TagSession',
    ],
    Resource: '*',
  });
  const protectedArns = uniqueSorted(args.protectedArns);
  if (protectedArns.length > 0) {
    statements.push({ Sid: 'TimeboxProtectBroker', Effect: 'Deny', Action: '*', Resource: one(protectedArns) });
  }
  const doc: IamPolicyDocument = { Version: '2012-10-17', Statement: statements };
  const size = policyChars(doc);
  if (size > MANAGED_POLICY_MAX_CHARS) {
    throw new ValidationError(
      'IAM.BOUNDARY_TOO_LARGE',
      `the permission boundary is ${size} characters; a managed policy holds ${MANAGED_POLICY_MAX_CHARS}: use broader resource patterns or fewer distinct resource sets`,
    );
  }
  return doc;
}

function bucketEnd(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / REVOCATION_BUCKET_MS) * REVOCATION_BUCKET_MS);
}

function ceilSecond(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / 1000) * 1000);
}

function bucketSid(until: Date): string {
  // Sids allow only [A-Za-z0-9]: 2026-11-24T10:35:00Z -> 202611241035.
  return `${BUCKET_SID_PREFIX}${until.toISOString().slice(0, 16).replace(/[-T:]/g, '')}`;
}

/**
 * Merges entries: one per grant, keeping the latest keep-until (revoking again never shortens a deny).
 * Entries whose keep-until is not after `now` are dropped when `now` is given.
 */
export function mergeRevocations(entries: RevocationEntry[], now?: Date): RevocationEntry[] {
  const byGrant = new Map<string, number>();
  for (const e of entries) {
    const t = e.keepUntil.getTime();
    if (Number.isNaN(t))
      throw new ValidationError('IAM.BAD_REVOCATION', `revocation of ${e.grantId} has no valid time`);
    if (now && t <= now.getTime()) continue;
    byGrant.set(e.grantId, Math.max(byGrant.get(e.grantId) ?? t, t));
  }
  return [...byGrant.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([grantId, t]) => ({ grantId, keepUntil: new Date(t) }));
}

/**
 * The `timebox-revoked` inline policy. Each statement denies everything to sessions tagged with one of its grant
 * ids, and carries its own keep-until as `DateLessThan aws:CurrentTime`, so the deny lapses by itself and
 * garbage collection needs no state beyond the document. `fallbackIssuedBefore` adds the last-resort deny on
 * `aws:TokenIssueTime` (every session of the role issued before that instant, as the console's "revoke active
 * sessions" does), itself kept for the longest session lifetime after that instant.
 */
export function revocationPolicy(entries: RevocationEntry[], fallbackIssuedBefore?: Date): IamPolicyDocument {
  const buckets = new Map<number, string[]>();
  for (const e of mergeRevocations(entries)) {
    const end = bucketEnd(e.keepUntil).getTime();
    buckets.set(end, [...(buckets.get(end) ?? []), e.grantId]);
  }
  const statements: IamStatement[] = [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([end, ids]) => ({
      Sid: bucketSid(new Date(end)),
      Effect: 'Deny' as const,
      Action: '*',
      Resource: '*',
      Condition: {
        StringEquals: { [`aws:PrincipalTag/${GRANT_TAG}`]: uniqueSorted(ids) },
        DateLessThan: { 'aws:CurrentTime': iamTime(new Date(end)) },
      },
    }));
  if (fallbackIssuedBefore) {
    const before = ceilSecond(fallbackIssuedBefore);
    statements.push({
      Sid: FALLBACK_SID,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: {
        DateLessThan: {
          'aws:TokenIssueTime': iamTime(before),
          'aws:CurrentTime': iamTime(bucketEnd(new Date(before.getTime() + MAX_SESSION_MS + REVOCATION_SKEW_MS))),
        },
      },
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/** What a `timebox-revoked` document holds; the inverse of `revocationPolicy` (up to bucketing). */
export interface ParsedRevocations {
  entries: RevocationEntry[];
  fallbackIssuedBefore?: Date;
  /** Keep-until of the fallback deny, when present. */
  fallbackUntil?: Date;
  /** Statements Timebox did not write (someone edited the policy by hand): kept as they are, never dropped. */
  foreign: IamStatement[];
}

function asStrings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return [];
}

function parseTime(v: unknown): Date | undefined {
  if (typeof v !== 'string') return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * Reads a `timebox-revoked` document (as returned by GetRolePolicy, already URL-decoded). Statements it does not
 * recognise are returned in `foreign`, so a rewrite keeps them rather than silently dropping someone's deny.
 */
export function parseRevocationPolicy(doc: unknown): ParsedRevocations {
  const statements = (doc as { Statement?: unknown } | null)?.Statement;
  const list = Array.isArray(statements) ? statements : statements === undefined ? [] : [statements];
  const out: ParsedRevocations = { entries: [], foreign: [] };
  for (const s of list as Array<Record<string, unknown>>) {
    const cond = (s?.Condition ?? {}) as Record<string, Record<string, unknown>>;
    const until = parseTime(cond.DateLessThan?.['aws:CurrentTime']);
    if (s?.Effect === 'Deny' && typeof s.Sid === 'string' && s.Sid.startsWith(BUCKET_SID_PREFIX) && until) {
      for (const grantId of asStrings(cond.StringEquals?.[`aws:PrincipalTag/${GRANT_TAG}`])) {
        out.entries.push({ grantId, keepUntil: until });
      }
      continue;
    }
    const issued = parseTime(cond.DateLessThan?.['aws:TokenIssueTime']);
    if (s?.Effect === 'Deny' && s.Sid === FALLBACK_SID && issued && until) {
      out.fallbackIssuedBefore = issued;
      out.fallbackUntil = until;
      continue;
    }
    out.foreign.push(s as unknown as IamStatement);
  }
  return out;
}
