import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { scopedLog } from '../../../core/ports';
import { LogPublisher, PowertoolsLog } from '../../../lambdas/log';
import { RecordingLog } from '../../helpers/memory';
import { alice, requestDummy, world } from '../../helpers/world';

/** Captures the JSON lines Powertools Logger writes (info to stdout, warn and error to stderr), in order. */
function captureStdout(): { lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const record = (chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  };
  jest.spyOn(process.stdout, 'write').mockImplementation(record);
  jest.spyOn(process.stderr, 'write').mockImplementation(record);
  return {
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('Class: PowertoolsLog', () => {
  it('writes one JSON object per line with the message, level, service and fields', () => {
    // Prepare
    const out = captureStdout();
    const log = new PowertoolsLog(new Logger({ serviceName: 'timebox-test' }));
    // Act
    log.warn('projection repaired', { grantId: 'tb-1', from: 1, to: 3 });
    // Assess
    const [line] = out.lines();
    expect(line).toMatchObject({
      level: 'WARN',
      message: 'projection repaired',
      service: 'timebox-test',
      grantId: 'tb-1',
      from: 1,
      to: 3,
    });
  });

  it('puts the scoped grant id on every line, including lines whose writer does not know it', () => {
    const out = captureStdout();
    const log = scopedLog(new PowertoolsLog(new Logger({ serviceName: 'timebox-test' })), {
      grantId: 'tb-2',
      requestId: 'r-1',
    });
    log.info('concurrent write, retrying', { attempt: 2 });
    log.error('unexpected fault', { error: 'boom' });
    const lines = out.lines();
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatchObject({ grantId: 'tb-2', requestId: 'r-1' });
    expect(lines[1]).toMatchObject({ level: 'ERROR', error: 'boom' });
  });
});

describe('Function: scopedLog', () => {
  it('adds fields to any Log, letting the line override them and dropping undefined ones', () => {
    const rec = new RecordingLog();
    const log = scopedLog(rec, { grantId: 'tb-3', absent: undefined });
    log.info('a');
    log.warn('b', { grantId: 'tb-4' });
    expect(rec.lines).toEqual([
      { level: 'info', message: 'a', fields: { grantId: 'tb-3' } },
      { level: 'warn', message: 'b', fields: { grantId: 'tb-4' } },
    ]);
  });
});

describe('Class: LogPublisher', () => {
  it('writes one "lifecycle event" line per event with grant id, sequence and type', async () => {
    // Prepare: a real lifecycle through the service, published through the log.
    const w = world();
    const rec = new RecordingLog();
    const { grant } = await w.service.request(alice, requestDummy());
    const events = await w.events.read(grant.id);
    // Act
    await new LogPublisher(rec).publish(events, grant);
    // Assess
    expect(rec.lines.map((l) => [l.message, l.fields?.grantId, l.fields?.seq, l.fields?.type])).toEqual([
      ['lifecycle event', grant.id, 1, 'requested'],
      ['lifecycle event', grant.id, 2, 'activated'],
    ]);
    expect(rec.lines[0]?.fields).toMatchObject({ actor: 'alice@corp.com', target: 'prod-logs', status: 'active' });
  });
});
