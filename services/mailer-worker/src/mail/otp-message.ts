import { escapeHtml, type Message } from './message.ts';

/**
 * The sign-in email. It says when the code was requested and to use the latest code,
 * so a late-arriving older email is recognisable rather than a trap.
 */
export function renderOtpMessage(args: { code: string; requestedAt: Date; expiresAt: Date }): Message {
  const minutes = Math.max(1, Math.round((args.expiresAt.getTime() - args.requestedAt.getTime()) / 60_000));
  const requested = args.requestedAt.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const lifetime = `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const text = [
    `Your cheershare sign-in code is ${args.code}`,
    '',
    `It works once and expires in ${lifetime}. It was requested at ${requested}.`,
    'If you asked for several codes, use the one from your latest request.',
    '',
    "If you did not ask to sign in, ignore this email: nobody can sign in without the code.",
  ].join('\n');
  const html = `<!doctype html>
<html><body style="font-family:sans-serif">
<p>Your cheershare sign-in code is</p>
<p style="font-size:28px;font-weight:bold;letter-spacing:4px">${escapeHtml(args.code)}</p>
<p>It works once and expires in ${escapeHtml(lifetime)}. It was requested at ${escapeHtml(requested)}.<br>
If you asked for several codes, use the one from your latest request.</p>
<p style="color:#666">If you did not ask to sign in, ignore this email: nobody can sign in without the code.</p>
</body></html>`;
  return { subject: 'Your cheershare sign-in code', text, html };
}
