import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint } from 'jose';
import { UnavailableError } from '../../core/errors';
import type { PublicJwk, TokenSigner } from '../../core/ports';
import { awsCall } from './errors';

/**
 * ES256 JWTs signed by an AWS KMS `ECC_NIST_P256` key: the private key never leaves KMS. KMS signs a SHA-256
 * digest (`MessageType: DIGEST`) and returns an ASN.1 DER ECDSA signature, which JWS wants as raw r||s
 * (RFC 7518 section 3.4), so it is converted here.
 */

const P256_BYTES = 32;

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Reads one DER length at `at`; returns [length, offset after it]. Only the forms an ECDSA signature can use. */
function derLength(der: Uint8Array, at: number): [number, number] {
  const first = der[at];
  if (first === undefined) throw new Error('truncated');
  if (first < 0x80) return [first, at + 1];
  if (first === 0x81) {
    const n = der[at + 1];
    if (n === undefined || n < 0x80) throw new Error('non-minimal length');
    return [n, at + 2];
  }
  throw new Error('length form not used by ECDSA signatures');
}

function derInteger(der: Uint8Array, at: number, size: number): [Buffer, number] {
  if (der[at] !== 0x02) throw new Error('expected INTEGER');
  const [len, start] = derLength(der, at + 1);
  if (len === 0 || start + len > der.length) throw new Error('bad INTEGER length');
  let bytes = Buffer.from(der.subarray(start, start + len));
  if ((bytes[0] as number) & 0x80) throw new Error('negative INTEGER');
  // DER adds a 0x00 when the high bit is set, and drops leading zeros: strip, then left-pad to the field size.
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  bytes = bytes.subarray(i);
  if (bytes.length > size) throw new Error('INTEGER longer than the curve order');
  return [Buffer.concat([Buffer.alloc(size - bytes.length), bytes]), start + len];
}

/** DER `SEQUENCE { r INTEGER, s INTEGER }` to JOSE `r || s`, each left-padded to `size` bytes. */
export function derToJose(der: Uint8Array, size = P256_BYTES): Buffer {
  try {
    if (der[0] !== 0x30) throw new Error('expected SEQUENCE');
    const [len, body] = derLength(der, 1);
    if (body + len !== der.length) throw new Error('SEQUENCE length does not match');
    const [r, afterR] = derInteger(der, body, size);
    const [s, afterS] = derInteger(der, afterR, size);
    if (afterS !== der.length) throw new Error('trailing bytes');
    return Buffer.concat([r, s]);
  } catch (e) {
    throw new UnavailableError(
      'KMS.BAD_SIGNATURE',
      `KMS returned a signature that is not DER ECDSA: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

export class KmsTokenSigner implements TokenSigner {
  private publicKey?: Promise<PublicJwk>;

  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
  ) {}

  /** Signs the claims as an ES256 JWT (typed `JWT` unless `typ` is given) whose `kid` names the KMS key's public JWK. */
  async sign(claims: Record<string, unknown>, opts: { typ?: string } = {}): Promise<string> {
    const { kid } = await this.jwk();
    const header = { alg: 'ES256', typ: opts.typ ?? 'JWT', kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const digest = createHash('sha256').update(input, 'utf8').digest();
    const out = await awsCall('kms:Sign', this.keyId, () =>
      this.client.send(
        new SignCommand({
          KeyId: this.keyId,
          Message: digest,
          MessageType: 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ),
    );
    if (!out.Signature) throw new UnavailableError('KMS.BAD_SIGNATURE', 'kms:Sign returned no signature');
    return `${input}.${b64url(derToJose(out.Signature))}`;
  }

  /** The JWKS: the KMS key's public half, fetched once (GetPublicKey) and cached; a failed fetch is retried. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    return { keys: [{ ...(await this.jwk()) }] };
  }

  private jwk(): Promise<PublicJwk> {
    this.publicKey ??= this.fetchJwk().catch((e: unknown) => {
      this.publicKey = undefined;
      throw e;
    });
    return this.publicKey;
  }

  private async fetchJwk(): Promise<PublicJwk> {
    const out = await awsCall('kms:GetPublicKey', this.keyId, () =>
      this.client.send(new GetPublicKeyCommand({ KeyId: this.keyId })),
    );
    if (out.KeySpec !== undefined && out.KeySpec !== 'ECC_NIST_P256')
      throw new UnavailableError(
        'KMS.WRONG_KEY_SPEC',
        `KMS key ${this.keyId} is ${out.KeySpec}; ES256 needs ECC_NIST_P256`,
      );
    if (!out.PublicKey)
      throw new UnavailableError('KMS.NO_PUBLIC_KEY', `kms:GetPublicKey returned no key for ${this.keyId}`);
    const key = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
    const jwk = key.export({ format: 'jwk' });
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y)
      throw new UnavailableError('KMS.WRONG_KEY_SPEC', `KMS key ${this.keyId} is not a P-256 key`);
    const pub = { kty: 'EC' as const, crv: 'P-256' as const, x: jwk.x, y: jwk.y };
    return { ...pub, kid: await calculateJwkThumbprint(pub, 'sha256'), alg: 'ES256', use: 'sig' };
  }
}
