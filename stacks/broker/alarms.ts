import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { Section, type SectionOptions } from '../section';

export interface BrokerAlarmsArgs {
  alarmEmail?: string;
  deadLetterQueueName: pulumi.Input<string>;
  revokeFunctionName: pulumi.Input<string>;
  sweeperFunctionName: pulumi.Input<string>;
}

/** The alarm topic (and its email subscription) and the alarms on what must not fail quietly: expiry. */
export class BrokerAlarms extends Section {
  public readonly alarmTopic: aws.sns.Topic;
  public readonly alarms: aws.cloudwatch.MetricAlarm[];
  private readonly baseName: string;

  constructor(name: string, args: BrokerAlarmsArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerAlarms', name, opts);
    this.baseName = name;
    this.alarmTopic = new aws.sns.Topic(`${name}-alarms`, { displayName: 'Timebox alarms' }, this.child);
    if (args.alarmEmail) {
      new aws.sns.TopicSubscription(
        `${name}-alarm-email`,
        { topic: this.alarmTopic.arn, protocol: 'email', endpoint: args.alarmEmail },
        this.child,
      );
    }
    this.alarms = [
      this.alarm('dlq-alarm', 'A grant schedule or revoke invocation failed for good: expiry relies on the sweeper', {
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        statistic: 'Maximum',
        dimensions: { QueueName: args.deadLetterQueueName },
      }),
      this.alarm('revoke-errors-alarm', 'The revoke function failed', {
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        statistic: 'Sum',
        dimensions: { FunctionName: args.revokeFunctionName },
      }),
      this.alarm(
        'sweeper-errors-alarm',
        'The sweeper failed (one or more grants could not be expired, lapsed or cleaned)',
        {
          namespace: 'AWS/Lambda',
          metricName: 'Errors',
          statistic: 'Sum',
          dimensions: { FunctionName: args.sweeperFunctionName },
        },
      ),
    ];
    this.registerOutputs({ alarmTopic: this.alarmTopic.arn });
  }

  /** An alarm on any non-zero minute, to the topic, back to OK when it clears. */
  private alarm(
    part: string,
    description: string,
    a: Partial<aws.cloudwatch.MetricAlarmArgs>,
  ): aws.cloudwatch.MetricAlarm {
    return new aws.cloudwatch.MetricAlarm(
      `${this.baseName}-${part}`,
      {
        alarmDescription: description,
        comparisonOperator: 'GreaterThanThreshold',
        threshold: 0,
        evaluationPeriods: 1,
        period: 60,
        treatMissingData: 'notBreaching',
        alarmActions: [this.alarmTopic.arn],
        okActions: [this.alarmTopic.arn],
        ...a,
      },
      this.child,
    );
  }
}
