// S/MIME signature verification for whole MIME messages: classify the
// top-level entity, peel the layers (clear-signed, opaque signed-data,
// compressed, enveloped when the caller can decrypt), verify every signer of
// every signed layer, build and check each signer's certificate path, and
// return a verdict. Never throws: any failure, including a bug here, becomes a
// `malformed` problem in the verdict. Work is bounded by `VerifyLimits`.

import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { classifyParsed, type SmimeClassification, type SmimeKind } from './classify.js';
import { findHeaderEnd, firstHeader, parseStructuredValue, splitMultipart, type MimeEntity, type StructuredValue } from './mime-split.js';
import { parseCertificate, publicKeyOf, summarize, type Certificate } from './certificate.js';
import { parseCrl, type Crl } from './crl.js';
import { describeDigest, describeSignatureOid, digestName, keyPolicy, schemeName, schemeOf, verifyWith, type DigestName, type SchemeResult } from './sig-algorithms.js';
import { OID, readCompressedData, readSignedData, type SignedData, type SignerInfo } from './signed-data.js';
import { distinctReasons, type CrlSource, type PathEvaluation, type TrustStore } from './trust.js';
import type { Check, LayerVerdict, Problem, Severity, SignerChecks, SignerVerdict, SmimeReason, SmimeVerdict } from './verdict.js';
import { bytesView, children, oid, type DerNode } from './der.js';

export interface VerifyLimits {
  /** Largest message looked at. */
  maxMessageBytes: number;
  /** SignerInfos verified per signed layer; more is `malformed`. */
  maxSigners: number;
  /** Certificates in one path, trust anchor included. */
  maxChainLength: number;
  /** Certificates read from one SignedData; more is `malformed`. */
  maxCertificates: number;
  /** CRLs read from one SignedData. */
  maxCrls: number;
  /** Signed attributes per signer. */
  maxAttributes: number;
  /** Nested S/MIME layers (signed inside encrypted inside signed ...). */
  maxDepth: number;
  /** Output of one CompressedData layer. */
  maxDecompressedBytes: number;
}

export const DEFAULT_VERIFY_LIMITS: Readonly<VerifyLimits> = Object.freeze({
  maxMessageBytes: 64 * 1024 * 1024,
  maxSigners: 16,
  maxChainLength: 8,
  maxCertificates: 64,
  maxCrls: 16,
  maxAttributes: 64,
  maxDepth: 4,
  maxDecompressedBytes: 64 * 1024 * 1024,
});

export interface DecryptRequest {
  kind: 'enveloped' | 'auth-enveloped';
  /** The enveloped MIME entity as received (headers and body). */
  entity: Buffer;
  /** The CMS ContentInfo, transfer encoding removed; null when it could not be decoded. */
  cms: Buffer | null;
  /** Nesting depth of this layer (0 = the message itself). */
  depth: number;
}

/**
 * Opens an enveloped layer: returns the decrypted MIME entity, or null when it
 * cannot (no key). A throw is reported like null, with its message.
 */
export type DecryptHook = (request: DecryptRequest) => Promise<Buffer | null | undefined> | Buffer | null | undefined;

export interface VerifyOptions {
  trust: TrustStore;
  /** Verification time; default now. */
  at?: Date;
  /**
   * The address the signer must match: an address or a whole From header value.
   * Undefined: the message's own From header. Null: do not check.
   */
  from?: string | null;
  /** SHA-1 is reported as `weak-algorithm`: a warning when allowed (default), an error when not. */
  allowSha1?: boolean;
  /** A CA with no usable CRL: `revocation-unknown` as a warning (default) or an error. */
  revocationUnknown?: 'warn' | 'fail';
  /** Check revocation against the store's (and the message's) CRLs. Default true. */
  checkCrl?: boolean;
  /** Several signers: all must be valid (default), or any one suffices. */
  signerPolicy?: 'all' | 'any';
  /** Fetch CRLs from distribution points when the store has none (off unless given). */
  crlSource?: CrlSource;
  /** Opens enveloped layers so that signatures inside can be verified. */
  decrypt?: DecryptHook;
  /** Certificates to look signers up in when the message carries none (DER). */
  signerCertificates?: Iterable<Uint8Array>;
  limits?: Partial<VerifyLimits>;
}

/** Verifies a MIME message (any kind). Always resolves to a verdict. */
export async function verifySmime(raw: Buffer, opts: VerifyOptions): Promise<SmimeVerdict> {
  try {
    const verdict = verifyMessage(raw, opts);
    return verdict instanceof Promise ? await verdict : verdict;
  } catch (e) {
    return lastResort(e, opts);
  }
}

/**
 * Work that may have to wait (a decryption hook, a CRL fetch) or, in the usual case, is already
 * done. The walk stays synchronous until something really is asynchronous: an await per layer
 * and per signer would cost every message a chain of promises for nothing.
 */
type Pending = Promise<void> | undefined;

/** `next(value)`, at once when `value` is not a promise. */
function after<T, R>(value: T | Promise<T>, next: (v: T) => R): R | Promise<Awaited<R>> {
  return value instanceof Promise ? value.then(next) as Promise<Awaited<R>> : next(value);
}

