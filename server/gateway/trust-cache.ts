// One TrustStore per store contents: building it parses every anchor and CRL, and its chain cache is
// where verification speed comes from, so it is rebuilt only when the anchors or certificates change.
import { TrustStore } from '../../smime/trust.js';
import type { Store } from '../store/index.js';

const cache = new WeakMap<Store, { stamp: number; trust: TrustStore }>();

/**
 * The store's change counter over the tables a TrustStore is built from. It moves on every insert,
 * update or delete there, from any connection (the admin API, fixtures, raw SQL, the PKCS#12 CLI
 * against a running server), and reading it reads neither table (see store/table-versions.ts).
 */
export function trustStampOf(store: Store): number {
  return store.versions.version('certificates', 'trust_anchors');
}

/** The organisation's trust store: its roots, intermediates and CRLs, and the certificates it knows (to find signers). */
export function trustStoreOf(store: Store): TrustStore {
  const stamp = trustStampOf(store);
  const hit = cache.get(store);
  if (hit && hit.stamp === stamp) return hit.trust;
  const trust = TrustStore.from(trustMaterialOf(store));
  // Rows read inside a transaction may yet be rolled back, and a rollback moves no counter: use, don't keep.
  if (store.versions.cacheable()) cache.set(store, { stamp, trust });
  return trust;
}

/** What a TrustStore is built from, as DER: the organisation's roots, intermediates and CRLs, and every certificate it knows. */
export function trustMaterialOf(store: Store): { roots: Buffer[]; intermediates: Buffer[]; crls: Buffer[]; certificates: Buffer[] } {
  const anchors = store.certificates.trustAnchors();
  const certificates = (store.db.prepare('SELECT der FROM certificates').all() as Array<{ der: Buffer }>).map((r) => r.der);
  return { ...anchors, certificates };
}
