// X.509 certificate facts read with the lean DER walker: names, validity,
// addresses, key usage, extended key usage, identifiers, CRL distribution
// points, and the public key as a node:crypto KeyObject. Parsed certificates
// are cached by their SHA-256 (which is also their fingerprint): the same few
// certificates arrive on every message, and parsing is the expensive part.

import crypto from 'node:crypto';
import {
  bytesView,
  bitString,
  bool,
  bytes,
  children,
  content,
  DerError,
  expectTag,
  integerHex,
  namedBits,
  oid,
  readNode,
  readRoot,
  smallInteger,
  stringValue,
  TAG,
  textOf,
  time,
  type DerNode,
} from './der.js';
import { describeSignatureOid } from './sig-algorithms.js';

export class CertificateError extends Error {
  override name = 'CertificateError';
}

/** Largest certificate accepted (real ones are 1-3 KB; 64 KB leaves room for big SAN lists). */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

export const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_BITS)[number];

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  any: '2.5.29.37.0',
} as const;

const EKU_NAMES: Record<string, string> = Object.fromEntries(Object.entries(EKU).map(([k, v]) => [v, k === 'any' ? 'anyExtendedKeyUsage' : k]));

const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  issuerAltName: '2.5.29.18',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
} as const;

/**
 * Critical extensions we act on, or may safely ignore for S/MIME path
 * validation without policy checking (RFC 5280 6.1: policy processing is an
 * input the relying party may leave at any-policy). nameConstraints is not
 * processed, so a critical one fails the chain rather than being ignored.
 */
const UNDERSTOOD_CRITICAL = new Set<string>([
  EXT.subjectKeyIdentifier,
  EXT.keyUsage,
  EXT.subjectAltName,
  EXT.basicConstraints,
  EXT.extKeyUsage,
  EXT.certificatePolicies,
  EXT.policyConstraints,
  EXT.inhibitAnyPolicy,
  EXT.policyMappings,
  EXT.authorityKeyIdentifier,
  EXT.crlDistributionPoints,
  EXT.issuerAltName,
]);

const OID_EMAIL_ADDRESS = '1.2.840.113549.1.9.1';

const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  [OID_EMAIL_ADDRESS]: 'emailAddress',
};

export interface AlgorithmId {
  oid: string;
  /** The whole AlgorithmIdentifier element, for algorithm-specific parameters. */
  node: DerNode;
}

/** Parsed certificate. Treat as read-only: instances are shared through the cache. */
export interface Certificate {
  readonly der: Buffer;
  /** SHA-256 of the DER, lower-case hex: identity in caches and in verdicts. */
  readonly fingerprint256: string;
  readonly version: number;
  /** Serial number as lower-case hex without leading zero octets. */
  readonly serial: string;
  /** Subject and issuer in RFC 4514 form (most specific first). */
  readonly subject: string;
  readonly issuer: string;
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  /** Canonical name keys (case and whitespace folded) for issuer/subject matching. */
  readonly subjectKey: string;
  readonly issuerKey: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly tbs: Buffer;
  /** Offsets of the outer signatureAlgorithm inside `der`. */
  readonly signatureAlgorithm: AlgorithmId;
  readonly signature: Buffer;
  readonly spki: Buffer;
  /** SHA-1 of the subjectPublicKey BIT STRING value (RFC 5280 4.2.1.2 method 1), hex. */
  readonly keyHash: string;
  readonly isCA: boolean;
  readonly pathLenConstraint?: number;
  /** Key usage names, or undefined when the extension is absent (any usage allowed). */
  readonly keyUsage?: readonly KeyUsageName[];
  /** Extended key usage OIDs, or undefined when the extension is absent. */
  readonly extKeyUsage?: readonly string[];
  readonly subjectKeyIdentifier?: string;
  readonly authorityKeyIdentifier?: string;
  /** E-mail addresses, lower-cased, from subjectAltName rfc822Name then subject emailAddress. */
  readonly addresses: readonly string[];
  readonly crlDistributionPoints: readonly string[];
  /** OIDs of critical extensions this library does not process. */
  readonly unhandledCritical: readonly string[];
  readonly selfIssued: boolean;
}

