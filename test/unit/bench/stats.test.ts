import { describe, expect, it } from '@jest/globals';
import {
  measure,
  median,
  medianMs,
  percentile,
  summarize,
  timeEach,
  timeInterleaved,
  warmUp,
} from '../../../bench/lib/stats';

describe('Module: bench/lib/stats', () => {
  describe('Function: percentile', () => {
    it('picks the nearest-rank sample, never an interpolation', () => {
      const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
      expect(percentile(sorted, 50)).toBe(50);
      expect(percentile(sorted, 99)).toBe(99);
      expect(percentile(sorted, 100)).toBe(100);
      expect(percentile([10, 20, 30, 40], 50)).toBe(20);
      expect(percentile([10, 20, 30, 40], 51)).toBe(30);
      expect(percentile([7], 1)).toBe(7);
    });

    it('refuses no samples and percentiles outside (0, 100]', () => {
      expect(() => percentile([], 50)).toThrow(/no samples/);
      expect(() => percentile([1], 0)).toThrow(/\(0, 100\]/);
      expect(() => percentile([1], 101)).toThrow(/\(0, 100\]/);
    });
  });

  describe('Function: median', () => {
    it('takes the middle value, or the mean of the two middle values', () => {
      expect(median([3, 1, 2])).toBe(2);
      expect(median([4, 1, 3, 2])).toBe(2.5);
      expect(() => median([])).toThrow();
    });
  });

  describe('Function: summarize', () => {
    it('reports order statistics and the mean without reordering the input', () => {
      // Prepare
      const samples = Float64Array.from([5, 1, 4, 2, 3]);
      // Act
      const s = summarize(samples);
      // Assess
      expect(s).toEqual({ n: 5, min: 1, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 });
      expect([...samples]).toEqual([5, 1, 4, 2, 3]);
    });
  });

  describe('Function: timeEach', () => {
    it('warms up, then times each input once and keeps its result at its index', () => {
      // Prepare
      const calls: number[] = [];
      // Act
      const { samplesUs, results } = timeEach(
        [1, 2, 3],
        (x) => {
          calls.push(x);
          return x * 10;
        },
        { warmupRounds: 2, warmupInputs: 2 },
      );
      // Assess
      expect(calls).toEqual([1, 2, 1, 2, 1, 2, 3]);
      expect(results).toEqual([10, 20, 30]);
      expect(samplesUs).toHaveLength(3);
      expect([...samplesUs].every((v) => v >= 0)).toBe(true);
    });
  });

  describe('Function: timeInterleaved', () => {
    it('alternates subjects block by block over the same inputs', () => {
      // Prepare
      const order: string[] = [];
      const subject = (name: string) => (i: number) => {
        order.push(`${name}${i}`);
        return `${name}:${i}`;
      };
      // Act
      const { samplesUs, results } = timeInterleaved(5, [subject('a'), subject('b')], { blockSize: 2 });
      // Assess
      expect(order).toEqual(['a0', 'a1', 'b0', 'b1', 'a2', 'a3', 'b2', 'b3', 'a4', 'b4']);
      expect(results).toEqual([
        ['a:0', 'a:1', 'a:2', 'a:3', 'a:4'],
        ['b:0', 'b:1', 'b:2', 'b:3', 'b:4'],
      ]);
      expect(samplesUs.map((s) => s.length)).toEqual([5, 5]);
    });
  });

  describe('Function: warmUp', () => {
    it('calls every input once per round', () => {
      const seen: number[] = [];
      warmUp(3, (i) => seen.push(i), 2);
      expect(seen).toEqual([0, 1, 2, 0, 1, 2]);
    });
  });

  describe('Function: measure', () => {
    it('runs warm-up calls untimed and returns one sample per timed iteration', () => {
      let calls = 0;
      const samples = measure(() => ++calls, { warmup: 3, iterations: 4 });
      expect(calls).toBe(7);
      expect(samples).toHaveLength(4);
    });
  });

  describe('Function: medianMs', () => {
    it('runs the function the given number of times and returns the last result', () => {
      let calls = 0;
      const r = medianMs(3, () => ++calls);
      expect(calls).toBe(3);
      expect(r.last).toBe(3);
      expect(r.runsMs).toHaveLength(3);
      expect(r.medianMs).toBe(median(r.runsMs));
      expect(() => medianMs(0, () => 1)).toThrow();
    });
  });
});
