import type { Context } from 'aws-lambda';
import { brokerFunction, CommonEnvSchema, loadConfig } from '../runtime';
import { createSweeperHandler } from './handler';

/**
 * The sweeper Lambda, run every minute by a recurring schedule: the safety net that expires, lapses, activates,
 * repairs and cleans up whatever the per-grant schedules missed. It never signs tokens, so it carries no KMS client.
 */
const { logger, log, service } = brokerFunction('timebox-sweeper', loadConfig(CommonEnvSchema), { baseDir: __dirname });
const sweep = createSweeperHandler({ service, log });

export const handler = async (_event: unknown, context: Context) => {
  logger.addContext(context);
  return sweep();
};
