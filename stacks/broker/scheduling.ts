import * as aws from '@pulumi/aws';
import { schedulerTrustPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';
import { schedulerGroupName } from './names';

export interface BrokerSchedulingArgs {
  account: string;
  namePrefix: string;
}

/**
 * Per-grant expiry: the EventBridge Scheduler group the grants' one-shot schedules live in, the role Scheduler runs
 * them as, and the dead-letter queue of schedules and revoke invocations that failed for good. The role's policy
 * names the revoke function, so BrokerExpiry attaches it once the function exists.
 */
export class BrokerScheduling extends Section {
  public readonly deadLetterQueue: aws.sqs.Queue;
  public readonly schedulerGroup: aws.scheduler.ScheduleGroup;
  public readonly schedulerRole: aws.iam.Role;

  constructor(name: string, args: BrokerSchedulingArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerScheduling', name, opts);
    // Standard queue: Scheduler does not support FIFO dead-letter queues. SSE-SQS needs no key grants for senders.
    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { sqsManagedSseEnabled: true, messageRetentionSeconds: 14 * 24 * 3600 },
      this.child,
    );
    this.schedulerGroup = new aws.scheduler.ScheduleGroup(
      `${name}-schedules`,
      { name: schedulerGroupName(args.namePrefix) },
      this.child,
    );
    this.schedulerRole = new aws.iam.Role(
      `${name}-scheduler-role`,
      {
        description: 'EventBridge Scheduler invokes the Timebox revoke function',
        assumeRolePolicy: JSON.stringify(schedulerTrustPolicy(args.account)),
      },
      this.child,
    );
    this.registerOutputs({
      deadLetterQueue: this.deadLetterQueue.url,
      schedulerGroup: this.schedulerGroup.name,
      schedulerRole: this.schedulerRole.arn,
    });
  }
}
