import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { ACCOUNT, fakeBundles, POLICY_YAML, projectWithPolicy, SPOKE_ACCOUNT } from './helpers/pulumi-mocks';

/**
 * The entry points as Pulumi starts them: `node <runtime.options.nodeargs> ...` with the program required from the
 * project directory (cwd), TypeScript loaded by tsx, config from PULUMI_CONFIG. Proves the runtime choice in
 * Pulumi.yaml works with this repository's tsconfig and CommonJS package, and that the defaults (policy file and
 * dist/lambdas relative to the project directory, config from the runtime) are the ones the program uses.
 */

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const RUNNER = join(__dirname, 'fixtures', 'run-entry.ts');

interface ProjectFile {
  name: string;
  main: string;
  runtime: { name: string; options: { typescript: boolean; nodeargs: string } };
}

function projectFile(path: string): ProjectFile {
  return parse(readFileSync(path, 'utf8')) as ProjectFile;
}

/** A project directory like the repository root: access.yaml, dist/lambdas, node_modules. */
function projectDir(): string {
  const dir = projectWithPolicy(POLICY_YAML);
  const dist = fakeBundles(['api', 'revoke', 'sweeper']);
  mkdirSync(join(dir, 'dist'));
  symlinkSync(dist, join(dir, 'dist', 'lambdas'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function start(
  project: ProjectFile,
  entry: string,
  cwd: string,
  config: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [...project.runtime.options.nodeargs.split(' '), RUNNER, entry];
  try {
    const r = await run(process.execPath, args, {
      cwd,
      env: {
        ...process.env,
        PULUMI_CONFIG: JSON.stringify(config),
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const HUB_CONFIG = {
  'aws:region': 'eu-west-1',
  'timebox:policyFile': 'access.yaml',
  'timebox:identity': JSON.stringify({ accounts: [ACCOUNT], roles: [{ pattern: 'AWSReservedSSO_*', mfa: true }] }),
  'timebox:allowedAccounts': JSON.stringify([ACCOUNT]),
  'timebox:spokeAccounts': JSON.stringify([SPOKE_ACCOUNT]),
};

const HUB_PROJECT = projectFile(join(ROOT, 'Pulumi.yaml'));
const SPOKE_PROJECT = projectFile(join(ROOT, 'stacks', 'spoke', 'Pulumi.yaml'));

// One child process (most of its time goes to loading the Pulumi SDKs); the spoke program shares the runtime
// settings (asserted below) and runs in-process in spoke.test.ts.
let hub: ReturnType<typeof start>;
beforeAll(() => {
  hub = start(HUB_PROJECT, join(ROOT, HUB_PROJECT.main), projectDir(), HUB_CONFIG);
});

describe('Pulumi.yaml (hub)', () => {
  const project = HUB_PROJECT;

  it('runs TypeScript through tsx, not the vendored ts-node, and points main at the hub entry', () => {
    expect(project.name).toBe('timebox');
    expect(project.runtime).toEqual({
      name: 'nodejs',
      options: { typescript: false, nodeargs: '--require tsx/cjs' },
    });
    expect(project.main).toBe('stacks/index.ts');
  });

  it('starts the hub program with those node arguments, reading config and files as deployed', async () => {
    const r = await hub;
    expect(r.code).toBe(0);
    // pulumi.log reaches the engine's log; the fixture's gcp-role target without timebox:gcp is worth a warning.
    expect(r.stderr.trim()).toBe(
      'warning: [runtime] access.yaml has gcp-role targets but timebox:gcp is not set: requests for them will fail with TARGET.KIND_UNAVAILABLE',
    );
    const { outputs, resources } = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(outputs.apiUrl).toMatch(/^https:\/\/.+\.execute-api\.eu-west-1\.amazonaws\.com\/live$/);
    expect(Object.keys(outputs.targetRoleArns).sort()).toEqual(['prod-db-read', 'prod-logs', 'spoke-logs']);
    expect(resources).toBeGreaterThan(80);
  }, 60_000);
});

describe('stacks/spoke/Pulumi.yaml', () => {
  it('uses the same runtime settings as the hub', () => {
    expect(SPOKE_PROJECT.runtime).toEqual(HUB_PROJECT.runtime);
    expect(SPOKE_PROJECT.main).toBe('index.ts');
  });
});
