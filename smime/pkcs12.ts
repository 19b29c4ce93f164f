// PKCS#12 (RFC 7292) files: certificates with their private keys, as users export them from
// Windows, macOS, Firefox, keytool and openssl. Read with the lean DER walker and node:crypto:
//
// - integrity: the password MAC (HMAC keyed with the PKCS#12 KDF of appendix B, any SHA-1/2 digest);
// - privacy: PBES2 (PBKDF2 with AES-CBC, 3DES or RC2: openssl 3, keytool, Windows "AES256-SHA256")
//   and the PKCS#12 v1 schemes of appendix C (3DES and RC2-40/128, what Windows "TripleDES-SHA1",
//   older exporters and `openssl -legacy` write; RC4 for completeness);
// - passwords: BMPString (UTF-16BE) for the PKCS#12 KDF and UTF-8 for PBKDF2, as OpenSSL does; a
//   non-ASCII password that fails is retried the way OpenSSL before 1.1 encoded it (UTF-8 bytes
//   widened one by one), and an empty one both as "" and as no password at all.
//
// Work is bounded: file size, iterations per derivation, iterations in total, bags. Every failure
// is a Pkcs12Error whose message reads after a file name ("x.p12: MAC does not verify: ...").

import crypto from 'node:crypto';
import { promisify } from 'node:util';
import {
  bytesView,
  children,
  content,
  DerError,
  expectTag,
  octets,
  oid,
  readNode,
  readRoot,
  smallInteger,
  stringValue,
  TAG,
  type DerNode,
} from './der.js';
import { CipherError, decryptContent, readContentCipher } from './ciphers.js';
import { rc2CbcDecrypt, Rc2Error } from './rc2.js';

const pbkdf2 = promisify(crypto.pbkdf2);

export type Pkcs12ErrorCode =
  /** Not a PKCS#12 file at all (text, another DER structure, truncated outer structure). */
  | 'not-pkcs12'
  /** The MAC does not verify, or (without a MAC) the contents do not decrypt: most likely the password. */
  | 'wrong-password'
  /** Structure broken inside, or contents that do not decrypt although the MAC verified. */
  | 'damaged'
  /** A mode or algorithm this reader does not implement. */
  | 'unsupported'
  /** Larger or more expensive than the limits allow. */
  | 'limit';

export class Pkcs12Error extends Error {
  override name = 'Pkcs12Error';
  constructor(
    message: string,
    readonly code: Pkcs12ErrorCode,
  ) {
    super(message);
  }
}

export interface Pkcs12Limits {
  /** Largest file, bytes. */
  maxBytes: number;
  /** Iterations of one key derivation (MAC or encryption). */
  maxIterations: number;
  /** Iterations of all key derivations of the file together (each shrouded key has its own). */
  maxTotalIterations: number;
  /** Safe bags in the whole file. */
  maxBags: number;
}

export const DEFAULT_PKCS12_LIMITS: Readonly<Pkcs12Limits> = Object.freeze({
  maxBytes: 16 * 1024 * 1024,
  maxIterations: 1_000_000,
  maxTotalIterations: 4_000_000,
  maxBags: 1_000,
});

export interface Pkcs12KeyPair {
  /** The certificate, DER. */
  certificate: Buffer;
  /** Its private key as unencrypted PKCS#8 DER, re-encoded by node:crypto. */
  privateKey: Buffer;
  /** The friendlyName attribute of the key bag (or else the certificate bag), if any. */
  friendlyName?: string;
}

export interface Pkcs12Contents {
  /** Every private key with its certificate, in the order the keys appear in the file. */
  pairs: Pkcs12KeyPair[];
  /** Certificates without a key in the file (the chain), in file order. */
  others: Buffer[];
  /** The MAC, or null for a file without one. */
  mac: { digest: string; iterations: number } | null;
  /** The encryption schemes used, by name, e.g. "PBES2 (PBKDF2 hmacWithSHA256, aes-256-cbc)". */
  encryption: string[];
  /** True when any PKCS#12 v1 (appendix C) scheme is used: 3DES, RC2 or RC4. */
  legacy: boolean;
}

export interface ReadPkcs12Options {
  limits?: Partial<Pkcs12Limits>;
}

// ---- the PKCS#12 key derivation (RFC 7292 appendix B) --------------------------------------

