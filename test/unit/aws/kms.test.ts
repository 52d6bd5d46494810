import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { derToJose, KmsTokenSigner } from '../../../adapters/aws/kms';
import { REVOCATION_FEED_TYPE, signRevocationFeed } from '../../../adapters/grpc/revocations';
import { revocationFeedVerifier } from '../../../grpc/revocations';
import { signDigest } from './p256';

const ISSUER = 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/live';
const KEY_ID = 'arn:aws:kms:eu-west-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** A real P-256 key pair playing KMS: Sign over a DIGEST returns a DER ECDSA signature, as KMS does. */
function kmsDouble(opts: { keySpec?: string } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const client = new KMSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const mock = mockClient(client);
  mock.on(GetPublicKeyCommand).resolves({
    KeyId: KEY_ID,
    KeySpec: (opts.keySpec ?? 'ECC_NIST_P256') as 'ECC_NIST_P256',
    PublicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
  });
  mock.on(SignCommand).callsFake((input: { Message: Uint8Array; MessageType: string }) => {
    if (input.MessageType !== 'DIGEST' || input.Message.length !== 32) throw new Error('expected a SHA-256 digest');
    return { KeyId: KEY_ID, Signature: signDigest(privateKey, input.Message), SigningAlgorithm: 'ECDSA_SHA_256' };
  });
  return { client, mock, privateKey, publicKey };
}

describe('Class: KmsTokenSigner', () => {
  describe('Method: sign', () => {
    it('signs an ES256 JWT with KMS over the SHA-256 digest, verifiable against the JWKS', async () => {
      // Prepare
      const kms = kmsDouble();
      const signer = new KmsTokenSigner(kms.client, KEY_ID);
      // Act
      const jwt = await signer.sign({ sub: 'alice@corp.com', aud: 'user-service', jti: 'tb-1', exp: 4_102_444_800 });
      // Assess
      const jwks = await signer.jwks();
      const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(jwks as never), {
        audience: 'user-service',
        algorithms: ['ES256'],
      });
      expect(payload).toMatchObject({ sub: 'alice@corp.com', jti: 'tb-1' });
      expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0]?.kid });
      const input = kms.mock.commandCalls(SignCommand)[0]?.args[0].input;
      const signingInput = jwt.split('.').slice(0, 2).join('.');
      expect(input).toMatchObject({ KeyId: KEY_ID, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' });
      expect(Buffer.from(input?.Message as Uint8Array)).toEqual(createHash('sha256').update(signingInput).digest());
    });

    it('signs the revocation feed typed as a feed, which the service-side check accepts', async () => {
      // Prepare
      const kms = kmsDouble();
      const signer = new KmsTokenSigner(kms.client, KEY_ID);
      const now = new Date('2026-11-24T10:00:00Z');
      // Act
      const feed = await signRevocationFeed([{ jti: 'tb-1', exp: 1_795_514_700 }], signer, ISSUER, now);
      // Assess
      const key = (await signer.jwks()).keys[0] as Record<string, string>;
      const verified = await revocationFeedVerifier(key, ISSUER, { now: () => now.getTime() })(feed.jwt);
      expect(verified).toEqual({ iat: now.getTime() / 1000, revoked: [{ jti: 'tb-1', exp: 1_795_514_700 }] });
      expect(decodeProtectedHeader(feed.jwt)).toEqual({ alg: 'ES256', typ: REVOCATION_FEED_TYPE, kid: key.kid });
    });

    it('fails clearly when KMS returns something that is not a DER signature', async () => {
      const kms = kmsDouble();
      kms.mock.on(SignCommand).resolves({ Signature: new Uint8Array([1, 2, 3]) });
      await expect(new KmsTokenSigner(kms.client, KEY_ID).sign({ sub: 'x' })).rejects.toMatchObject({
        code: 'KMS.BAD_SIGNATURE',
      });
    });

    it('translates KMS errors', async () => {
      const kms = kmsDouble();
      kms.mock.on(SignCommand).rejects(Object.assign(new Error('off'), { name: 'DisabledException' }));
      await expect(new KmsTokenSigner(kms.client, KEY_ID).sign({ sub: 'x' })).rejects.toMatchObject({
        code: 'AWS.KEY_UNAVAILABLE',
      });
    });
  });

  describe('Method: jwks', () => {
    it('publishes the P-256 public key with its RFC 7638 thumbprint as kid, fetched once', async () => {
      const kms = kmsDouble();
      const signer = new KmsTokenSigner(kms.client, KEY_ID);
      const first = await signer.jwks();
      await signer.jwks();
      await signer.sign({ sub: 'x' });
      const jwk = kms.publicKey.export({ format: 'jwk' });
      expect(first.keys).toEqual([
        {
          kty: 'EC',
          crv: 'P-256',
          x: jwk.x,
          y: jwk.y,
          kid: await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string }),
          alg: 'ES256',
          use: 'sig',
        },
      ]);
      expect(kms.mock.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
    });

    it('refuses a key that is not ECC_NIST_P256, and retries after a failed fetch', async () => {
      const wrong = kmsDouble({ keySpec: 'RSA_2048' });
      await expect(new KmsTokenSigner(wrong.client, KEY_ID).jwks()).rejects.toMatchObject({
        code: 'KMS.WRONG_KEY_SPEC',
      });

      const kms = kmsDouble();
      const signer = new KmsTokenSigner(kms.client, KEY_ID);
      kms.mock.on(GetPublicKeyCommand).rejectsOnce(Object.assign(new Error('slow'), { name: 'ThrottlingException' }));
      await expect(signer.jwks()).rejects.toMatchObject({ code: 'AWS.THROTTLED' });
      // The failure is not cached: the next call fetches again.
      kms.mock.on(GetPublicKeyCommand).resolves({
        KeySpec: 'ECC_NIST_P256',
        PublicKey: new Uint8Array(kms.publicKey.export({ format: 'der', type: 'spki' })),
      });
      expect((await signer.jwks()).keys).toHaveLength(1);
      expect(decodeProtectedHeader(await signer.sign({ sub: 'x' })).kid).toBe((await signer.jwks()).keys[0]?.kid);
    });
  });
});

