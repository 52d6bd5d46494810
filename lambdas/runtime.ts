import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type * as zc from 'zod/v4/core';
import { DynamoEventStore, DynamoProjectionStore, documentClient } from '../adapters/aws/dynamodb';
import { awsRoleProvision, awsRoleRevocation } from '../adapters/aws/role-plan';
import { EventBridgeGrantScheduler } from '../adapters/aws/scheduler';
import { type GcpConfig, GcpConfigJsonSchema, parseGcpSettings } from '../adapters/gcp/config';
import { GrpcTokenProvider } from '../adapters/grpc/provider';
import type { CloudActionSource } from '../adapters/notify/timeline';
import * as z from '../adapters/zod';
import { systemClock } from '../core/clock';
import { parseDuration } from '../core/duration';
import { UnavailableError } from '../core/errors';
import { GrantService } from '../core/grant/service';
import { grantIdGenerator } from '../core/ids';
import { type CompiledPolicy, compilePolicy } from '../core/policy/compile';
import { readPolicyBundle } from '../core/policy/json';
import type { TargetKind } from '../core/policy/types';
import type { AccessProvider, EventPublisher, EventStore, Log, ProjectionStore, TokenSigner } from '../core/ports';
import { ENV, parseEnv } from './config';
import { lazyProvider, once } from './lazy';
import { LogPublisher, PowertoolsLog } from './log';

/**
 * The composition root shared by the three Lambda entries: configuration, policy, clients, adapters and the
 * GrantService, each built once per cold start. Entries pick what they use; the KMS client lives only in the API
 * entry, so the revoke and sweeper bundles do not carry it (esbuild drops what an entry never reaches).
 */

const arn = z.string().check(z.regex(/^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$/, 'must be an ARN'));
const nonEmpty = z.string().check(z.minLength(1, 'must not be empty'));
const durationEnv = z.pipe(
  z.string(),
  z.transform((text: string, ctx) => {
    const r = parseDuration(text);
    if (!r.ok) {
      ctx.issues.push({ code: 'custom', message: r.message, input: text });
      return z.NEVER;
    }
    return r.ms;
  }),
);

/** Variables every function reads (see LAMBDA_ENV in ./config.ts). */
export const CommonEnvSchema = z.object({
  [ENV.eventsTable]: nonEmpty,
  [ENV.grantsTable]: nonEmpty,
  [ENV.policyFile]: z._default(nonEmpty, './policy.json'),
  [ENV.issuer]: z.url({ protocol: /^https?$/ }),
  [ENV.schedulerGroup]: nonEmpty,
  [ENV.schedulerRoleArn]: arn,
  [ENV.schedulerDlqArn]: arn,
  [ENV.revokeFunctionArn]: arn,
  // Five minutes: a revoked grant's token keeps working at most this long where the revocation feed is not read.
  [ENV.tokenTtl]: z._default(durationEnv, 5 * 60_000),
  [ENV.gcp]: z.optional(GcpConfigJsonSchema),
  [ENV.accountId]: z.optional(z.string().check(z.regex(/^\d{12}$/, 'an AWS account id is 12 digits'))),
  // The lifecycle bus; without it events are log lines only (the stack always sets it).
  [ENV.eventBus]: z.optional(nonEmpty),
});

export interface CommonConfig {
  eventsTable: string;
  grantsTable: string;
  policyFile: string;
  issuer: string;
  scheduler: { group: string; targetArn: string; roleArn: string; deadLetterArn: string };
  tokenTtlMs: number;
  gcp?: GcpConfig;
  /** The hub account: revocation in it uses the function's own IAM client. */
  hubAccount: string;
  partition: string;
  /** EventBridge bus lifecycle events are published to. */
  eventBus?: string;
}

/** The common configuration from parsed variables (frozen: nothing may change it after the cold start). */
export function commonConfig(env: zc.output<typeof CommonEnvSchema>): Readonly<CommonConfig> {
  const [, partition, , , schedulerAccount] = env[ENV.schedulerRoleArn].split(':') as [
    string,
    string,
    string,
    string,
    string,
  ];
  return Object.freeze({
    eventsTable: env[ENV.eventsTable],
    grantsTable: env[ENV.grantsTable],
    policyFile: env[ENV.policyFile],
    issuer: env[ENV.issuer],
    scheduler: Object.freeze({
      group: env[ENV.schedulerGroup],
      targetArn: env[ENV.revokeFunctionArn],
      roleArn: env[ENV.schedulerRoleArn],
      deadLetterArn: env[ENV.schedulerDlqArn],
    }),
    tokenTtlMs: env[ENV.tokenTtl],
    ...(env[ENV.gcp] ? { gcp: env[ENV.gcp] } : {}),
    hubAccount: env[ENV.accountId] ?? schedulerAccount,
    partition,
    ...(env[ENV.eventBus] ? { eventBus: env[ENV.eventBus] } : {}),
  });
}

