import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { createApi } from '../../../api/app';
import { pathOf, ROUTE_IDS, ROUTES, type RouteId } from '../../../api/routes';
import { createApiGatewayHandler } from '../../../lambdas/api/apigw';
import { awsAuthenticator } from '../../../lambdas/api/identity';
import type { LocalBroker } from '../../../local/broker';
import { sessionToken, startTestBroker, type TestBroker } from '../../helpers/broker';
import { expectWith } from '../../helpers/runner';
import { apiWorld } from '../../unit/api/api-world';
import fixture from '../../unit/lambdas/fixtures/apigw-rest-iam-event.json';

/**
 * Every route of the table is served by both runtimes: the Lambda adapter behind API Gateway and the local broker's
 * HTTP server. Neither answers "no such route" or "method not allowed" for a table route; public routes answer
 * without credentials, every other route refuses a caller without them.
 */

const GRANT = 'g_0000000000000000000000000';
const path = (id: RouteId) =>
  (pathOf as (r: RouteId, p?: { id: string }) => string)(
    id,
    ROUTES[id].path.includes('{id}') ? { id: GRANT } : undefined,
  );
const bodyOf = (id: RouteId) => (ROUTES[id].method === 'POST' ? '{}' : null);
const code = (body: string): string | undefined => {
  try {
    return (JSON.parse(body) as { error?: { code?: string } } | null)?.error?.code;
  } catch {
    return undefined;
  }
};
const ROUTING_REFUSALS = ['ROUTE.NOT_FOUND', 'ROUTE.METHOD_NOT_ALLOWED'];

describe('Lambda adapter (API Gateway REST proxy events)', () => {
  const w = apiWorld();
  const handler = createApiGatewayHandler(
    createApi({
      service: w.service,
      authenticate: awsAuthenticator({
        accounts: ['111122223333'],
        roles: [{ pattern: 'AWSReservedSSO_*', mfa: true, groupsFromPermissionSet: true }],
        iamUsers: false,
      }),
      signer: w.signer,
      issuer: 'https://timebox.example',
      projections: w.projections,
      events: w.events,
      clock: w.clock,
      log: w.log,
      policy: w.policy,
    }),
  );
  const context = { awsRequestId: 'lambda-req-1', functionName: 'timebox-api' } as Context;
  const event = (id: RouteId, signed: boolean): APIGatewayProxyEvent => {
    const e = structuredClone(fixture) as unknown as APIGatewayProxyEvent;
    const p = path(id);
    const unsigned = { ...e.requestContext.identity, accountId: null, userArn: null, caller: null, user: null };
    return {
      ...e,
      httpMethod: ROUTES[id].method,
      path: p,
      pathParameters: { proxy: p.slice(1) },
      headers: { 'content-type': 'application/json' },
      multiValueHeaders: { 'content-type': ['application/json'] },
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      body: bodyOf(id),
      requestContext: {
        ...e.requestContext,
        httpMethod: ROUTES[id].method,
        identity: signed ? e.requestContext.identity : unsigned,
      },
    };
  };

  it.each(ROUTE_IDS)('routes %s for a signed caller', async (id) => {
    const res = await handler(event(id, true), context);
    expectWith(ROUTING_REFUSALS.includes(code(res.body) ?? ''), `${id}: ${res.statusCode} ${res.body}`).toBe(false);
    expectWith(res.statusCode, id).not.toBe(500);
  });

  it.each(ROUTE_IDS)('answers %s without credentials only when it is public', async (id) => {
    const res = await handler(event(id, false), context);
    if (ROUTES[id].access === 'public') expectWith(res.statusCode, `${id}: ${res.body}`).toBe(200);
    else expectWith([401, 403].includes(res.statusCode), `${id}: ${res.statusCode} ${res.body}`).toBe(true);
  });
});

describe('local broker (node:http on loopback)', () => {
  let test: TestBroker;
  let broker: LocalBroker;
  let alice: string;

  beforeAll(async () => {
    test = await startTestBroker('routes', { out: { write: () => {} } });
    broker = test.broker;
    alice = await sessionToken(broker, 'alice@corp.com');
  });

  afterAll(async () => {
    await test?.stop();
  });

  const call = async (id: RouteId, token?: string) => {
    const body = bodyOf(id);
    const res = await fetch(`${broker.url}${path(id)}`, {
      method: ROUTES[id].method,
      headers: {
        ...(body === null ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === null ? {} : { body }),
    });
    return { status: res.status, body: await res.text() };
  };

  it.each(ROUTE_IDS)('routes %s for a signed-in caller', async (id) => {
    const res = await call(id, alice);
    expectWith(ROUTING_REFUSALS.includes(code(res.body) ?? ''), `${id}: ${res.status} ${res.body}`).toBe(false);
    expectWith(res.status, id).not.toBe(500);
  });

  it.each(ROUTE_IDS)('answers %s without credentials only when it is public', async (id) => {
    const res = await call(id);
    if (ROUTES[id].access === 'public') expectWith(res.status, `${id}: ${res.body}`).toBe(200);
    else expectWith([401, 403].includes(res.status), `${id}: ${res.status} ${res.body}`).toBe(true);
  });

  it('still refuses a path outside the table', async () => {
    const res = await fetch(`${broker.url}/v1/nope`, { headers: { authorization: `Bearer ${alice}` } });
    expect(res.status).toBe(404);
    expect(code(await res.text())).toBe('ROUTE.NOT_FOUND');
  });
});
