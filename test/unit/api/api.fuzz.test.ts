import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ApiRequest } from '../../../api/app';
import { principal } from '../../../core/principal';
import { alice, bob, carol, dan, mallory, sam } from '../../helpers/world';
import { apiWorld } from './api-world';

/**
 * Random requests against the whole API over the in-memory world. Whatever arrives: no exception, no 5xx, a JSON
 * answer, and a refused request changes nothing, except a policy denial, which records exactly one denied grant.
 */

const RUNS = 10_000;
const aliceMfa = principal({ id: 'alice@corp.com', mfa: true, sourceIp: '10.1.2.3' });
const audrey = principal({ id: 'audrey@corp.com' });
const asserted = principal({ id: 'olga@corp.com', groups: ['secops', 'sre'] });
const SMILEY = '\ud83d\ude00';

/** Any UTF-16 code unit, lone surrogates included: what a broken client or an attacker can put on the wire. */
const anyChar = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyString = (maxLength = 40) => fc.string({ unit: anyChar, maxLength });
const huge = fc
  .tuple(fc.constantFrom('x', '\u20ac', '{', '"', '\\u0000', SMILEY), fc.integer({ min: 2_000, max: 9_000 }))
  .map(([s, n]) => s.repeat(n));
const pollution = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty');

const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('prod-logs', 'user-service', 'analytics', 'no-such-target') },
  { weight: 3, arbitrary: fc.constantFrom('30m', '1h', 'PT45M', '3h', '0m', '1h30m', '400d', 'P1D', '-5m', '') },
  { weight: 2, arbitrary: fc.constantFrom('INC-123 investigating', '   ', 'line\nbreak', 'tab\tok', 'nul\u0000') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('2026-11-24T11:00:00Z', '2026-11-24T09:00:00Z', '2030-01-01T00:00:00Z', 'now'),
  },
  { weight: 2, arbitrary: anyString() },
  { weight: 1, arbitrary: huge },
  {
    weight: 1,
    arbitrary: fc.array(fc.oneof(fc.constantFrom('/acme.admin.*', 's3:GetObject'), anyString(20)), { maxLength: 60 }),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 2 })),
  },
);

const bodyObject = fc.dictionary(
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('target', 'scopes', 'duration', 'reason', 'ticket', 'startAt', 'comment') },
    { weight: 1, arbitrary: pollution },
    { weight: 1, arbitrary: anyString(12) },
  ),
  fieldValue,
  { maxKeys: 7 },
);

const body: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 8, arbitrary: bodyObject.map((o) => JSON.stringify(o)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(pollution, fc.object({ maxDepth: 2 }))
      .map(([k, v]) => `{"${k}": ${JSON.stringify(v)}, "target": "prod-logs", "duration": "30m", "reason": "x"}`),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom('{', '{"a":}', 'null', '[]', '"str"', '1e999', '{"reason": "\\ud800"}', 'NaN'),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: anyString(200) },
  { weight: 1, arbitrary: huge },
);

const headerName = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE', 'idempotency-key', 'Idempotency-Key'),
  },
  { weight: 1, arbitrary: fc.constantFrom('x-principal', 'authorization', 'x-amz-user-arn', '__proto__') },
  { weight: 1, arbitrary: anyString(16) },
);
const headerValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/jsonx',
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom('retry-key-0001', 'retry-key-0002', 'short', 'alice@corp.com') },
  { weight: 1, arbitrary: anyString(80) },
);
const headers = fc.dictionary(headerName, headerValue, { maxKeys: 4 });

const queryValue = fc.oneof(
  fc.constantFrom(
    'true',
    'false',
    '1',
    '50',
    '1000',
    '0',
    'active',
    'pending',
    'alice@corp.com',
    '2026-11-24T09:00:00Z',
  ),
  anyString(30),
  fc.array(fc.constantFrom('true', 'active', 'x'), { minLength: 2, maxLength: 3 }),
);
const query = fc.dictionary(
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.constantFrom(
        'mine',
        'approvable',
        'status',
        'limit',
        'grant',
        'actor',
        'target',
        'since',
        'until',
        'cursor',
      ),
    },
    { weight: 1, arbitrary: fc.oneof(pollution, anyString(10)) },
  ),
  queryValue,
  { maxKeys: 4 },
);

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'POST') },
  { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'get', 'post', '') },
  { weight: 1, arbitrary: anyString(8) },
);

function pathOf(ids: string[]) {
  const id = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ids) },
    { weight: 1, arbitrary: fc.constantFrom('tb-00000000000000000000000000', 'TB-01', '..', '%2e%2e', '*') },
    { weight: 1, arbitrary: anyString(30).filter((s) => !s.includes('/')) },
  );
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '/v1/requests',
        '/v1/audit',
        '/v1/audit/verify',
        '/.well-known/jwks.json',
        '/.well-known/timebox/revocations.json',
        '/healthz',
      ),
    },
    { weight: 3, arbitrary: id.map((i) => `/v1/requests/${i}`) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(id, fc.constantFrom('approve', 'deny', 'cancel', 'revoke', 'extend'))
        .map(([i, a]) => `/v1/requests/${i}/${a}`),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(id, fc.constantFrom('credentials', 'console')).map(([i, a]) => `/v1/grants/${i}/${a}`),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '/',
        '',
        '/v1/requests/',
        '//v1/requests',
        '/v1/../v1/requests',
        '/V1/REQUESTS',
        '/v1/requests?mine=true',
      ),
    },
    { weight: 1, arbitrary: anyString(60) },
  );
}

