// Opening CMS envelopes with a user's keys: the whole history of encryption keys, newest first,
// because mail keeps arriving encrypted to certificates that have since been replaced.
//
// Key transport:  RSAES-PKCS1-v1_5 (what Outlook and openssl send by default) and RSAES-OAEP.
//                 Node 20 refuses PKCS#1 v1.5 decryption (the Marvin fix), so the raw RSA
//                 operation is done with RSA_NO_PADDING and the padding is checked here without
//                 data-dependent branches; a bad padding yields a key derived from the private key
//                 and the ciphertext instead (implicit rejection), so a forged envelope just fails
//                 to decrypt its content, exactly as one with a wrong key does.
// Key agreement:  ephemeral-static ECDH on P-256/384/521 and X25519/X448 (RFC 5753, RFC 8418):
//                 ANSI X9.63 or HKDF key derivation, AES key wrap.
// Content:        AES-CBC, 3DES-CBC, RC2-CBC in EnvelopedData; AES-GCM and ChaCha20-Poly1305 in
//                 AuthEnvelopedData.
//
// decryptEnvelope never throws: every failure is an outcome with a code and a message.

import crypto from 'node:crypto';
import { encode } from './der.js';
import { parseCertificate, publicKeyOf, type Certificate } from './certificate.js';
import { CipherError, decryptContent, type ContentCipher } from './ciphers.js';
import {
  describeRecipient,
  EnvelopeError,
  OID,
  readEnvelope,
  recipientIdentifiers,
  recipientMatches,
  type Envelope,
  type EnvelopeLimits,
  type KeyAgreeRecipient,
  type KeyTransRecipient,
  type RecipientIdentifier,
} from './envelope.js';
import type { DecryptHook } from './verify.js';

export interface DecryptionKey {
  /** The certificate the key belongs to (DER): envelopes name recipients by certificate. */
  certificate: Uint8Array;
  /** The private key: a KeyObject, or unencrypted PKCS#8 DER. */
  privateKey: crypto.KeyObject | Uint8Array;
}

export type DecryptFailureCode =
  /** Not a CMS envelope (or not CMS at all). */
  | 'not-enveloped'
  /** An envelope that breaks the structure rules. */
  | 'malformed'
  /** An algorithm or mode this library does not implement. */
  | 'unsupported'
  /** The envelope names none of the given certificates. */
  | 'no-matching-key'
  /** A recipient matched, but no key opened the content (wrong key, or a damaged envelope). */
  | 'decryption-failed'
  /** Larger than the limits allow. */
  | 'limit';

export type DecryptOutcome =
  | {
      ok: true;
      /** The decrypted content (for S/MIME, a MIME entity). */
      content: Buffer;
      /** The content type inside (id-data for S/MIME). */
      contentType: string;
      kind: Envelope['kind'];
      /** Index into the keys given of the key that opened the envelope. */
      keyIndex: number;
      /** Position in recipientInfos of the recipient info that was used. */
      recipientIndex: number;
      keyEncryption: string;
      contentEncryption: string;
      /** True for AuthEnvelopedData, whose tag verified. */
      authenticated: boolean;
    }
  | {
      ok: false;
      code: DecryptFailureCode;
      message: string;
      /** The envelope's recipients, described, when it could be read. */
      recipients?: string[];
    };

export interface DecryptOptions {
  limits?: Partial<EnvelopeLimits>;
}

const CURVE_OIDS: Record<string, string> = {
  prime256v1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
};

