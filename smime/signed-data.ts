// CMS ContentInfo and SignedData (RFC 5652) read with the lean DER walker:
// offsets and slices, no object model. DER and the BER that real senders emit
// (Bouncy Castle and gpgsm write indefinite lengths and chunked eContent) are
// both accepted. Counts are bounded by the caller's limits; a structure that
// breaks a rule throws CmsError with a precise message.

import {
  bytes,
  children,
  DerError,
  expectTag,
  integerHex,
  octets,
  oid,
  readNode,
  smallInteger,
  TAG,
  time,
  toDefinite,
  type DerNode,
} from './der.js';
import { readName } from './certificate.js';

export class CmsError extends Error {
  override name = 'CmsError';
}

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  compressedData: '1.2.840.113549.1.9.16.1.9',
  zlib: '1.2.840.113549.1.9.16.3.8',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
} as const;

export interface ContentInfo {
  der: Buffer;
  contentType: string;
  /** The [0] EXPLICIT content's inner element. */
  content: DerNode | null;
}

export function readContentInfo(der: Buffer): ContentInfo {
  try {
    const root = readNode(der, 0);
    if (root.tag !== TAG.SEQUENCE) throw new CmsError('not a CMS ContentInfo (no SEQUENCE)');
    const parts = children(der, root);
    const contentType = oid(der, expectTag(parts[0], TAG.OID, 'contentType'));
    let content: DerNode | null = null;
    if (parts[1]) {
      if (parts[1].tag !== 0xa0) throw new CmsError('ContentInfo content is not [0]');
      content = readNode(der, parts[1].contentStart, parts[1].contentEnd);
    }
    return { der, contentType, content };
  } catch (e) {
    throw asCmsError(e);
  }
}

export type SignerId = { kind: 'issuerSerial'; issuer: string; issuerKey: string; serial: string } | { kind: 'keyId'; keyId: string };

export interface SignedAttributes {
  /** The attributes as the signature covers them: a definite-length SET OF (tag 0x31). */
  encoded: Buffer;
  contentType?: string;
  messageDigest?: Buffer;
  signingTime?: Date;
  /** Structural faults (duplicate attributes, wrong value counts). */
  faults: string[];
}

export interface SignerInfo {
  version: number;
  sid: SignerId;
  digestAlgorithm: string;
  signedAttrs: SignedAttributes | null;
  /** SignatureAlgorithm element (in `SignedData.der`). */
  signatureAlgorithm: DerNode;
  signature: Buffer;
}

export interface SignedData {
  der: Buffer;
  eContentType: string;
  /** Encapsulated content; null for a detached signature. */
  eContent: Buffer | null;
  certificates: Buffer[];
  /** Certificates beyond the limit (not parsed). */
  certificatesOmitted: number;
  crls: Buffer[];
  signerInfos: SignerInfo[];
  /** SignerInfos present in total (signerInfos holds at most `maxSigners`). */
  signerCount: number;
}

export interface SignedDataLimits {
  maxSigners: number;
  maxCertificates: number;
  maxCrls: number;
  maxAttributes: number;
}

/** Parses a ContentInfo that must hold SignedData. */
export function readSignedData(der: Buffer, limits: SignedDataLimits): SignedData {
  const ci = readContentInfo(der);
  if (ci.contentType !== OID.signedData) throw new CmsError(`CMS content type ${ci.contentType} is not signedData`);
  if (!ci.content) throw new CmsError('signedData without content');
  try {
    return readSignedDataBody(der, ci.content, limits);
  } catch (e) {
    throw asCmsError(e);
  }
}

function readSignedDataBody(der: Buffer, sd: DerNode, limits: SignedDataLimits): SignedData {
  expectTag(sd, TAG.SEQUENCE, 'SignedData');
  const parts = children(der, sd, 0, 16);
  let i = 0;
  smallInteger(der, expectTag(parts[i++], TAG.INTEGER, 'SignedData version'));
  expectTag(parts[i++], TAG.SET, 'digestAlgorithms');
  const encap = children(der, expectTag(parts[i++], TAG.SEQUENCE, 'encapContentInfo'));
  const eContentType = oid(der, expectTag(encap[0], TAG.OID, 'eContentType'));
  let eContent: Buffer | null = null;
  if (encap[1]) {
    if (encap[1].tag !== 0xa0) throw new CmsError('eContent is not [0]');
    const inner = readNode(der, encap[1].contentStart, encap[1].contentEnd);
    if ((inner.tag & 0xdf) !== TAG.OCTET_STRING) throw new CmsError('eContent is not an OCTET STRING');
    eContent = octets(der, inner);
  }

  const certificates: Buffer[] = [];
  let certificatesOmitted = 0;
  const crls: Buffer[] = [];
  if (parts[i]?.tag === 0xa0) {
    for (const choice of children(der, parts[i++]!)) {
      // Only plain certificates; attribute and "other" certificates are not used for paths.
      if (choice.tag !== TAG.SEQUENCE) continue;
      if (certificates.length >= limits.maxCertificates) certificatesOmitted++;
      else certificates.push(bytes(der, choice));
    }
  }
  if (parts[i]?.tag === 0xa1) {
    for (const choice of children(der, parts[i++]!)) {
      if (choice.tag === TAG.SEQUENCE && crls.length < limits.maxCrls) crls.push(bytes(der, choice));
    }
  }
  const signerSet = expectTag(parts[i++], TAG.SET, 'signerInfos');
  if (parts[i]) throw new CmsError('unexpected element after signerInfos');

  const signerInfos: SignerInfo[] = [];
  let signerCount = 0;
  let p = signerSet.contentStart;
  while (p < signerSet.contentEnd) {
    const node = readNode(der, p, signerSet.contentEnd, 1);
    p = node.end;
    signerCount++;
    if (signerCount > 10_000) throw new CmsError('absurd number of signerInfos');
    if (signerInfos.length < limits.maxSigners) signerInfos.push(readSignerInfo(der, node, limits));
  }
  return { der, eContentType, eContent, certificates, certificatesOmitted, crls, signerInfos, signerCount };
}

