import { canonicalJson, sha256Hex } from '../canonical';
import type { GrantEvent } from './events';

/** The `prevHash` of a stream's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 over the canonical JSON of everything in the event except its own hash (prevHash included). */
export function eventHash(event: Omit<GrantEvent, 'hash'> | GrantEvent): string {
  const { hash: _ignored, ...rest } = event as GrantEvent;
  return sha256Hex(canonicalJson(rest));
}

/** Numbers and chains a drafted event onto a stream whose last event was `prev` (undefined for the first). */
export function sealEvent(
  draft: Omit<GrantEvent, 'seq' | 'prevHash' | 'hash'>,
  prev: Pick<GrantEvent, 'seq' | 'hash'> | undefined,
): GrantEvent {
  const body = { ...draft, seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? GENESIS_HASH };
  return { ...body, hash: eventHash(body as Omit<GrantEvent, 'hash'>) } as GrantEvent;
}

export interface ChainBreak {
  grantId: string;
  seq: number;
  problem:
    | 'hash-mismatch'
    | 'link-mismatch'
    | 'sequence-gap'
    | 'wrong-stream'
    | 'head-mismatch'
    | 'empty'
    /** A sealing store's keyed seal over an event or a head does not hold (sealed stores only). */
    | 'seal-mismatch'
    /** An event is missing from a sealing store's write order. */
    | 'missing-event'
    /** The grant could not be read or verified at all. */
    | 'unreadable';
  message: string;
}

export type VerifyResult = { ok: true; events: number; head: string } | { ok: false; breaks: ChainBreak[] };

/**
 * Verifies one grant's stream: contiguous sequence from 1, each event's hash, each link to the previous hash.
 * Any changed, removed, reordered or inserted event breaks it. A chain rewritten from some event on, or cut short,
 * is internally valid, so it is also checked against a head recorded elsewhere (`expectedHead`, the projection's
 * `lastSeq`/`lastHash`): the stream must hold exactly that event. The stream may run past it (a projection that
 * lags), but not stop short of it, and not hold another event at that place.
 */
export function verifyChain(
  grantId: string,
  events: readonly GrantEvent[],
  expectedHead?: { seq: number; hash: string },
): VerifyResult {
  const breaks: ChainBreak[] = [];
  if (events.length === 0) {
    breaks.push({ grantId, seq: 0, problem: 'empty', message: 'no events' });
    return { ok: false, breaks };
  }
  let prevHash = GENESIS_HASH;
  events.forEach((e, i) => {
    const expectedSeq = i + 1;
    if (e.grantId !== grantId)
      breaks.push({ grantId, seq: e.seq, problem: 'wrong-stream', message: `event ${i + 1} belongs to ${e.grantId}` });
    if (e.seq !== expectedSeq)
      breaks.push({
        grantId,
        seq: e.seq,
        problem: 'sequence-gap',
        message: `expected seq ${expectedSeq}, found ${e.seq}`,
      });
    if (e.prevHash !== prevHash)
      breaks.push({
        grantId,
        seq: e.seq,
        problem: 'link-mismatch',
        message: `event ${e.seq} does not link to the event before it`,
      });
    const computed = eventHash(e);
    if (computed !== e.hash)
      breaks.push({
        grantId,
        seq: e.seq,
        problem: 'hash-mismatch',
        message: `event ${e.seq} content does not match its hash`,
      });
    prevHash = e.hash;
  });
  const last = events[events.length - 1] as GrantEvent;
  if (expectedHead) {
    const recorded = events.find((e) => e.seq === expectedHead.seq);
    if (!recorded)
      breaks.push({
        grantId,
        seq: expectedHead.seq,
        problem: 'head-mismatch',
        message: `the stream ends at event ${last.seq} but event ${expectedHead.seq} was recorded as its head`,
      });
    else if (recorded.hash !== expectedHead.hash)
      breaks.push({
        grantId,
        seq: expectedHead.seq,
        problem: 'head-mismatch',
        message: `event ${expectedHead.seq} is not the event recorded as the head: the stream was rewritten`,
      });
  }
  return breaks.length ? { ok: false, breaks } : { ok: true, events: events.length, head: last.hash };
}
