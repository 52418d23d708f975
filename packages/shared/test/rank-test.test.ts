import { describe, expect, it } from 'vitest';
import { mannWhitneyP } from '../src/testing/rank-test.ts';

describe('mannWhitneyP', () => {
  it('finds no difference between samples of one distribution', () => {
    const a = Array.from({ length: 200 }, (_, i) => (i * 7919) % 1000);
    const b = Array.from({ length: 200 }, (_, i) => (i * 104729 + 3) % 1000);
    expect(mannWhitneyP(a, b)).toBeGreaterThan(0.05);
    expect(mannWhitneyP(a, a)).toBeCloseTo(1, 1);
  });

  it('finds a small shift in large samples, and says how sure it is', () => {
    const a = Array.from({ length: 300 }, (_, i) => (i * 7919) % 1000);
    const shifted = a.map((v) => v + 150);
    expect(mannWhitneyP(a, shifted)).toBeLessThan(1e-6);
    // By hand: U = 1, mean 12.5, sd 4.787, z = (11.5 - 0.5) / 4.787 = 2.298, two-sided p = 0.0216.
    expect(mannWhitneyP([1, 2, 3, 4, 5], [4.5, 6, 7, 8, 9])).toBeCloseTo(0.0216, 3);
  });

  it('handles ties', () => {
    expect(mannWhitneyP([1, 1, 1, 1], [1, 1, 1, 1])).toBe(1);
    expect(mannWhitneyP([1, 1, 2, 2, 2, 2, 2, 2, 2, 2], [3, 3, 3, 4, 4, 4, 4, 4, 4, 4])).toBeLessThan(0.001);
  });
});
