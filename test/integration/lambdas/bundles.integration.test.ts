import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coldRequire, dummyLambdaEnv, writePolicyBundle } from '../../../bench/sections/bundles';
import { buildLambdas, bundleProblems, type LambdaBundle, MAX_BUNDLE_BYTES } from '../../../scripts/build';
import fixture from '../../unit/lambdas/fixtures/apigw-rest-iam-event.json';

/**
 * The real Lambda bundles, built as `npm run build` builds them: what they contain (read from esbuild's metafile)
 * and whether each one starts in a fresh `node` process with the network blocked and answers an invocation
 * that needs no AWS call.
 */

const ROOT = join(__dirname, '..', '..', '..');
const POLICY_YAML = join(ROOT, 'test/fixtures/policies/design-example.yaml');
/** The policy bundle the stack packages for that file, written next to the bundles in beforeAll. */
let POLICY: string;
/**
 * Where the bundles are today (about 1.1-1.2 MB; see the README for what they are made of): held here so growth
 * is noticed. The 400 KB target (MAX_BUNDLE_BYTES) is not met with the AWS SDK, zod 4, yaml and
 * google-auth-library bundled; `npm run build` prints a warning for it.
 */
const REGRESSION_CEILING_BYTES = 1300 * 1024;

let out: string;
let bundles: LambdaBundle[];
const byName = (name: string) => bundles.find((b) => b.name === name) as LambdaBundle;
const inputsOf = (b: LambdaBundle) => Object.keys(b.metafile.inputs);
const packageIn = (b: LambdaBundle, pkg: string) => inputsOf(b).some((p) => p.includes(`node_modules/${pkg}/`));

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'timebox-lambdas-'));
  bundles = await buildLambdas(ROOT, out);
  POLICY = writePolicyBundle(out, POLICY_YAML);
}, 240_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/**
 * Invokes a bundle's handler once in a fresh process (network blocked): what it resolved to, and the JSON log
 * lines it wrote (Powertools writes them to stdout and stderr, so the result goes on its own marked line).
 */
function invoke(file: string, event: unknown): { result: unknown; logs: Record<string, unknown>[] } {
  const script = `
    require('node:net').Socket.prototype.connect = () => { throw new Error('network access'); };
    const { handler } = require(process.argv[1]);
    handler(JSON.parse(process.argv[2]), { awsRequestId: 'it-1', functionName: 'timebox' })
      .then((r) => process.stdout.write('\\nRESULT ' + JSON.stringify(r) + '\\n'), (e) => { process.stderr.write(String(e)); process.exit(1); });
  `;
  const r = spawnSync(process.execPath, ['-e', script, file, JSON.stringify(event)], {
    env: dummyLambdaEnv(POLICY),
    encoding: 'utf8',
    timeout: 60_000,
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

describe('Lambda bundles', () => {
  it('builds api, revoke and sweeper with source maps and metafiles', () => {
    expect(bundles.map((b) => b.name)).toEqual(['api', 'revoke', 'sweeper']);
    for (const b of bundles) {
      expect(existsSync(`${b.file}.map`)).toBe(true);
      expect(existsSync(join(out, b.name, 'meta.json'))).toBe(true);
    }
  });

  it('never bundles the AGPL simulator, nor imports it at run time', () => {
    for (const b of bundles) {
      expect(bundleProblems(b).fatal).toEqual([]);
      const imports = Object.values(b.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
      expect([...inputsOf(b), ...imports].some((p) => p.includes('@cloud-copilot'))).toBe(false);
    }
  });

  it('keeps AWS SDK clients a handler never uses out of its bundle', () => {
    expect(packageIn(byName('api'), '@aws-sdk/client-kms')).toBe(true);
    for (const name of ['revoke', 'sweeper']) expect(packageIn(byName(name), '@aws-sdk/client-kms')).toBe(false);
    for (const b of bundles)
      for (const unused of ['client-athena', 'client-eventbridge', 'client-secrets-manager'])
        expect(packageIn(b, `@aws-sdk/${unused}`)).toBe(false);
    // One locale of zod, not fifty.
    for (const b of bundles) {
      expect(inputsOf(b).some((p) => p.endsWith('zod/v4/locales/en.js'))).toBe(true);
      expect(inputsOf(b).some((p) => p.endsWith('zod/v4/locales/fr.js'))).toBe(false);
    }
  });

  it('stays under the size ceiling (and reports the 400 KB target it does not meet)', () => {
    for (const b of bundles) {
      expect(b.bytes).toBeLessThan(REGRESSION_CEILING_BYTES);
      expect(bundleProblems(b).warnings.length > 0).toBe(b.bytes > MAX_BUNDLE_BYTES);
    }
  });

  it('starts each bundle in a fresh process without touching the network', () => {
    for (const b of bundles) expect(coldRequire(b.file, dummyLambdaEnv(POLICY)).handler).toBe('function');
  });

  it('fails a cold start whose configuration is wrong, naming the variable', () => {
    const env = { ...dummyLambdaEnv(POLICY), TIMEBOX_IDENTITY: '{"accounts":[]}' };
    expect(() => coldRequire(byName('api').file, env)).toThrow(/TIMEBOX_IDENTITY/);
    const noPolicy = dummyLambdaEnv(join(out, 'missing.json'));
    expect(() => coldRequire(byName('revoke').file, noPolicy)).toThrow(/cannot read the policy bundle/);
    const yaml = dummyLambdaEnv(POLICY_YAML);
    expect(() => coldRequire(byName('sweeper').file, yaml)).toThrow(/invalid policy bundle .*design-example\.yaml/);
  });

  it('answers API Gateway events that need no AWS call', () => {
    const api = byName('api').file;
    const health = invoke(api, { ...fixture, httpMethod: 'GET', resource: '/healthz', path: '/healthz', body: null });
    expect(health.result).toMatchObject({ statusCode: 200, body: '{"ok":true}' });
    const anonymous = invoke(api, {
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

  it('drops a malformed schedule event in the revoke bundle without throwing', () => {
    const { result, logs } = invoke(byName('revoke').file, { grantId: 'nope' });
    expect(result).toEqual({ outcome: 'dropped', reason: 'malformed event' });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'malformed schedule event dropped',
        service: 'timebox-revoke',
        function_request_id: 'it-1',
      }),
    );
  });
});
