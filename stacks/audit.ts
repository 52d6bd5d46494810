import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AwsRoleTarget } from '../core/policy/types';
import {
  CLOUDTRAIL_COLUMNS,
  CLOUDTRAIL_PARTITIONS,
  CLOUDTRAIL_STORAGE,
  CLOUDTRAIL_TABLE,
  namedQueries,
  projectedRegions,
  projectionParameters,
  trailLocation,
} from './athena';
import { tlsOnlyBucketPolicy, trailBucketPolicy, trailKeyPolicy } from './policies';

/** Athena stops a query once it has scanned this much (a mistyped window must not scan years of logs). */
export const ATHENA_SCAN_LIMIT_BYTES = 10 * 1024 ** 3;
/** Athena results are working files: kept a month. */
export const ATHENA_RESULTS_DAYS = 30;

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

export interface DataEventSelector {
  name: string;
  resourceType: 'AWS::S3::Object' | 'AWS::DynamoDB::Table' | 'AWS::Lambda::Function';
  arnPrefixes: string[];
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
 * CloudTrail for everything done under a grant: a multi-region trail with log file validation into a private,
 * versioned, KMS-encrypted bucket, DynamoDB data events for the audit table, and Athena (Glue table with partition
 * projection, workgroup with enforced encrypted results, named queries) to read it. No CloudTrail Lake.
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
  public readonly queries: aws.athena.NamedQuery[] = [];