function verifyMessage(raw: Buffer, opts: VerifyOptions): SmimeVerdict | Promise<SmimeVerdict> {
  const run = new Run(opts);
  let kind: SmimeKind = 'none';
  try {
    if (!((raw as unknown) instanceof Uint8Array)) {
      run.problem('malformed', 'error', 'input is not a byte buffer');
      return run.finish('none');
    }
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (bytes.length > run.limits.maxMessageBytes) {
      run.problem('malformed', 'error', `message of ${bytes.length} bytes exceeds the limit of ${run.limits.maxMessageBytes}`);
      return run.finish('none');
    }
    const entity = readTopEntity(bytes);
    if (!entity) {
      run.problem('malformed', 'error', 'header block exceeds the size limit');
      return run.finish('none');
    }
    run.setFrom(opts.from, entity);
    const cls = classifyTop(entity);
    kind = cls.kind;
    const pending = run.walk(bytes, entity, cls, 0);
    if (pending) return run.finishAfter(pending, kind);
    return run.finish(kind);
  } catch (e) {
    return run.failed(e, kind);
  }
}

/**
 * Verifies a bare CMS SignedData (DER, or base64/PEM text): opaque when
 * `content` is absent, detached over `content` otherwise. For .p7m/.p7s files
 * and for a second call on content the caller decrypted itself.
 */
export async function verifyCms(cms: Uint8Array, opts: VerifyOptions & { content?: Uint8Array }): Promise<SmimeVerdict> {
  try {
    return await verifyBareCms(cms, opts);
  } catch (e) {
    return lastResort(e, opts);
  }
}

/** The verdict when even reporting failed (a bug, or options that are not what they claim). */
function lastResort(e: unknown, opts: VerifyOptions | undefined): SmimeVerdict {
  const detail = `verification failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`;
  const at = opts?.at instanceof Date && !Number.isNaN(opts.at.getTime()) ? opts.at : new Date();
  return {
    version: 1,
    kind: 'none',
    signed: false,
    valid: false,
    reasons: ['malformed'],
    problems: [{ reason: 'malformed', severity: 'error', detail }],
    signers: [],
    layers: [],
    from: null,
    checkedAt: at.toISOString(),
    summary: 'not verified: malformed',
  };
}

async function verifyBareCms(cms: Uint8Array, opts: VerifyOptions & { content?: Uint8Array }): Promise<SmimeVerdict> {
  const run = new Run(opts);
  const kind: SmimeKind = opts.content ? 'clear-signed' : 'opaque-signed';
  try {
    run.setFrom(opts.from === undefined ? null : opts.from, null);
    const der = decodeCmsText(Buffer.from(cms));
    const content = opts.content ? Buffer.from(opts.content) : null;
    const pending = run.signedLayer(kind, der, content ? variantsOf(content) : null, 0);
    if (pending) return await run.finishAfter(pending, kind);
    return run.finish(kind);
  } catch (e) {
    return run.failed(e, kind);
  }
}

const CLEAR_SIGNED: SmimeClassification = Object.freeze({ kind: 'clear-signed', source: 'header' }) as SmimeClassification;
const NOT_SMIME: SmimeClassification = Object.freeze({ kind: 'none', source: 'none' }) as SmimeClassification;

let lastCt: { text: string; value: StructuredValue } | null = null;

/** Content-Type parsed once per message even though the walk looks at it twice. */
function parseContentType(text: string): StructuredValue {
  if (lastCt?.text === text) return lastCt.value;
  const value = parseStructuredValue(text);
  lastCt = { text, value };
  return value;
}

/**
 * classify.ts's decision; multipart/signed with an S/MIME protocol (the bulk
 * of signed mail) is answered here without a second parse of Content-Type,
 * and a type that cannot be S/MIME (classify looks only at multipart/signed,
 * pkcs7 types and octet-stream) is not classified at all.
 */
function classifyTop(entity: MimeEntity): SmimeClassification {
  const ct = firstHeader(entity.fields, 'content-type');
  if (ct && !/pkcs7|multipart\/signed|octet-stream/i.test(ct)) return NOT_SMIME;
  if (ct && /^\s*multipart\/signed\s*;/i.test(ct)) {
    const protocol = (parseContentType(ct).params.get('protocol') ?? '').trim().toLowerCase();
    if (protocol === 'application/pkcs7-signature' || protocol === 'application/x-pkcs7-signature') return CLEAR_SIGNED;
  }
  return classifyParsed(entity.fields, entity.body);
}

// ---- the walk -----------------------------------------------------------------

const EMPTY_CHECK = (status: Check['status'], detail: string): Check => ({ status, detail });
const NOT_CHECKED = Object.freeze(EMPTY_CHECK('unknown', 'not checked'));
const NO_ATTRIBUTES = Object.freeze(EMPTY_CHECK('skipped', 'no signed attributes: the signature covers the content itself'));
const NO_CERTIFICATE = Object.freeze(EMPTY_CHECK('unknown', 'signer certificate not found'));
const NO_FROM = Object.freeze(EMPTY_CHECK('skipped', 'no From address'));

class Run {
  readonly limits: VerifyLimits;
  readonly at: Date;
  readonly problems: Problem[] = [];
  readonly signers: SignerVerdict[] = [];
  readonly layers: LayerVerdict[] = [];
  signed = false;
  from: string | null = null;
  private extraSignerCerts: Certificate[] | null = null;

