import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { policyBundle } from '../../../core/policy/json';
import { formatProblem, loadPolicy } from '../../../core/policy/load';
import { ENV, LAMBDA_ENV } from '../../../lambdas/config';
import {
  accessProviders,
  CommonEnvSchema,
  commonConfig,
  loadConfig,
  loadPolicyBundle,
  loadPolicyFile,
  NO_SIGNER,
  withBundledGcp,
} from '../../../lambdas/runtime';
import { RecordingLog } from '../../helpers/memory';
import { WORLD_POLICY } from '../../helpers/world';
import { envDummy } from './env';

describe('Function: commonConfig', () => {
  it('parses the environment once into a frozen configuration, with defaults', () => {
    // Act
    const cfg = commonConfig(loadConfig(CommonEnvSchema, envDummy()));
    // Assess
    expect(cfg).toEqual({
      eventsTable: 'timebox-events',
      grantsTable: 'timebox-grants',
      policyFile: './policy.json',
      issuer: 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod',
      scheduler: {
        group: 'timebox',
        targetArn: 'arn:aws:lambda:eu-west-1:111122223333:function:timebox-revoke',
        roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-scheduler',
        deadLetterArn: 'arn:aws:sqs:eu-west-1:111122223333:timebox-schedules-dlq',
      },
      tokenTtlMs: 5 * 60_000,
      hubAccount: '111122223333',
      partition: 'aws',
    });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.scheduler)).toBe(true);
  });

  it('takes the hub account from TIMEBOX_ACCOUNT_ID when set, and parses the token lifetime', () => {
    const cfg = commonConfig(
      loadConfig(CommonEnvSchema, envDummy({ [ENV.accountId]: '999988887777', [ENV.tokenTtl]: '2m' })),
    );
    expect(cfg.hubAccount).toBe('999988887777');
    expect(cfg.tokenTtlMs).toBe(120_000);
  });

  it('fails the cold start naming every missing or bad variable', () => {
    expect(() =>
      loadConfig(
        CommonEnvSchema,
        envDummy({ [ENV.eventsTable]: undefined, [ENV.schedulerRoleArn]: 'timebox-scheduler', [ENV.tokenTtl]: 'soon' }),
      ),
    ).toThrow(/TIMEBOX_EVENTS_TABLE[\s\S]*TIMEBOX_SCHEDULER_ROLE_ARN[\s\S]*TIMEBOX_TOKEN_TTL/);
    expect(() => loadConfig(CommonEnvSchema, envDummy({ [ENV.gcp]: '{"audience": 1}' }))).toThrow(/TIMEBOX_GCP/);
  });

  it('lists in LAMBDA_ENV exactly the variables the common schema requires', () => {
    for (const name of LAMBDA_ENV.revoke.required)
      expect(() => loadConfig(CommonEnvSchema, envDummy({ [name]: undefined }))).toThrow(name);
    for (const name of LAMBDA_ENV.revoke.optional)
      expect(() => loadConfig(CommonEnvSchema, envDummy({ [name]: undefined }))).not.toThrow();
  });
});

describe('Function: loadPolicyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-policy-'));

  /** The policy bundle the stack packages for a policy file (stacks/program.ts). */
  function bundleJson(yaml: string): string {
    const loaded = loadPolicy(yaml);
    if (!loaded.ok) throw new Error(loaded.problems.map((p) => formatProblem(p)).join('\n'));
    return JSON.stringify(policyBundle(loaded.policy, yaml));
  }

  it('resolves a relative path against the bundle directory, not the working directory', () => {
    // Prepare
    writeFileSync(join(dir, 'policy.json'), bundleJson(WORLD_POLICY));
    // Act
    const compiled = loadPolicyFile('./policy.json', dir);
    // Assess
    expect(compiled.target('prod-logs')?.kind).toBe('aws-role');
  });

  it('refuses a file that is not a policy bundle, access.yaml included, naming it', () => {
    // Prepare
    writeFileSync(join(dir, 'access.yaml'), WORLD_POLICY);
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ format: 'timebox-policy', version: 2 }));
    // Act / Assess
    expect(() => loadPolicyFile(join(dir, 'access.yaml'), '/elsewhere')).toThrow(
      /invalid policy bundle .*access\.yaml: the policy bundle is not JSON/,
    );
    expect(() => loadPolicyFile('other.json', dir)).toThrow(
      /invalid policy bundle .*other\.json: not a Timebox policy bundle/,
    );
  });

  it('names a missing file', () => {
    expect(() => loadPolicyFile('missing.json', dir)).toThrow(/cannot read the policy bundle .*missing\.json/);
  });
});

