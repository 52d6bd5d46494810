import type { Context } from 'aws-lambda';
import { systemClock } from '../../core/clock';
import { brokerFunction, CommonEnvSchema, loadConfig } from '../runtime';
import { createRevokeHandler } from './handler';

/**
 * The revoke Lambda: target of every per-grant EventBridge Scheduler schedule (`{grantId, action}`), invoked
 * asynchronously. Built once per cold start; it never signs tokens, so it carries no KMS client.
 */
const { logger, log, service } = brokerFunction('timebox-revoke', loadConfig(CommonEnvSchema), { baseDir: __dirname });
const handle = createRevokeHandler({ service, clock: systemClock, log });

export const handler = async (event: unknown, context: Context) => {
  logger.addContext(context);
  return handle(event);
};
