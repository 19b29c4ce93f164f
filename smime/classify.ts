// Decides which kind of S/MIME a message is from its top-level MIME headers,
// falling back on the CMS ContentInfo inside the body when the headers are
// missing or wrong (old clients send `application/octet-stream; name=smime.p7m`
// or omit smime-type). Only the top-level entity counts: that is what the EAS
// MessageClass describes. Never throws; work is bounded by the header limit and
// by sniffing at most SNIFF_BASE64_BYTES of the body.

import * as asn1js from 'asn1js';
import {
  DEFAULT_MAX_HEADER_BYTES,
  findHeaderEnd,
  firstHeader,
  parseHeaderFields,
  parseStructuredValue,
  splitMultipart,
  type HeaderField,
} from './mime-split.js';
import { bytesView } from './der.js';

export type SmimeKind =
  | 'clear-signed'
  | 'opaque-signed'
  | 'enveloped'
  | 'auth-enveloped'
  | 'certs-only'
  | 'compressed'
  | 'none';

export interface SmimeClassification {
  kind: SmimeKind;
  /**
   * What decided the kind: the MIME headers, the CMS content type read from the
   * body, or nothing S/MIME-like at all.
   */
  source: 'header' | 'sniff' | 'none';
  /**
   * Set (with a reason) when the message claims S/MIME but its structure is
   * inconsistent: smime-type contradicting the CMS body, an unreadable body, a
   * multipart/signed without protocol. `kind` is then the best available guess
   * (the body wins over the headers when the body is readable).
   */
  malformed?: string;
  /** The ContentInfo contentType OID, when the body was sniffed successfully. */
  cmsContentType?: string;
}

/** Base64 characters looked at when sniffing; enough for the CMS headers and most certs-only bags. */
export const SNIFF_BASE64_BYTES = 16 * 1024;

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const OID_AUTH_ENVELOPED_DATA = '1.2.840.113549.1.9.16.1.23';
const OID_COMPRESSED_DATA = '1.2.840.113549.1.9.16.1.9';

const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const PKCS7_MIME_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);
const P7_FILE_NAME = /\.p7[mcz]$/i;

const DECLARED_KINDS: Record<string, SmimeKind> = {
  'signed-data': 'opaque-signed',
  'enveloped-data': 'enveloped',
  'authenveloped-data': 'auth-enveloped',
  'certs-only': 'certs-only',
  'compressed-data': 'compressed',
};

export function classifyMime(raw: Buffer): SmimeKind {
  return classifyMimeDetailed(raw).kind;
}

export function classifyMimeDetailed(raw: Buffer, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES): SmimeClassification {
  try {
    if (!raw || typeof raw.length !== 'number') return NONE;
    const hb = findHeaderEnd(raw, maxHeaderBytes);
    if (!hb) return { ...NONE, malformed: 'header block exceeds the size limit' };
    const { fields } = parseHeaderFields(raw.toString('latin1', 0, hb.headerEnd));
    return classifyParsed(fields, raw.subarray(hb.bodyStart));
  } catch {
    return { ...NONE, malformed: 'unexpected failure while classifying' };
  }
}

/**
 * The same decision for a caller that already split the top-level header
 * fields from the body (the mail parser does), to avoid a second header scan.
 */
export function classifyParsed(fields: ReadonlyArray<HeaderField>, body: Uint8Array): SmimeClassification {
  try {
    return decide(fields, body);
  } catch {
    return { ...NONE, malformed: 'unexpected failure while classifying' };
  }
}

export function messageClassFor(kind: SmimeKind): string {
  switch (kind) {
    case 'clear-signed':
      return 'IPM.Note.SMIME.MultipartSigned';
    case 'enveloped':
    case 'auth-enveloped':
    case 'opaque-signed':
    case 'compressed':
      return 'IPM.Note.SMIME';
    default:
      return 'IPM.Note';
  }
}

const NONE: SmimeClassification = Object.freeze({ kind: 'none', source: 'none' }) as SmimeClassification;

