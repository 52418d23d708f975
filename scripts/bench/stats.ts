import type { LoadResult } from './load.ts';

/** One measurement: named numbers (req/s, ms, MiB, counts). */
export type Figures = Record<string, number>;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The median of each figure across rounds. */
export function medians(rounds: readonly Figures[]): Figures {
  const keys = new Set(rounds.flatMap((r) => Object.keys(r)));
  return Object.fromEntries([...keys].map((k) => [k, median(rounds.map((r) => r[k] ?? Number.NaN))]));
}

/** The figures every HTTP load reports. `failed`: non-2xx answers and socket errors. */
export function httpFigures(r: LoadResult): Figures {
  const e = r.errors;
  const failed = Math.max(e.status, r.bad) + e.connect + e.read + e.write + e.timeout;
  return { rps: r.rps, requests: r.requests, failed, p50: r.latencyMs.p50, p90: r.latencyMs.p90, p99: r.latencyMs.p99, max: r.latencyMs.max };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
