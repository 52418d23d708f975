import type { BenchContext } from '../context.ts';
import { countedLoad } from '../context.ts';
import { sampleRss } from '../rss.ts';
import type { Figures } from '../stats.ts';

/**
 * `--uploads` concurrent uploads of `--upload-mb` MiB each to `url`, with the peak RSS growth of
 * process `pid` (the server under test) sampled from here every 10 ms: peak minus the RSS just
 * before. One upload first, alone, so first-use allocations are not counted as growth.
 */
export async function measureUploads(ctx: BenchContext, name: string, pid: number, url: string, token?: string): Promise<Figures> {
  const { uploads, uploadMb } = ctx.opts;
  const shape = { kind: 'upload' as const, url, bytes: Math.round(uploadMb * 2 ** 20), date: new Date().toISOString().slice(0, 10), ...(token && { token }) };
  await countedLoad(ctx, `${name} (warm-up)`, shape, 1, 1, 120);
  const sampler = sampleRss(pid);
  const r = await countedLoad(ctx, name, shape, uploads, uploads, 120);
  const { beforeMib, peakMib } = sampler.stop();
  return {
    rssGrowthMib: peakMib - beforeMib,
    rssBeforeMib: beforeMib,
    rssPeakMib: peakMib,
    uploads: r.ok,
    failed: uploads - r.ok,
    uploadsPerSecond: r.rps,
    p50: r.latencyMs.p50,
    max: r.latencyMs.max,
  };
}
