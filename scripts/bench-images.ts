// `node scripts/bench-images.ts`: how fast normaliseImage runs at worker concurrency 1, 2 and 4,
// and whether it stalls the event loop. A stalled loop would stall BullMQ's lock renewal, so the
// question is which worker concurrency (and sharp.concurrency) to run on a small machine.
// Not a test: it prints a table and exits.
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { makeImage } from '../packages/shared/src/testing/images.ts';
import { normaliseImage } from '../services/scheduler/src/images.ts';
import { percentile } from './bench/stats.ts';

const INPUTS = 28;
const PNG_EVERY = 7; // 24 JPEGs and 4 PNGs, spread out so every run meets the slow PNGs alike
const SIZE = { width: 3000, height: 2000 };
const WORKER_CONCURRENCY = [1, 2, 4];
const LOOP_RESOLUTION_MS = 10;
const opts = { maxPixels: 40_000_000, thumbnailSize: 512 };
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Result {
  imagesPerSecond: number;
  p50: number;
  p95: number;
  maxLoopDelay: number;
  p99LoopDelay: number;
  peakRssMb: number;
}

// A fixed number of lanes, each taking the next input when its previous one is done: the shape of
// a BullMQ worker with `concurrency: n`.
async function pool<T>(items: readonly T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

async function run(inputs: readonly Buffer[], lanes: number): Promise<Result> {
  const durations: number[] = [];
  let peakRss = process.memoryUsage.rss();
  const rssSampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const started = performance.now();
  await pool(inputs, lanes, async (input) => {
    const t0 = performance.now();
    await normaliseImage(input, opts);
    durations.push(performance.now() - t0);
  });
  const elapsed = performance.now() - started;
  loop.disable();
  clearInterval(rssSampler);
  durations.sort((a, b) => a - b);
  return {
    imagesPerSecond: (inputs.length * 1000) / elapsed,
    p50: percentile(durations, 50),
    p95: percentile(durations, 95),
    maxLoopDelay: loop.max / 1e6,
    p99LoopDelay: loop.percentile(99) / 1e6,
    peakRssMb: peakRss / 2 ** 20,
  };
}

const defaultSharpConcurrency = sharp.concurrency();
say(
  `node ${process.version}, ${availableParallelism()} CPUs, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, ` +
    `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), default sharp.concurrency=${defaultSharpConcurrency}`,
);
say(`generating ${INPUTS} noisy ${SIZE.width}x${SIZE.height} images, every ${PNG_EVERY}th a PNG, the rest JPEGs...`);
const inputs: Buffer[] = [];
for (let i = 0; i < INPUTS; i++) inputs.push(await makeImage(i % PNG_EVERY === 3 ? 'png' : 'jpeg', { ...SIZE, noise: true }));
const totalMb = inputs.reduce((sum, b) => sum + b.length, 0) / 2 ** 20;
say(`${inputs.length} inputs, ${totalMb.toFixed(0)} MB in total`);

await normaliseImage(inputs[0] as Buffer, opts); // warm up libvips and the thread pools
const idle = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
idle.enable();
await new Promise((resolve) => setTimeout(resolve, 1000));
idle.disable();
say(`idle baseline: max loop delay ${(idle.max / 1e6).toFixed(1)} ms`);

const settings = [...new Set([defaultSharpConcurrency, 1, availableParallelism()])];
const rows: string[][] = [];
for (const threads of settings) {
  sharp.concurrency(threads);
  for (const lanes of WORKER_CONCURRENCY) {
    const r = await run(inputs, lanes);
    rows.push([
      `${threads}${threads === defaultSharpConcurrency ? ' (default)' : ''}`,
      String(lanes),
      r.imagesPerSecond.toFixed(2),
      r.p50.toFixed(0),
      r.p95.toFixed(0),
      r.p99LoopDelay.toFixed(1),
      r.maxLoopDelay.toFixed(1),
      r.peakRssMb.toFixed(0),
    ]);
  }
}
sharp.concurrency(defaultSharpConcurrency);

const header = ['sharp.concurrency', 'workers', 'images/s', 'p50 ms', 'p95 ms', 'p99 loop delay ms', 'max loop delay ms', 'peak RSS MB'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
say('');
say(line(header));
say(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) say(line(row));
say(`\nloop delay: gap between ${LOOP_RESOLUTION_MS} ms timer ticks, so ~${LOOP_RESOLUTION_MS} means no stall.`);