  constructor(readonly opts: VerifyOptions) {
    this.limits = opts.limits ? { ...DEFAULT_VERIFY_LIMITS, ...opts.limits } : DEFAULT_VERIFY_LIMITS;
    const at = opts.at instanceof Date && !Number.isNaN(opts.at.getTime()) ? opts.at : new Date();
    this.at = at;
  }

  problem(reason: SmimeReason, severity: Severity, detail: string, where: { signer?: number; layer?: number; chainIndex?: number } = {}): void {
    if (this.problems.length >= 200) return;
    const p: Problem = { reason, severity, detail };
    if (where.signer !== undefined) p.signer = where.signer;
    if (where.chainIndex !== undefined) p.chainIndex = where.chainIndex;
    if (where.layer !== undefined) p.layer = where.layer;
    this.problems.push(p);
  }

  setFrom(option: string | null | undefined, entity: MimeEntity | null): void {
    if (option === null) return;
    const value = option ?? (entity ? firstHeader(entity.fields, 'from') : undefined);
    this.from = value ? extractAddress(value) : null;
  }

  /** The verdict once `pending` settles; a failure in it is reported like a synchronous one. */
  finishAfter(pending: Promise<void>, kind: SmimeKind): Promise<SmimeVerdict> {
    return pending.then(() => this.finish(kind), (e: unknown) => this.failed(e, kind));
  }

  failed(e: unknown, kind: SmimeKind): SmimeVerdict {
    this.problem('malformed', 'error', `verification failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`);
    return this.finish(kind);
  }

  walk(raw: Buffer, entity: MimeEntity, cls: SmimeClassification, depth: number): Pending {
    if (cls.kind === 'none') {
      if (cls.malformed) this.problem('malformed', 'error', cls.malformed);
      return;
    }
    if (depth >= this.limits.maxDepth) {
      this.problem('malformed', 'error', `S/MIME layers nested deeper than ${this.limits.maxDepth}`);
      return;
    }
    switch (cls.kind) {
      case 'clear-signed':
        return this.clearSigned(entity, cls, depth);
      case 'opaque-signed':
        return this.opaque(entity, depth);
      case 'enveloped':
      case 'auth-enveloped':
        return this.enveloped(raw, entity, cls.kind, depth);
      case 'compressed':
        return this.compressed(entity, depth);
      case 'certs-only':
        this.layers.push({ kind: 'certs-only', status: 'plain', detail: 'a certificate bag without signers' });
        return;
    }
  }

  /** Looks inside verified content: another S/MIME layer is walked, plain content ends the walk. */
  private inner(content: Buffer, depth: number): Pending {
    // Most content is plain: a glance at the raw header block settles it without parsing.
    const hb = findHeaderEnd(content, 64 * 1024);
    if (hb && !/pkcs7|multipart\/signed|octet-stream/i.test(content.toString('latin1', 0, hb.headerEnd))) return;
    const entity = readTopEntity(content);
    if (!entity) return;
    const cls = classifyTop(entity);
    if (cls.kind === 'none') return;
    return this.walk(content, entity, cls, depth + 1);
  }

  private clearSigned(entity: MimeEntity, cls: SmimeClassification, depth: number): Pending {
    this.signed = true;
    const layer = this.layers.push({ kind: 'clear-signed', status: 'verified' }) - 1;
    if (cls.malformed) this.problem('malformed', 'warning', cls.malformed, { layer });
    const ct = parseContentType(firstHeader(entity.fields, 'content-type') ?? '');
    const boundary = ct.params.get('boundary') ?? '';
    const split = splitMultipart(entity.body, boundary, 3, { candidates: 10_000, bytes: entity.body.length * 2 + 1024 });
    const [contentPart, sigPart] = split.parts;
    if (!boundary || !contentPart || !sigPart) {
      this.layerMalformed(layer, boundary ? 'multipart/signed needs a content part and a signature part' : 'multipart/signed without boundary');
      return;
    }
    const body = bytesView(entity.body);
    const content = body.subarray(contentPart.start, contentPart.end);
    // The signature part's headers only say "base64" (or, rarely, binary):
    // the body tells the two apart (DER starts with a SEQUENCE tag, base64 never with 0x30).
    const sigBytes = body.subarray(sigPart.start, sigPart.end);
    const hb = findHeaderEnd(sigBytes, 64 * 1024);
    if (!hb) {
      this.layerMalformed(layer, 'signature part header block too large');
      return;
    }
    const der = decodeCmsText(sigBytes, false, hb.bodyStart);
    if (der.length === 0) {
      this.layerMalformed(layer, 'empty signature part');
      return;
    }
    return after(this.verifySignedData(der, variantsOf(content), layer, depth, 'detached'), (ok) => (ok ? this.inner(content, depth) : undefined));
  }

  private opaque(entity: MimeEntity, depth: number): Pending {
    this.signed = true;
    const layer = this.layers.push({ kind: 'opaque-signed', status: 'verified' }) - 1;
    const der = decodeBody(entity);
    return after(this.verifySignedData(der, null, layer, depth, 'opaque'), () => undefined);
  }

