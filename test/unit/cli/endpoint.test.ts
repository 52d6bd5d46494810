import { lstatSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ApiClient, authFor } from '../../../cli/client';
import { resolveEndpoint, saveToken } from '../../../cli/endpoint';
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
