import { AwsClient, type AwsClientOptions, type AwsSecurityCredentialsSupplier } from 'google-auth-library';
import type { GcpConfig } from './config';
import type { GcpAuthClient } from './resource-manager';

/**
 * Keyless auth from AWS Lambda to GCP: Workload Identity Federation with an AWS provider.
 * 1. The Lambda signs (does not send) an STS GetCallerIdentity request with its role credentials;
 * 2. Google STS (`sts.googleapis.com/v1/token`) verifies it with AWS and returns a federated token for the pool
 *    principal, whose `attribute.aws_role` is the Lambda's role (the provider's attribute condition admits only
 *    the broker roles);
 * 3. IAM Credentials `generateAccessToken` turns it into a short-lived token of the broker service account, which
 *    the pool principal may impersonate (`roles/iam.workloadIdentityUser`).
 * No service account key exists anywhere. google-auth-library caches the token until shortly before it expires.
 */

export const GOOGLE_STS_TOKEN_URL = 'https://sts.googleapis.com/v1/token';
export const AWS_SUBJECT_TOKEN_TYPE = 'urn:ietf:params:aws:token-type:aws4_request';
/** Google's documented value for AWS sources; `{region}` is filled in from AWS_REGION. */
export const AWS_REGIONAL_CRED_VERIFICATION_URL =
  'https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** The impersonation endpoint for the broker service account. */
export function impersonationUrl(serviceAccount: string): string {
  return `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${serviceAccount}:generateAccessToken`;
}

/**
 * The external-account options for the broker. Without a supplier, `credential_source` `aws1` reads the role
 * credentials and region from the Lambda environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION), which Lambda always sets; no metadata endpoint is involved. A supplier (tests, other runtimes)
 * replaces that source.
 */
export function externalAccountOptions(
  config: Pick<GcpConfig, 'audience' | 'serviceAccount' | 'tokenLifetimeSeconds'>,
  awsCredentials?: AwsSecurityCredentialsSupplier,
): AwsClientOptions {
  const base = {
    type: 'external_account',
    audience: config.audience,
    subject_token_type: AWS_SUBJECT_TOKEN_TYPE,
    token_url: GOOGLE_STS_TOKEN_URL,
    service_account_impersonation_url: impersonationUrl(config.serviceAccount),
    service_account_impersonation: { token_lifetime_seconds: config.tokenLifetimeSeconds },
    scopes: [CLOUD_PLATFORM_SCOPE],
  };
  return awsCredentials
    ? { ...base, aws_security_credentials_supplier: awsCredentials }
    : {
        ...base,
        credential_source: {
          environment_id: 'aws1',
          regional_cred_verification_url: AWS_REGIONAL_CRED_VERIFICATION_URL,
        },
      };
}

/** An auth client that federates the Lambda's AWS role into the broker service account. */
export function createAuthClient(
  config: Pick<GcpConfig, 'audience' | 'serviceAccount' | 'tokenLifetimeSeconds'>,
  opts: { awsCredentials?: AwsSecurityCredentialsSupplier } = {},
): GcpAuthClient {
  return new AwsClient(externalAccountOptions(config, opts.awsCredentials));
}