  /** For verifyCms: one signed layer from bare CMS. */
  signedLayer(kind: SmimeKind, der: Buffer, variants: Buffer[] | null, depth: number): Pending {
    this.signed = true;
    const layer = this.layers.push({ kind, status: 'verified' }) - 1;
    return after(this.verifySignedData(der, variants, layer, depth, variants ? 'detached' : 'opaque'), () => undefined);
  }

  private async enveloped(raw: Buffer, entity: MimeEntity, kind: 'enveloped' | 'auth-enveloped', depth: number): Promise<void> {
    const layer = this.layers.push({ kind, status: 'not-opened' }) - 1;
    const what = kind === 'auth-enveloped' ? 'authenticated-enveloped' : 'enveloped';
    if (!this.opts.decrypt) {
      this.problem('encrypted', 'warning', `${what} content: cannot be verified without the recipient's key`, { layer });
      this.layers[layer]!.detail = 'no decryption hook';
      return;
    }
    let cms: Buffer | null = decodeBody(entity);
    if (cms.length === 0) cms = null;
    let inner: Buffer | null | undefined;
    try {
      inner = await this.opts.decrypt({ kind, entity: raw, cms, depth });
    } catch (e) {
      const detail = `decryption failed: ${e instanceof Error ? e.message : String(e)}`;
      this.problem('encrypted', 'warning', `${what} content not opened (${detail})`, { layer });
      this.layers[layer]!.detail = detail;
      return;
    }
    if (!inner || inner.length === 0) {
      this.problem('encrypted', 'warning', `${what} content: no key to open it`, { layer });
      this.layers[layer]!.detail = 'no key';
      return;
    }
    if (inner.length > this.limits.maxMessageBytes) {
      this.layerMalformed(layer, 'decrypted content exceeds the message size limit');
      return;
    }
    this.layers[layer]!.status = 'decrypted';
    await this.inner(Buffer.from(inner), depth);
  }

