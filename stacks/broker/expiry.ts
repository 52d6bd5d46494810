import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { schedulerRolePolicy } from '../policies';
import { Section, type SectionOptions } from '../section';

export interface BrokerExpiryArgs {
  /** The role EventBridge Scheduler runs the per-grant schedules as (BrokerScheduling). */
  schedulerRole: aws.iam.Role;
  deadLetterQueueArn: pulumi.Input<string>;
  revokeFunction: aws.lambda.Function;
  sweeperFunction: aws.lambda.Function;
}

/**
 * What ends grants once the functions exist: the scheduler role's permission to invoke revoke (one schedule per
 * grant), and the one-minute rule that runs the sweeper, which expires whatever a schedule missed.
 */
export class BrokerExpiry extends Section {
  public readonly sweepRule: aws.cloudwatch.EventRule;

  constructor(name: string, args: BrokerExpiryArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerExpiry', name, opts);
    new aws.iam.RolePolicy(
      `${name}-scheduler-policy`,
      {
        name: 'timebox-scheduler',
        role: args.schedulerRole.id,
        policy: pulumi
          .all([args.revokeFunction.arn, args.deadLetterQueueArn])
          .apply(([revokeFunctionArn, deadLetterQueueArn]) =>
            JSON.stringify(schedulerRolePolicy({ revokeFunctionArn, deadLetterQueueArn })),
          ),
      },
      this.child,
    );
    this.sweepRule = new aws.cloudwatch.EventRule(
      `${name}-sweep`,
      { description: 'Timebox sweeper', scheduleExpression: 'rate(1 minute)' },
      this.child,
    );
    new aws.lambda.Permission(
      `${name}-sweep-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: args.sweeperFunction.name,
        principal: 'events.amazonaws.com',
        sourceArn: this.sweepRule.arn,
      },
      this.child,
    );
    new aws.cloudwatch.EventTarget(
      `${name}-sweep-target`,
      { rule: this.sweepRule.name, arn: args.sweeperFunction.arn },
      this.child,
    );
    this.registerOutputs({ sweepRule: this.sweepRule.arn });
  }
}
