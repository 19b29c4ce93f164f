// CMS EnvelopedData (RFC 5652 section 6) and AuthEnvelopedData (RFC 5083) read with the lean DER
// walker: who the envelope is for (key transport recipients named by issuer and serial number or
// by subject key identifier, key agreement recipients with the originator's ephemeral key), how
// the content is encrypted, and the encrypted content itself. No private key is needed to read
// an envelope, so the relay check can ask which certificates it names (envelopeRecipientsMatch)
// without touching anyone's keys. Malformed input throws EnvelopeError with a precise message;
// an algorithm this library cannot use is reported on the recipient, not thrown.

import {
  bytesView,
  bitString,
  bytes,
  children,
  content,
  DerError,
  expectTag,
  integerHex,
  octets,
  oid,
  readNode,
  readRoot,
  smallInteger,
  TAG,
  toDefinite,
  type DerNode,
} from './der.js';
import { readName, tryParseCertificate, type Certificate } from './certificate.js';
import { cipherName, CipherError, readContentCipher, type ContentCipher } from './ciphers.js';
import { DIGEST_OIDS, type DigestName } from './sig-algorithms.js';

export type EnvelopeErrorCode =
  /** Not a CMS ContentInfo at all. */
  | 'not-cms'
  /** CMS, but neither EnvelopedData nor AuthEnvelopedData. */
  | 'not-enveloped'
  /** An EnvelopedData that breaks the structure rules. */
  | 'malformed'
  /** More recipients (or bigger) than the limits allow. */
  | 'limit';

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
  constructor(
    message: string,
    readonly code: EnvelopeErrorCode,
  ) {
    super(message);
  }
}

export interface EnvelopeLimits {
  /** Largest CMS object read. */
  maxBytes: number;
  /** Recipients in total (each key agreement recipient counts once per encrypted key). */
  maxRecipients: number;
  /** Certificates kept from originatorInfo. */
  maxOriginatorCertificates: number;
}

export const DEFAULT_ENVELOPE_LIMITS: Readonly<EnvelopeLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxRecipients: 4096,
  maxOriginatorCertificates: 32,
});

export const OID = {
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  pSpecified: '1.2.840.113549.1.1.9',
  ecPublicKey: '1.2.840.10045.2.1',
  x25519: '1.3.101.110',
  x448: '1.3.101.111',
} as const;

/** How a recipient is named: RecipientIdentifier / KeyAgreeRecipientIdentifier. */
export type RecipientIdentifier =
  | { kind: 'issuerSerial'; issuer: string; issuerKey: string; serial: string }
  | { kind: 'keyId'; keyId: string };

export type KeyTransportAlgorithm =
  | { scheme: 'rsa-pkcs1'; oid: string; name: string }
  | { scheme: 'rsa-oaep'; oid: string; name: string; hash: DigestName; mgf1Hash: DigestName; label: Buffer }
  | { scheme: 'unsupported'; oid: string; name: string; detail: string };

export type KeyAgreementAlgorithm =
  | {
      scheme: 'ecdh';
      oid: string;
      name: string;
      /** The KDF: ANSI X9.63 (RFC 5753) or HKDF (RFC 8418), with its digest. */
      kdf: 'x963' | 'hkdf';
      digest: DigestName;
      /** The wrap algorithm that protects the content-encryption key. */
      wrap: { oid: string; name: string; nodeName: string; keyLength: number; der: Buffer };
    }
  | { scheme: 'unsupported'; oid: string; name: string; detail: string };

export interface KeyTransRecipient {
  type: 'ktri';
  /** Position in recipientInfos. */
  index: number;
  rid: RecipientIdentifier;
  algorithm: KeyTransportAlgorithm;
  encryptedKey: Buffer;
}

export type Originator =
  | { kind: 'key'; algorithm: string; curve?: string; publicKey: Buffer }
  | { kind: 'certificate'; id: RecipientIdentifier };

export interface KeyAgreeRecipient {
  type: 'kari';
  index: number;
  originator: Originator;
  ukm?: Buffer;
  algorithm: KeyAgreementAlgorithm;
  recipients: { rid: RecipientIdentifier; encryptedKey: Buffer }[];
}

/** KEK, password and other recipients: listed so that nothing is silently dropped, never used. */
export interface OtherRecipient {
  type: 'kekri' | 'pwri' | 'ori';
  index: number;
}

