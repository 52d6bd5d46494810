import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { credentialsText, isLocalPlan, reusable, sameScopes } from '../../../cli/commands/access';
import { EXIT } from '../../../cli/errors';
import { runCli } from '../../helpers/cli';
import { unstubAllGlobals } from '../../helpers/runner';
import { fakeBroker, grantDummy, STS_ANSWER } from './fake-broker';

const CONFIG_DIR = mkdtempSync(join(tmpdir(), 'timebox-access-'));
const ENV = {
  TIMEBOX_ENDPOINT: 'http://127.0.0.1:8787',
  TIMEBOX_TOKEN: 'session-token',
  TIMEBOX_AWS_REGION: undefined,
  // credential-process caches what it prints there: never in the real home folder.
  TIMEBOX_CONFIG_DIR: CONFIG_DIR,
};
const NOW = new Date();

afterEach(() => {
  unstubAllGlobals();
  rmSync(join(CONFIG_DIR, 'credential-process'), { recursive: true, force: true });
});

afterAll(() => {
  rmSync(CONFIG_DIR, { recursive: true, force: true });
});

describe('Function: sameScopes', () => {
  const g = grantDummy();

  it('matches any grant on the target when no scope is asked for', () => {
    expect(sameScopes(g, [])).toBe(true);
  });

  it('matches a half exactly (IAM actions case-insensitively) and takes whatever the grant has for the other', () => {
    expect(sameScopes(g, ['s3:getobject', 'S3:ListBucket'])).toBe(true);
    expect(sameScopes(g, ['arn:aws:s3:::prod-logs/*'])).toBe(true);
    expect(sameScopes(g, ['s3:GetObject', 'arn:aws:s3:::prod-logs/*', 's3:ListBucket'])).toBe(true);
  });

  it('never reuses a grant wider or narrower than asked', () => {
    expect(sameScopes(g, ['s3:GetObject'])).toBe(false);
    expect(sameScopes(g, ['s3:GetObject', 's3:ListBucket', 's3:PutObject'])).toBe(false);
    expect(sameScopes(g, ['arn:aws:s3:::prod-logs/team-a/*'])).toBe(false);
    expect(sameScopes(grantDummy({ scope: null }), ['s3:GetObject'])).toBe(false);
  });

  it('compares gRPC methods and GCP roles as sets', () => {
    const grpc = grantDummy({ scope: { kind: 'grpc', methods: ['/a.B/C', '/a.B/D'] } });
    expect(sameScopes(grpc, ['/a.B/D', '/a.B/C'])).toBe(true);
    expect(sameScopes(grpc, ['/a.B/C'])).toBe(false);
    expect(sameScopes(grantDummy({ scope: { kind: 'gcp-role', roles: ['roles/x'] } }), ['roles/x'])).toBe(true);
  });
});

describe('Function: reusable', () => {
  it('prefers the active grant that runs longest, skips other targets and grants about to end', () => {
    const later = grantDummy({ id: 'tb-later', expiresAt: new Date(NOW.getTime() + 50 * 60_000).toISOString() });
    const sooner = grantDummy({ id: 'tb-sooner', expiresAt: new Date(NOW.getTime() + 10 * 60_000).toISOString() });
    const ending = grantDummy({ id: 'tb-ending', expiresAt: new Date(NOW.getTime() + 30_000).toISOString() });
    const other = grantDummy({ id: 'tb-other', target: { ...grantDummy().target, name: 'billing' } });
    expect(reusable([sooner, ending, other, later], 'prod-logs', [], NOW)?.id).toBe('tb-later');
    expect(reusable([ending, other], 'prod-logs', [], NOW)).toBeUndefined();
  });

  it('falls back to a request still waiting, so a second call does not file a second request', () => {
    const pending = grantDummy({ id: 'tb-pending', status: 'pending' });
    const expired = grantDummy({ id: 'tb-old', status: 'expired' });
    expect(reusable([expired, pending], 'prod-logs', [], NOW)?.id).toBe('tb-pending');
  });
});

describe('Function: credentialsText', () => {
  it('prints credential_process JSON as is, a token with its expiry, and a local plan with its note first', () => {
    expect(credentialsText(STS_ANSWER, NOW)).toBe(JSON.stringify(STS_ANSWER));
    expect(credentialsText({ token: 'eyJ.x.y', expiresAt: NOW.toISOString() }, NOW)).toMatch(
      /^token:\s+eyJ\.x\.y\nexpires:/,
    );
    const plan = {
      kind: 'aws-role',
      note: 'local mode: no cloud credentials exist; this is what a deployment would apply',
      roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
      sessionPolicy: { Version: '2012-10-17', Statement: [] },
      assumeRole: { RoleArn: 'x' },
      expiresAt: NOW.toISOString(),
    };
    expect(isLocalPlan(plan)).toBe(true);
    const text = credentialsText(plan, NOW);
    expect(text.split('\n')[0]).toBe(plan.note);
    expect(text).toContain('session policy:\n{\n  "Version": "2012-10-17"');
  });

  it('shows a deployed GCP binding: project, member, roles, console and the propagation note', () => {
    const text = credentialsText(
      {
        binding: {
          project: 'acme-analytics',
          roles: ['roles/bigquery.dataViewer'],
          member: 'user:alice@corp.com',
          consoleUrl: 'https://console.cloud.google.com/home/dashboard?project=acme-analytics',
          note: 'propagation typically ~2 min, sometimes 7+',
        },
        expiresAt: NOW.toISOString(),
      },
      NOW,
    );
    expect(text).toContain('project:      acme-analytics');
    expect(text).toContain('roles:        roles/bigquery.dataViewer');
    expect(text).toContain('note:         propagation typically ~2 min, sometimes 7+');
  });
});