const DIGESTS: Record<string, { name: string; u: number; v: number }> = {
  '1.2.840.113549.2.5': { name: 'md5', u: 16, v: 64 },
  '1.3.14.3.2.26': { name: 'sha1', u: 20, v: 64 },
  '2.16.840.1.101.3.4.2.4': { name: 'sha224', u: 28, v: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', u: 32, v: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', u: 48, v: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', u: 64, v: 128 },
  '2.16.840.1.101.3.4.2.5': { name: 'sha512-224', u: 28, v: 128 },
  '2.16.840.1.101.3.4.2.6': { name: 'sha512-256', u: 32, v: 128 },
};

const hashOnce: (alg: string, data: Uint8Array) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (alg, data) => (crypto as unknown as { hash(a: string, d: Uint8Array, e: 'buffer'): Buffer }).hash(alg, data, 'buffer')
    : (alg, data) => crypto.createHash(alg).update(data).digest();

/** `data` repeated to fill `length` bytes (empty stays empty). */
function fill(data: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  if (data.length === 0) return out.subarray(0, 0);
  for (let i = 0; i < length; i += data.length) out.set(data.subarray(0, Math.min(data.length, length - i)), i);
  return out;
}

/** Iterations between two turns of the event loop (about 10 ms of SHA-1 here). */
const KDF_SLICE = 16_384;

/**
 * The PKCS#12 KDF: `id` 1 for a key, 2 for an IV, 3 for a MAC key. `password` is already the
 * BMPString with its two terminating zero bytes (or empty for no password).
 */
export async function pkcs12Kdf(digest: string, password: Uint8Array, salt: Uint8Array, id: 1 | 2 | 3, iterations: number, size: number): Promise<Buffer> {
  const d = Object.values(DIGESTS).find((x) => x.name === digest);
  if (!d) throw new Pkcs12Error(`PKCS#12 KDF with digest ${digest} is not supported`, 'unsupported');
  const { u, v } = d;
  const D = Buffer.alloc(v, id);
  const S = fill(salt, v * Math.ceil(salt.length / v));
  const P = fill(password, v * Math.ceil(password.length / v));
  const I = Buffer.concat([S, P]);
  const blocks = Math.ceil(size / u);
  const out = Buffer.alloc(blocks * u);
  for (let i = 0; i < blocks; i++) {
    let A = hashOnce(digest, Buffer.concat([D, I]));
    for (let r = 1; r < iterations; r++) {
      A = hashOnce(digest, A);
      // Hashing is synchronous: a file with a large count would otherwise hold every other request.
      if (r % KDF_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    A.copy(out, i * u);
    if (i + 1 === blocks) break;
    // Each v-byte block of I becomes (I_j + B + 1) mod 2^(8v), B being A repeated to v bytes.
    const B = fill(A, v);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return out.subarray(0, size);
}

/** A password as the BMPString the PKCS#12 KDF takes: UTF-16BE plus two zero bytes. */
export function bmpPassword(password: string): Buffer {
  const le = Buffer.from(password + '\u0000', 'utf16le');
  return le.swap16();
}

/** How OpenSSL before 1.1.0 turned a password into "BMP": each byte of its UTF-8 widened to two. */
function bytewiseBmpPassword(password: string): Buffer {
  const utf8 = Buffer.from(password, 'utf8');
  const out = Buffer.alloc(utf8.length * 2 + 2);
  for (let i = 0; i < utf8.length; i++) out[2 * i + 1] = utf8[i]!;
  return out;
}

/** One way of presenting the password: to the PKCS#12 KDF (`bmp`) and to PBKDF2 (`utf8`). */
interface PasswordForm {
  bmp: Buffer;
  utf8: Buffer;
}

function passwordForms(password: string): PasswordForm[] {
  const utf8 = Buffer.from(password, 'utf8');
  const forms: PasswordForm[] = [{ bmp: bmpPassword(password), utf8 }];
  if (/[^\x00-\x7f]/.test(password)) forms.push({ bmp: bytewiseBmpPassword(password), utf8 });
  // No password at all (NULL in OpenSSL) differs from the empty password in the PKCS#12 KDF.
  if (password === '') forms.push({ bmp: Buffer.alloc(0), utf8 });
  return forms;
}

// ---- algorithms ----------------------------------------------------------------------------

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbmac1: '1.2.840.113549.1.5.14',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  crlBag: '1.2.840.113549.1.12.10.1.4',
  secretBag: '1.2.840.113549.1.12.10.1.5',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
} as const;

interface Pkcs12Pbe {
  name: string;
  cipher: 'des-ede3-cbc' | 'des-ede-cbc' | 'rc2' | 'rc4';
  keyLength: number;
  ivLength: number;
  /** RC2 effective key bits. */
  bits?: number;
}

/** RFC 7292 appendix C; SHA-1 throughout. */
const PKCS12_PBE: Record<string, Pkcs12Pbe> = {
  '1.2.840.113549.1.12.1.1': { name: 'pbeWithSHAAnd128BitRC4', cipher: 'rc4', keyLength: 16, ivLength: 0 },
  '1.2.840.113549.1.12.1.2': { name: 'pbeWithSHAAnd40BitRC4', cipher: 'rc4', keyLength: 5, ivLength: 0 },
  '1.2.840.113549.1.12.1.3': { name: 'pbeWithSHAAnd3-KeyTripleDES-CBC', cipher: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
  '1.2.840.113549.1.12.1.4': { name: 'pbeWithSHAAnd2-KeyTripleDES-CBC', cipher: 'des-ede-cbc', keyLength: 16, ivLength: 8 },
  '1.2.840.113549.1.12.1.5': { name: 'pbeWithSHAAnd128BitRC2-CBC', cipher: 'rc2', keyLength: 16, ivLength: 8, bits: 128 },
  '1.2.840.113549.1.12.1.6': { name: 'pbewithSHAAnd40BitRC2-CBC', cipher: 'rc2', keyLength: 5, ivLength: 8, bits: 40 },
};

/** PKCS#5 v1.5 schemes found in old Java exports: single DES or RC2-64, named so the refusal is clear. */
const PKCS5_V15: Record<string, string> = {
  '1.2.840.113549.1.5.1': 'pbeWithMD2AndDES-CBC',
  '1.2.840.113549.1.5.3': 'pbeWithMD5AndDES-CBC',
  '1.2.840.113549.1.5.4': 'pbeWithMD2AndRC2-CBC',
  '1.2.840.113549.1.5.6': 'pbeWithMD5AndRC2-CBC',
  '1.2.840.113549.1.5.10': 'pbeWithSHA1AndDES-CBC',
  '1.2.840.113549.1.5.11': 'pbeWithSHA1AndRC2-CBC',
};

const PRF: Record<string, { name: string; digest: string }> = {
  '1.2.840.113549.2.7': { name: 'hmacWithSHA1', digest: 'sha1' },
  '1.2.840.113549.2.8': { name: 'hmacWithSHA224', digest: 'sha224' },
  '1.2.840.113549.2.9': { name: 'hmacWithSHA256', digest: 'sha256' },
  '1.2.840.113549.2.10': { name: 'hmacWithSHA384', digest: 'sha384' },
  '1.2.840.113549.2.11': { name: 'hmacWithSHA512', digest: 'sha512' },
};

function schemeName(buf: Uint8Array, alg: DerNode): string {
  try {
    const id = oid(buf, children(buf, alg)[0]!);
    if (PKCS12_PBE[id]) return PKCS12_PBE[id]!.name;
    if (PKCS5_V15[id]) return PKCS5_V15[id]!;
    if (id === OID.pbes2) return 'PBES2';
    return id;
  } catch {
    return 'an unreadable algorithm';
  }
}

/** Tracks the key-derivation work a file has cost so far. */
class Budget {
  private spent = 0;
  constructor(private readonly limits: Pkcs12Limits) {}

  spend(iterations: number, what: string): void {
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw new Pkcs12Error(`${what} asks for ${iterations} iterations`, 'damaged');
    if (iterations > this.limits.maxIterations) {
      throw new Pkcs12Error(`${what} asks for ${iterations} key-derivation iterations (more than the limit of ${this.limits.maxIterations})`, 'limit');
    }
    this.spent += iterations;
    if (this.spent > this.limits.maxTotalIterations) {
      throw new Pkcs12Error(`needs more than ${this.limits.maxTotalIterations} key-derivation iterations in total (limit)`, 'limit');
    }
  }
}

function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const S = new Uint8Array(256);
  for (let i = 0; i < 256; i++) S[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + S[i]! + key[i % key.length]!) & 0xff;
    [S[i], S[j]] = [S[j]!, S[i]!];
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + S[i]!) & 0xff;
    [S[i], S[j]] = [S[j]!, S[i]!];
    out[n] = data[n]! ^ S[(S[i]! + S[j]!) & 0xff]!;
  }
  return out;
}

interface Decrypted {
  plain: Buffer;
  scheme: string;
}

/** Raised inside decryption when the key (so the password) is evidently wrong. */
class BadKey extends Error {}

/**
 * Decrypts a password-encrypted blob (encrypted safe or shrouded key). Throws BadKey for a wrong
 * password (bad padding), Pkcs12Error for everything else.
 */
async function decryptPbe(buf: Uint8Array, alg: DerNode, data: Buffer, pw: PasswordForm, budget: Budget, what: string): Promise<Decrypted> {
  let parts: DerNode[];
  let id: string;
  try {
    parts = children(buf, expectTag(alg, TAG.SEQUENCE, 'AlgorithmIdentifier'));
    id = oid(buf, expectTag(parts[0], TAG.OID, 'algorithm'));
  } catch (e) {
    throw new Pkcs12Error(`${what}: encryption algorithm unreadable (${(e as Error).message})`, 'damaged');
  }
  const legacy = PKCS12_PBE[id];
  if (legacy) {
    let salt: Buffer;
    let iterations: number;
    try {
      const p = children(buf, expectTag(parts[1], TAG.SEQUENCE, 'pkcs-12PbeParams'));
      salt = content(buf, expectTag(p[0], TAG.OCTET_STRING, 'salt'));
      iterations = smallInteger(buf, expectTag(p[1], TAG.INTEGER, 'iterations'));
    } catch (e) {
      throw new Pkcs12Error(`${what}: ${legacy.name} parameters unreadable (${(e as Error).message})`, 'damaged');
    }
    budget.spend(iterations, what);
    if (legacy.ivLength) budget.spend(iterations, what); // the IV is a second derivation
    const key = await pkcs12Kdf('sha1', pw.bmp, salt, 1, iterations, legacy.keyLength);
    const iv = legacy.ivLength ? await pkcs12Kdf('sha1', pw.bmp, salt, 2, iterations, legacy.ivLength) : Buffer.alloc(0);
    try {
      if (legacy.cipher === 'rc4') return { plain: rc4(key, data), scheme: legacy.name };
      if (legacy.cipher === 'rc2') return { plain: rc2CbcDecrypt(key, legacy.bits!, iv, data), scheme: legacy.name };
      const d = crypto.createDecipheriv(legacy.cipher, key, iv);
      return { plain: Buffer.concat([d.update(data), d.final()]), scheme: legacy.name };
    } catch (e) {
      if (e instanceof Rc2Error && e.message !== 'bad padding') throw new Pkcs12Error(`${what}: ${e.message}`, 'damaged');
      throw new BadKey();
    } finally {
      key.fill(0);
    }
  }
  if (id === OID.pbes2) return decryptPbes2(buf, parts[1], data, pw, budget, what);
  if (PKCS5_V15[id]) throw new Pkcs12Error(`${what} is encrypted with ${PKCS5_V15[id]} (PKCS#5 v1.5, single DES or RC2-64), which is not supported`, 'unsupported');
  throw new Pkcs12Error(`${what} uses an unknown encryption algorithm ${id}`, 'unsupported');
}

async function decryptPbes2(buf: Uint8Array, params: DerNode | undefined, data: Buffer, pw: PasswordForm, budget: Budget, what: string): Promise<Decrypted> {
  let kdfOid: string;
  let kdfParams: DerNode | undefined;
  let scheme: DerNode;
  try {
    const p = children(buf, expectTag(params, TAG.SEQUENCE, 'PBES2-params'));
    const kdf = children(buf, expectTag(p[0], TAG.SEQUENCE, 'keyDerivationFunc'));
    kdfOid = oid(buf, expectTag(kdf[0], TAG.OID, 'keyDerivationFunc'));
    kdfParams = kdf[1];
    scheme = expectTag(p[1], TAG.SEQUENCE, 'encryptionScheme');
  } catch (e) {
    throw new Pkcs12Error(`${what}: PBES2 parameters unreadable (${(e as Error).message})`, 'damaged');
  }
  if (kdfOid !== OID.pbkdf2) {
    const name = kdfOid === '1.3.6.1.4.1.11591.4.11' ? 'scrypt' : kdfOid;
    throw new Pkcs12Error(`${what}: PBES2 with key derivation ${name} is not supported (only PBKDF2)`, 'unsupported');
  }
  let salt: Buffer;
  let iterations: number;
  let keyLength: number | undefined;
  let prf = PRF['1.2.840.113549.2.7']!;
  try {
    const k = children(buf, expectTag(kdfParams, TAG.SEQUENCE, 'PBKDF2-params'));
    let i = 0;
    if (k[i]?.tag !== TAG.OCTET_STRING) throw new Pkcs12Error(`${what}: PBKDF2 with a salt from another source is not supported`, 'unsupported');
    salt = content(buf, k[i++]!);
    iterations = smallInteger(buf, expectTag(k[i++], TAG.INTEGER, 'iterationCount'));
    if (k[i]?.tag === TAG.INTEGER) keyLength = smallInteger(buf, k[i++]!);
    if (k[i]) {
      const prfOid = oid(buf, expectTag(children(buf, expectTag(k[i], TAG.SEQUENCE, 'prf'))[0], TAG.OID, 'prf'));
      const known = PRF[prfOid];
      if (!known) throw new Pkcs12Error(`${what}: PBKDF2 with pseudo-random function ${prfOid} is not supported`, 'unsupported');
      prf = known;
    }
  } catch (e) {
    if (e instanceof Pkcs12Error) throw e;
    throw new Pkcs12Error(`${what}: PBKDF2 parameters unreadable (${(e as Error).message})`, 'damaged');
  }
  let cipher;
  try {
    cipher = readContentCipher(buf, scheme, keyLength);
  } catch (e) {
    const err = e as CipherError;
    throw new Pkcs12Error(`${what}: ${err.message}`, err.code === 'unsupported' ? 'unsupported' : 'damaged');
  }
  if (cipher.mode === 'aead') throw new Pkcs12Error(`${what}: PBES2 with ${cipher.name} is not supported`, 'unsupported');
  if (keyLength !== undefined && keyLength !== cipher.keyLength) {
    throw new Pkcs12Error(`${what}: PBKDF2 key length ${keyLength} does not fit ${cipher.name}`, 'damaged');
  }
  budget.spend(iterations, what);
  const key = await pbkdf2(pw.utf8, salt, iterations, cipher.keyLength, prf.digest);
  const name = `PBES2 (PBKDF2 ${prf.name}, ${cipher.name})`;
  try {
    return { plain: decryptContent(cipher, key, data), scheme: name };
  } catch (e) {
    if (e instanceof CipherError && e.code === 'decrypt') throw new BadKey();
    throw new Pkcs12Error(`${what}: ${(e as Error).message}`, 'damaged');
  } finally {
    key.fill(0);
  }
}

// ---- structure -----------------------------------------------------------------------------

interface Bag {
  id: string;
  buf: Buffer;
  value: DerNode;
  friendlyName?: string;
}

interface EncryptedSafe {
  buf: Buffer;
  alg: DerNode;
  data: Buffer;
  index: number;
}

/**
 * Without a MAC, a wrong password usually fails the decryption's padding check; about once in 256
 * tries the padding comes out valid by chance, and the wrong password shows only when what came out
 * is not what it should be. Every such case reads as the wrong password it is.
 */
function notDecrypted(what: string, expected: string): string {
  return `${what} does not decrypt with the given password (what comes out is not ${expected})`;
}

function structure<T>(what: string, code: Pkcs12ErrorCode, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Pkcs12Error) throw e;
    throw new Pkcs12Error(`${what} (${e instanceof DerError ? e.message : (e as Error).message})`, code);
  }
}

