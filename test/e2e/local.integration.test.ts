import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { LocalTokenSigner } from '../../adapters/local/signer';
import { EXIT } from '../../cli/errors';
import { sessionPolicy } from '../../core/builders/aws';
import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import { callMethod, exampleServer, listen, shutdown } from '../../grpc/example/service';
import { type TimeboxInterceptor, timeboxAuth } from '../../grpc/interceptor';
import { mintSessionToken } from '../../local/auth';
import { type LocalBroker, startLocalBroker } from '../../local/broker';
import { examplePolicyPath } from '../../local/paths';
import { runCli } from '../helpers/cli';
import { expectWith } from '../helpers/runner';

/**
 * Timebox end to end in local mode, through the real CLI (in-process) against the local broker on loopback, with
 * the example gRPC service behind the real interceptor reading the broker's JWKS and revocation feed. Every test
 * gets its own broker, data (a temporary TIMEBOX_HOME) and service, and walks the steps it needs from the start,
 * so each stands alone and in any order; ports are random.
 */

let home: string;
let configDir: string;
let broker: LocalBroker;
let port: number;
let grpcServer: grpc.Server;
let grpcAddress: string;
let auth: TimeboxInterceptor;
let handled: string[];
let brokerLines: string[];
let tokens: Record<string, string>;

const env = (as?: string) => ({
  TIMEBOX_ENDPOINT: broker.url,
  TIMEBOX_HOME: home,
  TIMEBOX_CONFIG_DIR: configDir,
  TIMEBOX_AWS_REGION: undefined,
  TIMEBOX_TOKEN: as ? tokens[as] : undefined,
});
const cli = (as: string, ...args: string[]) => runCli(args, env(as));
// biome-ignore lint/suspicious/noExplicitAny: the tests read the JSON documents field by field
const json = (r: { stdout: string }): any => JSON.parse(r.stdout);

async function start(): Promise<void> {
  broker = await startLocalBroker({
    home,
    configFile: examplePolicyPath() as string,
    host: '127.0.0.1',
    port,
    // Timers do the work in these tests: the sweeper runs only at start-up.
    sweepIntervalMs: 3_600_000,
    out: { write: (l: string) => brokerLines.push(l) },
  });
  port = Number(new URL(broker.url).port);
}

async function grpcCall(method: string, token: string): Promise<{ ok: boolean; code?: grpc.status; details?: string }> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  try {
    await callMethod(
      grpcAddress,
      method,
      { id: method.endsWith('DeleteUser') ? 'u-unknown' : 'u-1' },
      { metadata: md },
    );
    return { ok: true };
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { ok: false, code: err.code, details: err.details };
  }
}

beforeEach(async () => {
  handled = [];
  brokerLines = [];
  tokens = {};
  home = mkdtempSync(join(tmpdir(), 'timebox-e2e-'));
  configDir = join(home, 'cli-config');
  port = 0;
  await start();
  auth = timeboxAuth({
    jwksUrl: `${broker.url}/.well-known/jwks.json`,
    issuer: broker.url,
    audience: 'user-service',
    revocationsUrl: `${broker.url}/.well-known/timebox/revocations.json`,
    revocationPollMs: 200,
    revocationMaxStalenessMs: 5_000,
  });
  grpcServer = exampleServer({ interceptors: [auth], onHandled: (m) => handled.push(m) });
  grpcAddress = `127.0.0.1:${await listen(grpcServer, '127.0.0.1', 0)}`;
  for (const who of ['alice', 'carol', 'dan']) {
    const r = await runCli(['login', '--local', '--as', `${who}@corp.com`, '--mfa', '--print'], env());
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
    tokens[who] = r.stdout.trim();
  }
});

afterEach(async () => {
  auth?.close();
  if (grpcServer) await shutdown(grpcServer);
  await broker?.close();
  rmSync(home, { recursive: true, force: true });
});

/** Alice asks for the admin scope of user-service; returns the pending grant's id. */
async function requestAdmin(): Promise<string> {
  const r = await cli(
    'alice',
    'request',
    'user-service',
    '--scope',
    '/acme.admin.*',
    '--for',
    '10m',
    '--reason',
    'INC-9 reset a locked admin',
    '--json',
  );
  expectWith(r.code, r.stderr).toBe(EXIT.ok);
  return json(r).grant.id;
}

/** requestAdmin, approved by carol and dan: returns the active grant's id and alice's token for the service. */
async function adminToken(): Promise<{ id: string; token: string }> {
  const id = await requestAdmin();
  for (const who of ['carol', 'dan']) {
    const r = await cli(who, 'approve', id);
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
  }
  const r = await cli('alice', 'token', id);
  expectWith(r.code, r.stderr).toBe(EXIT.ok);
  return { id, token: r.stdout.trim() };
}

