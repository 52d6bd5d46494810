import { vi } from 'vitest';
import type { Grant } from '../../../core/grant/state';

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
 * the route names one). Unrouted calls answer 404 ROUTE.NOT_FOUND. Restored by `vi.unstubAllGlobals()`.
 */
export function fakeBroker(routes: Record<string, Handler>) {
  const calls: BrokerCall[] = [];
  vi.stubGlobal('fetch', async (input: URL | string, init: RequestInit = {}) => {
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
  return {
    id: 'tb-01jd0000000000000000000000',
    status: 'active',
    requester: { id: 'alice@corp.com', groups: [], mfa: false, attributes: {} },
    target: {
      kind: 'aws-role',
      name: 'prod-logs',
      account: '111122223333',
      role: 'timebox-prod-logs',
      partition: 'aws',
      roleArn: 'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
    },
    scope: { kind: 'aws-role', actions: ['s3:GetObject', 's3:ListBucket'], resources: ['arn:aws:s3:::prod-logs/*'] },
    duration: 3_600_000,
    reason: 'INC-123',
    rule: 'sre-reads-logs',
    requestedAt: '2026-11-24T10:00:00.000Z',
    pendingUntil: null,
    approval: null,
    approvals: [],
    conditions: { mfa: false },
    activatedAt: '2026-11-24T10:00:00.000Z',
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    accessInPlace: false,
    cleanupNeeded: false,
    credentialsIssued: 0,
    lastSeq: 2,
    lastHash: 'h',
    updatedAt: '2026-11-24T10:00:00.000Z',
    ...partial,
  };
}

/** STS credentials as the deployed API answers them (credential_process document). */
export const STS_ANSWER = {
  Version: 1,
  AccessKeyId: 'ASIAEXAMPLE',
  SecretAccessKey: 'secret',
  SessionToken: 'session',
  Expiration: '2026-11-24T11:00:00.000Z',
};
