import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  CACHE_MARGIN_MS,
  type CacheKey,
  cacheDir,
  cachePath,
  identityOf,
  readCached,
  writeCached,
} from '../../../cli/credential-cache';
import { EXIT } from '../../../cli/errors';
import type { Grant } from '../../../core/grant/state';
import { runCli } from '../../helpers/cli';
import { unstubAllGlobals } from '../../helpers/runner';
import { type BrokerCall, fakeBroker, grantDummy } from './fake-broker';

const ENDPOINT = 'http://127.0.0.1:8787';
const MIN = 60_000;
let dir: string;
let env: Record<string, string | undefined>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'timebox-cache-'));
  env = {
    TIMEBOX_ENDPOINT: ENDPOINT,
    TIMEBOX_TOKEN: 'session-token',
    TIMEBOX_AWS_REGION: undefined,
    TIMEBOX_CONFIG_DIR: dir,
    AWS_PROFILE: undefined,
    AWS_DEFAULT_PROFILE: undefined,
    AWS_ACCESS_KEY_ID: undefined,
  };
});

afterEach(() => {
  unstubAllGlobals();
  rmSync(dir, { recursive: true, force: true });
});

/** STS credentials expiring `inMs` from now, with a secret the tests look for in places it must not be. */
function sts(inMs = 60 * MIN, n = 1) {
  return {
    Version: 1,
    AccessKeyId: `ASIACACHED${n}`,
    SecretAccessKey: `very-secret-${n}`,
    SessionToken: `session-${n}`,
    Expiration: new Date(Date.now() + inMs).toISOString(),
  };
}

/** A broker whose one grant the test can revoke or end between runs; counts credentials calls. */
function broker(opts: { credentialsIn?: number } = {}) {
  let grant: Grant = grantDummy();
  let n = 0;
  const b = fakeBroker({
    'GET /v1/requests?mine=true&limit=100': () => ({ status: 200, body: { grants: [grant] } }),
    [`GET /v1/requests/${grant.id}`]: () => ({ status: 200, body: { grant } }),
    [`POST /v1/grants/${grant.id}/credentials`]: () =>
      grant.status === 'active'
        ? { status: 200, body: sts(opts.credentialsIn, ++n) }
        : { status: 409, body: { error: { code: 'GRANT.NOT_ACTIVE', message: 'not active' } } },
    'POST /v1/requests': () => ({
      status: 403,
      body: { error: { code: 'REQUEST.DENIED', message: 'denied', reasons: [{ code: 'X.Y', message: 'no' }] } },
    }),
  });
  const issued = () => b.calls.filter((c: BrokerCall) => c.path.endsWith('/credentials')).length;
  return {
    ...b,
    issued,
    grant: () => grant,
    set: (partial: Partial<Grant>) => {
      grant = { ...grant, ...partial };
    },
  };
}

const ARGS = ['credential-process', '--target', 'prod-logs'];
const keyFor = (target = 'prod-logs', scopes: string[] = []): CacheKey => ({
  endpoint: `${ENDPOINT}/`,
  identity: identityOf({ TIMEBOX_TOKEN: 'session-token' }),
  target,
  scopes,
});

