import ipaddr from 'ipaddr.js';

/**
 * CIDR parsing and source-IP matching for rule conditions (`when.sourceIp`).
 *
 * IPv4 is accepted only in dotted four-part decimal: ipaddr.js (like inet_aton) also reads `10.1` or `010.0.0.1`
 * (octal!) or `167772161`, and a policy that silently means 8.0.0.0/8 when it says `010.0.0.0/8` is a hole.
 */

export type ParsedCidr =
  | {
      ok: true;
      /** Canonical text, always with a prefix: `10.0.0.0/8`, `2001:db8::/32`. */
      cidr: string;
      family: 'ipv4' | 'ipv6';
      prefix: number;
    }
  | { ok: false; message: string };

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses one address in a strict form, unwrapping IPv4-mapped IPv6 (`::ffff:10.1.2.3`) to IPv4. */
function parseAddress(text: string): Addr | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return undefined;
  const v6 = ipaddr.IPv6.parse(text);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * Validates a CIDR block (a bare address means /32 or /128). Host bits set (`10.0.0.1/8`) are refused because
 * they usually hide a typo in either the address or the prefix length.
 */
export function parseCidr(input: string): ParsedCidr {
  const cached = cidrCache.get(input);
  if (cached) return cached;
  const r = parseCidrUncached(input);
  // Policies repeat the same few blocks across many rules; the bound keeps a long-lived process from growing.
  if (cidrCache.size >= 10_000) cidrCache.clear();
  cidrCache.set(input, r);
  return r;
}

const cidrCache = new Map<string, ParsedCidr>();

function parseCidrUncached(input: string): ParsedCidr {
  const text = input.trim();
  if (text.includes('%')) return { ok: false, message: `"${input}": zone ids (%eth0) are not allowed in a CIDR` };
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  let addr: Addr | undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(addrText)) addr = ipaddr.IPv4.parse(addrText);
  else if (addrText.includes(':') && ipaddr.IPv6.isValid(addrText)) addr = ipaddr.IPv6.parse(addrText);
  if (!addr) {
    return {
      ok: false,
      message: `"${input}" is not an IP address or CIDR (use 10.0.0.0/8, 2001:db8::/32 or a single address)`,
    };
  }
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      return { ok: false, message: `"${input}": the prefix length must be a number from 0 to ${max}` };
    }
    prefix = Number(prefixText);
  }
  // An IPv4-mapped IPv6 block is the IPv4 block it maps; matching unwraps mapped addresses the same way.
  if (addr.kind() === 'ipv6' && prefix >= 96 && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    prefix -= 96;
  }
  const network = networkOf(addr, prefix);
  if (network.toString() !== addr.toString()) {
    return {
      ok: false,
      message: `"${input}" has host bits set: the block ${prefixText === undefined ? '' : `/${prefix} `}starts at ${network.toString()} (write ${network.toString()}/${prefix} if that is what you mean, or fix the prefix length)`,
    };
  }
  const family = addr.kind();
  const canonical = family === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
  return { ok: true, cidr: `${canonical}/${prefix}`, family, prefix };
}

function networkOf(addr: Addr, prefix: number): Addr {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes);
}

/** True when `ip` lies in any of `cidrs`; an unparseable ip never matches. Compiles on each call. */
export function ipInCidrs(ip: string, cidrs: string[]): boolean {
  return compileCidrs(cidrs)(ip);
}

/**
 * Compiles CIDR blocks into a matcher, for callers that test many addresses against one rule.
 * Throws on an invalid block: policies are validated at load, so this is a bug, not input.
 */
export function compileCidrs(cidrs: readonly string[]): (ip: string) => boolean {
  const v4: Array<[network: number, mask: number]> = [];
  const v6: Array<[ipaddr.IPv6, number]> = [];
  for (const text of cidrs) {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(`invalid CIDR: ${parsed.message}`);
    const [addr, prefix] = ipaddr.parseCIDR(parsed.cidr);
    if (addr.kind() === 'ipv4') {
      // `>>> 0` keeps the values unsigned so === comparisons work for blocks above 128.0.0.0.
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      v4.push([(toUint32(addr as ipaddr.IPv4) & mask) >>> 0, mask]);
    } else {
      v6.push([addr as ipaddr.IPv6, prefix]);
    }
  }
  return (ip: string): boolean => {
    if (typeof ip !== 'string') return false;
    const addr = parseAddress(ip.trim());
    if (!addr) return false;
    if (addr.kind() === 'ipv4') {
      const n = toUint32(addr as ipaddr.IPv4);
      return v4.some(([network, mask]) => (n & mask) >>> 0 === network);
    }
    return v6.some((range) => (addr as ipaddr.IPv6).match(range));
  };
}

function toUint32(addr: ipaddr.IPv4): number {
  const [a = 0, b = 0, c = 0, d = 0] = addr.octets;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/**
 * True for host names that only this machine can reach (`localhost`, 127.0.0.0/8, `::1`, with or without the
 * brackets of a URL). Plain http is allowed only to these: tokens and keys must not cross a network unencrypted.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
