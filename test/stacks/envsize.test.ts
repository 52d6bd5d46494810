import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseGcpSettings } from '../../adapters/gcp/config';
import { readPolicyBundle } from '../../core/policy/json';
import { ENV } from '../../lambdas/config';
import { parseNotificationsConfig } from '../../stacks/config';
import { EnvironmentTooLargeError, environmentSize, LAMBDA_ENV_LIMIT_BYTES } from '../../stacks/functions';
// Importing the program declares nothing: resources register only when timebox() runs, after setMocks.
import { type TimeboxOutputs, timebox } from '../../stacks/program';
import { expectWith } from '../helpers/runner';
import {
  ACCOUNT,
  configDummy,
  fakeBundles,
  installMocks,
  type MockWorld,
  projectWithPolicy,
  resolveAll,
} from './helpers/pulumi-mocks';

/**
 * Lambda's 4 KB environment limit under a real-sized organisation: 140 GCP projects and 40 explicit member
 * mappings (each alone breaks CreateFunction when carried in TIMEBOX_GCP) fit, because they travel in policy.json;
 * an identity mapping that does not fit fails the program, naming the function and the size.
 */

const PROJECTS = Array.from({ length: 140 }, (_, i) => `acme-analytics-${String(i).padStart(3, '0')}`);
const MEMBERS = Object.fromEntries(
  Array.from({ length: 40 }, (_, i) => [`person${i}@corp.com`, `user:person${i}.long-name@corp-example.com`]),
);

const POLICY = `
version: 1
groups:
  sre: [alice@corp.com]
targets:
${PROJECTS.map((p) => `  ${p}:\n    kind: gcp-role\n    project: ${p}\n    roles: [roles/bigquery.dataViewer]`).join('\n')}
rules:
  - name: analysts
    who: [group:sre]
    targets: [${PROJECTS.join(', ')}]
    maxDuration: 1h
    approval: auto
`;

const HANDLERS = ['api', 'revoke', 'sweeper', 'notifier', 'slack'];
const dist = fakeBundles(HANDLERS);
const project = projectWithPolicy(POLICY);
const gcp = JSON.stringify({ hostProject: 'acme-identity', members: { explicit: MEMBERS } });

let world: MockWorld;
let out: TimeboxOutputs;

beforeAll(async () => {
  world = await installMocks();
  out = await timebox({
    config: configDummy({ gcp }),
    projectDir: project,
    distDir: dist,
    notifications: parseNotificationsConfig({ slack: JSON.stringify({ channel: 'C0123456789' }) }),
  });
  await resolveAll(out);
  await world.settle();
}, 60_000);

const variablesOf = (name: string) =>
  (world.one('aws:lambda/function:Function', name).inputs.environment as { variables: Record<string, string> })
    .variables;

describe('Program: Lambda environment size', () => {
  it('keeps every function under 4 KB with 140 GCP projects and 40 member mappings, GCP settings out of it', () => {
    const fns = world.ofType('aws:lambda/function:Function');
    expect(fns.map((f) => f.name).sort()).toEqual(
      ['broker-api', 'broker-revoke', 'broker-sweeper', 'notify-notifier', 'notify-slack'].sort(),
    );
    for (const f of fns) {
      const vars = variablesOf(f.name);
      expect(vars[ENV.gcp]).toBeUndefined();
      expectWith(environmentSize(vars), f.name).toBeLessThanOrEqual(LAMBDA_ENV_LIMIT_BYTES);
    }
  });

  it('packages the GCP settings in the policy.json of every function that runs grants, as the runtime reads them', async () => {
    for (const name of ['broker-api', 'broker-revoke', 'broker-sweeper', 'notify-slack']) {
      const code = world.one('aws:lambda/function:Function', name).inputs.code as {
        assets: Promise<Record<string, { text: unknown }>>;
      };
      const bundle = readPolicyBundle((await (await code.assets)['policy.json']?.text) as string);
      const settings = parseGcpSettings(bundle.gcp, 'policy.json gcp');
      expect(settings.projects).toEqual(PROJECTS);
      expect(Object.keys(settings.members.explicit)).toHaveLength(40);
      expect(settings.serviceAccount).toBe('timebox-broker@acme-identity.iam.gserviceaccount.com');
      // What would have been TIMEBOX_GCP alone is more than Lambda allows for a whole environment.
      expect(environmentSize({ [ENV.gcp]: JSON.stringify(bundle.gcp) })).toBeGreaterThan(LAMBDA_ENV_LIMIT_BYTES);
    }
  });

  it('fails the program, naming the function and the size, when the identity mapping does not fit', async () => {
    world.reset();
    // 50 role patterns of 60 characters: TIMEBOX_IDENTITY alone is about 5 KB.
    const roles = Array.from({ length: 50 }, (_, i) => ({
      pattern: `AWSReservedSSO_Team${String(i).padStart(2, '0')}_${'x'.repeat(38)}_*`,
      mfa: true,
    }));
    const config = configDummy({ identity: JSON.stringify({ accounts: [ACCOUNT], roles }) });
    const run = timebox({ config, projectDir: projectWithPolicy(POLICY), distDir: dist });
    await expect(run).rejects.toBeInstanceOf(EnvironmentTooLargeError);
    await expect(run).rejects.toThrow(
      /^the api function's environment variables measure at least \d{4} bytes; Lambda allows 4096 \(largest: TIMEBOX_IDENTITY \d{4} B/,
    );
  }, 30_000);
});
