// Mini-certificates: what EAS ResolveRecipients hands out for CertificateRetrieval 3.
//
// MS-ASCMD (2.2.3.112 MiniCertificate) says only that the element carries "the mini-certificate
// BLOB" in base64, at most one per Certificates element, and only when the recipient has a valid
// S/MIME certificate; it does not define the blob's layout. This is easmime's layout: exactly
// what a device needs to encrypt a CMS envelope to a recipient whose certificate it has already
// validated through the server (IssuerAndSerialNumber or SubjectKeyIdentifier for the
// RecipientInfo, and the public key), plus the hash of the full certificate so that it can be
// matched against one fetched later (CertificateRetrieval 2). One blob carries every certificate
// of the recipient, so a distribution list fits in its single MiniCertificate element.
//
//   MiniCertificates ::= SEQUENCE SIZE (1..MAX) OF MiniCertificate
//   MiniCertificate ::= SEQUENCE {
//     version               INTEGER { v1(1) },
//     issuer                Name,                      -- copied from the certificate
//     serialNumber          CertificateSerialNumber,   -- copied from the certificate
//     subjectPublicKeyInfo  SubjectPublicKeyInfo,      -- copied from the certificate
//     notAfter              GeneralizedTime,
//     certificateHash       OCTET STRING (SIZE (32)),  -- SHA-256 of the whole DER certificate
//     subjectKeyIdentifier  [0] IMPLICIT OCTET STRING OPTIONAL,
//     emailAddresses        [1] IMPLICIT SEQUENCE OF IA5String OPTIONAL }
//
// DER throughout. Copied fields are the certificate's own bytes, never re-encoded, so the
// recipient identifier a device builds from them is byte-identical to one built from the
// certificate.

import crypto from 'node:crypto';
import { parseCertificate, type Certificate } from './certificate.js';
import { bytes, bytesView, children, content, DerError, encode, expectTag, readRoot, TAG, time, type DerNode } from './der.js';

export class MiniCertificateError extends Error {
  override name = 'MiniCertificateError';
}

export const MINI_CERTIFICATE_VERSION = 1;
/** Entries one blob may hold: a distribution list's certificates are bounded by MaxCertificates (at most 9999). */
export const MAX_MINI_CERTIFICATES = 10_000;
const MAX_ADDRESSES = 32;
const MAX_ADDRESS_LENGTH = 320;

export interface MiniCertificate {
  version: number;
  /** DER of the issuer Name. */
  issuer: Buffer;
  /** DER of the serialNumber INTEGER (tag and length included). */
  serialNumber: Buffer;
  /** Serial as lower-case hex without leading zero octets, as certificate.ts writes it. */
  serial: string;
  /** DER of the SubjectPublicKeyInfo. */
  subjectPublicKeyInfo: Buffer;
  notAfter: Date;
  certificateHash: Buffer;
  subjectKeyIdentifier?: Buffer;
  emailAddresses: string[];
}

/** One blob for these certificates (DER, or parsed). Throws MiniCertificateError for none or too many. */
export function encodeMiniCertificates(certificates: ReadonlyArray<Uint8Array | Certificate>): Buffer {
  if (certificates.length === 0) throw new MiniCertificateError('a mini-certificate blob needs at least one certificate');
  if (certificates.length > MAX_MINI_CERTIFICATES) throw new MiniCertificateError(`more than ${MAX_MINI_CERTIFICATES} certificates for one blob`);
  const entries = certificates.map((c) => encodeEntry(c instanceof Uint8Array ? parseCertificate(c) : c));
  return encode(TAG.SEQUENCE, Buffer.concat(entries));
}

function encodeEntry(cert: Certificate): Buffer {
  const parts: Buffer[] = [
    encode(TAG.INTEGER, Buffer.from([MINI_CERTIFICATE_VERSION])),
    cert.issuerDer,
    serialElement(cert.der),
    cert.spki,
    encode(TAG.GENERALIZED_TIME, Buffer.from(generalizedTime(cert.notAfter), 'latin1')),
    encode(TAG.OCTET_STRING, crypto.createHash('sha256').update(cert.der).digest()),
  ];
  if (cert.subjectKeyIdentifier) parts.push(encode(0x80, Buffer.from(cert.subjectKeyIdentifier, 'hex')));
  const ia5 = cert.addresses.filter((a) => /^[\x20-\x7e]+$/.test(a)).slice(0, MAX_ADDRESSES);
  if (ia5.length > 0) parts.push(encode(0xa1, Buffer.concat(ia5.map((a) => encode(TAG.IA5, Buffer.from(a, 'latin1'))))));
  return encode(TAG.SEQUENCE, Buffer.concat(parts));
}

/** The serialNumber element exactly as the certificate encodes it. */
function serialElement(der: Buffer): Buffer {
  const tbs = expectTag(children(der, readRoot(der))[0], TAG.SEQUENCE, 'tbsCertificate');
  const fields = children(der, tbs);
  const serial = fields[0]?.tag === 0xa0 ? fields[1] : fields[0];
  return bytes(der, expectTag(serial, TAG.INTEGER, 'serialNumber'));
}

