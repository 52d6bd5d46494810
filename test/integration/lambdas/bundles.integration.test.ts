import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DynamoEventStore, DynamoProjectionStore, documentClient } from '../../../adapters/aws/dynamodb';
import { coldStart, dummyLambdaEnv, writePolicyBundle } from '../../../bench/sections/bundles';
import { ManualClock } from '../../../core/clock';
import { GrantService } from '../../../core/grant/service';
import { grantIdGenerator } from '../../../core/ids';
import { LogPublisher } from '../../../lambdas/log';
import { buildLambdas, bundleProblems, LAMBDAS, type LambdaBundle, MAX_BUNDLE_BYTES } from '../../../scripts/build';
import { dynaliteClient } from '../../helpers/dynalite';
import { createTimeboxTables, type RunningDynalite, startDynalite } from '../../helpers/dynalite-server';
import { FakeProvider, FakeScheduler, RecordingLog } from '../../helpers/memory';
import { expectWith } from '../../helpers/runner';
import { alice, carol, compileYaml } from '../../helpers/world';
import fixture from '../../unit/lambdas/fixtures/apigw-rest-iam-event.json';

/**
 * The real Lambda bundles, built as `npm run build` builds them: what they contain (read from esbuild's metafile),
 * what a cold start loads, and whether each one starts in a fresh `node` process with the network blocked and
 * answers invocations; and that the GCP chunk is read only by a function that has GCP and a GCP grant to handle.
 */

const ROOT = join(__dirname, '..', '..', '..');
const POLICY_YAML = join(ROOT, 'test/fixtures/policies/design-example.yaml');
/** The policy bundle the stack packages for that file, written next to the bundles in beforeAll. */
let POLICY: string;

let out: string;
let bundles: LambdaBundle[];
const byName = (name: string) => bundles.find((b) => b.name === name) as LambdaBundle;

/** Sources and packages with code in the given output files of a bundle (all of them by default). */
function sourcesIn(b: LambdaBundle, files: string[] = b.files): string[] {
  return Object.entries(b.metafile.outputs)
    .filter(([path]) => files.includes(basename(path)))
    .flatMap(([, o]) => Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0))
    .map(([path]) => path);
}
const hasPackage = (sources: string[], pkg: string) => sources.some((p) => p.includes(`node_modules/${pkg}/`));
/** The output file holding a source, e.g. the lazily loaded chunk of adapters/gcp/provider.ts. */
function fileHolding(b: LambdaBundle, source: string): string {
  const hit = Object.entries(b.metafile.outputs).find(([, o]) => o.inputs[source]?.bytesInOutput);
  if (!hit) throw new Error(`${b.name}: no output holds ${source}`);
  return basename(hit[0]);
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'timebox-lambdas-'));
  bundles = await buildLambdas(ROOT, out);
  POLICY = writePolicyBundle(out, POLICY_YAML);
}, 240_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/**
 * Invokes a bundle's handler once in a fresh process: what it resolved to, and the JSON log lines it wrote
 * (Powertools writes them to stdout and stderr, so the result goes on its own marked line). Sockets are refused,
 * except to loopback addresses when `loopback` is set (dynalite); DNS is refused always.
 */
