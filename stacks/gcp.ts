import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { z } from 'zod';
import { GCP_PROJECT_ID, GcpConfigSchema } from '../adapters/gcp/config';
import type { MembersConfigSchema } from '../adapters/gcp/members';
import {
  assumedRoleArn,
  audienceFor,
  awsAttributeMapping,
  BROKER_PERMISSIONS,
  BROKER_ROLE_ID,
  brokerAttributeCondition,
  brokerGrantCondition,
  roleAccount,
  rolePrincipalSet,
} from '../adapters/gcp/wif';
import type { Policy } from '../core/policy/types';
import { isBasicRole, parseGcpRole } from '../core/scope/gcp';
import { GcpStackConfigSchema } from './config';

/**
 * GcpAccess: everything GCP needs so the broker Lambdas can grant `gcp-role` targets without a service account key.
 * - a workload identity pool and an AWS provider trusting the hub account, restricted by an attribute condition to
 *   the broker's Lambda roles (`attribute.aws_role in [...]`);
 * - the broker service account, impersonable only by those roles (`roles/iam.workloadIdentityUser` on the service
 *   account for each role's principal set);
 * - on every project access.yaml names, a custom role with exactly `getIamPolicy` and `setIamPolicy`, granted to the
 *   service account under an IAM condition that lets it change only the bindings of the roles access.yaml names for
 *   that project (`modifiedGrantsByRole`). Without that condition setIamPolicy would let the broker grant anything,
 *   itself included.
 * Output `configJson` is TIMEBOX_GCP for the Lambdas.
 */

/** Services the broker's token exchange and IAM calls go through (enabled on the host project). */
export const GCP_APIS = [
  'iam.googleapis.com',
  'iamcredentials.googleapis.com',
  'sts.googleapis.com',
  'cloudresourcemanager.googleapis.com',
] as const;

/** Project -> roles, from the `gcp-role` targets of access.yaml (roles merged per project, sorted). */
export function gcpTargetsFromPolicy(policy: Pick<Policy, 'targets'>): Record<string, string[]> {
  const byProject: Record<string, Set<string>> = {};
  for (const t of Object.values(policy.targets)) {
    if (t.kind !== 'gcp-role') continue;
    const roles = byProject[t.project] ?? new Set<string>();
    for (const r of t.roles) roles.add(r);
    byProject[t.project] = roles;
  }
  return Object.fromEntries(
    Object.keys(byProject)
      .sort()
      .map((p) => [p, [...(byProject[p] ?? [])].sort()]),
  );
}

export interface GcpAccessArgs {
  /** Explicit GCP provider: its credentials must administer IAM on the host project and every target project. */
  provider: gcp.Provider;
  hostProject: string;
  /** The hub AWS account the broker Lambdas run in. */
  awsAccountId: pulumi.Input<string>;
  /** IAM role ARNs of the Lambdas that call GCP, by handler (api, revoke, sweeper). */
  brokerRoleArns: Record<string, pulumi.Input<string>>;
  /** Project -> grantable roles (gcpTargetsFromPolicy). */
  targets: Record<string, string[]>;
  members?: z.input<typeof MembersConfigSchema>;
  poolId?: string;
  providerId?: string;
  serviceAccountId?: string;
  enableApis?: boolean;
}

export class GcpAccess extends pulumi.ComponentResource {
  public readonly pool: gcp.iam.WorkloadIdentityPool;
  public readonly awsProvider: gcp.iam.WorkloadIdentityPoolProvider;
  public readonly serviceAccount: gcp.serviceaccount.Account;
  /** The custom broker role per target project. */
  public readonly brokerRoles: Record<string, gcp.projects.IAMCustomRole>;
  /** STS audience: `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<id>`. */
  public readonly audience: pulumi.Output<string>;
  /** TIMEBOX_GCP for the Lambdas. */
  public readonly configJson: pulumi.Output<string>;

