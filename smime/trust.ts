// The trust store (roots, intermediates, CRLs, known end-entity certificates)
// and the certificate path engine: build a path from a certificate to a trust
// anchor, check every link's signature and every CA's constraints, then check
// validity, key usage and revocation. Built for repeated use: parsed
// certificates, verified links, verified CRLs and built paths are cached, so a
// certificate seen before costs map look-ups, not cryptography.
//
// pkijs's chain engine is deliberately not used: it takes the last certificate
// given as the leaf, checks only CRLs it is handed (an empty list silently
// skips revocation) and does not check end-entity usage. This engine makes
// each of those decisions explicitly.

import {
  certificatesFrom,
  certificateFacts,
  parseCertificate,
  publicKeyOf,
  summarize,
  validityAt,
  ekuName,
  EKU,
  type Certificate,
  type CertificateFacts,
} from './certificate.js';
import { crlsFrom, parseCrl, type Crl } from './crl.js';
import { keyPolicy, signatureScheme, verifyWith, type SignatureScheme } from './sig-algorithms.js';
import type { ChainEntry, Check, Problem, Severity, SmimeReason } from './verdict.js';

export class TrustStoreError extends Error {
  override name = 'TrustStoreError';
  constructor(readonly problems: string[]) {
    super(`trust store input refused:\n${problems.join('\n')}`);
  }
}

export type CertificateInput = Uint8Array | string;

export interface TrustStoreInput {
  /** Trust anchors: DER, or PEM text/bytes (a PEM may hold several). */
  roots: Iterable<CertificateInput>;
  /** CA certificates available for building paths. */
  intermediates?: Iterable<CertificateInput>;
  /** CRLs (DER or PEM), each signed by one of the CAs above. */
  crls?: Iterable<CertificateInput>;
  /**
   * End-entity certificates the organisation knows (its users, GAL contacts):
   * used to find a signer whose message carries no certificate. Never trusted
   * by being here: they still need a path to a root.
   */
  certificates?: Iterable<CertificateInput>;
}

export interface TrustStoreOptions {
  /** Built paths kept (each a handful of references). */
  maxCachedChains?: number;
}

export type Purpose = 'signing' | 'encryption' | 'any';

/** Fetches CRLs for a certificate's distribution points (see crl-fetch.ts). */
export interface CrlSource {
  crlsFor(cert: Certificate): Promise<Crl[]>;
}

export interface EvaluateOptions {
  at: Date;
  signingTime?: Date;
  purpose: Purpose;
  checkCrl: boolean;
  /** Certificates from the message or the caller, tried as intermediates. */
  extraCertificates?: readonly Certificate[];
  /** CRLs from the message or a fetch; used only once verified against the issuing CA. */
  extraCrls?: readonly Crl[];
  /** SHA-1 signatures in the path: a warning when allowed (default), an error when not. */
  allowSha1?: boolean;
  /** What a CA without any usable CRL means: a warning (default) or an error. */
  revocationUnknown?: 'warn' | 'fail';
  maxChainLength?: number;
  /** Off unless given: fetch CRLs from distribution points when the store has none for a CA. */
  crlSource?: CrlSource;
}

/** A problem found on a path; chainIndex 0 is the end-entity certificate. */
export type PathProblem = Omit<Problem, 'signer' | 'layer'>;

export interface PathEvaluation {
  chain: Certificate[];
  anchored: boolean;
  checks: {
    chain: Check;
    validityAtSigning: Check;
    validityNow: Check;
    keyUsage: Check;
    extendedKeyUsage: Check;
    revocation: Check;
  };
  problems: PathProblem[];
}

export const DEFAULT_MAX_CHAIN_LENGTH = 8;
/** Issuer candidates tried (signature checks) while building one path. */
const MAX_PATH_WORK = 64;
const HOUR = 3600_000;

interface BuiltPath {
  chain: Certificate[];
  anchored: boolean;
  problems: PathProblem[];
  /** Facts that do not depend on the time or the options, worked out once per path. */
  memo: PathMemo;
}

interface PathMemo {
  /** Chain indices whose certificate is signed with SHA-1 (links relied on only). */
  sha1Links?: number[];
  /** The span in which every certificate of the path is valid (ms). */
  window?: { from: number; to: number; text: string };
  purpose?: Map<Purpose, PurposeResult>;
  /** Revocation evidence from the store's CRLs (message or fetched CRLs are not memoised). */
  revocation?: LinkEvidence[];
}

interface PurposeResult {
  keyUsage: Check;
  extendedKeyUsage: Check;
  problems: PathProblem[];
}

/** What the CRLs say about one certificate of a path, whatever the time. */
interface LinkEvidence {
  index: number;
  cert: Certificate;
  issuer: Certificate;
  candidates: number;
  /** Why CRLs from this issuer were not used. */
  rejected: string[];
  /** Complete (non-delta) usable CRLs, newest first. */
  complete: Crl[];
  /** Entries for this serial in usable CRLs (removeFromCRL excluded). */
  entries: Array<{ date: number; reason?: string }>;
}

