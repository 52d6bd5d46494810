import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runCli } from '../../helpers/cli';

const example = join(__dirname, '../../fixtures/policies/design-example.yaml');
const dir = mkdtempSync(join(tmpdir(), 'timebox-cli-'));
const broken = join(dir, 'broken.yaml');
writeFileSync(
  broken,
  `version: 1
groups:
  sre: [alice@corp.com]
targets:
  logs:
    kind: aws-role
    account: 111122223333
    role: r
    actions: [s3:GetObject]
    resources: ["arn:aws:s3:::l"]
rules:
  - name: r
    who: [group:ops]
    targets: [logs]
    maxDuraton: 1h
    approval: auto
`,
);

describe('Command: timebox check', () => {
  it('exits 0 for a valid file', async () => {
    const r = await runCli(['check', '--config', example]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid \(2 groups, 3 targets, 3 rules\)/);
  });

  it('exits 1 with one line per problem, each with its path and line', async () => {
    const r = await runCli(['check', '--config', broken]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^.*targets\.logs\.account \(line 7\): /),
        expect.stringMatching(/^.*rules\[0\]\.who\[0\] \(line 13\): .*ops/),
        expect.stringMatching(/^.*rules\[0\]\.maxDuraton \(line 15\): unknown key/),
      ]),
    );
  });

  it('exits 2 naming the file when it cannot be read', async () => {
    const r = await runCli(['check', '--config', join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read policy file .*missing\.yaml: ENOENT/);
  });
});

describe('Command: timebox plan', () => {
  const plan = (...args: string[]) =>
    runCli(['plan', '--config', example, '--at', '2026-11-24T10:00:00Z', ...args]).then((r) => ({
      ...r,
      json: r.code === 0 ? JSON.parse(r.stdout) : undefined,
    }));

  it('prints the decision and the exact session policy for an AWS grant', async () => {
    const r = await plan(
      '--as',
      'alice@corp.com',
      '--ip',
      '10.1.2.3',
      '--target',
      'prod-logs',
      '--scope',
      's3:GetObject',
      '--duration',
      '30m',
    );
    expect(r.code).toBe(0);
    expect(r.json).toEqual({
      decision: 'allow',
      rule: 'sre-reads-logs',
      reasons: [],
      expiresAt: '2026-11-24T10:30:00.000Z',
      approval: null,
      grant: {
        kind: 'aws-role',
        roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
        sessionPolicy: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'TimeboxGrant',
              Effect: 'Allow',
              Action: 's3:GetObject',
              Resource: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
              Condition: { DateLessThan: { 'aws:CurrentTime': '2026-11-24T10:30:00Z' } },
            },
          ],
        },
      },
    });
  });

  it('shows who must approve, and the token claims, for a gRPC grant', async () => {
    const r = await plan(
      '--as',
      'bob@corp.com',
      '--mfa',
      '--target',
      'user-service',
      '--scope',
      '/acme.admin.*',
      '--duration',
      'PT30M',
    );
    expect(r.json).toMatchObject({
      decision: 'needs-approval',
      rule: 'admin-break-glass',
      approval: { count: 2, from: ['group:secops'] },
      grant: { kind: 'grpc', claims: { aud: 'user-service', sub: 'bob@corp.com', scope: ['/acme.admin.*'] } },
    });
  });

  it('shows the conditional binding for a GCP grant', async () => {
    const r = await plan('--as', 'alice@corp.com', '--target', 'analytics', '--duration', '1h');
    expect(r.json.grant.binding).toEqual({
      role: 'roles/bigquery.dataViewer',
      members: ['user:alice@corp.com'],
      condition: {
        title: 'timebox:<grant id>',
        description: 'Timebox grant <grant id>',
        expression: "request.time < timestamp('2026-11-24T11:00:00Z')",
      },
    });
  });

  it('exits 0 with the reasons for a deny, and honours asserted groups and attributes', async () => {
    const denied = await plan('--as', 'carol@corp.com', '--target', 'prod-logs', '--duration', '30m');
    expect(denied.code).toBe(0);
    expect(denied.json).toMatchObject({ decision: 'deny', rule: null, grant: null, expiresAt: null, approval: null });
    expect(denied.json.reasons[0].code).toBe('RULE.NO_MATCH');
    const asserted = await plan(
      '--as',
      'carol@corp.com',
      '--group',
      'sre',
      '--ip',
      '10.0.0.1',
      '--target',
      'prod-logs',
      '--duration',
      '30m',
    );
    expect(asserted.json.decision).toBe('allow');
  });

  it('exits 2 naming the bad flag', async () => {
    for (const [args, pattern] of [
      [['--as', 'a', '--target', 'prod-logs', '--duration', '30'], /--duration: "30" is not a duration/],
      [
        ['--as', 'a', '--target', 'prod-logs', '--duration', '30m', '--start', 'tomorrow'],
        /--start: "tomorrow" is not an ISO-8601 time/,
      ],
      [['--as', 'a b', '--target', 'prod-logs', '--duration', '30m'], /--as: "a b" is not a principal id/],
      [
        ['--as', 'a', '--target', 'prod-logs', '--duration', '30m', '--attr', 'nokey'],
        /--attr: "nokey" must be key=value/,
      ],
    ] as const) {
      const r = await runCli(['plan', '--config', example, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stdout).toBe('');
    }
    const missing = await runCli(['plan', '--config', example, '--as', 'a', '--duration', '30m']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--target/);
  });

  it('exits 2 listing the problems of a bad policy file', async () => {
    const r = await runCli(['plan', '--config', broken, '--as', 'a', '--target', 'logs', '--duration', '30m']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/maxDuraton/);
  });
});