// ---- cache -------------------------------------------------------------------

const CACHE_LIMIT = 4096;
/**
 * Parsed certificates keyed by length and the last four bytes of their DER
 * (the tail of the signature value: effectively random), each hit confirmed
 * by comparing the whole encoding. Much cheaper than hashing every
 * certificate of every message; a crafted collision only costs a parse.
 */
const cache = new Map<number, Certificate[]>();
let cached = 0;
const keyCache = new WeakMap<Certificate, crypto.KeyObject | Error>();
const MAX_PER_KEY = 4;

function tailKey(der: Uint8Array): number {
  const n = der.length;
  if (n < 4) return n;
  const tail = ((der[n - 4]! << 24) | (der[n - 3]! << 16) | (der[n - 2]! << 8) | der[n - 1]!) >>> 0;
  return n * 0x1_0000_0000 + tail;
}

function lookup(der: Uint8Array, key: number): Certificate | undefined {
  const list = cache.get(key);
  if (!list) return undefined;
  for (const c of list) if (c.der.equals(der)) return c;
  return undefined;
}

function remember(cert: Certificate, key: number): void {
  if (cached >= CACHE_LIMIT) {
    // Oldest key first: Map iteration follows insertion order.
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) {
      cached -= cache.get(oldest)!.length;
      cache.delete(oldest);
    }
  }
  const list = cache.get(key);
  if (list && list.length >= MAX_PER_KEY) return;
  if (list) list.push(cert);
  else cache.set(key, [cert]);
  cached++;
}

export function fingerprintOf(der: Uint8Array): string {
  return crypto.createHash('sha256').update(der).digest('hex');
}

/** Parses (or returns the cached parse of) a DER certificate. Throws CertificateError. */
export function parseCertificate(der: Uint8Array): Certificate {
  if (der.length > MAX_CERTIFICATE_BYTES) throw new CertificateError(`certificate of ${der.length} bytes exceeds ${MAX_CERTIFICATE_BYTES}`);
  const key = tailKey(der);
  const hit = lookup(der, key);
  if (hit) return hit;
  let cert: Certificate;
  try {
    const copy = Buffer.from(der);
    cert = readCertificate(copy, fingerprintOf(copy));
  } catch (e) {
    if (e instanceof CertificateError) throw e;
    throw new CertificateError(`not a readable X.509 certificate: ${e instanceof Error ? e.message : String(e)}`);
  }
  remember(cert, key);
  return cert;
}

