import type { Context } from 'aws-lambda';
import { systemClock } from '../../core/clock';
import {
  CommonEnvSchema,
  commonConfig,
  dynamoStores,
  grantService,
  lambdaLogger,
  loadConfig,
  loadPolicyFile,
  NO_SIGNER,
} from '../runtime';
import { createRevokeHandler } from './handler';

/**
 * The revoke Lambda: target of every per-grant EventBridge Scheduler schedule (`{grantId, action}`), invoked
 * asynchronously. Built once per cold start; it never signs tokens, so it carries no KMS client.
 */
const cfg = commonConfig(loadConfig(CommonEnvSchema));
const { logger, log } = lambdaLogger('timebox-revoke');
const compiled = loadPolicyFile(cfg.policyFile, __dirname);
const policy = () => compiled;
const service = grantService(cfg, { policy, signer: NO_SIGNER, log, stores: dynamoStores(cfg) });
const handle = createRevokeHandler({ service, clock: systemClock, log });

export const handler = async (event: unknown, context: Context) => {
  logger.addContext(context);
  return handle(event);
};
