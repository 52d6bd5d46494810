import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { SqliteStore } from '../../../adapters/local/sqlite/store';
import { verifyChain } from '../../../core/grant/chain';
import type { GrantEvent } from '../../../core/grant/events';
import type { GrantService } from '../../../core/grant/service';
import { foldGrant, type Grant } from '../../../core/grant/state';
import type { Principal } from '../../../core/principal';
import { alice, carol, dan, erin, grantServiceOver, requestDummy, sam } from '../../helpers/world';

const MIN = 60_000;
const KEY = randomBytes(32);
const adminScope = { target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * MIN, reason: 'INC-9' };

type Op = { op: 'approve' | 'revoke' | 'cancel' | 'credentials' | 'deny'; grant: number; who: number };
const people: Principal[] = [alice, carol, dan, erin, sam];

async function run(service: GrantService, id: string, o: Op): Promise<Grant> {
  const who = people[o.who] as Principal;
  switch (o.op) {
    case 'approve':
      return service.approve(id, who);
    case 'deny':
      return service.deny(id, who, 'no');
    case 'revoke':
      return service.revoke(id, who, 'stop');
    case 'cancel':
      return service.cancel(id, who);
    case 'credentials':
      return (await service.issueCredentials(id, who, 'credentials')).grant;
  }
}

describe('SqliteStore under concurrent transitions (group commit)', () => {
  it('keeps every chain whole, every acknowledged transition and nothing refused, in the file as in memory', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.record({
            op: fc.constantFrom('approve', 'revoke', 'cancel', 'credentials', 'deny'),
            grant: fc.nat(3),
            who: fc.nat(people.length - 1),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (needsApproval, ops) => {
          const dir = mkdtempSync(join(tmpdir(), 'timebox-sqlite-race-'));
          const file = join(dir, 'timebox.db');
          const store = new SqliteStore({ file, auditKey: KEY });
          try {
            const svc = grantServiceOver({ events: store.events, projections: store.projections });
            const ids: string[] = [];
            for (const pending of needsApproval)
              ids.push((await svc.request(alice, pending ? adminScope : requestDummy())).grant.id);
            // Every operation starts in the same turn: their appends share transactions and race for each seq.
            const results = await Promise.allSettled(ops.map((o) => run(svc, ids[o.grant % ids.length] as string, o)));
            for (const r of results) if (r.status === 'rejected') expect(r.reason).toHaveProperty('code'); // a refusal, never a crash
            const acknowledged = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
            const streams = new Map<string, GrantEvent[]>();
            for (const id of ids) {
              const events = await store.events.read(id);
              streams.set(id, events);
              expect(verifyChain(id, events).ok).toBe(true);
              const view = await store.projections.get(id);
              expect(view).toEqual({ ...foldGrant(events), publishedSeq: view?.publishedSeq });
              // Nothing after an end, and no credential handed out once the grant had ended.
              const end = events.findIndex((e) => ['revoked', 'cancelled', 'denied', 'expired'].includes(e.type));
              if (end >= 0)
                expect(
                  events.slice(end + 1).filter((e) => e.type === 'credentials-issued' || e.type === 'approved'),
                ).toEqual([]);
            }
            // Each acknowledged transition's head is in its stream.
            for (const g of acknowledged)
              expect((streams.get(g.id) ?? []).some((e) => e.seq === g.lastSeq && e.hash === g.lastHash)).toBe(true);
            expect(
              await store.events.auditLog({ since: new Date(0), until: new Date('2100-01-01T00:00:00Z') }),
            ).toEqual([]);
            // What was acknowledged is in the file: a new connection reads the same streams.
            store.close();
            const reopened = new SqliteStore({ file, auditKey: KEY });
            try {
              for (const id of ids) expect(await reopened.events.read(id)).toEqual(streams.get(id));
            } finally {
              reopened.close();
            }
          } finally {
            store.close();
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
