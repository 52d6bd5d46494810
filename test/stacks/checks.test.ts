import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { AwsRoleTarget } from '../../core/policy/types';
import { CLOUDTRAIL_COLUMNS, namedQueries, projectionParameters } from '../../stacks/athena';
import { validateAuditArgs } from '../../stacks/audit';
import { type BrokerArgs, validateBrokerArgs } from '../../stacks/broker';
import { checkBundles, HANDLERS, handlerEnvironment } from '../../stacks/functions';
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
  it('projects region and day partitions over the trail prefix', () => {
    const p = projectionParameters({ bucket: 'trail', account: ACCOUNT, regions: ['us-east-1', 'eu-west-1'] });
    expect(p['projection.region.values']).toBe('eu-west-1,us-east-1');
    expect(p['storage.location.template']).toBe(`s3://trail/AWSLogs/${ACCOUNT}/CloudTrail/\${region}/\${timestamp}`);
    expect(() => projectionParameters({ bucket: 'trail', account: ACCOUNT, regions: [] })).toThrow();
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
