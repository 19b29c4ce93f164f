// Signature and digest algorithm identifiers, mapped onto what node:crypto
// can verify, and the policy of which ones count as supported or weak. One
// place decides, for certificates, CRLs and CMS signers alike.

import crypto from 'node:crypto';
import { children, DerError, oid, readNode, smallInteger, TAG, type DerNode } from './der.js';

export type DigestName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export const DIGEST_OIDS: Record<string, DigestName> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Digests known by name only, to say precisely what is refused. */
const REFUSED_DIGESTS: Record<string, string> = {
  '1.2.840.113549.2.5': 'md5',
  '1.2.840.113549.2.2': 'md2',
  '2.16.840.1.101.3.4.2.8': 'sha3-256',
  '2.16.840.1.101.3.4.2.9': 'sha3-384',
  '2.16.840.1.101.3.4.2.10': 'sha3-512',
};

const OID_RSA = '1.2.840.113549.1.1.1';
const OID_RSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';

const RSA_PKCS1: Record<string, DigestName> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.3.14.3.2.29': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

const ECDSA: Record<string, DigestName> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** Named so that a verdict says what it met instead of an OID. */
const UNSUPPORTED_SIGNATURES: Record<string, string> = {
  '1.2.840.10040.4.1': 'dsa',
  '1.2.840.10040.4.3': 'dsa-with-sha1',
  '2.16.840.1.101.3.4.3.1': 'dsa-with-sha224',
  '2.16.840.1.101.3.4.3.2': 'dsa-with-sha256',
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
  '1.2.840.113549.1.1.4': 'md5-with-rsa',
  '1.2.840.113549.1.1.2': 'md2-with-rsa',
};

export const CURVES: Record<string, string> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
};

/** How a signature is checked with node:crypto. */
export interface SignatureScheme {
  scheme: 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa';
  hash: DigestName;
  /** RSA-PSS salt length in octets. */
  saltLength?: number;
}

export type SchemeResult = { ok: true; value: SignatureScheme } | { ok: false; unsupported: true; detail: string };

export function digestName(digestOid: string): DigestName | null {
  return DIGEST_OIDS[digestOid] ?? null;
}

export function describeDigest(digestOid: string): string {
  return DIGEST_OIDS[digestOid] ?? REFUSED_DIGESTS[digestOid] ?? digestOid;
}

export function describeSignatureOid(sigOid: string): string {
  if (RSA_PKCS1[sigOid]) return `${RSA_PKCS1[sigOid]}-with-rsa`;
  if (ECDSA[sigOid]) return `ecdsa-with-${ECDSA[sigOid]}`;
  if (sigOid === OID_RSA) return 'rsa';
  if (sigOid === OID_RSA_PSS) return 'rsa-pss';
  if (sigOid === OID_EC_PUBLIC_KEY) return 'ecdsa';
  return UNSUPPORTED_SIGNATURES[sigOid] ?? sigOid;
}

/**
 * The scheme for an AlgorithmIdentifier. `digestOid` is the CMS SignerInfo
 * digestAlgorithm, which decides the hash when the signature algorithm names
 * only the key type (rsaEncryption, id-ecPublicKey), as CMS allows.
 */
export function signatureScheme(buf: Uint8Array, algorithm: DerNode, digestOid?: string): SchemeResult {
  const parts = children(buf, algorithm);
  return schemeOf(buf, oid(buf, parts[0]!), parts[1], digestOid);
}

/** As `signatureScheme`, for an AlgorithmIdentifier already read into its OID and parameters. */
export function schemeOf(buf: Uint8Array, sigOid: string, params: DerNode | undefined, digestOid?: string): SchemeResult {
  if (digestOid !== undefined && !DIGEST_OIDS[digestOid]) return unsupported(`digest algorithm ${describeDigest(digestOid)}`);
  if (sigOid === OID_RSA || sigOid === OID_EC_PUBLIC_KEY) {
    // The key type alone: the hash is the SignerInfo's digest algorithm.
    if (digestOid === undefined) return unsupported(`${describeSignatureOid(sigOid)} without a digest algorithm`);
    return { ok: true, value: { scheme: sigOid === OID_RSA ? 'rsa-pkcs1' : 'ecdsa', hash: DIGEST_OIDS[digestOid]! } };
  }
  const rsaHash = RSA_PKCS1[sigOid];
  if (rsaHash) return { ok: true, value: { scheme: 'rsa-pkcs1', hash: rsaHash } };
  const ecHash = ECDSA[sigOid];
  if (ecHash) return { ok: true, value: { scheme: 'ecdsa', hash: ecHash } };
  if (sigOid === OID_RSA_PSS) return pssScheme(buf, params);
  return unsupported(`signature algorithm ${describeSignatureOid(sigOid)}`);
}

function unsupported(detail: string): SchemeResult {
  return { ok: false, unsupported: true, detail };
}

