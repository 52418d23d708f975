import { describe, expect, it } from 'vitest';
import { clientKey } from '../src/limits/client-address.ts';

describe('clientKey', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('127.0.0.1')).not.toBe(clientKey('127.0.0.2'));
  });

  it('drops a port a proxy left on the address', () => {
    expect(clientKey('192.0.2.7:5678')).toBe('192.0.2.7');
    expect(clientKey('[2001:db8:1:2::1]:5678')).toBe('2001:db8:1:2::/64');
    expect(clientKey('[::ffff:192.0.2.7]')).toBe('192.0.2.7');
  });

  it('reads an IPv4-mapped IPv6 address as the IPv4 address, in either spelling', () => {
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::FFFF:c000:207')).toBe('192.0.2.7');
    expect(clientKey('0:0:0:0:0:ffff:192.0.2.7')).toBe('192.0.2.7');
  });

  it('groups IPv6 addresses by their /64, however they are written', () => {
    const key = clientKey('2001:db8:1:2::1');
    expect(key).toBe('2001:db8:1:2::/64');
    for (const same of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:0:0:0:9', '2001:db8:1:2::a%eth0', '2001:db8:1:2:0:0:1.2.3.4']) {
      expect(clientKey(same), same).toBe(key);
    }
    expect(clientKey('2001:db8:1:3::1')).not.toBe(key);
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });

  it('does not mistake a mapped-looking address outside ::ffff:0:0/96 for IPv4', () => {
    expect(clientKey('1::ffff:192.0.2.7')).toBe('1:0:0:0::/64');
  });

  it('returns anything that is not an IP address unchanged', () => {
    expect(clientKey('')).toBe('');
    expect(clientKey('unknown')).toBe('unknown');
  });
});
