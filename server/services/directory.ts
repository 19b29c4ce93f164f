// The DirectoryPort over the store: name resolution against users, groups and external contacts,
// the encryption certificates the GAL hands out (only valid ones), free/busy, and certificate
// checks for ValidateCert. Validation goes through the organisation's trust store, which is built
// once per set of anchors and certificates (gateway/trust-cache.ts) and caches parsed
// certificates, verified links and built paths: a certificate seen before costs look-ups.
import type { Principal } from '../../eas/backend.js';
import type {
  CertificateCheck, CertificateCheckRequest, CertificateProblem, DirectoryPort, DirectoryRecipient, GroupMembers, NameResolution,
} from '../../eas/ports/directory.js';
import { certificatesFrom, parseCertificate, publicKeyOf, tryParseCertificate, type Certificate } from '../../smime/certificate.js';
import { encodeMiniCertificates } from '../../smime/minicert.js';
import { signatureScheme, verifyWith } from '../../smime/sig-algorithms.js';
import { validateCertificate, type CertificateValidation, type TrustStore } from '../../smime/trust.js';
import type { SmimeReason } from '../../smime/verdict.js';
import { trustStoreOf } from '../gateway/trust-cache.js';
import type { DirectoryName } from '../store/directory.js';
import type { ServiceDeps } from './deps.js';
import { occurrences } from '../meetings/occurrences.js';