function readBags(buf: Buffer, node: DerNode, out: Bag[], limits: Pkcs12Limits, depth: number, where: string): void {
  if (depth > 4) throw new Pkcs12Error(`${where}: safe contents nested too deep`, 'damaged');
  const list = children(buf, expectTag(node, TAG.SEQUENCE, 'SafeContents'), depth, limits.maxBags + 1);
  for (const bagNode of list) {
    if (out.length >= limits.maxBags) throw new Pkcs12Error(`holds more than ${limits.maxBags} bags (limit)`, 'limit');
    const parts = children(buf, expectTag(bagNode, TAG.SEQUENCE, 'SafeBag'));
    const id = oid(buf, expectTag(parts[0], TAG.OID, 'bagId'));
    const wrapper = expectTag(parts[1], 0xa0, 'bagValue');
    const value = readNode(buf, wrapper.contentStart, wrapper.contentEnd);
    const bag: Bag = { id, buf, value };
    if (parts[2]) {
      for (const attr of children(buf, expectTag(parts[2], TAG.SET, 'bagAttributes'))) {
        const [type, values] = children(buf, expectTag(attr, TAG.SEQUENCE, 'Attribute'));
        if (oid(buf, expectTag(type, TAG.OID, 'attrId')) !== OID.friendlyName) continue;
        const first = children(buf, expectTag(values, TAG.SET, 'attrValues'))[0];
        if (first) bag.friendlyName = stringValue(buf, first).slice(0, 256);
      }
    }
    if (id === OID.safeContentsBag) readBags(buf, value, out, limits, depth + 1, where);
    else out.push(bag);
  }
}