/** Decrypts an EnvelopedData or AuthEnvelopedData (DER) with the first key that opens it. */
export function decryptEnvelope(cms: Uint8Array, keys: readonly DecryptionKey[], options: DecryptOptions = {}): DecryptOutcome {
  let env: Envelope;
  try {
    env = readEnvelope(cms, options.limits);
  } catch (e) {
    if (e instanceof EnvelopeError) {
      const code: DecryptFailureCode = e.code === 'not-cms' || e.code === 'not-enveloped' ? 'not-enveloped' : e.code;
      return { ok: false, code, message: e.message };
    }
    return { ok: false, code: 'malformed', message: `envelope unreadable: ${e instanceof Error ? e.message : String(e)}` };
  }
  try {
    return open(env, keys);
  } catch (e) {
    // A bug or an input nobody foresaw must not escape as an exception.
    return { ok: false, code: 'decryption-failed', message: `decryption failed unexpectedly: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * A decryption hook for verifySmime: opens enveloped layers with these keys. An envelope that
 * names none of them gives null ("no key"); any other failure is thrown with its message.
 */
export function decryptHookFor(keys: readonly DecryptionKey[] | (() => readonly DecryptionKey[]), options: DecryptOptions = {}): DecryptHook {
  return (request) => {
    if (!request.cms) throw new Error('the enveloped body could not be decoded');
    const outcome = decryptEnvelope(request.cms, typeof keys === 'function' ? keys() : keys, options);
    if (outcome.ok) return outcome.content;
    if (outcome.code === 'no-matching-key') return null;
    throw new Error(outcome.message);
  };
}

interface Candidate {
  index: number;
  cert: Certificate;
  key: crypto.KeyObject;
}

function open(env: Envelope, keys: readonly DecryptionKey[]): DecryptOutcome {
  const ids = recipientIdentifiers(env);
  const described = ids.map(({ rid, info }) => `${info.type === 'ktri' ? 'key transport' : 'key agreement'} to ${describeRecipient(rid)}`);
  const fail = (code: DecryptFailureCode, message: string): DecryptOutcome => ({ ok: false, code, message, recipients: described });

  const problems: string[] = [];
  let matched = 0;
  for (const [index, k] of keys.entries()) {
    const candidate = candidateOf(index, k, ids.map((x) => x.rid), problems);
    if (!candidate) continue;
    for (const { rid, info, encryptedKey } of ids) {
      if (!recipientMatches(rid, candidate.cert)) continue;
      matched++;
      // What this library cannot open is reported as such only to a recipient the envelope names.
      if ('unsupported' in env.cipher) return fail('unsupported', env.cipher.unsupported);
      if (!env.encryptedContent) return fail('unsupported', 'the encrypted content is detached (not in the envelope)');
      const cipher = env.cipher;
      const who = `key ${index + 1} (${describeRecipient(rid)})`;
      let cek: Buffer;
      try {
        cek = info.type === 'ktri' ? keyTransport(info, candidate.key, encryptedKey, cipher) : keyAgreement(info, candidate.key, encryptedKey, cipher);
      } catch (e) {
        problems.push(`${who}: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      let content: Buffer;
      try {
        content = decryptContent(cipher, cek, env.encryptedContent, env.kind === 'auth-enveloped' ? { tag: env.mac ?? Buffer.alloc(0), aad: env.authAttributes ?? undefined } : undefined);
      } catch (e) {
        const why = e instanceof CipherError && e.code === 'decrypt' ? (cipher.mode === 'aead' ? 'authentication tag does not verify' : 'content does not decrypt') : (e as Error).message;
        problems.push(`${who}: ${why} (wrong key, or a damaged envelope)`);
        continue;
      } finally {
        cek.fill(0);
      }
      return {
        ok: true,
        content,
        contentType: env.contentType,
        kind: env.kind,
        keyIndex: index,
        recipientIndex: info.index,
        keyEncryption: info.algorithm.name,
        contentEncryption: cipher.name,
        authenticated: env.kind === 'auth-enveloped',
      };
    }
  }
  if (matched === 0) {
    const others = env.recipients.filter((r) => r.type !== 'ktri' && r.type !== 'kari').map((r) => r.type);
    const list = described.length ? described.join('; ') : `only ${others.join(', ')} recipients`;
    const extra = problems.length ? ` (${problems.join('; ')})` : '';
    return fail('no-matching-key', `the envelope is not encrypted to any of the ${keys.length} certificate(s) given: it names ${list}${extra}`);
  }
  const unsupported = problems.length > 0 && problems.every((p) => / is not supported/.test(p));
  return fail(unsupported ? 'unsupported' : 'decryption-failed', `no key opened the envelope: ${problems.join('; ')}`);
}

/** The key, when its certificate is among the recipients and the private key belongs to it. */
function candidateOf(index: number, k: DecryptionKey, rids: RecipientIdentifier[], problems: string[]): Candidate | undefined {
  let cert: Certificate;
  try {
    cert = parseCertificate(k.certificate);
  } catch (e) {
    problems.push(`key ${index + 1}: certificate unreadable (${(e as Error).message})`);
    return undefined;
  }
  // Whole organisations' keys may be offered at once: only a named certificate's key is imported.
  if (!rids.some((rid) => recipientMatches(rid, cert))) return undefined;
  let key: crypto.KeyObject;
  try {
    key = k.privateKey instanceof crypto.KeyObject ? k.privateKey : crypto.createPrivateKey({ key: Buffer.from(k.privateKey), format: 'der', type: 'pkcs8' });
    if (key.type !== 'private') throw new Error('not a private key');
  } catch (e) {
    problems.push(`key ${index + 1}: private key unreadable (${(e as Error).message})`);
    return undefined;
  }
  // A key filed under the wrong certificate would otherwise look like a wrong-key failure.
  let certKey: crypto.KeyObject;
  try {
    certKey = publicKeyOf(cert);
  } catch (e) {
    problems.push(`key ${index + 1}: ${(e as Error).message}`);
    return undefined;
  }
  if (!crypto.createPublicKey(key).equals(certKey)) {
    problems.push(`key ${index + 1}: the private key does not belong to its certificate`);
    return undefined;
  }
  return { index, cert, key };
}

