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
  /** Path of the policy bundle (core/policy/json.ts); the stack packages policy.json next to index.mjs. */
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
  /**
   * JSON: Workload Identity Federation settings for GCP targets, for small setups and tests. The stack does not set
   * it: it packages the same settings as `gcp` in policy.json, since members and projects outgrow Lambda's 4 KB
   * environment (stacks/functions.ts checks every function's size). Absent both: GCP targets unavailable.
   */
  gcp: 'TIMEBOX_GCP',
  /**
   * The hub account id (12 digits). Optional: when absent, the account of TIMEBOX_SCHEDULER_ROLE_ARN (a hub role)
   * is used. Revocation calls IAM directly in this account and through `timebox/timebox-revoker` in all others.
   */
  accountId: 'TIMEBOX_ACCOUNT_ID',
  /** Athena workgroup of the audit trail (stacks/audit.ts); absent: timelines show lifecycle events only. */
  athenaWorkgroup: 'TIMEBOX_ATHENA_WORKGROUP',
  /** Glue database holding the `cloudtrail` table. */
  athenaDatabase: 'TIMEBOX_ATHENA_DATABASE',
  /** Comma-separated regions the CloudTrail table projects (timebox:auditRegions). */
  auditRegions: 'TIMEBOX_AUDIT_REGIONS',
  /** ARN of the secret holding the Slack app's signing secret (plain text). */
  slackSigningSecretArn: 'TIMEBOX_SLACK_SIGNING_SECRET_ARN',
  /** ARN of the secret holding the Slack bot token (xoxb-..., plain text). */
  slackBotTokenArn: 'TIMEBOX_SLACK_BOT_TOKEN_ARN',
  /** ARN of the secret holding the Slack user id -> principal mapping (JSON). */
  slackUsersArn: 'TIMEBOX_SLACK_USERS_ARN',
  /** Slack channel id approval requests and notices go to (not a secret). */
  slackChannel: 'TIMEBOX_SLACK_CHANNEL',
  /** Slack workspace (team) id; when set, interactions from other workspaces are refused. */
  slackTeamId: 'TIMEBOX_SLACK_TEAM_ID',
  /** ARN of the secret holding the signed webhooks (JSON: [{name, url, secret, events?}]). */
  webhooksSecretArn: 'TIMEBOX_WEBHOOKS_SECRET_ARN',
  /** How long before a request lapses or a grant expires the notifier reminds (default 15m). */
  reminderLead: 'TIMEBOX_REMINDER_LEAD',
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

/** What every function that runs GrantService reads: its store, its issuer and the scheduler it arms. */
const GRANT_SERVICE_ENV: EnvName[] = [
  ENV.eventsTable,
  ENV.grantsTable,
  ENV.issuer,
  ENV.schedulerGroup,
  ENV.schedulerRoleArn,
  ENV.schedulerDlqArn,
  ENV.revokeFunctionArn,
];
/** What the engine functions (revoke, sweeper) read. */
const ENGINE_ENV = {
  required: GRANT_SERVICE_ENV,
  optional: [ENV.policyFile, ENV.tokenTtl, ENV.gcp, ENV.accountId, ENV.eventBus],
};

/**
 * Which variables each Lambda reads (lambdas/runtime.ts and each entry's schema). `required` must be set by the
 * stack; `optional` have defaults or switch a feature off when absent. AWS_REGION is set by Lambda itself.
 */
export const LAMBDA_ENV: Record<
  'api' | 'revoke' | 'sweeper' | 'notifier' | 'slack',
  { required: EnvName[]; optional: EnvName[] }
> = {
  api: {
    required: [...GRANT_SERVICE_ENV, ENV.kmsKeyId, ENV.identity],
    optional: [
      ENV.policyFile,
      ENV.tokenTtl,
      ENV.gcp,
      ENV.accountId,
      ENV.eventBus,
      ENV.athenaWorkgroup,
      ENV.athenaDatabase,
      ENV.auditRegions,
    ],
  },
  revoke: ENGINE_ENV,
  sweeper: ENGINE_ENV,
  /** Lifecycle events from the bus to Slack and signed webhooks; reminders on a schedule (reads the projection). */
  notifier: {
    required: [ENV.grantsTable],
    optional: [ENV.slackBotTokenArn, ENV.slackUsersArn, ENV.slackChannel, ENV.webhooksSecretArn, ENV.reminderLead],
  },
  /** Slack's interactivity endpoint: approve/deny through GrantService, so it has the common part too. */
  slack: {
    required: [...GRANT_SERVICE_ENV, ENV.slackSigningSecretArn, ENV.slackUsersArn, ENV.eventBus],
    optional: [ENV.policyFile, ENV.tokenTtl, ENV.gcp, ENV.accountId, ENV.slackTeamId],
  },
};
