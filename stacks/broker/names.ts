/** Names of the broker's resources that must be known before deployment (other stacks and policies name them). */

/** Handlers every broker has; others (notifier, slack) are added to HANDLERS and deployed when their bundle exists. */
export const REQUIRED_HANDLERS = ['api', 'revoke', 'sweeper'] as const;

/**
 * EventBridge Scheduler group of the per-grant schedules (the broker roles may only touch schedules in it): one per
 * stack, so a second stack in the account and region gets a group, and schedule ARNs, of its own.
 */
export function schedulerGroupName(prefix: string): string {
  return prefix;
}

/** EventBridge bus lifecycle events are published to: one per stack (its rules are `rule/<bus>/*`). */
export function eventBusName(prefix: string): string {
  return prefix;
}

/** API Gateway stage; part of the API URL. */
export const API_STAGE = 'live';

/** Name of a broker function and of its role (deterministic, so GCP federation can name the role up front). */
export function brokerResourceName(prefix: string, handler: string): string {
  return `${prefix}-${handler}`;
}

/** The ARN a broker role will have. */
export function brokerRoleArn(a: { partition: string; account: string; prefix: string; handler: string }): string {
  return `arn:${a.partition}:iam::${a.account}:role/${brokerResourceName(a.prefix, a.handler)}`;
}
