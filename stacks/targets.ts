import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ROLE_PATH } from '../core/builders/aws';
import {
  MANAGED_POLICY_MAX_CHARS,
  permissionBoundary,
  targetRolePolicy,
  targetTrustPolicy,
} from '../core/builders/aws-iam';
import { isTimeboxError } from '../core/errors';
import type { AwsRoleTarget } from '../core/policy/types';
import { REVOKER_ROLE_NAME } from './policies';

/** Name of the inline policy holding a target's own permissions (never the revocation policy's name). */
export const TARGET_POLICY_NAME = 'timebox-access';
/** STS caps role chaining at 1 h; a longer maximum would only mislead (the broker's sessions are chained). */
export const TARGET_MAX_SESSION_SECONDS = 3600;

/** The boundary policy's ARN, known before it exists (the broker's IAM conditions name it). */
export function boundaryArn(a: { partition: string; account: string; policyName: string }): string {
  return `arn:${a.partition}:iam::${a.account}:policy${ROLE_PATH}${a.policyName}`;
}

/**
 * The boundary document, checked for size with the ARNs it will hold. Throws a plain Error naming the targets'
 * problem (`IAM.BOUNDARY_TOO_LARGE`) so the preview fails before anything is created.
 */
export function boundaryDocument(targets: AwsRoleTarget[], protectedArns: string[]): string {
  try {
    return JSON.stringify(permissionBoundary({ targets, protectedArns }));
  } catch (e) {
    if (isTimeboxError(e)) throw new Error(`permission boundary: ${e.message} (${e.code})`);
    throw e;
  }
}

export interface BoundaryArgs {
  /** The aws-role targets of this account. */
  targets: AwsRoleTarget[];
  /** ARNs no target may touch (the broker's tables, keys, trail, buckets, functions, roles). */
  protectedArns: pulumi.Input<pulumi.Input<string>[]>;
  /** Managed policy name (under path /timebox/). */
  policyName: string;
}

/** The managed permission boundary every target role of one account carries. */
export class Boundary extends pulumi.ComponentResource {
  public readonly policy: aws.iam.Policy;
  public readonly arn: pulumi.Output<string>;

  constructor(name: string, args: BoundaryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:Boundary', name, {}, opts);
    if (!/^[\w+=,.@-]{1,128}$/.test(args.policyName))
      throw new Error(`boundary policy name "${args.policyName}" is not a valid IAM policy name`);
    // Fail the preview, not the update, when the document cannot fit: size it with placeholder ARNs as long as
    // real ones are likely to be (the real check runs again on the resolved values).
    const count = Array.isArray(args.protectedArns) ? args.protectedArns.length : 1;
    boundaryDocument(
      args.targets,
      Array.from(
        { length: count },
        (_, i) => `arn:aws:dynamodb:xx-xxxxxxxxx-1:000000000000:table/${i}${'x'.repeat(60)}`,
      ),
    );
    this.policy = new aws.iam.Policy(
      `${name}-policy`,
      {
        name: args.policyName,
        path: ROLE_PATH,
        description: `Timebox permission boundary: at most what access.yaml allows (limit ${MANAGED_POLICY_MAX_CHARS} chars)`,
        policy: pulumi.output(args.protectedArns).apply((arns) => boundaryDocument(args.targets, arns)),
      },
      { parent: this },
    );
    this.arn = this.policy.arn;
    this.registerOutputs({ arn: this.arn });
  }
}

export interface TargetsArgs {
  /** The aws-role targets to create in this account. */
  targets: AwsRoleTarget[];
  boundaryArn: pulumi.Input<string>;
  /** Roles that may assume the targets: the broker's api role. */
  brokerRoleArns: pulumi.Input<pulumi.Input<string>[]>;
}

/** One IAM role per aws-role target: path /timebox/, the boundary, its own policy, trusting only the broker. */
export class Targets extends pulumi.ComponentResource {
  public readonly roles: Record<string, aws.iam.Role> = {};
  public readonly policies: Record<string, aws.iam.RolePolicy> = {};
  /** Target name -> role ARN. */
  public readonly roleArns: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: TargetsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:Targets', name, {}, opts);
    const documents = validateTargets(args.targets);
    const trust = pulumi
      .output(args.brokerRoleArns)
      .apply((brokerRoleArns) => JSON.stringify(targetTrustPolicy({ brokerRoleArns })));
    for (const t of args.targets) {
      const role = new aws.iam.Role(
        `${name}-${t.name}`,
        {
          name: t.role,
          path: ROLE_PATH,
          description: `Timebox target ${t.name}`.slice(0, 1000),
          assumeRolePolicy: trust,
          permissionsBoundary: args.boundaryArn,
          maxSessionDuration: TARGET_MAX_SESSION_SECONDS,
          tags: { 'timebox:target': t.name },
        },
        { parent: this },
      );
      this.roles[t.name] = role;
      this.policies[t.name] = new aws.iam.RolePolicy(
        `${name}-${t.name}-policy`,
        { name: TARGET_POLICY_NAME, role: role.id, policy: documents[t.name] as string },
        { parent: this },
      );
    }
    this.roleArns = pulumi
      .all(Object.entries(this.roles).map(([n, r]) => r.arn.apply((arn) => [n, arn] as const)))
      .apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({ roleArns: this.roleArns });
  }
}

/** Checks the targets (unique role names, buildable policies); returns each target's policy JSON. */
export function validateTargets(targets: AwsRoleTarget[]): Record<string, string> {
  const problems: string[] = [];
  const out: Record<string, string> = {};
  const roles = new Map<string, string>();
  for (const t of targets) {
    const other = roles.get(t.role.toLowerCase());
    // IAM role names are unique per account regardless of case.
    if (other) problems.push(`targets ${other} and ${t.name} both name role ${t.role}`);
    roles.set(t.role.toLowerCase(), t.name);
    if (t.role.toLowerCase() === REVOKER_ROLE_NAME)
      problems.push(`target ${t.name}: role name ${t.role} is reserved for the spoke revoker role`);
    try {
      out[t.name] = JSON.stringify(targetRolePolicy(t));
    } catch (e) {
      problems.push(`target ${t.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (problems.length > 0) throw new Error(`invalid aws-role targets:\n${problems.join('\n')}`);
  return out;
}
