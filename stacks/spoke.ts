import { resolve } from 'node:path';
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ROLE_PATH } from '../core/builders/aws';
import type { AwsRoleTarget } from '../core/policy/types';
import { targetDataEvents } from './audit';
import {
  CONFIG_NAMESPACE,
  type HubAuditTrail,
  type HubRoles,
  namespaceConfig,
  parseSpokeConfig,
  ROLE_ARN,
  type SpokeConfig,
} from './config';
import { REVOKER_ROLE_NAME, revokerRolePolicy, revokerTrustPolicy } from './policies';
import { namePrefix, readPolicyFile } from './program';
import { Boundary, Targets } from './targets';

/**
 * A spoke account: the account's aws-role targets (boundary-capped, trusting the hub's api role), the
 * `timebox-revoker` role the hub's functions assume to write and clean up revocation denies there, and, unless the hub
 * runs an organization trail, this account's trail into the hub's audit bucket: calls made with a spoke target role
 * are recorded in the spoke's CloudTrail, never in the hub's. Deployed by the spoke program (stacks/spoke/), one stack
 * per account, or by any program with an explicit provider per account.
 */

export interface SpokeAccountArgs {
  /** This (spoke) account's id and partition. */
  account: string;
  partition: string;
  /** aws-role targets of access.yaml that name this account. */
  targets: AwsRoleTarget[];
  hubRoles: HubRoles;
  /** Name of the boundary policy (under /timebox/). */
  boundaryName: string;
  /** This account's trail into the hub's audit bucket; absent when the hub runs an organization trail. */
  auditTrail?: HubAuditTrail & { trailName: string; region: string };
}

export class SpokeAccount extends pulumi.ComponentResource {
  public readonly boundary: Boundary;
  public readonly targets: Targets;
  public readonly revoker: aws.iam.Role;
  public readonly revokerPolicy: aws.iam.RolePolicy;
  public readonly trail?: aws.cloudtrail.Trail;

  constructor(name: string, args: SpokeAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super('timebox:aws:SpokeAccount', name, {}, opts);
    validateSpokeArgs(args);
    const child = { parent: this };
    // The boundary's own deny on tampering with /timebox/ roles and policies covers the revoker role too.
    const trailArn = args.auditTrail
      ? `arn:${args.partition}:cloudtrail:${args.auditTrail.region}:${args.account}:trail/${args.auditTrail.trailName}`
      : undefined;
    // A grant session must not stop or redirect the trail that records it.
    this.boundary = new Boundary(
      `${name}-boundary`,
      { targets: args.targets, protectedArns: trailArn ? [trailArn] : [], policyName: args.boundaryName },
      child,
    );
    if (args.auditTrail) {
      // Same recording as the hub trail (stacks/audit/recording.ts): all regions, global services (IAM, STS) included, log
      // file validation, the hub's key; written under AWSLogs/<this account>/ in the hub bucket, which allows it.
      this.trail = new aws.cloudtrail.Trail(
        `${name}-trail`,
        {
          name: args.auditTrail.trailName,
          s3BucketName: args.auditTrail.bucket,
          isMultiRegionTrail: true,
          includeGlobalServiceEvents: true,
          enableLogFileValidation: true,
          kmsKeyId: args.auditTrail.keyArn,
          advancedEventSelectors: [
            { name: 'Management events', fieldSelectors: [{ field: 'eventCategory', equals: ['Management'] }] },
            ...targetDataEvents(args.targets).map((sel) => ({
              name: sel.name,
              fieldSelectors: [
                { field: 'eventCategory', equals: ['Data'] },
                { field: 'resources.type', equals: [sel.resourceType] },
                { field: 'resources.ARN', startsWiths: sel.arnPrefixes },
              ],
            })),
          ],
        },
        child,
      );
    }
    this.targets = new Targets(
      `${name}-targets`,
      { targets: args.targets, boundaryArn: this.boundary.arn, brokerRoleArns: [args.hubRoles.api] },
      child,
    );
    this.revoker = new aws.iam.Role(
      `${name}-revoker`,
      {
        name: REVOKER_ROLE_NAME,
        path: ROLE_PATH,
        description: 'Timebox hub functions write and clean up revocation denies on the target roles of this account',
        assumeRolePolicy: JSON.stringify(
          revokerTrustPolicy([args.hubRoles.api, args.hubRoles.revoke, args.hubRoles.sweeper]),
        ),
        maxSessionDuration: 3600,
      },
      child,
    );
    this.revokerPolicy = new aws.iam.RolePolicy(
      `${name}-revoker-policy`,
      {
        name: 'timebox-revoker',
        role: this.revoker.id,
        policy: this.boundary.arn.apply((boundaryArn) =>
          JSON.stringify(revokerRolePolicy({ partition: args.partition, account: args.account, boundaryArn })),
        ),
      },
      child,
    );
    this.registerOutputs({
      targetRoleArns: this.targets.roleArns,
      revokerRoleArn: this.revoker.arn,
      boundaryArn: this.boundary.arn,
      ...(this.trail ? { trailArn: this.trail.arn } : {}),
    });
  }
}