describe('Function: loadPolicyBundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-policy-gcp-'));
  const GCP = {
    audience:
      '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/timebox/providers/aws-hub',
    serviceAccount: 'timebox-broker@acme-ops.iam.gserviceaccount.com',
    projects: ['acme-analytics'],
    members: { explicit: { 'Alice@Corp.com': 'user:alice@corp.com' } },
  };
  const write = (name: string, gcp: unknown) => {
    const loaded = loadPolicy(WORLD_POLICY);
    if (!loaded.ok) throw new Error('WORLD_POLICY does not load');
    writeFileSync(join(dir, name), JSON.stringify(policyBundle(loaded.policy, WORLD_POLICY, { gcp })));
  };

  it('reads the GCP settings the stack packages in policy.json, and the functions then serve gcp-role', () => {
    // Prepare
    write('policy.json', GCP);
    const fromEnv = commonConfig(loadConfig(CommonEnvSchema, envDummy()));
    // Act
    const bundle = loadPolicyBundle('./policy.json', dir);
    const cfg = withBundledGcp(fromEnv, bundle.gcp);
    // Assess
    expect(cfg.gcp?.projects).toEqual(['acme-analytics']);
    expect(cfg.gcp?.members.explicit).toEqual({ 'alice@corp.com': 'user:alice@corp.com' });
    const deps = { policy: () => bundle.policy, signer: NO_SIGNER, log: new RecordingLog() };
    expect(Object.keys(accessProviders(cfg, deps)).sort()).toEqual(['aws-role', 'gcp-role', 'grpc']);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('refuses bad GCP settings in the bundle, naming the file and the field', () => {
    write('bad.json', { ...GCP, serviceAccount: 'someone@gmail.com' });
    expect(() => loadPolicyBundle('bad.json', dir)).toThrow(
      /invalid policy bundle .*bad\.json: .*bad\.json gcp\.serviceAccount: /s,
    );
  });

  it('refuses GCP settings in both TIMEBOX_GCP and the bundle rather than pick one', () => {
    write('both.json', GCP);
    const fromEnv = commonConfig(loadConfig(CommonEnvSchema, envDummy({ [ENV.gcp]: JSON.stringify(GCP) })));
    expect(() => withBundledGcp(fromEnv, loadPolicyBundle('both.json', dir).gcp)).toThrow(
      /TIMEBOX_GCP is set and the policy bundle carries GCP settings too/,
    );
    expect(withBundledGcp(fromEnv, undefined)).toBe(fromEnv);
  });
});

describe('Function: accessProviders', () => {
  it('wires aws-role and grpc always, gcp-role only when TIMEBOX_GCP is set', () => {
    const cfg = commonConfig(loadConfig(CommonEnvSchema, envDummy()));
    const deps = {
      policy: () => {
        throw new Error('not read at construction');
      },
      signer: NO_SIGNER,
      log: new RecordingLog(),
    };
    expect(Object.keys(accessProviders(cfg, deps)).sort()).toEqual(['aws-role', 'grpc']);
    const gcp = JSON.stringify({
      audience:
        '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/timebox/providers/aws-hub',
      serviceAccount: 'timebox-broker@acme-ops.iam.gserviceaccount.com',
    });
    const withGcp = commonConfig(loadConfig(CommonEnvSchema, envDummy({ [ENV.gcp]: gcp })));
    expect(Object.keys(accessProviders(withGcp, deps)).sort()).toEqual(['aws-role', 'gcp-role', 'grpc']);
  });
});

describe('Constant: NO_SIGNER', () => {
  it('refuses to sign or serve keys with a clear error', async () => {
    await expect(NO_SIGNER.sign({})).rejects.toMatchObject({ code: 'SIGNER.UNAVAILABLE' });
    await expect(NO_SIGNER.jwks()).rejects.toMatchObject({ code: 'SIGNER.UNAVAILABLE' });
  });
});
