import { describe, expect, it } from '@jest/globals';
import { principal } from '../../../core/principal';
import { alice, carol, mallory } from '../../helpers/world';
import { apiWorld } from './api-world';

const audrey = principal({ id: 'audrey@corp.com' });

describe('Route: GET /v1/eligibility', () => {
  it('answers who the caller is and every target and rule they may request through', async () => {
    // Prepare
    const w = apiWorld();
    // Act
    const r = await w.call('GET', '/v1/eligibility', { as: alice });
    // Assess
    expect(r.status).toBe(200);
    expect(r.json.principal).toEqual({ id: 'alice@corp.com', groups: ['sre'], mfa: false, auditor: false });
    expect(r.json.options.map((o: { target: string; rule: string }) => `${o.target}/${o.rule}`)).toEqual([
      'analytics/analysts',
      'prod-logs/sre-reads-logs',
      'user-service/sre-reads-users',
      'user-service/admin-break-glass',
    ]);
    const glass = r.json.options.find((o: { rule: string }) => o.rule === 'admin-break-glass');
    expect(glass).toMatchObject({
      scopes: ['/acme.admin.*'],
      narrowed: true,
      maxDuration: 30 * 60_000,
      approval: { kind: 'approvers', count: 2, approvers: ['carol@corp.com', 'dan@corp.com', 'erin@corp.com'] },
    });
    // The analysts rule needs MFA, which this session lacks: the form says so before a request is made.
    const analysts = r.json.options.find((o: { rule: string }) => o.rule === 'analysts');
    expect(analysts.blockers.map((b: { code: string }) => b.code)).toEqual(['CONDITION.MFA_REQUIRED']);
  });

  it('offers nothing to someone no rule names, and marks auditors', async () => {
    const w = apiWorld();
    expect((await w.call('GET', '/v1/eligibility', { as: mallory })).json.options).toEqual([]);
    expect((await w.call('GET', '/v1/eligibility', { as: carol })).json.options).toEqual([]);
    expect((await w.call('GET', '/v1/eligibility', { as: audrey })).json.principal.auditor).toBe(true);
  });

  it('refuses a caller without a verified identity and unknown query parameters', async () => {
    const w = apiWorld();
    expect((await w.call('GET', '/v1/eligibility')).status).toBe(401);
    expect((await w.call('GET', '/v1/eligibility', { as: alice, query: { all: 'true' } })).status).toBe(400);
  });
});

describe('Route: POST /v1/eligibility/check', () => {
  it('answers the decision a request would get without recording anything', async () => {
    // Prepare
    const w = apiWorld();
    const body = { target: 'user-service', scopes: ['/acme.admin.*'], duration: '20m', reason: 'preview' };
    // Act
    const r = await w.call('POST', '/v1/eligibility/check', { as: alice, body });
    // Assess
    expect(r.status).toBe(200);
    expect(r.json.decision).toMatchObject({
      decision: 'needs-approval',
      rule: 'admin-break-glass',
      approval: { count: 2, from: ['group:secops'] },
    });
    expect((await w.call('GET', '/v1/requests', { as: alice, query: { mine: 'true' } })).json.grants).toEqual([]);
  });

  it('answers a denial with its coded reasons, and a malformed body with 400', async () => {
    const w = apiWorld();
    const long = await w.call('POST', '/v1/eligibility/check', {
      as: alice,
      body: { target: 'prod-logs', duration: '3h', reason: 'preview' },
    });
    expect(long.json.decision.decision).toBe('deny');
    expect(long.json.decision.reasons.map((x: { code: string }) => x.code)).toContain('DURATION.TOO_LONG');
    const bad = await w.call('POST', '/v1/eligibility/check', { as: alice, body: { target: 'prod-logs' } });
    expect(bad.status).toBe(400);
  });
});