export function tryParseCertificate(der: Uint8Array): Certificate | { error: string } {
  try {
    return parseCertificate(der);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** The public key, imported once per certificate. Throws CertificateError for an unusable key. */
export function publicKeyOf(cert: Certificate): crypto.KeyObject {
  let key = keyCache.get(cert);
  if (!key) {
    try {
      key = crypto.createPublicKey({ key: cert.spki, format: 'der', type: 'spki' });
    } catch (e) {
      key = new Error(`public key cannot be used: ${e instanceof Error ? e.message : String(e)}`);
    }
    keyCache.set(cert, key);
  }
  if (key instanceof Error) throw new CertificateError(key.message);
  return key;
}

/**
 * Certificates from PEM (any number of CERTIFICATE blocks, as text or bytes),
 * one DER blob, or a string of base64 DER without armour (as EAS sends).
 */
export function certificatesFrom(input: Uint8Array | string): Buffer[] {
  if (typeof input === 'string') {
    if (input.includes('-----BEGIN')) return pemBlocks(input, 'CERTIFICATE');
    const compact = input.replace(/\s+/g, '');
    return /^[A-Za-z0-9+/]+={0,2}$/.test(compact) ? [Buffer.from(compact, 'base64')] : [];
  }
  if (looksLikePem(input)) return pemBlocks(Buffer.from(input).toString('latin1'), 'CERTIFICATE');
  return [Buffer.from(input)];
}

export function looksLikePem(input: Uint8Array): boolean {
  const head = bytesView(input, 0, Math.min(input.length, 4096)).toString('latin1');
  return head.includes('-----BEGIN ');
}

export function pemBlocks(text: string, label: string): Buffer[] {
  const out: Buffer[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(Buffer.from(m[1]!.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  return out;
}

// ---- reading -----------------------------------------------------------------

function readCertificate(der: Buffer, fp: string): Certificate {
  const root = expectTag(readRoot(der), TAG.SEQUENCE, 'Certificate');
  const [tbsNode, sigAlgNode, sigNode] = children(der, root);
  expectTag(tbsNode, TAG.SEQUENCE, 'tbsCertificate');
  expectTag(sigAlgNode, TAG.SEQUENCE, 'signatureAlgorithm');
  const sig = bitString(der, expectTag(sigNode, TAG.BIT_STRING, 'signatureValue'));
  if (sig.unused !== 0) throw new DerError('signature BIT STRING with unused bits');

  const fields = children(der, tbsNode!);
  let i = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    version = smallInteger(der, readNode(der, fields[0].contentStart, fields[0].contentEnd)) + 1;
    i++;
  }
  const serialNode = expectTag(fields[i++], TAG.INTEGER, 'serialNumber');
  const serial = integerHex(der, serialNode);
  if (serialNode.contentEnd - serialNode.contentStart > 64) throw new DerError('serial number too long');
  expectTag(fields[i++], TAG.SEQUENCE, 'signature');
  const issuerNode = expectTag(fields[i++], TAG.SEQUENCE, 'issuer');
  const validity = children(der, expectTag(fields[i++], TAG.SEQUENCE, 'validity'));
  const subjectNode = expectTag(fields[i++], TAG.SEQUENCE, 'subject');
  const spkiNode = expectTag(fields[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  if (validity.length !== 2) throw new DerError('validity needs notBefore and notAfter');
  const notBefore = time(der, validity[0]!);
  const notAfter = time(der, validity[1]!);

  const spkiParts = children(der, spkiNode);
  const keyBits = bitString(der, expectTag(spkiParts[1], TAG.BIT_STRING, 'subjectPublicKey'));
  const keyHash = crypto.createHash('sha1').update(keyBits.bytes).digest('hex');

  const issuerName = readName(der, issuerNode);
  const subjectName = readName(der, subjectNode);

  const facts: ExtensionFacts = { isCA: false, sanEmails: [], crlDistributionPoints: [], unhandledCritical: [] };
  for (; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.tag === 0xa3) readExtensions(der, readNode(der, f.contentStart, f.contentEnd), facts);
    // [1] issuerUniqueID / [2] subjectUniqueID: obsolete, ignored.
  }

  const addresses: string[] = [];
  for (const a of [...facts.sanEmails, ...subjectName.emails]) {
    const lower = a.trim().toLowerCase();
    if (lower && !addresses.includes(lower)) addresses.push(lower);
  }

  const cert: Certificate = {
    der,
    fingerprint256: fp,
    version,
    serial,
    subject: subjectName.text,
    issuer: issuerName.text,
    subjectDer: bytes(der, subjectNode),
    issuerDer: bytes(der, issuerNode),
    subjectKey: subjectName.key,
    issuerKey: issuerName.key,
    notBefore,
    notAfter,
    tbs: bytes(der, tbsNode!),
    signatureAlgorithm: { oid: oid(der, children(der, sigAlgNode!)[0]!), node: sigAlgNode! },
    signature: sig.bytes,
    spki: bytes(der, spkiNode),
    keyHash,
    isCA: facts.isCA,
    pathLenConstraint: facts.pathLen,
    keyUsage: facts.keyUsage,
    extKeyUsage: facts.eku,
    subjectKeyIdentifier: facts.ski,
    authorityKeyIdentifier: facts.aki,
    addresses,
    crlDistributionPoints: facts.crlDistributionPoints,
    unhandledCritical: facts.unhandledCritical,
    selfIssued: subjectName.key === issuerName.key,
  };
  return Object.freeze(cert);
}

interface ExtensionFacts {
  isCA: boolean;
  pathLen?: number;
  keyUsage?: KeyUsageName[];
  eku?: string[];
  ski?: string;
  aki?: string;
  sanEmails: string[];
  crlDistributionPoints: string[];
  unhandledCritical: string[];
}

function readExtensions(der: Buffer, list: DerNode, facts: ExtensionFacts): void {
  const seen = new Set<string>();
  for (const ext of children(der, expectTag(list, TAG.SEQUENCE, 'extensions'))) {
    const parts = children(der, ext);
    const id = oid(der, parts[0]!);
    if (seen.has(id)) throw new DerError(`extension ${id} appears twice`);
    seen.add(id);
    let k = 1;
    let critical = false;
    if (parts[k]?.tag === TAG.BOOLEAN) critical = bool(der, parts[k++]!);
    const valueNode = expectTag(parts[k], TAG.OCTET_STRING, 'extnValue');
    const v = content(der, valueNode);
    if (critical && !UNDERSTOOD_CRITICAL.has(id)) facts.unhandledCritical.push(id);
    switch (id) {
      case EXT.basicConstraints: {
        const seq = readRoot(v);
        for (const c of children(v, seq)) {
          if (c.tag === TAG.BOOLEAN) facts.isCA = bool(v, c);
          else if (c.tag === TAG.INTEGER) facts.pathLen = smallInteger(v, c);
        }
        break;
      }
      case EXT.keyUsage: {
        const bits = namedBits(v, readRoot(v));
        facts.keyUsage = KEY_USAGE_BITS.filter((_, n) => (bits & (1 << n)) !== 0);
        break;
      }
      case EXT.extKeyUsage:
        facts.eku = children(v, readRoot(v)).map((c) => oid(v, c));
        break;
      case EXT.subjectKeyIdentifier:
        facts.ski = content(v, expectTag(readRoot(v), TAG.OCTET_STRING, 'subjectKeyIdentifier')).toString('hex');
        break;
      case EXT.authorityKeyIdentifier:
        for (const c of children(v, readRoot(v))) if (c.tag === 0x80) facts.aki = content(v, c).toString('hex');
        break;
      case EXT.subjectAltName:
        for (const gn of children(v, readRoot(v))) if (gn.tag === 0x81) facts.sanEmails.push(content(v, gn).toString('latin1'));
        break;
      case EXT.crlDistributionPoints:
        facts.crlDistributionPoints.push(...distributionPointUris(v));
        break;
      default:
        break;
    }
  }
}

/** fullName URIs of the CRL distribution points (relative names and LDAP-only points are skipped). */
function distributionPointUris(v: Buffer): string[] {
  const out: string[] = [];
  for (const dp of children(v, readRoot(v))) {
    for (const field of children(v, dp)) {
      if (field.tag !== 0xa0) continue; // distributionPoint
      for (const name of children(v, field)) {
        if (name.tag !== 0xa0) continue; // fullName
        for (const gn of children(v, name)) if (gn.tag === 0x86) out.push(content(v, gn).toString('latin1'));
      }
    }
  }
  return out.slice(0, 8);
}

interface NameFacts {
  readonly text: string;
  readonly key: string;
  readonly emails: readonly string[];
}

const nameCache = new Map<string, NameFacts>();

/** A Name as RFC 4514 text, a canonical matching key, and its emailAddress values. Memoised by encoding. */
export function readName(der: Uint8Array, name: DerNode): NameFacts {
  const len = name.end - name.start;
  if (len > 2048) return decodeName(der, name);
  const key = textOf(der, 'latin1', name.start, name.end);
  const hit = nameCache.get(key);
  if (hit) return hit;
  const facts = decodeName(der, name);
  if (nameCache.size >= 4096) nameCache.delete(nameCache.keys().next().value!);
  nameCache.set(key, facts);
  return facts;
}

function decodeName(der: Uint8Array, name: DerNode): NameFacts {
  const rdns: string[] = [];
  const keys: string[] = [];
  const emails: string[] = [];
  for (const rdn of children(der, expectTag(name, TAG.SEQUENCE, 'Name'))) {
    const texts: string[] = [];
    const rdnKeys: string[] = [];
    for (const atv of children(der, expectTag(rdn, TAG.SET, 'RelativeDistinguishedName'))) {
      const [typeNode, valueNode] = children(der, atv);
      const type = oid(der, typeNode!);
      if (!valueNode) throw new DerError('attribute without value');
      const value = stringValue(der, valueNode);
      if (type === OID_EMAIL_ADDRESS) emails.push(value);
      texts.push(`${ATTRIBUTE_NAMES[type] ?? type}=${escapeRdnValue(value)}`);
      // openssl-style canonical form: strings case- and space-folded, others by bytes.
      const canonical = value.startsWith('#') ? value : value.trim().replace(/\s+/g, ' ').toLowerCase();
      rdnKeys.push(`${type}=${canonical}`);
    }
    rdns.push(texts.join('+'));
    keys.push(rdnKeys.sort().join('+'));
  }
  return { text: rdns.reverse().join(','), key: keys.join('/'), emails };
}

function escapeRdnValue(v: string): string {
  if (v.startsWith('#') && /^#[0-9a-f]+$/.test(v)) return v;
  let out = v.replace(/[\\,+"<>;=]/g, (c) => '\\' + c).replace(/[\x00-\x1f]/g, (c) => '\\' + c.charCodeAt(0).toString(16).padStart(2, '0'));
  if (out.startsWith(' ') || out.startsWith('#')) out = '\\' + out;
  if (out.endsWith(' ')) out = out.slice(0, -1) + '\\ ';
  return out;
}

// ---- facts for callers -------------------------------------------------------

export function ekuName(ekuOid: string): string {
  return EKU_NAMES[ekuOid] ?? ekuOid;
}

/** JSON-friendly summary of a certificate (for verdicts, admin views, EAS). */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
}

const summaries = new WeakMap<Certificate, CertificateSummary>();

/** The summary of a certificate; shared and frozen (verdicts repeat the same chains). */
export function summarize(cert: Certificate): CertificateSummary {
  let s = summaries.get(cert);
  if (!s) {
    s = Object.freeze(makeSummary(cert));
    summaries.set(cert, s);
  }
  return s;
}

function makeSummary(cert: Certificate): CertificateSummary {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serial,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprint256: cert.fingerprint256,
  };
}

export interface CertificateFacts extends CertificateSummary {
  addresses: string[];
  keyUsage: string[] | null;
  extendedKeyUsage: string[] | null;
  subjectKeyIdentifier: string | null;
  isCA: boolean;
  signatureAlgorithm: string;
  publicKey: string;
}

export function certificateFacts(cert: Certificate): CertificateFacts {
  let publicKey: string;
  try {
    const k = publicKeyOf(cert);
    const d = k.asymmetricKeyDetails;
    publicKey = k.asymmetricKeyType === 'ec' ? `ec ${d?.namedCurve ?? ''}`.trim() : `${k.asymmetricKeyType}${d?.modulusLength ? `-${d.modulusLength}` : ''}`;
  } catch (e) {
    publicKey = `unusable (${e instanceof Error ? e.message : String(e)})`;
  }
  return {
    ...summarize(cert),
    addresses: [...cert.addresses],
    keyUsage: cert.keyUsage ? [...cert.keyUsage] : null,
    extendedKeyUsage: cert.extKeyUsage ? cert.extKeyUsage.map(ekuName) : null,
    subjectKeyIdentifier: cert.subjectKeyIdentifier ?? null,
    isCA: cert.isCA,
    signatureAlgorithm: describeSignatureOid(cert.signatureAlgorithm.oid),
    publicKey,
  };
}

/** Validity at a moment: 'ok', or which side of the window the moment falls. */
export function validityAt(cert: Certificate, at: Date): 'ok' | 'expired' | 'not-yet-valid' {
  const t = at.getTime();
  if (t < cert.notBefore.getTime()) return 'not-yet-valid';
  if (t > cert.notAfter.getTime()) return 'expired';
  return 'ok';
}

