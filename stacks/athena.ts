import { ROLE_PATH } from '../core/builders/aws';

/**
 * The Athena side of the audit trail as data: the Glue table over CloudTrail's S3 layout with partition
 * projection (Athena User Guide, "Create the table for CloudTrail logs in Athena using partition projection"),
 * and the named queries. Pure, so the SQL is tested without Pulumi.
 */

/** Glue table name of the CloudTrail logs. */
export const CLOUDTRAIL_TABLE = 'cloudtrail';

/** First day partitions are projected from (queries always bound the day, so an early start costs nothing). */
export const PROJECTION_START = '2025/01/01';

/** Columns of a CloudTrail record (CloudTrail User Guide, "CloudTrail record contents"), as Glue types. */
export const CLOUDTRAIL_COLUMNS: { name: string; type: string }[] = [
  { name: 'eventversion', type: 'string' },
  {
    name: 'useridentity',
    type:
      'struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,' +
      'username:string,onbehalfof:struct<userid:string,identitystorearn:string>,' +
      'sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,' +
      'sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,' +
      'ec2roledelivery:string,webidfederationdata:struct<federatedprovider:string,attributes:map<string,string>>,' +
      'sourceidentity:string>>',
  },
  { name: 'eventtime', type: 'string' },
  { name: 'eventsource', type: 'string' },
  { name: 'eventname', type: 'string' },
  { name: 'awsregion', type: 'string' },
  { name: 'sourceipaddress', type: 'string' },
  { name: 'useragent', type: 'string' },
  { name: 'errorcode', type: 'string' },
  { name: 'errormessage', type: 'string' },
  { name: 'requestparameters', type: 'string' },
  { name: 'responseelements', type: 'string' },
  { name: 'additionaleventdata', type: 'string' },
  { name: 'requestid', type: 'string' },
  { name: 'eventid', type: 'string' },
  { name: 'readonly', type: 'string' },
  { name: 'resources', type: 'array<struct<arn:string,accountid:string,type:string>>' },
  { name: 'eventtype', type: 'string' },
  { name: 'apiversion', type: 'string' },
  { name: 'recipientaccountid', type: 'string' },
  { name: 'serviceeventdetails', type: 'string' },
  { name: 'sharedeventid', type: 'string' },
  { name: 'vpcendpointid', type: 'string' },
  { name: 'eventcategory', type: 'string' },
  { name: 'tlsdetails', type: 'struct<tlsversion:string,ciphersuite:string,clienthostheader:string>' },
];

/** Partition keys: one per account, region and day prefix of the trail's S3 layout. */
export const CLOUDTRAIL_PARTITIONS = [
  { name: 'account', type: 'string' },
  { name: 'region', type: 'string' },
  { name: 'timestamp', type: 'string' },
];

/**
 * The region CloudTrail records global services in (IAM, STS's global endpoint, CloudFront, console sign-in): "logged
 * as occurring in US East (N. Virginia)" in the commercial partition. Every table projects it, whatever the operator
 * lists, or IAM changes made under a grant would be invisible.
 */
export const GLOBAL_EVENTS_REGION: Readonly<Record<string, string>> = {
  aws: 'us-east-1',
  'aws-us-gov': 'us-gov-west-1',
  'aws-cn': 'cn-north-1',
};

/** The regions a table projects: the configured ones and the partition's global-events region, sorted, once each. */
export function projectedRegions(regions: readonly string[], partition: string): string[] {
  const global = GLOBAL_EVENTS_REGION[partition];
  return [...new Set([...regions, ...(global ? [global] : [])])].sort();
}

/**
 * How the trail's files are laid out in the bucket (no key prefix configured). A trail of one account writes
 * `AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<MM>/<dd>/`; an organization trail writes every member account
 * (and the management account) under `AWSLogs/<org id>/<account>/CloudTrail/...` (CloudTrail User Guide, "Finding
 * your CloudTrail log files"). Spoke trails delivering to the hub bucket use the first layout under their own account.
 */
export interface TrailLayout {
  /** Set for an organization trail. */
  orgId?: string;
}

/** The prefix above the account segment: `s3://<bucket>/AWSLogs/` or `s3://<bucket>/AWSLogs/<org id>/`. */
export function trailLocation(bucket: string, layout: TrailLayout = {}): string {
  return `s3://${bucket}/AWSLogs/${layout.orgId ? `${layout.orgId}/` : ''}`;
}

/** The S3 key prefix one account's logs have in the bucket (for IAM resources): `AWSLogs/[<org>/]<account>/CloudTrail/`. */
export function accountLogPrefix(account: string, layout: TrailLayout = {}): string {
  return `AWSLogs/${layout.orgId ? `${layout.orgId}/` : ''}${account}/CloudTrail/`;
}

const ACCOUNT_ID = /^\d{12}$/;
const ORG_ID = /^o-[a-z0-9]{10,32}$/;

