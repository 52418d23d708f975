import type { BenchContext } from '../context.ts';
import type { Scenario } from '../options.ts';
import type { BackendStack } from '../stack.ts';
import type { Figures } from '../stats.ts';
import { codeRequest, me, signIn, verify } from './http.ts';
import { drain, endToEnd, sigterm } from './mail.ts';
import { measureUploads } from './upload.ts';

/** Codes kept for the harness's own sign-ins: tokens for /v1/me (cycled) and for uploads. */
const TOKENS = 100;

/**
 * One round of the selected scenarios on one backend, against an API started for the round. The
 * mailer runs only in the mail scenarios, so it takes no CPU from the HTTP ones. The end-to-end
 * run (20 s by default: 4,000 arrivals give a steady p99) and the SIGTERM check (no ratio to take
 * a median of) go in the last round only; repeating them would add three minutes to a full run.
 */
export async function backendRound(ctx: BenchContext, stack: BackendStack, tag: string, lastRound: boolean): Promise<Partial<Record<Scenario, Figures>>> {
  const wants = (s: Scenario) => ctx.opts.only.includes(s);
  const out: Partial<Record<Scenario, Figures>> = {};
  const say = (what: string) => ctx.say(`  ${stack.backend}: ${what}`);
  const api = await stack.startApi();
  try {
    if (wants('code-request')) {
      say('code request');
      out['code-request'] = await codeRequest(ctx, stack, api.base, tag);
    }
    if (wants('drain') || wants('verify') || wants('me') || wants('upload')) {
      // The drain's codes feed verify and the sign-ins; without drain or verify a few will do.
      const count = wants('drain') || wants('verify') ? ctx.opts.drain : 20;
      say(`mailer drain of ${count} codes`);
      const drained = await drain(ctx, stack, api.base, count, tag);
      if (wants('drain')) out.drain = drained.figures;
      const tokenCodes = drained.codes.slice(0, Math.min(TOKENS, Math.max(1, Math.floor(drained.codes.length / 10))));
      const tokens = await signIn(api.base, tokenCodes);
      if (wants('verify')) {
        say(`verify ${drained.codes.length - tokenCodes.length} codes`);
        out.verify = await verify(ctx, stack, api.base, drained.codes.slice(tokenCodes.length), tag);
      }
      if (wants('me')) {
        say('GET /v1/me');
        out.me = await me(ctx, stack, api.base, tokens, tag);
      }
      if (wants('upload')) {
        say(`${ctx.opts.uploads} concurrent uploads`);
        out.upload = await measureUploads(ctx, `uploads (${stack.backend})`, api.child.pid, `${api.base}/v1/creatives`, tokens[0]);
        stack.clearUploads();
        await stack.emptyQueue('creatives');
      }
    }
    if (wants('e2e') && lastRound) {
      say(`end to end at ${ctx.opts.e2eRate}/s`);
      out.e2e = await endToEnd(ctx, stack, api.base, tag);
    }
    if (wants('sigterm') && lastRound) {
      say(`SIGTERM with ${ctx.opts.sigtermJobs} jobs in flight`);
      out.sigterm = await sigterm(ctx, stack, api.base, tag);
    }
  } finally {
    await api.child.stop();
  }
  return out;
}
