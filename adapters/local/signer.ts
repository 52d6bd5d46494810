import { constants as fsConstants } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type JWK,
  SignJWT,
} from 'jose';
import { ValidationError } from '../../core/errors';
import type { PublicJwk, TokenSigner } from '../../core/ports';

// Group and other permission bits: a signing key anyone else on the host can read is a key anyone can sign with.
const LOOSE_BITS = 0o077;

/**
 * ES256 signer for local mode: one P-256 key kept as a PKCS#8 PEM file (mode 0600). The key id is the RFC 7638
 * thumbprint of the public key, so it is stable across restarts and changes exactly when the key does.
 */
export class LocalTokenSigner implements TokenSigner {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: PublicJwk,
  ) {}

  /** Loads the key at `path`, creating it (mode 0600, parent directory 0700) when the file does not exist. */
  static async fromFile(path: string): Promise<LocalTokenSigner> {
    const existing = await readKeyFile(path);
    if (existing !== undefined) return LocalTokenSigner.fromPem(existing, path);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportPKCS8(privateKey);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      // `wx` fails when another process created the file first; then both use that one key.
      await writeFile(path, pem, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const raced = await readKeyFile(path);
      if (raced === undefined) throw e;
      return LocalTokenSigner.fromPem(raced, path);
    }
    return LocalTokenSigner.fromKey(privateKey);
  }

  /** A fresh in-memory key (tests, throwaway demos). */
  static async generate(): Promise<LocalTokenSigner> {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    return LocalTokenSigner.fromKey(privateKey);
  }

  private static async fromPem(pem: string, path: string): Promise<LocalTokenSigner> {
    let key: CryptoKey;
    try {
      key = await importPKCS8(pem, 'ES256', { extractable: true });
    } catch (e) {
      throw new ValidationError(
        'SIGNER.KEY_FILE_INVALID',
        `${path} is not a PKCS#8 PEM P-256 (ES256) private key; move it away to have a new key created`,
        { cause: e },
      );
    }
    return LocalTokenSigner.fromKey(key);
  }

  private static async fromKey(privateKey: CryptoKey): Promise<LocalTokenSigner> {
    const jwk = await exportJWK(privateKey);
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y)
      throw new ValidationError('SIGNER.KEY_FILE_INVALID', 'the signing key is not a P-256 key');
    const kid = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'sha256');
    return new LocalTokenSigner(privateKey, {
      kty: 'EC',
      crv: 'P-256',
      x: jwk.x,
      y: jwk.y,
      kid,
      alg: 'ES256',
      use: 'sig',
    });
  }

  /** The key id: the RFC 7638 SHA-256 thumbprint of the public key. */
  get kid(): string {
    return this.publicJwk.kid;
  }

  /**
   * Signs `claims` as a compact JWT with header `{alg: ES256, typ, kid}`; `typ` is `JWT` (grant tokens) unless
   * given. The local broker signs its own session tokens with another `typ` (e.g. `timebox-session+jwt`), which
   * gRPC services refuse, so a session token can never pass as a grant token (RFC 8725 section 3.11).
   */
  async sign(claims: Record<string, unknown>, opts: { typ?: string } = {}): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: opts.typ ?? 'JWT', kid: this.kid })
      .sign(this.privateKey);
  }

  /** The JWKS served at /.well-known/jwks.json: the public key only, never `d`. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    return { keys: [{ ...this.publicJwk }] };
  }

  /** The public key, for verifying in tests and for the local broker's own bearer tokens. */
  async verifyKey(): Promise<CryptoKey> {
    return (await importJWK(this.publicJwk as JWK, 'ES256')) as CryptoKey;
  }
}

/**
 * Reads the key file, or returns undefined when it does not exist. Permissions are checked on the opened handle
 * (no race between the check and the read) and a group/world-readable file is refused rather than fixed: someone
 * may already have copied it, so the operator has to decide whether the key must be replaced.
 */
async function readKeyFile(path: string): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, fsConstants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new ValidationError('SIGNER.KEY_FILE_INVALID', `${path} is not a regular file`);
    // Windows has no POSIX mode bits to check; there the file's ACL is the operator's to manage.
    if (process.platform !== 'win32' && (st.mode & LOOSE_BITS) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
      throw new ValidationError(
        'SIGNER.KEY_FILE_TOO_OPEN',
        `refusing to use signing key ${path}: its mode is ${mode}, so other users can read it. ` +
          `If nobody else has read it, run \`chmod 600 ${path}\`; otherwise delete it to have a new key created.`,
      );
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
