import { describe, expect, it, jest } from '@jest/globals';
import { endingText } from '../../../cli/ending';
import type { AccessProvider } from '../../../core/ports';
import { alice, requestDummy, world } from '../../helpers/world';

const MIN = 60_000;

describe('Function: endingText', () => {
  it('says a grant expired by its schedule, how late, and that AWS ends sessions at expiresAt by itself', async () => {
    // Prepare
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    await w.service.issueCredentials(grant.id, alice, 'credentials');
    w.clock.advance(30 * MIN + 7);

    // Act
    await w.fireSchedules();
    const text = endingText(await w.events.read(grant.id));

    // Assess
    expect(text).toMatch(/grant {6}expired \S+ by its schedule, 7 ms after expiresAt 2026-11-24T10:30:00.000Z/);
    expect(text).toContain('target     nothing to remove');
    expect(text).toContain('aws:CurrentTime < 2026-11-24T10:30:00.000Z');
  });

  it('says the sweeper did it when the schedule was lost', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy({ target: 'user-service' }));
    w.scheduler.schedules.clear();
    w.clock.advance(31 * MIN);
    await w.service.sweep();
    const text = endingText(await w.events.read(grant.id));
    expect(text).toMatch(/expired \S+ by the sweeper, 60000 ms after expiresAt/);
    expect(text).toContain("interceptor at the token's exp");
  });

  it('names who revoked, and for an aws-role grant when the deny was written', async () => {
    // Prepare: the provider answers as the AWS adapter does once the deny statement is written.
    const w = world();
    jest.spyOn(w.providers['aws-role'] as AccessProvider, 'revoke').mockImplementation(async () => {
      w.clock.advance(250);
      return {
        revocation: 'deny-by-tag',
        role: 'timebox-prod-logs',
        account: '111122223333',
        keepUntil: '2026-11-24T11:10:00.000Z',
      };
    });
    const { grant } = await w.service.request(alice, requestDummy());
    await w.service.issueCredentials(grant.id, alice, 'credentials');
    w.clock.advance(MIN);

    // Act
    await w.service.revoke(grant.id, alice, 'done\u001b[31m early');
    const text = endingText(await w.events.read(grant.id));

    // Assess
    expect(text).toMatch(/revoked 2026-11-24T10:01:00.000Z by a revoke call from alice@corp.com: "done \[31m early"/);
    expect(text).toMatch(
      /deny written 2026-11-24T10:01:00.250Z \(\+250 ms\) on role timebox-prod-logs in 111122223333/,
    );
    expect(text).not.toContain('\u001b');
  });

  it('says when there was nothing to take away', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    await w.service.revoke(grant.id, alice, 'not needed');
    expect(endingText(await w.events.read(grant.id))).toContain('nothing to remove');
  });

  it('prints nothing for a grant that has not ended', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requestDummy());
    expect(endingText(await w.events.read(grant.id))).toBe('');
  });
});
