import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintSessionToken } from '../../local/auth';
import { type LocalBroker, type LocalBrokerOptions, startLocalBroker } from '../../local/broker';
import { examplePolicyPath } from '../../local/paths';

export interface TestBroker {
  broker: LocalBroker;
  home: string;
  /** Closes the broker and removes its folder. */
  stop(): Promise<void>;
}

/** A local broker on a free loopback port, the shipped example policy, in-memory store, in its own temp folder. */
export async function startTestBroker(prefix: string, opts: Partial<LocalBrokerOptions> = {}): Promise<TestBroker> {
  const home = mkdtempSync(join(tmpdir(), `timebox-${prefix}-`));
  const broker = await startLocalBroker({
    home,
    configFile: examplePolicyPath() as string,
    host: '127.0.0.1',
    port: 0,
    memory: true,
    ...opts,
  });
  return {
    broker,
    home,
    async stop() {
      await broker.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A session token for `id` (MFA, no asserted groups), for an hour, as `timebox login --local` mints it. */
export async function sessionToken(broker: LocalBroker, id: string): Promise<string> {
  return (
    await mintSessionToken(broker.runtime.signer, {
      who: { id, groups: [], mfa: true },
      audience: broker.url,
      ttlMs: 3_600_000,
      now: new Date(),
    })
  ).token;
}