/** Well-formed calls with plausible values, so the fuzz also reaches decisions, denials and state changes. */
function plausible(ids: string[]) {
  const requestBody = fc.record(
    {
      target: fc.constantFrom('prod-logs', 'user-service', 'analytics', 'no-such-target'),
      scopes: fc.constantFrom(['/acme.admin.*'], ['s3:GetObject'], ['/acme.user.v1.UserService/*'], []),
      duration: fc.constantFrom('30m', '1h', '20m', '3h', 'PT10M'),
      reason: fc.constantFrom('INC-9 fix', 'on call', `\u00e9t\u00e9 ${SMILEY}`),
      ticket: fc.constantFrom('INC-9', 'T'.repeat(128)),
      startAt: fc.constantFrom('2026-11-24T10:30:00Z', '2026-11-24T08:00:00Z', '2026-12-30T00:00:00Z'),
    },
    { requiredKeys: ['target', 'duration', 'reason'] },
  );
  const actionBody = fc.record(
    {
      comment: fc.constantFrom('ok', 'no'),
      reason: fc.constantFrom('done', 'more time'),
      duration: fc.constantFrom('10m', '5h'),
    },
    { requiredKeys: [] },
  );
  return fc
    .oneof(
      fc.record({
        path: fc.constant('/v1/requests'),
        body: requestBody.map((b) => JSON.stringify(b)),
        key: fc.option(fc.constantFrom('retry-key-0001', 'retry-key-0002'), { nil: undefined }),
      }),
      fc.record({
        path: fc
          .tuple(fc.constantFrom(...ids), fc.constantFrom('approve', 'deny', 'cancel', 'revoke', 'extend'))
          .map(([i, a]) => `/v1/requests/${i}/${a}`),
        body: actionBody.map((b) => JSON.stringify(b)),
        key: fc.constant(undefined),
      }),
    )
    .map(({ path, body: b, key }) => ({
      method: 'POST',
      path,
      query: {} as ApiRequest['query'],
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) } as Record<
        string,
        string
      >,
      body: b as string | undefined,
    }));
}

const who = fc.constantFrom(alice, aliceMfa, bob, carol, dan, sam, audrey, mallory, asserted, undefined);

describe('Function: createApi (fuzzed)', () => {
  it(`survives ${RUNS} random requests: no 5xx, no exception, and no change for a refused request`, async () => {
    // Prepare: grants in every interesting state, so random ids hit real grants.
    const w = apiWorld();
    const seed = async (as: typeof alice, b: Record<string, unknown>) =>
      (await w.call('POST', '/v1/requests', { as, body: b })).json.grant?.id as string;
    const ids = [
      await seed(alice, { target: 'prod-logs', duration: '30m', reason: 'INC-1' }),
      await seed(alice, { target: 'user-service', scopes: ['/acme.admin.*'], duration: '20m', reason: 'INC-2' }),
      await seed(aliceMfa, { target: 'analytics', duration: '1h', reason: 'INC-3' }),
      await seed(bob, { target: 'user-service', duration: '1h', reason: 'INC-4' }),
    ];
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    let n = 0;
    let denied = 0;
    const statuses = new Map<number, number>();

    // Act + Assess
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 4, arbitrary: fc.record({ who, method, path: pathOf(ids), query, headers, body }) },
          { weight: 2, arbitrary: fc.tuple(who, plausible(ids)).map(([caller, p]) => ({ who: caller, ...p })) },
        ),
        async (r) => {
          const req: ApiRequest = {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
            sourceIp: r.who?.sourceIp,
            userAgent: 'fuzz',
            requestId: `fuzz-${++n}`,
            ...(r.who ? { auth: r.who } : {}),
          };
          const before = {
            appends: w.events.appends,
            grants: new Set(w.events.streams.keys()),
            views: w.projections.views.size,
            schedules: [...w.scheduler.schedules.keys()].sort().join(),
          };
          const res = await w.api(req);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status).toBeGreaterThanOrEqual(200);
          expect(res.status).toBeLessThan(500);
          const answer = JSON.parse(res.body);
          if (res.status < 400) return;
          expect(typeof answer.error.code).toBe('string');
          if (answer.error.code === 'REQUEST.DENIED') {
            denied++;
            const fresh = !before.grants.has(answer.error.grantId);
            // A denial is recorded once; replaying the same Idempotency-Key records nothing more.
            expect(w.events.appends - before.appends).toBe(fresh ? 1 : 0);
            expect((await w.service.load(answer.error.grantId)).status).toBe('denied');
            return;
          }
          expect(w.events.appends).toBe(before.appends);
          expect(w.projections.views.size).toBe(before.views);
          expect([...w.scheduler.schedules.keys()].sort().join()).toBe(before.schedules);
        },
      ),
      { numRuns: RUNS, seed: 20261124 },
    );

    // Nothing leaked onto shared prototypes, and the run reached refusals, denials and successes.
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('admin');
    expect(n).toBe(RUNS);
    expect(denied).toBeGreaterThan(0);
    expect([...statuses.keys()].filter((s) => s < 300).length).toBeGreaterThan(1);
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([400, 401, 403, 404, 405, 409, 413]));
  }, 60_000);
});
