import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { REMINDERS_INPUT } from '../../lambdas/notifier/handler';
import { Section, type SectionOptions } from '../section';
import { lifecyclePattern, TARGET_RETRY } from './patterns';

export interface NotifierRulesArgs {
  notifier: aws.lambda.Function;
  /** The stack's lifecycle bus. */
  busName: pulumi.Input<string>;
  deadLetterQueueArn: pulumi.Input<string>;
  /** Also run the notifier every five minutes for reminders. */
  reminders: boolean;
}

/** What invokes the notifier: every lifecycle event on the bus, and (with Slack reminders) a five-minute schedule. */
export class NotifierRules extends Section {
  public readonly rules: aws.cloudwatch.EventRule[] = [];
  private readonly baseName: string;

  constructor(name: string, args: NotifierRulesArgs, opts: SectionOptions) {
    super('timebox:aws:NotifierRules', name, opts);
    this.baseName = name;
    const lifecycle = new aws.cloudwatch.EventRule(
      `${name}-lifecycle`,
      {
        description: 'Timebox lifecycle events to the notifier',
        eventBusName: args.busName,
        eventPattern: lifecyclePattern(),
      },
      this.child,
    );
    this.rules.push(lifecycle);
    this.invokes('lifecycle', args.notifier, lifecycle);
    new aws.cloudwatch.EventTarget(
      `${name}-lifecycle-target`,
      {
        rule: lifecycle.name,
        eventBusName: args.busName,
        arn: args.notifier.arn,
        retryPolicy: TARGET_RETRY,
        deadLetterConfig: { arn: args.deadLetterQueueArn },
      },
      this.child,
    );
    if (args.reminders) {
      // Schedule expressions run on the default bus only (EventBridge User Guide, "Creating a rule that runs on a schedule").
      const reminders = new aws.cloudwatch.EventRule(
        `${name}-reminders`,
        {
          description: 'Timebox reminders (requests about to lapse, grants about to expire)',
          scheduleExpression: 'rate(5 minutes)',
        },
        this.child,
      );
      this.rules.push(reminders);
      this.invokes('reminders', args.notifier, reminders);
      new aws.cloudwatch.EventTarget(
        `${name}-reminders-target`,
        {
          rule: reminders.name,
          arn: args.notifier.arn,
          input: JSON.stringify(REMINDERS_INPUT),
          deadLetterConfig: { arn: args.deadLetterQueueArn },
        },
        this.child,
      );
    }
    this.registerOutputs({ rules: this.rules.map((r) => r.arn) });
  }

  /** Lets EventBridge invoke the notifier for one rule. */
  private invokes(part: string, fn: aws.lambda.Function, rule: aws.cloudwatch.EventRule): void {
    new aws.lambda.Permission(
      `${this.baseName}-${part}-invoke`,
      { action: 'lambda:InvokeFunction', function: fn.name, principal: 'events.amazonaws.com', sourceArn: rule.arn },
      this.child,
    );
  }
}
