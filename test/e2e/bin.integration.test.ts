import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildCli } from '../../scripts/build';
import { expectWith } from '../helpers/runner';

/**
 * The shipped entry point, as `npm start` and `npx timebox` run it: bin/timebox.js loading the esbuild bundle of the
 * CLI. The bundle is built here, by scripts/build.ts's buildCli, into a temporary copy of the package layout
 * (bin/, dist/cli/, access.example.yaml, node_modules), so the test never touches the repository's dist/.
 */

const ROOT = join(__dirname, '..', '..');
let pkg: string;
let home: string;
let serve: ChildProcess | undefined;

const baseEnv = () => ({
  PATH: process.env.PATH,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  TIMEBOX_HOME: home,
  TIMEBOX_CONFIG_DIR: join(home, 'cli-config'),
});

function timebox(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [join(pkg, 'bin', 'timebox.js'), ...args], {
    cwd: home,
    env: { ...baseEnv(), ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  pkg = mkdtempSync(join(tmpdir(), 'timebox-pkg-'));
  home = mkdtempSync(join(tmpdir(), 'timebox-bin-home-'));
  mkdirSync(join(pkg, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'timebox.js'), join(pkg, 'bin', 'timebox.js'));
  copyFileSync(join(ROOT, 'access.example.yaml'), join(pkg, 'access.example.yaml'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  await buildCli(ROOT, join(pkg, 'dist', 'cli'));
});

afterAll(() => {
  serve?.kill('SIGKILL');
  rmSync(pkg, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('Binary: bin/timebox.js', () => {
  it('starts without dynalite, the broker, the AWS SDK, jose or the YAML loader: they sit in chunks only serve, login, SigV4 and policy commands import', () => {
    // The static import graph of the entry is what every command loads at start-up.
    const dist = join(pkg, 'dist', 'cli');
    const seen = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:^|[;}\n])import\s*(?:[\w{}\s,*$]+from\s*)?"(\.[^"]+)"/g))
        walk(join(dirname(file), m[1] as string));
    };
    walk(join(dist, 'timebox.mjs'));
    const sourcesOf = (file: string) =>
      (JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] }).sources;
    const atStart = [...seen].flatMap(sourcesOf);
    expect(atStart.length).toBeGreaterThan(10);
    expect(
      atStart.filter((s) =>
        /dynalite|classic-level|@aws-sdk|@smithy|jose|[\\/]yaml[\\/]|local[\\/]broker|policy[\\/]load/.test(s),
      ),
    ).toEqual([]);
    // And the commands still work from that start: check reads YAML through its lazily loaded chunk.
    const r = timebox(['check', '--config', join(pkg, 'access.example.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/access\.example\.yaml: valid \(2 groups, 3 targets, 4 rules\)/);
  });

  it('serves the broker (npm start), logs in, requests, issues a token, and stops on SIGTERM', async () => {
    // Act: start `serve` on a free port and read the URL from its banner.
    serve = spawn(process.execPath, [join(pkg, 'bin', 'timebox.js'), 'serve', '--port', '0'], {
      cwd: home,
      env: baseEnv(),
    });
    let output = '';
    serve.stdout?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    serve.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      serve?.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
      const check = setInterval(() => {
        const m = /Timebox local broker on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (m?.[1]) {
          clearInterval(check);
          resolve(m[1]);
        }
      }, 50);
    });
    const login = timebox(['login', '--local', '--as', 'bob@corp.com', '--print'], { TIMEBOX_ENDPOINT: url });
    const token = login.stdout.trim();
    const request = timebox(['request', 'user-service', '--for', '5m', '--reason', 'smoke', '--json'], {
      TIMEBOX_ENDPOINT: url,
      TIMEBOX_TOKEN: token,
    });
    const id = JSON.parse(request.stdout).grant.id as string;
    const grpcToken = timebox(['token', id], { TIMEBOX_ENDPOINT: url, TIMEBOX_TOKEN: token });
    const exited = new Promise<number | null>((resolve) => serve?.on('exit', (code) => resolve(code)));
    serve.kill('SIGTERM');
    // Assess
    expect(output).toContain(`config    ${join(pkg, 'access.example.yaml')} (the shipped example`);
    expect(output).toContain(`data      ${home} (grants and audit survive restarts)`);
    expect(output).toContain('npx timebox login --local --as alice@corp.com');
    expect(login.code).toBe(0);
    expectWith(request.code, request.stderr).toBe(0);
    expect(JSON.parse(request.stdout).grant.status).toBe('active');
    expect(grpcToken.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(await exited).toBe(0);
    expect(output).toContain(`EVENT grant ${id} #3 credentials-issued by bob@corp.com`);
    expect(output).toContain('stopping the broker');
  });

  it('says how to build when the bundle is missing', () => {
    const bare = mkdtempSync(join(tmpdir(), 'timebox-nobundle-'));
    mkdirSync(join(bare, 'bin'));
    copyFileSync(join(ROOT, 'bin', 'timebox.js'), join(bare, 'bin', 'timebox.js'));
    const r = spawnSync(process.execPath, [join(bare, 'bin', 'timebox.js'), 'list'], { encoding: 'utf8' });
    rmSync(bare, { recursive: true, force: true });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('the CLI is not built yet; run `npm run build`');
  });
});
