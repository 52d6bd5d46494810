import * as z from '../../adapters/zod';
import { createApi } from '../../api/app';
import { systemClock } from '../../core/clock';
import { ENV } from '../config';
import { lazySigner } from '../lazy';
import { brokerFunction, CommonEnvSchema, cloudTrailSource, loadConfig } from '../runtime';
import { createApiGatewayHandler } from './apigw';
import { awsAuthenticator, IdentityConfigJsonSchema } from './identity';

/**
 * The API Lambda (API Gateway REST, IAM auth, proxy integration). Everything is built once per cold start;
 * a bad variable or policy file fails the cold start with a message that names it.
 */
const env = loadConfig(
  z.extend(CommonEnvSchema, {
    [ENV.kmsKeyId]: z.string().check(z.minLength(1, 'must not be empty')),
    [ENV.identity]: IdentityConfigJsonSchema,
  }),
);
// The only function that signs: KMS stays out of the revoke and sweeper bundles, and its client loads in the API on
// the first token or key request (../lazy.ts), not at every cold start.
const signer = lazySigner(() => import('./signer.js').then((m) => m.kmsSigner(env[ENV.kmsKeyId])));
const { logger, log, policy, stores, service } = brokerFunction('timebox-api', env, { baseDir: __dirname, signer });

// Grant timelines include the AWS calls from CloudTrail when the stack configured Athena (loaded on first use).
const cloudActions = cloudTrailSource();

export const handler = createApiGatewayHandler(
  createApi({
    service,
    authenticate: awsAuthenticator(env[ENV.identity]),
    signer,
    issuer: env[ENV.issuer],
    ...stores,
    clock: systemClock,
    log,
    policy,
    ...(cloudActions ? { cloudActions } : {}),
  }),
  { onInvoke: (context) => logger.addContext(context) },
);
