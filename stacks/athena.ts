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

/** Partition keys: one per region prefix and one per day prefix of the trail's S3 layout. */
export const CLOUDTRAIL_PARTITIONS = [
  { name: 'region', type: 'string' },
  { name: 'timestamp', type: 'string' },
];

/** Where a trail delivers: `s3://<bucket>/AWSLogs/<account>/CloudTrail/` (no key prefix configured). */
export function trailLocation(bucket: string, account: string): string {
  return `s3://${bucket}/AWSLogs/${account}/CloudTrail/`;
}

/** Table parameters: partition projection over `<region>/<yyyy/MM/dd>`, so no partition is ever added by hand. */
export function projectionParameters(a: {
  bucket: string;
  account: string;
  regions: string[];
}): Record<string, string> {
  if (a.regions.length === 0) throw new Error('partition projection needs at least one region');
  return {
    EXTERNAL: 'TRUE',
    classification: 'cloudtrail',
    'projection.enabled': 'true',
    'projection.region.type': 'enum',
    'projection.region.values': [...new Set(a.regions)].sort().join(','),
    'projection.timestamp.type': 'date',
    'projection.timestamp.format': 'yyyy/MM/dd',
    'projection.timestamp.range': `${PROJECTION_START},NOW`,
    'projection.timestamp.interval': '1',
    'projection.timestamp.interval.unit': 'DAYS',
    'storage.location.template': `${trailLocation(a.bucket, a.account)}\${region}/\${timestamp}`,
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

const SELECT = `SELECT eventtime, awsregion, eventsource, eventname, errorcode, sourceipaddress, useragent,
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
