import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { listQuery } from '../../../cli/commands/grants';
import { servePort } from '../../../cli/commands/serve';
import { writeBrokerRecord } from '../../../cli/endpoint';
import { EXIT } from '../../../cli/errors';
import type { GrantEvent } from '../../../core/grant/events';
import { SessionVerifier } from '../../../local/auth';
import { runCli } from '../../helpers/cli';
import { expectWith, unstubAllGlobals } from '../../helpers/runner';
import { fakeBroker, grantDummy } from './fake-broker';

const ENV = {
  TIMEBOX_ENDPOINT: 'http://127.0.0.1:8787',
  TIMEBOX_TOKEN: 'session-token',
  TIMEBOX_AWS_REGION: undefined,
};

afterEach(() => {
  unstubAllGlobals();
});

describe('Function: listQuery', () => {
  it('asks for my requests by default, waiting approvals with --pending, a status with --status', () => {
    expect(listQuery({})).toBe('mine=true');
    expect(listQuery({ pending: true })).toBe('approvable=true');
    expect(listQuery({ status: 'active' })).toBe('status=active');
    expect(listQuery({ mine: true, status: 'active', limit: '10' })).toBe('mine=true&status=active&limit=10');
  });

  it.each([
    [{ mine: true, pending: true }, 'use either --mine or --pending'],
    [{ status: 'open' }, '--status: "open" is not one of'],
    [{ limit: '0' }, '--limit: 0 is not between 1 and 100'],
    [{ limit: 'ten' }, '--limit: "ten" is not a number'],
  ])('refuses %j', (opts, message) => {
    expect(() => listQuery(opts)).toThrow(message);
  });
});

describe('Command: list', () => {
  it('prints a table of grants, or one JSON document with --json', async () => {
    const g = grantDummy();
    fakeBroker({ 'GET /v1/requests?mine=true': () => ({ status: 200, body: { grants: [g] } }) });
    const text = await runCli(['list'], ENV);
    const json = await runCli(['list', '--json'], ENV);
    expect(text.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+REQUESTER\s+TARGET\s+FOR\s+WHEN\s+REASON$/);
    expect(text.stdout).toContain(`${g.id}  active  alice@corp.com  prod-logs  1h`);
    expect(JSON.parse(json.stdout)).toEqual({ grants: [g] });
  });
});

describe('Command: show', () => {
  it('prints the grant and every event, following the audit cursor', async () => {
    const g = grantDummy();
    const event = (seq: number, type: string) =>
      ({
        seq,
        at: `2026-11-24T10:00:0${seq}.000Z`,
        type,
        actor: { id: 'timebox', kind: 'system' },
        data: {},
      }) as GrantEvent;
    const broker = fakeBroker({
      [`GET /v1/requests/${g.id}`]: () => ({ status: 200, body: { grant: g } }),
      [`GET /v1/audit?grant=${g.id}&limit=1000`]: () => ({
        status: 200,
        body: { events: [event(1, 'cancelled')], cursor: '1' },
      }),
      [`GET /v1/audit?grant=${g.id}&limit=1000&cursor=1`]: () => ({
        status: 200,
        body: { events: [event(2, 'revoked')] },
      }),
    });
    const r = await runCli(['show', g.id, '--json'], ENV);
    expect(r.code).toBe(EXIT.ok);
    expect(JSON.parse(r.stdout).events.map((e: GrantEvent) => e.type)).toEqual(['cancelled', 'revoked']);
    expect(broker.calls).toHaveLength(3);
  });
});

