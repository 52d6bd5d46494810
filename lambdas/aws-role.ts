import { IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { awsCall } from '../adapters/aws/errors';
import { AwsRoleProvider } from '../adapters/aws/sts';
import { UnavailableError } from '../core/errors';
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
    sts,
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

/** The role every spoke account provides for the hub's revocations (created by the spoke program). */
export function revokerRoleArn(partition: string, account: string): string {
  return `arn:${partition}:iam::${account}:role/timebox/timebox-revoker`;
}

/** Credentials are renewed this long before they expire, so no IAM call starts with credentials about to lapse. */
export const CREDENTIAL_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * IAM clients per account for revocation: the function's own client in the hub account, and in any other
 * account a client whose credentials come from assuming `timebox/timebox-revoker` there. Each account's client
 * and credentials are cached (across invocations of a warm function) until shortly before the credentials expire.
 */
export function crossAccountIam(opts: {
  hubAccount: string;
  partition: string;
  sts: Pick<STSClient, 'send'>;
  iam: (credentials?: () => Promise<AwsCredentials>) => IAMClient;
  now?: () => number;
}): (account: string) => Promise<IAMClient> {
  const now = opts.now ?? Date.now;
  const hub = opts.iam();
  const clients = new Map<string, IAMClient>();
  return async (account) => {
    if (account === opts.hubAccount) return hub;
    const cached = clients.get(account);
    if (cached) return cached;
    let current: AwsCredentials | undefined;
    let pending: Promise<AwsCredentials> | undefined;
    const roleArn = revokerRoleArn(opts.partition, account);
    const assume = async (): Promise<AwsCredentials> => {
      const out = await awsCall('sts:AssumeRole', roleArn, () =>
        opts.sts.send(
          new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'timebox-revoker', DurationSeconds: 3600 }),
        ),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
        throw new UnavailableError('AWS.CREDENTIALS', `sts:AssumeRole on ${roleArn} returned no credentials`);
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: new Date(c.Expiration),
      };
    };
    const credentials = async (): Promise<AwsCredentials> => {
      if (current && current.expiration.getTime() - now() > CREDENTIAL_REFRESH_MARGIN_MS) return current;
      // One AssumeRole at a time per account, however many IAM calls are waiting for it.
      pending ??= assume().finally(() => {
        pending = undefined;
      });
      current = await pending;
      return current;
    };
    const client = opts.iam(credentials);
    clients.set(account, client);
    return client;
  };
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}
