// The S/MIME verdict: what the gateway concluded about one message, in a
// JSON-serialisable shape (plain objects, strings, numbers, booleans; dates as
// ISO strings) so that it can be stored per message, shown by the admin API and
// summarised in a header without conversion.

import type { SmimeKind } from './classify.js';

/** Named reasons. Severity depends on policy; see `Problem.severity`. */
export const REASONS = [
  'tampered',
  'untrusted-root',
  'chain-invalid',
  'expired',
  'not-yet-valid',
  'revoked',
  'wrong-key-usage',
  'signer-mismatch',
  /** validateCertificate: the certificate does not carry the address asked about. */
  'address-mismatch',
  'weak-algorithm',
  'malformed',
  'no-signers',
  'unsupported-algorithm',
  'revocation-unknown',
  'signer-certificate-missing',
  'encrypted',
] as const;
export type SmimeReason = (typeof REASONS)[number];

export type Severity = 'error' | 'warning';

export interface Problem {
  reason: SmimeReason;
  /** 'error' makes the signer (and so the message) invalid; 'warning' is reported only. */
  severity: Severity;
  detail: string;
  /** Index into `SmimeVerdict.signers`, when the problem belongs to one signer. */
  signer?: number;
  /** Position in that signer's chain (0 = the signer's certificate), when it concerns one certificate. */
  chainIndex?: number;
  /** Index into `SmimeVerdict.layers`. */
  layer?: number;
}

export type CheckStatus = 'pass' | 'fail' | 'skipped' | 'unknown';

export interface Check {
  status: CheckStatus;
  detail: string;
}

export interface ChainEntry {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
}

export interface SignerChecks {
  /** The signature value verifies with the signer's public key. */
  signature: Check;
  /** The message-digest signed attribute equals the digest of the content. */
  digest: Check;
  /** A path from the signer's certificate to a trust anchor, every link signed and every CA a CA. */
  chain: Check;
  /** Every certificate of the path was valid at the signing-time attribute. */
  validityAtSigning: Check;
  /** Every certificate of the path is valid at the verification time. */
  validityNow: Check;
  /** keyUsage allows digitalSignature or nonRepudiation (or is absent). */
  keyUsage: Check;
  /** extendedKeyUsage has emailProtection or anyExtendedKeyUsage (or is absent). */
  extendedKeyUsage: Check;
  /** No certificate of the path is revoked by a CRL we trust. */
  revocation: Check;
  /** The signer's certificate carries the From address. */
  signerMatchesFrom: Check;
}

export interface SignerVerdict {
  /** Which layer (index into `SmimeVerdict.layers`) this signer signed. */
  layer: number;
  valid: boolean;
  /** Null when the signer's certificate was not found. */
  subject: string | null;
  issuer: string | null;
  serial: string | null;
  /** How the SignerInfo named its certificate. */
  signerId: { issuer?: string; serial?: string; subjectKeyIdentifier?: string };
  addresses: string[];
  algorithm: { digest: string; signature: string };
  signingTime: string | null;
  /** Signer first, trust anchor last (as far as a path was built). */
  chain: ChainEntry[];
  checks: SignerChecks;
  reasons: SmimeReason[];
}

export type LayerStatus = 'verified' | 'decrypted' | 'decompressed' | 'not-opened' | 'malformed' | 'plain';

export interface LayerVerdict {
  kind: SmimeKind;
  status: LayerStatus;
  detail?: string;
}

export interface SmimeVerdict {
  /** Shape version, for stored verdicts. */
  version: 1;
  /** The classification of the message's top-level entity. */
  kind: SmimeKind;
  /** At least one signature layer was found and read. */
  signed: boolean;
  /** Signed, and the signers satisfy the signer policy with no error-level problem. */
  valid: boolean;
  /** Distinct reasons, errors before warnings. */
  reasons: SmimeReason[];
  problems: Problem[];
  signers: SignerVerdict[];
  /** The S/MIME layers from the outside in. */
  layers: LayerVerdict[];
  /** The address compared with the signers' certificates, if any. */
  from: string | null;
  /** The verification time (ISO). */
  checkedAt: string;
  /** One line for people: "valid signature by alice@example.com", "invalid: tampered". */
  summary: string;
}

/** A compact header value, e.g. `pass; signer=alice@contoso.test` or `fail; reasons=tampered,expired`. */
export function verdictHeader(v: SmimeVerdict): string {
  if (!v.signed && v.reasons.length === 0) return v.kind === 'none' ? 'none' : `none; kind=${v.kind}`;
  const status = v.valid ? 'pass' : v.signed ? 'fail' : 'none';
  const parts = [status, `kind=${v.kind}`];
  const signer = v.signers.find((s) => s.valid) ?? v.signers[0];
  if (signer?.addresses[0]) parts.push(`signer=${signer.addresses[0]}`);
  if (v.reasons.length > 0) parts.push(`reasons=${v.reasons.join(',')}`);
  return parts.join('; ');
}

export function isReason(value: string): value is SmimeReason {
  return (REASONS as readonly string[]).includes(value);
}