function decide(fields: ReadonlyArray<HeaderField>, body: Uint8Array): SmimeClassification {
  const ct = parseStructuredValue(firstHeader(fields, 'content-type') ?? 'text/plain');
  if (ct.value === 'multipart/signed') return decideMultipartSigned(ct.params, body);

  const cte = (firstHeader(fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  if (PKCS7_MIME_TYPES.has(ct.value)) {
    const declared = DECLARED_KINDS[(ct.params.get('smime-type') ?? '').trim().toLowerCase()];
    return reconcile(declared, sniffBody(body, cte));
  }

  const disposition = parseStructuredValue(firstHeader(fields, 'content-disposition') ?? '');
  const fileName = disposition.params.get('filename') ?? ct.params.get('name') ?? '';
  if (ct.value === 'application/octet-stream' && P7_FILE_NAME.test(fileName.trim())) {
    const sniffed = sniffBody(body, cte);
    if (!sniffed.ok) return { ...NONE, malformed: `${fileName.trim()} is not a readable CMS object` };
    return fromSniff(sniffed, 'sniff');
  }
  return NONE;
}

function decideMultipartSigned(params: Map<string, string>, body: Uint8Array): SmimeClassification {
  const protocol = (params.get('protocol') ?? '').trim().toLowerCase();
  if (SIGNATURE_TYPES.has(protocol)) return { kind: 'clear-signed', source: 'header' };
  if (protocol) return NONE; // PGP/MIME or another signature scheme: not ours.
  // Without protocol, the signature part's own Content-Type is the only evidence.
  const split = splitMultipart(body, params.get('boundary') ?? '', 2);
  const sigPart = split.parts[1];
  if (!sigPart) return { ...NONE, malformed: 'multipart/signed without protocol or signature part' };
  const hb = findHeaderEnd(body.subarray(sigPart.start, sigPart.end), 64 * 1024);
  if (!hb) return NONE;
  const partFields = parseHeaderFields(bytesView(body, sigPart.start, hb.headerEnd).toString('latin1')).fields;
  const partType = parseStructuredValue(firstHeader(partFields, 'content-type') ?? '');
  const partName = partType.params.get('name') ?? '';
  if (SIGNATURE_TYPES.has(partType.value) || (partType.value === 'application/octet-stream' && /\.p7s$/i.test(partName.trim()))) {
    return { kind: 'clear-signed', source: 'header', malformed: 'multipart/signed without protocol parameter' };
  }
  return NONE;
}

function reconcile(declared: SmimeKind | undefined, sniffed: CmsSniff): SmimeClassification {
  if (!sniffed.ok) {
    if (!declared) return { ...NONE, malformed: `application/pkcs7-mime body is not a readable CMS object (${sniffed.reason})` };
    return { kind: declared, source: 'header', malformed: `body is not a readable CMS object (${sniffed.reason})` };
  }
  const result = fromSniff(sniffed, declared ? 'header' : 'sniff');
  if (!declared || result.kind === declared) return result;
  // RFC 8551 wants smime-type=certs-only, but many tools label a signer-less bag signed-data.
  if (declared === 'opaque-signed' && result.kind === 'certs-only') return result;
  return { ...result, source: 'sniff', malformed: result.malformed ?? `smime-type says ${declared} but the body is ${result.kind}` };
}

function fromSniff(sniffed: SniffOk, source: 'header' | 'sniff'): SmimeClassification {
  const base = { source, cmsContentType: sniffed.oid };
  switch (sniffed.oid) {
    case OID_SIGNED_DATA:
      return { ...base, kind: sniffed.noSigners ? 'certs-only' : 'opaque-signed' };
    case OID_ENVELOPED_DATA:
      return { ...base, kind: 'enveloped' };
    case OID_AUTH_ENVELOPED_DATA:
      return { ...base, kind: 'auth-enveloped' };
    case OID_COMPRESSED_DATA:
      return { ...base, kind: 'compressed' };
    default:
      return { ...base, kind: 'none', source: 'none', malformed: `unsupported CMS content type ${sniffed.oid}` };
  }
}

// ---- CMS sniffing ---------------------------------------------------------

export interface SniffOk {
  ok: true;
  oid: string;
  /** For signedData: no SignerInfo (certs-only). */
  noSigners: boolean;
}
export type CmsSniff = SniffOk | { ok: false; reason: string };

function sniffBody(body: Uint8Array, cte: string): CmsSniff {
  const der = bodyPrefixAsDer(body, cte);
  if (der.length === 0) return { ok: false, reason: 'empty body' };
  return sniffCms(der);
}

function bodyPrefixAsDer(body: Uint8Array, cte: string): Uint8Array {
  let start = 0;
  while (start < body.length && (body[start] === 0x0d || body[start] === 0x0a || body[start] === 0x20 || body[start] === 0x09)) start++;
  // Binary DER sent as 8bit/binary (some gateways do): SEQUENCE tag first.
  if (cte !== 'base64' && body[start] === 0x30) return body.subarray(start, start + SNIFF_BASE64_BYTES);
  return decodeBase64Prefix(body.subarray(start, start + SNIFF_BASE64_BYTES));
}

/** Decodes whole base64 quanta, skipping line breaks and PEM armour lines, stopping at padding. */
function decodeBase64Prefix(text: Uint8Array): Uint8Array {
  let chars = '';
  let lineStart = true;
  let skipLine = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === 0x0a) {
      lineStart = true;
      skipLine = false;
      continue;
    }
    if (lineStart && c === 0x2d) skipLine = true; // "-----BEGIN PKCS7-----" or a MIME boundary
    lineStart = false;
    if (skipLine) continue;
    if (c === 0x3d) break;
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f) {
      chars += String.fromCharCode(c);
    }
  }
  return Buffer.from(chars.slice(0, chars.length - (chars.length % 4)), 'base64');
}

