// X.509 CRLs (RFC 5280 section 5), read with the lean DER walker. A CRL is
// only evidence once its signature is checked against the issuing CA; that is
// the trust store's job. Here: structure, scope and the revoked serials.

import crypto from 'node:crypto';
import {
  bitString,
  bool,
  bytes,
  children,
  content,
  DerError,
  expectTag,
  integerHex,
  oid,
  readNode,
  readRoot,
  smallInteger,
  TAG,
  time,
  type DerNode,
} from './der.js';
import { looksLikePem, pemBlocks, readName, type AlgorithmId } from './certificate.js';

export class CrlError extends Error {
  override name = 'CrlError';
}

export const MAX_CRL_BYTES = 16 * 1024 * 1024;

export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unused',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;

export interface RevokedEntry {
  date: Date;
  reason?: string;
}

export interface Crl {
  readonly der: Buffer;
  readonly fingerprint256: string;
  readonly issuer: string;
  readonly issuerKey: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly tbs: Buffer;
  readonly signatureAlgorithm: AlgorithmId;
  readonly signature: Buffer;
  readonly authorityKeyIdentifier?: string;
  readonly crlNumber?: string;
  /** A delta CRL only adds to a base CRL: its entries count, its silence does not. */
  readonly isDelta: boolean;
  readonly scope: CrlScope;
  /** Why this CRL cannot vouch for "not revoked" at all (an unhandled critical extension, an indirect CRL). */
  readonly unusable?: string;
  readonly revoked: ReadonlyMap<string, RevokedEntry>;
}

export interface CrlScope {
  onlyUserCerts: boolean;
  onlyCaCerts: boolean;
  /** onlySomeReasons or onlyContainsAttributeCerts: a partial CRL. */
  partial: boolean;
  /** Distribution point URIs the CRL says it is for (empty: not scoped by name). */
  distributionPoints: string[];
}

const EXT_CRL_NUMBER = '2.5.29.20';
const EXT_DELTA = '2.5.29.27';
const EXT_IDP = '2.5.29.28';
const EXT_AKI = '2.5.29.35';
const EXT_REASON = '2.5.29.21';
const EXT_CERT_ISSUER = '2.5.29.29';
const EXT_INVALIDITY_DATE = '2.5.29.24';
const EXT_FRESHEST = '2.5.29.46';

const cache = new Map<string, Crl>();

export function parseCrl(der: Uint8Array): Crl {
  if (der.length > MAX_CRL_BYTES) throw new CrlError(`CRL of ${der.length} bytes exceeds ${MAX_CRL_BYTES}`);
  const fp = crypto.createHash('sha256').update(der).digest('hex');
  const hit = cache.get(fp);
  if (hit) return hit;
  let crl: Crl;
  try {
    crl = readCrl(Buffer.from(der), fp);
  } catch (e) {
    throw new CrlError(`not a readable CRL: ${e instanceof Error ? e.message : String(e)}`);
  }
  // Small: CRLs come from configuration or a bounded fetch cache.
  if (cache.size >= 256) cache.delete(cache.keys().next().value!);
  cache.set(fp, crl);
  return crl;
}

/** CRLs from PEM text (`X509 CRL` blocks) or one DER blob. */
export function crlsFrom(input: Uint8Array | string): Buffer[] {
  const text = typeof input === 'string' ? input : looksLikePem(input) ? Buffer.from(input).toString('latin1') : null;
  if (text === null) return [Buffer.from(input as Uint8Array)];
  return pemBlocks(text, 'X509 CRL');
}