// ---- key transport -------------------------------------------------------------------------

function keyTransport(info: KeyTransRecipient, key: crypto.KeyObject, encryptedKey: Buffer, cipher: ContentCipher): Buffer {
  const alg = info.algorithm;
  if (alg.scheme === 'unsupported') throw new Error(alg.detail);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`${alg.name} needs an RSA key, the certificate has ${key.asymmetricKeyType}`);
  if (alg.scheme === 'rsa-pkcs1') return rsaPkcs1Unwrap(key, encryptedKey, cipher.keyLength);
  if (alg.hash !== alg.mgf1Hash) throw new Error(`RSAES-OAEP with ${alg.hash} and MGF1 ${alg.mgf1Hash} is not supported (node:crypto uses one digest for both)`);
  let cek: Buffer;
  try {
    cek = crypto.privateDecrypt(
      { key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg.hash, ...(alg.label.length ? { oaepLabel: alg.label } : {}) },
      encryptedKey,
    );
  } catch {
    throw new Error(`${alg.name} decryption failed (wrong key, or a damaged envelope)`);
  }
  if (cek.length !== cipher.keyLength) {
    cek.fill(0);
    throw new Error(`the decrypted content-encryption key has ${cek.length} bytes, ${cipher.name} needs ${cipher.keyLength}`);
  }
  return cek;
}

const rejectionKeys = new WeakMap<crypto.KeyObject, Buffer>();

/** A secret per private key from which stand-in keys for bad paddings are derived. */
function rejectionKeyOf(key: crypto.KeyObject): Buffer {
  let k = rejectionKeys.get(key);
  if (!k) {
    k = crypto.createHash('sha256').update('easmime implicit rejection\0').update(key.export({ type: 'pkcs8', format: 'der' })).digest();
    rejectionKeys.set(key, k);
  }
  return k;
}

/** 1 when a === b, else 0, for bytes, without a branch. */
const eqByte = (a: number, b: number): number => (((a ^ b) - 1) >>> 31) & 1;

/**
 * RSAES-PKCS1-v1_5 decryption of a key of exactly `length` bytes, with implicit rejection: the
 * padding is checked without early exits and, when it is wrong, a key derived from the private
 * key and the ciphertext comes back instead (the same one every time for the same ciphertext).
 */
function rsaPkcs1Unwrap(key: crypto.KeyObject, encryptedKey: Buffer, length: number): Buffer {
  const k = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  // Lengths are public: the ciphertext and modulus sizes say nothing about the plaintext.
  if (k < length + 11) throw new Error(`an RSA key of ${k * 8} bits cannot carry a ${length}-byte key with PKCS#1 v1.5 padding`);
  if (encryptedKey.length > k || encryptedKey.length === 0) throw new Error(`encrypted key of ${encryptedKey.length} bytes for a ${k}-byte RSA modulus`);
  const c = encryptedKey.length === k ? encryptedKey : Buffer.concat([Buffer.alloc(k - encryptedKey.length), encryptedKey]);
  let em: Buffer;
  try {
    em = crypto.privateDecrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, c);
  } catch {
    // Only a ciphertext not below the modulus is refused here, which is public as well.
    throw new Error('encrypted key is not a valid RSA ciphertext for this key');
  }
  if (em.length < k) em = Buffer.concat([Buffer.alloc(k - em.length), em]);

  // Stand-in key: HMAC-SHA256 over the ciphertext, in counter mode for more than 32 bytes.
  const kdk = rejectionKeyOf(key);
  const blocks: Buffer[] = [];
  for (let n = 0; blocks.length * 32 < length; n++) blocks.push(crypto.createHmac('sha256', kdk).update(Buffer.from([n])).update(c).digest());
  const standIn = Buffer.concat(blocks);

  // EM = 0x00 || 0x02 || PS (k - length - 3 non-zero bytes) || 0x00 || key
  let good = eqByte(em[0]!, 0) & eqByte(em[1]!, 2);
  const sep = k - length - 1;
  for (let i = 2; i < sep; i++) good &= 1 ^ eqByte(em[i]!, 0);
  good &= eqByte(em[sep]!, 0);
  const mask = -good & 0xff;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (em[sep + 1 + i]! & mask) | (standIn[i]! & ~mask & 0xff);
  em.fill(0);
  standIn.fill(0);
  return out;
}

