// The certificate store: each user's signing certificates (per device where known) and the whole
// history of encryption certificates, private keys sealed under the server key; certificates of
// external contacts; the organisation's trust anchors and CRLs.
import crypto from 'node:crypto';
import type { Db } from './db.js';

export type CertificatePurpose = 'signing' | 'encryption' | 'both';

export interface StoredCertificate {
  id: number;
  userId?: number;
  contactId?: number;
  purpose: CertificatePurpose;
  der: Buffer;
  chain: Buffer[];
  hasPrivateKey: boolean;
  deviceId?: string;
  publish: boolean;
  source: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  issuer: string;
  subject: string;
  fingerprint256: string;
}

interface CertRow {
  id: number; user_id: number | null; contact_id: number | null; purpose: CertificatePurpose; der: Buffer;
  chain_der: Buffer | null; sealed_pkcs12: Buffer | null; device_id: string | null; publish: number; source: string;
  not_before: number; not_after: number; serial: string; issuer: string; subject: string; fingerprint256: string;
}

const toCert = (r: CertRow): StoredCertificate => ({
  id: r.id, userId: r.user_id ?? undefined, contactId: r.contact_id ?? undefined, purpose: r.purpose, der: r.der,
  chain: r.chain_der ? (JSON.parse(r.chain_der.toString()) as string[]).map((b) => Buffer.from(b, 'base64')) : [],
  hasPrivateKey: r.sealed_pkcs12 !== null, deviceId: r.device_id ?? undefined, publish: r.publish === 1, source: r.source,
  notBefore: new Date(r.not_before), notAfter: new Date(r.not_after), serial: r.serial, issuer: r.issuer,
  subject: r.subject, fingerprint256: r.fingerprint256,
});

export interface NewCertificate {
  purpose: CertificatePurpose;
  der: Buffer;
  chain?: Buffer[];
  /** The private key as PKCS#8 DER, already sealed (see secrets.seal). */
  sealedKey?: Buffer;
  deviceId?: string;
  publish?: boolean;
  source: string;
}

export class Certificates {
  constructor(private readonly db: Db) {}

  add(owner: { userId?: number; contactId?: number }, c: NewCertificate): StoredCertificate {
    const x = new crypto.X509Certificate(c.der);
    const existing = this.db.prepare('SELECT * FROM certificates WHERE fingerprint256 = ? AND coalesce(user_id, -1) = ? AND coalesce(contact_id, -1) = ? AND purpose = ?')
      .get(x.fingerprint256, owner.userId ?? -1, owner.contactId ?? -1, c.purpose) as CertRow | undefined;
    if (existing) return toCert(existing);
    const info = this.db.prepare(`INSERT INTO certificates (user_id, contact_id, purpose, der, chain_der, sealed_pkcs12, device_id,
      publish, source, not_before, not_after, serial, issuer, subject, fingerprint256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`).run(
      owner.userId ?? null, owner.contactId ?? null, c.purpose, c.der,
      c.chain && c.chain.length > 0 ? Buffer.from(JSON.stringify(c.chain.map((d) => d.toString('base64')))) : null,
      c.sealedKey ?? null, c.deviceId ?? null, c.publish === false ? 0 : 1, c.source,
      Date.parse(x.validFrom), Date.parse(x.validTo), x.serialNumber, x.issuer, x.subject, x.fingerprint256);
    return this.byId(Number(info.lastInsertRowid))!;
  }

  byId(id: number): StoredCertificate | undefined {
    const r = this.db.prepare('SELECT * FROM certificates WHERE id = ?').get(id) as CertRow | undefined;
    return r && toCert(r);
  }

  /** A user's certificates, oldest first (the encryption history in the order it was issued). */
  ofUser(userId: number, purpose?: 'signing' | 'encryption'): StoredCertificate[] {
    const rows = this.db.prepare('SELECT * FROM certificates WHERE user_id = ? ORDER BY not_before, id').all(userId) as CertRow[];
    return rows.map(toCert).filter((c) => purpose === undefined || c.purpose === purpose || c.purpose === 'both');
  }