export type RecipientInfo = KeyTransRecipient | KeyAgreeRecipient | OtherRecipient;

export interface Envelope {
  kind: 'enveloped' | 'auth-enveloped';
  version: number;
  recipients: RecipientInfo[];
  /** Type of the content once decrypted (id-data for S/MIME). */
  contentType: string;
  contentEncryption: { oid: string; name: string };
  /** The cipher with its parameters, or why it cannot be used. */
  cipher: ContentCipher | { unsupported: string };
  /** Null when the content is detached (not carried in the envelope). */
  encryptedContent: Buffer | null;
  /** AuthEnvelopedData: the authenticated attributes as the MAC covers them (DER SET OF), if any. */
  authAttributes: Buffer | null;
  /** AuthEnvelopedData: the message authentication code (the AEAD tag). */
  mac: Buffer | null;
  /** Certificates from originatorInfo (DER). */
  originatorCertificates: Buffer[];
}

const KEY_AGREEMENT: Record<string, { name: string; kdf: 'x963' | 'hkdf'; digest: DigestName }> = {
  '1.3.133.16.840.63.0.2': { name: 'dhSinglePass-stdDH-sha1kdf', kdf: 'x963', digest: 'sha1' },
  '1.3.132.1.11.0': { name: 'dhSinglePass-stdDH-sha224kdf', kdf: 'x963', digest: 'sha224' },
  '1.3.132.1.11.1': { name: 'dhSinglePass-stdDH-sha256kdf', kdf: 'x963', digest: 'sha256' },
  '1.3.132.1.11.2': { name: 'dhSinglePass-stdDH-sha384kdf', kdf: 'x963', digest: 'sha384' },
  '1.3.132.1.11.3': { name: 'dhSinglePass-stdDH-sha512kdf', kdf: 'x963', digest: 'sha512' },
  // Cofactor ECDH equals standard ECDH on the NIST prime curves (cofactor 1).
  '1.3.133.16.840.63.0.3': { name: 'dhSinglePass-cofactorDH-sha1kdf', kdf: 'x963', digest: 'sha1' },
  '1.3.132.1.14.0': { name: 'dhSinglePass-cofactorDH-sha224kdf', kdf: 'x963', digest: 'sha224' },
  '1.3.132.1.14.1': { name: 'dhSinglePass-cofactorDH-sha256kdf', kdf: 'x963', digest: 'sha256' },
  '1.3.132.1.14.2': { name: 'dhSinglePass-cofactorDH-sha384kdf', kdf: 'x963', digest: 'sha384' },
  '1.3.132.1.14.3': { name: 'dhSinglePass-cofactorDH-sha512kdf', kdf: 'x963', digest: 'sha512' },
  '1.2.840.113549.1.9.16.3.19': { name: 'dhSinglePass-stdDH-hkdf-sha256', kdf: 'hkdf', digest: 'sha256' },
  '1.2.840.113549.1.9.16.3.20': { name: 'dhSinglePass-stdDH-hkdf-sha384', kdf: 'hkdf', digest: 'sha384' },
  '1.2.840.113549.1.9.16.3.21': { name: 'dhSinglePass-stdDH-hkdf-sha512', kdf: 'hkdf', digest: 'sha512' },
};

const KEY_AGREEMENT_REFUSED: Record<string, string> = {
  '1.3.133.16.840.63.0.16': 'mqvSinglePass-sha1kdf',
  '1.3.132.1.15.0': 'mqvSinglePass-sha224kdf',
  '1.3.132.1.15.1': 'mqvSinglePass-sha256kdf',
  '1.3.132.1.15.2': 'mqvSinglePass-sha384kdf',
  '1.3.132.1.15.3': 'mqvSinglePass-sha512kdf',
  '1.2.840.113549.1.9.16.3.5': 'ESDH (X9.42 Diffie-Hellman)',
};

const KEY_WRAP: Record<string, { name: string; nodeName: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.5': { name: 'aes128-wrap', nodeName: 'id-aes128-wrap', keyLength: 16 },
  '2.16.840.1.101.3.4.1.25': { name: 'aes192-wrap', nodeName: 'id-aes192-wrap', keyLength: 24 },
  '2.16.840.1.101.3.4.1.45': { name: 'aes256-wrap', nodeName: 'id-aes256-wrap', keyLength: 32 },
  '2.16.840.1.101.3.4.1.8': { name: 'aes128-wrap-pad', nodeName: 'id-aes128-wrap-pad', keyLength: 16 },
  '2.16.840.1.101.3.4.1.28': { name: 'aes192-wrap-pad', nodeName: 'id-aes192-wrap-pad', keyLength: 24 },
  '2.16.840.1.101.3.4.1.48': { name: 'aes256-wrap-pad', nodeName: 'id-aes256-wrap-pad', keyLength: 32 },
};

