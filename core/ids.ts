import { randomBytes } from 'node:crypto';
import type { Clock } from './clock';

/**
 * Grant ids are ULIDs with a `tb-` prefix: time-sortable, 29 characters, and made only of characters that are
 * valid in every place the id travels (STS RoleSessionName `[\w+=,.@-]{2,64}`, Scheduler schedule names
 * `[0-9a-zA-Z-_.]{1,64}`, GCP condition titles, JWT `jti`, DynamoDB keys).
 */
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
export const GRANT_ID_PATTERN = /^tb-[0-9a-hjkmnp-tv-z]{26}$/;

export interface IdGenerator {
  next(): string;
}

/** Encodes a ULID from a timestamp and 10 random bytes. */
export function ulid(timeMs: number, random: Uint8Array): string {
  let out = '';
  let t = timeMs;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  // 80 random bits -> 16 base32 characters, 5 bits at a time.
  let bits = 0;
  let value = 0;
  for (const byte of random.subarray(0, 10)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export function grantIdGenerator(clock: Clock): IdGenerator {
  return { next: () => `tb-${ulid(clock.now().getTime(), randomBytes(10))}` };
}

export function isGrantId(id: string): boolean {
  return GRANT_ID_PATTERN.test(id);
}