/** RSASSA-PSS-params (RFC 4055): defaults are SHA-1, MGF1-SHA-1, salt 20. */
function pssScheme(buf: Uint8Array, params: DerNode | undefined): SchemeResult {
  let hash: DigestName = 'sha1';
  let mgfHash: DigestName = 'sha1';
  let saltLength = 20;
  if (params && params.tag === TAG.SEQUENCE) {
    for (const field of children(buf, params)) {
      const inner = readNode(buf, field.contentStart, field.contentEnd);
      if (field.tag === 0xa0) {
        const d = digestName(oid(buf, children(buf, inner)[0]!));
        if (!d) return unsupported('RSA-PSS with an unsupported hash');
        hash = d;
      } else if (field.tag === 0xa1) {
        const mgf = children(buf, inner);
        if (oid(buf, mgf[0]!) !== OID_MGF1 || !mgf[1]) return unsupported('RSA-PSS with a mask generation function other than MGF1');
        const d = digestName(oid(buf, children(buf, mgf[1])[0]!));
        if (!d) return unsupported('RSA-PSS MGF1 with an unsupported hash');
        mgfHash = d;
      } else if (field.tag === 0xa2) {
        saltLength = smallInteger(buf, inner);
      } else if (field.tag === 0xa3) {
        if (smallInteger(buf, inner) !== 1) return unsupported('RSA-PSS trailer field other than 1');
      } else {
        throw new DerError('unexpected field in RSASSA-PSS-params');
      }
    }
  } else if (params && params.tag !== TAG.NULL) {
    throw new DerError('bad RSASSA-PSS-params');
  }
  // node:crypto uses the signature hash for MGF1 too.
  if (mgfHash !== hash) return unsupported(`RSA-PSS with ${hash} and MGF1-${mgfHash}`);
  return { ok: true, value: { scheme: 'rsa-pss', hash, saltLength } };
}

/** Facts about a public key, read once per KeyObject (node computes asymmetricKeyDetails on every access). */
interface KeyInfo {
  type: string;
  bits: number;
  curve: string;
  policy: KeyPolicyResult;
}

const keyInfos = new WeakMap<crypto.KeyObject, KeyInfo>();

function keyInfo(key: crypto.KeyObject): KeyInfo {
  let info = keyInfos.get(key);
  if (!info) {
    const type = key.asymmetricKeyType ?? 'unknown';
    const details = key.asymmetricKeyDetails;
    const bits = details?.modulusLength ?? 0;
    const curve = details?.namedCurve ?? '';
    info = { type, bits, curve, policy: policyFor(type, bits, curve) };
    keyInfos.set(key, info);
  }
  return info;
}

/** Verifies with node:crypto; false on any failure (wrong key type included). */
export function verifyWith(scheme: SignatureScheme, key: crypto.KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    const type = keyInfo(key).type;
    if (scheme.scheme === 'ecdsa') {
      if (type !== 'ec') return false;
      return crypto.verify(scheme.hash, data, { key, dsaEncoding: 'der' }, signature);
    }
    if (type !== 'rsa' && type !== 'rsa-pss') return false;
    if (scheme.scheme === 'rsa-pss') {
      return crypto.verify(scheme.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength ?? 20 }, signature);
    }
    if (type === 'rsa-pss') return false;
    return crypto.verify(scheme.hash, data, key, signature);
  } catch {
    return false;
  }
}

const CURVE_NAMES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

export function schemeName(s: SignatureScheme, key?: crypto.KeyObject): string {
  if (s.scheme === 'ecdsa') {
    const curve = key ? keyInfo(key).curve : '';
    const short = CURVE_NAMES[curve] ?? curve;
    return short ? `ecdsa-${short}` : 'ecdsa';
  }
  return s.scheme;
}

/** Public-key facts that policy looks at: supported type, and size for RSA. */
export interface KeyPolicyResult {
  supported: boolean;
  weak: boolean;
  detail: string;
}

export function keyPolicy(key: crypto.KeyObject): KeyPolicyResult {
  return keyInfo(key).policy;
}

function policyFor(type: string, bits: number, curve: string): KeyPolicyResult {
  if (type === 'rsa' || type === 'rsa-pss') {
    if (bits < 1024) return { supported: false, weak: true, detail: `RSA key of ${bits} bits` };
    // Verification cost grows with the square of the size: bound the work a crafted chain can ask for.
    if (bits > 8192) return { supported: false, weak: false, detail: `RSA key of ${bits} bits (more than 8192)` };
    return { supported: true, weak: bits < 2048, detail: `RSA-${bits}` };
  }
  if (type === 'ec') {
    return { supported: Object.hasOwn(CURVE_NAMES, curve), weak: false, detail: `EC ${CURVE_NAMES[curve] ?? (curve || 'unknown curve')}` };
  }
  return { supported: false, weak: false, detail: `${type} key` };
}
