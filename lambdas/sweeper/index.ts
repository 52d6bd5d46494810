import type { Context } from 'aws-lambda';
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
import { createSweeperHandler } from './handler';

/**
 * The sweeper Lambda, run every minute by a recurring schedule: the safety net that expires, lapses, activates,
 * repairs and cleans up whatever the per-grant schedules missed. It never signs tokens, so it carries no KMS client.
 */
const cfg = commonConfig(loadConfig(CommonEnvSchema));
const { logger, log } = lambdaLogger('timebox-sweeper');
const compiled = loadPolicyFile(cfg.policyFile, __dirname);
const policy = () => compiled;
const service = grantService(cfg, { policy, signer: NO_SIGNER, log, stores: dynamoStores(cfg) });
const sweep = createSweeperHandler({ service, log });

export const handler = async (_event: unknown, context: Context) => {
  logger.addContext(context);
  return sweep();
};
