import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import * as pulumi from '@pulumi/pulumi';
import fc from 'fast-check';
import type { AwsRoleTarget } from '../../core/policy/types';
import { CLOUDTRAIL_COLUMNS, namedQueries, projectedRegions, projectionParameters } from '../../stacks/athena';
import { validateAuditArgs } from '../../stacks/audit';
import { type BrokerArgs, validateBrokerArgs } from '../../stacks/broker';
import {
  assertEnvironmentFits,
  checkBundles,
  checkedEnvironment,
  EnvironmentTooLargeError,
  environmentSize,
  HANDLERS,
  handlerEnvironment,
  LAMBDA_ENV_LIMIT_BYTES,
} from '../../stacks/functions';
import { namePrefix, splitTargets } from '../../stacks/program';
import { boundaryDocument, validateTargets } from '../../stacks/targets';
import { ACCOUNT, fakeBundles, SPOKE_ACCOUNT } from './helpers/pulumi-mocks';

/** The checks that run before any resource is declared, and the pure Athena pieces. */

function targetDummy(partial: Partial<AwsRoleTarget> = {}): AwsRoleTarget {
  return {
    kind: 'aws-role',
    name: 'logs',
    account: ACCOUNT,
    role: 'timebox-logs',
    actions: ['s3:GetObject'],
    resources: ['arn:aws:s3:::logs/*'],
    partition: 'aws',
    ...partial,
  };
}

function brokerArgsDummy(partial: Partial<BrokerArgs> = {}): BrokerArgs {
  return {
    partition: 'aws',
    region: 'eu-west-1',
    account: ACCOUNT,
    dnsSuffix: 'amazonaws.com',
    namePrefix: 'timebox-prod',
    spokeAccounts: [],
    distDir: '/nonexistent',
    policyBundleJson: '{}',
    identity: { accounts: [ACCOUNT], roles: [], iamUsers: true },
    tokenTtl: '5m',
    boundaryArn: 'arn:aws:iam::111122223333:policy/timebox/b',
    logRetentionDays: 90,
    eventArchiveDays: 365,
    allowedAccounts: [ACCOUNT],
    throttle: { rateLimit: 1, burstLimit: 1 },
    manageApiGatewayAccount: true,
    ...partial,
  };
}

describe('Function: validateBrokerArgs', () => {
  it('returns every declared handler by default', () => {
    expect(validateBrokerArgs(brokerArgsDummy())).toEqual(Object.keys(HANDLERS));
  });

  it('refuses, listing every problem: a missing required handler, an unknown one, a bad prefix, a bad retention', () => {
    const call = () =>
      validateBrokerArgs(
        brokerArgsDummy({ handlers: ['api', 'revoke', 'notifier'], namePrefix: 'Timebox_Prod', logRetentionDays: 8 }),
      );
    expect(call).toThrow(/the sweeper handler is required/);
    expect(call).toThrow(/no handler "notifier" is declared/);
    expect(call).toThrow(/name prefix "Timebox_Prod"/);
    expect(call).toThrow(/log retention 8/);
  });
});

describe('Function: handlerEnvironment', () => {
  it('throws when the stack cannot supply a variable the handler requires', () => {
    expect(() => handlerEnvironment('api', {})).toThrow(/TIMEBOX_EVENTS_TABLE, which the api function requires/);
  });
});

describe('Function: environmentSize', () => {
  it('measures what Lambda measures: the variables as compact JSON, in UTF-8 bytes', () => {
    expect(environmentSize({})).toBe(2);
    expect(environmentSize({ A: 'b' })).toBe('{"A":"b"}'.length);
    // JSON escapes count (a JSON value in a variable grows by its quotes), and so do multi-byte characters.
    expect(environmentSize({ J: '{"x":1}' })).toBe('{"J":"{\\"x\\":1}"}'.length);
    expect(environmentSize({ E: 'é' })).toBe(10);
  });

  it('is at least the bytes of every key and value, and grows with each variable added', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/), fc.string({ maxLength: 200 })),
        fc.stringMatching(/^[a-z]{1,10}$/),
        (vars, extra) => {
          const bytes = environmentSize(vars);
          const raw = Object.entries(vars).reduce((n, [k, v]) => n + Buffer.byteLength(k + v, 'utf8'), 0);
          expect(bytes).toBeGreaterThanOrEqual(raw + 2);
          expect(environmentSize({ ...vars, [`X${extra}`]: extra })).toBeGreaterThan(bytes);
        },
      ),
    );
  });
});

describe('Function: assertEnvironmentFits', () => {
  it('accepts exactly 4096 bytes and refuses one more, naming the function, the size and the largest variables', () => {
    const fits = { BIG: 'x'.repeat(LAMBDA_ENV_LIMIT_BYTES - '{"BIG":""}'.length) };
    expect(assertEnvironmentFits('revoke', fits)).toBe(LAMBDA_ENV_LIMIT_BYTES);
    const over = { ...fits, BIG: `${fits.BIG}x` };
    expect(() => assertEnvironmentFits('revoke', over)).toThrow(EnvironmentTooLargeError);
    expect(() => assertEnvironmentFits('revoke', over)).toThrow(
      "the revoke function's environment variables measure 4097 bytes; Lambda allows 4096 (largest: BIG 4095 B)",
    );
  });
});