  private compressed(entity: MimeEntity, depth: number): Pending {
    const layer = this.layers.push({ kind: 'compressed', status: 'decompressed' }) - 1;
    let content: Buffer;
    try {
      const cd = readCompressedData(decodeBody(entity));
      if (cd.algorithm !== OID.zlib) {
        this.problem('unsupported-algorithm', 'error', `compression algorithm ${cd.algorithm}`, { layer });
        this.layers[layer]!.status = 'not-opened';
        return;
      }
      content = zlib.inflateSync(cd.compressed, { maxOutputLength: this.limits.maxDecompressedBytes });
    } catch (e) {
      this.layerMalformed(layer, `compressed content unreadable: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    return this.inner(content, depth);
  }

  private layerMalformed(layer: number, detail: string): void {
    this.layers[layer]!.status = 'malformed';
    this.layers[layer]!.detail = detail;
    this.problem('malformed', 'error', detail, { layer });
  }

  // ---- one SignedData ---------------------------------------------------------------

  /** Returns true when the structure was readable (signers were checked). */
  private verifySignedData(der: Buffer, detached: Buffer[] | null, layer: number, depth: number, mode: 'detached' | 'opaque'): boolean | Promise<boolean> {
    let sd: SignedData;
    try {
      sd = readSignedData(der, this.limits);
    } catch (e) {
      this.layerMalformed(layer, `signature is not a readable CMS SignedData: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
    let variants = detached;
    if (mode === 'opaque') {
      if (!sd.eContent) {
        this.layerMalformed(layer, 'signed-data without encapsulated content (a detached signature sent as opaque)');
        return false;
      }
      variants = [sd.eContent];
    }
    if (sd.signerCount === 0) this.problem('no-signers', 'error', 'the SignedData has no SignerInfo', { layer });
    if (sd.signerCount > this.limits.maxSigners) {
      this.problem('malformed', 'error', `${sd.signerCount} signers exceed the limit of ${this.limits.maxSigners}; the first ${this.limits.maxSigners} were checked`, { layer });
    }
    if (sd.certificatesOmitted > 0) {
      this.problem('malformed', 'error', `more than ${this.limits.maxCertificates} certificates in the message; the rest were ignored`, { layer });
    }
    const certs: Certificate[] = [];
    sd.certificates.forEach((c, n) => {
      try {
        certs.push(parseCertificate(c));
      } catch (e) {
        this.problem('malformed', 'warning', `certificate ${n} in the message is unreadable: ${e instanceof Error ? e.message : String(e)}`, { layer });
      }
    });
    const crls: Crl[] = [];
    for (const c of sd.crls) {
      try {
        crls.push(parseCrl(c));
      } catch (e) {
        this.problem('malformed', 'warning', `a CRL in the message is unreadable: ${e instanceof Error ? e.message : String(e)}`, { layer });
      }
    }
    const digests = new DigestCache(variants!);
    const signers = this.verifySigners(sd, layer, digests, certs, crls, 0);
    if (mode !== 'opaque' || sd.eContentType !== OID.data) return signers ? signers.then(() => true) : true;
    return after(signers, () => after(this.inner(sd.eContent!, depth), () => true));
  }

  /** The signers from `from` on, one after the other (their verdicts keep the message's order). */
  private verifySigners(sd: SignedData, layer: number, digests: DigestCache, certs: Certificate[], crls: Crl[], from: number): Pending {
    for (let i = from; i < sd.signerInfos.length; i++) {
      const pending = this.verifySigner(sd, sd.signerInfos[i]!, layer, digests, certs, crls);
      if (pending) return pending.then(() => this.verifySigners(sd, layer, digests, certs, crls, i + 1));
    }
    return undefined;
  }

  private verifySigner(sd: SignedData, si: SignerInfo, layer: number, digests: DigestCache, certs: Certificate[], crls: Crl[]): Pending {
    const index = this.signers.length;
    const at = { signer: index, layer };
    const checks: SignerChecks = {
      signature: NOT_CHECKED,
      digest: NO_ATTRIBUTES,
      chain: NO_CERTIFICATE,
      validityAtSigning: NO_CERTIFICATE,
      validityNow: NO_CERTIFICATE,
      keyUsage: NO_CERTIFICATE,
      extendedKeyUsage: NO_CERTIFICATE,
      revocation: NO_CERTIFICATE,
      signerMatchesFrom: NO_FROM,
    };
    const alg = readAlgorithm(sd.der, si.signatureAlgorithm);
    const verdict: SignerVerdict = {
      layer,
      valid: false,
      subject: null,
      issuer: null,
      serial: null,
      signerId: si.sid.kind === 'issuerSerial' ? { issuer: si.sid.issuer, serial: si.sid.serial } : { subjectKeyIdentifier: si.sid.keyId },
      addresses: [],
      algorithm: { digest: describeDigest(si.digestAlgorithm), signature: describeSignatureOid('oid' in alg ? alg.oid : 'unknown') },
      signingTime: si.signedAttrs?.signingTime ? isoString(si.signedAttrs.signingTime) : null,
      chain: [],
      checks,
      reasons: [],
    };
    this.signers.push(verdict);
    const allowSha1 = this.opts.allowSha1 !== false;

    const cert = this.findSignerCertificate(si, certs);
    if (cert) {
      verdict.subject = cert.subject;
      verdict.issuer = cert.issuer;
      verdict.serial = cert.serial;
      verdict.addresses = [...cert.addresses];
    } else {
      this.problem('signer-certificate-missing', 'error', `no certificate for signer ${describeSid(si)} in the message or the store`, at);
    }

    // Algorithms.
    const digest = digestName(si.digestAlgorithm);
    let schemeOk: SchemeResult | null = null;
    try {
      if ('error' in alg) throw alg.error;
      schemeOk = schemeOf(sd.der, alg.oid, alg.params, si.digestAlgorithm);
    } catch (e) {
      this.problem('malformed', 'error', `signature algorithm parameters unreadable: ${e instanceof Error ? e.message : String(e)}`, at);
    }
    let usable = true;
    if (!digest) {
      usable = false;
      this.problem('unsupported-algorithm', 'error', `digest algorithm ${describeDigest(si.digestAlgorithm)} is not supported`, at);
    }
    if (schemeOk && !schemeOk.ok) {
      usable = false;
      this.problem('unsupported-algorithm', 'error', `${schemeOk.detail} is not supported`, at);
    }
    if (!schemeOk) usable = false;
    const scheme = schemeOk?.ok ? schemeOk.value : null;
    if (digest === 'sha1' || scheme?.hash === 'sha1') {
      this.problem('weak-algorithm', allowSha1 ? 'warning' : 'error', `the signature uses SHA-1${allowSha1 ? ' (accepted by policy)' : ' (refused by policy)'}`, at);
    }

    // Signed attributes and the content digest.
    const attrs = si.signedAttrs;
    let contentVariant = -1;
    if (attrs) {
      for (const fault of attrs.faults) this.problem('malformed', 'error', `signed attributes: ${fault}`, at);
      if (!attrs.contentType) this.problem('malformed', 'error', 'signed attributes lack content-type', at);
      else if (attrs.contentType !== sd.eContentType) {
        this.problem('tampered', 'error', `signed content-type ${attrs.contentType} differs from the content's type ${sd.eContentType}`, at);
      }
      if (!attrs.messageDigest) {
        checks.digest = EMPTY_CHECK('fail', 'signed attributes lack message-digest');
        this.problem('malformed', 'error', 'signed attributes lack message-digest', at);
      } else if (!digest) {
        checks.digest = EMPTY_CHECK('unknown', `digest algorithm ${describeDigest(si.digestAlgorithm)} is not supported`);
      } else {
        contentVariant = digests.match(digest, attrs.messageDigest);
        if (contentVariant >= 0) {
          checks.digest = EMPTY_CHECK('pass', `${digest} of the content matches${contentVariant > 0 ? ' (content as received, not CRLF-canonical)' : ''}`);
        } else {
          checks.digest = EMPTY_CHECK('fail', `${digest} of the content does not match the signed message-digest`);
          this.problem('tampered', 'error', 'the content was changed after signing (message-digest mismatch)', at);
        }
      }
    }

    // The signature value.
    if (cert && usable && scheme) {
      let key: crypto.KeyObject | null = null;
      try {
        key = publicKeyOf(cert);
      } catch (e) {
        this.problem('unsupported-algorithm', 'error', `signer key: ${e instanceof Error ? e.message : String(e)}`, at);
        checks.signature = EMPTY_CHECK('unknown', 'the signer key cannot be used');
      }
      if (key) {
        verdict.algorithm.signature = schemeName(scheme, key);
        const policy = keyPolicy(key);
        if (!policy.supported) {
          this.problem('unsupported-algorithm', 'error', `signer key: ${policy.detail}`, at);
          checks.signature = EMPTY_CHECK('unknown', `unsupported key (${policy.detail})`);
        } else {
          if (policy.weak) this.problem('weak-algorithm', 'warning', `signer key: ${policy.detail}`, at);
          let ok: boolean;
          if (attrs) ok = verifyWith(scheme, key, attrs.encoded, si.signature);
          else ok = digests.variants.some((v) => verifyWith(scheme, key, v, si.signature));
          if (ok) checks.signature = EMPTY_CHECK('pass', `${schemeName(scheme, key)} with ${scheme.hash} verifies (${policy.detail})`);
          else {
            checks.signature = EMPTY_CHECK('fail', `${schemeName(scheme, key)} with ${scheme.hash} does not verify`);
            this.problem('tampered', 'error', attrs ? 'the signature over the signed attributes does not verify' : 'the signature over the content does not verify', at);
          }
        }
      }
    } else if (cert) {
      checks.signature = EMPTY_CHECK('unknown', 'algorithm not supported');
    }

    if (!cert) {
      if (this.from) checks.signerMatchesFrom = NO_CERTIFICATE;
      return undefined;
    }
    // Path, validity, usage, revocation: synchronous unless a CRL has to be fetched.
    const evaluated = this.opts.trust.evaluateOrFetch(cert, {
      at: this.at,
      signingTime: attrs?.signingTime,
      purpose: 'signing',
      checkCrl: this.opts.checkCrl !== false,
      extraCertificates: certs,
      extraCrls: crls,
      allowSha1,
      revocationUnknown: this.opts.revocationUnknown,
      crlSource: this.opts.crlSource,
      maxChainLength: this.limits.maxChainLength,
    });
    if (evaluated instanceof Promise) return evaluated.then((e) => this.signerPath(e, cert, verdict, at));
    this.signerPath(evaluated, cert, verdict, at);
    return undefined;
  }

  /** The signer's path checks, then whether its certificate carries the From address. */
  private signerPath(evaluation: PathEvaluation, cert: Certificate, verdict: SignerVerdict, at: { signer: number; layer: number }): void {
    const checks = verdict.checks;
    verdict.chain = evaluation.chain.map(summarize);
    const e = evaluation.checks;
    checks.chain = e.chain;
    checks.validityAtSigning = e.validityAtSigning;
    checks.validityNow = e.validityNow;
    checks.keyUsage = e.keyUsage;
    checks.extendedKeyUsage = e.extendedKeyUsage;
    checks.revocation = e.revocation;
    for (const p of evaluation.problems) this.problem(p.reason, p.severity, p.detail, { ...at, chainIndex: p.chainIndex });

    if (!this.from) return;
    if (cert.addresses.includes(this.from)) checks.signerMatchesFrom = EMPTY_CHECK('pass', `certificate carries ${this.from}`);
    else {
      const detail = cert.addresses.length ? `From ${this.from} but the certificate is for ${cert.addresses.join(', ')}` : `From ${this.from} but the certificate carries no e-mail address`;
      checks.signerMatchesFrom = EMPTY_CHECK('fail', detail);
      this.problem('signer-mismatch', 'error', detail, at);
    }
  }

  private findSignerCertificate(si: SignerInfo, certs: Certificate[]): Certificate | undefined {
    const sid = si.sid;
    if (sid.kind === 'issuerSerial') {
      for (const c of certs) if (c.serial === sid.serial && c.issuerKey === sid.issuerKey) return c;
      const known = this.opts.trust.findKnown({ issuerKey: sid.issuerKey, serial: sid.serial });
      if (known) return known;
      for (const c of this.signerCertsFromOptions()) if (c.serial === sid.serial && c.issuerKey === sid.issuerKey) return c;
      return undefined;
    }
    // By the SKI extension, or by the key hash when the certificate has none (RFC 5280 method 1).
    for (const c of certs) if (c.subjectKeyIdentifier === sid.keyId || c.keyHash === sid.keyId) return c;
    const known = this.opts.trust.findKnown({ keyId: sid.keyId });
    if (known) return known;
    for (const c of this.signerCertsFromOptions()) if (c.subjectKeyIdentifier === sid.keyId || c.keyHash === sid.keyId) return c;
    return undefined;
  }

  private signerCertsFromOptions(): Certificate[] {
    if (this.extraSignerCerts) return this.extraSignerCerts;
    this.extraSignerCerts = [];
    for (const der of this.opts.signerCertificates ?? []) {
      try {
        this.extraSignerCerts.push(parseCertificate(der));
      } catch {
        // A caller-supplied certificate that does not parse simply does not match.
      }
      if (this.extraSignerCerts.length >= this.limits.maxCertificates) break;
    }
    return this.extraSignerCerts;
  }

  // ---- the verdict ---------------------------------------------------------------------

  finish(kind: SmimeKind): SmimeVerdict {
    const problems = this.problems;
    // The From address needs one signer to vouch for it; a further signer
    // (a notary, a gateway) with another address is reported, not fatal.
    if (this.signers.length > 1 && this.signers.some((s) => s.checks.signerMatchesFrom.status === 'pass')) {
      for (const p of problems) {
        if (p.reason === 'signer-mismatch' && p.severity === 'error') {
          p.severity = 'warning';
          p.detail += ' (another signer matches From)';
        }
      }
    }
    for (let i = 0; i < this.signers.length; i++) {
      const s = this.signers[i]!;
      let error = false;
      if (problems.length > 0) {
        const mine = problems.filter((p) => p.signer === i);
        s.reasons = distinctReasons(mine);
        error = mine.some((p) => p.severity === 'error');
      }
      s.valid = s.checks.signature.status === 'pass' && s.checks.chain.status === 'pass' && !error;
    }
    const messageErrors = problems.length > 0 && problems.some((p) => p.signer === undefined && p.severity === 'error');
    const policy = this.opts.signerPolicy ?? 'all';
    const signersOk =
      this.signers.length > 0 && (policy === 'any' ? this.signers.some((s) => s.valid) : this.signers.every((s) => s.valid));
    const valid = this.signed && signersOk && !messageErrors;
    const reasons = problems.length > 0 ? distinctReasons(problems) : [];
    return {
      version: 1,
      kind,
      signed: this.signed,
      valid,
      reasons,
      problems,
      signers: this.signers,
      layers: this.layers,
      from: this.from,
      checkedAt: isoString(this.at),
      summary: summarize_(this.signed, valid, reasons, this.signers, this.layers),
    };
  }
}

function summarize_(signed: boolean, valid: boolean, reasons: SmimeReason[], signers: SignerVerdict[], layers: LayerVerdict[]): string {
  if (valid) {
    const names = signers.filter((s) => s.valid).map(signerName);
    const warn = reasons.length ? ` (warnings: ${reasons.join(', ')})` : '';
    return `valid signature by ${names.join(', ')}${warn}`;
  }
  if (signed) return `invalid signature: ${reasons.join(', ') || 'no valid signer'}`;
  if (layers.some((l) => l.status === 'not-opened')) return 'encrypted: content not verified';
  if (reasons.length) return `not verified: ${reasons.join(', ')}`;
  return 'not signed';
}

function signerName(s: SignerVerdict): string {
  return s.addresses[0] ?? s.subject ?? s.signerId.subjectKeyIdentifier ?? s.signerId.serial ?? 'unknown signer';
}

function describeSid(si: SignerInfo): string {
  return si.sid.kind === 'issuerSerial' ? `${si.sid.issuer} serial ${si.sid.serial}` : `subject key identifier ${si.sid.keyId}`;
}

/** A SignerInfo's signature AlgorithmIdentifier, read once for its name and its scheme. */
function readAlgorithm(der: Buffer, node: DerNode): { oid: string; params?: DerNode } | { error: unknown } {
  try {
    const parts = children(der, node);
    return { oid: oid(der, parts[0]!), params: parts[1] };
  } catch (e) {
    return { error: e };
  }
}

// ---- dates ---------------------------------------------------------------------------

/** The last two conversions: the verification time and a signing time alternate. */
const isoMemo = [{ time: Number.NaN, text: '' }, { time: Number.NaN, text: '' }];
let isoNext = 0;

/**
 * Date#toISOString, which is slow in V8 and asked for twice per message, with
 * the same verification time for every message within a millisecond.
 */
function isoString(d: Date): string {
  const t = d.getTime();
  if (t === isoMemo[0]!.time) return isoMemo[0]!.text;
  if (t === isoMemo[1]!.time) return isoMemo[1]!.text;
  const year = d.getUTCFullYear();
  // Years outside 0000-9999 take the extended form, and an invalid date throws: leave those to the built-in.
  const text = !(year >= 0 && year <= 9999) ? d.toISOString()
    : `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}Z`;
  isoMemo[isoNext] = { time: t, text };
  isoNext ^= 1;
  return text;
}

function pad(n: number, width: number): string {
  const s = String(n);
  return s.length >= width ? s : '0000'.slice(0, width - s.length) + s;
}

// ---- content and digests ---------------------------------------------------------------

/** The content as signed (CRLF line ends, RFC 8551 3.1.1) first, then as received if different. */
function variantsOf(content: Buffer): Buffer[] {
  const canonical = toCrlf(content);
  return canonical === content ? [content] : [canonical, content];
}

export function toCrlf(b: Buffer): Buffer {
  let bare = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) if (i === 0 || b[i - 1] !== 0x0d) bare++;
  if (bare === 0) return b;
  const out = Buffer.allocUnsafe(b.length + bare);
  let o = 0;
  let from = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) {
    if (i > 0 && b[i - 1] === 0x0d) continue;
    o += b.copy(out, o, from, i);
    out[o++] = 0x0d;
    out[o++] = 0x0a;
    from = i + 1;
  }
  o += b.copy(out, o, from);
  return out.subarray(0, o);
}

