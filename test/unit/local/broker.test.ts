import { describe, expect, it } from '@jest/globals';
import { banner, type LocalBroker } from '../../../local/broker';
import { examplePolicyPath } from '../../../local/paths';
import { loadLocalPolicy } from '../../../local/runtime';

/** Just what `banner` reads of a running broker. */
function brokerDummy(host: string): LocalBroker {
  const compiled = loadLocalPolicy(examplePolicyPath() as string);
  return {
    url: `http://${host}:8787`,
    http: { host, port: 8787 },
    runtime: {
      policy: () => compiled,
      sweeper: { intervalMs: 15_000 },
      rearmed: { expire: 2, activate: 1 },
    },
  } as unknown as LocalBroker;
}

describe('Function: banner', () => {
  it('says where the broker is, which policy and data it uses, and how to get a token', () => {
    const text = banner(brokerDummy('127.0.0.1'), {
      configFile: '/repo/access.example.yaml',
      home: '/repo/.timebox',
      exampleConfig: true,
    });
    expect(text.split('\n').slice(0, 6)).toEqual([
      'Timebox local broker on http://127.0.0.1:8787',
      '  config    /repo/access.example.yaml (the shipped example; --config <file> for your own)',
      '            3 targets, 4 rules, 2 groups',
      '  data      /repo/.timebox (grants and audit survive restarts)',
      '  keys      http://127.0.0.1:8787/.well-known/jwks.json, revocations http://127.0.0.1:8787/.well-known/timebox/revocations.json',
      '  sweeper   every 15 s; re-armed 2 expiries, 1 activations',
    ]);
    expect(text).toContain('  npx timebox login --local --as alice@corp.com');
    expect(text).not.toContain('WARNING');
  });

  it('warns first when the broker listens beyond loopback', () => {
    const text = banner(brokerDummy('0.0.0.0'), { configFile: 'a.yaml', home: '/h', exampleConfig: false });
    expect(text.split('\n')[0]).toMatch(/^WARNING: listening on 0\.0\.0\.0: bearer tokens travel in plain http/);
  });
});
