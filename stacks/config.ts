import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { GCP_PROJECT_ID } from '../adapters/gcp/config';
import { MembersConfigSchema } from '../adapters/gcp/members';
import { DETAIL_TYPES } from '../adapters/notify/detail';
import { HOUR, MINUTE, parseDuration } from '../core/duration';
import type { EventType } from '../core/grant/events';
import { IdentityConfigSchema } from '../lambdas/api/identity';

/**
 * The stack's configuration: every `timebox:*` key, parsed once with zod. A bad value fails the preview with one
 * line per problem, each naming its key (`timebox:tokenTtl: ...`), before any resource is declared.
 */

export const CONFIG_NAMESPACE = 'timebox';

const ACCOUNT = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');

/**
 * CloudWatch Logs accepts only these retention periods (PutRetentionPolicy `retentionInDays`); anything else is
 * refused by the API at deploy time, so it is refused here at preview instead.
 */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/**
 * Regions the Athena table projects partitions for. A multi-region trail writes one prefix per region; a region
 * not listed here is still recorded in S3 but invisible to the named queries. Extend with `timebox:auditRegions`.
 */
export const DEFAULT_AUDIT_REGIONS = [
  'af-south-1',
  'ap-east-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'eu-south-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'il-central-1',
  'me-central-1',
  'me-south-1',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
];

/**
 * The identity mapping handed to the api Lambda as TIMEBOX_IDENTITY: the api's own schema (lambdas/api/identity.ts),
 * plus one check that only matters at deploy time: a mapping that accepts nobody is a mistake, not a policy.
 */
export const IdentitySchema = IdentityConfigSchema.check(
  // The api's schema is zod/mini (it ships in the Lambda bundle): checks are added with .check, not .refine.
  z.refine((i: z.output<typeof IdentityConfigSchema>) => i.roles.length > 0 || i.iamUsers, {
    message: 'no caller could ever be mapped: add a role pattern or set iamUsers: true',
  }),
);
export type IdentityConfig = z.output<typeof IdentitySchema>;

const durationText = (min: number, max: number, what: string) =>
  z.string().superRefine((text, ctx) => {
    const r = parseDuration(text);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message });
    else if (r.ms < min || r.ms > max) ctx.addIssue({ code: 'custom', message: `${what}; got "${text}"` });
  });

const flag = z
  .union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' })
  .transform((v) => v === true || v === 'true');

const wholeNumber = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

// `timebox:gcp`: the GcpAccess component (stacks/gcp.ts)

const WIF_ID = /^(?!gcp-)[a-z0-9-]{4,32}$/;
const SERVICE_ACCOUNT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/** `timebox:gcp` in the Pulumi config: where the pool lives and how principals map to members. */
export const GcpStackConfigSchema = z.strictObject({
  /** The GCP project that holds the pool, the provider and the broker service account. */
  hostProject: z.string().regex(GCP_PROJECT_ID, 'must be a GCP project id'),
  poolId: z.string().regex(WIF_ID, '4-32 of a-z, 0-9 and -, not starting with gcp-').default('timebox'),
  providerId: z.string().regex(WIF_ID, '4-32 of a-z, 0-9 and -, not starting with gcp-').default('aws-broker'),
  serviceAccountId: z
    .string()
    .regex(SERVICE_ACCOUNT_ID, '6-30 of a-z, 0-9 and -, starting with a letter')
    .default('timebox-broker'),
  /** Principal id -> member mapping, passed to the Lambdas (adapters/gcp/members.ts). */
  members: z._default(MembersConfigSchema, { explicit: {}, rules: [] }),
  /** Enable the APIs above on the host project (needs serviceusage.services.enable). */
  enableApis: z.boolean().default(true),
});
export type GcpStackConfig = z.output<typeof GcpStackConfigSchema>;

