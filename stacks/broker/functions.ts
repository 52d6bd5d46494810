import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { EnvName } from '../../lambdas/config';
import { HANDLERS, handlerEnvironment, LAMBDA_RUNTIME, lambdaArchive } from '../functions';
import { type BrokerContext, handlerPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';
import { brokerResourceName } from './names';

export interface BrokerFunctionsArgs {
  namePrefix: string;
  handlers: string[];
  /** Each handler's role and log group (BrokerRoles). */
  roles: Record<string, aws.iam.Role>;
  logGroups: Record<string, aws.cloudwatch.LogGroup>;
  /** What the role policies are built from. */
  context: pulumi.Input<BrokerContext>;
  /** Every environment value the broker knows; each function takes the subset its LAMBDA_ENV entry names. */
  environment: Partial<Record<EnvName, pulumi.Input<string>>>;
  distDir: string;
  policyBundleJson: pulumi.Input<string>;
  deadLetterQueueArn: pulumi.Input<string>;
}

/** One Lambda function per handler, each with its own least-privilege inline role policy. */
export class BrokerFunctions extends Section {
  public readonly rolePolicies: Record<string, aws.iam.RolePolicy> = {};
  public readonly functions: Record<string, aws.lambda.Function> = {};

  constructor(name: string, args: BrokerFunctionsArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerFunctions', name, opts);
    for (const h of args.handlers) {
      const role = args.roles[h] as aws.iam.Role;
      const logGroup = args.logGroups[h] as aws.cloudwatch.LogGroup;
      this.rolePolicies[h] = new aws.iam.RolePolicy(
        `${name}-${h}-policy`,
        {
          name: `timebox-${h}`,
          role: role.id,
          policy: pulumi
            .all([args.context, logGroup.arn])
            .apply(([c, logArn]) => JSON.stringify(handlerPolicy(h, c, logArn, HANDLERS[h]?.capabilities))),
        },
        this.child,
      );
    }
    for (const h of args.handlers) {
      const spec = HANDLERS[h];
      if (!spec) continue;
      this.functions[h] = new aws.lambda.Function(
        `${name}-${h}`,
        {
          name: brokerResourceName(args.namePrefix, h),
          description: spec.description,
          role: (args.roles[h] as aws.iam.Role).arn,
          runtime: LAMBDA_RUNTIME.runtime,
          architectures: [LAMBDA_RUNTIME.architecture],
          handler: LAMBDA_RUNTIME.handler,
          code: lambdaArchive(args.distDir, h, args.policyBundleJson),
          timeout: spec.timeout,
          memorySize: spec.memorySize,
          environment: { variables: handlerEnvironment(h, args.environment) },
          loggingConfig: { logFormat: 'JSON', logGroup: (args.logGroups[h] as aws.cloudwatch.LogGroup).name },
          // Failed asynchronous invocations (after Lambda's own retries) land in the same queue as failed schedules.
          ...(h === 'revoke' ? { deadLetterConfig: { targetArn: args.deadLetterQueueArn } } : {}),
        },
        // Lambda checks the role can reach the dead-letter queue when the function is created.
        { ...this.child, dependsOn: [this.rolePolicies[h] as aws.iam.RolePolicy] },
      );
    }
    this.registerOutputs({
      functions: Object.fromEntries(Object.entries(this.functions).map(([h, f]) => [h, f.arn])),
    });
  }
}