describe('Function: checkedEnvironment', () => {
  it('fails when the program runs if the values already known pass 4 KB, saying the rest is not counted', () => {
    const later = pulumi.output('arn:aws:sqs:eu-west-1:111122223333:queue');
    expect(() => checkedEnvironment('api', { TIMEBOX_IDENTITY: 'r'.repeat(4100), TIMEBOX_QUEUE: later })).toThrow(
      /the api function's environment variables measure at least 41\d\d bytes; Lambda allows 4096 \(largest: TIMEBOX_IDENTITY 4121 B/,
    );
    expect(() => checkedEnvironment('api', { TIMEBOX_IDENTITY: 'r'.repeat(1000), TIMEBOX_QUEUE: later })).not.toThrow();
  });
});

describe('Function: checkBundles', () => {
  it('names every missing file and says to build', () => {
    const dist = fakeBundles(['api']);
    expect(() => checkBundles(dist, ['api', 'revoke'], dist)).toThrow(
      'Lambda bundles are missing (revoke/index.mjs, revoke/index.mjs.map): run npm run build first',
    );
    expect(() => checkBundles(dist, ['api'], dist)).not.toThrow();
  });

  it('names a chunk the build wrote but that is gone, such as the lazily loaded GCP provider', () => {
    // Prepare: a build whose GCP chunk was deleted
    const dist = fakeBundles(['api']);
    rmSync(join(dist, 'api', 'provider-ABC123.mjs'));
    // Act / Assess
    expect(() => checkBundles(dist, ['api'], dist)).toThrow(
      'Lambda bundles are missing (api/provider-ABC123.mjs): run npm run build first',
    );
  });
});

describe('Function: splitTargets', () => {
  const policy = (targets: AwsRoleTarget[]) => ({ targets: Object.fromEntries(targets.map((t) => [t.name, t])) });

  it('splits hub and spoke targets and refuses anything else', () => {
    const hub = targetDummy();
    const spoke = targetDummy({ name: 'spoke', account: SPOKE_ACCOUNT, role: 'timebox-spoke' });
    expect(
      splitTargets(policy([hub, spoke]), { account: ACCOUNT, partition: 'aws', spokeAccounts: [SPOKE_ACCOUNT] }),
    ).toEqual({ hub: [hub], spoke: [spoke] });
    expect(() =>
      splitTargets(policy([hub, targetDummy({ name: 'gov', partition: 'aws-us-gov' })]), {
        account: ACCOUNT,
        partition: 'aws',
        spokeAccounts: [],
      }),
    ).toThrow("targets.gov.partition: aws-us-gov is not this stack's partition (aws)");
  });
});

describe('Function: validateTargets', () => {
  it('refuses two targets on one role (IAM role names ignore case) and the revoker role name', () => {
    const call = () =>
      validateTargets([
        targetDummy(),
        targetDummy({ name: 'logs2', role: 'TIMEBOX-LOGS' }),
        targetDummy({ name: 'rev', role: 'timebox-revoker' }),
      ]);
    expect(call).toThrow(/targets logs and logs2 both name role TIMEBOX-LOGS/);
    expect(call).toThrow(/role name timebox-revoker is reserved/);
  });
});

describe('Function: boundaryDocument', () => {
  it("refuses a boundary over IAM's managed policy limit, naming the code", () => {
    const many = Array.from({ length: 120 }, (_, i) =>
      targetDummy({ name: `t${i}`, role: `r${i}`, resources: [`arn:aws:s3:::bucket-number-${i}/*`] }),
    );
    expect(() => boundaryDocument(many, [])).toThrow(/permission boundary: .*6144.*\(IAM\.BOUNDARY_TOO_LARGE\)/);
  });
});

describe('Function: namePrefix', () => {
  it('derives a short lower-case prefix from the stack name', () => {
    expect(namePrefix('Prod')).toBe('timebox-prod');
    expect(namePrefix('acme/eu_west')).toBe('timebox-acme-eu-west');
    expect(namePrefix('x'.repeat(80))).toHaveLength(40);
  });
});

describe('Function: validateAuditArgs', () => {
  it('refuses names AWS would refuse', () => {
    const args = {
      partition: 'aws',
      region: 'eu-west-1',
      account: ACCOUNT,
      trailName: '-bad',
      eventsTableArn: 'arn',
      retentionDays: 0,
      regions: [],
      glueDatabaseName: 'Has-Dash',
      workgroupName: 'ok',
    };
    const call = () => validateAuditArgs(args);
    expect(call).toThrow(/trail name "-bad"/);
    expect(call).toThrow(/Glue database name "Has-Dash"/);
    expect(call).toThrow(/at least one region/);
    expect(call).toThrow(/trail retention 0/);
  });
});

