import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretsManagerSource } from '../../../adapters/aws/secrets';

const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:timebox/prod/slack-signing-secret-AbCdEf';

function setup() {
  const client = new SecretsManagerClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  return { mock: mockClient(client), secrets: new SecretsManagerSource(client) };
}

describe('Class: SecretsManagerSource', () => {
  it('reads a secret once and serves it from memory afterwards (once per cold start)', async () => {
    const { mock, secrets } = setup();
    mock.on(GetSecretValueCommand).resolves({ SecretString: 's3cr3t' });
    const [a, b] = await Promise.all([secrets.text(ARN), secrets.text(ARN)]);
    expect([a, b, await secrets.text(ARN)]).toEqual(['s3cr3t', 's3cr3t', 's3cr3t']);
    expect(mock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: ARN }]);
  });

  it('does not keep a failed read: the next call asks again', async () => {
    const { mock, secrets } = setup();
    mock
      .on(GetSecretValueCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: 'no current version', $metadata: {} }))
      .resolves({ SecretString: 'later' });
    await expect(secrets.text(ARN)).rejects.toMatchObject({ code: 'AWS.NOT_FOUND' });
    expect(await secrets.text(ARN)).toBe('later');
  });

  it('refuses an empty or binary secret with the command that sets it', async () => {
    const { mock, secrets } = setup();
    mock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) });
    await expect(secrets.text(ARN)).rejects.toMatchObject({
      code: 'SECRETS.EMPTY',
      message: expect.stringContaining('put-secret-value'),
    });
  });

  it('forgets a value on request, so a rotated secret is read again', async () => {
    const { mock, secrets } = setup();
    mock.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'v1' }).resolves({ SecretString: 'v2' });
    expect(await secrets.text(ARN)).toBe('v1');
    secrets.forget(ARN);
    expect(await secrets.text(ARN)).toBe('v2');
  });
});
