// Content-encryption algorithms shared by CMS envelopes and PKCS#12 (PBES2): reading the
// AlgorithmIdentifier (which cipher, key length, IV or nonce) and decrypting with node:crypto,
// or with smime/rc2.ts for RC2, which OpenSSL 3 keeps in a provider Node does not load.

import crypto from 'node:crypto';
import { children, content, expectTag, oid, smallInteger, TAG, type DerNode } from './der.js';
import { rc2CbcDecrypt } from './rc2.js';

export class CipherError extends Error {
  override name = 'CipherError';
  constructor(
    message: string,
    /** 'unsupported': a known or unknown algorithm this library does not decrypt; 'malformed': bad parameters; 'decrypt': bad padding or tag. */
    readonly code: 'unsupported' | 'malformed' | 'decrypt',
  ) {
    super(message);
  }
}

export type ContentCipher =
  | { mode: 'cbc'; oid: string; name: string; nodeName: string; keyLength: number; iv: Buffer }
  | { mode: 'rc2-cbc'; oid: string; name: string; keyLength: number; effectiveBits: number; iv: Buffer }
  | { mode: 'aead'; oid: string; name: string; nodeName: string; keyLength: number; nonce: Buffer; tagLength: number };

const CBC: Record<string, { name: string; nodeName: string; keyLength: number; ivLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', nodeName: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', nodeName: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', nodeName: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', nodeName: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
};

const GCM: Record<string, { name: string; nodeName: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.6': { name: 'aes-128-gcm', nodeName: 'aes-128-gcm', keyLength: 16 },
  '2.16.840.1.101.3.4.1.26': { name: 'aes-192-gcm', nodeName: 'aes-192-gcm', keyLength: 24 },
  '2.16.840.1.101.3.4.1.46': { name: 'aes-256-gcm', nodeName: 'aes-256-gcm', keyLength: 32 },
};

const RC2_CBC = '1.2.840.113549.3.2';
const CHACHA20_POLY1305 = '1.2.840.113549.1.9.16.3.18';

/** Algorithms recognised by name so that the refusal says what was used. */
const KNOWN_UNSUPPORTED: Record<string, string> = {
  '1.3.14.3.2.7': 'des-cbc (single DES)',
  '1.2.840.113549.3.4': 'rc4',
  '2.16.840.1.101.3.4.1.7': 'aes-128-ccm',
  '2.16.840.1.101.3.4.1.27': 'aes-192-ccm',
  '2.16.840.1.101.3.4.1.47': 'aes-256-ccm',
  '2.16.840.1.101.3.4.1.1': 'aes-128-ecb',
  '2.16.840.1.101.3.4.1.21': 'aes-192-ecb',
  '2.16.840.1.101.3.4.1.41': 'aes-256-ecb',
};

/** RFC 2268 section 6 maps effective key bits below 256 to a parameter version; these are the ones in use. */
const RC2_VERSIONS: Record<number, number> = { 160: 40, 120: 64, 58: 128 };

export function cipherName(algorithmOid: string): string {
  return CBC[algorithmOid]?.name ?? GCM[algorithmOid]?.name ?? KNOWN_UNSUPPORTED[algorithmOid] ??
    (algorithmOid === RC2_CBC ? 'rc2-cbc' : algorithmOid === CHACHA20_POLY1305 ? 'chacha20-poly1305' : algorithmOid);
}

/**
 * Reads a content-encryption AlgorithmIdentifier. `keyLength` is what the caller knows from
 * elsewhere (PBES2 keyLength); RC2's key length otherwise follows its effective key bits.
 */
