import { describe, expect, it } from '@jest/globals';
import { sealEvent } from '../../../core/grant/chain';
import type { GrantEvent } from '../../../core/grant/events';
import { principal } from '../../../core/principal';
import { alice, bob, carol, requestDummy, world } from '../../helpers/world';

const auditor = principal({ id: 'sam@corp.com', mfa: true });
const MIN = 60_000;

/** Re-seals events as a forger with write access to the store would: a chain that is valid on its own. */
function rechain(events: readonly GrantEvent[]): GrantEvent[] {
  const out: GrantEvent[] = [];
  for (const e of events) {
    const { seq: _s, prevHash: _p, hash: _h, ...draft } = e;
    out.push(sealEvent(draft, out.at(-1)));
  }
  return out;
}

describe('Deadlines', () => {
  it('refuses an approval after the request lapsed, records the lapse and opens nothing', async () => {
    // Prepare: analytics needs one secops approval within the pending timeout (1h)
    const w = world();
    const { grant } = await w.service.request({ ...alice, mfa: true }, requestDummy({ target: 'analytics' }));
    w.clock.advance(2 * 60 * MIN);
    // Act
    const approving = w.service.approve(grant.id, carol, 'late');
    // Assess
    await expect(approving).rejects.toMatchObject({ code: 'GRANT.LAPSED' });
    const after = await w.service.load(grant.id);
    expect(after.status).toBe('lapsed');
    expect(after.activatedAt).toBeUndefined();
    expect(w.events.streams.get(grant.id)?.map((e) => e.type)).toEqual(['requested', 'lapsed']);
  });

  it('refuses a denial after the deadline the same way', async () => {
    const w = world();
    const { grant } = await w.service.request({ ...alice, mfa: true }, requestDummy({ target: 'analytics' }));
    w.clock.advance(60 * MIN);
    await expect(w.service.deny(grant.id, carol, 'no')).rejects.toMatchObject({ code: 'GRANT.LAPSED' });
    expect((await w.service.load(grant.id)).status).toBe('lapsed');
  });

  it('lapses an approved future grant whose whole slot passed before activation, instead of opening it late', async () => {
    // Prepare: 11:00 + 30m approved; the schedule is lost and the broker is down for three days
    const w = world();
    const startAt = new Date(w.clock.now().getTime() + 60 * MIN);
    const { grant } = await w.service.request(bob, requestDummy({ duration: 30 * MIN, startAt }));
    expect(grant.status).toBe('approved');
    w.clock.advance(3 * 24 * 60 * MIN);
    // Act
    await w.service.sweep();
    // Assess
    const after = await w.service.load(grant.id);
    expect(after.status).toBe('lapsed');
    expect(after.activatedAt).toBeUndefined();
  });

  it('still activates a future grant late within its slot', async () => {
    const w = world();
    const startAt = new Date(w.clock.now().getTime() + 60 * MIN);
    const { grant } = await w.service.request(bob, requestDummy({ duration: 30 * MIN, startAt }));
    w.clock.advance(60 * MIN + 29 * MIN);
    expect((await w.service.activate(grant.id)).status).toBe('active');
  });
});

describe('Extensions', () => {
  it('ends an extension whose original was revoked between reading it and appending the activation', async () => {
    // Prepare
    const w = world();
    const { grant: original } = await w.service.request(bob, requestDummy({ duration: 30 * MIN }));
    const { grant: extension } = await w.service.extend(original.id, bob, { duration: 30 * MIN, reason: 'more' });
    w.clock.advance(30 * MIN);
    let raced = false;
    w.events.beforeAppend = async (e) => {
      if (!raced && e.grantId === extension.id && e.type === 'activated') {
        raced = true;
        await w.service.revoke(original.id, auditor, 'compromised laptop');
      }
    };
    // Act
    const after = await w.service.activate(extension.id);
    // Assess
    expect(raced).toBe(true);
    expect((await w.service.load(original.id)).status).toBe('revoked');
    expect(after.status).toBe('revoked');
    expect(w.events.streams.get(extension.id)?.map((e) => e.type)).toEqual(['requested', 'activated', 'revoked']);
    expect(w.events.streams.get(extension.id)?.[2]?.data).toEqual({
      reason: `the grant it extends, ${original.id}, was revoked`,
    });
  });
});

describe('Chain verification against the recorded head', () => {
  async function revokedGrant() {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    await w.service.issueCredentials(grant.id, alice, 'credentials');
    await w.service.revoke(grant.id, alice, 'done');
    return { w, id: grant.id, events: w.events.streams.get(grant.id) as GrantEvent[] };
  }

  it('finds a rewritten chain even when the forger appends events past the recorded head', async () => {
    // Prepare: credentials-issued removed, the rest re-sealed, and two events added so the stream is longer
    const { w, id, events } = await revokedGrant();
    const kept = events.filter((e) => e.type !== 'credentials-issued');
    const filler = { ...(kept.at(-1) as GrantEvent), type: 'access-removed', data: { details: {} } } as GrantEvent;
    w.events.streams.set(id, rechain([...kept, filler, filler]));
    // Act
    const r = await w.service.verify(id, auditor);
    // Assess
    expect(r).toMatchObject({ ok: false, breaks: [{ problem: 'head-mismatch', seq: events.length }] });
  });

  it('accepts a stream that runs past a lagging projection', async () => {
    const { w, id, events } = await revokedGrant();
    const view = await w.projections.get(id);
    const head = events[events.length - 2] as GrantEvent;
    w.projections.views.set(id, { ...view, lastSeq: head.seq, lastHash: head.hash } as never);
    expect(await w.service.verify(id, auditor)).toMatchObject({ ok: true, events: events.length });
  });

  it('reports a grant whose events are all gone as a break, not as unknown', async () => {
    const { w, id } = await revokedGrant();
    w.events.streams.delete(id);
    expect(await w.service.verify(id, auditor)).toMatchObject({ ok: false, breaks: [{ problem: 'empty' }] });
    await expect(w.service.verify('tb-01jd00000000000000000nope0', auditor)).rejects.toMatchObject({
      code: 'GRANT.NOT_FOUND',
    });
  });

  it('never copies a rewritten stream over the projection while repairing it', async () => {
    // Prepare: a forged, longer chain; the projection lags behind it as after a forger's append
    const { w, id, events } = await revokedGrant();
    const kept = events.filter((e) => e.type !== 'credentials-issued');
    const filler = { ...(kept.at(-1) as GrantEvent), type: 'access-removed', data: { details: {} } } as GrantEvent;
    w.events.streams.set(id, rechain([...kept, filler, filler]));
    const before = await w.projections.get(id);
    // Act
    const repairing = w.service.repairProjection(id);
    // Assess
    await expect(repairing).rejects.toMatchObject({ code: 'AUDIT.CHAIN_BROKEN' });
    expect(await w.projections.get(id)).toEqual(before);
    expect(w.log.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'event stream does not verify; projection not repaired' }),
    );
  });
});
