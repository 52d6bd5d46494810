import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { Section, type SectionOptions } from '../section';

/** CloudTrail data events of one resource type, for ARNs starting with any of the prefixes. */
export interface DataEventSelector {
  name: string;
  resourceType: 'AWS::S3::Object' | 'AWS::DynamoDB::Table' | 'AWS::Lambda::Function';
  arnPrefixes: string[];
}

export interface AuditRecordingArgs {
  trailName: string;
  /** Record every account of this organization (an organization trail). */
  orgId?: string;
  /** The DynamoDB events table: every write to it is recorded as a CloudTrail data event. */
  eventsTableArn: pulumi.Input<string>;
  targetDataEvents?: DataEventSelector[];
  /** Where the logs go (AuditStorage): the bucket, its policy and the key, which CloudTrail checks on creation. */
  bucket: aws.s3.Bucket;
  bucketPolicy: aws.s3.BucketPolicy;
  key: aws.kms.Key;
}

/**
 * The trail: multi-region, log file validation, management events, writes to the audit table, and the data events
 * of what grants reach (without them S3 object reads are invisible).
 */
export class AuditRecording extends Section {
  public readonly trail: aws.cloudtrail.Trail;

  constructor(name: string, args: AuditRecordingArgs, opts: SectionOptions) {
    super('timebox:aws:AuditRecording', name, opts);
    this.trail = new aws.cloudtrail.Trail(
      `${name}-trail`,
      {
        name: args.trailName,
        s3BucketName: args.bucket.id,
        isMultiRegionTrail: true,
        includeGlobalServiceEvents: true,
        isOrganizationTrail: args.orgId !== undefined,
        enableLogFileValidation: true,
        kmsKeyId: args.key.arn,
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
      { ...this.child, dependsOn: [args.bucketPolicy, args.key] },
    );
    this.registerOutputs({ trail: this.trail.arn });
  }
}
