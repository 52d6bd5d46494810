import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  CLOUDTRAIL_COLUMNS,
  CLOUDTRAIL_PARTITIONS,
  CLOUDTRAIL_STORAGE,
  CLOUDTRAIL_TABLE,
  namedQueries,
  projectionParameters,
  trailLocation,
} from '../athena';
import { tlsOnlyBucketPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';
import { privateBucket } from './storage';

/** Athena stops a query once it has scanned this much (a mistyped window must not scan years of logs). */
export const ATHENA_SCAN_LIMIT_BYTES = 10 * 1024 ** 3;
/** Athena results are working files: kept a month. */
export const ATHENA_RESULTS_DAYS = 30;

export interface AuditQueriesArgs {
  glueDatabaseName: string;
  workgroupName: string;
  /** The trail's log bucket (AuditStorage) the Glue table reads. */
  bucket: aws.s3.Bucket;
  /** The key query results are encrypted with. */
  key: aws.kms.Key;
  /** Accounts and regions the table projects partitions for. */
  accounts: string[];
  regions: string[];
  orgId?: string;
}

/**
 * Reading the trail with Athena: a Glue table over CloudTrail's S3 layout with partition projection, a workgroup
 * with enforced encrypted results (in a private bucket of their own) and a scan limit, and the named queries.
 */
export class AuditQueries extends Section {
  public readonly resultsBucket: aws.s3.Bucket;
  public readonly database: aws.glue.CatalogDatabase;
  public readonly table: aws.glue.CatalogTable;
  public readonly workgroup: aws.athena.Workgroup;
  public readonly queries: aws.athena.NamedQuery[] = [];

  constructor(name: string, args: AuditQueriesArgs, opts: SectionOptions) {
    super('timebox:aws:AuditQueries', name, opts);
    const org = args.orgId ? { orgId: args.orgId } : {};
    this.resultsBucket = this.results(name, args.key);
    this.database = new aws.glue.CatalogDatabase(
      `${name}-database`,
      { name: args.glueDatabaseName, description: 'Timebox audit (CloudTrail)' },
      this.child,
    );
    this.table = new aws.glue.CatalogTable(
      `${name}-table`,
      {
        name: CLOUDTRAIL_TABLE,
        databaseName: this.database.name,
        tableType: 'EXTERNAL_TABLE',
        parameters: args.bucket.id.apply((bucket) =>
          projectionParameters({ bucket, accounts: args.accounts, regions: args.regions, ...org }),
        ),
        partitionKeys: CLOUDTRAIL_PARTITIONS,
        storageDescriptor: {
          location: args.bucket.id.apply((bucket) => trailLocation(bucket, org)),
          inputFormat: CLOUDTRAIL_STORAGE.inputFormat,
          outputFormat: CLOUDTRAIL_STORAGE.outputFormat,
          serDeInfo: { serializationLibrary: CLOUDTRAIL_STORAGE.serializationLibrary },
          columns: CLOUDTRAIL_COLUMNS,
        },
      },
      this.child,
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
            encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKeyArn: args.key.arn },
          },
        },
      },
      this.child,
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
          { ...this.child, dependsOn: [this.table] },
        ),
      );
    }
    this.registerOutputs({ database: this.database.name, workgroup: this.workgroup.name });
  }

  /** The results bucket: private, TLS only, expiring after ATHENA_RESULTS_DAYS (and emptied on destroy). */
  private results(name: string, key: aws.kms.Key): aws.s3.Bucket {
    const bucket = new aws.s3.Bucket(`${name}-results`, { forceDestroy: true }, this.child);
    const pab = privateBucket(`${name}-results`, bucket, key, this.child);
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-results-lifecycle`,
      {
        bucket: bucket.id,
        rules: [
          { id: 'expire-query-results', status: 'Enabled', filter: {}, expiration: { days: ATHENA_RESULTS_DAYS } },
        ],
      },
      this.child,
    );
    new aws.s3.BucketPolicy(
      `${name}-results-policy`,
      { bucket: bucket.id, policy: bucket.arn.apply((a) => JSON.stringify(tlsOnlyBucketPolicy(a))) },
      { ...this.child, dependsOn: [pab] },
    );
    return bucket;
  }
}
