import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ApiClient, authFor } from '../../../cli/client';
import {
  type BrokerRecord,
  homeRecordPath,
  locateBroker,
  readRecordFile,
  removeBrokerRecord,
  resolveEndpoint,
  saveToken,
  userRecordPath,
  writeBrokerRecord,
} from '../../../cli/endpoint';
import { stubEnv, stubGlobal, unstubAllEnvs, unstubAllGlobals } from '../../helpers/runner';

afterEach(() => {
  unstubAllGlobals();
  unstubAllEnvs();
});

describe('Function: resolveEndpoint', () => {
  it.each([
    'http://127.0.0.1:8787//evil.example/',
    'http://127.0.0.1:8787/\\evil.example/',
    'https://abc123defg.execute-api.eu-west-1.amazonaws.com//evil.example/live',
  ])('refuses %s, whose path would resolve to another host', (raw) => {
    expect(() => resolveEndpoint(raw, {})).toThrow(/empty path segment or a backslash/);
  });

  it('refuses plain http beyond loopback and accepts it on loopback', () => {
    expect(() => resolveEndpoint('http://broker.example', {})).toThrow(/plain http is only allowed to a loopback/);
    for (const raw of ['http://127.0.0.1:8787', 'http://localhost:8787/', 'http://[::1]:8787'])
      expect(resolveEndpoint(raw, {}).protocol).toBe('http:');
  });
});

describe('Class: ApiClient', () => {
  it('sends every request, and its credentials, only to the endpoint origin', async () => {
    // Prepare: an endpoint URL built by hand, past resolveEndpoint
    const fetch = jest.fn(async () => new Response('{}', { status: 200 }));
    stubGlobal('fetch', fetch);
    const auth = jest.fn(async ({ headers }: { headers: Record<string, string> }) => ({
      ...headers,
      authorization: 'x',
    }));
    const sneaky = new ApiClient(new URL('http://127.0.0.1:8787//evil.example/'), auth);
    const fine = new ApiClient(new URL('http://127.0.0.1:8787/base/'), auth);
    // Act
    await fine.call('GET', '/v1/requests');
    await sneaky.call('GET', '/v1/requests');
    // Assess: the path stays a path on the endpoint's host
    const sent = fetch.mock.calls.map((c) => new URL(String((c as unknown[])[0])));
    expect(sent.map((u) => u.origin)).toEqual(['http://127.0.0.1:8787', 'http://127.0.0.1:8787']);
    expect(sent[0]?.pathname).toBe('/base/v1/requests');
  });
});

describe('Function: authFor', () => {
  it('signs every call to an API Gateway endpoint, even when TIMEBOX_TOKEN is set', async () => {
    stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
    stubEnv('AWS_SECRET_ACCESS_KEY', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
    const url = new URL('https://abc123defg.execute-api.eu-west-1.amazonaws.com/live/v1/requests');
    const headers = await authFor(new URL('https://abc123defg.execute-api.eu-west-1.amazonaws.com/live'), {
      TIMEBOX_TOKEN: 'local-session-token',
    })({ method: 'GET', url, headers: {} });
    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
    expect(JSON.stringify(headers)).not.toContain('local-session-token');
  });

  it('sends the bearer token to a local broker', async () => {
    const url = new URL('http://127.0.0.1:8787/v1/requests');
    const headers = await authFor(new URL('http://127.0.0.1:8787'), { TIMEBOX_TOKEN: 'local-session-token' })({
      method: 'GET',
      url,
      headers: {},
    });
    expect(headers.authorization).toBe('Bearer local-session-token');
  });
});

describe('Function: saveToken', () => {
  const endpoint = new URL('http://127.0.0.1:8787');

  it('leaves the token file owner-only even when an older file was readable by others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'timebox-tokens-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, '{}\n', { mode: 0o644 });
    saveToken(endpoint, 'secret-token', { TIMEBOX_CONFIG_DIR: dir });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'http://127.0.0.1:8787': 'secret-token' });
  });

  it('replaces a symlink in place of the file instead of writing through it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'timebox-tokens-'));
    const elsewhere = join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, '{}\n', { mode: 0o644 });
    symlinkSync(elsewhere, join(dir, 'tokens.json'));
    saveToken(endpoint, 'secret-token', { TIMEBOX_CONFIG_DIR: dir });
    expect(readFileSync(elsewhere, 'utf8')).toBe('{}\n');
    expect(lstatSync(join(dir, 'tokens.json')).isSymbolicLink()).toBe(false);
  });
});

