/** The AWS SigV4 pieces of the CLI, in their own module so only signed calls load them (see client.ts). */
export { Sha256 } from '@aws-crypto/sha256-js';
export { fromNodeProviderChain } from '@aws-sdk/credential-providers';
export { HttpRequest } from '@smithy/protocol-http';
export { SignatureV4 } from '@smithy/signature-v4';