describe('Athena', () => {
  it('projects account, region and day partitions over the layout of account trails and of organization trails', () => {
    const base = { bucket: 'trail', accounts: [SPOKE_ACCOUNT, ACCOUNT], regions: ['us-east-1', 'eu-west-1'] };
    const p = projectionParameters(base);
    expect(p['projection.account.type']).toBe('enum');
    expect(p['projection.account.values']).toBe(`${ACCOUNT},${SPOKE_ACCOUNT}`);
    expect(p['projection.region.values']).toBe('eu-west-1,us-east-1');
    expect(p['storage.location.template']).toBe(`s3://trail/AWSLogs/\${account}/CloudTrail/\${region}/\${timestamp}`);
    const org = projectionParameters({ ...base, orgId: 'o-abcd123456' });
    expect(org['storage.location.template']).toBe(
      `s3://trail/AWSLogs/o-abcd123456/\${account}/CloudTrail/\${region}/\${timestamp}`,
    );
    expect(() => projectionParameters({ ...base, regions: [] })).toThrow();
    expect(() => projectionParameters({ ...base, accounts: [] })).toThrow(/at least one account/);
    expect(() => projectionParameters({ ...base, accounts: ['12345'] })).toThrow(/12-digit/);
    expect(() => projectionParameters({ ...base, orgId: 'o-x/../' })).toThrow(/not an organization id/);
  });

  it('resolves every CloudTrail key of a projected account, region and day to exactly its partition values', () => {
    // The S3 keys CloudTrail writes (User Guide, "Finding your CloudTrail log files"), matched against the template
    // the way Athena substitutes it: each key belongs to one (account, region, day), and nothing else matches.
    const keys = fc.record({
      account: fc.constantFrom(ACCOUNT, SPOKE_ACCOUNT),
      region: fc.constantFrom('us-east-1', 'eu-west-1'),
      day: fc.date({
        min: new Date('2025-01-01T00:00:00Z'),
        max: new Date('2030-12-31T00:00:00Z'),
        noInvalidDate: true,
      }),
      org: fc.boolean(),
    });
    fc.assert(
      fc.property(keys, ({ account, region, day, org }) => {
        const layout = org ? { orgId: 'o-abcd123456' } : {};
        const p = projectionParameters({
          bucket: 'trail',
          accounts: [ACCOUNT, SPOKE_ACCOUNT],
          regions: ['eu-west-1', 'us-east-1'],
          ...layout,
        });
        const ymd = day.toISOString().slice(0, 10).replace(/-/g, '/');
        const key = `s3://trail/AWSLogs/${org ? 'o-abcd123456/' : ''}${account}/CloudTrail/${region}/${ymd}`;
        const template = p['storage.location.template'] as string;
        // One path segment per value, except the day (yyyy/MM/dd, the projection's format).
        const group = (name: string) => `(?<${name}>${name === 'timestamp' ? '[^/]+/[^/]+/[^/]+' : '[^/]+'})`;
        const re = new RegExp(
          `^${template.replace(/[.*+?^()|[\]\\]/g, '\\$&').replace(/\$\{(\w+)\}/g, (_, n: string) => group(n))}$`,
        );
        const m = re.exec(key);
        expect({ ...m?.groups }).toEqual({ account, region, timestamp: ymd });
        expect(p['projection.account.values']?.split(',')).toContain(account);
        expect(p['projection.region.values']?.split(',')).toContain(region);
      }),
    );
  });

  it('always projects the region global services are recorded in', () => {
    expect(projectedRegions(['eu-west-1'], 'aws')).toEqual(['eu-west-1', 'us-east-1']);
    expect(projectedRegions(['us-east-1', 'eu-west-1', 'eu-west-1'], 'aws')).toEqual(['eu-west-1', 'us-east-1']);
    expect(projectedRegions(['us-gov-east-1'], 'aws-us-gov')).toEqual(['us-gov-east-1', 'us-gov-west-1']);
  });

  it('keeps the source identity in the table schema', () => {
    const identity = CLOUDTRAIL_COLUMNS.find((c) => c.name === 'useridentity');
    expect(identity?.type).toContain('sourceidentity:string');
  });

  it('bounds every query by a day window and a time window, with the documented parameters', () => {
    const queries = namedQueries('timebox_prod_audit');
    const params = Object.fromEntries(queries.map((q) => [q.name, (q.query.match(/\?/g) ?? []).length]));
    expect(params).toEqual({
      'timebox-actions-under-grant': 6,
      'timebox-actions-by-principal': 5,
      'timebox-actions-on-target-role': 5,
    });
    for (const q of queries) {
      expect(q.query).toContain('FROM "timebox_prod_audit"."cloudtrail"');
      expect(q.query).toContain('"timestamp" BETWEEN ? AND ?');
      expect(q.query).toContain('eventtime >= ? AND eventtime < ?');
    }
    const grant = queries[0]?.query ?? '';
    expect(grant).toContain("element_at(split(useridentity.arn, '/'), -1) = ?");
    expect(grant).toContain('useridentity.sessioncontext.sourceidentity = ?');
  });
});