  constructor(name: string, args: GcpAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validated before anything registers: a bad argument creates nothing.
    const a = validateArgs(args);
    super('timebox:gcp:GcpAccess', name, {}, opts);
    const child = { parent: this, provider: args.provider };

    const apis = a.enableApis
      ? GCP_APIS.map(
          (service) =>
            new gcp.projects.Service(
              `${name}-api-${service.split('.')[0]}`,
              // Leaving the APIs on at destroy: other workloads in the host project may use them.
              { project: a.hostProject, service, disableOnDestroy: false, disableDependentServices: false },
              child,
            ),
        )
      : [];
    const afterApis = { ...child, dependsOn: apis };

    this.pool = new gcp.iam.WorkloadIdentityPool(
      `${name}-pool`,
      {
        project: a.hostProject,
        workloadIdentityPoolId: a.poolId,
        displayName: 'Timebox broker',
        description: 'AWS Lambda roles of the Timebox broker',
      },
      afterApis,
    );

    const roleArns = Object.values(args.brokerRoleArns);
    this.awsProvider = new gcp.iam.WorkloadIdentityPoolProvider(
      `${name}-aws`,
      {
        project: a.hostProject,
        workloadIdentityPoolId: this.pool.workloadIdentityPoolId,
        workloadIdentityPoolProviderId: a.providerId,
        displayName: 'Timebox broker (AWS)',
        aws: { accountId: args.awsAccountId },
        attributeMapping: awsAttributeMapping(),
        // Without a condition any role of the account could federate; with it, only the broker's Lambdas.
        attributeCondition: pulumi.all([args.awsAccountId, ...roleArns]).apply(([account, ...arns]) => {
          for (const arn of arns) {
            if (roleAccount(arn) !== account)
              throw new Error(`GcpAccess ${name}: broker role ${arn} is not in the AWS account ${account}`);
          }
          return brokerAttributeCondition(arns);
        }),
      },
      child,
    );

    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-broker`,
      {
        project: a.hostProject,
        accountId: a.serviceAccountId,
        displayName: 'Timebox broker',
        description: 'Adds and removes expiring Timebox bindings; impersonated keylessly from the broker Lambdas',
      },
      afterApis,
    );

    for (const [handler, arn] of Object.entries(args.brokerRoleArns)) {
      new gcp.serviceaccount.IAMMember(
        `${name}-wiu-${handler}`,
        {
          serviceAccountId: this.serviceAccount.name,
          role: 'roles/iam.workloadIdentityUser',
          member: pulumi.all([this.pool.name, arn]).apply(([pool, role]) => rolePrincipalSet(pool, role)),
        },
        child,
      );
    }

    this.brokerRoles = {};
    for (const [project, roles] of Object.entries(a.targets)) {
      // Project-level custom roles can be granted only in their own project: one per target project.
      const role = new gcp.projects.IAMCustomRole(
        `${name}-role-${project}`,
        {
          project,
          roleId: BROKER_ROLE_ID,
          title: 'Timebox broker',
          description: 'Read and write the project IAM policy, for expiring Timebox bindings only',
          permissions: [...BROKER_PERMISSIONS],
          stage: 'GA',
        },
        child,
      );
      this.brokerRoles[project] = role;
      new gcp.projects.IAMMember(
        `${name}-grant-${project}`,
        {
          project,
          role: role.name,
          member: pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`,
          condition: brokerGrantCondition(roles),
        },
        child,
      );
    }

    this.audience = this.awsProvider.name.apply(audienceFor);
    const projects = Object.keys(a.targets).sort();
    this.configJson = pulumi
      .all([this.audience, this.serviceAccount.email, this.pool.name, this.awsProvider.name])
      .apply(([audience, serviceAccount, pool, provider]) => {
        const config = { audience, serviceAccount, pool, provider, projects, members: a.members };
        // What the Lambdas will parse at cold start, checked at deploy time instead.
        GcpConfigSchema.parse(config);
        return JSON.stringify(config);
      });

    this.registerOutputs({
      pool: this.pool.name,
      provider: this.awsProvider.name,
      serviceAccount: this.serviceAccount.email,
      audience: this.audience,
      configJson: this.configJson,
    });
  }
}

/** Checks everything that is known at program time; throws one message listing every problem. */
function validateArgs(args: GcpAccessArgs) {
  const problems: string[] = [];
  const cfg = GcpStackConfigSchema.safeParse({
    hostProject: args.hostProject,
    ...(args.poolId === undefined ? {} : { poolId: args.poolId }),
    ...(args.providerId === undefined ? {} : { providerId: args.providerId }),
    ...(args.serviceAccountId === undefined ? {} : { serviceAccountId: args.serviceAccountId }),
    ...(args.members === undefined ? {} : { members: args.members }),
    ...(args.enableApis === undefined ? {} : { enableApis: args.enableApis }),
  });
  if (!cfg.success) for (const i of cfg.error.issues) problems.push(`${i.path.join('.') || 'gcp'}: ${i.message}`);
  if (Object.keys(args.brokerRoleArns).length === 0)
    problems.push('brokerRoleArns: at least one broker role is needed');
  for (const [handler, arn] of Object.entries(args.brokerRoleArns)) {
    if (!/^[a-z0-9-]{1,32}$/.test(handler)) problems.push(`brokerRoleArns: "${handler}" is not a handler name`);
    if (typeof arn === 'string') {
      try {
        assumedRoleArn(arn);
      } catch (e) {
        problems.push(`brokerRoleArns.${handler}: ${(e as Error).message}`);
      }
    }
  }
  for (const [project, roles] of Object.entries(args.targets)) {
    if (!GCP_PROJECT_ID.test(project)) problems.push(`targets: "${project}" is not a GCP project id`);
    if (roles.length === 0) problems.push(`targets.${project}: no roles`);
    for (const role of roles) {
      const parsed = parseGcpRole(role);
      if (!parsed.ok) problems.push(`targets.${project}: ${parsed.message}`);
      else if (isBasicRole(role))
        problems.push(
          `targets.${project}: ${role} is a basic role; GCP allows no conditions on it, so it cannot expire`,
        );
      else if (role === `projects/${project}/roles/${BROKER_ROLE_ID}`)
        problems.push(`targets.${project}: ${role} is the broker's own role and cannot be granted`);
    }
  }
  const members = cfg.success ? cfg.data.members : { explicit: {}, rules: [] };
  if (cfg.success) {
    const brokerEmail = `${cfg.data.serviceAccountId}@${cfg.data.hostProject}.iam.gserviceaccount.com`;
    for (const [id, member] of Object.entries(members.explicit))
      if (member === `serviceAccount:${brokerEmail}`)
        problems.push(`members.explicit.${id}: the broker service account cannot receive grants`);
  }
  if (!cfg.success || problems.length > 0) throw new Error(`GcpAccess: invalid arguments:\n${problems.join('\n')}`);
  return { ...cfg.data, targets: args.targets };
}
