import type { AwsRoleTarget } from '../../core/policy/types';

/** The prod-logs target of the test policy (test/helpers/world.ts), as the loader resolves it. */
export function awsTargetDummy(partial: Partial<AwsRoleTarget> = {}): AwsRoleTarget {
  return {
    kind: 'aws-role',
    name: 'prod-logs',
    account: '111122223333',
    role: 'timebox-prod-logs',
    actions: ['s3:GetObject', 's3:ListBucket'],
    resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
    partition: 'aws',
    ...partial,
  };
}
