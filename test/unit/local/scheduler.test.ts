import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { LocalScheduler, MAX_TIMER_MS, type ScheduledAction } from '../../../adapters/local/scheduler';
import { DAY } from '../../../core/duration';
import { RecordingLog } from '../../helpers/memory';

const T0 = Date.parse('2026-11-24T10:00:00.000Z');

function schedulerDummy(partial: { concurrency?: number; now?: () => number } = {}) {
  const fired: { grantId: string; action: ScheduledAction; at: number }[] = [];
  const log = new RecordingLog();
  let fail = false;
  const scheduler = new LocalScheduler({
    log,
    now: partial.now ?? Date.now,
    ...(partial.concurrency ? { concurrency: partial.concurrency } : {}),
    fire: async (grantId, action) => {
      fired.push({ grantId, action, at: Date.now() });
      if (fail) throw new Error('store unavailable');
    },
  });
  return {
    scheduler,
    fired,
    log,
    failing: () => {
      fail = true;
    },
  };
}

/** Lets queued promise callbacks (the fire queue) run. */
const settle = () => jest.advanceTimersByTimeAsync(0);

describe('Class: LocalScheduler', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  describe('Method: schedule', () => {
    it('fires the action at its time, not before', async () => {
      // Prepare
      const { scheduler, fired } = schedulerDummy();
      // Act
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 5_000));
      await jest.advanceTimersByTimeAsync(4_999);
      const early = fired.length;
      await jest.advanceTimersByTimeAsync(1);
      // Assess
      expect(early).toBe(0);
      expect(fired).toEqual([{ grantId: 'tb-1', action: 'expire', at: T0 + 5_000 }]);
      expect(scheduler.pending).toBe(0);
    });

    it('fires a time already past at once', async () => {
      const { scheduler, fired } = schedulerDummy();
      await scheduler.schedule('tb-1', 'activate', new Date(T0 - 60_000));
      await settle();
      expect(fired.map((f) => f.action)).toEqual(['activate']);
    });

    it('replaces an earlier schedule of the same grant and action', async () => {
      const { scheduler, fired } = schedulerDummy();
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 1_000));
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 10_000));
      await jest.advanceTimersByTimeAsync(5_000);
      expect(fired).toEqual([]);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(fired).toHaveLength(1);
      expect(scheduler.scheduledAt('tb-1', 'expire')).toBeUndefined();
    });

    it('keeps expire and activate of one grant apart', async () => {
      const { scheduler, fired } = schedulerDummy();
      await scheduler.schedule('tb-1', 'activate', new Date(T0 + 1_000));
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 2_000));
      await jest.advanceTimersByTimeAsync(2_000);
      expect(fired.map((f) => f.action)).toEqual(['activate', 'expire']);
    });

    it('waits out delays beyond the 24.8-day timer limit in steps, without a timer overflow', async () => {
      // Prepare
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on('warning', onWarning);
      const { scheduler, fired } = schedulerDummy();
      const at = T0 + 30 * DAY;
      // Act
      await scheduler.schedule('tb-long', 'expire', new Date(at));
      await jest.advanceTimersByTimeAsync(MAX_TIMER_MS);
      const afterFirstStep = fired.length;
      await jest.advanceTimersByTimeAsync(at - T0 - MAX_TIMER_MS);
      process.off('warning', onWarning);
      // Assess
      expect(afterFirstStep).toBe(0);
      expect(fired).toEqual([{ grantId: 'tb-long', action: 'expire', at }]);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    });

    it('re-arms when a timer fires before the clock reaches the time (the domain ignores early expiries)', async () => {
      // Prepare: once armed, the scheduler's clock falls 3 ms behind the timers, so the timer fires early for it.
      let skew = 0;
      const { scheduler, fired } = schedulerDummy({ now: () => Date.now() - skew });
      // Act
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 1_000));
      skew = 3;
      await jest.advanceTimersByTimeAsync(1_000);
      const atTimerTime = fired.length;
      await jest.advanceTimersByTimeAsync(3);
      // Assess
      expect(atTimerTime).toBe(0);
      expect(fired).toHaveLength(1);
    });

    it('refuses an invalid time', async () => {
      const { scheduler } = schedulerDummy();
      await expect(scheduler.schedule('tb-1', 'expire', new Date(Number.NaN))).rejects.toThrow('invalid time');
    });
  });

  describe('Method: cancel', () => {
    it('stops a schedule from firing and is harmless when nothing is scheduled', async () => {
      const { scheduler, fired } = schedulerDummy();
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 1_000));
      await scheduler.cancel('tb-1', 'expire');
      await scheduler.cancel('tb-unknown', 'activate');
      await jest.advanceTimersByTimeAsync(2_000);
      expect(fired).toEqual([]);
    });
  });

  describe('Method: idle', () => {
    it('runs at most `concurrency` actions at once and resolves when all are done', async () => {
      // Prepare
      let running = 0;
      let peak = 0;
      const done: string[] = [];
      const scheduler = new LocalScheduler({
        log: new RecordingLog(),
        concurrency: 4,
        fire: async (id) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 10));
          running--;
          done.push(id);
        },
      });
      // Act
      for (let i = 0; i < 50; i++) await scheduler.schedule(`tb-${i}`, 'expire', new Date(T0));
      const idle = scheduler.idle();
      await jest.advanceTimersByTimeAsync(200);
      await idle;
      // Assess
      expect(peak).toBe(4);
      expect(done).toHaveLength(50);
      expect(new Set(done).size).toBe(50);
    });
  });

  describe('Method: stop', () => {
    it('drops every timer: nothing fires afterwards, and later schedules are ignored', async () => {
      const { scheduler, fired } = schedulerDummy();
      await scheduler.schedule('tb-1', 'expire', new Date(T0 + 1_000));
      scheduler.stop();
      await scheduler.schedule('tb-2', 'expire', new Date(T0 + 1_000));
      await jest.advanceTimersByTimeAsync(5_000);
      expect(fired).toEqual([]);
      expect(scheduler.pending).toBe(0);
    });
  });

  it('logs a failing action instead of throwing (the sweeper retries it)', async () => {
    const { scheduler, log, failing } = schedulerDummy();
    failing();
    await scheduler.schedule('tb-1', 'expire', new Date(T0));
    await settle();
    await scheduler.idle();
    expect(log.lines).toContainEqual({
      level: 'error',
      message: 'scheduled action failed; the sweeper will retry',
      fields: { grantId: 'tb-1', action: 'expire', error: 'store unavailable' },
    });
  });
});
