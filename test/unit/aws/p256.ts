import { type KeyObject, randomBytes } from 'node:crypto';

/**
 * ECDSA P-256 over an already computed digest, in plain BigInt: what KMS does for `MessageType: DIGEST`, which
 * node:crypto cannot do (it always hashes its input). Test-only: slow, not constant time.
 */
const p = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const a = p - 3n;
const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G: Point = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];
type Point = [bigint, bigint] | null;

const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;
function inv(x: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(x, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(P: Point, Q: Point): Point {
  if (!P) return Q;
  if (!Q) return P;
  if (P[0] === Q[0] && mod(P[1] + Q[1], p) === 0n) return null;
  const l =
    P[0] === Q[0] && P[1] === Q[1]
      ? mod((3n * P[0] * P[0] + a) * inv(2n * P[1], p), p)
      : mod((Q[1] - P[1]) * inv(Q[0] - P[0], p), p);
  const x = mod(l * l - P[0] - Q[0], p);
  return [x, mod(l * (P[0] - x) - P[1], p)];
}
function mul(k: bigint, P: Point): Point {
  let R: Point = null;
  let Q = P;
  for (let e = k; e > 0n; e >>= 1n) {
    if (e & 1n) R = add(R, Q);
    Q = add(Q, Q);
  }
  return R;
}
const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
function intDer(x: bigint): number[] {
  let hex = x.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = [...Buffer.from(hex, 'hex')];
  return (bytes[0] as number) & 0x80 ? [0, ...bytes] : bytes;
}

/** DER `SEQUENCE { r, s }` as KMS returns it. */
export function derSignature(r: bigint, s: bigint): Uint8Array {
  const ri = intDer(r);
  const si = intDer(s);
  const body = [0x02, ri.length, ...ri, 0x02, si.length, ...si];
  return new Uint8Array([0x30, body.length, ...body]);
}

/** Signs a 32-byte digest with a P-256 private key; returns the DER signature. */
export function signDigest(key: KeyObject, digest: Uint8Array): Uint8Array {
  const d = toBig(Buffer.from(key.export({ format: 'jwk' }).d as string, 'base64url'));
  const z = toBig(digest);
  for (;;) {
    const k = mod(toBig(randomBytes(32)), n - 1n) + 1n;
    const R = mul(k, G);
    if (!R) continue;
    const r = mod(R[0], n);
    const s = mod(inv(k, n) * (z + r * d), n);
    if (r !== 0n && s !== 0n) return derSignature(r, s);
  }
}
