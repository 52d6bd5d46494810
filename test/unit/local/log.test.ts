import { describe, expect, it } from '@jest/globals';
import { ConsoleLog, EventLinePublisher, FanOutPublisher, formatFields } from '../../../adapters/local/log';
import type { GrantEvent } from '../../../core/grant/events';
import type { Grant } from '../../../core/grant/state';
import type { EventPublisher } from '../../../core/ports';
import {
  brokerUrl,
  examplePolicyPath,
  isLoopbackHost,
  loopbackAliases,
  resolveHome,
  signingKeyPath,
} from '../../../local/paths';
import { alice, requestDummy, world } from '../../helpers/world';

/** A sink that keeps what was written. */
function sinkDummy() {
  const lines: string[] = [];
  return { lines, write: (l: string) => lines.push(l) };
}

async function eventsOfOneGrant(): Promise<{ events: GrantEvent[]; grant: Grant }> {
  const w = world();
  const { grant } = await w.service.request(alice, requestDummy());
  return { events: await w.events.read(grant.id), grant: await w.service.load(grant.id) };
}

describe('Class: EventLinePublisher', () => {
  it('writes one line per lifecycle event: grant, sequence, type, actor, target and status', async () => {
    // Prepare
    const sink = sinkDummy();
    const { events, grant } = await eventsOfOneGrant();
    // Act
    await new EventLinePublisher(sink).publish(events, grant);
    // Assess
    expect(sink.lines).toHaveLength(events.length);
    expect(sink.lines[0]).toBe(
      `${events[0]?.at} EVENT grant ${grant.id} #1 requested by alice@corp.com on prod-logs -> active (allow, rule sre-reads-logs: "INC-123 investigating")\n`,
    );
    expect(sink.lines[1]).toMatch(
      new RegExp(`#2 activated by timebox on prod-logs -> active \\(until ${grant.expiresAt}\\)`),
    );
  });
});

describe('Class: FanOutPublisher', () => {
  it('gives every publisher the events even when one fails, then reports the failure', async () => {
    // Prepare
    const got: string[] = [];
    const ok = (name: string): EventPublisher => ({ publish: async (es) => void got.push(`${name}:${es.length}`) });
    const failing: EventPublisher = {
      publish: async () => {
        throw new Error('webhook down');
      },
    };
    const fan = new FanOutPublisher([ok('log'), failing]);
    fan.add(ok('notifier'));
    const { events, grant } = await eventsOfOneGrant();
    // Act
    const error = await fan.publish(events, grant).catch((e: unknown) => e);
    // Assess
    expect(got).toEqual([`log:${events.length}`, `notifier:${events.length}`]);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as Error).message).toBe('1 of 3 publishers failed: webhook down');
  });
});

describe('Class: ConsoleLog', () => {
  it('shows warnings and errors, and info lines only when verbose', () => {
    const quiet = sinkDummy();
    const loud = sinkDummy();
    const now = () => new Date('2026-11-24T10:00:00.000Z');
    for (const [sink, verbose] of [
      [quiet, false],
      [loud, true],
    ] as const) {
      const log = new ConsoleLog(sink, { verbose, now });
      log.info('api request', { status: 201 });
      log.warn('projection repaired', { grantId: 'tb-1', reason: 'lagging behind' });
    }
    expect(quiet.lines).toEqual([
      '2026-11-24T10:00:00.000Z WARN  projection repaired grantId=tb-1 reason="lagging behind"\n',
    ]);
    expect(loud.lines).toHaveLength(2);
  });

  it('keeps a line one line whatever the fields hold', () => {
    expect(formatFields({ a: 'x\ny', b: { c: 1 }, d: undefined })).toBe(' a="x\\ny" b={"c":1}');
  });
});

describe('Module: paths', () => {
  it('puts the data directory in TIMEBOX_HOME, else ./.timebox', () => {
    expect(resolveHome({}, '/work/x')).toBe('/work/x/.timebox');
    expect(resolveHome({ TIMEBOX_HOME: 'state' }, '/work/x')).toBe('/work/x/state');
    expect(resolveHome({ TIMEBOX_HOME: '/var/lib/timebox' }, '/work/x')).toBe('/var/lib/timebox');
    expect(signingKeyPath('/var/lib/timebox')).toBe('/var/lib/timebox/signing-key.pem');
  });

  it('tells loopback from other hosts, and writes IPv6 URLs with brackets', () => {
    expect(['127.0.0.1', '127.5.0.1', 'localhost', '::1', '[::1]'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.5', '::', 'example.com', '128.0.0.1'].some(isLoopbackHost)).toBe(false);
    expect(brokerUrl('::1', 8787)).toBe('http://[::1]:8787');
    expect(loopbackAliases(8787)).toEqual(['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787']);
  });

  it('finds the shipped example policy from the sources', () => {
    expect(examplePolicyPath()).toMatch(/access\.example\.yaml$/);
  });
});