describe('Command: credential-process', () => {
  it('reuses my active grant on the target and prints only the credential_process JSON', async () => {
    // Prepare
    const g = grantDummy();
    const broker = fakeBroker({
      'GET /v1/requests?mine=true&limit=100': () => ({ status: 200, body: { grants: [g] } }),
      [`POST /v1/grants/${g.id}/credentials`]: () => ({ status: 200, body: STS_ANSWER }),
    });
    // Act
    const r = await runCli(['credential-process', '--target', 'prod-logs'], ENV);
    // Assess
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toBe(`${JSON.stringify(STS_ANSWER)}\n`);
    expect(r.stderr).toBe('');
    expect(broker.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /v1/requests?mine=true&limit=100',
      `POST /v1/grants/${g.id}/credentials`,
    ]);
    expect(broker.calls[0]?.authorization).toBe('Bearer session-token');
  });

  it('requests a grant when none fits, with the scopes, duration and a default reason', async () => {
    const g = grantDummy({ id: 'tb-01jd0000000000000000000001' });
    const broker = fakeBroker({
      'GET /v1/requests?mine=true&limit=100': () => ({ status: 200, body: { grants: [] } }),
      'POST /v1/requests': () => ({
        status: 201,
        body: { grant: g, decision: { decision: 'allow', rule: 'r', reasons: [] } },
      }),
      [`POST /v1/grants/${g.id}/credentials`]: () => ({ status: 200, body: STS_ANSWER }),
    });
    const r = await runCli(
      ['credential-process', '--target', 'prod-logs', '--scope', 's3:GetObject', '--for', '30m'],
      ENV,
    );
    expect(r.code).toBe(EXIT.ok);
    expect(broker.calls[1]?.body).toEqual({
      target: 'prod-logs',
      scopes: ['s3:GetObject'],
      duration: '30m',
      reason: 'credential_process for prod-logs',
    });
  });

  it('fails with one stderr line and nothing on stdout when approval is needed', async () => {
    const pending = grantDummy({
      status: 'pending',
      approval: { count: 2, from: ['group:secops'], requireMfa: false },
      pendingUntil: new Date(NOW.getTime() + 3_600_000).toISOString(),
    });
    fakeBroker({
      'GET /v1/requests?mine=true&limit=100': () => ({ status: 200, body: { grants: [pending] } }),
    });
    const r = await runCli(['credential-process', '--target', 'prod-logs'], ENV);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`timebox approve ${pending.id}`);
  });

  it('says so in one line when the policy denies the request', async () => {
    fakeBroker({
      'GET /v1/requests?mine=true&limit=100': () => ({ status: 200, body: { grants: [] } }),
      'POST /v1/requests': () => ({
        status: 403,
        body: {
          error: {
            code: 'REQUEST.DENIED',
            message: 'the access policy denied this request',
            reasons: [{ code: 'DURATION.TOO_LONG', message: '2h is longer than the 1h allowed' }],
          },
        },
      }),
    });
    const r = await runCli(['credential-process', '--target', 'prod-logs', '--for', '2h'], ENV);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stderr).toBe(
      'timebox: the access policy denied prod-logs: DURATION.TOO_LONG: 2h is longer than the 1h allowed\n',
    );
  });

  it('refuses a local plan instead of printing something the AWS CLI cannot use', async () => {
    const g = grantDummy();
    fakeBroker({
      'GET /v1/requests?mine=true&limit=100': () => ({ status: 200, body: { grants: [g] } }),
      [`POST /v1/grants/${g.id}/credentials`]: () => ({
        status: 200,
        body: {
          kind: 'aws-role',
          note: 'local mode: no cloud credentials exist; this is what a deployment would apply',
        },
      }),
    });
    const r = await runCli(['credential-process', '--target', 'prod-logs'], ENV);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^timebox: local mode: no cloud credentials exist for prod-logs/);
  });

  it('names the flag of a bad duration and calls nothing', async () => {
    const broker = fakeBroker({});
    const r = await runCli(['credential-process', '--target', 'prod-logs', '--for', 'an hour'], ENV);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^timebox: --for: "an hour" is not a duration/);
    expect(broker.calls).toEqual([]);
  });
});

describe('Command: token', () => {
  it('prints only the token of a grpc grant', async () => {
    const g = grantDummy({ target: { kind: 'grpc', name: 'user-service', audience: 'user-service' } });
    fakeBroker({
      [`GET /v1/requests/${g.id}`]: () => ({ status: 200, body: { grant: g } }),
      [`POST /v1/grants/${g.id}/credentials`]: () => ({ status: 200, body: { token: 'eyJ.a.b', expiresAt: 'x' } }),
    });
    const r = await runCli(['token', g.id], ENV);
    expect(r).toEqual({ code: EXIT.ok, stdout: 'eyJ.a.b\n', stderr: '' });
  });

  it('refuses an aws-role grant without issuing anything', async () => {
    const g = grantDummy();
    const broker = fakeBroker({ [`GET /v1/requests/${g.id}`]: () => ({ status: 200, body: { grant: g } }) });
    const r = await runCli(['token', g.id], ENV);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('tokens exist for grpc grants only');
    expect(broker.calls.filter((c) => c.method === 'POST')).toEqual([]);
  });
});
