import * as aws from '@pulumi/aws';
import { lambdaTrustPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';
import { brokerResourceName } from './names';

export interface BrokerRolesArgs {
  namePrefix: string;
  handlers: string[];
  logRetentionDays: number;
}

/**
 * Each function's role and log group, declared before anything that names them: the signing key's policy names the
 * api role, and each role's own policy (BrokerFunctions) names its log group and the broker's other resources.
 */
export class BrokerRoles extends Section {
  public readonly roles: Record<string, aws.iam.Role> = {};
  public readonly logGroups: Record<string, aws.cloudwatch.LogGroup> = {};

  constructor(name: string, args: BrokerRolesArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerRoles', name, opts);
    for (const h of args.handlers) {
      this.logGroups[h] = new aws.cloudwatch.LogGroup(
        `${name}-${h}-logs`,
        { name: `/aws/lambda/${brokerResourceName(args.namePrefix, h)}`, retentionInDays: args.logRetentionDays },
        this.child,
      );
      this.roles[h] = new aws.iam.Role(
        `${name}-${h}-role`,
        {
          name: brokerResourceName(args.namePrefix, h),
          description: `Timebox ${h} function`,
          assumeRolePolicy: JSON.stringify(lambdaTrustPolicy()),
        },
        this.child,
      );
    }
    this.registerOutputs({ roles: Object.fromEntries(Object.entries(this.roles).map(([h, r]) => [h, r.arn])) });
  }
}
