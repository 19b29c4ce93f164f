// The encryption-recipient-availability check: an encrypted message may go to a recipient only
// when the directory holds a valid encryption certificate for them AND the envelope was made for
// one of those certificates. Otherwise the recipient could not read it (or a stale key could).
import { validateCertificate, type TrustStore } from '../../smime/trust.js';
import type { Store } from '../store/index.js';
import type { StoredCertificate } from '../store/certificates.js';
import type { RecipientProblem } from './gateway.js';

export interface RecipientOutcome {
  address: string;
  ok: boolean;
  problem?: RecipientProblem;
  detail: string;
}

/** Tells which of these certificates (DER) the envelope holds a recipient entry for. */
export type EnvelopeMatcher = (certificates: readonly Buffer[]) => boolean[];

/** Groups expand to their members; a recipient that reaches several users is checked per user. */
const MAX_EXPANDED = 1000;

interface Target { address: string; certificates: StoredCertificate[]; via?: string }

/** Available means in the directory for senders to find: an unpublished certificate is as good as none. */
const published = (certs: StoredCertificate[]): StoredCertificate[] => certs.filter((c) => c.publish);

function targetsOf(store: Store, recipients: readonly string[]): Target[] {
  const out = new Map<string, Target>();
  for (const raw of recipients) {
    const address = raw.trim().toLowerCase();
    const locals = store.directory.expandLocal(address);
    if (locals.length > 0) {
      for (const u of locals) {
        if (out.size >= MAX_EXPANDED) break;
        if (!out.has(u.address)) {
          out.set(u.address, { address: u.address, certificates: published(store.certificates.ofUser(u.id, 'encryption')), via: u.address === address ? undefined : address });
        }
      }
      continue;
    }
    if (out.has(address)) continue;
    const contact = store.certificates.contactByAddress(address);
    out.set(address, { address, certificates: contact ? published(store.certificates.ofContact(contact.id, 'encryption')) : [] });
  }
  return [...out.values()];
}

function problemOf(reasons: readonly string[]): RecipientProblem {
  if (reasons.includes('revoked')) return 'revoked';
  if (reasons.includes('expired')) return 'expired';
  if (reasons.includes('not-yet-valid')) return 'not-yet-valid';
  return 'invalid';
}

/**
 * Checks every recipient. A recipient passes when one of their certificates is both valid now
 * and named in the envelope. When none passes, the reason given is the most useful one to the
 * sender: a valid certificate they forgot (not-in-envelope) before the state of the ones they used.
 */
export async function checkRecipients(
  store: Store, trust: TrustStore, recipients: readonly string[], named: EnvelopeMatcher, at = new Date(),
): Promise<RecipientOutcome[]> {
  const outcomes: RecipientOutcome[] = [];
  const validity = new Map<string, Awaited<ReturnType<typeof validateCertificate>>>();
  for (const t of targetsOf(store, recipients)) {
    const via = t.via ? ` (through ${t.via})` : '';
    if (t.certificates.length === 0) {
      outcomes.push({ address: t.address, ok: false, problem: 'no-certificate', detail: `no encryption certificate is known for ${t.address}${via}` });
      continue;
    }
    const inEnvelope = named(t.certificates.map((c) => c.der));
    const states: Array<Awaited<ReturnType<typeof validateCertificate>>> = [];
    for (const c of t.certificates) {
      let v = validity.get(c.fingerprint256);
      if (!v) {
        v = await validateCertificate(c.der, { trust, purpose: 'encryption', checkCrl: true, at, intermediates: c.chain });
        validity.set(c.fingerprint256, v);
      }
      states.push(v);
    }
    const passing = t.certificates.findIndex((_, i) => inEnvelope[i] && states[i]!.valid);
    if (passing >= 0) {
      outcomes.push({ address: t.address, ok: true, detail: `encrypted to certificate ${t.certificates[passing]!.serial}${via}` });
      continue;
    }
    const validOnes = t.certificates.filter((_, i) => states[i]!.valid);
    const usedIdx = t.certificates.map((_, i) => i).filter((i) => inEnvelope[i]);
    if (validOnes.length > 0) {
      const used = usedIdx.length > 0
        ? `; the message was encrypted to certificate ${t.certificates[usedIdx[0]!]!.serial}, which is ${problemOf(states[usedIdx[0]!]!.reasons)}`
        : '';
      outcomes.push({
        address: t.address, ok: false, problem: 'not-in-envelope',
        detail: `the envelope names none of ${t.address}'s valid encryption certificates (current: ${validOnes[validOnes.length - 1]!.serial})${used}${via}`,
      });
      continue;
    }
    // No valid certificate at all: say what is wrong with the one the sender used, else with the newest.
    const idx = usedIdx.length > 0 ? usedIdx[usedIdx.length - 1]! : t.certificates.length - 1;
    const problem = problemOf(states[idx]!.reasons);
    outcomes.push({
      address: t.address, ok: false, problem,
      detail: `certificate ${t.certificates[idx]!.serial} of ${t.address} is ${problem} (${states[idx]!.reasons.join(', ') || 'not valid'})${via}`,
    });
  }
  return outcomes;
}
