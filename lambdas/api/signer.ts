import { KMSClient } from '@aws-sdk/client-kms';
import { KmsTokenSigner } from '../../adapters/aws/kms';

/** The API's token signer over its KMS key; loaded on the first token or key request (./index.ts, ../lazy.ts). */
export function kmsSigner(keyId: string): KmsTokenSigner {
  return new KmsTokenSigner(new KMSClient({}), keyId);
}
