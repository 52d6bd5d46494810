import { doc, type PolicyDocument, rootAdmin, type Statement } from './document';

// Audit timeline (the api reads CloudTrail through Athena)

/**
 * What running the timeline query takes (Athena User Guide, "Identity and access management in Athena" and
 * "Access to encrypted data"): queries in the Timebox workgroup only; the Glue database and table it reads; the
 * trail's log files (read) and the workgroup's results bucket (write, read); the audit key both are encrypted with.
 * The table uses partition projection, so no glue:GetPartitions.
 */
export function auditQueryPolicy(a: {
  partition: string;
  region: string;
  account: string;
  workgroup: string;
  database: string;
  table: string;
  trailBucketArn: string;
  resultsBucketArn: string;
  keyArn: string;
  /** Accounts whose logs the table projects (default: this one) and the organization of an organization trail. */
  logAccounts?: string[];
  orgId?: string;
}): PolicyDocument {
  const glue = `arn:${a.partition}:glue:${a.region}:${a.account}`;
  const logAccounts = [...new Set(a.logAccounts ?? [a.account])].sort();
  const org = a.orgId ? `${a.orgId}/` : '';
  return doc([
    {
      Sid: 'RunTimelineQueries',
      Effect: 'Allow',
      Action: ['athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StartQueryExecution'],
      Resource: `arn:${a.partition}:athena:${a.region}:${a.account}:workgroup/${a.workgroup}`,
    },
    {
      Sid: 'ReadTrailTable',
      Effect: 'Allow',
      Action: ['glue:GetDatabase', 'glue:GetTable'],
      Resource: [`${glue}:catalog`, `${glue}:database/${a.database}`, `${glue}:table/${a.database}/${a.table}`],
    },
    {
      Sid: 'ReadTrailLogs',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: logAccounts.map((acct) => `${a.trailBucketArn}/AWSLogs/${org}${acct}/CloudTrail/*`),
    },
    {
      Sid: 'ListBuckets',
      Effect: 'Allow',
      Action: ['s3:GetBucketLocation', 's3:ListBucket'],
      Resource: [a.trailBucketArn, a.resultsBucketArn],
    },
    {
      Sid: 'WriteQueryResults',
      Effect: 'Allow',
      Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      Resource: `${a.resultsBucketArn}/*`,
    },
    {
      Sid: 'AuditKey',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: a.keyArn,
    },
  ]);
}

// KMS: the trail key

/**
 * Key policy of the trail key: CloudTrail may generate data keys only for this trail (encryption context and
 * aws:SourceArn, CloudTrail User Guide "Configure AWS KMS key policies for CloudTrail"); readers decrypt through
 * IAM policies, which the account statement enables.
 */
export function trailKeyPolicy(a: {
  partition: string;
  region: string;
  account: string;
  trailArn: string;
  /** Spoke accounts whose own trails deliver into the hub bucket, encrypted with this key. */
  spokeAccounts?: string[];
}): PolicyDocument {
  return doc([
    rootAdmin(a.partition, a.account),
    {
      Sid: 'CloudTrailEncrypts',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 'kms:GenerateDataKey*',
      Resource: '*',
      Condition: {
        StringEquals: { 'aws:SourceArn': a.trailArn },
        StringLike: {
          'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${a.partition}:cloudtrail:*:${a.account}:trail/*`,
        },
      },
    },
    {
      Sid: 'CloudTrailDescribesKey',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 'kms:DescribeKey',
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceArn': a.trailArn } },
    },
    ...spokeTrails(a.partition, a.spokeAccounts).map(({ account, trails }) => ({
      Sid: `CloudTrailEncryptsFor${account}`,
      Effect: 'Allow' as const,
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: ['kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
      Condition: {
        ArnLike: { 'aws:SourceArn': trails },
        StringEquals: { 'aws:SourceAccount': account },
      },
    })),
  ]);
}

/** The trails of each spoke account (any name, any home region): each may deliver only under its own account. */
function spokeTrails(partition: string, accounts: string[] = []): { account: string; trails: string }[] {
  return [...new Set(accounts)].sort().map((account) => ({
    account,
    trails: `arn:${partition}:cloudtrail:*:${account}:trail/*`,
  }));
}

// S3

function tlsOnly(bucketArn: string): Statement {
  return {
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { 'aws:SecureTransport': false } },
  };
}

/**
 * Trail bucket policy: TLS only, plus the two statements CloudTrail needs to deliver (ACL check and PutObject
 * under AWSLogs/<account>/), both pinned to this trail with aws:SourceArn (CloudTrail User Guide, "Amazon S3 bucket
 * policy for CloudTrail").
 */
export function trailBucketPolicy(a: {
  bucketArn: string;
  trailArn: string;
  account: string;
  /** An organization trail also writes `AWSLogs/<org id>/<account>/...` for every member account. */
  orgId?: string;
  /** Spoke accounts whose own trails deliver here, each under `AWSLogs/<its account>/` only. */
  spokeAccounts?: string[];
  partition?: string;
}): PolicyDocument {
  const spokes = spokeTrails(a.partition ?? 'aws', a.spokeAccounts);
  return doc([
    tlsOnly(a.bucketArn),
    {
      Sid: 'CloudTrailAclCheck',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 's3:GetBucketAcl',
      Resource: a.bucketArn,
      Condition: { StringEquals: { 'aws:SourceArn': a.trailArn } },
    },
    {
      Sid: 'CloudTrailWrite',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: a.orgId
        ? [`${a.bucketArn}/AWSLogs/${a.account}/*`, `${a.bucketArn}/AWSLogs/${a.orgId}/*`]
        : `${a.bucketArn}/AWSLogs/${a.account}/*`,
      Condition: {
        StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceArn': a.trailArn },
      },
    },
    ...spokes.flatMap(({ account, trails }): Statement[] => [
      {
        Sid: `SpokeTrailAclCheck${account}`,
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 's3:GetBucketAcl',
        Resource: a.bucketArn,
        Condition: { ArnLike: { 'aws:SourceArn': trails }, StringEquals: { 'aws:SourceAccount': account } },
      },
      {
        Sid: `SpokeTrailWrite${account}`,
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: `${a.bucketArn}/AWSLogs/${account}/*`,
        Condition: {
          ArnLike: { 'aws:SourceArn': trails },
          StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceAccount': account },
        },
      },
    ]),
  ]);
}

/** Bucket policy of the Athena results bucket: TLS only (access is through IAM). */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
  return doc([tlsOnly(bucketArn)]);
}
