import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mintSessionToken } from '../../../local/auth';
import { type LocalBroker, startLocalBroker } from '../../../local/broker';
import { examplePolicyPath } from '../../../local/paths';

/** Stopping the broker with calls in flight: they finish and are recorded, then the store closes. */

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'timebox-shutdown-'));
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
});

let publishing = 0;

interface Answer {
  status: number;
  body: { grant?: { id: string; lastSeq: number } };
}

async function start(lines: string[], publishDelayMs = 0): Promise<LocalBroker> {
  return startLocalBroker({
    home,
    configFile: examplePolicyPath() as string,
    host: '127.0.0.1',
    port: 0,
    sweepIntervalMs: 3_600_000,
    out: { write: (l: string) => lines.push(l) },
    // A slow lifecycle publisher keeps each request inside the API for a while, so that close() finds them there.
    publishers: [
      {
        publish: () => {
          publishing++;
          return new Promise((r) => setTimeout(r, publishDelayMs));
        },
      },
    ],
  });
}

describe('Method: LocalBroker.close', () => {
  it('waits for the calls in flight, answers them, and only then closes the store', async () => {
    const lines: string[] = [];
    const broker = await start(lines, 1_500);
    const { token } = await mintSessionToken(broker.runtime.signer, {
      who: { id: 'alice@corp.com', groups: [], mfa: false },
      audience: broker.url,
      ttlMs: 600_000,
      now: new Date(),
    });
    const calls = Array.from({ length: 20 }, () =>
      fetch(`${broker.url}/v1/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ target: 'user-service', duration: '30m', reason: 'shutdown test' }),
      }).then(
        async (r): Promise<Answer> => ({ status: r.status, body: (await r.json()) as Answer['body'] }),
        (): Answer => ({ status: 0, body: {} }),
      ),
    );
    // Let calls reach the API (each then waits on the publisher), then stop the broker.
    publishing = 0;
    for (let i = 0; i < 500 && publishing < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(publishing).toBeGreaterThanOrEqual(3);
    const stopping = Date.now();
    await broker.close();
    const tookMs = Date.now() - stopping;
    const answers = await Promise.all(calls);

    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThan(0);
    // Every call got an answer the broker stands by: created, or refused because it is stopping. None failed.
    expect(answers.every((a) => a.status === 201 || a.status === 503 || a.status === 0)).toBe(true);
    expect(tookMs).toBeGreaterThanOrEqual(100);
    expect(lines.join('\n')).not.toMatch(/closed|INTERNAL|fault/i);
    expect(broker.runtime.store.sqlite.isOpen).toBe(false);

    // Every request acknowledged before the stop is on the record after it.
    const again = await start([]);
    try {
      for (const a of created) {
        const id = a.body.grant?.id as string;
        expect((await again.runtime.store.events.read(id)).length).toBeGreaterThanOrEqual(a.body.grant?.lastSeq ?? 1);
      }
    } finally {
      await again.close();
    }
  });
});
