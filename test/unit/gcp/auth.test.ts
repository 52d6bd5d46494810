import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { createAuthClient, externalAccountOptions } from '../../../adapters/gcp/auth';
import { GcpAccessProvider } from '../../../adapters/gcp/provider';
import { RecordingLog } from '../../helpers/memory';
import { CRM, FakeCrm } from './fake-crm';
import { gcpConfigDummy, gcpGrantDummy, NOW, noSleep, PROJECT } from './fixtures';

const config = gcpConfigDummy();
const SA = config.serviceAccount;
const awsCredentials = {
  getAwsRegion: async () => 'eu-west-1',
  getAwsSecurityCredentials: async () => ({
    accessKeyId: 'ASIAEXAMPLEKEY',
    secretAccessKey: 'example-secret',
    token: 'example-session-token',
  }),
};

interface StsForm {
  grant_type?: string;
  audience?: string;
  scope?: string;
  requested_token_type?: string;
  subject_token?: string;
  subject_token_type?: string;
}

/** Google STS and IAM Credentials as nock interceptors that record what they were sent. */
function federation() {
  const seen: { sts?: StsForm; impersonation?: { auth?: string; body: unknown } } = {};
  nock('https://sts.googleapis.com')
    .post('/v1/token')
    .reply(200, (_uri, body) => {
      seen.sts = Object.fromEntries(new URLSearchParams(String(body))) as StsForm;
      return {
        access_token: 'federated-token',
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: 3600,
      };
    });
  nock('https://iamcredentials.googleapis.com')
    .post(`/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`)
    .reply(function (_uri, body) {
      seen.impersonation = { auth: this.req.headers.authorization, body };
      // Relative to the real clock: google-auth-library checks expiry against Date.now().
      return [200, { accessToken: 'ya29.broker-token', expireTime: new Date(Date.now() + 3_600_000).toISOString() }];
    });
  return seen;
}

describe('Function: createAuthClient', () => {
  beforeEach(() => nock.disableNetConnect());
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('exchanges a signed AWS GetCallerIdentity for a broker service account token, with no key anywhere', async () => {
    // Prepare
    const seen = federation();
    const client = createAuthClient(config, { awsCredentials });

    // Act
    const { token } = await client.getAccessToken();

    // Assess
    expect(token).toBe('ya29.broker-token');
    expect(seen.sts).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: config.audience,
      subject_token_type: 'urn:ietf:params:aws:token-type:aws4_request',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
    // The subject token is a serialized, SigV4-signed STS GetCallerIdentity request bound to the audience.
    const subject = JSON.parse(decodeURIComponent(seen.sts?.subject_token ?? '')) as {
      url: string;
      method: string;
      headers: { key: string; value: string }[];
    };
    expect(subject.url).toBe('https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15');
    expect(subject.method).toBe('POST');
    const header = (k: string) => subject.headers.find((h) => h.key.toLowerCase() === k)?.value;
    expect(header('x-goog-cloud-target-resource')).toBe(config.audience);
    expect(header('authorization')).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY\/\d{8}\/eu-west-1\/sts\/aws4_request/,
    );
    expect(header('x-amz-security-token')).toBe('example-session-token');
    expect(JSON.stringify(subject)).not.toContain('example-secret');
    // Then the federated token impersonates the broker service account.
    expect(seen.impersonation?.auth).toBe('Bearer federated-token');
    expect(seen.impersonation?.body).toEqual({
      scope: ['https://www.googleapis.com/auth/cloud-platform'],
      lifetime: '3600s',
    });
  });

  it('caches the broker token: the second call goes to neither STS nor IAM Credentials', async () => {
    federation();
    const client = createAuthClient(config, { awsCredentials });
    await client.getAccessToken();
    // Interceptors are single-use: a second exchange would find none and fail with net connect disabled.
    await expect(client.getAccessToken()).resolves.toMatchObject({ token: 'ya29.broker-token' });
  });

  it('reads the Lambda environment when no supplier is given (credential_source aws1)', async () => {
    // Prepare
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_REGION: 'us-east-2',
      AWS_ACCESS_KEY_ID: 'ASIALAMBDAKEY',
      AWS_SECRET_ACCESS_KEY: 'lambda-secret',
      AWS_SESSION_TOKEN: 'lambda-session',
    });
    const seen = federation();
    try {
      // Act
      await createAuthClient(config).getAccessToken();
    } finally {
      process.env = saved;
    }

    // Assess
    const subject = JSON.parse(decodeURIComponent(seen.sts?.subject_token ?? '')) as {
      url: string;
      headers: { key: string; value: string }[];
    };
    expect(subject.url).toBe('https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15');
    expect(subject.headers.find((h) => h.key.toLowerCase() === 'authorization')?.value).toContain(
      'Credential=ASIALAMBDAKEY/',
    );
  });

  it('describes an external account with impersonation and no private key', () => {
    const o = externalAccountOptions(config) as unknown as Record<string, unknown>;
    expect(o).toMatchObject({
      type: 'external_account',
      token_url: 'https://sts.googleapis.com/v1/token',
      service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
      credential_source: {
        environment_id: 'aws1',
        regional_cred_verification_url:
          'https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15',
      },
    });
    expect(JSON.stringify(o)).not.toMatch(/private_key|client_secret/);
  });
});

describe('Class: GcpAccessProvider (default auth)', () => {
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('calls Resource Manager with the federated broker token', async () => {
    // Prepare
    nock.disableNetConnect();
    federation();
    const crm = new FakeCrm();
    crm.install();
    crm.seed(PROJECT, []);
    const provider = new GcpAccessProvider(config, { log: new RecordingLog(), awsCredentials, sleep: noSleep });

    // Act
    await provider.provision(gcpGrantDummy(), { now: NOW });

    // Assess
    expect(crm.calls.map((c) => c.authorization)).toEqual(['Bearer ya29.broker-token', 'Bearer ya29.broker-token']);
    expect(CRM).toBe('https://cloudresourcemanager.googleapis.com');
  });

  it('reports a refused token exchange as GCP.AUTH_FAILED', async () => {
    nock.disableNetConnect();
    nock('https://sts.googleapis.com').post('/v1/token').reply(400, {
      error: 'invalid_grant',
      error_description: 'The given credential is rejected by the attribute condition.',
    });
    const provider = new GcpAccessProvider(config, { log: new RecordingLog(), awsCredentials, sleep: noSleep });
    const err = await provider.provision(gcpGrantDummy(), { now: NOW }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'GCP.AUTH_FAILED' });
    expect((err as Error).message).toContain('attribute condition');
  });
});
