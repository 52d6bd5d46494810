import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { type EnvName, LAMBDA_ENV } from '../lambdas/config';
import { type Capability, HANDLER_CAPABILITIES } from './policies';

/**
 * The broker's Lambda functions as data: one entry per bundle `npm run build` writes to dist/lambdas/<name>/.
 * A new handler (notifier, slack) is one entry here, one in LAMBDA_ENV (lambdas/config.ts) and one in
 * HANDLER_CAPABILITIES (./policies/broker.ts), plus its trigger in the Broker.
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

/**
 * Lambda settings shared by every function (on Graviton); `index.handler` is exported by index.mjs. Node 22: Lambda
 * deprecated nodejs20.x on 30 April 2026 and blocks creating functions on it from 31 August 2026; nodejs22.x is
 * supported until 30 April 2027 (AWS Lambda runtimes page). The bundles target Node 20 syntax, which Node 22 runs,
 * so the same bundles run in the tests on the Node 20 machines that build them.
 */
export const LAMBDA_RUNTIME = { runtime: 'nodejs22.x', architecture: 'arm64', handler: 'index.handler' } as const;

/**
 * The file name the policy has inside each bundle; TIMEBOX_POLICY_FILE points at it. It is the policy bundle
 * (core/policy/json.ts): access.yaml validated at preview, so functions carry no YAML parser.
 */
export const BUNDLED_POLICY_FILE = 'policy.json';

/**
 * What `npm run build` writes for each function (scripts/build.ts): ES modules, `index.mjs` the entry (Lambda's
 * `index.handler` resolves to it) and chunks next to it, each with a source map, and `meta.json`, esbuild's record
 * of every file it wrote. Chunk names carry content hashes, so the stack lists the directory instead of naming them.
 */
export const BUNDLE_ENTRY = 'index.mjs';
const BUNDLE_META = 'meta.json';
const isCode = (f: string) => f.endsWith('.mjs') || f.endsWith('.mjs.map');

export class MissingBundleError extends Error {
  constructor(missing: string[]) {
    super(`Lambda bundles are missing (${missing.join(', ')}): run npm run build first`);
    this.name = 'MissingBundleError';
  }
}

/**
 * Checks that every handler's bundle is complete: its entry and source map, and every chunk its build wrote (listed
 * in meta.json: a missing chunk would fail only when first loaded, for GCP perhaps days later). Throws one error
 * naming all that are missing.
 */
export function checkBundles(distDir: string, handlers: string[], cwd: string = process.cwd()): void {
  const missing = handlers.flatMap((h) =>
    [BUNDLE_ENTRY, `${BUNDLE_ENTRY}.map`, ...builtChunks(join(distDir, h))]
      .map((f) => join(distDir, h, f))
      .filter((p) => !existsSync(p))
      .map((p) => relative(cwd, p) || p),
  );
  if (missing.length > 0) throw new MissingBundleError(missing);
}

/** The code files the build recorded in a function's meta.json (none when there is no meta.json). */
function builtChunks(dir: string): string[] {
  const meta = join(dir, BUNDLE_META);
  if (!existsSync(meta)) return [];
  const outputs = (JSON.parse(readFileSync(meta, 'utf8')) as { outputs?: Record<string, unknown> }).outputs ?? {};
  return Object.keys(outputs)
    .map((p) => basename(p))
    .filter(isCode);
}

/**
 * The code of one function: every module and source map the build wrote in its directory (entry, shared chunks and
 * the chunks it loads on first use), and the policy bundle (core/policy/json.ts) as policy.json. The bundle may be
 * an Output: it carries the GCP settings (gcp.ts), which are known only once GcpAccess exists.
 */
export function lambdaArchive(
  distDir: string,
  handler: string,
  policyBundleJson: pulumi.Input<string>,
): pulumi.Output<pulumi.asset.AssetArchive> {
  const dir = join(distDir, handler);
  const code = readdirSync(dir).filter(isCode).sort();
  return pulumi.output(policyBundleJson).apply((bundle) => {
    const files: Record<string, pulumi.asset.Asset> = {};
    for (const f of code) files[f] = new pulumi.asset.FileAsset(join(dir, f));
    files[BUNDLED_POLICY_FILE] = new pulumi.asset.StringAsset(bundle);
    return new pulumi.asset.AssetArchive(files);
  });
}

/**
 * The environment of one function: every required variable (a missing one is a bug in the stack, so it throws
 * at preview) and every optional one the stack can supply, checked against Lambda's 4 KB limit.
 */
export function handlerEnvironment(
  handler: string,
  available: Partial<Record<EnvName, pulumi.Input<string>>>,
): pulumi.Output<Record<string, string>> {
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
  return checkedEnvironment(handler, out);
}

/**
 * Lambda refuses a function whose environment variables together pass 4 KB (Lambda quotas, "Environment variables":
 * 4 KB, not adjustable): CreateFunction fails with "...exceeded the 4KB limit. String measured: {...}", the
 * variables as compact JSON. Tables that grow with the deployment (GCP members and projects) therefore live in the
 * bundled policy.json, and every function's environment is measured here before it is declared.
 */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;

/** The size Lambda measures: the variables as compact JSON (`{"KEY":"value",...}`), in UTF-8 bytes. */
export function environmentSize(variables: Readonly<Record<string, string>>): number {
  return Buffer.byteLength(JSON.stringify(variables), 'utf8');
}

export class EnvironmentTooLargeError extends Error {
  constructor(
    public readonly functionName: string,
    public readonly bytes: number,
    largest: [string, number][],
    atLeast = false,
  ) {
    super(
      `the ${functionName} function's environment variables measure ${atLeast ? 'at least ' : ''}${bytes} bytes; ` +
        `Lambda allows ${LAMBDA_ENV_LIMIT_BYTES} (largest: ${largest.map(([k, n]) => `${k} ${n} B`).join(', ')})`,
    );
    this.name = 'EnvironmentTooLargeError';
  }
}

function largestVariables(variables: Record<string, string>): [string, number][] {
  return Object.entries(variables)
    .map(([k, v]): [string, number] => [k, environmentSize({ [k]: v }) - 2])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
}

/**
 * Throws EnvironmentTooLargeError, naming the function, the size and the largest variables, when `variables` pass
 * the limit; returns their size otherwise. `atLeast`: some values were not known yet and counted as empty.
 */
export function assertEnvironmentFits(
  functionName: string,
  variables: Readonly<Record<string, string>>,
  atLeast = false,
): number {
  const bytes = environmentSize(variables);
  if (bytes > LAMBDA_ENV_LIMIT_BYTES)
    throw new EnvironmentTooLargeError(functionName, bytes, largestVariables(variables), atLeast);
  return bytes;
}

/**
 * A function's environment, refused when it passes 4 KB. What is known when the program runs is measured at once
 * (values not known yet count as empty), so `pulumi preview` fails on a large identity mapping or region list even
 * for a new stack; the exact size is checked again once every value is known, before Lambda is called.
 */
export function checkedEnvironment(
  functionName: string,
  variables: Record<string, pulumi.Input<string>>,
): pulumi.Output<Record<string, string>> {
  const unknown = Object.values(variables).some((v) => typeof v !== 'string');
  const known = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : '']));
  assertEnvironmentFits(functionName, known, unknown);
  return pulumi.all(variables).apply((resolved) => {
    assertEnvironmentFits(functionName, resolved);
    return resolved;
  });
}