const KEY_TRANSPORT_REFUSED: Record<string, string> = {
  '1.2.840.113549.1.1.10': 'RSASSA-PSS (a signature algorithm)',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption (a signature algorithm)',
};

/** Reads a CMS ContentInfo holding EnvelopedData or AuthEnvelopedData (DER or BER). */
export function readEnvelope(cms: Uint8Array, limits: Partial<EnvelopeLimits> = {}): Envelope {
  const lim: EnvelopeLimits = { ...DEFAULT_ENVELOPE_LIMITS, ...limits };
  if (!((cms as unknown) instanceof Uint8Array)) throw new EnvelopeError('input is not a byte buffer', 'not-cms');
  if (cms.length === 0) throw new EnvelopeError('CMS object is empty', 'not-cms');
  if (cms.length > lim.maxBytes) throw new EnvelopeError(`CMS object of ${cms.length} bytes exceeds the limit of ${lim.maxBytes}`, 'limit');
  const der = bytesView(cms);
  let contentType: string;
  let body: DerNode;
  try {
    const root = readRoot(der);
    if (root.tag !== TAG.SEQUENCE) throw new EnvelopeError('not a CMS ContentInfo (does not start with a SEQUENCE)', 'not-cms');
    const parts = children(der, root, 0, 3);
    contentType = oid(der, expectTag(parts[0], TAG.OID, 'contentType'));
    if (contentType !== OID.envelopedData && contentType !== OID.authEnvelopedData) {
      throw new EnvelopeError(`CMS content type ${contentType} is neither envelopedData nor authEnvelopedData`, 'not-enveloped');
    }
    const wrapper = expectTag(parts[1], 0xa0, 'ContentInfo content');
    body = readNode(der, wrapper.contentStart, wrapper.contentEnd);
  } catch (e) {
    if (e instanceof EnvelopeError) throw e;
    throw new EnvelopeError(`not a CMS ContentInfo (${(e as Error).message})`, 'not-cms');
  }
  const kind = contentType === OID.envelopedData ? 'enveloped' : 'auth-enveloped';
  try {
    return readBody(der, body, kind, lim);
  } catch (e) {
    if (e instanceof EnvelopeError) throw e;
    const what = kind === 'enveloped' ? 'EnvelopedData' : 'AuthEnvelopedData';
    throw new EnvelopeError(`${what} is malformed: ${e instanceof DerError || e instanceof Error ? e.message : String(e)}`, 'malformed');
  }
}

