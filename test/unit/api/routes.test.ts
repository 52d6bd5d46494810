import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PUBLIC_PATHS, pathOf, ROUTE_IDS, ROUTES, type RouteId, templatePattern } from '../../../api/routes';
import { expectWith } from '../../helpers/runner';

/** The route table: every consumer (API, stack, CLI, local server) trusts these invariants. */

const templated = ROUTE_IDS.filter((id) => ROUTES[id].path.includes('{id}'));
const fixed = ROUTE_IDS.filter((id) => !ROUTES[id].path.includes('{id}'));
const concrete = (id: RouteId, grant: string) =>
  (pathOf as (r: RouteId, p?: { id: string }) => string)(
    id,
    ROUTES[id].path.includes('{id}') ? { id: grant } : undefined,
  );

describe('Constant: ROUTES', () => {
  it('names each method and path once', () => {
    const keys = ROUTE_IDS.map((id) => `${ROUTES[id].method} ${ROUTES[id].path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps public routes to GETs of fixed paths, which the stack opens as API Gateway resources', () => {
    for (const id of ROUTE_IDS.filter((r) => ROUTES[r].access === 'public')) {
      expectWith(ROUTES[id].method, id).toBe('GET');
      expectWith(ROUTES[id].path.includes('{'), id).toBe(false);
    }
    expect(PUBLIC_PATHS).toEqual(['/.well-known/jwks.json', '/.well-known/timebox/revocations.json', '/healthz']);
  });

  it('serves the HTTP API under /v1 and the documents under /.well-known or /healthz', () => {
    for (const id of ROUTE_IDS)
      expectWith(ROUTES[id].path, id).toMatch(/^(\/v1\/[a-z/{}]+|\/\.well-known\/[a-z/.]+\.json|\/healthz)$/);
  });

  it('leaves the local server its own paths (web console, static files): none matches a table route', () => {
    const patterns = ROUTE_IDS.map((id) => templatePattern(ROUTES[id].path));
    for (const path of ['/', '/index.html', '/assets/app.js', '/assets/app.css', '/web/session', '/web/session/end'])
      expectWith(
        patterns.some((p) => p.test(path)),
        path,
      ).toBe(false);
  });
});

describe('Function: pathOf', () => {
  it('fills a fixed path as it is and a template with its id', () => {
    expect(pathOf('request.create')).toBe('/v1/requests');
    expect(pathOf('request.approve', { id: 'g_01' })).toBe('/v1/requests/g_01/approve');
    expect(pathOf('grant.console', { id: 'g_01' })).toBe('/v1/grants/g_01/console');
  });

  it('throws for a template called without an id', () => {
    expect(() => (pathOf as (r: RouteId) => string)('request.get')).toThrow('route request.get needs an id');
  });

  it('gives a path its own route matches and no other route of that method does, whatever the id', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ROUTE_IDS), fc.string({ minLength: 1, maxLength: 40 }), (id, grant) => {
        const path = concrete(id, grant);
        const matching = ROUTE_IDS.filter(
          (other) => ROUTES[other].method === ROUTES[id].method && templatePattern(ROUTES[other].path).test(path),
        );
        expect(matching).toEqual([id]);
      }),
    );
  });

  it('covers templated and fixed routes both', () => {
    expect(templated.length).toBeGreaterThan(0);
    expect(fixed.length).toBeGreaterThan(0);
  });
});
