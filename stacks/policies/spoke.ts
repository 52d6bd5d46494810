import { doc, one, type PolicyDocument, timeboxRoleArns } from './document';

// Spoke accounts

/** Trust policy of a spoke's `timebox-revoker` role: only the hub broker roles may assume it. */
export function revokerTrustPolicy(brokerRoleArns: string[]): PolicyDocument {
  const brokers = [...new Set(brokerRoleArns)].sort();
  if (brokers.length === 0) throw new Error('the revoker role must trust at least one hub broker role');
  return doc([{ Effect: 'Allow', Principal: { AWS: one(brokers) }, Action: 'sts:AssumeRole' }]);
}

/**
 * What the revoker may do: read, write and delete inline policies on this account's Timebox roles, and (for the
 * writes) only on roles that carry the Timebox boundary. Nothing else.
 */
export function revokerRolePolicy(a: { partition: string; account: string; boundaryArn: string }): PolicyDocument {
  const roles = one(timeboxRoleArns(a.partition, [a.account]));
  return doc([
    {
      Sid: 'ReadTargetRolePolicies',
      Effect: 'Allow',
      Action: ['iam:GetRolePolicy', 'iam:ListRolePolicies'],
      Resource: roles,
    },
    {
      Sid: 'WriteRevocationPolicy',
      Effect: 'Allow',
      Action: ['iam:DeleteRolePolicy', 'iam:PutRolePolicy'],
      Resource: roles,
      Condition: { StringEquals: { 'iam:PermissionsBoundary': a.boundaryArn } },
    },
  ]);
}
