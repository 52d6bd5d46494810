import { SignJWT } from 'jose';
import { GrpcTokenProvider } from '../../../adapters/grpc/provider';
import type { LocalTokenSigner } from '../../../adapters/local/signer';
import { ManualClock } from '../../../core/clock';
import type { RequestInput } from '../../../core/grant/service';
import { FakeProvider, MemoryEventStore, MemoryProjectionStore } from '../../helpers/memory';
import { grantServiceOver } from '../../helpers/world';

export const ISSUER = 'https://timebox.test';
export const AUDIENCE = 'user-service';
export const TOKEN_TTL_MS = 5 * 60_000;

/** A broker over the in-memory doubles whose `grpc` provider is the real GrpcTokenProvider. */
export function grpcWorld(signer: LocalTokenSigner, start = '2026-11-24T10:00:00Z') {
  const clock = new ManualClock(start);
  const events = new MemoryEventStore();
  const projections = new MemoryProjectionStore();
  const provider = new GrpcTokenProvider({ signer, issuer: ISSUER, tokenTtlMs: TOKEN_TTL_MS });
  const aws = new FakeProvider('aws-role');
  const service = grantServiceOver({
    events,
    projections,
    providers: { 'aws-role': aws, 'gcp-role': new FakeProvider('gcp-role'), grpc: provider },
    clock,
  });
  return { clock, events, projections, provider, aws, service };
}

/** An auto-approved request for the user service (rule sre-reads-users in WORLD_POLICY). */
export function userServiceRequest(partial: Partial<RequestInput> = {}): RequestInput {
  return {
    target: 'user-service',
    scopes: ['/acme.user.v1.UserService/*'],
    duration: 30 * 60_000,
    reason: 'INC-42 checking a user record',
    ...partial,
  };
}

/** Token claims as the broker issues them, valid now for five minutes; override what the test is about. */
export function claimsDummy(partial: Record<string, unknown> = {}, nowMs = Date.now()): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: ISSUER,
    sub: 'alice@corp.com',
    aud: AUDIENCE,
    jti: 'tb-01jdem00000000000000000000',
    scope: ['/acme.user.v1.UserService/*'],
    iat,
    nbf: iat,
    exp: iat + 300,
    ...partial,
  };
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An unsecured JWT (`alg: none`), which must never be accepted. */
export function unsecuredToken(claims: Record<string, unknown>): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
}

/** An HS256 token signed with a shared secret, which must never be accepted either. */
export function hs256Token(claims: Record<string, unknown>, kid?: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) })
    .sign(new TextEncoder().encode('a-shared-secret-that-is-32-bytes!'));
}

export const bearer = (token: string) => `Bearer ${token}`;