class DigestCache {
  private readonly names: DigestName[] = [];
  /** Digests as 'binary' (latin1) strings, one char per byte: node hands a string out faster than a new Buffer. */
  private readonly values: string[][] = [];
  constructor(readonly variants: Buffer[]) {}

  /** Index of the first content variant whose digest equals `expected`, or -1. */
  match(name: DigestName, expected: Buffer): number {
    let n = this.names.indexOf(name);
    if (n < 0) {
      n = this.names.push(name) - 1;
      this.values.push([]);
    }
    const list = this.values[n]!;
    for (let i = 0; i < this.variants.length; i++) {
      list[i] ??= crypto.hash(name, this.variants[i]!, 'binary');
      if (sameBytes(list[i]!, expected)) return i;
    }
    return -1;
  }
}

/**
 * A latin1 string against bytes. Not constant-time, and need not be: a message digest and the
 * signed attributes that carry it are public, and the signature over them is what is secret-free
 * proof; nothing here can leak a key.
 */
function sameBytes(text: string, bytes: Buffer): boolean {
  if (text.length !== bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== bytes[i]) return false;
  return true;
}

// ---- headers ---------------------------------------------------------------------

/** The only header fields the walk (and classify.ts) reads. */
const WANTED_FIELDS = /^(content-type|content-transfer-encoding|content-disposition|from)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)/gim;

