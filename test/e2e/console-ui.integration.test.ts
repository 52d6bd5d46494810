import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Browser } from 'playwright-core';
import { authFor } from '../../cli/client';
import { startUiServer, type UiServer } from '../../cli/ui-server';
import { buildWeb } from '../../scripts/build';
import { launchChromium } from '../helpers/chromium';
import { runCli } from '../helpers/cli';

/**
 * `timebox ui` against a stand-in for the deployed API that checks every call's SigV4 signature by signing the same
 * request again with the same credentials (the signature API Gateway's IAM auth checks), in headless Chromium.
 */

declare const document: { querySelector(s: string): { textContent: string | null } | null };

const ROOT = join(__dirname, '..', '..');
const CREDS = { accessKeyId: 'AKIDTIMEBOXTEST', secretAccessKey: 'timebox-test-secret-key' };
const ENV = {
  AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  TIMEBOX_AWS_REGION: 'us-east-1',
  TIMEBOX_TOKEN: undefined,
};

interface Seen {
  method: string;
  path: string;
  signed: boolean;
  cookie: boolean;
  csrf: boolean;
}
const seen: Seen[] = [];
let api: Server;
let apiUrl: URL;
let ui: UiServer;
let browser: Browser;
let home: string;
const saved: Record<string, string | undefined> = {};

/** The stand-in's check: the Authorization header equals a fresh signature of the signed headers and body. */
async function verifySigV4(req: IncomingMessage, body: string): Promise<boolean> {
  const auth = req.headers.authorization ?? '';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/execute-api\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(
      auth,
    );
  const amzDate = req.headers['x-amz-date'];
  if (!m || typeof amzDate !== 'string' || m[1] !== CREDS.accessKeyId) return false;
  const signedHeaders = (m[4] as string).split(';');
  const headers: Record<string, string> = {};
  for (const h of signedHeaders) headers[h] = String(req.headers[h] ?? '');
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const again = await new SignatureV4({
    service: 'execute-api',
    region: m[3] as string,
    credentials: CREDS,
    sha256: Sha256,
  }).sign(
    new HttpRequest({
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body ? { body } : {}),
    }),
    {
      signingDate: new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z')),
    },
  );
  return again.headers.authorization === auth;
}

beforeAll(async () => {
  for (const [k, v] of Object.entries(ENV)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  api = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signed = await verifySigV4(req, body);
      const path = (req.url ?? '').split('?')[0] as string;
      seen.push({
        method: req.method ?? '',
        path,
        signed,
        cookie: req.headers.cookie !== undefined,
        csrf: req.headers['x-timebox-csrf'] !== undefined,
      });
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (!signed) return send(403, { message: 'The request signature we calculated does not match' });
      if (path === '/v1/eligibility')
        return send(200, {
          principal: { id: 'alice@corp.com', groups: ['sre'], mfa: true, auditor: false },
          options: [],
        });
      if (path === '/v1/requests') return send(200, { grants: [] });
      send(404, { error: { code: 'ROUTE.NOT_FOUND', message: 'no such route' } });
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  apiUrl = new URL(`http://127.0.0.1:${(api.address() as AddressInfo).port}`);
  home = mkdtempSync(join(tmpdir(), 'timebox-ui-'));
  await buildWeb(ROOT, join(home, 'web'));
  ui = await startUiServer({ endpoint: apiUrl, auth: authFor(apiUrl), port: 0, webRoot: join(home, 'web') });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
  if (home) rmSync(home, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('timebox ui', () => {
  it('forwards nothing without a session: the AWS credentials are not lent to other users or pages', async () => {
    const r = await fetch(`${ui.url}/v1/eligibility`, { headers: { 'x-timebox-csrf': '1' } });
    expect(r.status).toBe(401);
    const evil = await fetch(`${ui.url}/v1/eligibility`, {
      headers: {
        'x-timebox-csrf': '1',
        cookie: `timebox_session_${new URL(ui.url).port}=x`,
        origin: 'https://evil.example',
      },
    });
    expect(evil.status).toBe(403);
    expect(seen).toEqual([]);
  });

  it('answers only on loopback names (DNS rebinding)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(ui.url);
      httpRequest({ host: u.hostname, port: u.port, path: '/', headers: { host: 'rebound.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(421);
  });

  it('signs the browser in with its one-time link and forwards its calls signed with SigV4', async () => {
    const link = await ui.signinLink();
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(link);
    await page.locator('header .who').filter({ hasText: 'alice@corp.com (MFA)' }).waitFor();
    expect(page.url()).toBe(`${ui.url}/#/grants`);
    await page.locator('main h2', { hasText: 'Pending' }).waitFor();
    expect(await page.evaluate(() => document.querySelector('main')?.textContent ?? '')).toContain('None.');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.map((s) => s.path)).toEqual(expect.arrayContaining(['/v1/eligibility', '/v1/requests']));
    // Every call arrived signed, and the browser's session never left this machine.
    expect(seen.every((s) => s.signed && !s.cookie && !s.csrf)).toBe(true);

    const again = await browser.newContext();
    const replay = await again.newPage();
    await replay.goto(link);
    await expect(replay.locator('[role=alert]').textContent()).resolves.toContain('SIGNIN.CODE_USED');
    await ctx.close();
    await again.close();
  });

  it('has a stand-in that refuses a wrong signature (the check above can fail)', async () => {
    const before = seen.length;
    const wrong = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: { ...CREDS, secretAccessKey: 'not-the-secret' },
      sha256: Sha256,
    });
    const signed = await wrong.sign(
      new HttpRequest({
        method: 'GET',
        protocol: 'http:',
        hostname: apiUrl.hostname,
        port: Number(apiUrl.port),
        path: '/v1/eligibility',
        headers: { host: apiUrl.host },
      }),
    );
    const r = await fetch(`${apiUrl.origin}/v1/eligibility`, { headers: signed.headers as Record<string, string> });
    expect(r.status).toBe(403);
    expect(seen[before]?.signed).toBe(false);
  });

  it('refuses to run against a local broker, which serves the console itself', async () => {
    const r = await runCli(['ui', '--endpoint', 'http://127.0.0.1:8787'], { TIMEBOX_AWS_REGION: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('timebox ui is for a deployed API');
  });
});
