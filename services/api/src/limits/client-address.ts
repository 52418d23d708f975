import { isIPv4, isIPv6 } from 'node:net';

/**
 * The client an address stands for, as the key of per-client limits: an IPv4 address as is; an
 * IPv6 address by its /64, since one subscriber usually holds a whole /64 and could otherwise
 * step through it for fresh limits; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a
 * dual-stack socket reports IPv4 peers) as the IPv4 address, so both spellings share one key.
 * Takes a plain address (socket.remoteAddress, req.ip); anything else comes back unchanged.
 */
export function clientKey(given: string): string {
  // Some proxies forward `1.2.3.4:5678` or `[2001:db8::1]:5678`: the port is not part of the client.
  const address = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(given)?.[1] ?? /^\[([^\]]+)\](?::\d{1,5})?$/.exec(given)?.[1] ?? given;
  if (isIPv4(address)) return address;
  const bare = address.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) names our interface, not the client
  if (!isIPv6(bare)) return address;
  const g = groups(bare);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join('.');
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, `::` expanded and a dotted IPv4 tail folded in. */
function groups(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((x) => parseInt(x, 16));
}