function readBody(der: Buffer, body: DerNode, kind: Envelope['kind'], lim: EnvelopeLimits): Envelope {
  const what = kind === 'enveloped' ? 'EnvelopedData' : 'AuthEnvelopedData';
  const parts = children(der, expectTag(body, TAG.SEQUENCE, what), 0, 8);
  let i = 0;
  const version = smallInteger(der, expectTag(parts[i++], TAG.INTEGER, 'version'));
  const originatorCertificates: Buffer[] = [];
  if (parts[i]?.tag === 0xa0) {
    // OriginatorInfo ::= SEQUENCE { certs [0] IMPLICIT CertificateSet OPTIONAL, crls [1] ... }
    for (const field of children(der, parts[i++]!)) {
      if (field.tag !== 0xa0) continue;
      for (const choice of children(der, field)) {
        if (choice.tag === TAG.SEQUENCE && originatorCertificates.length < lim.maxOriginatorCertificates) originatorCertificates.push(Buffer.from(bytes(der, choice)));
      }
    }
  }
  const recipientSet = expectTag(parts[i++], TAG.SET, 'recipientInfos');
  const recipients = readRecipients(der, recipientSet, lim);
  if (recipients.length === 0) throw new EnvelopeError(`${what} has no recipients`, 'malformed');

  const eci = children(der, expectTag(parts[i++], TAG.SEQUENCE, 'encryptedContentInfo'));
  const contentType = oid(der, expectTag(eci[0], TAG.OID, 'contentType'));
  const algNode = expectTag(eci[1], TAG.SEQUENCE, 'contentEncryptionAlgorithm');
  const algOid = oid(der, expectTag(children(der, algNode)[0], TAG.OID, 'contentEncryptionAlgorithm'));
  let encryptedContent: Buffer | null = null;
  if (eci[2]) {
    // [0] IMPLICIT OCTET STRING: primitive, or constructed in segments (BER senders such as gpgsm).
    if ((eci[2].tag & 0xdf) !== 0x80) throw new EnvelopeError(`${what}: encryptedContent is not [0]`, 'malformed');
    encryptedContent = Buffer.from(octets(der, eci[2]));
  }
  let cipher: Envelope['cipher'];
  try {
    cipher = readContentCipher(der, algNode);
  } catch (e) {
    if (!(e instanceof CipherError)) throw e;
    if (e.code === 'malformed') throw new EnvelopeError(`${what}: ${e.message}`, 'malformed');
    cipher = { unsupported: e.message };
  }

  let authAttributes: Buffer | null = null;
  let mac: Buffer | null = null;
  if (kind === 'enveloped') {
    if (parts[i]?.tag === 0xa1) i++; // unprotectedAttrs
    if (parts[i]) throw new EnvelopeError(`${what}: unexpected element after encryptedContentInfo`, 'malformed');
    if (!('unsupported' in cipher) && cipher.mode === 'aead') {
      // RFC 5084: GCM belongs in AuthEnvelopedData; in EnvelopedData nothing carries its tag.
      cipher = { unsupported: `${cipher.name} inside EnvelopedData (authenticated modes belong in AuthEnvelopedData)` };
    }
  } else {
    if (parts[i]?.tag === 0xa1) authAttributes = toDefinite(der, parts[i++]!, TAG.SET);
    mac = Buffer.from(content(der, expectTag(parts[i++], TAG.OCTET_STRING, 'mac')));
    if (parts[i]?.tag === 0xa2) i++; // unauthAttrs
    if (parts[i]) throw new EnvelopeError(`${what}: unexpected element after mac`, 'malformed');
    if (!('unsupported' in cipher) && cipher.mode !== 'aead') {
      cipher = { unsupported: `${cipher.name} inside AuthEnvelopedData (an authenticated mode such as AES-GCM is required)` };
    }
  }
  return {
    kind,
    version,
    recipients,
    contentType,
    contentEncryption: { oid: algOid, name: 'unsupported' in cipher ? cipherName(algOid) : cipher.name },
    cipher,
    encryptedContent,
    authAttributes,
    mac,
    originatorCertificates,
  };
}

function readRecipients(der: Buffer, set: DerNode, lim: EnvelopeLimits): RecipientInfo[] {
  const out: RecipientInfo[] = [];
  let named = 0;
  const count = (n: number): void => {
    named += n;
    if (named > lim.maxRecipients) throw new EnvelopeError(`more than ${lim.maxRecipients} recipients (limit)`, 'limit');
  };
  let p = set.contentStart;
  let index = 0;
  while (p < set.contentEnd) {
    const node = readNode(der, p, set.contentEnd, 1);
    p = node.end;
    count(1);
    const where = `recipientInfos[${index}]`;
    switch (node.tag) {
      case TAG.SEQUENCE:
        out.push(readKeyTrans(der, node, index, where));
        break;
      case 0xa1: {
        const kari = readKeyAgree(der, node, index, where);
        count(kari.recipients.length - 1);
        out.push(kari);
        break;
      }
      case 0xa2:
        out.push({ type: 'kekri', index });
        break;
      case 0xa3:
        out.push({ type: 'pwri', index });
        break;
      case 0xa4:
        out.push({ type: 'ori', index });
        break;
      default:
        throw new EnvelopeError(`${where} has unknown tag 0x${node.tag.toString(16)}`, 'malformed');
    }
    index++;
  }
  return out;
}

function readIssuerSerial(der: Buffer, node: DerNode): RecipientIdentifier {
  const [issuerNode, serialNode, extra] = children(der, expectTag(node, TAG.SEQUENCE, 'IssuerAndSerialNumber'));
  if (extra) throw new DerError('IssuerAndSerialNumber has extra elements');
  const name = readName(der, expectTag(issuerNode, TAG.SEQUENCE, 'issuer'));
  return { kind: 'issuerSerial', issuer: name.text, issuerKey: name.key, serial: integerHex(der, expectTag(serialNode, TAG.INTEGER, 'serialNumber')) };
}

