import { decodeProtectedHeader } from 'jose';
import { grpcClaims } from '../../core/builders/grpc';
import { StateError } from '../../core/errors';
import type { Grant } from '../../core/grant/state';
import type {
  AccessContext,
  AccessProvider,
  ActiveGrant,
  CredentialKind,
  IssuedCredential,
  TokenSigner,
} from '../../core/ports';

export interface GrpcTokenProviderOptions {
  signer: TokenSigner;
  /** The `iss` claim: the broker's base URL; services check it. */
  issuer: string;
  /** Longest life of one token; a shorter life bounds how long a revoked token works where the feed is not read. */
  tokenTtlMs: number;
}

/** What the holder of a `grpc` grant receives: a bearer token for `authorization: Bearer <token>`. */
export interface GrpcTokenSecret {
  token: string;
  expiresAt: string;
}

/**
 * Access to gRPC services is a signed prefix token: nothing is put in place at activation, and early revocation
 * is published through the revocation feed (./revocations.ts), which is derived from the projection, so `revoke`
 * has nothing to do on the service side.
 */
export class GrpcTokenProvider implements AccessProvider {
  readonly kind = 'grpc' as const;

  constructor(private readonly opts: GrpcTokenProviderOptions) {
    if (!opts.issuer) throw new Error('GrpcTokenProvider needs an issuer');
    // One second is the resolution of `exp`; anything shorter would mint tokens that are born expired.
    if (!Number.isFinite(opts.tokenTtlMs) || opts.tokenTtlMs < 1000)
      throw new Error(`GrpcTokenProvider tokenTtlMs must be at least 1000 ms, got ${opts.tokenTtlMs}`);
  }

  /** Nothing to put in place: the token is the access. */
  async provision(): Promise<Record<string, unknown>> {
    return {};
  }

  /** Signs a token for the grant's audience and method patterns, living until the grant ends or the TTL, whichever is first. */
  async credentials(grant: ActiveGrant, kind: CredentialKind, ctx: AccessContext): Promise<IssuedCredential> {
    // `credentials` is what a generic client asks for; for a gRPC target the only credential is the token.
    if (kind !== 'token' && kind !== 'credentials')
      throw new StateError(
        'CREDENTIALS.KIND_UNSUPPORTED',
        `a gRPC grant has no ${kind} credentials; ask for a token (kind "token")`,
      );
    const target = grant.target;
    const scope = grant.scope;
    if (target.kind !== 'grpc' || scope?.kind !== 'grpc')
      throw new StateError('CREDENTIALS.WRONG_TARGET', `grant ${grant.id} is not for a gRPC target`);
    const claims = grpcClaims({
      issuer: this.opts.issuer,
      grantId: grant.id,
      principalId: grant.requester.id,
      audience: target.audience,
      methods: scope.methods,
      now: ctx.now,
      expiresAt: new Date(grant.expiresAt),
      ttlMs: this.opts.tokenTtlMs,
    });
    // `exp` is the grant's expiry rounded down to whole seconds, so in the last fraction of a second before a
    // grant that ends mid-second there is no valid token left to mint.
    if (claims.exp * 1000 <= ctx.now.getTime())
      throw new StateError('GRANT.EXPIRED', `${grant.id} ends in less than a second; no token issued`);
    const token = await this.opts.signer.sign({ ...claims });
    const expiresAt = new Date(claims.exp * 1000);
    const secret: GrpcTokenSecret = { token, expiresAt: expiresAt.toISOString() };
    return {
      kind: 'token',
      expiresAt,
      secret,
      audit: {
        kid: decodeProtectedHeader(token).kid ?? null,
        exp: claims.exp,
        audience: claims.aud,
        scope: claims.scope,
      },
    };
  }

  /**
   * Tokens cannot be recalled. A revoked grant is listed in the revocation feed until its last token expires; an
   * expired grant needs nothing, because no token outlives the grant (`exp` <= grant expiry).
   */
  async revoke(grant: Grant, why: 'revoked' | 'expired'): Promise<Record<string, unknown>> {
    return why === 'revoked' ? { revocationFeed: true } : { tokensEndBy: grant.expiresAt ?? null };
  }
}
