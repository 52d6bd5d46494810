import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { trailBucketPolicy, trailKeyPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';

export interface AuditStorageArgs {
  partition: string;
  region: string;
  account: string;
  /** The trail's ARN, known before it exists: the key and bucket policies name it. */
  trailArn: string;
  retentionDays: pulumi.Input<number>;
  orgId?: string;
  spokeTrailAccounts?: string[];
}

/**
 * Where the trail's evidence is kept: the KMS key (trail logs and Athena results) and the log bucket: private,
 * versioned, SSE-KMS, expiring after the retention period. All of it outlives the stack: on `pulumi destroy` the
 * bucket, everything that keeps it private, versioned and expiring, and the key its objects are encrypted with are
 * left in place (without the key the retained logs could never be read again once KMS finished deleting it).
 */
export class AuditStorage extends Section {
  public readonly key: aws.kms.Key;
  public readonly bucket: aws.s3.Bucket;
  public readonly bucketPolicy: aws.s3.BucketPolicy;
  public readonly publicAccessBlock: aws.s3.BucketPublicAccessBlock;

  constructor(name: string, args: AuditStorageArgs, opts: SectionOptions) {
    super('timebox:aws:AuditStorage', name, opts);
    const retained = { ...this.child, retainOnDelete: true };
    const spokes = args.spokeTrailAccounts ? { spokeAccounts: args.spokeTrailAccounts } : {};
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: 'Timebox CloudTrail and Athena results encryption',
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: JSON.stringify(trailKeyPolicy({ ...args, ...spokes })),
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
              trailArn: args.trailArn,
              account: args.account,
              partition: args.partition,
              ...(args.orgId ? { orgId: args.orgId } : {}),
              ...spokes,
            }),
          ),
        ),
      },
      // S3 refuses bucket policies while Block Public Access is being set; order them.
      { ...retained, dependsOn: [this.publicAccessBlock] },
    );
    this.registerOutputs({ bucket: this.bucket.id, key: this.key.arn });
  }
}

/** Bucket hardening shared by both buckets: SSE-KMS by default, owner-enforced objects, all public access blocked. */
export function privateBucket(
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