interface Tlv {
  /** First identifier octet (class, constructed bit, low tag number). */
  id: number;
  valueStart: number;
  /** Content length, or -1 for BER indefinite length. */
  length: number;
  start: number;
}

function readTlv(buf: Uint8Array, off: number): Tlv | null {
  if (off < 0 || off + 2 > buf.length) return null;
  const id = buf[off]!;
  let p = off + 1;
  if ((id & 0x1f) === 0x1f) {
    // High tag number: never used by the structures we look at, but skippable.
    let n = 0;
    while (p < buf.length && buf[p]! & 0x80) {
      if (++n > 4) return null;
      p++;
    }
    p++;
  }
  if (p >= buf.length) return null;
  const first = buf[p++]!;
  if (first < 0x80) return { id, start: off, valueStart: p, length: first };
  if (first === 0x80) return id & 0x20 ? { id, start: off, valueStart: p, length: -1 } : null;
  const n = first & 0x7f;
  if (n > 4 || p + n > buf.length) return null;
  let length = 0;
  for (let k = 0; k < n; k++) length = length * 256 + buf[p + k]!;
  return { id, start: off, valueStart: p + n, length };
}

/** Offset just past the element; may lie beyond the buffer when it was cut. Null when unreadable. */
function endOf(buf: Uint8Array, tlv: Tlv, depth = 0): number | null {
  if (tlv.length >= 0) return tlv.valueStart + tlv.length;
  if (depth > 32) return null;
  let p = tlv.valueStart;
  for (;;) {
    if (p + 1 < buf.length && buf[p] === 0 && buf[p + 1] === 0) return p + 2;
    const child = readTlv(buf, p);
    if (!child) return null;
    const end = endOf(buf, child, depth + 1);
    if (end === null || end > buf.length) return null;
    p = end;
  }
}

function isEmpty(buf: Uint8Array, tlv: Tlv): boolean {
  return tlv.length === 0 || (tlv.length < 0 && buf[tlv.valueStart] === 0 && buf[tlv.valueStart + 1] === 0);
}

function decodeOid(buf: Uint8Array, tlv: Tlv): string | null {
  const end = tlv.valueStart + tlv.length;
  if (tlv.id !== 0x06 || tlv.length < 1 || tlv.length > 64 || end > buf.length) return null;
  const parsed = asn1js.fromBER(Uint8Array.from(buf.subarray(tlv.start, end)));
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.ObjectIdentifier)) return null;
  const text = parsed.result.valueBlock.toString();
  return /^\d+(\.\d+)+$/.test(text) ? text : null;
}

/**
 * Reads ContentInfo.contentType and, for signedData, whether there are
 * signers. Works on a prefix of the DER: when the signerInfos SET lies beyond
 * the prefix, an empty digestAlgorithms SET (what certs-only bags carry, RFC
 * 8551 3.8) stands in for "no signers".
 */
export function sniffCms(der: Uint8Array): CmsSniff {
  const outer = readTlv(der, 0);
  if (!outer || outer.id !== 0x30) return { ok: false, reason: 'not a DER SEQUENCE' };
  const oidTlv = readTlv(der, outer.valueStart);
  if (!oidTlv) return { ok: false, reason: 'truncated ContentInfo' };
  const oid = decodeOid(der, oidTlv);
  if (!oid) return { ok: false, reason: 'no contentType OID' };
  if (oid !== OID_SIGNED_DATA) return { ok: true, oid, noSigners: false };
  return { ok: true, oid, noSigners: signedDataHasNoSigners(der, oidTlv.valueStart + oidTlv.length) };
}

function signedDataHasNoSigners(der: Uint8Array, afterOid: number): boolean {
  const explicit = readTlv(der, afterOid);
  if (!explicit || explicit.id !== 0xa0) return false;
  const sd = readTlv(der, explicit.valueStart);
  if (!sd || sd.id !== 0x30) return false;
  const version = readTlv(der, sd.valueStart);
  if (!version || version.id !== 0x02) return false;
  const digests = readTlv(der, version.valueStart + version.length);
  if (!digests || digests.id !== 0x31) return false;
  const noDigests = isEmpty(der, digests);
  let p = endOf(der, digests);
  const encap = p === null ? null : readTlv(der, p);
  if (!encap || encap.id !== 0x30) return noDigests;
  p = endOf(der, encap);
  for (let k = 0; k < 3 && p !== null; k++) {
    const next = readTlv(der, p);
    if (!next) return noDigests;
    if (next.id === 0xa0 || next.id === 0xa1) {
      p = endOf(der, next);
      continue;
    }
    if (next.id === 0x31) return isEmpty(der, next);
    return noDigests;
  }
  return noDigests;
}