/**
 * An entity with just the fields verification needs. A mail header block is
 * mostly Received and DKIM lines; skipping them is cheaper than parsing them.
 * Same semantics as mime-split's parser for these fields: first occurrence
 * wins, continuation lines are joined, the value is trimmed.
 */
function readTopEntity(buf: Buffer): MimeEntity | null {
  const hb = findHeaderEnd(buf);
  if (!hb) return null;
  const block = buf.toString('latin1', 0, hb.headerEnd);
  const fields: MimeEntity['fields'] = [];
  WANTED_FIELDS.lastIndex = 0;
  for (let m = WANTED_FIELDS.exec(block); m; m = WANTED_FIELDS.exec(block)) {
    const name = m[1]!.toLowerCase();
    if (fields.some((f) => f.name === name)) continue;
    fields.push({ name, value: unfold(m[2]!) });
  }
  return { fields, body: buf.subarray(hb.bodyStart) };
}

/** Line breaks and stray CRs removed, then trimmed; a one-line value (the usual case) skips the regular expressions. */
function unfold(raw: string): string {
  if (!raw.includes('\n')) {
    const cr = raw.indexOf('\r');
    if (cr < 0) return raw.trim();
    if (cr === raw.length - 1) return raw.slice(0, cr).trim();
    return raw.replace(/\r/g, '').trim();
  }
  return raw.replace(/\r?\n/g, '').replace(/\r/g, '').trim();
}