/** YYYYMMDDHHMMSSZ: RFC 5280's form of GeneralizedTime (no fractions). */
function generalizedTime(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Reads a blob strictly (DER, known version, nothing left over). Throws MiniCertificateError. */
export function decodeMiniCertificates(blob: Uint8Array): MiniCertificate[] {
  try {
    const buf = bytesView(blob);
    const root = expectTag(readRoot(buf), TAG.SEQUENCE, 'MiniCertificates');
    const entries = children(buf, root, 0, MAX_MINI_CERTIFICATES);
    if (entries.length === 0) throw new MiniCertificateError('the blob holds no mini-certificate');
    return entries.map((e, i) => decodeEntry(buf, e, i));
  } catch (e) {
    if (e instanceof MiniCertificateError) throw e;
    throw new MiniCertificateError(`not a mini-certificate blob: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decodeEntry(buf: Buffer, node: DerNode, index: number): MiniCertificate {
  const at = `entry ${index}`;
  const f = children(buf, expectTag(node, TAG.SEQUENCE, at));
  if (f.length < 6 || f.length > 8) throw new MiniCertificateError(`${at}: ${f.length} fields, expected 6 to 8`);
  const versionNode = expectTag(f[0], TAG.INTEGER, `${at} version`);
  const version = content(buf, versionNode);
  if (version.length !== 1 || version[0] !== MINI_CERTIFICATE_VERSION) throw new MiniCertificateError(`${at}: unknown version`);
  const issuer = expectTag(f[1], TAG.SEQUENCE, `${at} issuer`);
  const serialNode = expectTag(f[2], TAG.INTEGER, `${at} serialNumber`);
  const spki = expectTag(f[3], TAG.SEQUENCE, `${at} subjectPublicKeyInfo`);
  const notAfterNode = expectTag(f[4], TAG.GENERALIZED_TIME, `${at} notAfter`);
  if (notAfterNode.contentEnd - notAfterNode.contentStart !== 15 || buf[notAfterNode.contentEnd - 1] !== 0x5a) {
    throw new MiniCertificateError(`${at}: notAfter is not of the form YYYYMMDDHHMMSSZ`);
  }
  const notAfter = time(buf, notAfterNode);
  const hash = content(buf, expectTag(f[5], TAG.OCTET_STRING, `${at} certificateHash`));
  if (hash.length !== 32) throw new MiniCertificateError(`${at}: certificateHash is not a SHA-256 value`);
  const out: MiniCertificate = {
    version: MINI_CERTIFICATE_VERSION,
    issuer: Buffer.from(bytes(buf, issuer)),
    serialNumber: Buffer.from(bytes(buf, serialNode)),
    serial: serialHex(buf, serialNode),
    subjectPublicKeyInfo: Buffer.from(bytes(buf, spki)),
    notAfter,
    certificateHash: Buffer.from(hash),
    emailAddresses: [],
  };
  let last = 0x04;
  for (const extra of f.slice(6)) {
    // Optional fields in their order, each at most once.
    if (extra.tag <= last) throw new MiniCertificateError(`${at}: optional field 0x${extra.tag.toString(16)} out of order`);
    last = extra.tag;
    if (extra.tag === 0x80) out.subjectKeyIdentifier = Buffer.from(content(buf, extra));
    else if (extra.tag === 0xa1) out.emailAddresses = readAddresses(buf, extra, at);
    else throw new MiniCertificateError(`${at}: unknown field 0x${extra.tag.toString(16)}`);
  }
  return out;
}

function serialHex(buf: Buffer, node: DerNode): string {
  const c = content(buf, node);
  if (c.length === 0) throw new DerError('empty serialNumber');
  let i = 0;
  while (i < c.length - 1 && c[i] === 0) i++;
  return c.subarray(i).toString('hex');
}

function readAddresses(buf: Buffer, node: DerNode, at: string): string[] {
  const items = children(buf, node, 0, MAX_ADDRESSES);
  if (items.length === 0) throw new MiniCertificateError(`${at}: empty emailAddresses`);
  return items.map((n) => {
    const v = content(buf, expectTag(n, TAG.IA5, `${at} emailAddress`));
    if (v.length === 0 || v.length > MAX_ADDRESS_LENGTH || !/^[\x20-\x7e]+$/.test(v.toString('latin1'))) {
      throw new MiniCertificateError(`${at}: emailAddress is not printable IA5 text of 1 to ${MAX_ADDRESS_LENGTH} characters`);
    }
    return v.toString('latin1');
  });
}

/** Whether a mini-certificate describes this certificate (its hash and the copied fields agree). */
export function describes(mini: MiniCertificate, certificate: Uint8Array): boolean {
  const cert = parseCertificate(certificate);
  return crypto.createHash('sha256').update(cert.der).digest().equals(mini.certificateHash)
    && cert.issuerDer.equals(mini.issuer) && cert.spki.equals(mini.subjectPublicKeyInfo) && cert.serial === mini.serial;
}