function readKeyTrans(der: Buffer, node: DerNode, index: number, where: string): KeyTransRecipient {
  // KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }
  const parts = children(der, node, 1, 5);
  if (parts.length !== 4) throw new EnvelopeError(`${where}: KeyTransRecipientInfo has ${parts.length} elements, 4 expected`, 'malformed');
  smallInteger(der, expectTag(parts[0], TAG.INTEGER, `${where} version`));
  let rid: RecipientIdentifier;
  if (parts[1]!.tag === TAG.SEQUENCE) rid = readIssuerSerial(der, parts[1]!);
  else if (parts[1]!.tag === 0x80) rid = { kind: 'keyId', keyId: content(der, parts[1]!).toString('hex') };
  else throw new EnvelopeError(`${where}: unknown recipient identifier (tag 0x${parts[1]!.tag.toString(16)})`, 'malformed');
  const algorithm = readKeyTransportAlgorithm(der, expectTag(parts[2], TAG.SEQUENCE, `${where} keyEncryptionAlgorithm`));
  const encryptedKey = Buffer.from(octets(der, expectTag(parts[3], TAG.OCTET_STRING, `${where} encryptedKey`)));
  return { type: 'ktri', index, rid, algorithm, encryptedKey };
}

function hashOf(der: Buffer, alg: DerNode | undefined, what: string): DigestName {
  const id = oid(der, expectTag(children(der, expectTag(alg, TAG.SEQUENCE, what))[0], TAG.OID, what));
  const name = DIGEST_OIDS[id];
  if (!name) throw new CipherError(`${what} ${id} is not supported`, 'unsupported');
  return name;
}

function readKeyTransportAlgorithm(der: Buffer, alg: DerNode): KeyTransportAlgorithm {
  const parts = children(der, alg);
  const id = oid(der, expectTag(parts[0], TAG.OID, 'keyEncryptionAlgorithm'));
  if (id === OID.rsaEncryption) return { scheme: 'rsa-pkcs1', oid: id, name: 'RSAES-PKCS1-v1_5' };
  if (id === OID.rsaesOaep) {
    // RSAES-OAEP-params: [0] hash DEFAULT sha1, [1] MGF DEFAULT mgf1SHA1, [2] pSource DEFAULT empty label.
    try {
      let hash: DigestName = 'sha1';
      let mgf1Hash: DigestName = 'sha1';
      let label = Buffer.alloc(0);
      const params = parts[1] && parts[1].tag !== TAG.NULL ? children(der, expectTag(parts[1], TAG.SEQUENCE, 'RSAES-OAEP-params')) : [];
      for (const field of params) {
        const inner = readNode(der, field.contentStart, field.contentEnd);
        if (field.tag === 0xa0) hash = hashOf(der, inner, 'OAEP hash');
        else if (field.tag === 0xa1) {
          const mgf = children(der, expectTag(inner, TAG.SEQUENCE, 'maskGenAlgorithm'));
          const mgfOid = oid(der, expectTag(mgf[0], TAG.OID, 'maskGenAlgorithm'));
          if (mgfOid !== OID.mgf1) throw new CipherError(`OAEP mask generation ${mgfOid} is not supported (only MGF1)`, 'unsupported');
          mgf1Hash = hashOf(der, mgf[1], 'MGF1 hash');
        } else if (field.tag === 0xa2) {
          const src = children(der, expectTag(inner, TAG.SEQUENCE, 'pSourceAlgorithm'));
          if (oid(der, expectTag(src[0], TAG.OID, 'pSourceAlgorithm')) !== OID.pSpecified) throw new CipherError('OAEP label source is not pSpecified', 'unsupported');
          label = Buffer.from(content(der, expectTag(src[1], TAG.OCTET_STRING, 'OAEP label')));
        }
      }
      const name = `RSAES-OAEP (${hash}${mgf1Hash === hash ? '' : `, MGF1 ${mgf1Hash}`})`;
      return { scheme: 'rsa-oaep', oid: id, name, hash, mgf1Hash, label };
    } catch (e) {
      return { scheme: 'unsupported', oid: id, name: 'RSAES-OAEP', detail: e instanceof Error ? e.message : String(e) };
    }
  }
  const known = KEY_TRANSPORT_REFUSED[id];
  return { scheme: 'unsupported', oid: id, name: known ?? id, detail: `key transport ${known ?? id} is not supported` };
}

