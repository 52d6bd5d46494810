/** Claims of the JWT that a `grpc` grant's holder presents to services (ES256-signed by the broker). */
export interface GrpcClaims {
  iss: string;
  sub: string;
  aud: string;
  jti: string;
  /** Method patterns the holder may call. */
  scope: string[];
  iat: number;
  nbf: number;
  exp: number;
}

/**
 * Claims for a token issued `now` under a grant. The token never outlives the grant and lives at most `ttlMs`,
 * so a revoked grant's tokens stop working soon even where the revocation feed is not consulted.
 */
export function grpcClaims(args: {
  issuer: string;
  grantId: string;
  principalId: string;
  audience: string;
  methods: string[];
  now: Date;
  expiresAt: Date;
  ttlMs: number;
}): GrpcClaims {
  const iat = Math.floor(args.now.getTime() / 1000);
  const exp = Math.min(Math.floor(args.expiresAt.getTime() / 1000), iat + Math.floor(args.ttlMs / 1000));
  return {
    iss: args.issuer,
    sub: args.principalId,
    aud: args.audience,
    jti: args.grantId,
    scope: [...args.methods],
    iat,
    nbf: iat,
    exp,
  };
}
