import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { awsCall } from '../adapters/aws/errors';
import { AwsRoleProvider } from '../adapters/aws/sts';
import type { Grant } from '../core/grant/state';
import type { CompiledPolicy } from '../core/policy/compile';
import type { AwsRoleTarget } from '../core/policy/types';
import type { Log } from '../core/ports';
import type { CommonConfig } from './runtime';

/**
 * The aws-role provider of a function and what only it needs: the STS and IAM clients and the cross-account
 * revoker. Loaded on first use (lambdas/runtime.ts accessProviders, ./lazy.ts), as its own chunk of the bundle.
 */
export function awsRoleProvider(
  cfg: Pick<CommonConfig, 'hubAccount' | 'partition'>,
  deps: { policy: () => CompiledPolicy; log: Log; revokedGrants?: () => Promise<Grant[]> },
): AwsRoleProvider {
  const sts = new STSClient({});
  const iamFor = crossAccountIam({
    hubAccount: cfg.hubAccount,
    partition: cfg.partition,
    iam: (credentials) => new IAMClient(credentials ? { credentials } : {}),
  });
  const targets = () =>
    Object.values(deps.policy().policy.targets).filter((t): t is AwsRoleTarget => t.kind === 'aws-role');
  return new AwsRoleProvider({
    sts,
    iamFor,
    targets,
    log: deps.log,
    ...(deps.revokedGrants ? { revokedGrants: deps.revokedGrants } : {}),
  });
}

/** An SDK credentials provider, as a client's `credentials` option takes it. */
export type CredentialsProvider = ReturnType<typeof fromTemporaryCredentials>;

/** The role every spoke account provides for the hub's revocations (created by the spoke program). */
export function revokerRoleArn(partition: string, account: string): string {
  return `arn:${partition}:iam::${account}:role/timebox/timebox-revoker`;
}

/**
 * IAM clients per account for revocation: the function's own client in the hub account, and in any other
 * account a client whose credentials come from assuming `timebox/timebox-revoker` there through the SDK's own
 * temporary-credentials provider. One client per account, kept for the life of a warm function: the client
 * memoizes its credentials and assumes the role again only within 5 minutes of their expiry, one AssumeRole
 * however many calls are waiting (@aws-sdk/core resolveAwsSdkSigV4Config, @smithy/core memoizeIdentityProvider).
 */
export function crossAccountIam(opts: {
  hubAccount: string;
  partition: string;
  iam: (credentials?: CredentialsProvider) => IAMClient;
}): (account: string) => Promise<IAMClient> {
  const hub = opts.iam();
  const clients = new Map<string, IAMClient>();
  return async (account) => {
    if (account === opts.hubAccount) return hub;
    const cached = clients.get(account);
    if (cached) return cached;
    const roleArn = revokerRoleArn(opts.partition, account);
    // The STS client the provider makes takes the calling IAM client's region and default credentials (the
    // function's role), as the function's own STS client does.
    const assume = fromTemporaryCredentials({
      params: { RoleArn: roleArn, RoleSessionName: 'timebox-revoker', DurationSeconds: 3600 },
    });
    // A refusal names the role to fix, not the IAM call that needed its credentials.
    const credentials: CredentialsProvider = (props) => awsCall('sts:AssumeRole', roleArn, () => assume(props));
    const client = opts.iam(credentials);
    clients.set(account, client);
    return client;
  };
}
