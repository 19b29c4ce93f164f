// One TrustStore per store contents: building it parses every anchor and CRL, and its chain cache is
// where verification speed comes from, so it is rebuilt only when the anchors or certificates change.
import { TrustStore } from '../../smime/trust.js';
import type { Store } from '../store/index.js';

const cache = new WeakMap<Store, { stamp: string; trust: TrustStore }>();

/**
 * Anchors and certificates are only ever added (never changed or removed), so the highest row ids
 * say whether anything is new: two rowid look-ups, whatever the size of the organisation.
 */
function stampOf(store: Store): string {
  const a = store.db.prepare('SELECT max(id) AS m FROM trust_anchors').get() as { m: number | null };
  const c = store.db.prepare('SELECT max(id) AS m FROM certificates').get() as { m: number | null };
  return `${a.m ?? 0}:${c.m ?? 0}`;
}

/** The organisation's trust store: its roots, intermediates and CRLs, and the certificates it knows (to find signers). */
export function trustStoreOf(store: Store): TrustStore {
  const stamp = stampOf(store);
  const hit = cache.get(store);
  if (hit && hit.stamp === stamp) return hit.trust;
  const anchors = store.certificates.trustAnchors();
  const known = (store.db.prepare('SELECT der FROM certificates').all() as Array<{ der: Buffer }>).map((r) => r.der);
  const trust = TrustStore.from({ roots: anchors.roots, intermediates: anchors.intermediates, crls: anchors.crls, certificates: known });
  cache.set(store, { stamp, trust });
  return trust;
}
