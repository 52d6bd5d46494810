import type { Grant } from '../../../core/grant/state';
import type { ActiveGrant } from '../../../core/ports';
import { awsGrantDummy } from '../../helpers/grants';
import { stubGlobal } from '../../helpers/runner';

/** A call the CLI made to the (fake) broker. */
export interface BrokerCall {
  method: string;
  path: string;
  body: unknown;
  authorization: string | undefined;
}

type Handler = (call: BrokerCall) => { status: number; body: unknown };

/**
 * Replaces global fetch with a broker whose answers the test sets per `METHOD /path` (query string included when
 * the route names one). Unrouted calls answer 404 ROUTE.NOT_FOUND. Restored by `unstubAllGlobals()`.
 */
export function fakeBroker(routes: Record<string, Handler>) {
  const calls: BrokerCall[] = [];
  stubGlobal('fetch', async (input: URL | string, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const call: BrokerCall = {
      method: init.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      authorization: headers.get('authorization') ?? undefined,
    };
    calls.push(call);
    const handler = routes[`${call.method} ${call.path}`] ?? routes[`${call.method} ${url.pathname}`];
    const answer = handler
      ? handler(call)
      : { status: 404, body: { error: { code: 'ROUTE.NOT_FOUND', message: 'no such route' } } };
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json' },
    });
  });
  return { calls };
}

/** A grant as the broker's API shows it; override what the test is about. */
export function grantDummy(partial: Partial<Grant> = {}): Grant {
  return awsGrantDummy({
    scope: { kind: 'aws-role', actions: ['s3:GetObject', 's3:ListBucket'], resources: ['arn:aws:s3:::prod-logs/*'] },
    duration: 3_600_000,
    // The CLI prints times relative to the real clock ("in 59m"): an hour from now.
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    ...partial,
  } as Partial<ActiveGrant>);
}

/** STS credentials as the deployed API answers them (credential_process document). */
export const STS_ANSWER = {
  Version: 1,
  AccessKeyId: 'ASIAEXAMPLE',
  SecretAccessKey: 'secret',
  SessionToken: 'session',
  Expiration: '2026-11-24T11:00:00.000Z',
};