/** Opens a PKCS#12 file with its password. Throws Pkcs12Error. */
export async function readPkcs12(der: Uint8Array, password: string, options: ReadPkcs12Options = {}): Promise<Pkcs12Contents> {
  const limits: Pkcs12Limits = { ...DEFAULT_PKCS12_LIMITS, ...options.limits };
  if (der.length === 0) throw new Pkcs12Error('is empty', 'not-pkcs12');
  if (der.length > limits.maxBytes) throw new Pkcs12Error(`is ${der.length} bytes, more than the limit of ${limits.maxBytes}`, 'limit');
  const buf = bytesView(der);
  if (buf.subarray(0, 4096).includes('-----BEGIN ')) throw new Pkcs12Error('is PEM text, not a PKCS#12 file (PKCS#12 is binary DER)', 'not-pkcs12');
  if (typeof password !== 'string') throw new Pkcs12Error('password must be a string', 'wrong-password');
  const budget = new Budget(limits);

  // PFX ::= SEQUENCE { version INTEGER, authSafe ContentInfo, macData MacData OPTIONAL }
  const outer = structure('is not a PKCS#12 file', 'not-pkcs12', () => {
    const root = readRoot(buf);
    const parts = children(buf, expectTag(root, TAG.SEQUENCE, 'PFX'), 0, 4);
    const version = smallInteger(buf, expectTag(parts[0], TAG.INTEGER, 'version'));
    const ci = children(buf, expectTag(parts[1], TAG.SEQUENCE, 'authSafe'));
    const contentType = oid(buf, expectTag(ci[0], TAG.OID, 'authSafe contentType'));
    if (parts[3]) throw new DerError('unexpected element after macData');
    return { version, contentType, ci, macNode: parts[2] };
  });
  if (outer.version !== 3) throw new Pkcs12Error(`has PKCS#12 version ${outer.version}, expected 3`, 'unsupported');
  if (outer.contentType === OID.signedData) throw new Pkcs12Error('uses public-key integrity mode (signed PKCS#12), which is not supported', 'unsupported');
  if (outer.contentType !== OID.data) throw new Pkcs12Error(`has an unexpected authSafe content type ${outer.contentType}`, 'not-pkcs12');
  const authSafe = structure('is not a PKCS#12 file', 'not-pkcs12', () => {
    const wrapper = expectTag(outer.ci[1], 0xa0, 'authSafe content');
    return octets(buf, readNode(buf, wrapper.contentStart, wrapper.contentEnd));
  });

  // Integrity first: nothing inside is trusted, or decrypted, before the MAC verifies.
  let forms = passwordForms(password);
  let mac: Pkcs12Contents['mac'] = null;
  if (outer.macNode) {
    const m = structure('has an unreadable MAC', 'damaged', () => {
      const parts = children(buf, expectTag(outer.macNode, TAG.SEQUENCE, 'MacData'));
      const digestInfo = children(buf, expectTag(parts[0], TAG.SEQUENCE, 'DigestInfo'));
      const digestOid = oid(buf, expectTag(children(buf, expectTag(digestInfo[0], TAG.SEQUENCE, 'digestAlgorithm'))[0], TAG.OID, 'digestAlgorithm'));
      const value = content(buf, expectTag(digestInfo[1], TAG.OCTET_STRING, 'digest'));
      const salt = content(buf, expectTag(parts[1], TAG.OCTET_STRING, 'macSalt'));
      const iterations = parts[2] ? smallInteger(buf, expectTag(parts[2], TAG.INTEGER, 'iterations')) : 1;
      return { digestOid, value, salt, iterations };
    });
    if (m.digestOid === OID.pbmac1) throw new Pkcs12Error('uses a PBMAC1 MAC (RFC 9579), which is not supported', 'unsupported');
    const digest = DIGESTS[m.digestOid];
    if (!digest) throw new Pkcs12Error(`uses an unknown MAC digest ${m.digestOid}`, 'unsupported');
    budget.spend(m.iterations, 'MAC');
    let verified: (typeof forms)[number] | undefined;
    for (const [n, form] of forms.entries()) {
      if (n > 0) budget.spend(m.iterations, 'MAC');
      const key = await pkcs12Kdf(digest.name, form.bmp, m.salt, 3, m.iterations, digest.u);
      const actual = crypto.createHmac(digest.name, key).update(authSafe).digest();
      if (actual.length === m.value.length && crypto.timingSafeEqual(actual, m.value)) {
        verified = form;
        break;
      }
    }
    if (!verified) throw new Pkcs12Error('MAC does not verify: wrong password, or the file is damaged', 'wrong-password');
    forms = [verified];
    mac = { digest: digest.name, iterations: m.iterations };
  }
  const damagedCode: Pkcs12ErrorCode = mac ? 'damaged' : 'not-pkcs12';

  // AuthenticatedSafe ::= SEQUENCE OF ContentInfo: plain or password-encrypted SafeContents.
  const bags: Bag[] = [];
  const encrypted: EncryptedSafe[] = [];
  const encryption = new Set<string>();
  let legacy = false;
  const noteScheme = (b: Uint8Array, alg: DerNode): void => {
    const name = schemeName(b, alg);
    if (Object.values(PKCS12_PBE).some((p) => p.name === name)) legacy = true;
  };
  structure('has an unreadable AuthenticatedSafe', damagedCode, () => {
    const safes = children(authSafe, expectTag(readRoot(authSafe), TAG.SEQUENCE, 'AuthenticatedSafe'), 0, limits.maxBags);
    safes.forEach((safe, n) => {
      const parts = children(authSafe, expectTag(safe, TAG.SEQUENCE, 'ContentInfo'));
      const type = oid(authSafe, expectTag(parts[0], TAG.OID, 'contentType'));
      if (type === OID.envelopedData) throw new Pkcs12Error('uses public-key privacy mode (enveloped safe), which is not supported', 'unsupported');
      if (type !== OID.data && type !== OID.encryptedData) throw new Pkcs12Error(`safe ${n + 1} has an unexpected content type ${type}`, 'unsupported');
      const wrapper = expectTag(parts[1], 0xa0, `safe ${n + 1} content`);
      const inner = readNode(authSafe, wrapper.contentStart, wrapper.contentEnd);
      if (type === OID.data) {
        const sc = octets(authSafe, inner);
        readBags(sc, readRoot(sc), bags, limits, 0, `safe ${n + 1}`);
        return;
      }
      // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo { contentType, algorithm, [0] IMPLICIT content } }
      const ed = children(authSafe, expectTag(inner, TAG.SEQUENCE, 'EncryptedData'));
      const eci = children(authSafe, expectTag(ed[1], TAG.SEQUENCE, 'EncryptedContentInfo'));
      const alg = expectTag(eci[1], TAG.SEQUENCE, 'contentEncryptionAlgorithm');
      if (!eci[2] || (eci[2].tag & 0xdf) !== 0x80) throw new DerError(`safe ${n + 1} has no encrypted content`);
      noteScheme(authSafe, alg);
      encrypted.push({ buf: authSafe, alg, data: octets(authSafe, eci[2]), index: n + 1 });
    });
  });
  for (const bag of bags) {
    if (bag.id === OID.shroudedKeyBag) {
      const alg = structure('has an unreadable key bag', damagedCode, () => children(bag.buf, expectTag(bag.value, TAG.SEQUENCE, 'EncryptedPrivateKeyInfo'))[0]!);
      noteScheme(bag.buf, alg);
    }
  }
  if (legacy && !mac) {
    // Real exporters always add the MAC; without it nothing but a padding check would catch a wrong password.
    throw new Pkcs12Error('uses legacy encryption and has no MAC, so its password cannot be checked', 'unsupported');
  }

  // Privacy: decrypt with the password form that passed the MAC (without a MAC: the first that works).
  const open = async (b: Uint8Array, alg: DerNode, data: Buffer, what: string): Promise<Buffer> => {
    for (const [n, form] of forms.entries()) {
      try {
        const { plain, scheme } = await decryptPbe(b, alg, data, form, budget, what);
        encryption.add(scheme);
        if (!mac && forms.length > 1) forms = [forms[n]!];
        return plain;
      } catch (e) {
        if (!(e instanceof BadKey)) throw e;
      }
    }
    throw mac
      ? new Pkcs12Error(`${what} does not decrypt although the MAC verified (damaged, or encrypted under another password)`, 'damaged')
      : new Pkcs12Error(`${what} does not decrypt with the given password`, 'wrong-password');
  };
  for (const safe of encrypted) {
    const what = `encrypted safe ${safe.index}`;
    const plain = await open(safe.buf, safe.alg, safe.data, what);
    structure(mac ? `${what} does not hold valid SafeContents` : notDecrypted(what, 'SafeContents'), mac ? 'damaged' : 'wrong-password',
      () => readBags(plain, readRoot(plain), bags, limits, 0, what));
  }

  const certs: { der: Buffer; friendlyName?: string }[] = [];
  const keys: { der: Buffer; friendlyName?: string; n: number }[] = [];
  let keyCount = 0;
  for (const bag of bags) {
    if (bag.id === OID.certBag) {
      const der = structure(`certificate bag ${certs.length + 1} is unreadable`, damagedCode, () => {
        const p = children(bag.buf, expectTag(bag.value, TAG.SEQUENCE, 'CertBag'));
        if (oid(bag.buf, expectTag(p[0], TAG.OID, 'certId')) !== OID.x509Certificate) return null;
        const wrapper = expectTag(p[1], 0xa0, 'certValue');
        return Buffer.from(octets(bag.buf, readNode(bag.buf, wrapper.contentStart, wrapper.contentEnd)));
      });
      if (der) certs.push({ der, friendlyName: bag.friendlyName });
    } else if (bag.id === OID.keyBag || bag.id === OID.shroudedKeyBag) {
      const n = ++keyCount;
      let pkcs8: Buffer;
      if (bag.id === OID.keyBag) {
        pkcs8 = Buffer.from(bag.buf.subarray(bag.value.start, bag.value.end));
      } else {
        const { alg, data } = structure(`key bag ${n} is unreadable`, damagedCode, () => {
          const p = children(bag.buf, expectTag(bag.value, TAG.SEQUENCE, 'EncryptedPrivateKeyInfo'));
          return { alg: p[0]!, data: octets(bag.buf, expectTag(p[1], TAG.OCTET_STRING, 'encryptedData')) };
        });
        pkcs8 = await open(bag.buf, alg, data, `key bag ${n}`);
      }
      keys.push({ der: pkcs8, friendlyName: bag.friendlyName, n });
    }
    // CRL, secret and unknown bags carry nothing this library uses.
  }

  const certKeys = certs.map((c) => {
    try {
      return new crypto.X509Certificate(c.der).publicKey.export({ type: 'spki', format: 'der' });
    } catch (e) {
      throw new Pkcs12Error(`certificate bag ${certs.indexOf(c) + 1} is not an X.509 certificate (${(e as Error).message})`, damagedCode);
    }
  });
  const pairs: Pkcs12KeyPair[] = [];
  const paired = new Set<number>();
  for (const key of keys) {
    let privateKey: crypto.KeyObject;
    try {
      privateKey = crypto.createPrivateKey({ key: key.der, format: 'der', type: 'pkcs8' });
    } catch (e) {
      const why = (e as Error).message;
      throw mac
        ? new Pkcs12Error(`private key ${key.n} cannot be read (${why})`, 'damaged')
        : new Pkcs12Error(`${notDecrypted(`private key ${key.n}`, 'a key')} (${why})`, 'wrong-password');
    }
    const pub = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const idx = certKeys.findIndex((c, i) => !paired.has(i) && c.equals(pub));
    if (idx < 0) throw new Pkcs12Error(`private key ${key.n} has no matching certificate in the file`, 'damaged');
    paired.add(idx);
    const pair: Pkcs12KeyPair = { certificate: certs[idx]!.der, privateKey: privateKey.export({ type: 'pkcs8', format: 'der' }) };
    const friendlyName = key.friendlyName ?? certs[idx]!.friendlyName;
    if (friendlyName !== undefined) pair.friendlyName = friendlyName;
    pairs.push(pair);
    key.der.fill(0);
  }
  // Exporters such as keytool repeat the chain once per key; one copy of each is enough.
  const others: Buffer[] = [];
  certs.forEach((c, i) => {
    if (!paired.has(i) && !others.some((o) => o.equals(c.der)) && !pairs.some((p) => p.certificate.equals(c.der))) others.push(c.der);
  });
  return {
    pairs,
    others,
    mac,
    encryption: [...encryption],
    // Also a legacy key bag inside an encrypted safe, which the first pass could not see.
    legacy: legacy || [...encryption].some((name) => Object.values(PKCS12_PBE).some((p) => p.name === name)),
  };
}