describe('Function: locateBroker', () => {
  // Records name this test's own process (alive) unless a test says otherwise.
  const alive = () => true;
  function layout() {
    const root = mkdtempSync(join(tmpdir(), 'timebox-locate-'));
    const cwd = join(root, 'project');
    mkdirSync(cwd);
    const env = { TIMEBOX_CONFIG_DIR: join(root, 'config') };
    const record = (partial: Partial<BrokerRecord>): BrokerRecord => ({
      url: 'http://127.0.0.1:9000',
      pid: process.pid,
      home: join(root, 'broker-home'),
      startedAt: '2026-11-24T10:00:00.000Z',
      ...partial,
    });
    return { root, cwd, env, record };
  }

  it('finds the broker this user started last, from any folder, with its data directory', () => {
    // Prepare: `PORT=9000 TIMEBOX_HOME=<root>/broker-home npm start`, then a shell elsewhere with no variables.
    const { cwd, env, record } = layout();
    mkdirSync(record({}).home);
    writeBrokerRecord(record({}), env);
    // Act
    const found = locateBroker({ env, cwd, alive });
    // Assess
    expect(found).toEqual({ home: record({}).home, url: 'http://127.0.0.1:9000', from: 'last started broker' });
    expect(resolveEndpoint(undefined, env, { cwd }).origin).toBe('http://127.0.0.1:9000');
    expect(statSync(userRecordPath(env)).mode & 0o777).toBe(0o600);
    expect(statSync(homeRecordPath(record({}).home)).mode & 0o777).toBe(0o600);
  });

  it('takes --home or TIMEBOX_HOME over everything, then a broker running from ./.timebox', () => {
    const { root, cwd, env, record } = layout();
    const other = join(root, 'other-home');
    mkdirSync(other);
    mkdirSync(join(cwd, '.timebox'));
    writeBrokerRecord(record({ url: 'http://127.0.0.1:9001', home: other }), env);
    writeBrokerRecord(record({ url: 'http://127.0.0.1:9002', home: join(cwd, '.timebox') }), env);
    // The user record now names ./.timebox's broker; the other home keeps its own record.
    expect(locateBroker({ env: { ...env, TIMEBOX_HOME: other }, cwd, alive })).toMatchObject({
      home: other,
      url: 'http://127.0.0.1:9001',
      from: 'TIMEBOX_HOME',
    });
    expect(locateBroker({ home: '../other-home', env, cwd, alive })).toMatchObject({ home: other, from: '--home' });
    expect(locateBroker({ env, cwd, alive })).toMatchObject({
      home: join(cwd, '.timebox'),
      url: 'http://127.0.0.1:9002',
      from: 'working directory',
    });
    // And the endpoint flag and TIMEBOX_ENDPOINT still come first.
    expect(resolveEndpoint('http://127.0.0.1:7000', { ...env, TIMEBOX_HOME: other }, { cwd }).port).toBe('7000');
    expect(resolveEndpoint(undefined, { ...env, TIMEBOX_ENDPOINT: 'http://localhost:7001' }, { cwd }).port).toBe(
      '7001',
    );
  });

  it('ignores a broker that is gone, and falls back to ./.timebox and the default endpoint', () => {
    const { cwd, env, record } = layout();
    mkdirSync(record({}).home);
    writeBrokerRecord(record({}), env);
    expect(locateBroker({ env, cwd, alive: () => false })).toEqual({ home: join(cwd, '.timebox'), from: 'default' });
    // A real dead pid: one past the highest the kernel hands out is never alive.
    writeBrokerRecord(record({ pid: 2 ** 22 + 1 }), env);
    expect(resolveEndpoint(undefined, env, { cwd }).origin).toBe('http://127.0.0.1:8787');
  });

  it('never trusts a record another user could have written or redirected', () => {
    const { root, cwd, record } = layout();
    const home = join(cwd, '.timebox');
    mkdirSync(home);
    const file = homeRecordPath(home);
    const text = JSON.stringify(record({ home, url: 'http://127.0.0.1:6666' }));
    // Group- or world-writable: anyone could have put the URL there.
    writeFileSync(file, text, { mode: 0o600 });
    chmodSync(file, 0o622);
    expect(readRecordFile(file, { alive })).toBeUndefined();
    // A symlink to a file elsewhere.
    const elsewhere = join(root, 'planted.json');
    writeFileSync(elsewhere, text, { mode: 0o600 });
    symlinkSync(elsewhere, join(root, 'link.json'));
    expect(readRecordFile(join(root, 'link.json'), { alive })).toBeUndefined();
    expect(readRecordFile(elsewhere, { alive })?.url).toBe('http://127.0.0.1:6666');
    // Owned by someone else (only root can hand a file to another user, so only root can show it here).
    if (process.getuid?.() === 0) {
      chownSync(elsewhere, 4321, 4321);
      expect(readRecordFile(elsewhere, { alive })).toBeUndefined();
    }
    // Not a record at all.
    writeFileSync(elsewhere, '{"url": 1}', { mode: 0o600 });
    expect(readRecordFile(elsewhere, { alive })).toBeUndefined();
  });

  it('removes only the records that still name the stopping broker', () => {
    const { cwd, env, record } = layout();
    const first = record({ home: join(cwd, 'a'), pid: 1001 });
    const second = record({ home: join(cwd, 'b'), pid: 1002 });
    mkdirSync(first.home);
    mkdirSync(second.home);
    writeBrokerRecord(first, env);
    writeBrokerRecord(second, env);
    removeBrokerRecord(first.home, first.pid, env);
    expect(existsSync(homeRecordPath(first.home))).toBe(false);
    expect(readRecordFile(userRecordPath(env), { alive })?.pid).toBe(1002);
    removeBrokerRecord(second.home, second.pid, env);
    expect(existsSync(userRecordPath(env))).toBe(false);
  });
});
