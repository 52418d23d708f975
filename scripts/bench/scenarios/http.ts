// The API's HTTP hot paths, with the mailer stopped so background mail takes no CPU.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countedLoad, timedLoad, type BenchContext } from '../context.ts';
import type { BackendStack } from '../stack.ts';
import { httpFigures, type Figures } from '../stats.ts';

export interface Code {
  email: string;
  code: string;
  /** From the code request's answer, where the API binds codes to their requester. */
  challengeId: string | undefined;
}

/**
 * What /v1/auth/verify takes: the challenge's id. The address instead only when the API gave no
 * id, as before codes were bound to their requester, so the harness can measure older commits.
 */
export function verifyBody({ email, code, challengeId }: Code): string {
  return JSON.stringify(challengeId ? { challenge_id: challengeId, code } : { email, code });
}

/** POST /v1/auth/otp with addresses never seen before; the queued emails are dropped afterwards. */
export async function codeRequest(ctx: BenchContext, stack: BackendStack, base: string, tag: string): Promise<Figures> {
  const shape = (prefix: string) => ({ kind: 'post-unique' as const, url: `${base}/v1/auth/otp`, prefix });
  const r = await timedLoad(ctx, `code request (${stack.backend})`, shape(`otp-${tag}`), shape(`otpw-${tag}`));
  await stack.emptyQueue('email');
  return httpFigures(r);
}

/** Trades codes for tokens from here (a few, for /v1/me and uploads), `lanes` at a time. */
export async function signIn(base: string, codes: Code[], lanes = 10): Promise<string[]> {
  const tokens: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let i = next++; i < codes.length; i = next++) {
      const res = await fetch(`${base}/v1/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: verifyBody(codes[i]!) });
      const body = (await res.json()) as { access_token?: string };
      if (res.status !== 200 || !body.access_token) throw new Error(`sign-in for the bench failed: ${res.status} ${JSON.stringify(body)}`);
      tokens.push(body.access_token);
    }
  }));
  return tokens;
}

/**
 * POST /v1/auth/verify with each code once, as fast as the connections allow: a code
 * works once, so this is "N requests" rather than a fixed duration. Any non-2xx means the run is
 * broken (a code sent twice or not accepted), and is reported as `failed`.
 */
export async function verify(ctx: BenchContext, stack: BackendStack, base: string, codes: Code[], tag: string): Promise<Figures> {
  const warm = ctx.opts.warmup > 0 ? Math.min(500, Math.floor(codes.length / 10)) : 0;
  const file = (name: string, list: Code[]) => {
    const path = join(ctx.workDir, `${name}-${tag}.jsonl`);
    writeFileSync(path, list.map(verifyBody).join('\n') + '\n');
    return path;
  };
  const url = `${base}/v1/auth/verify`;
  if (warm > 0) await countedLoad(ctx, `verify (${stack.backend}, warm-up)`, { kind: 'post-lines', url, linesFile: file('verify-warm', codes.slice(0, warm)) }, warm);
  const measured = codes.slice(warm);
  const r = await countedLoad(ctx, `verify (${stack.backend})`, { kind: 'post-lines', url, linesFile: file('verify', measured) }, measured.length);
  const socketErrors = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  return { ...httpFigures(r), failed: r.count - r.ok + socketErrors, codes: r.count };
}

/** GET /v1/me with Bearer access tokens, cycling through them. */
export async function me(ctx: BenchContext, stack: BackendStack, base: string, tokens: string[], tag: string): Promise<Figures> {
  const tokensFile = join(ctx.workDir, `tokens-${tag}.txt`);
  writeFileSync(tokensFile, tokens.join('\n') + '\n');
  return httpFigures(await timedLoad(ctx, `GET /v1/me (${stack.backend})`, { kind: 'get', url: `${base}/v1/me`, tokensFile }));
}
