import { ValidationError } from '../errors';
import type { AwsRoleTarget } from '../policy/types';

/**
 * IAM documents for `aws-role` targets, shared by the runtime (STS session policy, revocation policy) and the
 * Pulumi stack (role ARN path). Pure functions: same input, same document.
 */

/** STS rejects session policies whose plaintext exceeds 2,048 characters (AssumeRole `Policy` parameter). */
export const SESSION_POLICY_MAX_CHARS = 2048;
/** Session tag key carried by every credential Timebox issues; early revocation matches on it. */
export const GRANT_TAG = 'timebox-grant';
/** IAM path of every role Timebox manages; the broker may only assume roles under it. */
export const ROLE_PATH = '/timebox/';

export interface IamStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  /** Trust policies name a principal instead of a resource. */
  Principal?: { AWS?: string | string[]; Service?: string | string[]; Federated?: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}
export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

/** `aws:CurrentTime` compares ISO-8601 instants; whole seconds in UTC keep the document short and unambiguous. */
export function iamTime(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

export function roleArn(target: Pick<AwsRoleTarget, 'partition' | 'account' | 'role'>): string {
  return `arn:${target.partition}:iam::${target.account}:role${ROLE_PATH}${target.role}`;
}

/**
 * The inline session policy passed to AssumeRole: only the granted actions on the granted resources, and only
 * before `expiresAt`. AWS evaluates the intersection of this and the role's own policies, so access ends at
 * expiry on every call, whatever else fails.
 */
export function sessionPolicy(scope: { actions: string[]; resources: string[] }, expiresAt: Date): IamPolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'TimeboxGrant',
        Effect: 'Allow',
        Action: scope.actions.length === 1 ? (scope.actions[0] as string) : scope.actions,
        Resource: scope.resources.length === 1 ? (scope.resources[0] as string) : scope.resources,
        Condition: { DateLessThan: { 'aws:CurrentTime': iamTime(expiresAt) } },
      },
    ],
  };
}

/** The session policy as sent to STS; throws `SESSION_POLICY.TOO_LARGE` past the 2,048-character limit. */
export function sessionPolicyJson(scope: { actions: string[]; resources: string[] }, expiresAt: Date): string {
  const json = JSON.stringify(sessionPolicy(scope, expiresAt));
  if (json.length > SESSION_POLICY_MAX_CHARS) {
    throw new ValidationError(
      'SESSION_POLICY.TOO_LARGE',
      `the session policy for this scope is ${json.length} characters; STS allows ${SESSION_POLICY_MAX_CHARS}: request fewer or broader-but-allowed actions/resources`,
    );
  }
  return json;
}
