import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { checkedEnvironment, LAMBDA_RUNTIME, lambdaArchive } from '../functions';
import { lambdaTrustPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';

/** What differs between the two notify functions. */
const SPECS = {
  notifier: {
    description: 'Timebox notifier (lifecycle events to Slack and signed webhooks)',
    timeout: 60,
    memorySize: 256,
  },
  // Slack waits 3 s for an answer; the outcome goes to response_url anyway, so a slower decision still lands.
  slack: { description: 'Timebox Slack interactivity (approve/deny)', timeout: 15, memorySize: 512 },
} as const;

export interface NotificationFunctionArgs {
  handler: 'notifier' | 'slack';
  /** `timebox-<stack>`: the function and its role are `<prefix>-<handler>`. */
  namePrefix: string;
  distDir: string;
  policyBundleJson: pulumi.Input<string>;
  logRetentionDays: number;
  /** The role's inline policy, given the function's log group ARN. */
  policy: (logGroupArn: pulumi.Output<string>) => pulumi.Input<string>;
  environment: Record<string, pulumi.Input<string>>;
  /** Where failed asynchronous invocations go (the notifier, which EventBridge invokes). */
  deadLetterQueueArn?: pulumi.Input<string>;
}

/** One notify function (named `<component>-<handler>`) with its log group, role and inline role policy. */
export class NotificationFunction extends Section {
  public readonly role: aws.iam.Role;
  public readonly function: aws.lambda.Function;

  constructor(name: string, args: NotificationFunctionArgs, opts: SectionOptions) {
    super('timebox:aws:NotificationFunction', name, opts);
    const h = args.handler;
    const fname = `${args.namePrefix}-${h}`;
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `/aws/lambda/${fname}`, retentionInDays: args.logRetentionDays },
      this.child,
    );
    this.role = new aws.iam.Role(
      `${name}-role`,
      { name: fname, description: `Timebox ${h} function`, assumeRolePolicy: JSON.stringify(lambdaTrustPolicy()) },
      this.child,
    );
    const rolePolicy = new aws.iam.RolePolicy(
      `${name}-policy`,
      { name: `timebox-${h}`, role: this.role.id, policy: args.policy(logGroup.arn) },
      this.child,
    );
    this.function = new aws.lambda.Function(
      name,
      {
        name: fname,
        description: SPECS[h].description,
        role: this.role.arn,
        runtime: LAMBDA_RUNTIME.runtime,
        architectures: [LAMBDA_RUNTIME.architecture],
        handler: LAMBDA_RUNTIME.handler,
        code: lambdaArchive(args.distDir, h, args.policyBundleJson),
        timeout: SPECS[h].timeout,
        memorySize: SPECS[h].memorySize,
        environment: { variables: checkedEnvironment(h, args.environment) },
        loggingConfig: { logFormat: 'JSON', logGroup: logGroup.name },
        ...(args.deadLetterQueueArn ? { deadLetterConfig: { targetArn: args.deadLetterQueueArn } } : {}),
      },
      // Lambda checks the role can reach the dead-letter queue when the function is created.
      { ...this.child, dependsOn: [rolePolicy] },
    );
    this.registerOutputs({ function: this.function.arn });
  }
}
