import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { ConfigError, DEFAULT_AUDIT_REGIONS, parseStackConfig, readStackConfig } from '../../stacks/config';
import { expectWith } from '../helpers/runner';
import { ACCOUNT, rawConfigDummy } from './helpers/pulumi-mocks';

/** The `timebox:*` keys: defaults, and one refusal per key that names the key. */

const ROOT = join(__dirname, '..', '..');

function problemsOf(raw: Record<string, string | undefined>): string[] {
  try {
    parseStackConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

/** How Pulumi hands config to a program: scalars as strings, objects and lists as JSON. */
function asPulumiConfig(config: Record<string, unknown>, namespace = 'timebox'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    const [ns, key] = k.split(':') as [string, string];
    if (ns !== namespace) continue;
    out[key] = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

describe('Function: parseStackConfig', () => {
  it('fills in the documented defaults', () => {
    const c = parseStackConfig(rawConfigDummy());
    expect(c).toMatchObject({
      policyFile: 'access.yaml',
      tokenTtl: '5m',
      logRetentionDays: 90,
      trailRetentionDays: 365,
      eventArchiveDays: 365,
      spokeAccounts: [],
      apiThrottle: { rateLimit: 20, burstLimit: 40 },
      manageApiGatewayAccount: true,
      auditRegions: DEFAULT_AUDIT_REGIONS,
    });
    expect(c.identity).toEqual({
      accounts: [ACCOUNT],
      roles: [{ pattern: 'AWSReservedSSO_*', mfa: true }],
      iamUsers: false,
    });
    expect(c.alarmEmail).toBeUndefined();
    expect(c.gcp).toBeUndefined();
  });

  it.each([
    ['policyFile', undefined, 'timebox:policyFile: is required'],
    ['policyFile', '', 'timebox:policyFile: name the access policy file'],
    ['identity', undefined, 'timebox:identity: is required'],
    ['identity', 'not json', 'timebox:identity: must be JSON'],
    ['identity', '{"accounts":["1"],"roles":[]}', 'timebox:identity.accounts[0]: an AWS account id is 12 digits'],
    ['identity', `{"accounts":["${ACCOUNT}"]}`, 'timebox:identity: no caller could ever be mapped'],
    ['identity', `{"accounts":["${ACCOUNT}"],"iamUsers":true,"extra":1}`, 'timebox:identity: Unrecognized key'],
    ['tokenTtl', '5x', 'timebox:tokenTtl: "5x" is not a duration'],
    ['tokenTtl', '2h', 'timebox:tokenTtl: must be between 1m and 1h'],
    ['tokenTtl', '30s', 'timebox:tokenTtl: must be between 1m and 1h'],
    ['logRetentionDays', '8', 'timebox:logRetentionDays: must be one of the CloudWatch Logs retention periods'],
    ['logRetentionDays', 'ninety', 'timebox:logRetentionDays: must be a number'],
    ['trailRetentionDays', '0', 'timebox:trailRetentionDays: must be at least 1'],
    ['trailRetentionDays', '1.5', 'timebox:trailRetentionDays: must be a whole number'],
    ['alarmEmail', 'oncall', 'timebox:alarmEmail: must be an email address'],
    ['allowedAccounts', '[]', 'timebox:allowedAccounts: name the accounts allowed to call the API'],
    ['allowedAccounts', '["abc"]', 'timebox:allowedAccounts[0]: must be a 12-digit AWS account id'],
    ['allowedAccounts', 'x', 'timebox:allowedAccounts: must be JSON'],
    ['orgId', 'acme', 'timebox:orgId: must be an AWS Organizations id'],
    ['spokeAccounts', '["12"]', 'timebox:spokeAccounts[0]: must be a 12-digit AWS account id'],
    ['gcp', '{"hostProject":"X"}', 'timebox:gcp.hostProject: must be a GCP project id'],
    ['gcp', '{"hostProject":"acme-identity","pool":"x"}', 'timebox:gcp: Unrecognized key'],
    ['apiThrottle', '{"rateLimit":-1,"burstLimit":10}', 'timebox:apiThrottle.rateLimit:'],
    ['manageApiGatewayAccount', 'yes', 'timebox:manageApiGatewayAccount: must be true or false'],
    ['auditRegions', '["Europe"]', 'timebox:auditRegions[0]: must be region names like eu-west-1'],
    ['tokenTTL', '5m', 'timebox:tokenTTL: unknown key (did you mean tokenTtl?)'],
    ['namePrefix', 'Timebox_Prod', 'timebox:namePrefix: must be 2-40 of a-z, 0-9 and -'],
    ['namePrefix', 'timebox-', 'timebox:namePrefix: must be 2-40 of a-z, 0-9 and -'],
    ['namePrefix', `t${'x'.repeat(40)}`, 'timebox:namePrefix: must be 2-40 of a-z, 0-9 and -'],
  ])('refuses %s=%j naming the key', (key, value, message) => {
    // Act
    const problems = problemsOf(rawConfigDummy({ [key]: value }));
    // Assess
    expectWith(
      problems.some((p) => p.startsWith(message)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(rawConfigDummy({ tokenTtl: 'x', logRetentionDays: '8', alarmEmail: 'y' }));
    expect(problems.map((p) => p.split(':')[1])).toEqual(['tokenTtl', 'logRetentionDays', 'alarmEmail']);
  });

  it('keeps the hub trail an account trail unless asked, and an organization trail needs the organization', () => {
    expect(parseStackConfig(rawConfigDummy()).organizationTrail).toBe(false);
    // orgId alone (callers from the organization) must not turn the trail into one: CloudTrail would refuse it
    // outside the management account.
    expect(parseStackConfig(rawConfigDummy({ orgId: 'o-abcd123456' })).organizationTrail).toBe(false);
    expect(problemsOf(rawConfigDummy({ organizationTrail: 'true' }))).toEqual([
      'timebox:organizationTrail: an organization trail needs timebox:orgId (the organization it records)',
    ]);
    expect(
      parseStackConfig(rawConfigDummy({ organizationTrail: 'true', orgId: 'o-abcd123456' })).organizationTrail,
    ).toBe(true);
  });

  it('accepts an organization instead of an account list', () => {
    const c = parseStackConfig(rawConfigDummy({ allowedAccounts: undefined, orgId: 'o-abcd123456' }));
    expect(c.orgId).toBe('o-abcd123456');
    expect(c.allowedAccounts).toEqual([]);
  });

  it('accepts Pulumi.example.yaml as it ships', () => {
    const example = parse(readFileSync(join(ROOT, 'Pulumi.example.yaml'), 'utf8')) as {
      config: Record<string, unknown>;
    };
    const c = parseStackConfig(asPulumiConfig(example.config));
    expect(c.identity.roles[0]?.pattern).toBe('AWSReservedSSO_*');
    expect(c.alarmEmail).toBe('security-oncall@example.com');
  });
});

describe('Function: readStackConfig', () => {
  it('reads the timebox namespace from the Pulumi runtime and ignores other namespaces', () => {
    // Prepare
    pulumi.runtime.setAllConfig({
      'aws:region': 'eu-west-1',
      'timebox:policyFile': 'access.yaml',
      'timebox:identity': JSON.stringify({ accounts: [ACCOUNT], iamUsers: true }),
      'timebox:allowedAccounts': JSON.stringify([ACCOUNT]),
      'timebox:tokenTtl': '10m',
    });
    // Act
    const c = readStackConfig();
    // Assess
    expect(c.tokenTtl).toBe('10m');
    expect(c.identity.iamUsers).toBe(true);
  });

  it('fails naming the key when the runtime holds a bad value', () => {
    pulumi.runtime.setAllConfig({
      'timebox:policyFile': 'access.yaml',
      'timebox:identity': JSON.stringify({ accounts: [ACCOUNT], iamUsers: true }),
      'timebox:allowedAccounts': JSON.stringify([ACCOUNT]),
      'timebox:trailRetentionDays': '-3',
    });
    expect(() => readStackConfig()).toThrow(/timebox:trailRetentionDays: must be at least 1/);
  });
});
