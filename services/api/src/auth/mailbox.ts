// Providers known to deliver `first.last@` and `firstlast@` to the same inbox.
const DOTS_IGNORED = new Set(['gmail.com', 'googlemail.com']);
// Providers that are one mailbox under two domains.
const SAME_MAILBOX_DOMAIN: Record<string, string> = { 'googlemail.com': 'gmail.com' };

/**
 * The mailbox an address delivers to, for per-address limits: lower-cased, the sub-address tag
 * (`+anything` before the @) removed, and dots in the local part removed where the provider
 * ignores them. `Victim+1@Gmail.com` and `v.i.c.t.i.m@googlemail.com` are one mailbox, so they
 * share one send budget. The account itself keeps the address as entered.
 */
export function canonicalMailbox(email: string): string {
  const lowered = email.trim().toLowerCase();
  const at = lowered.lastIndexOf('@');
  if (at <= 0) return lowered;
  const domain = lowered.slice(at + 1);
  let local = lowered.slice(0, at);
  const plus = local.indexOf('+');
  // A local part that is only a tag ("+x@") is left alone rather than emptied.
  if (plus > 0) local = local.slice(0, plus);
  if (DOTS_IGNORED.has(domain)) local = local.replaceAll('.', '') || local;
  return `${local}@${SAME_MAILBOX_DOMAIN[domain] ?? domain}`;
}
