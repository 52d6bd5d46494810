import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildCli } from '../../scripts/build';
import { expectWith } from '../helpers/runner';

/**
 * The shipped entry point, as `npm start` and `npx timebox` run it: bin/timebox.js loading the esbuild bundle of the
 * CLI. The bundle is built here, by scripts/build.ts's buildCli, into a temporary copy of the package layout
 * (bin/, dist/cli/, access.example.yaml, node_modules), so the test never touches the repository's dist/.
 */

const ROOT = join(__dirname, '..', '..');
// tsx's loader by URL: the example client runs from another folder, where a bare `tsx` does not resolve.
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
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

  it('prints its version', () => {
    const r = timebox(['--version']);
    expect(r).toEqual({
      code: 0,
      stdout: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`,
      stderr: '',
    });
  });

  it('a broker started with PORT and TIMEBOX_HOME prints login and request commands that work as printed, from another folder', async () => {
    // Prepare: `PORT=0 TIMEBOX_HOME=<dir> npm start`, and a second shell in another folder with neither variable.
    const brokerHome = join(home, 'elsewhere-home');
    const shell = mkdtempSync(join(tmpdir(), 'timebox-shell-'));
    const started = spawn(process.execPath, [join(pkg, 'bin', 'timebox.js'), 'serve'], {
      cwd: pkg,
      env: { ...baseEnv(), PORT: '0', TIMEBOX_HOME: brokerHome },
    });
    let output = '';
    started.stdout?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    started.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        started.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
        const check = setInterval(() => {
          if (/then, for example:\n {2}npx timebox request .*\n/.test(output)) {
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
      const url = /Timebox local broker on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      const commands = [...output.matchAll(/^ {2}(npx timebox .*)$/gm)].map((m) => m[1] as string);
      // The console sign-in line opens a browser; it is the login line plus `--mfa --web` (its link is tested in
      // test/e2e/console.integration.test.ts).
      const printed = commands.filter((c) => !c.endsWith(' --web'));
      // Act: each command exactly as printed, `npx timebox` being this package's bin.
      const results = printed.map((command) =>
        spawnSync(
          'sh',
          ['-c', command.replace(/^npx timebox /, `"${process.execPath}" "${join(pkg, 'bin', 'timebox.js')}" `)],
          {
            cwd: shell,
            env: { PATH: process.env.PATH, TIMEBOX_CONFIG_DIR: baseEnv().TIMEBOX_CONFIG_DIR },
            encoding: 'utf8',
            timeout: 30_000,
          },
        ),
      );
      // Assess
      expect(url).not.toBe('http://127.0.0.1:8787');
      expect(printed).toHaveLength(2);
      expect(commands).toEqual([...printed, `${printed[0]} --mfa --web`]);
      expect(results.map((r) => [r.status, r.stderr])).toEqual([
        [0, ''],
        [0, ''],
      ]);
      expect(results[0]?.stdout).toContain(`logged in to ${url} as alice@corp.com`);
      expect(results[1]?.stdout).toMatch(/^tb-\w+ active on user-service until /);
      expect(readFileSync(join(brokerHome, 'broker.json'), 'utf8')).toContain(`"url": "${url}"`);

      // And the example gRPC client, given only the grant, gets its token as the CLI would (the same broker, the
      // saved login): no --broker, no --bearer.
      const id = /^(tb-\w+) active/.exec(results[1]?.stdout ?? '')?.[1] as string;
      const service = spawn(
        process.execPath,
        [
          '--import',
          TSX,
          join(ROOT, 'grpc', 'example', 'server.ts'),
          '--port',
          '0',
          '--issuer',
          url as string,
          '--jwks',
          `${url}/.well-known/jwks.json`,
        ],
        { cwd: ROOT, env: { PATH: process.env.PATH } },
      );
      try {
        const address = await new Promise<string>((resolve, reject) => {
          let text = '';
          service.on('exit', (code) => reject(new Error(`example server exited ${code}: ${text}`)));
          service.stdout?.on('data', (c: Buffer) => {
            text += c.toString();
            const m = /server on (127\.0\.0\.1:\d+)/.exec(text);
            if (m?.[1]) resolve(m[1]);
          });
        });
        const call = spawnSync(
          process.execPath,
          [
            '--import',
            TSX,
            join(ROOT, 'grpc', 'example', 'client.ts'),
            '--address',
            address,
            '--method',
            '/acme.user.v1.UserService/GetUser',
            '--grant',
            id,
          ],
          {
            cwd: shell,
            env: { PATH: process.env.PATH, TIMEBOX_CONFIG_DIR: baseEnv().TIMEBOX_CONFIG_DIR },
            encoding: 'utf8',
            timeout: 30_000,
          },
        );
        expect([call.status, call.stderr]).toEqual([0, '']);
        expect(JSON.parse(call.stdout)).toMatchObject({ id: 'u-1' });
      } finally {
        service.kill('SIGTERM');
      }
    } finally {
      const exited = new Promise<number | null>((resolve) => started.on('exit', (code) => resolve(code)));
      started.kill('SIGTERM');
      expect(await exited).toBe(0);
      rmSync(shell, { recursive: true, force: true });
    }
    // Stopped, the broker leaves no record behind for the CLI to follow.
    expect(existsSync(join(brokerHome, 'broker.json'))).toBe(false);
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
