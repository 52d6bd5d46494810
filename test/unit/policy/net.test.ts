import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileCidrs, ipInCidrs, parseCidr } from '../../../core/net';

describe('Function: parseCidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8', 'ipv4'],
    ['192.168.1.7', '192.168.1.7/32', 'ipv4'],
    ['0.0.0.0/0', '0.0.0.0/0', 'ipv4'],
    ['2001:db8::/32', '2001:db8::/32', 'ipv6'],
    ['2001:0DB8:0000::/48', '2001:db8::/48', 'ipv6'],
    ['::1', '::1/128', 'ipv6'],
    // An IPv4-mapped block is the IPv4 block it maps.
    ['::ffff:10.0.0.0/104', '10.0.0.0/8', 'ipv4'],
  ])('accepts %s as %s', (input, cidr, family) => {
    expect(parseCidr(input)).toMatchObject({ ok: true, cidr, family });
  });

  it.each([
    ['10.0.0.1/8', 'has host bits set', 'starts at 10.0.0.0'],
    ['2001:db8::1/32', 'has host bits set', '2001:db8::'],
    ['10.0.0.0/33', 'prefix length must be a number from 0 to 32', ''],
    ['2001:db8::/129', 'from 0 to 128', ''],
    ['10.0.0.0/08', 'prefix length', ''],
    ['10.0.0.0/', 'prefix length', ''],
    ['10.0.0/24', 'is not an IP address', ''],
    // inet_aton would read these as 8.0.0.0 and 10.0.0.1: a silent widening or shift, so they are refused.
    ['010.0.0.0/8', 'is not an IP address', ''],
    ['167772161', 'is not an IP address', ''],
    ['fe80::1%eth0/64', 'zone ids', ''],
    ['not-an-ip', 'is not an IP address', ''],
    ['', 'is not an IP address', ''],
  ])('refuses %j', (input, message, detail) => {
    // Act
    const r = parseCidr(input);

    // Assess
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toContain(message);
      expect(r.message).toContain(detail);
    }
  });
});

describe('Function: ipInCidrs', () => {
  const cidrs = ['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32'];

  it('matches IPv4 and IPv6 addresses against their blocks', () => {
    expect(ipInCidrs('10.1.2.3', cidrs)).toBe(true);
    expect(ipInCidrs('192.168.1.7', cidrs)).toBe(true);
    expect(ipInCidrs('192.168.1.8', cidrs)).toBe(false);
    expect(ipInCidrs('11.0.0.1', cidrs)).toBe(false);
    expect(ipInCidrs('2001:db8:1::5', cidrs)).toBe(true);
    expect(ipInCidrs('2001:db9::5', cidrs)).toBe(false);
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 blocks', () => {
    expect(ipInCidrs('::ffff:10.1.2.3', cidrs)).toBe(true);
    expect(ipInCidrs('::ffff:0a01:0203', cidrs)).toBe(true);
    expect(ipInCidrs('::ffff:11.1.2.3', cidrs)).toBe(false);
    expect(ipInCidrs('10.1.2.3', ['::ffff:10.0.0.0/104'])).toBe(true);
  });

  it('never matches an invalid address, even against 0.0.0.0/0', () => {
    for (const ip of ['', 'localhost', '10.1', '010.0.0.1', '10.0.0.256', '1.2.3.4.5', '::gg', ' ']) {
      expect(ipInCidrs(ip, ['0.0.0.0/0', '::/0'])).toBe(false);
    }
  });

  it('matches blocks in the upper half of the IPv4 space (unsigned arithmetic)', () => {
    expect(ipInCidrs('200.1.2.3', ['200.0.0.0/8'])).toBe(true);
    expect(ipInCidrs('255.255.255.255', ['128.0.0.0/1'])).toBe(true);
    expect(ipInCidrs('127.255.255.255', ['128.0.0.0/1'])).toBe(false);
  });
});

describe('Function: compileCidrs', () => {
  it('throws on an invalid block, since policies are validated before they are compiled', () => {
    expect(() => compileCidrs(['10.0.0.1/8'])).toThrow(/host bits/);
  });

  it('agrees with a bitwise check for random IPv4 addresses and blocks (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        (ip, net, prefix) => {
          const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
          const network = (net & mask) >>> 0;
          const text = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
          const matches = compileCidrs([`${text(network)}/${prefix}`]);
          expect(matches(text(ip))).toBe((ip & mask) >>> 0 === network);
          expect(matches(`::ffff:${text(ip)}`)).toBe((ip & mask) >>> 0 === network);
        },
      ),
      { numRuns: 500 },
    );
  });
});
