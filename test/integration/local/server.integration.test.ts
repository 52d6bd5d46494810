import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalBroker, startLocalBroker } from '../../../local/broker';
import { examplePolicyPath } from '../../../local/paths';
import { sessionToken, startTestBroker, type TestBroker } from '../../helpers/broker';
import { expectWith } from '../../helpers/runner';

/**
 * The node:http adapter of the local broker on loopback: what reaches `createApi` (source IP, repeated query
 * parameters, body limit, request id) and which routes need a session token.
 */

let test: TestBroker;
let broker: LocalBroker;
let alice: string;
const lines: string[] = [];

beforeAll(async () => {
  test = await startTestBroker('server', { out: { write: (l: string) => lines.push(l) } });
  broker = test.broker;
  alice = await sessionToken(broker, 'alice@corp.com');
});

afterAll(async () => {
  await test?.stop();
});

/** A raw request, for what fetch will not send (repeated headers, lying lengths). */
function raw(
  path: string,
  opts: { method?: string; headers?: [string, string][]; body?: string; host?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(broker.url);
  return new Promise((resolve, reject) => {
    // Raw header pairs (the only way to send one header twice) get no Host header added, so it goes first here.
    const headers = [['host', opts.host ?? url.host], ...(opts.headers ?? [])].flat();
    const req = httpRequest(
      { host: url.hostname, port: url.port, path, method: opts.method ?? 'GET', headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

const bearer = (t: string): [string, string] => ['authorization', `Bearer ${t}`];

describe('Function: createRequestListener', () => {
  it('serves health, keys and the revocation feed without a token', async () => {
    for (const path of ['/healthz', '/.well-known/jwks.json', '/.well-known/timebox/revocations.json']) {
      const res = await fetch(`${broker.url}${path}`);
      expectWith(res.status, path).toBe(200);
    }
    const jwks = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([broker.runtime.signer.kid]);
  });

  it('refuses every other route without a token: 401, a Bearer challenge and a request id', async () => {
    const res = await raw('/v1/requests');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="timebox"');
    expect(JSON.parse(res.body).error.code).toBe('AUTH.MISSING_TOKEN');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers only loopback Host names: a rebound DNS name reaches nothing, not even the public routes', async () => {
    const port = new URL(broker.url).port;
    for (const host of [`evil.example:${port}`, 'evil.example', `10.0.0.1:${port}`]) {
      const r = await raw('/healthz', { host });
      expect(r.status).toBe(421);
      expect(JSON.parse(r.body).error.code).toBe('REQUEST.HOST_NOT_ALLOWED');
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      expect((await raw('/healthz', { host })).status).toBe(200);
    expect((await raw('/v1/requests', { host: `localhost:${port}`, headers: [bearer(alice)] })).status).not.toBe(421);
  });

  it('refuses two authorization headers, even when one is valid', async () => {
    const res = await raw('/v1/requests', { headers: [bearer(alice), ['authorization', 'Bearer x.y.z']] });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).error.code).toBe('AUTH.MALFORMED_TOKEN');
  });

  it('passes a repeated query parameter on as a list, which the API refuses', async () => {
    const res = await raw('/v1/requests?status=active&status=pending', { headers: [bearer(alice)] });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatchObject({
      code: 'REQUEST.INVALID_QUERY',
      message: 'query parameter status is given more than once',
    });
  });

  it('refuses a body over the limit with 413, both declared and streamed, and closes the connection', async () => {
    const big = JSON.stringify({ target: 'user-service', duration: '30m', reason: 'x'.repeat(20_000) });
    const declared = await raw('/v1/requests', {
      method: 'POST',
      headers: [bearer(alice), ['content-type', 'application/json'], ['content-length', String(big.length)]],
      body: big,
    });
    const chunked = await raw('/v1/requests', {
      method: 'POST',
      headers: [bearer(alice), ['content-type', 'application/json'], ['transfer-encoding', 'chunked']],
      body: big,
    });
    for (const res of [declared, chunked]) {
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).error.code).toBe('REQUEST.TOO_LARGE');
      expect(res.headers.connection).toBe('close');
    }
    const mine = await (
      await fetch(`${broker.url}/v1/requests`, { headers: { authorization: `Bearer ${alice}` } })
    ).json();
    expect((mine as { grants: unknown[] }).grants).toEqual([]);
  });

  it('records the socket peer as the source IP, whatever X-Forwarded-For says', async () => {
    // Act
    const res = await fetch(`${broker.url}/v1/requests`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        'x-forwarded-for': '10.9.9.9',
      },
      body: JSON.stringify({ target: 'user-service', duration: '30m', reason: 'source ip' }),
    });
    const body = (await res.json()) as { grant: { id: string; requester: { sourceIp?: string } } };
    // Assess
    expect(res.status).toBe(201);
    expect(body.grant.requester.sourceIp).toBe('127.0.0.1');
    expect(lines.some((l) => l.includes(`grant ${body.grant.id} #1 requested by alice@corp.com`))).toBe(true);
  });

  it('answers an unknown route 404 and an unknown method 405, never a stack trace', async () => {
    const unknown = await raw('/v2/anything', { headers: [bearer(alice)] });
    const method = await raw('/v1/requests', { method: 'DELETE', headers: [bearer(alice)] });
    expect(unknown.status).toBe(404);
    expect(method.status).toBe(405);
    expect(`${unknown.body}${method.body}`).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('Function: startLocalBroker', () => {
  it('refuses a non-loopback host without allowRemote, before binding anything', async () => {
    await expect(
      startLocalBroker({
        home: test.home,
        configFile: examplePolicyPath() as string,
        host: '0.0.0.0',
        port: 0,
        memory: true,
      }),
    ).rejects.toMatchObject({ code: 'LOCAL.REMOTE_NOT_ALLOWED' });
  });

  it('names a port in use', async () => {
    const port = Number(new URL(broker.url).port);
    await expect(
      startLocalBroker({
        home: test.home,
        configFile: examplePolicyPath() as string,
        host: '127.0.0.1',
        port,
        memory: true,
      }),
    ).rejects.toMatchObject({ code: 'LOCAL.PORT_IN_USE' });
  });

  it('refuses an invalid policy file with every problem', async () => {
    const bad = join(test.home, 'bad.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, 'version: 1\ntargets: {}\nrules: []\n');
    await expect(
      startLocalBroker({ home: test.home, configFile: bad, host: '127.0.0.1', port: 0, memory: true }),
    ).rejects.toMatchObject({ code: 'LOCAL.CONFIG_INVALID' });
  });
});