export class TrustStore {
  readonly roots: readonly Certificate[];
  readonly intermediates: readonly Certificate[];
  readonly crls: readonly Crl[];
  readonly certificates: readonly Certificate[];

  private readonly anchorsBySubject = new Map<string, Certificate[]>();
  private readonly casBySubject = new Map<string, Certificate[]>();
  private readonly crlsByIssuer = new Map<string, Crl[]>();
  private readonly knownByIssuerSerial = new Map<string, Certificate>();
  private readonly knownByKeyId = new Map<string, Certificate>();
  private readonly linkCache = new Map<string, LinkResult>();
  private readonly crlCheckCache = new Map<string, string | null>();
  /** Built paths by leaf (object identity: parsed certificates are shared), then by time bucket, length limit and extra certificates. */
  private readonly pathCache = { byLeaf: new WeakMap<Certificate, Map<string, BuiltPath>>(), size: 0 };
  private readonly maxCachedChains: number;
  private readonly counters = { hits: 0, misses: 0 };

  private constructor(roots: Certificate[], intermediates: Certificate[], crls: Crl[], certificates: Certificate[], options: TrustStoreOptions) {
    this.roots = Object.freeze(roots);
    this.intermediates = Object.freeze(intermediates);
    this.crls = Object.freeze(crls);
    this.certificates = Object.freeze(certificates);
    this.maxCachedChains = options.maxCachedChains ?? 10_000;
    for (const r of roots) push(this.anchorsBySubject, r.subjectKey, r);
    for (const c of intermediates) push(this.casBySubject, c.subjectKey, c);
    for (const crl of crls) push(this.crlsByIssuer, crl.issuerKey, crl);
    for (const c of [...certificates, ...intermediates, ...roots]) this.remember(c);
    Object.freeze(this);
  }