const StackConfigObject = z
  .object({
    /**
     * Prefix of every name that must be unique in the account and region (functions, roles, bus, schedule group,
     * trail, workgroup, ...). Defaults to `timebox-<stack>`; set it when two stack names would normalize alike.
     */
    namePrefix: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/,
        'must be 2-40 of a-z, 0-9 and -, starting with a letter, e.g. timebox-prod',
      )
      .optional(),
    /** Path of access.yaml, relative to the project directory (where Pulumi.yaml is). */
    policyFile: z.string().min(1, 'name the access policy file, e.g. access.yaml'),
    identity: IdentitySchema,
    // Tokens are short-lived by design: services cannot revoke a signed token before its `exp`.
    tokenTtl: durationText(MINUTE, HOUR, 'must be between 1m and 1h').default('5m'),
    logRetentionDays: z.coerce
      .number({ message: 'must be a number' })
      .refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), {
        message: `must be one of the CloudWatch Logs retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(90),
    trailRetentionDays: wholeNumber(1, 3653).default(365),
    /** Days the bus archive keeps lifecycle events (0: for ever): a witness of the audit record outside DynamoDB. */
    eventArchiveDays: wholeNumber(0, 3653).default(365),
    alarmEmail: z.email('must be an email address').optional(),
    allowedAccounts: z.array(ACCOUNT).default([]),
    orgId: z
      .string()
      .regex(/^o-[a-z0-9]{10,32}$/, 'must be an AWS Organizations id like o-abcd123456')
      .optional(),
    spokeAccounts: z.array(ACCOUNT).default([]),
    /**
     * Make the hub trail an organization trail of timebox:orgId (every account, one trail). Only the management
     * account or a delegated CloudTrail administrator may create one; otherwise each spoke stack runs its own trail
     * into the hub bucket (stacks/spoke.ts).
     */
    organizationTrail: flag.default(false),
    /** Settings of the GCP component (stacks/gcp.ts); absent means no GCP targets. */
    gcp: GcpStackConfigSchema.optional(),
    apiThrottle: z
      .object({ rateLimit: z.number().positive().max(10_000), burstLimit: z.number().int().positive().max(5_000) })
      .strict()
      .default({ rateLimit: 20, burstLimit: 40 }),
    /**
     * API Gateway writes access logs only with a region-wide CloudWatch role (account settings). Set false when
     * another stack already manages that setting in this region: there is one per account and region.
     */
    manageApiGatewayAccount: flag.default(true),
    auditRegions: z
      .array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be region names like eu-west-1'))
      .min(1)
      .default(DEFAULT_AUDIT_REGIONS),
  })
  .strict();

export const StackConfigSchema = StackConfigObject.superRefine((c, ctx) => {
  if (c.organizationTrail && c.orgId === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['organizationTrail'],
      message: 'an organization trail needs timebox:orgId (the organization it records)',
    });
  if (c.allowedAccounts.length === 0 && c.orgId === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['allowedAccounts'],
      message: 'name the accounts allowed to call the API (or set timebox:orgId for a whole organization)',
    });
  }
});
export type StackConfig = z.output<typeof StackConfigSchema>;

/** Keys whose value is JSON (set with `pulumi config set --path` or as a JSON string). */
const STRUCTURED = new Set(['identity', 'allowedAccounts', 'spokeAccounts', 'gcp', 'apiThrottle', 'auditRegions']);

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses raw config strings (key without namespace -> value as Pulumi stores it). Throws ConfigError listing every
 * problem; unknown `timebox:*` keys are refused too, since a typo would otherwise silently fall back to a default.
 */
export function parseStackConfig(raw: Record<string, string | undefined>): StackConfig {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};
  const unreadable = new Set<string>();
  const known = Object.keys(StackConfigObject.shape);
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!known.includes(key)) {
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      problems.push(`${CONFIG_NAMESPACE}:${key}: unknown key${near ? ` (did you mean ${near}?)` : ''}`);
      continue;
    }
    if (STRUCTURED.has(key)) {
      try {
        input[key] = JSON.parse(value);
      } catch {
        unreadable.add(key);
        problems.push(`${CONFIG_NAMESPACE}:${key}: must be JSON (set it with pulumi config set --path, or as JSON)`);
      }
    } else {
      input[key] = value;
    }
  }
  const parsed = StackConfigSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [key, ...rest] = issue.path.map(String);
      if (key !== undefined && unreadable.has(key)) continue;
      const where = `${key ?? '(config)'}${rest.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')}`;
      const message =
        issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined ? 'is required' : issue.message;
      problems.push(`${CONFIG_NAMESPACE}:${where}: ${message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** Reads every `timebox:*` key of the current stack from the Pulumi runtime and parses it. */
export function readStackConfig(): StackConfig {
  return parseStackConfig(namespaceConfig(CONFIG_NAMESPACE));
}

/** All keys of one config namespace, without the namespace prefix. */
export function namespaceConfig(namespace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    const [ns, ...rest] = k.split(':');
    if (ns === namespace && rest.length > 0) out[rest.join(':')] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Notifications: `timebox-notify:*` keys (a namespace of their own, so the `timebox:*` schema above stays strict);
// read by the Notifications component (stacks/notifications)

export const NOTIFY_NAMESPACE = 'timebox-notify';

const EVENT_NAMES = Object.keys(DETAIL_TYPES) as EventType[];
const eventName = z
  .string()
  .refine((e) => EVENT_NAMES.includes(e as EventType) || Object.values(DETAIL_TYPES).includes(e), {
    message: `must be an event type (${EVENT_NAMES.join(', ')}) or its detail type (Timebox Grant Approved...)`,
  });
const httpsUrl = z
  .string()
  .url('must be a URL')
  .refine((u) => u.startsWith('https://'), {
    message: 'must be https (API destinations and Timebox only send over TLS)',
  });
export const ApiDestinationSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be 1-40 of a-z, 0-9 and -'),
    url: httpsUrl,
    /** Event types (or detail types) to deliver; every lifecycle event when absent. */
    events: z.array(eventName).min(1).optional(),
    /** Header carrying the shared secret, set on the connection (value set by the operator, never in config). */
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name')
      .default('Timebox-Webhook-Token'),
    /** EventBridge API destinations send at most this many requests per second (1-300). */
    rateLimitPerSecond: z.number().int().min(1).max(300).default(10),
  })
  .strict();

export const NotificationsConfigSchema = z
  .object({
    slack: z
      .object({
        /** Channel id (C..., or G... for a private channel) the approval requests go to. */
        channel: z.string().regex(/^[CG][A-Z0-9]{2,20}$/, 'must be a Slack channel id such as C0123ABCD'),
        /** Workspace id; when set, clicks from any other workspace are refused. */
        teamId: z
          .string()
          .regex(/^T[A-Z0-9]{2,20}$/, 'must be a Slack team id such as T0123ABCD')
          .optional(),
        /** Reminders for requests close to lapsing and grants about to expire (a five-minute schedule). */
        reminders: flag.default(true),
      })
      .strict()
      .optional(),
    /** The notifier also posts HMAC-signed webhooks; their URLs and secrets are in a secret the stack creates. */
    signedWebhooks: flag.default(false),
    apiDestinations: z.array(ApiDestinationSchema).default([]),
    reminderLead: z
      .string()
      .refine((t) => parseDuration(t).ok, { message: 'must be a duration such as 15m' })
      .default('15m'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = c.apiDestinations.map((d) => d.name);
    for (const [i, n] of names.entries())
      if (names.indexOf(n) !== i)
        ctx.addIssue({ code: 'custom', path: ['apiDestinations', i, 'name'], message: `"${n}" is used twice` });
  });
export type NotificationsConfig = z.output<typeof NotificationsConfigSchema>;

/** `timebox-notify:*` keys whose value is JSON. */
const NOTIFY_STRUCTURED = new Set(['slack', 'apiDestinations']);

/** Parses the raw `timebox-notify:*` strings; throws one line per problem, each naming its key. */
export function parseNotificationsConfig(raw: Record<string, string | undefined>): NotificationsConfig {
  const input: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!NOTIFY_STRUCTURED.has(key)) {
      input[key] = value;
      continue;
    }
    try {
      input[key] = JSON.parse(value);
    } catch {
      problems.push(`${NOTIFY_NAMESPACE}:${key}: must be JSON (set it with pulumi config set --path, or as JSON)`);
    }
  }
  const r = NotificationsConfigSchema.safeParse(input);
  if (!r.success)
    for (const i of r.error.issues) {
      const [key, ...rest] = i.path.map(String);
      const where = `${key ?? '(config)'}${rest.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')}`;
      problems.push(
        `${NOTIFY_NAMESPACE}:${where}: ${i.code === 'unrecognized_keys' ? `unknown key ${i.keys.join(', ')}` : i.message}`,
      );
    }
  if (problems.length > 0 || !r.success) throw new Error(`invalid notification settings:\n${problems.join('\n')}`);
  return r.data;
}

// ---------------------------------------------------------------------------------------------------------------
// The spoke program's `timebox:*` keys (stacks/spoke.ts, a stack of its own per spoke account)

/** An IAM role ARN; the groups are its partition and account. */
export const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/[\w+=,.@/-]+$/;

/** The hub broker roles a spoke trusts (the hub stack's `brokerRoleArns` output). */
export const HubRolesSchema = z.strictObject({
  api: z.string().regex(ROLE_ARN, 'must be an IAM role ARN'),
  revoke: z.string().regex(ROLE_ARN, 'must be an IAM role ARN'),
  sweeper: z.string().regex(ROLE_ARN, 'must be an IAM role ARN'),
});
export type HubRoles = z.output<typeof HubRolesSchema>;

/** Where the hub keeps its trail logs (the hub stack's `trailBucket` and `trailKeyArn` outputs). */
export const HubAuditTrailSchema = z.strictObject({
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (the hub trailBucket output)'),
  keyArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
      'must be a KMS key ARN (the hub trailKeyArn output)',
    ),
});
export type HubAuditTrail = z.output<typeof HubAuditTrailSchema>;

const SpokeConfigSchema = z.strictObject({
  /** access.yaml, relative to the spoke project directory (stacks/spoke): usually ../../access.yaml. */
  policyFile: z.string().min(1, 'name the access policy file, e.g. ../../access.yaml'),
  hubRoles: HubRolesSchema,
  /**
   * The hub's trail bucket and key (`{"bucket": <trailBucket>, "keyArn": <trailKeyArn>}`): this account then records
   * its calls there. Leave unset only when the hub runs an organization trail (timebox:organizationTrail).
   */
  auditTrail: HubAuditTrailSchema.optional(),
});
export type SpokeConfig = z.output<typeof SpokeConfigSchema>;

/** Parses the spoke stack's `timebox:*` keys; throws naming each bad key. */
export function parseSpokeConfig(raw: Record<string, string | undefined>): SpokeConfig {
  const input: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (k === 'hubRoles' || k === 'auditTrail') {
      try {
        input[k] = JSON.parse(v);
      } catch {
        problems.push(
          k === 'hubRoles'
            ? `${CONFIG_NAMESPACE}:hubRoles: must be JSON (the hub stack's brokerRoleArns output)`
            : `${CONFIG_NAMESPACE}:auditTrail: must be JSON ({"bucket": <trailBucket>, "keyArn": <trailKeyArn>})`,
        );
      }
    } else {
      input[k] = v;
    }
  }
  const parsed = SpokeConfigSchema.safeParse(input);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      if (
        (i.path[0] === 'hubRoles' || i.path[0] === 'auditTrail') &&
        problems.some((p) => p.includes(`:${String(i.path[0])}: must be JSON`))
      )
        continue;
      const where = i.path.length > 0 ? i.path.join('.') : '(config)';
      problems.push(`${CONFIG_NAMESPACE}:${where}: ${i.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}