describe('Function: derToJose', () => {
  const der = (r: number[], s: number[]) => {
    const body = [0x02, r.length, ...r, 0x02, s.length, ...s];
    return new Uint8Array([0x30, body.length, ...body]);
  };

  it('strips the 0x00 DER adds before a high bit, and left-pads short integers', () => {
    const r = [0x00, 0x80, ...Array(31).fill(1)]; // 33 bytes: sign padding
    const s = [0x05]; // 1 byte: a tiny s
    const jose = derToJose(der(r, s));
    expect(jose).toHaveLength(64);
    expect([...jose.subarray(0, 32)]).toEqual([0x80, ...Array(31).fill(1)]);
    expect([...jose.subarray(32)]).toEqual([...Array(31).fill(0), 0x05]);
  });

  it('handles r with leading zero bytes (a short r)', () => {
    const jose = derToJose(der([0x00, 0x00, 0x7f], [0x7f, ...Array(31).fill(2)]));
    expect([...jose.subarray(0, 32)]).toEqual([...Array(31).fill(0), 0x7f]);
  });

  it('refuses malformed input', () => {
    for (const bad of [
      new Uint8Array([]),
      new Uint8Array([0x31, 0x00]),
      der([0x01, ...Array(32).fill(1)], [0x01]), // r longer than 32 bytes
      der([0x80], [0x01]), // negative
      new Uint8Array([...der([1], [1]), 0x00]), // trailing byte
    ])
      expect(() => derToJose(bad)).toThrow(expect.objectContaining({ code: 'KMS.BAD_SIGNATURE' }));
  });

  it('round-trips real node signatures of any shape (property)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (msg) => {
        const derSig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'der' });
        const converted = derToJose(derSig);
        expect(converted).toHaveLength(64);
        // ECDSA is randomised, so compare by verifying: JOSE r||s is IEEE P1363.
        expect(verify('sha256', msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, converted)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