export function readContentCipher(buf: Uint8Array, alg: DerNode, keyLength?: number): ContentCipher {
  let parts: DerNode[];
  let algorithmOid: string;
  try {
    parts = children(buf, expectTag(alg, TAG.SEQUENCE, 'AlgorithmIdentifier'));
    algorithmOid = oid(buf, expectTag(parts[0], TAG.OID, 'algorithm'));
  } catch (e) {
    throw new CipherError(`content-encryption algorithm unreadable: ${(e as Error).message}`, 'malformed');
  }
  const params = parts[1];
  const fail = (why: string): never => {
    throw new CipherError(`${cipherName(algorithmOid)} parameters: ${why}`, 'malformed');
  };
  const cbc = CBC[algorithmOid];
  if (cbc) {
    if (params?.tag !== TAG.OCTET_STRING) fail('expected the IV as an OCTET STRING');
    const iv = content(buf, params!);
    if (iv.length !== cbc.ivLength) fail(`IV of ${iv.length} bytes, ${cbc.ivLength} expected`);
    return { mode: 'cbc', oid: algorithmOid, name: cbc.name, nodeName: cbc.nodeName, keyLength: cbc.keyLength, iv: Buffer.from(iv) };
  }
  const gcm = GCM[algorithmOid];
  if (gcm) {
    // GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }
    try {
      const p = children(buf, expectTag(params, TAG.SEQUENCE, 'GCMParameters'));
      const nonce = content(buf, expectTag(p[0], TAG.OCTET_STRING, 'aes-nonce'));
      const tagLength = p[1] ? smallInteger(buf, expectTag(p[1], TAG.INTEGER, 'aes-ICVlen')) : 12;
      if (nonce.length < 1 || nonce.length > 128) fail(`nonce of ${nonce.length} bytes`);
      if (tagLength < 12 || tagLength > 16) fail(`tag length ${tagLength} (12 to 16 allowed)`);
      return { mode: 'aead', oid: algorithmOid, name: gcm.name, nodeName: gcm.nodeName, keyLength: gcm.keyLength, nonce: Buffer.from(nonce), tagLength };
    } catch (e) {
      if (e instanceof CipherError) throw e;
      return fail((e as Error).message);
    }
  }
  if (algorithmOid === CHACHA20_POLY1305) {
    // RFC 8103: the parameter is the 12-byte nonce.
    if (params?.tag !== TAG.OCTET_STRING) fail('expected the nonce as an OCTET STRING');
    const nonce = content(buf, params!);
    if (nonce.length !== 12) fail(`nonce of ${nonce.length} bytes, 12 expected`);
    return { mode: 'aead', oid: algorithmOid, name: 'chacha20-poly1305', nodeName: 'chacha20-poly1305', keyLength: 32, nonce: Buffer.from(nonce), tagLength: 16 };
  }
  if (algorithmOid === RC2_CBC) {
    // RC2-CBCParameter ::= SEQUENCE { rc2ParameterVersion INTEGER OPTIONAL, iv OCTET STRING }, or the bare IV.
    let version: number | undefined;
    let ivNode: DerNode | undefined;
    try {
      if (params?.tag === TAG.SEQUENCE) {
        const p = children(buf, params);
        if (p.length === 2) {
          version = smallInteger(buf, expectTag(p[0], TAG.INTEGER, 'rc2ParameterVersion'));
          ivNode = p[1];
        } else {
          ivNode = p[0];
        }
      } else {
        ivNode = params;
      }
      expectTag(ivNode, TAG.OCTET_STRING, 'iv');
    } catch (e) {
      return fail((e as Error).message);
    }
    const iv = content(buf, ivNode!);
    if (iv.length !== 8) fail(`IV of ${iv.length} bytes, 8 expected`);
    // An absent version means 32 effective bits (RFC 8018 B.2.3); nobody writes that any more.
    const effectiveBits = version === undefined ? 32 : version >= 256 ? version : RC2_VERSIONS[version];
    if (effectiveBits === undefined) throw new CipherError(`rc2-cbc with parameter version ${version} (only 40, 64 and 128 effective bits are supported)`, 'unsupported');
    const length = keyLength ?? effectiveBits / 8;
    if (!Number.isInteger(length) || length < 1 || length > 128) {
      throw new CipherError(`rc2-cbc with ${effectiveBits} effective bits and no stated key length`, 'unsupported');
    }
    return { mode: 'rc2-cbc', oid: algorithmOid, name: `rc2-cbc (${effectiveBits}-bit)`, keyLength: length, effectiveBits, iv: Buffer.from(iv) };
  }
  const known = KNOWN_UNSUPPORTED[algorithmOid];
  throw new CipherError(known ? `content encryption ${known} is not supported` : `unknown content-encryption algorithm ${algorithmOid}`, 'unsupported');
}

/**
 * Decrypts with a CBC or AEAD cipher. `aead` carries the tag and additional data for AEAD modes.
 * Throws CipherError('decrypt') on bad padding or a tag that does not verify.
 */
export function decryptContent(cipher: ContentCipher, key: Uint8Array, data: Uint8Array, aead?: { tag: Uint8Array; aad?: Uint8Array }): Buffer {
  if (key.length !== cipher.keyLength) throw new CipherError(`${cipher.name} needs a ${cipher.keyLength}-byte key, got ${key.length} bytes`, 'decrypt');
  try {
    if (cipher.mode === 'rc2-cbc') return rc2CbcDecrypt(key, cipher.effectiveBits, cipher.iv, data);
    if (cipher.mode === 'cbc') {
      const d = crypto.createDecipheriv(cipher.nodeName, key, cipher.iv);
      return Buffer.concat([d.update(data), d.final()]);
    }
    if (!aead) throw new CipherError(`${cipher.name} needs an authentication tag`, 'malformed');
    if (aead.tag.length !== cipher.tagLength) {
      throw new CipherError(`${cipher.name} tag of ${aead.tag.length} bytes, ${cipher.tagLength} expected`, 'malformed');
    }
    const d = crypto.createDecipheriv(cipher.nodeName as crypto.CipherGCMTypes, key, cipher.nonce, { authTagLength: cipher.tagLength });
    d.setAuthTag(aead.tag);
    if (aead.aad && aead.aad.length > 0) d.setAAD(aead.aad);
    return Buffer.concat([d.update(data), d.final()]);
  } catch (e) {
    if (e instanceof CipherError) throw e;
    throw new CipherError(cipher.mode === 'aead' ? 'authentication tag does not verify' : 'bad padding', 'decrypt');
  }
}
