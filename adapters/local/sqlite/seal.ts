import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Keyed seals (HMAC-SHA256) over what the local store writes. The events' own hash chain (core/grant/chain.ts)
 * shows any edit to someone who knows the right head, but anyone who can write the database can recompute every
 * hash and the head with it. A seal needs the audit key, which lives in a file beside the signing key, never in the
 * database: a writer without it can add, change, remove or reorder nothing without `audit verify` noticing.
 *
 * Each input starts with a domain tag and separates its fields with a newline (none of them can hold one: ids,
 * integers, hex hashes, JSON text without raw newlines), so a seal made for one kind of row never fits another.
 */
export class Sealer {
  private readonly inner: Buffer;
  private readonly outer: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32 || key.length > BLOCK) throw new Error(`an audit key has 32 to ${BLOCK} bytes`);
    // HMAC (RFC 2104) as two one-shot hashes over the padded key: the same MAC as createHmac, without building a
    // hash object per call (several seals per transition, a measurable share of the broker's CPU).
    const padded = Buffer.alloc(BLOCK);
    key.copy(padded);
    this.inner = Buffer.from(padded.map((b) => b ^ 0x36));
    this.outer = Buffer.from(padded.map((b) => b ^ 0x5c));
  }

  /** An event row: its place in the store's write order, its grant, its seq and its hash (which covers the rest). */
  event(gseq: number, grantId: string, seq: number, hash: string): Buffer {
    return this.mac(`timebox.event.v1\n${gseq}\n${grantId}\n${seq}\n${hash}`);
  }

  /** A projection row: the whole view as stored, so its status and its head cannot be edited apart. */
  view(grantId: string, view: string): Buffer {
    return this.mac(`timebox.view.v1\n${grantId}\n${view}`);
  }

  /** The head of the write order: the last event written, by its place and its seal. */
  head(gseq: number, eventMac: Buffer): Buffer {
    return this.mac(`timebox.head.v1\n${gseq}\n${eventMac.toString('hex')}`);
  }

  private mac(input: string): Buffer {
    const inner = hash('sha256', Buffer.concat([this.inner, Buffer.from(input, 'utf8')]), 'buffer');
    return hash('sha256', Buffer.concat([this.outer, inner]), 'buffer');
  }
}

/** SHA-256's block size in bytes. */
const BLOCK = 64;

/** Constant-time comparison of a stored seal with the expected one (a missing or odd-sized one never matches). */
export function sealHolds(stored: unknown, expected: Buffer): boolean {
  return Buffer.isBuffer(stored) && stored.length === expected.length && timingSafeEqual(stored, expected);
}
