import type * as zc from 'zod/v4/core';
import * as z from '../adapters/zod';

/**
 * The environment contract between the Pulumi stack (which sets these on each Lambda) and the handlers (which
 * parse them once, at module scope, and fail the cold start with a message naming the variable).
 * Every function gets the common part; each handler adds what it uses.
 */
export const ENV = {
  eventsTable: 'TIMEBOX_EVENTS_TABLE',
  grantsTable: 'TIMEBOX_GRANTS_TABLE',
  /** Path of the access policy file inside the bundle (the stack packages access.yaml next to index.js). */
  policyFile: 'TIMEBOX_POLICY_FILE',
  /** Token issuer: the API base URL. */
  issuer: 'TIMEBOX_ISSUER',
  kmsKeyId: 'TIMEBOX_KMS_KEY_ID',
  schedulerGroup: 'TIMEBOX_SCHEDULER_GROUP',
  schedulerRoleArn: 'TIMEBOX_SCHEDULER_ROLE_ARN',
  schedulerDlqArn: 'TIMEBOX_SCHEDULER_DLQ_ARN',
  revokeFunctionArn: 'TIMEBOX_REVOKE_FUNCTION_ARN',
  eventBus: 'TIMEBOX_EVENT_BUS',
  /** JSON: how caller ARNs map to principals (see lambdas/api/identity.ts). */
  identity: 'TIMEBOX_IDENTITY',
  /** Lifetime of gRPC tokens, e.g. 5m. */
  tokenTtl: 'TIMEBOX_TOKEN_TTL',
  /** JSON: Workload Identity Federation settings for GCP targets (absent: GCP targets unavailable). */
  gcp: 'TIMEBOX_GCP',
  /**
   * The hub account id (12 digits). Optional: when absent, the account of TIMEBOX_SCHEDULER_ROLE_ARN (a hub role)
   * is used. Revocation calls IAM directly in this account and through `timebox/timebox-revoker` in all others.
   */
  accountId: 'TIMEBOX_ACCOUNT_ID',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** Parses `process.env` with a schema; throws one line per missing or bad variable. */
export function parseEnv<T extends zc.$ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): zc.output<T> {
  const r = z.safeParse(schema, env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid Lambda configuration:\n${lines.join('\n')}`);
  }
  return r.data;
}

/**
 * Which variables each Lambda reads (lambdas/runtime.ts and each entry's schema). `required` must be set by the
 * stack; `optional` have defaults or switch a feature off when absent. AWS_REGION is set by Lambda itself.
 */
export const LAMBDA_ENV: Record<'api' | 'revoke' | 'sweeper', { required: EnvName[]; optional: EnvName[] }> = {
  api: {
    required: [
      ENV.eventsTable,
      ENV.grantsTable,
      ENV.issuer,
      ENV.schedulerGroup,
      ENV.schedulerRoleArn,
      ENV.schedulerDlqArn,
      ENV.revokeFunctionArn,
      ENV.kmsKeyId,
      ENV.identity,
    ],
    optional: [ENV.policyFile, ENV.tokenTtl, ENV.gcp, ENV.accountId, ENV.eventBus],
  },
  revoke: {
    required: [
      ENV.eventsTable,
      ENV.grantsTable,
      ENV.issuer,
      ENV.schedulerGroup,
      ENV.schedulerRoleArn,
      ENV.schedulerDlqArn,
      ENV.revokeFunctionArn,
    ],
    optional: [ENV.policyFile, ENV.tokenTtl, ENV.gcp, ENV.accountId, ENV.eventBus],
  },
  sweeper: {
    required: [
      ENV.eventsTable,
      ENV.grantsTable,
      ENV.issuer,
      ENV.schedulerGroup,
      ENV.schedulerRoleArn,
      ENV.schedulerDlqArn,
      ENV.revokeFunctionArn,
    ],
    optional: [ENV.policyFile, ENV.tokenTtl, ENV.gcp, ENV.accountId, ENV.eventBus],
  },
};
