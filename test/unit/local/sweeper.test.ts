import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { SweepReport } from '../../../core/grant/service';
import { SweeperLoop } from '../../../local/sweeper';
import { RecordingLog } from '../../helpers/memory';

function reportDummy(partial: Partial<SweepReport> = {}): SweepReport {
  return { repaired: 0, expired: 0, lapsed: 0, activated: 0, cleaned: 0, republished: 0, failures: 0, ...partial };
}

describe('Class: SweeperLoop', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('runs a pass every interval, timed from the end of the previous one, and tells the first pass apart', async () => {
    // Prepare: each pass takes 300 ms.
    const passes: { first: boolean; at: number }[] = [];
    const start = Date.now();
    const loop = new SweeperLoop({
      intervalMs: 1_000,
      log: new RecordingLog(),
      sweep: async (first) => {
        passes.push({ first, at: Date.now() - start });
        await new Promise((r) => setTimeout(r, 300));
        return reportDummy();
      },
    });
    // Act
    const first = loop.runOnce();
    await jest.advanceTimersByTimeAsync(300);
    await first;
    loop.start();
    await jest.advanceTimersByTimeAsync(2_700);
    await loop.stop();
    // Assess
    expect(passes).toEqual([
      { first: true, at: 0 },
      { first: false, at: 1_300 },
      { first: false, at: 2_600 },
    ]);
  });

  it('logs a pass that acted and one that failed, and keeps going', async () => {
    const log = new RecordingLog();
    let n = 0;
    const loop = new SweeperLoop({
      intervalMs: 100,
      log,
      sweep: async () => {
        n++;
        if (n === 1) return reportDummy({ expired: 2 });
        if (n === 2) throw new Error('store unavailable');
        return reportDummy();
      },
    });
    loop.start();
    await jest.advanceTimersByTimeAsync(350);
    await loop.stop();
    expect(n).toBe(3);
    expect(log.lines.map((l) => `${l.level} ${l.message}`)).toEqual(['info sweep', 'error sweep failed']);
    expect(log.lines[0]?.fields).toMatchObject({ expired: 2 });
  });

  it('joins a pass already running instead of starting a second one', async () => {
    let running = 0;
    let peak = 0;
    const loop = new SweeperLoop({
      intervalMs: 100,
      log: new RecordingLog(),
      sweep: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 50));
        running--;
        return reportDummy();
      },
    });
    const both = Promise.all([loop.runOnce(), loop.runOnce()]);
    await jest.advanceTimersByTimeAsync(50);
    await both;
    expect(peak).toBe(1);
    expect(loop.passes).toBe(1);
  });

  it('refuses an interval under 100 ms', () => {
    expect(
      () => new SweeperLoop({ intervalMs: 10, log: new RecordingLog(), sweep: async () => reportDummy() }),
    ).toThrow('at least 100 ms');
  });
});