// ---- transfer decoding ---------------------------------------------------------------

/** The CMS bytes of an entity body: base64 (the norm), binary DER, or PEM armour. */
function decodeBody(entity: MimeEntity): Buffer {
  const cte = (firstHeader(entity.fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  const body = bytesView(entity.body);
  if (cte === 'base64') return decodeCmsText(body, true);
  return decodeCmsText(body);
}


/** CMS from `body`, starting at `from`: DER as it is, or base64 (bare or PEM-armoured) decoded. */
function decodeCmsText(body: Buffer, base64 = false, from = 0): Buffer {
  let start = from;
  while (start < body.length && (body[start] === 0x20 || body[start] === 0x09 || body[start] === 0x0d || body[start] === 0x0a)) start++;
  if (!base64 && body[start] === 0x30) return body.subarray(start);
  let text = body.toString('latin1', start);
  if (text.includes('-----BEGIN')) {
    const pem = /-----BEGIN [A-Z0-9 ]+-----([\s\S]*?)-----END [A-Z0-9 ]+-----/.exec(text);
    if (pem) text = pem[1]!;
  }
  return Buffer.from(text, 'base64');
}

// ---- addresses ----------------------------------------------------------------------

const BARE_ADDRESS = /^\s*([^\s<>"(),;:]+@[^\s<>"(),;:]+)\s*$/;

/**
 * The addr-spec of a From value ("Name <a@b>", "a@b (comment)", or a bare
 * address), lower-cased; the first mailbox of a list. Quoted display names and
 * comments are removed first, so `"<x@evil>" <alice@corp>` yields alice@corp,
 * the address a mail client shows.
 */
export function extractAddress(value: string): string | null {
  if (!value.includes('"') && !value.includes('(')) {
    // A bare address, the usual From of a gateway's mail: what the general search below would find.
    const bare = BARE_ADDRESS.exec(value);
    if (bare) return bare[1]!.toLowerCase();
    const open = value.indexOf('<');
    const close = open >= 0 ? value.indexOf('>', open) : -1;
    if (open >= 0 && close > open && value.indexOf('<', open + 1) < 0) {
      const inside = value.slice(open + 1, close).trim();
      if (/^[^\s<>@]+@[^\s<>@]+$/.test(inside)) return inside.toLowerCase();
    }
  }
  let v = value.replace(/\r?\n[ \t]+/g, ' ').replace(/"(?:[^"\\]|\\.)*"/g, ' ');
  for (let i = 0; i < 8 && v.includes('('); i++) v = v.replace(/\([^()]*\)/g, ' ');
  const angle = /<\s*([^<>\s]+@[^<>\s]+?)\s*>/.exec(v);
  if (angle) return angle[1]!.toLowerCase();
  const bare = /([^\s<>"(),;:]+@[^\s<>"(),;:]+)/.exec(v);
  return bare ? bare[1]!.toLowerCase() : null;
}