/** Checks the arguments before any resource is declared. */
export function validateSpokeArgs(args: SpokeAccountArgs): void {
  const problems: string[] = [];
  const hub = new Set<string>();
  for (const [h, arn] of Object.entries(args.hubRoles)) {
    const m = ROLE_ARN.exec(arn);
    if (!m) {
      problems.push(`hubRoles.${h}: ${arn} is not an IAM role ARN`);
      continue;
    }
    if (m[1] !== args.partition) problems.push(`hubRoles.${h}: ${arn} is not in partition ${args.partition}`);
    hub.add(m[2] as string);
  }
  if (hub.size > 1) problems.push(`hubRoles: the hub roles are in several accounts (${[...hub].join(', ')})`);
  if (hub.has(args.account))
    problems.push(`hubRoles: ${args.account} is the hub account; its targets are created by the hub stack`);
  for (const t of args.targets) {
    if (t.account !== args.account) problems.push(`target ${t.name} is in account ${t.account}, not ${args.account}`);
    if (t.partition !== args.partition) problems.push(`target ${t.name} is in partition ${t.partition}`);
  }
  if (args.auditTrail) {
    const [, keyPartition, , , keyAccount] = args.auditTrail.keyArn.split(':');
    if (keyPartition !== args.partition) problems.push(`auditTrail.keyArn is not in partition ${args.partition}`);
    if (hub.size === 1 && !hub.has(keyAccount ?? ''))
      problems.push(`auditTrail.keyArn is in account ${keyAccount}, not the hub account of hubRoles`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$/.test(args.auditTrail.trailName))
      problems.push(`trail name "${args.auditTrail.trailName}" is not a valid CloudTrail trail name`);
  }
  if (problems.length > 0) throw new Error(`invalid SpokeAccount arguments:\n${problems.join('\n')}`);
}

export interface SpokeProgramOptions {
  config?: SpokeConfig;
  projectDir?: string;
  stack?: string;
}

/** The spoke program: this account's targets and revoker, from the same access.yaml as the hub. */
export async function spoke(opts: SpokeProgramOptions = {}) {
  const cfg = opts.config ?? parseSpokeConfig(namespaceConfig(CONFIG_NAMESPACE));
  const projectDir = opts.projectDir ?? process.cwd();
  const { policy } = readPolicyFile(resolve(projectDir, cfg.policyFile), cfg.policyFile);
  const [caller, part, reg] = await Promise.all([aws.getCallerIdentity({}), aws.getPartition({}), aws.getRegion({})]);
  const account = caller.accountId;
  const targets = Object.values(policy.targets).filter(
    (t): t is AwsRoleTarget => t.kind === 'aws-role' && t.account === account,
  );
  if (targets.length === 0)
    pulumi.log.warn(`access.yaml names no aws-role target in account ${account}: only the revoker role is created`);
  const prefix = namePrefix(`spoke-${opts.stack ?? pulumi.getStack()}`);
  if (!cfg.auditTrail)
    pulumi.log.warn(
      `timebox:auditTrail is not set: calls made in account ${account} appear on grant timelines only if the hub runs an organization trail`,
    );
  const s = new SpokeAccount('spoke', {
    account,
    partition: part.partition,
    targets,
    hubRoles: cfg.hubRoles,
    boundaryName: `${prefix}-boundary`,
    ...(cfg.auditTrail ? { auditTrail: { ...cfg.auditTrail, trailName: `${prefix}-trail`, region: reg.region } } : {}),
  });
  return {
    account,
    targetRoleArns: s.targets.roleArns,
    revokerRoleArn: s.revoker.arn,
    boundaryArn: s.boundary.arn,
    ...(s.trail ? { trailArn: s.trail.arn } : {}),
  };
}
