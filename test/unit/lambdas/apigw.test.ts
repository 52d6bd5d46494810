import { describe, expect, it, jest } from '@jest/globals';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { createApi } from '../../../api/app';
import { createApiGatewayHandler, toApiRequest, toProxyResult } from '../../../lambdas/api/apigw';
import { awsAuthenticator } from '../../../lambdas/api/identity';
import { apiWorld } from '../api/api-world';
import fixture from './fixtures/apigw-rest-iam-event.json';

/** The recorded REST API (v1 proxy, IAM auth) event, with whatever the test is about changed. */
function eventDummy(partial: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  return { ...(structuredClone(fixture) as unknown as APIGatewayProxyEvent), ...partial };
}

const contextDummy = { awsRequestId: 'lambda-req-1', functionName: 'timebox-api' } as Context;

describe('Function: toApiRequest', () => {
  it('maps a REST proxy event: method, path without the base path mapping, headers, body and caller', () => {
    // Act
    const req = toApiRequest(eventDummy());
    // Assess
    expect(req).toMatchObject({
      method: 'POST',
      path: '/v1/requests',
      query: {},
      body: '{"target":"prod-logs","duration":"30m","reason":"INC-123 investigating"}',
      sourceIp: '10.1.2.3',
      userAgent: 'timebox-cli/0.1.0',
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      auth: {
        userArn: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_SRE_0123456789abcdef/Alice@Corp.com',
        accountId: '111122223333',
        sourceIp: '10.1.2.3',
      },
    });
    expect(req.headers['idempotency-key']).toBe('cli-2026-11-24-0001');
    expect(req.headers['content-type']).toBe('application/json');
  });

  it.each(["/v1/au$'dit", '/v1$`audit', '/v1/requests/x$&', '/v1/a$$b'])(
    'keeps the captured path %s literal, so the app routes exactly what API Gateway authorised',
    (path) => {
      const proxy = path.slice(1);
      const req = toApiRequest(eventDummy({ resource: '/{proxy+}', path, pathParameters: { proxy } }));
      expect(req.path).toBe(path);
    },
  );

  it('uses event.path when the resource is not a greedy proxy', () => {
    const req = toApiRequest(eventDummy({ resource: '/healthz', path: '/healthz', pathParameters: null }));
    expect(req.path).toBe('/healthz');
  });

  it('keeps repeated query parameters as arrays and joins repeated headers', () => {
    const req = toApiRequest(
      eventDummy({
        httpMethod: 'GET',
        queryStringParameters: { status: 'active', limit: '5' },
        multiValueQueryStringParameters: { status: ['active', 'pending'], limit: ['5'] },
        multiValueHeaders: { Accept: ['application/json', 'text/plain'] },
      }),
    );
    expect(req.query).toEqual({ status: ['active', 'pending'], limit: '5' });
    expect(req.headers.accept).toBe('application/json, text/plain');
  });

  it('decodes a base64 body', () => {
    const req = toApiRequest(
      eventDummy({ body: Buffer.from('{"comment":"\u00e9t\u00e9"}').toString('base64'), isBase64Encoded: true }),
    );
    expect(req.body).toBe('{"comment":"\u00e9t\u00e9"}');
  });

  it('survives an event with the optional maps missing', () => {
    const req = toApiRequest({ httpMethod: 'GET', path: '/healthz' } as APIGatewayProxyEvent);
    expect(req).toMatchObject({ method: 'GET', path: '/healthz', query: {}, headers: {}, requestId: 'unknown' });
  });
});

describe('Function: createApiGatewayHandler', () => {
  it('answers the recorded event end to end with the caller mapped from the request context', async () => {
    // Prepare
    const w = apiWorld();
    const api = createApi({
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
    });
    const onInvoke = jest.fn();
    const handler = createApiGatewayHandler(api, { onInvoke });
    // Act
    const res = await handler(eventDummy(), contextDummy);
    const replay = await handler(eventDummy(), contextDummy);
    // Assess
    expect(res.statusCode).toBe(201);
    expect(res.headers?.['x-request-id']).toBe('c6af9ac6-7b61-11e6-9a41-93e8deadbeef');
    const body = JSON.parse(res.body);
    expect(body.grant.requester).toMatchObject({ id: 'alice@corp.com', mfa: true, groups: ['sso:SRE'] });
    expect(body.grant.status).toBe('active');
    expect(replay.statusCode).toBe(200);
    expect(JSON.parse(replay.body).grant.id).toBe(body.grant.id);
    expect(onInvoke).toHaveBeenCalledWith(contextDummy);
  });

  it('answers 403 IDENTITY.UNMAPPED for a caller outside the mapping, writing nothing', async () => {
    const w = apiWorld();
    const handler = createApiGatewayHandler(
      createApi({
        service: w.service,
        authenticate: awsAuthenticator({ accounts: ['111122223333'], roles: [], iamUsers: false }),
        signer: w.signer,
        issuer: 'https://timebox.example',
        projections: w.projections,
        events: w.events,
        clock: w.clock,
        log: w.log,
        policy: w.policy,
      }),
    );
    const res = await handler(eventDummy(), contextDummy);
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body).error.code).toBe('IDENTITY.UNMAPPED');
    expect(w.events.appends).toBe(0);
  });

  it('answers an event it cannot read with a JSON 500 instead of throwing', async () => {
    const api = jest.fn<Parameters<typeof createApiGatewayHandler>[0]>();
    const handler = createApiGatewayHandler(api);
    const res = await handler(null as unknown as APIGatewayProxyEvent, contextDummy);
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body).error.code).toBe('INTERNAL');
    expect(api).not.toHaveBeenCalled();
  });
});

describe('Function: toProxyResult', () => {
  it('copies status, headers and body', () => {
    const out = toProxyResult({ status: 404, headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(out).toEqual({ statusCode: 404, headers: { 'content-type': 'application/json' }, body: '{}' });
  });
});