function readCrl(der: Buffer, fp: string): Crl {
  const root = expectTag(readRoot(der), TAG.SEQUENCE, 'CertificateList');
  const [tbsNode, sigAlgNode, sigNode] = children(der, root);
  expectTag(tbsNode, TAG.SEQUENCE, 'tbsCertList');
  expectTag(sigAlgNode, TAG.SEQUENCE, 'signatureAlgorithm');
  const sig = bitString(der, expectTag(sigNode, TAG.BIT_STRING, 'signatureValue'));
  const fields = children(der, tbsNode!);
  let i = 0;
  if (fields[i]?.tag === TAG.INTEGER) {
    if (smallInteger(der, fields[i]!) > 1) throw new DerError('unknown CRL version');
    i++;
  }
  expectTag(fields[i++], TAG.SEQUENCE, 'signature');
  const issuerNode = expectTag(fields[i++], TAG.SEQUENCE, 'issuer');
  const issuerName = readName(der, issuerNode);
  const thisUpdate = time(der, fields[i++]!);
  let nextUpdate: Date | undefined;
  if (fields[i] && (fields[i]!.tag === TAG.UTC_TIME || fields[i]!.tag === TAG.GENERALIZED_TIME)) nextUpdate = time(der, fields[i++]!);

  const revoked = new Map<string, RevokedEntry>();
  let unusable: string | undefined;
  if (fields[i]?.tag === TAG.SEQUENCE) {
    for (const entry of children(der, fields[i++]!, 0, 4_000_000)) {
      const parts = children(der, entry);
      const serial = integerHex(der, expectTag(parts[0], TAG.INTEGER, 'userCertificate'));
      const date = time(der, parts[1]!);
      let reason: string | undefined;
      if (parts[2]) {
        for (const ext of extensionList(der, parts[2])) {
          if (ext.id === EXT_REASON) {
            const v = ext.value;
            reason = REVOCATION_REASONS[smallInteger(v, readRoot(v))] ?? 'unspecified';
          } else if (ext.id === EXT_CERT_ISSUER) {
            unusable = 'indirect CRL entries (certificateIssuer) are not supported';
          } else if (ext.critical && ext.id !== EXT_INVALIDITY_DATE) {
            unusable = `unhandled critical entry extension ${ext.id}`;
          }
        }
      }
      revoked.set(serial, reason ? { date, reason } : { date });
    }
  }

  let aki: string | undefined;
  let crlNumber: string | undefined;
  let isDelta = false;
  const scope: CrlScope = { onlyUserCerts: false, onlyCaCerts: false, partial: false, distributionPoints: [] };
  if (fields[i]?.tag === 0xa0) {
    for (const ext of extensionList(der, readNode(der, fields[i]!.contentStart, fields[i]!.contentEnd))) {
      const v = ext.value;
      switch (ext.id) {
        case EXT_AKI:
          for (const c of children(v, readRoot(v))) if (c.tag === 0x80) aki = content(v, c).toString('hex');
          break;
        case EXT_CRL_NUMBER:
          crlNumber = integerHex(v, readRoot(v));
          break;
        case EXT_DELTA:
          isDelta = true;
          break;
        case EXT_IDP:
          if (readIdp(v, scope)) unusable = 'indirect CRLs are not supported';
          break;
        case EXT_FRESHEST:
          break;
        default:
          if (ext.critical) unusable = `unhandled critical CRL extension ${ext.id}`;
      }
    }
  }

  return Object.freeze({
    der,
    fingerprint256: fp,
    issuer: issuerName.text,
    issuerKey: issuerName.key,
    thisUpdate,
    nextUpdate,
    tbs: bytes(der, tbsNode!),
    signatureAlgorithm: { oid: oid(der, children(der, sigAlgNode!)[0]!), node: sigAlgNode! },
    signature: sig.bytes,
    authorityKeyIdentifier: aki,
    crlNumber,
    isDelta,
    scope,
    unusable,
    revoked,
  });
}

/** Fills the scope from an IssuingDistributionPoint; true when it declares an indirect CRL. */
function readIdp(v: Buffer, scope: CrlScope): boolean {
  let indirect = false;
  for (const field of children(v, readRoot(v))) {
    switch (field.tag) {
      case 0xa0: // distributionPoint
        for (const name of children(v, field)) {
          if (name.tag !== 0xa0) continue;
          for (const gn of children(v, name)) if (gn.tag === 0x86) scope.distributionPoints.push(content(v, gn).toString('latin1'));
        }
        break;
      case 0x81:
        scope.onlyUserCerts = implicitBool(v, field);
        break;
      case 0x82:
        scope.onlyCaCerts = implicitBool(v, field);
        break;
      case 0x83:
      case 0xa3:
        scope.partial = true;
        break;
      case 0x84:
        if (implicitBool(v, field)) indirect = true;
        break;
      case 0x85:
        if (implicitBool(v, field)) scope.partial = true;
        break;
      default:
        break;
    }
  }
  return indirect;
}

function implicitBool(v: Buffer, node: DerNode): boolean {
  return node.contentEnd > node.contentStart && v[node.contentStart] !== 0;
}

interface Extension {
  id: string;
  critical: boolean;
  value: Buffer;
}

function extensionList(der: Buffer, list: DerNode): Extension[] {
  return children(der, expectTag(list, TAG.SEQUENCE, 'extensions')).map((ext) => {
    const parts = children(der, ext);
    const id = oid(der, parts[0]!);
    let k = 1;
    let critical = false;
    if (parts[k]?.tag === TAG.BOOLEAN) critical = bool(der, parts[k++]!);
    return { id, critical, value: content(der, expectTag(parts[k], TAG.OCTET_STRING, 'extnValue')) };
  });
}