/** Candidates read for one name: far above any real ambiguity, low enough to bound the work. */
const MAX_CANDIDATES = 10_000;
/** Issuers followed when looking for a broken certificate signature. */
const MAX_SIGNATURE_WALK = 8;
/** Separators after which a word of a display name starts. */
const WORD_START = /[\s,.\-'()]/;

/**
 * Calendar BusyStatus (0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere) to a
 * MergedFreeBusy digit (0 free, 1 tentative, 2 busy, 3 out of office): working elsewhere is available.
 * The digits are in order of precedence: where appointments overlap, the higher wins.
 */
const MERGED_LEVEL: Readonly<Record<number, number>> = { 0: 0, 1: 1, 2: 2, 3: 3, 4: 0 };

export class DirectoryService implements DirectoryPort {
  private readonly collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });

  constructor(private readonly deps: ServiceDeps) {}

  private get store() { return this.deps.store; }

  resolveName(_p: Principal, name: string, limit: number): NameResolution {
    const q = normaliseName(name);
    if (q === '') return { match: 'prefix', total: 0, entries: [] };
    const byAddress = this.store.directory.entryByAddress(q);
    if (byAddress) return { match: 'exact', total: 1, entries: [recipientOf(byAddress)] };
    const candidates = this.store.directory.entriesContaining(q, MAX_CANDIDATES);
    const exact = candidates.filter((e) => e.alias === q || e.displayName.toLowerCase() === q);
    if (exact.length === 1) return { match: 'exact', total: 1, entries: [recipientOf(exact[0]!)] };
    const matches = candidates.filter((e) => anrMatch(e, q));
    matches.sort((a, b) => this.collator.compare(a.displayName, b.displayName) || a.address.localeCompare(b.address));
    return { match: 'prefix', total: matches.length, entries: matches.slice(0, Math.max(0, limit)).map(recipientOf) };
  }

  members(_p: Principal, groupAddress: string, limit: number): GroupMembers {
    return {
      total: this.store.directory.groupSize(groupAddress),
      members: this.store.directory.groupMembers(groupAddress, limit).map((u) => ({ kind: 'user', displayName: u.displayName, emailAddress: u.address })),
    };
  }

  async encryptionCertificates(_p: Principal, address: string): Promise<Buffer[]> {
    const a = address.trim().toLowerCase();
    const user = this.store.directory.userByAddress(a);
    const contact = user ? undefined : this.store.certificates.contactByAddress(a);
    if (!user && !contact) return [];
    const published = this.store.certificates.publishedEncryption(user ? { userId: user.id } : { contactId: contact!.id });
    if (published.length === 0) return [];
    const trust = trustStoreOf(this.store);
    const at = new Date();
    const valid: Buffer[] = [];
    for (const c of published) {
      // Revocation is checked against the organisation's CRLs; a CA without one does not make
      // the certificate unusable, as in the gateway's recipient check.
      const v = await validateCertificate(c.der, { trust, purpose: 'encryption', checkCrl: true, at, intermediates: c.chain });
      if (v.valid) valid.push(c.der);
    }
    return valid;
  }

  miniCertificate(certificates: Buffer[]): Buffer {
    return encodeMiniCertificates(certificates);
  }

  freeBusy(_p: Principal, address: string, start: Date, slotMinutes: number, slots: number): string {
    const n = Math.max(0, Math.floor(slots));
    const user = this.store.directory.userByAddress(address);
    // The server holds no free/busy for people outside the organisation: "no data".
    if (!user) return '4'.repeat(n);
    // A user's appointments (as their devices synced them, series expanded) mark the slots they overlap; where several
    // do, the strongest wins: out of office, then busy, then tentative.
    const slotMs = slotMinutes * 60_000;
    const from = start.getTime();
    const digits = new Array<number>(n).fill(0);
    const to = from + n * slotMs;
    for (const a of this.store.mailbox.schedule(user.id, from, to)) {
      const times = a.recurrence ? occurrences(a, a.recurrence.rule, a.recurrence.timezone, from, to, a.recurrence.exceptions) : [a];
      for (const t of times) {
        const level = MERGED_LEVEL[t.busy ?? a.busy] ?? 2;
        const first = Math.max(0, Math.floor((t.start - from) / slotMs));
        const last = Math.min(n - 1, Math.ceil((t.end - from) / slotMs) - 1);
        for (let i = first; i <= last; i++) digits[i] = Math.max(digits[i]!, level);
      }
    }
    return digits.join('');
  }

  async checkCertificates(_p: Principal, request: CertificateCheckRequest): Promise<CertificateCheck[]> {
    const trust = trustStoreOf(this.store);
    const chain: Certificate[] = [];
    for (const der of request.chain) {
      for (const blob of certificatesFrom(der)) {
        const c = tryParseCertificate(blob);
        if (!('error' in c)) chain.push(c);
      }
    }
    const at = new Date();
    const out: CertificateCheck[] = [];
    for (const der of request.certificates) out.push(await this.checkOne(der, request.chain, chain, request.revocationRequired, trust, at));
    return out;
  }

  private async checkOne(der: Buffer, chainDer: Buffer[], chain: Certificate[], revocationRequired: boolean, trust: TrustStore, at: Date): Promise<CertificateCheck> {
    const v = await validateCertificate(der, {
      trust, at, purpose: 'signing', checkCrl: true, revocationUnknown: revocationRequired ? 'fail' : 'warn', intermediates: chainDer,
    });
    if (v.certificate === null) return invalid('malformed', detailOf(v, 'malformed') ?? 'not a certificate');
    // The same reading validateCertificate did (a PEM block is accepted as well as DER).
    const leaf = parseCertificate(certificatesFrom(der)[0]!);

    const errors = new Set<SmimeReason>(v.problems.filter((p) => p.severity === 'error').map((p) => p.reason));
    const pool = [...trust.roots, ...trust.intermediates, ...chain];
    if (errors.has('unsupported-algorithm')) return invalid('bad-signature', detailOf(v, 'unsupported-algorithm')!);
    if (errors.has('untrusted-root') || errors.has('chain-invalid')) {
      const broken = brokenSignature(leaf, pool, trust);
      if (broken) return invalid('bad-signature', broken);
    }
    if (errors.has('untrusted-root')) return invalid('untrusted-root', detailOf(v, 'untrusted-root')!);
    // After the root: a self-signed certificate from outside is first of all untrusted.
    if (leaf.isCA) return invalid('ca-as-end-entity', `${leaf.subject} is a CA certificate (basicConstraints cA), not an end-entity certificate`);
    const path = v.chain.map((e) => pool.find((c) => c.fingerprint256 === e.fingerprint256) ?? (e.fingerprint256 === leaf.fingerprint256 ? leaf : undefined));
    if (errors.has('chain-invalid')) {
      const notCa = path.slice(1, -1).find((c) => c !== undefined && !c.isCA);
      if (notCa) return invalid('end-entity-as-ca', `${notCa.subject} issued a certificate of the path but is not a CA`);
      return invalid('chain-invalid', detailOf(v, 'chain-invalid')!);
    }
    if (errors.has('revoked')) {
      const leafRevoked = v.problems.some((p) => p.reason === 'revoked' && p.severity === 'error' && (p.chainIndex ?? 0) === 0);
      return invalid(leafRevoked ? 'revoked' : 'ca-revoked', detailOf(v, 'revoked')!);
    }
    if (errors.has('expired')) return invalid('expired', detailOf(v, 'expired')!);
    if (errors.has('not-yet-valid')) return invalid('expired', detailOf(v, 'not-yet-valid')!);
    const unnested = nestingProblem(path);
    if (unnested) return invalid('validity-not-nested', unnested);
    if (errors.has('revocation-unknown')) return invalid('revocation-unknown', detailOf(v, 'revocation-unknown')!);
    if (errors.has('wrong-key-usage')) {
      return v.checks.keyUsage.status === 'fail' ? invalid('not-for-signing', v.checks.keyUsage.detail) : invalid('wrong-purpose', v.checks.extendedKeyUsage.detail);
    }
    const other = v.problems.find((p) => p.severity === 'error');
    if (other) return invalid('chain-invalid', `${other.reason}: ${other.detail}`);
    return { valid: true, detail: v.checks.chain.detail };
  }
}