function readKeyAgree(der: Buffer, node: DerNode, index: number, where: string): KeyAgreeRecipient {
  // KeyAgreeRecipientInfo ::= SEQUENCE { version, originator [0] EXPLICIT, ukm [1] EXPLICIT OPTIONAL,
  //   keyEncryptionAlgorithm, recipientEncryptedKeys }
  const parts = children(der, node, 1, 6);
  let i = 0;
  smallInteger(der, expectTag(parts[i++], TAG.INTEGER, `${where} version`));
  const origWrapper = expectTag(parts[i++], 0xa0, `${where} originator`);
  const orig = readNode(der, origWrapper.contentStart, origWrapper.contentEnd);
  let originator: Originator;
  if (orig.tag === 0xa1) {
    // OriginatorPublicKey ::= SEQUENCE { algorithm AlgorithmIdentifier, publicKey BIT STRING } ([1] IMPLICIT)
    const [algNode, keyNode] = children(der, orig);
    const alg = children(der, expectTag(algNode, TAG.SEQUENCE, 'originator key algorithm'));
    const algorithm = oid(der, expectTag(alg[0], TAG.OID, 'originator key algorithm'));
    const curve = alg[1]?.tag === TAG.OID ? oid(der, alg[1]) : undefined;
    const bits = bitString(der, expectTag(keyNode, TAG.BIT_STRING, 'originator public key'));
    if (bits.unused !== 0) throw new EnvelopeError(`${where}: originator public key has unused bits`, 'malformed');
    originator = { kind: 'key', algorithm, publicKey: Buffer.from(bits.bytes), ...(curve ? { curve } : {}) };
  } else if (orig.tag === TAG.SEQUENCE) {
    originator = { kind: 'certificate', id: readIssuerSerial(der, orig) };
  } else if (orig.tag === 0x80) {
    originator = { kind: 'certificate', id: { kind: 'keyId', keyId: content(der, orig).toString('hex') } };
  } else {
    throw new EnvelopeError(`${where}: unknown originator (tag 0x${orig.tag.toString(16)})`, 'malformed');
  }
  let ukm: Buffer | undefined;
  if (parts[i]?.tag === 0xa1) {
    const w = parts[i++]!;
    ukm = Buffer.from(octets(der, expectTag(readNode(der, w.contentStart, w.contentEnd), TAG.OCTET_STRING, 'ukm')));
  }
  const algorithm = readKeyAgreementAlgorithm(der, expectTag(parts[i++], TAG.SEQUENCE, `${where} keyEncryptionAlgorithm`));
  const recipients: KeyAgreeRecipient['recipients'] = [];
  for (const rek of children(der, expectTag(parts[i++], TAG.SEQUENCE, `${where} recipientEncryptedKeys`))) {
    const [ridNode, keyNode] = children(der, expectTag(rek, TAG.SEQUENCE, 'RecipientEncryptedKey'));
    let rid: RecipientIdentifier;
    if (ridNode?.tag === TAG.SEQUENCE) rid = readIssuerSerial(der, ridNode);
    else if (ridNode?.tag === 0xa0) {
      // rKeyId [0] IMPLICIT RecipientKeyIdentifier ::= SEQUENCE { subjectKeyIdentifier, date OPTIONAL, other OPTIONAL }
      const rk = children(der, ridNode);
      rid = { kind: 'keyId', keyId: content(der, expectTag(rk[0], TAG.OCTET_STRING, 'subjectKeyIdentifier')).toString('hex') };
    } else throw new EnvelopeError(`${where}: unknown recipient identifier in recipientEncryptedKeys`, 'malformed');
    recipients.push({ rid, encryptedKey: Buffer.from(octets(der, expectTag(keyNode, TAG.OCTET_STRING, 'encryptedKey'))) });
  }
  if (parts[i]) throw new EnvelopeError(`${where}: unexpected element after recipientEncryptedKeys`, 'malformed');
  if (recipients.length === 0) throw new EnvelopeError(`${where}: KeyAgreeRecipientInfo without recipientEncryptedKeys`, 'malformed');
  return { type: 'kari', index, originator, ...(ukm ? { ukm } : {}), algorithm, recipients };
}