/**
 * Table parameters: partition projection over `<account>/CloudTrail/<region>/<yyyy/MM/dd>`, so no partition is ever
 * added by hand. Accounts are an `enum` (the hub and every spoke, known at deployment), so queries need not name one
 * and a spoke's calls are read like the hub's; `injected` would make every query list its accounts.
 */
export function projectionParameters(
  a: {
    bucket: string;
    accounts: readonly string[];
    regions: readonly string[];
  } & TrailLayout,
): Record<string, string> {
  if (a.regions.length === 0) throw new Error('partition projection needs at least one region');
  if (a.accounts.length === 0) throw new Error('partition projection needs at least one account');
  const bad = a.accounts.filter((x) => !ACCOUNT_ID.test(x));
  if (bad.length > 0) throw new Error(`projected accounts must be 12-digit account ids: ${bad.join(', ')}`);
  if (a.orgId !== undefined && !ORG_ID.test(a.orgId)) throw new Error(`"${a.orgId}" is not an organization id`);
  return {
    EXTERNAL: 'TRUE',
    classification: 'cloudtrail',
    'projection.enabled': 'true',
    'projection.account.type': 'enum',
    'projection.account.values': [...new Set(a.accounts)].sort().join(','),
    'projection.region.type': 'enum',
    'projection.region.values': [...new Set(a.regions)].sort().join(','),
    'projection.timestamp.type': 'date',
    'projection.timestamp.format': 'yyyy/MM/dd',
    'projection.timestamp.range': `${PROJECTION_START},NOW`,
    'projection.timestamp.interval': '1',
    'projection.timestamp.interval.unit': 'DAYS',
    'storage.location.template': `${trailLocation(a.bucket, a)}\${account}/CloudTrail/\${region}/\${timestamp}`,
  };
}

/** Storage of the table: CloudTrail's gzip JSON files, read by the input format and SerDe the Athena docs name. */
export const CLOUDTRAIL_STORAGE = {
  inputFormat: 'com.amazon.emr.cloudtrail.CloudTrailInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
  serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe',
};

export interface NamedQuery {
  name: string;
  description: string;
  query: string;
}

const SELECT = `SELECT eventtime, recipientaccountid AS account, awsregion, eventsource, eventname, errorcode,
  sourceipaddress, useragent,
  useridentity.sessioncontext.sourceidentity AS source_identity,
  element_at(split(useridentity.arn, '/'), -1) AS session_name,
  useridentity.sessioncontext.sessionissuer.arn AS role_arn,
  requestparameters, resources`;

// Positional execution parameters (StartQueryExecution ExecutionParameters, or the console's prompt).
// The day bounds prune partitions (what Athena scans and bills); the time bounds are exact. eventtime is ISO-8601
// UTC (2026-01-31T10:00:00Z), so string comparison is time order.
const WINDOW = `"timestamp" BETWEEN ? AND ?
  AND eventtime >= ? AND eventtime < ?`;
const WINDOW_HELP = '1: first day yyyy/MM/dd, 2: last day yyyy/MM/dd, 3: from (ISO-8601 UTC), 4: until (exclusive)';

/** The three audit questions, each bounded by a time window. */
export function namedQueries(database: string, table: string = CLOUDTRAIL_TABLE): NamedQuery[] {
  const from = `"${database}"."${table}"`;
  const timeboxRoles = `arn:%:iam::%:role${ROLE_PATH}%`;
  return [
    {
      name: 'timebox-actions-under-grant',
      description: `AWS actions taken with one grant's credentials. Parameters ${WINDOW_HELP}, 5: grant id, 6: principal id`,
      query: `${SELECT}
FROM ${from}
WHERE ${WINDOW}
  AND useridentity.sessioncontext.sessionissuer.arn LIKE '${timeboxRoles}'
  AND element_at(split(useridentity.arn, '/'), -1) = ?
  AND useridentity.sessioncontext.sourceidentity = ?
ORDER BY eventtime`,
    },
    {
      name: 'timebox-actions-by-principal',
      description: `AWS actions by one principal through any Timebox grant (source identity survives role chaining). Parameters ${WINDOW_HELP}, 5: principal id`,
      query: `${SELECT}
FROM ${from}
WHERE ${WINDOW}
  AND useridentity.sessioncontext.sourceidentity = ?
ORDER BY eventtime`,
    },
    {
      name: 'timebox-actions-on-target-role',
      description: `AWS actions taken through one target role, by anyone. Parameters ${WINDOW_HELP}, 5: role ARN (arn:aws:iam::<account>:role/timebox/<name>)`,
      query: `${SELECT}
FROM ${from}
WHERE ${WINDOW}
  AND useridentity.sessioncontext.sessionissuer.arn = ?
ORDER BY eventtime`,
    },
  ];
}

/** Glue database names: lower case letters, digits and underscores. */
export function glueName(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}
