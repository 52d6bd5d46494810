/**
 * Pure builders for the GCP side of keyless federation and the broker's own access, shared by the GcpAccess stack
 * component (which creates them) and the tests. No Pulumi, no SDK.
 */

/** The only permissions the broker service account holds on a target project. */
export const BROKER_PERMISSIONS: readonly string[] = [
  'resourcemanager.projects.getIamPolicy',
  'resourcemanager.projects.setIamPolicy',
];

/** Custom role ids allow letters, digits, `_` and `.` only (3-64). */
export const BROKER_ROLE_ID = 'timeboxBroker';

const IAM_ROLE_ARN = /^arn:(aws|aws-us-gov|aws-cn):iam::([0-9]{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;

/**
 * The STS form of a role that GCP sees: `arn:aws:sts::<account>:assumed-role/<name>` (no path, no session).
 * An IAM role ARN (`arn:aws:iam::<account>:role/<path>/<name>`) loses its path in assumed-role ARNs.
 */
export function assumedRoleArn(roleArn: string): string {
  const m = IAM_ROLE_ARN.exec(roleArn);
  if (!m) throw new Error(`"${roleArn}" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  return `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}`;
}

/** The 12-digit account of an IAM role ARN. */
export function roleAccount(roleArn: string): string {
  const m = IAM_ROLE_ARN.exec(roleArn);
  if (!m) throw new Error(`"${roleArn}" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  return m[2] as string;
}

// Google's documented default AWS mapping: the role part of an assumed-role ARN, or the ARN itself.
const AWS_ROLE_EXPR =
  "assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn";

/**
 * Attribute mapping of the AWS provider. `google.subject` is the role, not the full session ARN: Google caps the
 * subject at 127 bytes, and a Lambda session ARN (`.../assumed-role/<role up to 64>/<function up to 64>`) can be
 * longer, which fails the token exchange with HTTP 400.
 */
export function awsAttributeMapping(): Record<string, string> {
  return { 'google.subject': AWS_ROLE_EXPR, 'attribute.aws_role': AWS_ROLE_EXPR };
}

/** CEL string literal (single quotes; the ARN alphabet has no quote or backslash, checked anyway). */
function celString(s: string): string {
  if (/['\\\n]/.test(s)) throw new Error(`cannot quote ${JSON.stringify(s)} in CEL`);
  return `'${s}'`;
}

/** The provider's attribute condition: only the broker's Lambda roles may federate at all. */
export function brokerAttributeCondition(brokerRoleArns: readonly string[]): string {
  if (brokerRoleArns.length === 0) throw new Error('at least one broker role ARN is needed');
  const roles = [...new Set(brokerRoleArns.map(assumedRoleArn))].sort();
  return `attribute.aws_role in [${roles.map(celString).join(', ')}]`;
}

/** The pool principal set of one AWS role, for `roles/iam.workloadIdentityUser` on the broker service account. */
export function rolePrincipalSet(poolName: string, roleArn: string): string {
  return `principalSet://iam.googleapis.com/${poolName}/attribute.aws_role/${assumedRoleArn(roleArn)}`;
}

/** The STS audience of a provider, from its resource name `projects/<number>/locations/global/...`. */
export function audienceFor(providerName: string): string {
  return `//iam.googleapis.com/${providerName}`;
}

/**
 * The condition on the broker's binding in a target project: it may change only bindings of the roles access.yaml
 * names for that project (`iam.googleapis.com/modifiedGrantsByRole`, the documented way to limit what a holder of
 * setIamPolicy can grant). Reads carry no modified grants, so getIamPolicy is unaffected.
 */
export function brokerGrantCondition(roles: readonly string[]): {
  title: string;
  description: string;
  expression: string;
} {
  if (roles.length === 0) throw new Error('a project needs at least one grantable role');
  const sorted = [...new Set(roles)].sort();
  return {
    title: 'timebox-broker-grantable-roles',
    description: 'Timebox broker: may grant and revoke only the roles access.yaml names for this project',
    expression: `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${sorted.map(celString).join(', ')}])`,
  };
}