describe('Command: login', () => {
  let home: string;
  let config: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'timebox-login-'));
    config = join(home, 'config');
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const env = () => ({
    TIMEBOX_HOME: home,
    TIMEBOX_CONFIG_DIR: config,
    TIMEBOX_ENDPOINT: 'http://127.0.0.1:8787',
    TIMEBOX_TOKEN: undefined,
  });

  it('mints a token with the key in TIMEBOX_HOME and saves it for the endpoint, owner-only', async () => {
    // Prepare: the broker made its key when it first started.
    const signer = await LocalTokenSigner.fromFile(join(home, 'signing-key.pem'));
    // Act
    const r = await runCli(['login', '--local', '--as', 'Alice@corp.com', '--mfa', '--group', 'sre'], env());
    // Assess
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^logged in to http:\/\/127\.0\.0\.1:8787 as alice@corp\.com \(MFA\), groups sre, until /);
    const file = join(config, 'tokens.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = JSON.parse(readFileSync(file, 'utf8'))['http://127.0.0.1:8787'] as string;
    const verdict = await new SessionVerifier({
      key: await signer.verifyKey(),
      audiences: ['http://127.0.0.1:8787'],
    }).verify(token);
    expect(verdict).toEqual({ identity: { id: 'alice@corp.com', groups: ['sre'], mfa: true } });
  });

  it('refuses when there is no key, naming the running broker and its data directory, and creates nothing', async () => {
    // Prepare: a broker runs from its own data directory (PORT=9000 TIMEBOX_HOME=<broker> npm start) ...
    const brokerHome = join(home, 'broker');
    await LocalTokenSigner.fromFile(join(brokerHome, 'signing-key.pem'));
    writeBrokerRecord(
      { url: 'http://127.0.0.1:9000', pid: process.pid, home: brokerHome, startedAt: new Date().toISOString() },
      { TIMEBOX_CONFIG_DIR: config },
    );
    const elsewhere = join(home, 'elsewhere');
    // Act: ... and login is pointed at another folder.
    const r = await runCli(['login', '--local', '--as', 'alice@corp.com'], { ...env(), TIMEBOX_HOME: elsewhere });
    // Assess
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toBe(
      `timebox: no signing key at ${join(elsewhere, 'signing-key.pem')} (data directory from TIMEBOX_HOME); login signs with the broker's own key and never creates one; the broker at http://127.0.0.1:9000 keeps its key in ${brokerHome}: log in with --home ${brokerHome} (or TIMEBOX_HOME=${brokerHome})\n`,
    );
    expect(existsSync(elsewhere)).toBe(false);
    expect(existsSync(join(config, 'tokens.json'))).toBe(false);
  });

  it('without TIMEBOX_HOME or --endpoint, logs in to the broker started last, with its key, from any folder', async () => {
    // Prepare
    const brokerHome = join(home, 'broker');
    const signer = await LocalTokenSigner.fromFile(join(brokerHome, 'signing-key.pem'));
    writeBrokerRecord(
      { url: 'http://127.0.0.1:9000', pid: process.pid, home: brokerHome, startedAt: new Date().toISOString() },
      { TIMEBOX_CONFIG_DIR: config },
    );
    // Act
    const r = await runCli(['login', '--local', '--as', 'alice@corp.com'], {
      ...env(),
      TIMEBOX_HOME: undefined,
      TIMEBOX_ENDPOINT: undefined,
    });
    // Assess
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
    const token = JSON.parse(readFileSync(join(config, 'tokens.json'), 'utf8'))['http://127.0.0.1:9000'] as string;
    const verifier = new SessionVerifier({ key: await signer.verifyKey(), audiences: ['http://127.0.0.1:9000'] });
    expect(await verifier.verify(token)).toMatchObject({ identity: { id: 'alice@corp.com' } });
  });

  it('with --print writes only the token to stdout and leaves the saved login alone', async () => {
    await LocalTokenSigner.fromFile(join(home, 'signing-key.pem'));
    await runCli(['login', '--local', '--as', 'alice@corp.com'], env());
    const saved = readFileSync(join(config, 'tokens.json'), 'utf8');
    const r = await runCli(['login', '--local', '--as', 'carol@corp.com', '--print'], env());
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(readFileSync(join(config, 'tokens.json'), 'utf8')).toBe(saved);
  });

  it.each([
    [['login', '--as', 'alice@corp.com'], 'login needs --local'],
    [['login', '--local', '--as', 'alice smith'], '--as: "alice smith" is not a principal id'],
    [['login', '--local', '--as', 'alice@corp.com', '--group', 'Sec Ops'], '--group: "Sec Ops" is not a group name'],
    [['login', '--local', '--as', 'alice@corp.com', '--ttl', '30d'], '--ttl: a login lasts between 1m and 7d'],
  ])('refuses %j with exit 2', async (args, message) => {
    await LocalTokenSigner.fromFile(join(home, 'signing-key.pem'));
    const r = await runCli(args, env());
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain(message);
  });
});

describe('Command: serve', () => {
  it('takes the port from --port, then PORT, then 8787', () => {
    expect(servePort(undefined, {})).toBe(8787);
    expect(servePort(undefined, { PORT: '9000' })).toBe(9000);
    expect(servePort('0', { PORT: '9000' })).toBe(0);
    expect(() => servePort(undefined, { PORT: 'http' })).toThrow('PORT: "http" is not a port');
    expect(() => servePort('70000')).toThrow('--port: "70000" is not a port');
  });

  it('refuses to listen beyond loopback without --allow-remote', async () => {
    const r = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], {});
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('--host 0.0.0.0 exposes the broker beyond this machine');
    expect(r.stderr).toContain('--allow-remote');
  });
});
