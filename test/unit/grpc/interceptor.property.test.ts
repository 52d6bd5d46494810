import * as grpc from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { compileMethodMatcher } from '../../../core/scope/grpc';
import { type CallReport, timeboxAuth } from '../../../grpc/interceptor';
import { drive, withAuthorization } from './drive';
import { AUDIENCE, bearer, claimsDummy, ISSUER } from './fixtures';

const NOW = Date.parse('2026-11-24T10:00:00Z');

// A small alphabet of names that are prefixes of one another (admin/adminx, Get/GetAll, a/ab), so random paths
// and patterns collide often and the segment boundaries are exercised rather than avoided.
const part = fc.constantFrom('acme', 'admin', 'adminx', 'user', 'v1', 'Get', 'GetAll', 'a', 'ab', 'x_y', 'x-y');
const dotted = fc.array(part, { minLength: 1, maxLength: 3 }).map((ps) => ps.join('.'));
const validPath = fc.array(dotted, { minLength: 2, maxLength: 3 }).map((segs) => `/${segs.join('/')}`);
const oddPath = fc.constantFrom(
  '/acme..admin/Get',
  '/acme.admin/',
  '//acme/Get',
  'acme.admin/Get',
  '/acme.admin.v1.Svc/Get/',
  '/acme.Admin.v1.Svc/Get',
  '/acme.admin.v1.Svc/Ge t',
  '/acme',
);
const path = fc.oneof({ weight: 9, arbitrary: validPath }, { weight: 1, arbitrary: oddPath });

/** Patterns of every kind, some derived from a path (so they often match it), some malformed. */
const patternFor = (p: string) => {
  const segs = p.slice(1).split('/');
  const first = segs[0] ?? 'acme';
  const firstParts = first.split('.');
  return fc.oneof(
    fc.constant(p),
    fc.constant(`/${first}/*`),
    fc.nat({ max: Math.max(0, firstParts.length - 1) }).map((n) => `/${firstParts.slice(0, n + 1).join('.')}.*`),
    fc.constant(`/${segs.slice(0, -1).join('/')}/*`),
    dotted.map((d) => `/${d}.*`),
    fc.tuple(dotted, dotted).map(([a, b]) => `/${a}/${b}`),
    fc.tuple(dotted, dotted).map(([a, b]) => `/${a}/${b}/*`),
    fc.constantFrom('*', '/*', '/acme.admin*', '/acme.*.v1/*', '/acme..x/*', 'acme.admin.*', '/acme.admin/'),
  );
};
const scenario = path.chain((p) =>
  fc.record({ path: fc.constant(p), scope: fc.array(patternFor(p), { minLength: 1, maxLength: 4 }) }),
);

let signer: LocalTokenSigner;
beforeAll(async () => {
  signer = await LocalTokenSigner.generate();
});

describe('Function: timeboxAuth (property)', () => {
  it('admits a call exactly when compileMethodMatcher matches its path against the token scope', async () => {
    const calls: CallReport[] = [];
    const auth = timeboxAuth({
      publicKey: await signer.verifyKey(),
      issuer: ISSUER,
      audience: AUDIENCE,
      now: () => new Date(NOW),
      onCall: (u) => calls.push(u),
    });
    let admitted = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ path: method, scope }) => {
        const token = await signer.sign(claimsDummy({ scope }, NOW));
        const expected = compileMethodMatcher(scope)(method);

        const out = await drive(auth, method, withAuthorization(bearer(token)));

        expect(out.passed).toBe(expected);
        if (!expected) expect(out.status?.code).toBe(grpc.status.PERMISSION_DENIED);
        expect(calls.at(-1)?.result).toBe(expected ? 'ok' : 'permission-denied');
        if (expected) admitted++;
      }),
      { numRuns: 400 },
    );
    // The generators must exercise both outcomes, or the property says little.
    expect(admitted).toBeGreaterThan(40);
    expect(calls.length - admitted).toBeGreaterThan(40);
  });
});