/** Parses and freezes the environment of a function; a bad variable fails the cold start naming it. */
export function loadConfig<S extends zc.$ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<zc.output<S>> {
  return Object.freeze(parseEnv(schema, env));
}

/**
 * Reads and compiles the policy bundle once (access.yaml as validated by the stack at preview, see
 * core/policy/json.ts). A relative path is resolved against the bundle's directory (the stack packages
 * policy.json next to index.mjs), not the working directory, which Lambda does not promise.
 */
export function loadPolicyFile(file: string, baseDir: string): CompiledPolicy {
  return loadPolicyBundle(file, baseDir).policy;
}

/** The compiled policy and the GCP settings the bundle carries (the stack puts them there, not in TIMEBOX_GCP). */
export function loadPolicyBundle(file: string, baseDir: string): { policy: CompiledPolicy; gcp?: GcpConfig } {
  const path = isAbsolute(file) ? file : join(baseDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the policy bundle ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const bundle = readPolicyBundle(text);
    const policy = compilePolicy(bundle.policy);
    return bundle.gcp === undefined ? { policy } : { policy, gcp: parseGcpSettings(bundle.gcp, `${file} gcp`) };
  } catch (e) {
    throw new Error(`invalid policy bundle ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The configuration with the bundle's GCP settings; both they and TIMEBOX_GCP set is ambiguous, so refused. */
export function withBundledGcp(cfg: Readonly<CommonConfig>, gcp: GcpConfig | undefined): Readonly<CommonConfig> {
  if (gcp === undefined) return cfg;
  if (cfg.gcp)
    throw new Error(
      `invalid Lambda configuration:\n${ENV.gcp} is set and the policy bundle carries GCP settings too: keep one`,
    );
  return Object.freeze({ ...cfg, gcp });
}

/** Powertools Logger (JSON lines, Lambda context on each line once added) and the core Log over it. */
export function lambdaLogger(serviceName: string): { logger: Logger; log: PowertoolsLog } {
  const logger = new Logger({ serviceName });
  return { logger, log: new PowertoolsLog(logger) };
}

/** The DynamoDB event store and projection over one client. */
export function dynamoStores(cfg: Pick<CommonConfig, 'eventsTable' | 'grantsTable'>): {
  events: EventStore;
  projections: ProjectionStore;
} {
  const doc = documentClient(new DynamoDBClient({}));
  return {
    events: new DynamoEventStore(doc, cfg.eventsTable),
    projections: new DynamoProjectionStore(doc, cfg.grantsTable),
  };
}

/** A signer for functions that never issue tokens (revoke, sweeper): refuses clearly instead of reaching for KMS. */
export const NO_SIGNER: TokenSigner = {
  sign: async () => {
    throw new UnavailableError('SIGNER.UNAVAILABLE', 'this function does not issue tokens; the API does');
  },
  jwks: async () => {
    throw new UnavailableError('SIGNER.UNAVAILABLE', 'this function does not serve keys; the API does');
  },
};

/**
 * Revoked grants the sweeper reads per pass to confirm their AWS denies, newest first. A deny lives at most 65 minutes
 * after its revocation, so this only has to exceed the revocations of about an hour.
 */
const REVOKED_SCAN_LIMIT = 1000;

/**
 * One access provider per target kind; GCP only when GCP settings are configured (policy bundle or TIMEBOX_GCP). The aws-role provider (STS, IAM and the
 * cross-account revoker) and the GCP provider (google-auth-library) load on first use (./lazy.ts).
 */
export function accessProviders(
  cfg: Readonly<CommonConfig>,
  deps: { policy: () => CompiledPolicy; signer: TokenSigner; log: Log; stores?: { projections: ProjectionStore } },
): Partial<Record<TargetKind, AccessProvider>> {
  const gcp = cfg.gcp;
  const stores = deps.stores;
  // The sweeper confirms recent revocations against the role policies (adapters/aws/sts.ts `maintain`).
  const revokedGrants = stores
    ? () => stores.projections.listByStatus('revoked', { limit: REVOKED_SCAN_LIMIT })
    : undefined;
  const awsRole = lazyProvider('aws-role', () =>
    import('./aws-role.js').then((m) =>
      m.awsRoleProvider(cfg, { ...deps, ...(revokedGrants ? { revokedGrants } : {}) }),
    ),
  );
  return {
    'aws-role': {
      ...awsRole,
      // Activation and expiry need no AWS call (../adapters/aws/role-plan.ts): answered here, so the revoke
      // function, which does little else, never loads the STS and IAM clients.
      provision: async () => awsRoleProvision(),
      revoke: async (g, why, ctx) => {
        const plan = awsRoleRevocation(g, why, ctx.now);
        return plan.revocation === 'none' ? { ...plan } : awsRole.revoke(g, why, ctx);
      },
    },
    grpc: new GrpcTokenProvider({ signer: deps.signer, issuer: cfg.issuer, tokenTtlMs: cfg.tokenTtlMs }),
    ...(gcp
      ? {
          'gcp-role': lazyProvider('gcp-role', () =>
            import('../adapters/gcp/provider.js').then((m) => m.createGcpProvider(gcp, { log: deps.log })),
          ),
        }
      : {}),
  };
}

/** The bus publisher, with `notice` for events that are not a grant's (the slack function's refusals). */
export interface BusPublisher extends EventPublisher {
  notice(detailType: string, detail: Record<string, unknown>): Promise<void>;
}

/**
 * Publishes to the EventBridge bus; the client (and adapters/aws/eventbridge.ts) loads on the first publish, which
 * comes after the transition it reports is recorded, so no request waits for it before its event is safe.
 */
export function busPublisher(busName: string, log: Log): BusPublisher {
  const bus = once(() => import('../adapters/aws/eventbridge.js').then((m) => m.eventBridgePublisher(busName, log)));
  return {
    publish: async (events, grant) => (await bus()).publish(events, grant),
    notice: async (detailType, detail) => (await bus()).notice(detailType, detail),
  };
}

/**
 * Lifecycle events as log lines (queryable in CloudWatch Logs Insights) and, when TIMEBOX_EVENT_BUS is set, on the
 * bus, where rules route them to the notifier, webhooks and anything else subscribed. A failed bus publish is
 * thrown to GrantService, which logs it; the sweeper publishes the events again.
 */
export function lifecyclePublisher(cfg: Pick<CommonConfig, 'eventBus'>, log: Log): EventPublisher {
  const lines = new LogPublisher(log);
  if (!cfg.eventBus) return lines;
  const bus = busPublisher(cfg.eventBus, log);
  return {
    publish: async (events, grant) => {
      await lines.publish(events, grant);
      await bus.publish(events, grant);
    },
  };
}

const AthenaEnvSchema = z.object({
  [ENV.athenaWorkgroup]: z.optional(nonEmpty),
  [ENV.athenaDatabase]: z.optional(nonEmpty),
  [ENV.auditRegions]: z.optional(nonEmpty),
});

/**
 * The AWS calls of a grant for `GET /v1/audit/timeline`: CloudTrail through Athena when the stack set the
 * workgroup, database and regions, undefined otherwise (timelines then show lifecycle events only, and say so).
 * The Athena adapter and SDK load on the first timeline request, not at a cold start.
 */
export function cloudTrailSource(env: NodeJS.ProcessEnv = process.env): CloudActionSource | undefined {
  const a = parseEnv(AthenaEnvSchema, env);
  const workgroup = a[ENV.athenaWorkgroup];
  const database = a[ENV.athenaDatabase];
  const regions = a[ENV.auditRegions];
  if (!workgroup && !database && !regions) return undefined;
  if (!workgroup || !database || !regions)
    throw new Error(
      `invalid Lambda configuration:\n${ENV.athenaWorkgroup}, ${ENV.athenaDatabase} and ${ENV.auditRegions} are set together or not at all`,
    );
  const settings = { workgroup, database, regions: regions.split(',').map((r) => r.trim()) };
  const source = once(() => import('../adapters/aws/athena.js').then((m) => m.cloudTrailActions(settings)));
  return { forGrant: async (g) => (await source()).forGrant(g) };
}

/** The GrantService of a function: DynamoDB stores, Scheduler, providers, and the lifecycle publisher. */
export function grantService(
  cfg: Readonly<CommonConfig>,
  deps: { policy: () => CompiledPolicy; signer: TokenSigner; log: Log; stores: ReturnType<typeof dynamoStores> },
): GrantService {
  return new GrantService({
    ...deps.stores,
    scheduler: new EventBridgeGrantScheduler(new SchedulerClient({}), cfg.scheduler),
    providers: accessProviders(cfg, deps),
    publisher: lifecyclePublisher(cfg, deps.log),
    clock: systemClock,
    ids: grantIdGenerator(systemClock),
    policy: deps.policy,
    log: deps.log,
  });
}

/**
 * What every broker function builds once per cold start: the common configuration, the logger, the compiled policy
 * and the GrantService over DynamoDB. `baseDir` is the bundle's directory (where policy.json is packaged).
 */
export function brokerFunction(
  serviceName: string,
  env: z.output<typeof CommonEnvSchema>,
  opts: { baseDir: string; signer?: TokenSigner },
) {
  const fromEnv = commonConfig(env);
  const { logger, log } = lambdaLogger(serviceName);
  const bundle = loadPolicyBundle(fromEnv.policyFile, opts.baseDir);
  const cfg = withBundledGcp(fromEnv, bundle.gcp);
  const compiled = bundle.policy;
  const policy = () => compiled;
  const stores = dynamoStores(cfg);
  const service = grantService(cfg, { policy, signer: opts.signer ?? NO_SIGNER, log, stores });
  return { cfg, logger, log, policy, stores, service };
}
