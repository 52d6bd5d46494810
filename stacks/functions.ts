import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { type EnvName, LAMBDA_ENV } from '../lambdas/config';
import { type Capability, HANDLER_CAPABILITIES } from './policies';

/**
 * The broker's Lambda functions as data: one entry per bundle `npm run build` writes to dist/lambdas/<name>/.
 * A new handler (notifier, slack) is one entry here, one in LAMBDA_ENV (lambdas/config.ts) and one in
 * HANDLER_CAPABILITIES (./policies.ts), plus its trigger in the Broker.
 */
export interface HandlerSpec {
  /** Seconds. */
  timeout: number;
  /** MB; on arm64 CPU scales with memory. */
  memorySize: number;
  description: string;
  /** Environment variables the handler reads (required must be set; optional are set when available). */
  env: { required: EnvName[]; optional: EnvName[] };
  capabilities: readonly Capability[];
}

function spec(name: keyof typeof LAMBDA_ENV, s: Omit<HandlerSpec, 'env' | 'capabilities'>): HandlerSpec {
  const capabilities = HANDLER_CAPABILITIES[name];
  if (!capabilities) throw new Error(`no capabilities declared for handler ${name}`);
  return { ...s, env: LAMBDA_ENV[name], capabilities };
}

export const HANDLERS: Record<string, HandlerSpec> = {
  // API Gateway REST integrations time out after 29 s; a longer Lambda timeout would only hide that.
  api: spec('api', { timeout: 29, memorySize: 512, description: 'Timebox API (API Gateway, IAM auth)' }),
  revoke: spec('revoke', {
    timeout: 60,
    memorySize: 256,
    description: 'Timebox per-grant expiry (EventBridge Scheduler)',
  }),
  // Runs every minute: shorter than the interval so two sweeps rarely overlap (overlap is safe, only wasteful).
  sweeper: spec('sweeper', { timeout: 55, memorySize: 512, description: 'Timebox sweeper (every minute)' }),
};

/** Lambda settings shared by every function (Node 20 on Graviton). */
export const LAMBDA_RUNTIME = { runtime: 'nodejs20.x', architecture: 'arm64', handler: 'index.handler' } as const;

/**
 * The file name the policy has inside each bundle; TIMEBOX_POLICY_FILE points at it. It is the policy bundle
 * (core/policy/json.ts): access.yaml validated at preview, so functions carry no YAML parser.
 */
export const BUNDLED_POLICY_FILE = 'policy.json';

/**
 * Code a function loads only when needed, built next to index.js (scripts/build.ts LAZY_CHUNKS): `gcp.js` holds the
 * GCP provider and google-auth-library, read only when a function with TIMEBOX_GCP set first touches a GCP grant.
 */
export const LAZY_CHUNKS = ['gcp.js'] as const;
export type LazyChunk = (typeof LAZY_CHUNKS)[number];

export class MissingBundleError extends Error {
  constructor(missing: string[]) {
    super(`Lambda bundles are missing (${missing.join(', ')}): run npm run build first`);
    this.name = 'MissingBundleError';
  }
}

/**
 * Checks that every handler's bundle exists, and the lazy chunks the deployment needs (`gcp.js` when GCP is
 * configured: without it the first GCP grant would fail at run time); throws one error naming all that are missing.
 */
export function checkBundles(
  distDir: string,
  handlers: string[],
  cwd: string = process.cwd(),
  chunks: readonly LazyChunk[] = [],
): void {
  const files = ['index.js', 'index.js.map', ...chunks.flatMap((c) => [c, `${c}.map`])];
  const missing = handlers.flatMap((h) =>
    files
      .map((f) => join(distDir, h, f))
      .filter((p) => !existsSync(p))
      .map((p) => relative(cwd, p) || p),
  );
  if (missing.length > 0) throw new MissingBundleError(missing);
}

/**
 * The code of one function: its bundle, the lazy chunks the build emitted next to it, source maps, and the policy
 * bundle (core/policy/json.ts) as policy.json.
 */
export function lambdaArchive(distDir: string, handler: string, policyBundleJson: string): pulumi.asset.AssetArchive {
  const files: Record<string, pulumi.asset.Asset> = {};
  for (const f of ['index.js', ...LAZY_CHUNKS]) {
    const path = join(distDir, handler, f);
    if (f !== 'index.js' && !existsSync(path)) continue;
    files[f] = new pulumi.asset.FileAsset(path);
    files[`${f}.map`] = new pulumi.asset.FileAsset(`${path}.map`);
  }
  files[BUNDLED_POLICY_FILE] = new pulumi.asset.StringAsset(policyBundleJson);
  return new pulumi.asset.AssetArchive(files);
}

/**
 * The environment of one function: every required variable (a missing one is a bug in the stack, so it throws
 * at preview) and every optional one the stack can supply.
 */
export function handlerEnvironment(
  handler: string,
  available: Partial<Record<EnvName, pulumi.Input<string>>>,
): Record<string, pulumi.Input<string>> {
  const s = HANDLERS[handler];
  if (!s) throw new Error(`unknown handler ${handler}`);
  const out: Record<string, pulumi.Input<string>> = {};
  for (const name of s.env.required) {
    const v = available[name];
    if (v === undefined) throw new Error(`the stack has no value for ${name}, which the ${handler} function requires`);
    out[name] = v;
  }
  for (const name of s.env.optional) {
    const v = available[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}