async function invoke(
  file: string,
  event: unknown,
  opts: { env?: NodeJS.ProcessEnv; loopback?: boolean } = {},
): Promise<{ result: unknown; logs: Record<string, unknown>[] }> {
  const script = `
    const net = require('node:net');
    const connect = net.Socket.prototype.connect;
    const loopback = process.argv[3] === 'loopback';
    net.Socket.prototype.connect = function (...args) {
      const o = args[0] !== null && typeof args[0] === 'object' ? (Array.isArray(args[0]) ? args[0][0] : args[0]) : { host: args[1] };
      if (loopback && /^(127\\.|::1$)/.test(String(o.host ?? ''))) return connect.apply(this, args);
      throw new Error('network access refused by the test');
    };
    require('node:dns').lookup = () => { throw new Error('DNS refused by the test'); };
    import(require('node:url').pathToFileURL(process.argv[1]).href)
      .then(({ handler }) => handler(JSON.parse(process.argv[2]), { awsRequestId: 'it-1', functionName: 'timebox' }))
      .then((r) => process.stdout.write('\\nRESULT ' + JSON.stringify(r) + '\\n'), (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
  `;
  // Asynchronous: dynalite answers from this process while the child runs.
  const r = await run(['-e', script, file, JSON.stringify(event), opts.loopback ? 'loopback' : 'none'], {
    env: opts.env ?? dummyLambdaEnv(POLICY),
  });
  if (r.status !== 0) throw new Error(`invoking ${file} failed:\n${r.stderr}`);
  const lines = r.stdout.split('\n');
  const marked = lines.find((l) => l.startsWith('RESULT '));
  if (!marked) throw new Error(`no result from ${file}:\n${r.stdout}`);
  return {
    result: JSON.parse(marked.slice('RESULT '.length)),
    logs: [...lines, ...r.stderr.split('\n')]
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Runs `node <args>` to completion (60 s at most), collecting its output. */
function run(
  args: string[],
  opts: { env: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: opts.env, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A copy of a function's build holding only the given files: what a cold start may read, and nothing else. */
function copyOf(b: LambdaBundle, files: string[]): string {
  const dir = mkdtempSync(join(out, `${b.name}-only-`));
  for (const f of files) copyFileSync(join(out, b.name, f), join(dir, f));
  return join(dir, 'index.mjs');
}

describe('Lambda bundles', () => {
  it('builds every function (api, revoke, sweeper and more) as index.mjs and chunks, with maps and metafiles', () => {
    expect(bundles.map((b) => b.name)).toEqual(Object.keys(LAMBDAS));
    expect(bundles.map((b) => b.name)).toEqual(expect.arrayContaining(['api', 'revoke', 'sweeper']));
    for (const b of bundles) {
      expect(basename(b.file)).toBe('index.mjs');
      for (const f of b.files) expect(existsSync(join(out, b.name, `${f}.map`))).toBe(true);
      expect(existsSync(join(out, b.name, 'meta.json'))).toBe(true);
    }
  });

  it(`loads under ${MAX_BUNDLE_BYTES / 1024} KB at a cold start, counting every chunk the entry imports`, () => {
    for (const b of bundles) {
      expectWith(b.initBytes, b.name).toBeLessThan(MAX_BUNDLE_BYTES);
      expect(b.initBytes).toBeGreaterThanOrEqual(b.bytes);
      expect(bundleProblems(b)).toEqual([]);
    }
  });

  it('carries no YAML parser, policy file loader, classic zod or AGPL simulator, and GCP libraries only lazily', () => {
    for (const b of bundles) {
      const all = sourcesIn(b);
      const atInit = sourcesIn(b, b.initFiles);
      const imports = Object.values(b.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
      for (const pkg of ['yaml', '@cloud-copilot/iam-simulate'])
        expectWith(hasPackage(all, pkg), `${b.name} ${pkg}`).toBe(false);
      expect(imports.some((p) => p.includes('@cloud-copilot'))).toBe(false);
      // The loader and its parts (YAML locations, schema, checker, hints) stay out: functions read the compiled bundle.
      const loader = ['load', 'schema', 'check', 'issues', 'locations', 'suggest'].map((m) => `core/policy/${m}`);
      expect(all.filter((p) => loader.some((l) => p.startsWith(l)))).toEqual([]);
      expect(all.some((p) => p.includes('node_modules/zod/v4/classic/'))).toBe(false);
      expect(hasPackage(atInit, 'google-auth-library')).toBe(false);
      // One locale of zod, not fifty.
      expect(all.some((p) => p.endsWith('zod/v4/locales/en.js'))).toBe(true);
      expect(all.some((p) => p.endsWith('zod/v4/locales/fr.js'))).toBe(false);
      // google-auth-library is in the chunk of the GCP provider, which only an import() reaches.
      if (!all.includes('adapters/gcp/provider.ts')) continue;
      const gcp = fileHolding(b, 'adapters/gcp/provider.ts');
      expect(b.initFiles).not.toContain(gcp);
      expect(hasPackage(sourcesIn(b, [gcp]), 'google-auth-library')).toBe(true);
    }
  });

  it('keeps SDK clients a cold start does not need out of it, and KMS out of every function but the api', () => {
    const clientAtInit = (b: LambdaBundle, client: string) =>
      sourcesIn(b, b.initFiles).some((p) => new RegExp(`@aws-sdk/${client}/dist-es/[A-Za-z]+Client\\.js$`).test(p));
    for (const b of bundles)
      for (const lazy of [
        'client-kms',
        'client-sts',
        'client-iam',
        'client-athena',
        'client-eventbridge',
        'client-secrets-manager',
      ])
        expectWith(clientAtInit(b, lazy), `${b.name} ${lazy}`).toBe(false);
    for (const name of ['api', 'revoke', 'sweeper'])
      for (const eager of ['client-dynamodb', 'client-scheduler']) expect(clientAtInit(byName(name), eager)).toBe(true);
    expect(hasPackage(sourcesIn(byName('api')), '@aws-sdk/client-kms')).toBe(true);
    for (const b of bundles.filter((x) => x.name !== 'api'))
      expectWith(hasPackage(sourcesIn(b), '@aws-sdk/client-kms'), b.name).toBe(false);
  });

  it('starts each bundle in a fresh process without touching the network', () => {
    for (const b of bundles) expect(coldStart(b.file, dummyLambdaEnv(POLICY)).handler).toBe('function');
  });

  it('links and runs every chunk, those loaded on first use included, with the network blocked', async () => {
    // ES modules resolve every named import when linked: a chunk that imports something its neighbours do not
    // export fails here, not on the first GCP grant or STS call in production.
    const script = `
      require('node:net').Socket.prototype.connect = () => { throw new Error('network access'); };
      const { pathToFileURL } = require('node:url');
      (async () => { for (const f of process.argv.slice(1)) await import(pathToFileURL(f).href); })()
        .then(() => process.stdout.write('linked'), (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
    `;
    for (const b of bundles) {
      const r = await run(['-e', script, ...b.files.map((f) => join(out, b.name, f))], { env: dummyLambdaEnv(POLICY) });
      expectWith(r.stderr, b.name).toBe('');
      expectWith(r.stdout, b.name).toBe('linked');
    }
  });

  it('starts and answers with only the files a cold start loads: no lazily loaded chunk is read', async () => {
    for (const b of bundles) {
      const only = copyOf(b, b.initFiles);
      expect(coldStart(only, dummyLambdaEnv(POLICY)).handler).toBe('function');
    }
    const health = await invoke(copyOf(byName('api'), byName('api').initFiles), {
      ...fixture,
      httpMethod: 'GET',
      resource: '/healthz',
      path: '/healthz',
      body: null,
    });
    expect(health.result).toMatchObject({ statusCode: 200, body: '{"ok":true}' });
  });

  it('fails a cold start whose configuration or policy bundle is wrong, naming it', () => {
    const env = { ...dummyLambdaEnv(POLICY), TIMEBOX_IDENTITY: '{"accounts":[]}' };
    expect(() => coldStart(byName('api').file, env)).toThrow(/TIMEBOX_IDENTITY/);
    const badGcp = { ...dummyLambdaEnv(POLICY), TIMEBOX_GCP: '{"audience":"x"}' };
    expect(() => coldStart(byName('sweeper').file, badGcp)).toThrow(
      /TIMEBOX_GCP\.audience: must be \/\/iam\.googleapis/,
    );
    const noPolicy = dummyLambdaEnv(join(out, 'missing.json'));
    expect(() => coldStart(byName('revoke').file, noPolicy)).toThrow(/cannot read the policy bundle/);
    const yaml = dummyLambdaEnv(POLICY_YAML);
    expect(() => coldStart(byName('sweeper').file, yaml)).toThrow(/invalid policy bundle .*design-example\.yaml/);
  });

  it('answers API Gateway events that need no AWS call', async () => {
    const api = byName('api').file;
    const health = await invoke(api, {
      ...fixture,
      httpMethod: 'GET',
      resource: '/healthz',
      path: '/healthz',
      body: null,
    });
    expect(health.result).toMatchObject({ statusCode: 200, body: '{"ok":true}' });
    const anonymous = await invoke(api, {
      ...fixture,
      requestContext: { ...fixture.requestContext, identity: { ...fixture.requestContext.identity, userArn: null } },
    });
    const answer = anonymous.result as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(401);
    expect(JSON.parse(answer.body).error.code).toBe('IDENTITY.UNMAPPED');
    // Structured log lines from Powertools, with the API Gateway request id and the Lambda context.
    expect(anonymous.logs).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'api request refused',
        service: 'timebox-api',
        requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
        function_request_id: 'it-1',
        code: 'IDENTITY.UNMAPPED',
      }),
    );
  });

  it('refuses a bad request body with the same English messages as the unit tests', async () => {
    const r = await invoke(byName('api').file, {
      ...fixture,
      httpMethod: 'POST',
      resource: '/v1/requests',
      path: '/v1/requests',
      headers: { ...fixture.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'prod-logs', duration: '30m', reason: 'x', extra: 1 }),
    });
    const answer = r.result as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body).error.message).toBe('Unrecognized key: "extra"');
  });

  it('drops a malformed schedule event in the revoke bundle without throwing', async () => {
    const { result, logs } = await invoke(byName('revoke').file, { grantId: 'nope' });
    expect(result).toEqual({ outcome: 'dropped', reason: 'malformed event' });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'malformed schedule event dropped',
        service: 'timebox-revoke',
        function_request_id: 'it-1',
        issues: ['grantId: is not a grant id', 'action: Invalid option: expected one of "expire"|"activate"'],
      }),
    );
  });
});