// ---- key agreement -------------------------------------------------------------------------

function encodeOid(text: string): Buffer {
  const arcs = text.split('.').map(Number);
  const values = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const groups = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) groups.unshift((x & 0x7f) | 0x80);
    out.push(...groups);
  }
  return encode(0x06, Buffer.from(out));
}

/** The originator's ephemeral public key as a KeyObject on the recipient key's curve. */
function originatorKey(info: KeyAgreeRecipient, key: crypto.KeyObject): crypto.KeyObject {
  const o = info.originator;
  if (o.kind !== 'key') throw new Error('static-static key agreement (originator named by certificate) is not supported');
  const type = key.asymmetricKeyType;
  let algorithmId: Buffer;
  if (type === 'ec') {
    if (o.algorithm !== OID.ecPublicKey) throw new Error(`originator key algorithm ${o.algorithm} does not fit an EC recipient key`);
    const named = key.asymmetricKeyDetails?.namedCurve ?? '';
    const curve = CURVE_OIDS[named];
    if (!curve) throw new Error(`EC curve ${named || 'unknown'} is not supported`);
    if (o.curve && o.curve !== curve) throw new Error(`originator key is on curve ${o.curve}, the recipient key on ${curve}`);
    algorithmId = encode(0x30, Buffer.concat([encodeOid(OID.ecPublicKey), encodeOid(curve)]));
  } else if (type === 'x25519' || type === 'x448') {
    const expected = type === 'x25519' ? OID.x25519 : OID.x448;
    if (o.algorithm !== expected) throw new Error(`originator key algorithm ${o.algorithm} does not fit an ${type} recipient key`);
    algorithmId = encode(0x30, encodeOid(expected));
  } else {
    throw new Error(`key agreement needs an EC, X25519 or X448 key, the certificate has ${type}`);
  }
  const spki = encode(0x30, Buffer.concat([algorithmId, encode(0x03, Buffer.concat([Buffer.from([0]), o.publicKey]))]));
  try {
    // Importing checks that an EC point lies on the curve (no invalid-curve games).
    return crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new Error(`originator public key unusable (${(e as Error).message})`);
  }
}

function keyAgreement(info: KeyAgreeRecipient, key: crypto.KeyObject, encryptedKey: Buffer, cipher: ContentCipher): Buffer {
  const alg = info.algorithm;
  if (alg.scheme === 'unsupported') throw new Error(alg.detail);
  const z = crypto.diffieHellman({ privateKey: key, publicKey: originatorKey(info, key) });
  // ECC-CMS-SharedInfo ::= SEQUENCE { keyInfo, entityUInfo [0] EXPLICIT OCTET STRING OPTIONAL, suppPubInfo [2] EXPLICIT OCTET STRING }
  const bits = Buffer.alloc(4);
  bits.writeUInt32BE(alg.wrap.keyLength * 8);
  const sharedInfo = encode(
    0x30,
    Buffer.concat([alg.wrap.der, ...(info.ukm ? [encode(0xa0, encode(0x04, info.ukm))] : []), encode(0xa2, encode(0x04, bits))]),
  );
  let kek: Buffer;
  if (alg.kdf === 'hkdf') {
    kek = Buffer.from(crypto.hkdfSync(alg.digest, z, Buffer.alloc(0), sharedInfo, alg.wrap.keyLength));
  } else {
    // ANSI X9.63: Hash(Z || counter || SharedInfo) for counter = 1, 2, ...
    const parts: Buffer[] = [];
    for (let counter = 1; parts.reduce((n, p) => n + p.length, 0) < alg.wrap.keyLength; counter++) {
      const c = Buffer.alloc(4);
      c.writeUInt32BE(counter);
      parts.push(crypto.createHash(alg.digest).update(z).update(c).update(sharedInfo).digest());
    }
    kek = Buffer.concat(parts).subarray(0, alg.wrap.keyLength);
  }
  z.fill(0);
  let cek: Buffer;
  try {
    const iv = alg.wrap.nodeName.endsWith('-pad') ? Buffer.from('a65959a6', 'hex') : Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
    const d = crypto.createDecipheriv(alg.wrap.nodeName, kek, iv);
    cek = Buffer.concat([d.update(encryptedKey), d.final()]);
  } catch {
    throw new Error(`${alg.wrap.name} unwrap failed (wrong key, or a damaged envelope)`);
  } finally {
    kek.fill(0);
  }
  if (cek.length !== cipher.keyLength) {
    cek.fill(0);
    throw new Error(`the unwrapped content-encryption key has ${cek.length} bytes, ${cipher.name} needs ${cipher.keyLength}`);
  }
  return cek;
}
