import { GrpcTokenProvider } from '../../../adapters/grpc/provider';
import { type ApiRequest, type ApiResponse, createApi } from '../../../api/app';
import { TimeboxError } from '../../../core/errors';
import type {
  AccessContext,
  AccessProvider,
  ActiveGrant,
  CredentialKind,
  IssuedCredential,
  TokenSigner,
} from '../../../core/ports';
import type { Principal } from '../../../core/principal';
import { FakeProvider } from '../../helpers/memory';
import { WORLD_POLICY, world } from '../../helpers/world';

/** A signer that needs no key: tokens are readable fakes, the JWKS is fixed. */
export class FakeSigner implements TokenSigner {
  readonly signed: Record<string, unknown>[] = [];
  async sign(claims: Record<string, unknown>, opts: { typ?: string } = {}): Promise<string> {
    this.signed.push(claims);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    return `${b64({ alg: 'ES256', typ: opts.typ ?? 'JWT', kid: 'test-key' })}.${b64(claims)}.c2ln`;
  }
  async jwks() {
    return { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'test-key', alg: 'ES256', use: 'sig' }] };
  }
}

/** aws-role credentials in the STS shape, plus a console link, as the STS provider returns them. */
export class StsShapedProvider extends FakeProvider {
  constructor() {
    super('aws-role');
  }
  override async credentials(g: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential> {
    const issued = await super.credentials(g, kind, ctx);
    const secret =
      kind === 'console'
        ? { url: `https://signin.aws.amazon.com/federation?Action=login&SigninToken=tok-${g.id}` }
        : { AccessKeyId: 'ASIAEXAMPLE', SecretAccessKey: `secret-${g.id}`, SessionToken: `session-${g.id}` };
    return { ...issued, secret };
  }
}

/** A policy with an auditor on top of the lifecycle world's policy. */
export const API_POLICY = WORLD_POLICY.replace(
  '  admins: [group:security]',
  '  admins: [group:security]\n  auditors: [audrey@corp.com]',
);

/**
 * The API over the in-memory world. `authenticate` takes the principal from `req.auth` (what the transport
 * verified), as the AWS authenticator does from the request context, and refuses requests without one.
 */
export function apiWorld(policyText = API_POLICY) {
  const w = world(policyText);
  const signer = new FakeSigner();
  const providers = w.providers as unknown as Record<string, AccessProvider>;
  providers['aws-role'] = new StsShapedProvider();
  providers.grpc = new GrpcTokenProvider({ signer, issuer: 'https://timebox.example', tokenTtlMs: 5 * 60_000 });
  let n = 0;
  const api = createApi({
    service: w.service,
    authenticate: async (req) => {
      if (!req.auth) throw new TimeboxError('unauthenticated', 'IDENTITY.UNMAPPED', 'no verified caller');
      return req.auth as Principal;
    },
    signer,
    issuer: 'https://timebox.example',
    projections: w.projections,
    events: w.events,
    clock: w.clock,
    log: w.log,
    policy: w.policy,
  });
  /** One call; `body` objects are sent as JSON with the JSON content type unless told otherwise. */
  const call = async (
    method: string,
    path: string,
    opts: {
      as?: Principal;
      body?: unknown;
      headers?: Record<string, string>;
      query?: ApiRequest['query'];
    } = {},
    // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON answers field by field
  ): Promise<ApiResponse & { json: any }> => {
    const body =
      opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const res = await api({
      method,
      path,
      query: opts.query ?? {},
      headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...opts.headers },
      body,
      sourceIp: opts.as?.sourceIp,
      userAgent: 'timebox-cli/test',
      requestId: `req-${++n}`,
      ...(opts.as ? { auth: opts.as } : {}),
    });
    return { ...res, json: JSON.parse(res.body) };
  };
  return { ...w, api, call, signer, providers };
}