  /** Builds a store; throws TrustStoreError listing every unreadable input. */
  static from(input: TrustStoreInput, options: TrustStoreOptions = {}): TrustStore {
    const problems: string[] = [];
    const load = <T>(items: Iterable<CertificateInput> | undefined, what: string, split: (x: CertificateInput) => Buffer[], parse: (d: Buffer) => T): T[] => {
      const out: T[] = [];
      let n = 0;
      for (const item of items ?? []) {
        const blobs = split(item);
        if (blobs.length === 0) problems.push(`${what} ${n}: no PEM block found`);
        for (const der of blobs) {
          try {
            out.push(parse(der));
          } catch (e) {
            problems.push(`${what} ${n}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        n++;
      }
      return out;
    };
    const roots = dedupe(load(input.roots, 'root', certificatesFrom, parseCertificate));
    const intermediates = dedupe(load(input.intermediates, 'intermediate', certificatesFrom, parseCertificate));
    const crls = load(input.crls, 'crl', crlsFrom, parseCrl);
    const certificates = dedupe(load(input.certificates, 'certificate', certificatesFrom, parseCertificate));
    if (problems.length > 0) throw new TrustStoreError(problems);
    return new TrustStore(roots, intermediates, crls, certificates, options);
  }

  static empty(): TrustStore {
    return new TrustStore([], [], [], [], {});
  }

  /** Cache figures, for the admin view and benchmarks. */
  stats(): { cachedPaths: number; pathHits: number; pathMisses: number; cachedLinks: number } {
    return { cachedPaths: this.pathCache.size, pathHits: this.counters.hits, pathMisses: this.counters.misses, cachedLinks: this.linkCache.size };
  }

  isAnchor(cert: Certificate): boolean {
    const list = this.anchorsBySubject.get(cert.subjectKey);
    return !!list && list.some((r) => r.fingerprint256 === cert.fingerprint256 || r.spki.equals(cert.spki));
  }

  /** A known certificate by issuer and serial, or by subject key identifier (signer look-up). */
  findKnown(by: { issuerKey: string; serial: string } | { keyId: string }): Certificate | undefined {
    if ('keyId' in by) return this.knownByKeyId.get(by.keyId);
    return this.knownByIssuerSerial.get(`${by.issuerKey}#${by.serial}`);
  }

  private remember(c: Certificate): void {
    const k = `${c.issuerKey}#${c.serial}`;
    if (!this.knownByIssuerSerial.has(k)) this.knownByIssuerSerial.set(k, c);
    if (c.subjectKeyIdentifier && !this.knownByKeyId.has(c.subjectKeyIdentifier)) this.knownByKeyId.set(c.subjectKeyIdentifier, c);
    if (!this.knownByKeyId.has(c.keyHash)) this.knownByKeyId.set(c.keyHash, c);
  }

  // ---- evaluation -----------------------------------------------------------------

  /** Everything except fetching CRLs: synchronous, cached, bounded. */
  evaluate(leaf: Certificate, opts: EvaluateOptions): PathEvaluation {
    return this.evaluateWith(leaf, opts, opts.extraCrls ?? []);
  }

  /** As `evaluate`, fetching CRLs through `opts.crlSource` for CAs the store has no CRL from. */
  async evaluateAsync(leaf: Certificate, opts: EvaluateOptions): Promise<PathEvaluation> {
    return this.evaluateOrFetch(leaf, opts);
  }

  /**
   * As `evaluateAsync`, but answers at once (no promise) when nothing has to be fetched: the
   * usual case, where the store holds the CRLs or no CRL source is configured.
   */
  evaluateOrFetch(leaf: Certificate, opts: EvaluateOptions): PathEvaluation | Promise<PathEvaluation> {
    const first = this.evaluate(leaf, opts);
    if (!opts.crlSource || !opts.checkCrl || first.checks.revocation.status !== 'unknown' || !first.anchored) return first;
    return this.fetchAndEvaluate(leaf, opts, first, opts.crlSource);
  }

  private async fetchAndEvaluate(leaf: Certificate, opts: EvaluateOptions, first: PathEvaluation, source: CrlSource): Promise<PathEvaluation> {
    const fetched: Crl[] = [];
    // Only certificates on an anchored path: their distribution points were
    // written by a CA we trust, so we never fetch a URL an attacker chose.
    const wanted = new Set(first.problems.filter((p) => p.reason === 'revocation-unknown').map((p) => p.chainIndex));
    for (let i = 0; i < first.chain.length - 1; i++) {
      const cert = first.chain[i]!;
      if (!wanted.has(i) || cert.crlDistributionPoints.length === 0) continue;
      try {
        fetched.push(...(await source.crlsFor(cert)));
      } catch {
        // A failed fetch leaves the status unknown.
      }
    }
    if (fetched.length === 0) return first;
    return this.evaluateWith(leaf, opts, [...(opts.extraCrls ?? []), ...fetched]);
  }

  private evaluateWith(leaf: Certificate, opts: EvaluateOptions, extraCrls: readonly Crl[]): PathEvaluation {
    const built = this.buildPath(leaf, opts);
    const { chain, memo } = built;
    // Copies: cached problems must not be changed through a caller's result.
    const problems: PathProblem[] = built.problems.map((p) => ({ ...p }));

    // Weak signature algorithms on the links relied on (never the anchor's self-signature).
    memo.sha1Links ??= chain.slice(0, -1).flatMap((c, i) => (this.schemeOf(c)?.hash === 'sha1' ? [i] : []));
    for (const i of memo.sha1Links) addProblem(problems, 'weak-algorithm', opts.allowSha1 !== false ? 'warning' : 'error', `${label(chain[i]!, i)} is signed with SHA-1`, i);

    let chainCheck: Check;
    if (!built.anchored) chainCheck = { status: 'fail', detail: built.problems.find((p) => p.reason === 'untrusted-root' || p.reason === 'chain-invalid')?.detail ?? 'no path to a trusted root' };
    else {
      const bad = built.problems.find((p) => p.severity === 'error');
      chainCheck = bad
        ? { status: 'fail', detail: bad.detail }
        : { status: 'pass', detail: `${chain.length} certificate${chain.length === 1 ? '' : 's'} to trusted root ${chain[chain.length - 1]!.subject}` };
    }

    const validityNow = this.validityCheck(built, opts.at, 'now', problems);
    const validityAtSigning = opts.signingTime ? this.validityCheck(built, opts.signingTime, 'at signing time', problems) : { status: 'skipped' as const, detail: 'no signing time' };

    let purpose = memo.purpose?.get(opts.purpose);
    if (!purpose) {
      purpose = purposeChecks(leaf, opts.purpose);
      Object.freeze(purpose.keyUsage);
      Object.freeze(purpose.extendedKeyUsage);
      (memo.purpose ??= new Map()).set(opts.purpose, purpose);
    }
    for (const p of purpose.problems) problems.push({ ...p });

    let revocation: Check;
    if (!opts.checkCrl) revocation = { status: 'skipped', detail: 'revocation checking off' };
    else if (!built.anchored) revocation = { status: 'skipped', detail: 'no trusted path' };
    else if (chain.length === 1) revocation = { status: 'skipped', detail: 'the certificate is itself a trust anchor' };
    else {
      const evidence = extraCrls.length === 0 ? (memo.revocation ??= this.revocationEvidence(chain, [])) : this.revocationEvidence(chain, extraCrls);
      revocation = revocationAt(evidence, opts.at, opts.revocationUnknown ?? 'warn', problems);
    }

    return { chain: chain.slice(), anchored: built.anchored, checks: { chain: chainCheck, validityAtSigning, validityNow, keyUsage: purpose.keyUsage, extendedKeyUsage: purpose.extendedKeyUsage, revocation }, problems };
  }

  private validityCheck(built: BuiltPath, at: Date, when: string, problems: PathProblem[]): Check {
    const chain = built.chain;
    if (!built.memo.window) {
      const from = Math.max(...chain.map((c) => c.notBefore.getTime()));
      const to = Math.min(...chain.map((c) => c.notAfter.getTime()));
      built.memo.window = { from, to, text: from <= to ? `${new Date(from).toISOString()} to ${new Date(to).toISOString()}` : 'never' };
    }
    const w = built.memo.window;
    const t = at.getTime();
    if (t >= w.from && t <= w.to) return { status: 'pass', detail: `valid ${when}: the path is valid from ${w.text}` };
    const failures: string[] = [];
    chain.forEach((c, i) => {
      const v = validityAt(c, at);
      if (v === 'ok') return;
      const detail =
        v === 'expired'
          ? `${label(c, i)} expired on ${c.notAfter.toISOString()} (${when}: ${at.toISOString()})`
          : `${label(c, i)} is not valid before ${c.notBefore.toISOString()} (${when}: ${at.toISOString()})`;
      failures.push(detail);
      // "Expired now" and "expired at signing time" are one fact about one certificate: reported once.
      if (!problems.some((p) => p.reason === v && p.chainIndex === i)) problems.push({ reason: v, severity: 'error', detail, chainIndex: i });
    });
    return { status: 'fail', detail: failures.join('; ') };
  }

  // ---- path building ----------------------------------------------------------

  private buildPath(leaf: Certificate, opts: EvaluateOptions): BuiltPath {
    const maxLen = Math.max(1, Math.min(opts.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH, 32));
    const extras: Certificate[] = [];
    // Non-CA certificates stay candidates so that a path through one is reported as chain-invalid, not merely untrusted.
    for (const c of opts.extraCertificates ?? []) if (c !== leaf && c.fingerprint256 !== leaf.fingerprint256) extras.push(c);
    let key = Math.floor(opts.at.getTime() / HOUR) + '|' + maxLen;
    if (extras.length === 1) key += '|' + idOf(extras[0]!);
    else if (extras.length > 1) key += '|' + extras.map(idOf).sort((a, b) => a - b).join(',');
    let forLeaf = this.pathCache.byLeaf.get(leaf);
    const hit = forLeaf?.get(key);
    if (hit) {
      this.counters.hits++;
      return hit;
    }
    this.counters.misses++;
    const extraBySubject = new Map<string, Certificate[]>();
    for (const c of extras) push(extraBySubject, c.subjectKey, c);
    const state: SearchState = { work: 0, best: null, linkFailures: [], maxLen, at: opts.at, extraBySubject };
    const found = this.extend([leaf], state);
    const result = found ?? state.flawed ?? this.unanchored(leaf, state);
    if (this.pathCache.size >= this.maxCachedChains) {
      // Rare (the bound is generous): start afresh rather than track recency.
      this.pathCache.byLeaf = new WeakMap();
      this.pathCache.size = 0;
      forLeaf = undefined;
    }
    if (!forLeaf) this.pathCache.byLeaf.set(leaf, (forLeaf = new Map()));
    // A few entries per leaf: the hour bucket moves on, old buckets go.
    if (forLeaf.size >= 8) {
      forLeaf.delete(forLeaf.keys().next().value!);
      this.pathCache.size--;
    }
    forLeaf.set(key, result);
    this.pathCache.size++;
    return result;
  }

  private extend(path: Certificate[], s: SearchState): BuiltPath | null {
    const cur = path[path.length - 1]!;
    if (this.isAnchor(cur)) {
      // A path that breaks a CA constraint is kept in reserve while a clean one is sought.
      const done = this.finish(path);
      if (!done.problems.some((p) => p.severity === 'error')) return done;
      s.flawed ??= done;
      return null;
    }
    if (!s.best || path.length > s.best.length) s.best = path;
    if (path.length >= s.maxLen) {
      s.linkFailures.push(`path longer than ${s.maxLen} certificates`);
      return null;
    }
    for (const cand of this.issuerCandidates(cur, path, s)) {
      if (++s.work > MAX_PATH_WORK) return null;
      const link = this.link(cur, cand);
      if (!link.ok) {
        s.linkFailures.push(`${cur.subject}: signature by ${cand.subject} ${link.detail}`);
        if (link.unsupported) s.unsupported = link.detail;
        continue;
      }
      const r = this.extend([...path, cand], s);
      if (r) return r;
    }
    return null;
  }

  private issuerCandidates(cur: Certificate, path: Certificate[], s: SearchState): Certificate[] {
    const seen = new Set(path.map((c) => c.fingerprint256));
    const pool = [
      ...(this.anchorsBySubject.get(cur.issuerKey) ?? []),
      ...(this.casBySubject.get(cur.issuerKey) ?? []),
      ...(s.extraBySubject.get(cur.issuerKey) ?? []),
    ].filter((c) => {
      if (seen.has(c.fingerprint256)) return false;
      seen.add(c.fingerprint256);
      return true;
    });
    // Prefer a key-identifier match, then a certificate valid at the time, then anchors (pool order).
    const score = (c: Certificate): number =>
      (cur.authorityKeyIdentifier && c.subjectKeyIdentifier ? (cur.authorityKeyIdentifier === c.subjectKeyIdentifier ? 0 : 4) : 1) +
      (validityAt(c, s.at) === 'ok' ? 0 : 2);
    return pool.map((c, i) => ({ c, k: score(c) * 1000 + i })).sort((a, b) => a.k - b.k).map((x) => x.c);
  }

  /** Is `child` signed by `issuer`'s key? Cached: the answer never changes. */
  private link(child: Certificate, issuer: Certificate): LinkResult {
    const key = `${child.fingerprint256}>${issuer.fingerprint256}`;
    const hit = this.linkCache.get(key);
    if (hit) return hit;
    let result: LinkResult;
    try {
      const scheme = signatureScheme(child.der, child.signatureAlgorithm.node);
      if (!scheme.ok) {
        result = { ok: false, unsupported: true, detail: `uses ${scheme.detail}` };
      } else {
        const key = publicKeyOf(issuer);
        const policy = keyPolicy(key);
        if (!policy.supported) result = { ok: false, unsupported: true, detail: `uses an unsupported key (${policy.detail})` };
        else result = verifyWith(scheme.value, key, child.tbs, child.signature) ? { ok: true } : { ok: false, detail: 'does not verify' };
      }
    } catch (e) {
      result = { ok: false, detail: `cannot be checked (${e instanceof Error ? e.message : String(e)})` };
    }
    if (this.linkCache.size >= 50_000) this.linkCache.delete(this.linkCache.keys().next().value!);
    this.linkCache.set(key, result);
    return result;
  }

  private schemeOf(c: Certificate): SignatureScheme | null {
    try {
      const s = signatureScheme(c.der, c.signatureAlgorithm.node);
      return s.ok ? s.value : null;
    } catch {
      return null;
    }
  }

  /** Constraint checks on a path that reached an anchor. */
  private finish(path: Certificate[]): BuiltPath {
    const problems: PathProblem[] = [];
    const last = path.length - 1;
    path.forEach((c, i) => {
      if (c.unhandledCritical.length > 0) {
        problems.push({ reason: 'chain-invalid', severity: 'error', detail: `${label(c, i)} has unsupported critical extension ${c.unhandledCritical.join(', ')}`, chainIndex: i });
      }
      if (i === 0) return;
      const isAnchor = i === last;
      if (!isAnchor && !c.isCA) {
        problems.push({ reason: 'chain-invalid', severity: 'error', detail: `${label(c, i)} issues certificates but is not a CA (basicConstraints)`, chainIndex: i });
      }
      if (c.keyUsage && !c.keyUsage.includes('keyCertSign')) {
        problems.push({ reason: 'chain-invalid', severity: 'error', detail: `${label(c, i)} keyUsage does not allow keyCertSign`, chainIndex: i });
      }
      if (c.pathLenConstraint !== undefined) {
        // Intermediates below this one, not counting self-issued ones (RFC 5280 6.1.4 (l)).
        const below = path.slice(1, i).filter((x) => !x.selfIssued).length;
        if (below > c.pathLenConstraint) {
          problems.push({ reason: 'chain-invalid', severity: 'error', detail: `${label(c, i)} allows ${c.pathLenConstraint} CA(s) below it, found ${below}`, chainIndex: i });
        }
      }
    });
    return { chain: path, anchored: true, problems, memo: {} };
  }

  private unanchored(leaf: Certificate, s: SearchState): BuiltPath {
    const chain = s.best ?? [leaf];
    const top = chain[chain.length - 1]!;
    let detail: string;
    if (s.linkFailures.length > 0) detail = `no trusted path: ${s.linkFailures.slice(0, 3).join('; ')}`;
    else if (top.selfIssued) detail = `${top.subject} is self-signed and not a trusted root`;
    else detail = `issuer ${top.issuer} of ${top.subject} is neither a trusted root nor a known CA`;
    const problems: PathProblem[] = [{ reason: 'untrusted-root', severity: 'error', detail }];
    if (s.unsupported) problems.push({ reason: 'unsupported-algorithm', severity: 'error', detail: `certificate signature ${s.unsupported}` });
    return { chain, anchored: false, problems, memo: {} };
  }

  // ---- revocation ---------------------------------------------------------------

  /** The CRL evidence for each certificate of an anchored path (all but the anchor). */
  private revocationEvidence(chain: Certificate[], extraCrls: readonly Crl[]): LinkEvidence[] {
    const out: LinkEvidence[] = [];
    for (let i = 0; i < chain.length - 1; i++) {
      const cert = chain[i]!;
      const issuer = chain[i + 1]!;
      const candidates = [...(this.crlsByIssuer.get(issuer.subjectKey) ?? []), ...extraCrls.filter((c) => c.issuerKey === issuer.subjectKey)];
      const usable: Crl[] = [];
      const rejected: string[] = [];
      for (const crl of candidates) {
        const why = crl.unusable ?? this.crlProblem(crl, issuer) ?? (inScope(crl, cert) ? null : 'out of scope for this certificate');
        if (why === null) usable.push(crl);
        else rejected.push(`CRL of ${crl.thisUpdate.toISOString()}: ${why}`);
      }
      const entries: LinkEvidence['entries'] = [];
      for (const crl of usable) {
        const e = crl.revoked.get(cert.serial);
        if (e && e.reason !== 'removeFromCRL') entries.push(e.reason ? { date: e.date.getTime(), reason: e.reason } : { date: e.date.getTime() });
      }
      entries.sort((a, b) => a.date - b.date);
      const complete = usable.filter((c) => !c.isDelta).sort((a, b) => b.thisUpdate.getTime() - a.thisUpdate.getTime());
      out.push({ index: i, cert, issuer, candidates: candidates.length, rejected, complete, entries });
    }
    return out;
  }

  /** Null when `crl` is issued and signed by `issuer`; otherwise why not. Cached. */
  private crlProblem(crl: Crl, issuer: Certificate): string | null {
    const key = `${crl.fingerprint256}>${issuer.fingerprint256}`;
    const hit = this.crlCheckCache.get(key);
    if (hit !== undefined) return hit;
    let problem: string | null = null;
    if (crl.issuerKey !== issuer.subjectKey) problem = 'issuer name differs';
    else if (crl.authorityKeyIdentifier && issuer.subjectKeyIdentifier && crl.authorityKeyIdentifier !== issuer.subjectKeyIdentifier) problem = 'authority key identifier differs';
    else if (issuer.keyUsage && !issuer.keyUsage.includes('cRLSign')) problem = 'issuer keyUsage lacks cRLSign';
    else {
      try {
        const scheme = signatureScheme(crl.der, crl.signatureAlgorithm.node);
        if (!scheme.ok) problem = `unsupported signature (${scheme.detail})`;
        else if (!verifyWith(scheme.value, publicKeyOf(issuer), crl.tbs, crl.signature)) problem = 'signature does not verify';
      } catch (e) {
        problem = `cannot be checked (${e instanceof Error ? e.message : String(e)})`;
      }
    }
    if (this.crlCheckCache.size >= 10_000) this.crlCheckCache.delete(this.crlCheckCache.keys().next().value!);
    this.crlCheckCache.set(key, problem);
    return problem;
  }
}

interface LinkResult {
  ok: boolean;
  unsupported?: boolean;
  detail?: string;
}

interface SearchState {
  work: number;
  flawed?: BuiltPath;
  best: Certificate[] | null;
  linkFailures: string[];
  unsupported?: string;
  maxLen: number;
  at: Date;
  extraBySubject: Map<string, Certificate[]>;
}

const certIds = new WeakMap<Certificate, number>();
let nextCertId = 1;

/** A small number per parsed certificate, for short cache keys. */
function idOf(c: Certificate): number {
  let id = certIds.get(c);
  if (id === undefined) certIds.set(c, (id = nextCertId++));
  return id;
}

/** A module-level function, not a closure made per evaluation: evaluations are the hot path of a warm store. */
function addProblem(problems: PathProblem[], reason: SmimeReason, severity: Severity, detail: string, chainIndex?: number): void {
  problems.push(chainIndex === undefined ? { reason, severity, detail } : { reason, severity, detail, chainIndex });
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function dedupe(certs: Certificate[]): Certificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => !seen.has(c.fingerprint256) && !!seen.add(c.fingerprint256));
}

function label(c: Certificate, i: number): string {
  return i === 0 ? `certificate ${c.subject}` : `CA certificate ${c.subject}`;
}

function inScope(crl: Crl, cert: Certificate): boolean {
  const s = crl.scope;
  if (s.partial) return false;
  if (s.onlyUserCerts && cert.isCA) return false;
  if (s.onlyCaCerts && !cert.isCA) return false;
  if (s.distributionPoints.length > 0 && cert.crlDistributionPoints.length > 0) {
    return s.distributionPoints.some((dp) => cert.crlDistributionPoints.includes(dp));
  }
  return true;
}

function purposeChecks(leaf: Certificate, purpose: Purpose): PurposeResult {
  const problems: PathProblem[] = [];
  let keyUsage: Check;
  const ku = leaf.keyUsage;
  if (purpose === 'any') keyUsage = { status: 'skipped', detail: 'no purpose requested' };
  else if (!ku) keyUsage = { status: 'pass', detail: 'no keyUsage extension: any usage allowed' };
  else {
    const wanted = purpose === 'signing' ? (['digitalSignature', 'nonRepudiation'] as const) : (['keyEncipherment', 'keyAgreement'] as const);
    const ok = wanted.filter((w) => ku.includes(w));
    if (ok.length > 0) keyUsage = { status: 'pass', detail: `keyUsage ${ok.join(', ')}` };
    else {
      const detail = `keyUsage ${ku.join(', ') || '(empty)'} does not allow ${purpose} (needs ${wanted.join(' or ')})`;
      keyUsage = { status: 'fail', detail };
      problems.push({ reason: 'wrong-key-usage', severity: 'error', detail, chainIndex: 0 });
    }
  }
  let extendedKeyUsage: Check;
  const eku = leaf.extKeyUsage;
  if (purpose === 'any') extendedKeyUsage = { status: 'skipped', detail: 'no purpose requested' };
  else if (!eku) extendedKeyUsage = { status: 'pass', detail: 'no extendedKeyUsage extension: any purpose allowed' };
  else if (eku.includes(EKU.emailProtection) || eku.includes(EKU.any)) {
    extendedKeyUsage = { status: 'pass', detail: `extendedKeyUsage ${eku.includes(EKU.emailProtection) ? 'emailProtection' : 'anyExtendedKeyUsage'}` };
  } else {
    const detail = `extendedKeyUsage ${eku.map(ekuName).join(', ') || '(empty)'} lacks emailProtection`;
    extendedKeyUsage = { status: 'fail', detail };
    problems.push({ reason: 'wrong-key-usage', severity: 'error', detail, chainIndex: 0 });
  }
  return { keyUsage, extendedKeyUsage, problems };
}

/** Revocation status at a moment, from evidence worked out beforehand. */
function revocationAt(evidence: LinkEvidence[], at: Date, unknownPolicy: 'warn' | 'fail', problems: PathProblem[]): Check {
  const t = at.getTime();
  let revoked: string[] | null = null;
  let unknown: string[] | null = null;
  const unknownSeverity: Severity = unknownPolicy === 'fail' ? 'error' : 'warning';
  for (const link of evidence) {
    const { cert, issuer, index } = link;
    const hit = link.entries.find((e) => e.date <= t);
    if (hit) {
      const detail = `${label(cert, index)} (serial ${cert.serial}) was revoked on ${new Date(hit.date).toISOString()}${hit.reason ? ` (${hit.reason})` : ''} by ${issuer.subject}`;
      (revoked ??= []).push(detail);
      addProblem(problems, 'revoked', 'error', detail, index);
      continue;
    }
    let why: string | null = null;
    if (link.complete.length === 0) {
      why = link.candidates === 0 ? `no CRL from ${issuer.subject}` : `no usable CRL from ${issuer.subject} (${link.rejected.slice(0, 3).join('; ') || 'only delta CRLs'})`;
    } else {
      const next = link.complete[0]!.nextUpdate;
      if (next && next.getTime() < t) why = `the newest CRL from ${issuer.subject} expired on ${next.toISOString()}`;
    }
    if (why) {
      (unknown ??= []).push(`${label(cert, index)}: ${why}`);
      addProblem(problems, 'revocation-unknown', unknownSeverity, `revocation status of ${label(cert, index)} unknown: ${why}`, index);
    }
  }
  if (revoked) return { status: 'fail', detail: revoked.join('; ') };
  if (unknown) return { status: 'unknown', detail: unknown.join('; ') };
  return { status: 'pass', detail: `not revoked (${evidence.length} certificate${evidence.length === 1 ? '' : 's'} checked against CRLs)` };
}

export function chainEntries(chain: readonly Certificate[]): ChainEntry[] {
  return chain.map(summarize);
}

// ---- certificate validation for callers outside message verification ------------

export interface ValidateCertificateOptions {
  trust: TrustStore;
  at?: Date;
  purpose: 'signing' | 'encryption';
  checkCrl: boolean;
  /** Extra CA certificates (DER or PEM) to build the path with, e.g. from an EAS request. */
  intermediates?: Iterable<CertificateInput>;
  /** When given, the certificate must carry this address (SAN rfc822Name or subject emailAddress). */
  address?: string;
  allowSha1?: boolean;
  revocationUnknown?: 'warn' | 'fail';
  crlSource?: CrlSource;
  maxChainLength?: number;
}

export interface CertificateValidation {
  valid: boolean;
  reasons: SmimeReason[];
  problems: PathProblem[];
  /** Facts of the certificate itself; null when it could not be read. */
  certificate: CertificateFacts | null;
  chain: ChainEntry[];
  checks: {
    chain: Check;
    validity: Check;
    keyUsage: Check;
    extendedKeyUsage: Check;
    revocation: Check;
    address: Check;
  };
}

const SKIPPED: Check = { status: 'skipped', detail: 'certificate not readable' };

/**
 * Validates one certificate for a purpose (EAS ValidateCert, the
 * encryption-recipient-availability check). Never throws: unreadable input is
 * reported as `malformed`.
 */
export async function validateCertificate(cert: CertificateInput, opts: ValidateCertificateOptions): Promise<CertificateValidation> {
  let leaf: Certificate;
  try {
    const blobs = certificatesFrom(cert);
    if (blobs.length !== 1) throw new Error(blobs.length === 0 ? 'no certificate found' : `${blobs.length} certificates given, expected one`);
    leaf = parseCertificate(blobs[0]!);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    return {
      valid: false,
      reasons: ['malformed'],
      problems: [{ reason: 'malformed', severity: 'error', detail }],
      certificate: null,
      chain: [],
      checks: { chain: SKIPPED, validity: SKIPPED, keyUsage: SKIPPED, extendedKeyUsage: SKIPPED, revocation: SKIPPED, address: SKIPPED },
    };
  }
  const problems: PathProblem[] = [];
  const extra: Certificate[] = [];
  for (const item of opts.intermediates ?? []) {
    for (const der of safeCertificatesFrom(item)) {
      const parsed = safeParse(der);
      if ('error' in parsed) problems.push({ reason: 'malformed', severity: 'warning', detail: `an intermediate certificate is unreadable: ${parsed.error}` });
      else extra.push(parsed);
      if (extra.length >= 64) break;
    }
  }
  let evaluation: PathEvaluation;
  try {
    evaluation = await opts.trust.evaluateAsync(leaf, {
      at: opts.at ?? new Date(),
      purpose: opts.purpose,
      checkCrl: opts.checkCrl,
      extraCertificates: extra,
      allowSha1: opts.allowSha1,
      revocationUnknown: opts.revocationUnknown,
      crlSource: opts.crlSource,
      maxChainLength: opts.maxChainLength,
    });
  } catch (e) {
    const detail = `unexpected failure: ${e instanceof Error ? e.message : String(e)}`;
    return { valid: false, reasons: ['malformed'], problems: [{ reason: 'malformed', severity: 'error', detail }], certificate: certificateFacts(leaf), chain: [], checks: { chain: SKIPPED, validity: SKIPPED, keyUsage: SKIPPED, extendedKeyUsage: SKIPPED, revocation: SKIPPED, address: SKIPPED } };
  }
  problems.push(...evaluation.problems);
  const keyPolicyResult = (() => {
    try {
      return keyPolicy(publicKeyOf(leaf));
    } catch (e) {
      return { supported: false, weak: false, detail: e instanceof Error ? e.message : String(e) };
    }
  })();
  if (!keyPolicyResult.supported) problems.push({ reason: 'unsupported-algorithm', severity: 'error', detail: `certificate key: ${keyPolicyResult.detail}`, chainIndex: 0 });
  else if (keyPolicyResult.weak) problems.push({ reason: 'weak-algorithm', severity: 'warning', detail: `certificate key: ${keyPolicyResult.detail}`, chainIndex: 0 });

  let address: Check = { status: 'skipped', detail: 'no address requested' };
  if (opts.address !== undefined) {
    const want = opts.address.trim().toLowerCase();
    if (leaf.addresses.includes(want)) address = { status: 'pass', detail: `certificate carries ${want}` };
    else {
      address = { status: 'fail', detail: leaf.addresses.length ? `certificate is for ${leaf.addresses.join(', ')}, not ${want}` : `certificate carries no e-mail address (wanted ${want})` };
      problems.push({ reason: 'address-mismatch', severity: 'error', detail: address.detail, chainIndex: 0 });
    }
  }
  const c = evaluation.checks;
  return {
    valid: !problems.some((p) => p.severity === 'error'),
    reasons: distinctReasons(problems),
    problems,
    certificate: certificateFacts(leaf),
    chain: chainEntries(evaluation.chain),
    checks: { chain: c.chain, validity: c.validityNow, keyUsage: c.keyUsage, extendedKeyUsage: c.extendedKeyUsage, revocation: c.revocation, address },
  };
}

function safeCertificatesFrom(item: CertificateInput): Buffer[] {
  try {
    return certificatesFrom(item).slice(0, 64);
  } catch {
    return [];
  }
}

function safeParse(der: Buffer): Certificate | { error: string } {
  try {
    return parseCertificate(der);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** Distinct reasons, errors first, each in first-seen order. */
export function distinctReasons(problems: ReadonlyArray<{ reason: SmimeReason; severity: Severity }>): SmimeReason[] {
  const out: SmimeReason[] = [];
  for (const sev of ['error', 'warning'] as const) {
    for (const p of problems) if (p.severity === sev && !out.includes(p.reason)) out.push(p.reason);
  }
  return out;
}
