import {
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
  type KeyObject,
} from 'jose';

/** A verification key: a WebCrypto key or a node:crypto KeyObject (jose 6 has no `KeyLike` type of its own). */
export type KeyLike = CryptoKey | KeyObject;

/** Where keys come from: a JWKS (jose's remote set) or one fixed key. */
export type VerificationKey = JWTVerifyGetKey | KeyLike | JWK;

/** jwtVerify over either kind of key (its overloads take them separately). */
export async function verifyJwt(token: string, key: VerificationKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  const { payload } =
    typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
  return payload;
}
