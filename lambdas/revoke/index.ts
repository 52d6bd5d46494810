import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { Context } from 'aws-lambda';
import { EventBridgeGrantScheduler } from '../../adapters/aws/scheduler';
import { systemClock } from '../../core/clock';
import { brokerFunction, CommonEnvSchema, loadConfig } from '../runtime';
import { createRevokeHandler } from './handler';

/**
 * The revoke Lambda: target of every per-grant EventBridge Scheduler schedule (`{grantId, action}`), invoked
 * asynchronously. Built once per cold start; it never signs tokens, so it carries no KMS client.
 */
const { cfg, logger, log, service } = brokerFunction('timebox-revoke', loadConfig(CommonEnvSchema), {
  baseDir: __dirname,
});
const scheduler = new EventBridgeGrantScheduler(new SchedulerClient({}), cfg.scheduler);
const handle = createRevokeHandler({ service, scheduler, clock: systemClock, log });

export const handler = async (event: unknown, context: Context) => {
  logger.addContext(context);
  return handle(event);
};