  constructor(name: string, args: AuditTrailArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:AuditTrail', name, {}, opts);
    validateAuditArgs(args);
    const child = { parent: this };
    // The trail's evidence outlives the stack: on `pulumi destroy` the bucket, everything that keeps it private,
    // versioned and expiring, and the key its objects are encrypted with are left in place (without the key the
    // retained logs could never be read again once KMS finished deleting it).
    const retained = { ...child, retainOnDelete: true };
    const arn = trailArn(args);

    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: 'Timebox CloudTrail and Athena results encryption',
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: JSON.stringify(
          trailKeyPolicy({
            ...args,
            trailArn: arn,
            ...(args.spokeTrailAccounts ? { spokeAccounts: args.spokeTrailAccounts } : {}),
          }),
        ),
      },
      retained,
    );

    this.bucket = new aws.s3.Bucket(`${name}-bucket`, {}, retained);
    this.publicAccessBlock = privateBucket(`${name}-bucket`, this.bucket, this.key, retained);
    new aws.s3.BucketVersioning(
      `${name}-bucket-versioning`,
      { bucket: this.bucket.id, versioningConfiguration: { status: 'Enabled' } },
      retained,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-bucket-lifecycle`,
      {
        bucket: this.bucket.id,
        rules: [
          {
            id: 'expire-trail-logs',
            status: 'Enabled',
            filter: {},
            expiration: { days: args.retentionDays },
            // Overwritten or deleted log files stay recoverable for the same period.
            noncurrentVersionExpiration: { noncurrentDays: args.retentionDays },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      retained,
    );
    this.bucketPolicy = new aws.s3.BucketPolicy(
      `${name}-bucket-policy`,
      {
        bucket: this.bucket.id,
        policy: this.bucket.arn.apply((bucketArn) =>
          JSON.stringify(
            trailBucketPolicy({
              bucketArn,
              trailArn: arn,
              account: args.account,
              partition: args.partition,
              ...(args.orgId ? { orgId: args.orgId } : {}),
              ...(args.spokeTrailAccounts ? { spokeAccounts: args.spokeTrailAccounts } : {}),
            }),
          ),
        ),
      },
      // S3 refuses bucket policies while Block Public Access is being set; order them.
      { ...retained, dependsOn: [this.publicAccessBlock] },
    );

    this.trail = new aws.cloudtrail.Trail(
      `${name}-trail`,
      {
        name: args.trailName,
        s3BucketName: this.bucket.id,
        isMultiRegionTrail: true,
        includeGlobalServiceEvents: true,
        isOrganizationTrail: args.orgId !== undefined,
        enableLogFileValidation: true,
        kmsKeyId: this.key.arn,
        advancedEventSelectors: [
          { name: 'Management events', fieldSelectors: [{ field: 'eventCategory', equals: ['Management'] }] },
          {
            // Writes to the audit table recorded outside the table itself (reads are not: they cost and add little).
            name: 'Timebox audit table writes',
            fieldSelectors: [
              { field: 'eventCategory', equals: ['Data'] },
              { field: 'resources.type', equals: ['AWS::DynamoDB::Table'] },
              { field: 'readOnly', equals: ['false'] },
              { field: 'resources.ARN', equals: [args.eventsTableArn] },
            ],
          },
          ...(args.targetDataEvents ?? []).map((s) => ({
            name: s.name,
            fieldSelectors: [
              { field: 'eventCategory', equals: ['Data'] },
              { field: 'resources.type', equals: [s.resourceType] },
              { field: 'resources.ARN', startsWiths: s.arnPrefixes },
            ],
          })),
        ],
      },
      // CloudTrail checks the bucket policy and the key policy when the trail is created.
      { ...child, dependsOn: [this.bucketPolicy, this.key] },
    );

    // ---- Athena ----------------------------------------------------------------------------------------------
    this.resultsBucket = new aws.s3.Bucket(`${name}-results`, { forceDestroy: true }, child);
    const resultsPab = privateBucket(`${name}-results`, this.resultsBucket, this.key, child);
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-results-lifecycle`,
      {
        bucket: this.resultsBucket.id,
        rules: [
          { id: 'expire-query-results', status: 'Enabled', filter: {}, expiration: { days: ATHENA_RESULTS_DAYS } },
        ],
      },
      child,
    );
    new aws.s3.BucketPolicy(
      `${name}-results-policy`,
      {
        bucket: this.resultsBucket.id,
        policy: this.resultsBucket.arn.apply((a) => JSON.stringify(tlsOnlyBucketPolicy(a))),
      },
      { ...child, dependsOn: [resultsPab] },
    );

    this.database = new aws.glue.CatalogDatabase(
      `${name}-database`,
      { name: args.glueDatabaseName, description: 'Timebox audit (CloudTrail)' },
      child,
    );
    this.table = new aws.glue.CatalogTable(
      `${name}-table`,
      {
        name: CLOUDTRAIL_TABLE,
        databaseName: this.database.name,
        tableType: 'EXTERNAL_TABLE',
        parameters: this.bucket.id.apply((bucket) =>
          projectionParameters({
            bucket,
            accounts: projectedAccounts(args),
            regions: projectedRegions(args.regions, args.partition),
            ...(args.orgId ? { orgId: args.orgId } : {}),
          }),
        ),
        partitionKeys: CLOUDTRAIL_PARTITIONS,
        storageDescriptor: {
          location: this.bucket.id.apply((bucket) => trailLocation(bucket, args.orgId ? { orgId: args.orgId } : {})),
          inputFormat: CLOUDTRAIL_STORAGE.inputFormat,
          outputFormat: CLOUDTRAIL_STORAGE.outputFormat,
          serDeInfo: { serializationLibrary: CLOUDTRAIL_STORAGE.serializationLibrary },
          columns: CLOUDTRAIL_COLUMNS,
        },
      },
      child,
    );
    this.workgroup = new aws.athena.Workgroup(
      `${name}-workgroup`,
      {
        name: args.workgroupName,
        description: 'Timebox audit queries',
        forceDestroy: true,
        configuration: {
          // Clients cannot override the location or turn encryption off.
          enforceWorkgroupConfiguration: true,
          publishCloudwatchMetricsEnabled: true,
          bytesScannedCutoffPerQuery: ATHENA_SCAN_LIMIT_BYTES,
          resultConfiguration: {
            outputLocation: pulumi.interpolate`s3://${this.resultsBucket.id}/`,
            encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKeyArn: this.key.arn },
          },
        },
      },
      child,
    );
    for (const q of namedQueries(args.glueDatabaseName)) {
      this.queries.push(
        new aws.athena.NamedQuery(
          `${name}-${q.name}`,
          {
            name: q.name,
            description: q.description,
            database: this.database.name,
            workgroup: this.workgroup.id,
            query: q.query,
          },
          { ...child, dependsOn: [this.table] },
        ),
      );
    }

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

/** Bucket hardening shared by both buckets: SSE-KMS by default, owner-enforced objects, all public access blocked. */
function privateBucket(
  name: string,
  bucket: aws.s3.Bucket,
  key: aws.kms.Key,
  opts: pulumi.CustomResourceOptions,
): aws.s3.BucketPublicAccessBlock {
  new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-sse`,
    {
      bucket: bucket.id,
      rules: [
        {
          applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: key.arn },
          // One data key per bucket and period instead of one KMS call per object (KMS request cost).
          bucketKeyEnabled: true,
        },
      ],
    },
    opts,
  );
  new aws.s3.BucketOwnershipControls(
    `${name}-ownership`,
    { bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } },
    opts,
  );
  return new aws.s3.BucketPublicAccessBlock(
    `${name}-pab`,
    {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    opts,
  );
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
