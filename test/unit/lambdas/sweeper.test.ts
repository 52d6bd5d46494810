import { describe, expect, it } from '@jest/globals';
import { createSweeperHandler, SweepFailedError } from '../../../lambdas/sweeper/handler';
import { alice, requestDummy, world } from '../../helpers/world';

const MIN = 60_000;

describe('Function: createSweeperHandler', () => {
  it('runs one pass, expires what the schedule missed and logs the report', async () => {
    // Prepare: the expiry schedule was never created.
    const w = world();
    w.scheduler.failNext = 1;
    const { grant } = await w.service.request(alice, requestDummy());
    w.clock.advance(31 * MIN);
    const sweep = createSweeperHandler({ service: w.service, log: w.log });
    // Act
    const report = await sweep();
    // Assess
    expect(report).toMatchObject({ expired: 1, failures: 0 });
    expect((await w.service.load(grant.id)).status).toBe('expired');
    const line = w.log.lines.find((l) => l.message === 'sweep finished');
    expect(line?.fields).toMatchObject({ expired: 1, failures: 0 });
  });

  it('throws after the whole pass when a step failed, so the Errors metric counts it', async () => {
    const w = world();
    w.scheduler.failNext = 1;
    const { grant } = await w.service.request(alice, requestDummy());
    w.clock.advance(31 * MIN);
    Object.assign(w.providers.grpc, {
      maintain: async () => {
        throw new Error('iam unreachable');
      },
    });
    const sweep = createSweeperHandler({ service: w.service, log: w.log });
    const error = await sweep().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SweepFailedError);
    expect((error as SweepFailedError).report).toMatchObject({ expired: 1, failures: 1 });
    // The pass went on past the failure: the overdue grant was expired all the same.
    expect((await w.service.load(grant.id)).status).toBe('expired');
    expect(w.log.lines.find((l) => l.message === 'sweep finished')?.fields).toMatchObject({ failures: 1 });
  });
});
