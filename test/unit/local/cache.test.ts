import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ConcurrencyError } from '../../../core/errors';
import { GENESIS_HASH } from '../../../core/grant/chain';
import type { GrantEvent } from '../../../core/grant/events';
import { CachedEventStore } from '../../../local/cache';
import { MemoryEventStore } from '../../helpers/memory';

function eventDummy(partial: Partial<GrantEvent> & { grantId: string; seq: number }): GrantEvent {
  return {
    type: 'revoked',
    data: { reason: 'test' },
    actor: { id: 'alice@corp.com', kind: 'principal' },
    at: '2026-11-24T10:00:00.000Z',
    target: 'prod-logs',
    prevHash: GENESIS_HASH,
    hash: `h-${partial.grantId}-${partial.seq}`,
    ...partial,
  } as GrantEvent;
}

/** The store under the cache, counting reads that reached it. */
class CountingStore extends MemoryEventStore {
  reads = 0;
  override async read(grantId: string): Promise<GrantEvent[]> {
    this.reads++;
    return super.read(grantId);
  }
}

describe('Class: CachedEventStore', () => {
  describe('Method: read', () => {
    it('answers re-reads of a stream it wrote from memory, and every append still reaches the store', async () => {
      // Prepare
      const inner = new CountingStore();
      const cache = new CachedEventStore(inner);
      // Act
      await cache.append(eventDummy({ grantId: 'g1', seq: 1 }));
      await cache.append(eventDummy({ grantId: 'g1', seq: 2 }));
      const read = await cache.read('g1');
      // Assess
      expect(read.map((e) => e.seq)).toEqual([1, 2]);
      expect(inner.reads).toBe(0);
      expect(inner.appends).toBe(2);
      expect(await inner.read('g1')).toEqual(read);
    });

    it('reads an unknown stream from the store once, then from memory', async () => {
      const inner = new CountingStore();
      await inner.append(eventDummy({ grantId: 'g1', seq: 1 }));
      const cache = new CachedEventStore(inner);
      await cache.read('g1');
      await cache.read('g1');
      expect(inner.reads).toBe(1);
      expect([cache.hits, cache.misses]).toEqual([1, 1]);
    });

    it('hands out frozen events, so one reader cannot change what another reads', async () => {
      const cache = new CachedEventStore(new MemoryEventStore());
      await cache.append(eventDummy({ grantId: 'g1', seq: 1 }));
      const [e] = await cache.read('g1');
      expect(() => {
        (e as { type: string }).type = 'expired';
      }).toThrow(TypeError);
      expect((await cache.read('g1'))[0]?.type).toBe('revoked');
    });

    it('does not remember a read that overlapped an append (it may predate the write)', async () => {
      // Prepare: the store's read resolves only after an append has started and finished.
      const inner = new CountingStore();
      await inner.append(eventDummy({ grantId: 'g1', seq: 1 }));
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const slow = Object.assign(Object.create(inner) as CountingStore, {
        read: async (id: string) => {
          const events = await inner.read(id);
          await gate;
          return events;
        },
      });
      const cache = new CachedEventStore(slow);
      // Act
      const stale = cache.read('g1');
      await cache.append(eventDummy({ grantId: 'g1', seq: 2 }));
      release();
      await stale;
      const after = await cache.read('g1');
      // Assess
      expect(after.map((e) => e.seq)).toEqual([1, 2]);
    });
  });

  describe('Method: append', () => {
    it('passes a conflict on and forgets the stream, so the retry reads the store', async () => {
      // Prepare: another writer appended seq 2 behind the cache's back.
      const inner = new CountingStore();
      const cache = new CachedEventStore(inner);
      await cache.append(eventDummy({ grantId: 'g1', seq: 1 }));
      await inner.append(eventDummy({ grantId: 'g1', seq: 2, hash: 'theirs' }));
      // Act
      const conflict = await cache.append(eventDummy({ grantId: 'g1', seq: 2 })).catch((e: unknown) => e);
      const reread = await cache.read('g1');
      // Assess
      expect(conflict).toBeInstanceOf(ConcurrencyError);
      expect(reread.map((e) => e.hash)).toEqual(['h-g1-1', 'theirs']);
    });

    it('keeps at most maxStreams streams, forgetting the least recently used', async () => {
      const inner = new CountingStore();
      const cache = new CachedEventStore(inner, 2);
      for (const id of ['a', 'b']) await cache.append(eventDummy({ grantId: id, seq: 1 }));
      await cache.read('a');
      await cache.append(eventDummy({ grantId: 'c', seq: 1 }));
      await cache.read('a');
      await cache.read('c');
      const before = inner.reads;
      await cache.read('b');
      expect(inner.reads).toBe(before + 1);
    });
  });

  it('reads what the store holds unless another writer went behind its back, and an append heals that (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ grant: fc.constantFrom('g1', 'g2', 'g3'), op: fc.constantFrom('append', 'read', 'foreign') }),
          { maxLength: 40 },
        ),
        async (ops) => {
          const inner = new MemoryEventStore();
          const cache = new CachedEventStore(inner, 2);
          const dirty = new Set<string>();
          const contiguous = async (g: string) =>
            expect((await inner.read(g)).map((e) => e.seq)).toEqual(
              Array.from({ length: (await inner.read(g)).length }, (_, i) => i + 1),
            );
          for (const { grant, op } of ops) {
            if (op === 'read') {
              const r = await cache.read(grant);
              const stored = await inner.read(grant);
              if (!dirty.has(grant)) expect(r).toEqual(stored);
              else if (JSON.stringify(r) === JSON.stringify(stored)) dirty.delete(grant);
            } else if (op === 'foreign') {
              await inner.append(eventDummy({ grantId: grant, seq: (await inner.read(grant)).length + 1, hash: 'x' }));
              dirty.add(grant);
            } else {
              // As GrantService does: read, then append the next sequence number; a conflict is the only failure.
              const seq = (await cache.read(grant)).length + 1;
              await cache
                .append(eventDummy({ grantId: grant, seq }))
                .catch((e: unknown) => expect(e).toBeInstanceOf(ConcurrencyError));
              dirty.delete(grant);
              await contiguous(grant);
            }
          }
          for (const g of ['g1', 'g2', 'g3']) {
            const seq = (await cache.read(g)).length + 1;
            await cache.append(eventDummy({ grantId: g, seq })).catch(() => {});
            expect(await cache.read(g)).toEqual(await inner.read(g));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
