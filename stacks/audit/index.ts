import type * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AwsRoleTarget } from '../../core/policy/types';
import { projectedRegions } from '../athena';
import { AuditQueries } from './queries';
import { AuditRecording, type DataEventSelector } from './recording';
import { AuditStorage } from './storage';

export { ATHENA_RESULTS_DAYS, ATHENA_SCAN_LIMIT_BYTES } from './queries';
export type { DataEventSelector } from './recording';

/** The trail's ARN, known before it exists (its bucket and key policies name it). */
export function trailArn(a: { partition: string; region: string; account: string; trailName: string }): string {
  return `arn:${a.partition}:cloudtrail:${a.region}:${a.account}:trail/${a.trailName}`;
}

export interface AuditTrailArgs {
  partition: string;
  region: string;
  account: string;
  trailName: string;
  /** The DynamoDB events table: every write to it is recorded as a CloudTrail data event. */
  eventsTableArn: pulumi.Input<string>;
  retentionDays: pulumi.Input<number>;
  /** Regions the Athena table projects partitions for (stacks/athena.ts projectedRegions adds the global one). */
  regions: string[];
  /** Accounts the Athena table projects: the hub and every spoke (their grants' calls are recorded there). */
  accounts?: string[];
  /**
   * Make the trail an organization trail of this organization: every account's calls, one trail. Only the
   * management account, or a delegated CloudTrail administrator, may create one.
   */
  orgId?: string;
  /** Spoke accounts whose own trails (the spoke program) deliver into this bucket, each under its own prefix. */
  spokeTrailAccounts?: string[];
  glueDatabaseName: string;
  workgroupName: string;
  /** Data events to record for what grants reach (from targetDataEvents): without them S3 reads are invisible. */
  targetDataEvents?: DataEventSelector[];
}

/** CloudTrail allows 500 values across all advanced selectors of a trail; the rest is kept for management events. */
export const MAX_DATA_EVENT_PREFIXES = 250;

const DATA_EVENT_TYPES: [RegExp, DataEventSelector['resourceType'], (arn: string) => string][] = [
  // S3 object ARNs are arn:aws:s3:::bucket/key; a bucket pattern covers its objects too (ListObjects, GetObject...).
  [/^arn:[^:]+:s3:::/, 'AWS::S3::Object', (arn) => (arn.includes('/') ? arn : `${arn}/`)],
  [/^arn:[^:]+:dynamodb:/, 'AWS::DynamoDB::Table', (arn) => arn],
  [/^arn:[^:]+:lambda:/, 'AWS::Lambda::Function', (arn) => arn],
];

/**
 * The data events to record for the resources aws-role targets reach: every call under a grant then appears on the
 * grant's timeline (management events are recorded anyway; data events, such as S3 object reads, only if selected).
 * Each resource pattern becomes a `StartsWith` prefix up to its first wildcard (recording a little more than a
 * target allows, never less). Resource types CloudTrail records no data events for are covered by management events.
 */
export function targetDataEvents(targets: readonly AwsRoleTarget[]): DataEventSelector[] {
  const byType = new Map<DataEventSelector['resourceType'], Set<string>>();
  for (const t of targets)
    for (const resource of t.resources) {
      const kind = DATA_EVENT_TYPES.find(([re]) => re.test(resource));
      if (!kind) continue;
      const [, type, normalise] = kind;
      const wildcard = resource.search(/[*?]/);
      // Cut at a wildcard, the prefix already covers whatever follows; only a whole ARN is normalised.
      const prefix = wildcard < 0 ? normalise(resource) : resource.slice(0, wildcard);
      const set = byType.get(type) ?? new Set<string>();
      set.add(prefix);
      byType.set(type, set);
    }
  const selectors = [...byType.entries()].map(([resourceType, prefixes]) => ({
    name: `Timebox targets: ${resourceType}`,
    resourceType,
    // A prefix inside another one adds nothing.
    arnPrefixes: [...prefixes].filter((p) => ![...prefixes].some((q) => q !== p && p.startsWith(q))).sort(),
  }));
  const count = selectors.reduce((n, s) => n + s.arnPrefixes.length, 0);
  if (count > MAX_DATA_EVENT_PREFIXES)
    throw new Error(
      `the aws-role targets name ${count} distinct resource prefixes; CloudTrail data event selectors hold at most ${MAX_DATA_EVENT_PREFIXES} here: use broader resource patterns`,
    );
  return selectors;
}

