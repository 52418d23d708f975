import { escapeHtml, type Message } from './message.ts';

// Control characters and bidirectional overrides: line breaks that fake new lines, and
// right-to-left tricks that make "gpj.exe" read as "exe.jpg".
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g;

/** Untrusted text made fit to show on one line: no control characters, bounded length. */
function oneLine(s: string, max: number): string {
  const flat = s.replace(UNPRINTABLE, ' ').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

const MAX_LISTED = 10;

const page = (body: string) => `<!doctype html>
<html><body style="font-family:sans-serif">
${body}
</body></html>`;

/**
 * The daily digest for one owner: how many of their creatives go live on `day`, with the names
 * of the first few. Filenames come from users: they only ever reach the body, escaped.
 */
export function renderCreativeLiveMessage(args: { day: string; filenames: (string | null)[] }): Message {
  const count = args.filenames.length;
  const headline = count === 1
    ? `1 of your creatives goes live on ${args.day}.`
    : `${count} of your creatives go live on ${args.day}.`;
  const named = args.filenames.map((f) => (f ? oneLine(f, 100) : '')).filter((f) => f.length > 0);
  const listed = named.slice(0, MAX_LISTED);
  const more = count - listed.length;
  const moreLine = listed.length > 0 && more > 0 ? `and ${more} more` : null;

  const text = [
    headline,
    ...(listed.length > 0 ? ['', ...listed.map((f) => `  - ${f}`), ...(moreLine ? [`  ${moreLine}`] : [])] : []),
    '',
    'Everyone signed in to cheershare can see them in the feed for that day.',
  ].join('\n');
  const list = listed.length > 0
    ? `<ul>\n${listed.map((f) => `<li>${escapeHtml(f)}</li>`).join('\n')}${moreLine ? `\n<li>${moreLine}</li>` : ''}\n</ul>\n`
    : '';
  const html = page(`<p>${escapeHtml(headline)}</p>
${list}<p style="color:#666">Everyone signed in to cheershare can see them in the feed for that day.</p>`);
  return { subject: 'Your cheershare creative is live today', text, html };
}

/** Tells an owner an upload was not accepted, why, and for which day it was meant. */
export function renderCreativeRejectedMessage(args: { scheduledOn: string; filename: string | null; reason: string | null }): Message {
  const name = args.filename ? oneLine(args.filename, 100) : '';
  const reason = args.reason ? oneLine(args.reason, 500) : '';
  const what = name ? `Your upload "${name}" for ${args.scheduledOn}` : `Your upload for ${args.scheduledOn}`;
  const why = reason ? `Reason: ${reason}` : 'No reason was recorded.';
  const text = [
    `${what} was not accepted, so it will not go live.`,
    why,
    '',
    'You can upload a different image in cheershare.',
  ].join('\n');
  const html = page(`<p>${escapeHtml(what)} was not accepted, so it will not go live.</p>
<p>${escapeHtml(why)}</p>
<p style="color:#666">You can upload a different image in cheershare.</p>`);
  return { subject: 'Your cheershare upload was not accepted', text, html };
}