describe('Command: credential-process (cache)', () => {
  it('serves a second call within validity from the cache: no credentials call, one status read', async () => {
    // Prepare
    const b = broker();
    // Act
    const first = await runCli(ARGS, env);
    const second = await runCli(ARGS, env);
    // Assess
    expect(first.code).toBe(EXIT.ok);
    expect(second).toEqual({ code: EXIT.ok, stdout: first.stdout, stderr: '' });
    expect(b.issued()).toBe(1);
    expect(b.calls.slice(2).map((c) => `${c.method} ${c.path}`)).toEqual([`GET /v1/requests/${b.grant().id}`]);
  });

  it('never serves a revoked grant: the entry is dropped and nothing cached is printed', async () => {
    const b = broker();
    const first = await runCli(ARGS, env);
    b.set({ status: 'revoked', endedAt: new Date().toISOString() });

    const second = await runCli(ARGS, env);

    expect(second.code).toBe(EXIT.failed);
    expect(second.stdout).toBe('');
    expect(second.stderr).not.toContain(JSON.parse(first.stdout).SecretAccessKey);
    expect(readdirSync(cacheDir(env))).toEqual([]);
  });

  it('never serves credentials within 5 minutes of their expiry, nor those of an ended grant', async () => {
    const b = broker({ credentialsIn: CACHE_MARGIN_MS - MIN });
    await runCli(ARGS, env);
    await runCli(ARGS, env);
    expect(b.issued()).toBe(2);

    const c = broker();
    await runCli(ARGS, env);
    c.set({ expiresAt: new Date(Date.now() - 1000).toISOString() });
    // The cached credentials still run an hour, but the grant says it has ended.
    expect((await runCli(ARGS, env)).stdout).toBe('');
  });

  it('does not serve a grant the broker no longer shows, nor any while the broker fails', async () => {
    const b = broker();
    await runCli(ARGS, env);
    const id = b.grant().id;
    unstubAllGlobals();
    fakeBroker({
      [`GET /v1/requests/${id}`]: () => ({ status: 503, body: { error: { code: 'X', message: 'down' } } }),
    });
    expect((await runCli(ARGS, env)).stdout).toBe('');
    // A failing broker is no proof of anything: the entry stays for when it answers again.
    expect(readdirSync(cacheDir(env))).toHaveLength(1);
    unstubAllGlobals();
    fakeBroker({});
    expect((await runCli(ARGS, env)).stdout).toBe('');
    expect(readdirSync(cacheDir(env))).toEqual([]);
    expect(b.issued()).toBe(1);
  });

  it('keys by target, scopes and identity: another of them is another entry', async () => {
    const b = broker();
    await runCli(ARGS, env);
    await runCli([...ARGS, '--scope', 's3:GetObject', '--scope', 's3:ListBucket'], env);
    await runCli(ARGS, { ...env, AWS_PROFILE: 'other' });
    expect(b.issued()).toBe(3);
    await runCli([...ARGS, '--scope', 'S3:LISTBUCKET', '--scope', 's3:getobject'], env);
    expect(b.issued()).toBe(3);
  });

  it('--no-cache always asks the broker and writes nothing', async () => {
    const b = broker();
    await runCli([...ARGS, '--no-cache'], env);
    await runCli([...ARGS, '--no-cache'], env);
    expect(b.issued()).toBe(2);
    expect(existsSync(cacheDir(env)) ? readdirSync(cacheDir(env)) : []).toEqual([]);
  });

  it('writes the entry 0600 in a 0700 folder, and never prints the secret on stderr', async () => {
    broker();
    const r = await runCli(ARGS, env);
    const file = cachePath(keyFor(), env);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(cacheDir(env)).mode & 0o777).toBe(0o700);
    expect(r.stderr).toBe('');
    expect(readdirSync(cacheDir(env))).toEqual([file.split('/').pop()]);
  });
});

describe('Module: credential-cache', () => {
  const NOW = new Date();
  const entry = () => ({
    grantId: grantDummy().id,
    grantExpiresAt: new Date(NOW.getTime() + 60 * MIN).toISOString(),
    credentials: { ...sts(60 * MIN), Version: 1 as const },
  });

  it('round-trips an entry and refuses one others can read, removing it', () => {
    expect(writeCached(keyFor(), entry(), env)).toBe(true);
    expect(readCached(keyFor(), NOW, env)?.credentials.SecretAccessKey).toBe('very-secret-1');
    chmodSync(cachePath(keyFor(), env), 0o644);
    expect(readCached(keyFor(), NOW, env)).toBeUndefined();
    expect(existsSync(cachePath(keyFor(), env))).toBe(false);
  });

  it('sets a group- or world-accessible folder back to 0700', () => {
    mkdirSync(cacheDir(env), { recursive: true, mode: 0o755 });
    chmodSync(cacheDir(env), 0o755);
    writeCached(keyFor(), entry(), env);
    expect(statSync(cacheDir(env)).mode & 0o777).toBe(0o700);
  });

  it('ignores a corrupt or foreign file safely: undefined, removed, and the next write works', () => {
    const file = cachePath(keyFor(), env);
    for (const junk of ['', '{', 'null', '[]', JSON.stringify({ version: 1, key: 'other', ...entry() })]) {
      mkdirSync(cacheDir(env), { recursive: true, mode: 0o700 });
      writeFileSync(file, junk, { mode: 0o600 });
      expect(readCached(keyFor(), NOW, env)).toBeUndefined();
      expect(existsSync(file)).toBe(false);
    }
    expect(writeCached(keyFor(), entry(), env)).toBe(true);
    expect(readCached(keyFor(), NOW, env)).toBeDefined();
  });

  it('never serves a file that does not parse into a complete entry (property)', () => {
    const file = cachePath(keyFor(), env);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (junk) => {
        mkdirSync(cacheDir(env), { recursive: true, mode: 0o700 });
        writeFileSync(file, junk, { mode: 0o600 });
        expect(readCached(keyFor(), NOW, env)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('replaces a symlink in place of the entry instead of writing through it', () => {
    const elsewhere = join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, 'keep me', { mode: 0o600 });
    mkdirSync(cacheDir(env), { recursive: true, mode: 0o700 });
    symlinkSync(elsewhere, cachePath(keyFor(), env));
    expect(readCached(keyFor(), NOW, env)).toBeUndefined();
    expect(writeCached(keyFor(), entry(), env)).toBe(true);
    expect(readFileSync(elsewhere, 'utf8')).toBe('keep me');
    expect(readCached(keyFor(), NOW, env)).toBeDefined();
  });
});