function invalid(problem: CertificateProblem, detail: string): CertificateCheck {
  return { valid: false, problem, detail };
}

function detailOf(v: CertificateValidation, reason: SmimeReason): string | undefined {
  return v.problems.find((p) => p.reason === reason && p.severity === 'error')?.detail ?? v.problems.find((p) => p.reason === reason)?.detail;
}

/** A To value as a look-up key: "Name <address>" gives the address; case and spacing folded. */
function normaliseName(name: string): string {
  const angle = /<\s*([^<>\s]+@[^<>\s]+)\s*>\s*$/.exec(name);
  return (angle ? angle[1]! : name).trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Ambiguous name resolution: the name starts the display name or one of its words, the alias or the address. */
function anrMatch(e: DirectoryName, q: string): boolean {
  if (e.address.startsWith(q) || (e.alias !== undefined && e.alias.startsWith(q))) return true;
  const name = e.displayName.toLowerCase();
  if (name.startsWith(q)) return true;
  for (let i = 0; i < name.length - 1; i++) {
    if (WORD_START.test(name[i]!) && name.startsWith(q, i + 1)) return true;
  }
  return false;
}

function recipientOf(e: DirectoryName): DirectoryRecipient {
  return { kind: e.kind, displayName: e.displayName, emailAddress: e.address };
}

/**
 * Follows issuers by name from `leaf` and reports the first certificate whose signature verifies
 * under none of the certificates named as its issuer. The trust engine reports such a path only
 * as untrusted (no path was found); ValidateCert has a status of its own for it.
 */
function brokenSignature(leaf: Certificate, pool: readonly Certificate[], trust: TrustStore): string | undefined {
  let cur = leaf;
  for (let step = 0; step < MAX_SIGNATURE_WALK; step++) {
    if (trust.isAnchor(cur)) return undefined;
    const issuers = pool.filter((c) => c.subjectKey === cur.issuerKey && c.fingerprint256 !== cur.fingerprint256);
    if (issuers.length === 0) return undefined;
    const next = issuers.find((issuer) => signedBy(cur, issuer));
    if (!next) return `the signature of ${cur.subject} does not verify with the key of ${cur.issuer}`;
    cur = next;
  }
  return undefined;
}

function signedBy(child: Certificate, issuer: Certificate): boolean {
  try {
    const scheme = signatureScheme(child.der, child.signatureAlgorithm.node);
    return scheme.ok && verifyWith(scheme.value, publicKeyOf(issuer), child.tbs, child.signature);
  } catch {
    return false;
  }
}

/** A certificate of the path valid before its issuer is, or after its issuer expires. */
function nestingProblem(path: ReadonlyArray<Certificate | undefined>): string | undefined {
  for (let i = 0; i + 1 < path.length; i++) {
    const child = path[i];
    const issuer = path[i + 1];
    if (!child || !issuer) continue;
    if (child.notBefore < issuer.notBefore || child.notAfter > issuer.notAfter) {
      return `${child.subject} is valid from ${child.notBefore.toISOString()} to ${child.notAfter.toISOString()}, outside its issuer ${issuer.subject} (${issuer.notBefore.toISOString()} to ${issuer.notAfter.toISOString()})`;
    }
  }
  return undefined;
}