function readKeyAgreementAlgorithm(der: Buffer, alg: DerNode): KeyAgreementAlgorithm {
  const parts = children(der, alg);
  const id = oid(der, expectTag(parts[0], TAG.OID, 'keyEncryptionAlgorithm'));
  const known = KEY_AGREEMENT[id];
  if (!known) {
    const name = KEY_AGREEMENT_REFUSED[id] ?? id;
    return { scheme: 'unsupported', oid: id, name, detail: `key agreement ${name} is not supported` };
  }
  try {
    // The parameter is the KeyWrapAlgorithm; it also goes into the KDF's shared info.
    const wrapNode = expectTag(parts[1], TAG.SEQUENCE, 'KeyWrapAlgorithm');
    const wrapOid = oid(der, expectTag(children(der, wrapNode)[0], TAG.OID, 'KeyWrapAlgorithm'));
    const wrap = KEY_WRAP[wrapOid];
    if (!wrap) {
      const name = wrapOid === '1.2.840.113549.1.9.16.3.6' ? 'CMS 3DES key wrap' : wrapOid;
      return { scheme: 'unsupported', oid: id, name: known.name, detail: `key wrap ${name} is not supported` };
    }
    return { scheme: 'ecdh', oid: id, name: known.name, kdf: known.kdf, digest: known.digest, wrap: { oid: wrapOid, ...wrap, der: Buffer.from(bytes(der, wrapNode)) } };
  } catch (e) {
    return { scheme: 'unsupported', oid: id, name: known.name, detail: `unreadable parameters: ${(e as Error).message}` };
  }
}

// ---- matching recipients to certificates -----------------------------------------------------

/** Whether a recipient identifier names this certificate (issuer and serial, or its key identifier). */
export function recipientMatches(rid: RecipientIdentifier, cert: Certificate): boolean {
  if (rid.kind === 'issuerSerial') return rid.serial === cert.serial && rid.issuerKey === cert.issuerKey;
  // Senders take the certificate's SKI extension; without one, RFC 5280 method 1 (SHA-1 of the key).
  return rid.keyId === cert.subjectKeyIdentifier || rid.keyId === cert.keyHash;
}

export function describeRecipient(rid: RecipientIdentifier): string {
  return rid.kind === 'issuerSerial' ? `issuer "${rid.issuer}", serial ${rid.serial}` : `subject key identifier ${rid.keyId}`;
}

/** Every recipient identifier of an envelope with the recipient info it sits in. */
export function recipientIdentifiers(env: Envelope): { rid: RecipientIdentifier; info: KeyTransRecipient | KeyAgreeRecipient; encryptedKey: Buffer }[] {
  const out: { rid: RecipientIdentifier; info: KeyTransRecipient | KeyAgreeRecipient; encryptedKey: Buffer }[] = [];
  for (const r of env.recipients) {
    if (r.type === 'ktri') out.push({ rid: r.rid, info: r, encryptedKey: r.encryptedKey });
    else if (r.type === 'kari') for (const k of r.recipients) out.push({ rid: k.rid, info: r, encryptedKey: k.encryptedKey });
  }
  return out;
}

export interface RecipientMatch {
  /** Indexes into the certificates given that the envelope names, ascending. */
  named: number[];
  /** Recipient identifiers that name none of the certificates given. */
  unmatched: RecipientIdentifier[];
  /** KEK, password and other recipients, which name no certificate. */
  otherRecipients: number;
}

/**
 * Which of `certificatesDer` the envelope is encrypted to. Needs no private key. A certificate
 * that does not parse is never named. Throws EnvelopeError when `cms` is not a readable envelope.
 */
export function envelopeRecipientsMatch(cms: Uint8Array | Envelope, certificatesDer: readonly Uint8Array[]): RecipientMatch {
  const env = cms instanceof Uint8Array ? readEnvelope(cms) : cms;
  const certs = certificatesDer.map((d) => {
    const c = tryParseCertificate(d);
    return 'error' in c ? null : c;
  });
  const named = new Set<number>();
  const unmatched: RecipientIdentifier[] = [];
  for (const { rid } of recipientIdentifiers(env)) {
    let hit = false;
    certs.forEach((c, n) => {
      if (c && recipientMatches(rid, c)) {
        named.add(n);
        hit = true;
      }
    });
    if (!hit) unmatched.push(rid);
  }
  return {
    named: [...named].sort((a, b) => a - b),
    unmatched,
    otherRecipients: env.recipients.filter((r) => r.type !== 'ktri' && r.type !== 'kari').length,
  };
}
