import { BlockList, isIPv4 } from 'node:net';

// 127.0.0.0/8 and ::1; BlockList also matches their IPv4-mapped and fully written IPv6 forms.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether a listen address (HOST, METRICS_HOST) is reachable from this machine only: 127.0.0.0/8,
 * ::1 or `localhost`. Any other name counts as reachable from the network, whatever it resolves to.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  try {
    return LOOPBACK.check(host, isIPv4(host) ? 'ipv4' : 'ipv6');
  } catch {
    return false; // not an IP address: a host name, or a typo
  }
}