  ofContact(contactId: number, purpose?: 'signing' | 'encryption'): StoredCertificate[] {
    const rows = this.db.prepare('SELECT * FROM certificates WHERE contact_id = ? ORDER BY not_before, id').all(contactId) as CertRow[];
    return rows.map(toCert).filter((c) => purpose === undefined || c.purpose === purpose || c.purpose === 'both');
  }

  /** The sealed private-key material of a certificate, for the owner's own use only. */
  sealedKey(id: number): Buffer | undefined {
    const r = this.db.prepare('SELECT sealed_pkcs12 FROM certificates WHERE id = ?').get(id) as { sealed_pkcs12: Buffer | null } | undefined;
    return r?.sealed_pkcs12 ?? undefined;
  }

  /**
   * A user's certificates that carry a private key, newest first (by notBefore, then by when they
   * were stored): the order in which to try keys on mail, so the whole history stays readable.
   * The key is PKCS#8 DER sealed with secrets.seal (the column's name predates that).
   */
  privateKeys(userId: number, purpose: 'signing' | 'encryption'): Array<{ certificate: StoredCertificate; sealedKey: Buffer }> {
    const rows = this.db.prepare(`SELECT * FROM certificates WHERE user_id = ? AND sealed_pkcs12 IS NOT NULL AND purpose IN (?, 'both')
      ORDER BY not_before DESC, id DESC`).all(userId, purpose) as CertRow[];
    return rows.map((r) => ({ certificate: toCert(r), sealedKey: r.sealed_pkcs12! }));
  }

  /** Some stored sealed key, to check that a server key is the one the store was sealed with. */
  anySealedKey(): Buffer | undefined {
    const r = this.db.prepare('SELECT sealed_pkcs12 FROM certificates WHERE sealed_pkcs12 IS NOT NULL LIMIT 1').get() as { sealed_pkcs12: Buffer } | undefined;
    return r?.sealed_pkcs12;
  }

  /** Gives a stored certificate its sealed private key when it has none yet; false when it had one. */
  setSealedKey(id: number, sealedKey: Buffer): boolean {
    return this.db.prepare('UPDATE certificates SET sealed_pkcs12 = ? WHERE id = ? AND sealed_pkcs12 IS NULL').run(sealedKey, id).changes === 1;
  }

  /**
   * The encryption certificates (purpose encryption or both) a user or external contact has
   * published in the directory, newest first: what ResolveRecipients may hand out once validated.
   */
  publishedEncryption(owner: { userId: number } | { contactId: number }): StoredCertificate[] {
    const [column, id] = 'userId' in owner ? ['user_id', owner.userId] : ['contact_id', owner.contactId];
    const rows = this.db.prepare(`SELECT * FROM certificates WHERE ${column} = ? AND publish = 1 AND purpose IN ('encryption', 'both')
      ORDER BY not_before DESC, id DESC`).all(id) as CertRow[];
    return rows.map(toCert);
  }

  setPublished(id: number, publish: boolean): boolean {
    return this.db.prepare('UPDATE certificates SET publish = ? WHERE id = ?').run(publish ? 1 : 0, id).changes === 1;
  }

  contactByAddress(address: string): { id: number; address: string; displayName: string } | undefined {
    const r = this.db.prepare('SELECT id, address, display_name FROM external_contacts WHERE address = ?').get(address.trim().toLowerCase()) as { id: number; address: string; display_name: string } | undefined;
    return r && { id: r.id, address: r.address, displayName: r.display_name };
  }

  trustAnchors(): { roots: Buffer[]; intermediates: Buffer[]; crls: Buffer[] } {
    const rows = this.db.prepare('SELECT kind, der FROM trust_anchors ORDER BY id').all() as Array<{ kind: 'root' | 'intermediate' | 'crl'; der: Buffer }>;
    return {
      roots: rows.filter((r) => r.kind === 'root').map((r) => r.der),
      intermediates: rows.filter((r) => r.kind === 'intermediate').map((r) => r.der),
      crls: rows.filter((r) => r.kind === 'crl').map((r) => r.der),
    };
  }

  addTrustAnchor(kind: 'root' | 'intermediate' | 'crl', der: Buffer, source: string): void {
    this.db.prepare('INSERT INTO trust_anchors (kind, der, source) VALUES (?, ?, ?)').run(kind, der, source);
  }
}