/** Alice's aws-role request for prod-logs, auto-approved: the active grant. */
async function requestLogs(duration = '30m'): Promise<Grant> {
  const r = await cli('alice', 'request', 'prod-logs', '--for', duration, '--reason', 'INC-10 read logs', '--json');
  expectWith(r.code, r.stderr).toBe(EXIT.ok);
  return json(r).grant as Grant;
}

describe('Local mode end to end: break glass on a gRPC service', () => {
  it('alice asks for the admin scope, which needs two secops approvals', async () => {
    const r = await cli(
      'alice',
      'request',
      'user-service',
      '--scope',
      '/acme.admin.*',
      '--for',
      '10m',
      '--reason',
      'INC-9 reset a locked admin',
      '--json',
    );
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
    const { grant, decision } = json(r);
    expect(grant.status).toBe('pending');
    expect(decision).toMatchObject({ decision: 'needs-approval', rule: 'admin-break-glass' });
    expect(grant.approval).toMatchObject({ count: 2, from: ['group:secops'] });
  });

  it('alice cannot approve her own request (403 APPROVAL.SELF)', async () => {
    const id = await requestAdmin();
    const r = await cli('alice', 'approve', id, '--json');
    expect(r.code).toBe(EXIT.refused);
    expect(json(r).error).toMatchObject({ code: 'APPROVAL.SELF', status: 403 });
    expect(r.stderr).toBe('timebox: APPROVAL.SELF: a requester can never decide their own request\n');
  });

  it('carol approves; her second approval does not count (409 APPROVAL.DUPLICATE); dan makes it active', async () => {
    const id = await requestAdmin();
    const first = await cli('carol', 'approve', id, '--comment', 'seen INC-9');
    expectWith(first.code, first.stderr).toBe(EXIT.ok);
    expect(first.stdout).toContain(`${id} pending: 1/2 approvals`);
    const again = await cli('carol', 'approve', id, '--json');
    expect(again.code).toBe(EXIT.refused);
    expect(json(again).error).toMatchObject({ code: 'APPROVAL.DUPLICATE', status: 409 });
    const second = await cli('dan', 'approve', id);
    expectWith(second.code, second.stderr).toBe(EXIT.ok);
    expect(second.stdout).toContain(`${id} active on user-service`);
  });

  it('alice gets a token: an in-scope call succeeds, an out-of-scope call is PERMISSION_DENIED', async () => {
    const { token } = await adminToken();
    expect(await grpcCall('/acme.admin.v1.AdminService/ResetPassword', token)).toEqual({ ok: true });
    const outside = await grpcCall('/acme.user.v1.UserService/GetUser', token);
    expect(outside).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    expect(handled).toEqual(['/acme.admin.v1.AdminService/ResetPassword']);
  });

  it('a broker session token is never a grant token for the service', async () => {
    const r = await grpcCall('/acme.admin.v1.AdminService/ResetPassword', tokens.alice as string);
    expect(r).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
    expect(r.details).toContain('wrong-type');
  });

  it('alice revokes; the interceptor refuses her calls once it reads the revocation feed', async () => {
    const { id, token } = await adminToken();
    expect(await grpcCall('/acme.admin.v1.AdminService/ResetPassword', token)).toEqual({ ok: true });
    const r = await cli('alice', 'revoke', id, '--reason', 'INC-9 done');
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toContain(`${id} revoked by alice@corp.com: INC-9 done`);
    let outcome = await grpcCall('/acme.admin.v1.AdminService/ResetPassword', token);
    while (outcome.ok) {
      await new Promise((res) => setTimeout(res, 100));
      outcome = await grpcCall('/acme.admin.v1.AdminService/ResetPassword', token);
    }
    expect(outcome).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(outcome.details).toContain('revoked');
  });

  it('the audit record shows every step, and its hash chain verifies', async () => {
    const { id } = await adminToken();
    const revoke = await cli('alice', 'revoke', id, '--reason', 'INC-9 done');
    expectWith(revoke.code, revoke.stderr).toBe(EXIT.ok);
    const r = await cli('alice', 'show', id, '--json');
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
    const events = json(r).events as GrantEvent[];
    expect(events.map((e) => [e.type, e.actor.id])).toEqual([
      ['requested', 'alice@corp.com'],
      ['approved', 'carol@corp.com'],
      ['approved', 'dan@corp.com'],
      ['activated', 'timebox'],
      ['credentials-issued', 'alice@corp.com'],
      ['revoked', 'alice@corp.com'],
      ['access-removed', 'timebox'],
    ]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const res = await fetch(`${broker.url}/v1/audit/verify?grant=${id}`, {
      headers: { authorization: `Bearer ${tokens.carol}` },
    });
    expect(await res.json()).toMatchObject({ grantId: id, ok: true, events: 7 });
    expect(brokerLines.filter((l) => l.includes(`grant ${id} `))).toHaveLength(7);
  });
});

describe('Local mode end to end: AWS roles, credential_process, logins', () => {
  it('an aws-role request is auto-approved, and its credentials answer shows the session policy', async () => {
    const grant = await requestLogs();
    expect(grant.status).toBe('active');
    const c = await cli('alice', 'credentials', grant.id, '--json');
    expectWith(c.code, c.stderr).toBe(EXIT.ok);
    expect(json(c)).toMatchObject({
      note: 'local mode: no cloud credentials exist; this is what a deployment would apply',
      roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
      expiresAt: grant.expiresAt,
      sessionPolicy: sessionPolicy(
        {
          actions: ['s3:GetObject', 's3:ListBucket'],
          resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
        },
        new Date(grant.expiresAt as string),
      ),
    });
  });

  it('credential-process reuses the active grant with the same scopes, and requests anew for other scopes', async () => {
    const logsId = (await requestLogs()).id;
    const first = await cli('alice', 'credential-process', '--target', 'prod-logs');
    const second = await cli('alice', 'credential-process', '--target', 'prod-logs');
    const narrower = await cli('alice', 'credential-process', '--target', 'prod-logs', '--scope', 's3:GetObject');
    for (const r of [first, second, narrower]) {
      // Locally there are no AWS credentials to print: one line says so, stdout stays empty for the AWS CLI.
      expect(r.code).toBe(EXIT.failed);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(first.stderr).toContain(`(grant ${logsId})`);
    expect(second.stderr).toContain(`(grant ${logsId})`);
    expect(narrower.stderr).not.toContain(logsId);
    const mine = json(await cli('alice', 'list', '--status', 'active', '--json')).grants as Grant[];
    const onLogs = mine.filter((g) => g.target.name === 'prod-logs');
    expect(onLogs).toHaveLength(2);
    expect(onLogs.find((g) => g.id !== logsId)?.scope).toEqual({
      kind: 'aws-role',
      actions: ['s3:GetObject'],
      resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
    });
  });

  it('refuses a login token after it expires, and one signed with another key', async () => {
    const expired = await mintSessionToken(await LocalTokenSigner.fromFile(join(home, 'signing-key.pem')), {
      who: { id: 'alice@corp.com', groups: [], mfa: true },
      audience: broker.url,
      ttlMs: 60_000,
      now: new Date(Date.now() - 120_000),
    });
    const foreign = await mintSessionToken(await LocalTokenSigner.generate(), {
      who: { id: 'alice@corp.com', groups: [], mfa: true },
      audience: broker.url,
      ttlMs: 3_600_000,
      now: new Date(),
    });
    const late = await runCli(['list'], { ...env(), TIMEBOX_TOKEN: expired.token });
    const wrongKey = await runCli(['list', '--json'], { ...env(), TIMEBOX_TOKEN: foreign.token });
    expect(late).toMatchObject({ code: EXIT.refused });
    expect(late.stderr).toMatch(/^timebox: AUTH\.TOKEN_EXPIRED: /);
    expect(json(wrongKey).error).toMatchObject({ code: 'AUTH.BAD_SIGNATURE', status: 401 });
  });

  it('a grant active while the broker restarts still expires on time', async () => {
    // Prepare: a 3-second grant, then the broker stops and starts again on the same data directory and port.
    const grant = await requestLogs('3s');
    expect(grant.status).toBe('active');
    await broker.close();
    await start();
    // Act: wait for the re-armed timer (the restarted sweeper does not run again within the test).
    let shown = json(await cli('alice', 'show', grant.id, '--json'));
    while (shown.grant.status === 'active') {
      await new Promise((res) => setTimeout(res, 200));
      shown = json(await cli('alice', 'show', grant.id, '--json'));
    }
    // Assess
    const last = shown.events.at(-1) as GrantEvent;
    expect(shown.grant.status).toBe('expired');
    expect(last).toMatchObject({ type: 'expired', actor: { id: 'timebox' } });
    expect(Date.parse(last.at)).toBeGreaterThanOrEqual(Date.parse(grant.expiresAt as string));
    expect(broker.runtime.sweeper.passes).toBe(1);
    const late = await cli('alice', 'credentials', grant.id, '--json');
    expect(late.code).toBe(EXIT.refused);
    expect(json(late).error.code).toBe('GRANT.NOT_ACTIVE');
  });
});