function readSignerInfo(der: Buffer, node: DerNode, limits: SignedDataLimits): SignerInfo {
  const parts = children(der, expectTag(node, TAG.SEQUENCE, 'SignerInfo'), 2, 16);
  let i = 0;
  const version = smallInteger(der, expectTag(parts[i++], TAG.INTEGER, 'SignerInfo version'));
  const sidNode = parts[i++];
  let sid: SignerId;
  if (sidNode?.tag === TAG.SEQUENCE) {
    const [issuerNode, serialNode] = children(der, sidNode);
    const name = readName(der, expectTag(issuerNode, TAG.SEQUENCE, 'issuer'));
    sid = { kind: 'issuerSerial', issuer: name.text, issuerKey: name.key, serial: integerHex(der, expectTag(serialNode, TAG.INTEGER, 'serialNumber')) };
  } else if (sidNode?.tag === 0x80 || sidNode?.tag === 0xa0) {
    sid = { kind: 'keyId', keyId: octets(der, sidNode).toString('hex') };
  } else {
    throw new CmsError('SignerInfo without a usable signer identifier');
  }
  const digestAlg = children(der, expectTag(parts[i++], TAG.SEQUENCE, 'digestAlgorithm'));
  const digestAlgorithm = oid(der, expectTag(digestAlg[0], TAG.OID, 'digestAlgorithm'));
  let signedAttrs: SignedAttributes | null = null;
  if (parts[i]?.tag === 0xa0) signedAttrs = readSignedAttributes(der, parts[i++]!, limits);
  const signatureAlgorithm = expectTag(parts[i++], TAG.SEQUENCE, 'signatureAlgorithm');
  expectTag(children(der, signatureAlgorithm)[0], TAG.OID, 'signatureAlgorithm');
  const sigNode = parts[i++];
  if (!sigNode || (sigNode.tag & 0xdf) !== TAG.OCTET_STRING) throw new CmsError('SignerInfo without a signature OCTET STRING');
  const signature = octets(der, sigNode);
  if (parts[i] && parts[i]!.tag !== 0xa1) throw new CmsError('unexpected element in SignerInfo');
  return { version, sid, digestAlgorithm, signedAttrs, signatureAlgorithm, signature };
}

function readSignedAttributes(der: Buffer, node: DerNode, limits: SignedDataLimits): SignedAttributes {
  // The signature covers the attributes with a SET OF tag (RFC 5652 5.4).
  const encoded = toDefinite(der, node, TAG.SET);
  const attrs: SignedAttributes = { encoded, faults: [] };
  const seen: string[] = [];
  const list = children(der, node, 2, limits.maxAttributes);
  for (const attr of list) {
    const [typeNode, valuesNode] = children(der, expectTag(attr, TAG.SEQUENCE, 'Attribute'));
    const type = oid(der, expectTag(typeNode, TAG.OID, 'attrType'));
    const values = children(der, expectTag(valuesNode, TAG.SET, 'attrValues'));
    if (seen.includes(type)) attrs.faults.push(`attribute ${type} appears twice`);
    seen.push(type);
    if (type !== OID.contentType && type !== OID.messageDigest && type !== OID.signingTime) continue;
    if (values.length !== 1) {
      attrs.faults.push(`attribute ${type} must have exactly one value, has ${values.length}`);
      continue;
    }
    const v = values[0]!;
    if (type === OID.contentType) {
      attrs.contentType = oid(der, expectTag(v, TAG.OID, 'content-type value'));
    } else if (type === OID.messageDigest) {
      attrs.messageDigest = octets(der, expectTag(v, TAG.OCTET_STRING, 'message-digest value'));
    } else {
      try {
        attrs.signingTime = time(der, v);
      } catch (e) {
        attrs.faults.push(`signing-time unreadable: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  return attrs;
}

function asCmsError(e: unknown): Error {
  if (e instanceof CmsError) return e;
  if (e instanceof DerError) return new CmsError(e.message);
  return new CmsError(e instanceof Error ? e.message : String(e));
}

/** The encapsulated content of a CompressedData ContentInfo (zlib, RFC 3274), still compressed. */
export function readCompressedData(der: Buffer): { algorithm: string; eContentType: string; compressed: Buffer } {
  const ci = readContentInfo(der);
  if (ci.contentType !== OID.compressedData || !ci.content) throw new CmsError('not CompressedData');
  try {
    const parts = children(der, expectTag(ci.content, TAG.SEQUENCE, 'CompressedData'));
    const algorithm = oid(der, children(der, expectTag(parts[1], TAG.SEQUENCE, 'compressionAlgorithm'))[0]!);
    const encap = children(der, expectTag(parts[2], TAG.SEQUENCE, 'encapContentInfo'));
    const eContentType = oid(der, expectTag(encap[0], TAG.OID, 'eContentType'));
    if (!encap[1] || encap[1].tag !== 0xa0) throw new CmsError('CompressedData without content');
    const inner = readNode(der, encap[1].contentStart, encap[1].contentEnd);
    return { algorithm, eContentType, compressed: octets(der, inner) };
  } catch (e) {
    throw asCmsError(e);
  }
}
