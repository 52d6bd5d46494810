import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { UnavailableError } from '../../core/errors';
import { awsCall } from './errors';

/**
 * Secrets the notifier and the Slack endpoint need (Slack signing secret, bot token, user mapping, webhook
 * secrets) live in AWS Secrets Manager; a function's environment holds only their ARNs. Each secret is read once
 * per cold start and kept in memory: a rotated value is picked up by new execution environments, which Lambda
 * starts at the latest within hours; `forget` drops one value sooner (e.g. after a signature check fails with it).
 */
export interface SecretSource {
  /** The secret's string value (SecretString). */
  text(arn: string): Promise<string>;
}

/**
 * The SDK loads with the first secret read rather than at a cold start: the functions that read secrets are small
 * and the build caps what a function loads at init; the first read happens in the first invocation either way.
 */
let loading: Promise<typeof import('@aws-sdk/client-secrets-manager')> | undefined;
function sdk(): Promise<typeof import('@aws-sdk/client-secrets-manager')> {
  loading ??= import('@aws-sdk/client-secrets-manager').catch((e: unknown) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

/** A Secrets Manager client created, and its SDK loaded, on the first call. */
export function lazySecretsManagerClient(): Pick<SecretsManagerClient, 'send'> {
  let client: Promise<SecretsManagerClient> | undefined;
  return {
    send: (async (command: never) => {
      client ??= sdk().then((m) => new m.SecretsManagerClient({}));
      return (await client).send(command);
    }) as SecretsManagerClient['send'],
  };
}

export class SecretsManagerSource implements SecretSource {
  private readonly cache = new Map<string, Promise<string>>();

  constructor(private readonly client: Pick<SecretsManagerClient, 'send'>) {}

  text(arn: string): Promise<string> {
    let value = this.cache.get(arn);
    if (!value) {
      value = this.read(arn);
      // A failed read is not cached: the next invocation tries again.
      value.catch(() => this.cache.delete(arn));
      this.cache.set(arn, value);
    }
    return value;
  }

  /** Drops the cached value of one secret, so the next read fetches the current version. */
  forget(arn: string): void {
    this.cache.delete(arn);
  }

  private async read(arn: string): Promise<string> {
    const { GetSecretValueCommand } = await sdk();
    const out = await awsCall('secretsmanager:GetSecretValue', arn, () =>
      this.client.send(new GetSecretValueCommand({ SecretId: arn })),
    );
    const value = out.SecretString;
    // A secret the stack created but the operator has not set yet has no version at all (ResourceNotFound above);
    // an empty or binary one is a setup mistake, reported as such.
    if (typeof value !== 'string' || value.trim() === '')
      throw new UnavailableError(
        'SECRETS.EMPTY',
        `secret ${arn} has no text value: set it with aws secretsmanager put-secret-value --secret-id ${arn} --secret-string ...`,
      );
    return value;
  }
}

/** Secrets given directly (local mode, tests). */
export class StaticSecrets implements SecretSource {
  constructor(private readonly values: Record<string, string>) {}
  async text(name: string): Promise<string> {
    const v = this.values[name];
    if (v === undefined) throw new UnavailableError('SECRETS.MISSING', `no value for secret ${name}`);
    return v;
  }
}