/**
 * CloudTrail for everything done under a grant, in three sections: storage (a private, versioned, KMS-encrypted log
 * bucket and its key), recording (a multi-region trail with log file validation and DynamoDB data events for the
 * audit table) and queries (Athena: Glue table with partition projection, workgroup with enforced encrypted results,
 * named queries). No CloudTrail Lake.
 */
export class AuditTrail extends pulumi.ComponentResource {
  public readonly key: aws.kms.Key;
  public readonly bucket: aws.s3.Bucket;
  public readonly bucketPolicy: aws.s3.BucketPolicy;
  public readonly publicAccessBlock: aws.s3.BucketPublicAccessBlock;
  public readonly trail: aws.cloudtrail.Trail;
  public readonly resultsBucket: aws.s3.Bucket;
  public readonly database: aws.glue.CatalogDatabase;
  public readonly table: aws.glue.CatalogTable;
  public readonly workgroup: aws.athena.Workgroup;
  public readonly queries: aws.athena.NamedQuery[];

  constructor(name: string, args: AuditTrailArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:AuditTrail', name, {}, opts);
    validateAuditArgs(args);
    const part = { parent: this };
    const org = args.orgId ? { orgId: args.orgId } : {};
    const storage = new AuditStorage(
      name,
      {
        partition: args.partition,
        region: args.region,
        account: args.account,
        trailArn: trailArn(args),
        retentionDays: args.retentionDays,
        ...org,
        ...(args.spokeTrailAccounts ? { spokeTrailAccounts: args.spokeTrailAccounts } : {}),
      },
      part,
    );
    this.key = storage.key;
    this.bucket = storage.bucket;
    this.bucketPolicy = storage.bucketPolicy;
    this.publicAccessBlock = storage.publicAccessBlock;
    const recording = new AuditRecording(
      name,
      {
        trailName: args.trailName,
        ...org,
        eventsTableArn: args.eventsTableArn,
        ...(args.targetDataEvents ? { targetDataEvents: args.targetDataEvents } : {}),
        bucket: this.bucket,
        bucketPolicy: this.bucketPolicy,
        key: this.key,
      },
      part,
    );
    this.trail = recording.trail;
    const queries = new AuditQueries(
      name,
      {
        glueDatabaseName: args.glueDatabaseName,
        workgroupName: args.workgroupName,
        bucket: this.bucket,
        key: this.key,
        accounts: projectedAccounts(args),
        regions: projectedRegions(args.regions, args.partition),
        ...org,
      },
      part,
    );
    this.resultsBucket = queries.resultsBucket;
    this.database = queries.database;
    this.table = queries.table;
    this.workgroup = queries.workgroup;
    this.queries = queries.queries;

    this.registerOutputs({
      bucket: this.bucket.id,
      trail: this.trail.arn,
      database: this.database.name,
      workgroup: this.workgroup.name,
    });
  }
}

/** The accounts the table projects: the hub, the spokes whose trails deliver here, and any listed. */
export function projectedAccounts(a: Pick<AuditTrailArgs, 'account' | 'accounts' | 'spokeTrailAccounts'>): string[] {
  return [...new Set([a.account, ...(a.accounts ?? []), ...(a.spokeTrailAccounts ?? [])])].sort();
}

/** Checks the arguments before any resource is declared. */
export function validateAuditArgs(args: AuditTrailArgs): void {
  const problems: string[] = [];
  // Trail names: 3-128 of letters, digits, . _ -, starting and ending with a letter or digit.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$/.test(args.trailName))
    problems.push(`trail name "${args.trailName}" is not a valid CloudTrail trail name`);
  if (!/^[a-z0-9_]{1,255}$/.test(args.glueDatabaseName))
    problems.push(`Glue database name "${args.glueDatabaseName}" must be lower case letters, digits and _`);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(args.workgroupName))
    problems.push(`Athena workgroup name "${args.workgroupName}" is not valid`);
  if (args.regions.length === 0) problems.push('at least one region must be projected');
  for (const a of projectedAccounts(args))
    if (!/^\d{12}$/.test(a)) problems.push(`projected account "${a}" is not a 12-digit account id`);
  if (args.orgId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(args.orgId))
    problems.push(`organization id "${args.orgId}" is not valid`);
  if (args.orgId !== undefined && (args.spokeTrailAccounts ?? []).length > 0)
    problems.push('an organization trail records every account: spoke trails would record their calls twice');
  if (typeof args.retentionDays === 'number' && (!Number.isInteger(args.retentionDays) || args.retentionDays < 1))
    problems.push(`trail retention ${args.retentionDays} must be a whole number of days >= 1`);
  if (problems.length > 0) throw new Error(`invalid AuditTrail arguments:\n${problems.join('\n')}`);
}
