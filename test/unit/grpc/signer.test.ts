import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { LocalTokenSigner } from '../../../adapters/local/signer';
import { claimsDummy } from './fixtures';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timebox-signer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** RFC 7638 thumbprint computed independently of jose: SHA-256 over the required members in lexical order. */
function thumbprint(jwk: Record<string, unknown>): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

describe('Class: LocalTokenSigner', () => {
  describe('Method: fromFile', () => {
    it('creates a PKCS#8 P-256 key readable only by its owner, in a private directory', async () => {
      // Prepare
      const path = join(dir, 'keys', 'signing.pem');
      // Act
      const signer = await LocalTokenSigner.fromFile(path);
      // Assess
      const pem = await readFile(path, 'utf8');
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'keys'))).mode & 0o077).toBe(0);
      expect(signer.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('loads the same key on the next start, so the kid is stable', async () => {
      const path = join(dir, 'signing.pem');
      const first = await LocalTokenSigner.fromFile(path);
      const pem = await readFile(path, 'utf8');

      const second = await LocalTokenSigner.fromFile(path);

      expect(second.kid).toBe(first.kid);
      expect(await second.jwks()).toEqual(await first.jwks());
      expect(await readFile(path, 'utf8')).toBe(pem);
      // A token from one instance verifies with the other's key.
      const token = await first.sign(claimsDummy());
      await expect(jwtVerify(token, await second.verifyKey())).resolves.toBeDefined();
    });

    it('ends with one key when two processes create it at the same time', async () => {
      const path = join(dir, 'signing.pem');
      const [a, b] = await Promise.all([LocalTokenSigner.fromFile(path), LocalTokenSigner.fromFile(path)]);
      expect(a.kid).toBe(b.kid);
    });

    it.each([0o644, 0o640, 0o604, 0o660])('refuses a key file with mode %o and leaves it untouched', async (mode) => {
      // Prepare
      const path = join(dir, 'signing.pem');
      await LocalTokenSigner.fromFile(path);
      await chmod(path, mode);
      const before = await readFile(path, 'utf8');
      // Act
      const loading = LocalTokenSigner.fromFile(path);
      // Assess
      await expect(loading).rejects.toMatchObject({
        code: 'SIGNER.KEY_FILE_TOO_OPEN',
        kind: 'invalid',
        message: expect.stringContaining(`chmod 600 ${path}`),
      });
      expect((await stat(path)).mode & 0o777).toBe(mode);
      expect(await readFile(path, 'utf8')).toBe(before);
    });

    it('refuses a file that is not a P-256 PKCS#8 key instead of replacing it', async () => {
      const path = join(dir, 'signing.pem');
      await writeFile(path, 'not a key\n', { mode: 0o600 });
      await expect(LocalTokenSigner.fromFile(path)).rejects.toMatchObject({ code: 'SIGNER.KEY_FILE_INVALID' });
      expect(await readFile(path, 'utf8')).toBe('not a key\n');
    });

    it('refuses a directory where the key file should be', async () => {
      await expect(LocalTokenSigner.fromFile(dir)).rejects.toMatchObject({ code: 'SIGNER.KEY_FILE_INVALID' });
    });
  });

  describe('Method: jwks', () => {
    it('publishes only the public key, with kid = RFC 7638 thumbprint, alg ES256 and use sig', async () => {
      const signer = await LocalTokenSigner.generate();
      const { keys } = await signer.jwks();
      expect(keys).toHaveLength(1);
      const key = keys[0] as Record<string, unknown>;
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: signer.kid });
      expect(key.kid).toBe(thumbprint(key));
    });
  });

  describe('Method: sign', () => {
    it('signs ES256 with the kid in the header, verifiable with verifyKey', async () => {
      const signer = await LocalTokenSigner.generate();
      const claims = claimsDummy();

      const token = await signer.sign(claims);

      expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', typ: 'JWT', kid: signer.kid });
      const { payload } = await jwtVerify(token, await signer.verifyKey(), { algorithms: ['ES256'] });
      expect(payload).toEqual(claims);
    });

    it('makes a new key each time one is generated', async () => {
      const [a, b] = await Promise.all([LocalTokenSigner.generate(), LocalTokenSigner.generate()]);
      expect(a.kid).not.toBe(b.kid);
      const token = await a.sign(claimsDummy());
      await expect(jwtVerify(token, await b.verifyKey())).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });
  });
});