describe('Lambda bundles: the lazily loaded GCP chunk', () => {
  let dynalite: RunningDynalite;
  let client: DynamoDBClient;
  const tables = { events: 'events-gcp', grants: 'grants-gcp' };
  const GCP = JSON.stringify({
    audience:
      '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/timebox/providers/aws-hub',
    serviceAccount: 'timebox-broker@acme-ops.iam.gserviceaccount.com',
    members: { rules: [{ suffix: '@corp.com' }] },
  });

  beforeAll(async () => {
    dynalite = await startDynalite();
    client = dynaliteClient(dynalite.endpoint);
    await createTimeboxTables(client, tables);
  });

  afterAll(async () => {
    client?.destroy();
    await dynalite?.close();
  });

  /** An active gcp-role grant (design-example's `analytics`) whose expiry passed an hour ago, in dynalite. */
  async function expiredGrant(): Promise<string> {
    const doc = documentClient(client);
    const clock = new ManualClock(new Date(Date.now() - 2 * 3_600_000).toISOString());
    const compiled = compileYaml(readFileSync(POLICY_YAML, 'utf8'));
    const log = new RecordingLog();
    const service = new GrantService({
      events: new DynamoEventStore(doc, tables.events),
      projections: new DynamoProjectionStore(doc, tables.grants),
      scheduler: new FakeScheduler(),
      providers: { 'gcp-role': new FakeProvider('gcp-role') },
      publisher: new LogPublisher(log),
      clock,
      ids: grantIdGenerator(clock),
      policy: () => compiled,
      log,
      sleep: async () => {},
    });
    const { grant } = await service.request(alice, { target: 'analytics', duration: 3_600_000, reason: 'INC-7' });
    const active = await service.approve(grant.id, carol);
    expect(active.status).toBe('active');
    return grant.id;
  }

  /** The revoke function's environment against dynalite, with or without TIMEBOX_GCP. */
  const envFor = (gcp: boolean): NodeJS.ProcessEnv => ({
    ...dummyLambdaEnv(POLICY),
    TIMEBOX_EVENTS_TABLE: tables.events,
    TIMEBOX_GRANTS_TABLE: tables.grants,
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ...(gcp ? { TIMEBOX_GCP: GCP } : {}),
  });

  /** The revoke function expiring a grant from a copy of its build, with or without the GCP chunk. */
  async function expire(grantId: string, opts: { gcp: boolean; chunk: boolean }) {
    const b = byName('revoke');
    const gcpChunk = fileHolding(b, 'adapters/gcp/provider.ts');
    const entry = copyOf(
      b,
      b.files.filter((f) => opts.chunk || f !== gcpChunk),
    );
    const r = await invoke(entry, { grantId, action: 'expire' }, { env: envFor(opts.gcp), loopback: true });
    const failure = r.logs.find((l) => l.message === 'remove failed') as
      | { error?: { code?: string; message?: string } }
      | undefined;
    return {
      result: r.result as { outcome: string; status?: string },
      failure: failure?.error?.message,
      code: failure?.error?.code,
    };
  }

  it('is read when a function with TIMEBOX_GCP ends a gcp-role grant, and is what that needs', async () => {
    // Prepare
    const withChunk = await expiredGrant();
    const withoutChunk = await expiredGrant();
    // Act
    const present = await expire(withChunk, { gcp: true, chunk: true });
    const missing = await expire(withoutChunk, { gcp: true, chunk: false });
    // Assess: both grants expire (access ends by itself); removing the binding is what needs the chunk. With it, the
    // GCP provider runs and fails only on the network the test refuses; without it, the import itself fails.
    expect(present.result).toMatchObject({ outcome: 'done', status: 'expired' });
    expect(missing.result).toMatchObject({ outcome: 'done', status: 'expired' });
    expect(present.failure).toBe(
      'could not get a GCP token through Workload Identity Federation: network access refused by the test',
    );
    // The chunk's GcpError is a TimeboxError of the entry's own core/errors (one shared copy), so its code counts.
    expect(present.code).toBe('GCP.AUTH_FAILED');
    expect(missing.failure).toMatch(/Cannot find module .*provider-[A-Z0-9]+\.mjs/);
  }, 60_000);

  it('is never read by a function without TIMEBOX_GCP, even for a gcp-role grant', async () => {
    // Prepare
    const id = await expiredGrant();
    // Act: the chunk is not even there
    const r = await expire(id, { gcp: false, chunk: false });
    // Assess: expired, no provider to call, nothing failed
    expect(r.result).toMatchObject({ outcome: 'done', status: 'expired' });
    expect(r.failure).toBeUndefined();
  }, 60_000);
});
