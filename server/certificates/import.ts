// Importing a PKCS#12 file for a user: every key pair in the file becomes a certificate row of
// its own with its private key sealed under the server key (an exported encryption history
// becomes one row per generation). Used by the import CLI and meant for the admin API. The file is
// opened and every certificate checked before anything is written, and the rows are written in
// one transaction: a refused import stores nothing.

import crypto from 'node:crypto';
import { EKU, parseCertificate, type Certificate } from '../../smime/certificate.js';
import { Pkcs12Error, readPkcs12, type Pkcs12ErrorCode, type Pkcs12Limits } from '../../smime/pkcs12.js';
import type { Store } from '../store/index.js';
import type { CertificatePurpose, StoredCertificate } from '../store/certificates.js';
import { seal } from '../store/secrets.js';

export type ImportErrorCode =
  /** The request itself is wrong (purpose, deviceId). */
  | 'bad-request'
  | 'unknown-user'
  /** The file could not be opened; `pkcs12Code` says why (wrong-password, damaged, ...). */
  | 'pkcs12'
  /** The file opened, but what it holds cannot be imported for this purpose. */
  | 'unsuitable';

export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    message: string,
    readonly code: ImportErrorCode,
    readonly pkcs12Code?: Pkcs12ErrorCode,
  ) {
    super(message);
  }
}

export interface ImportPkcs12Request {
  /** The user: full address or sign-in name (alice, CONTOSO\alice), or the numeric id. */
  user: string | number;
  purpose: CertificatePurpose;
  /** The EAS DeviceId of the one device a signing certificate belongs to. */
  deviceId?: string;
  /** Whether the GAL hands the certificates out; default true unless the purpose is signing. */
  publish?: boolean;
  pkcs12: Buffer;
  password: string;
  /** Provenance stored with each row, e.g. "import-pkcs12 alice.p12" or "admin API". */
  source: string;
}

export interface ImportedCertificate {
  certificate: StoredCertificate;
  /** 'added': a new row; 'key-added': the certificate was stored without its key; 'present': stored already with a key. */
  status: 'added' | 'key-added' | 'present';
}

export interface ImportPkcs12Result {
  user: { id: number; address: string };
  /** One entry per key pair in the file, in file order. */
  certificates: ImportedCertificate[];
  /** Things worth telling the person importing (expired generation, address not in the certificate). */
  warnings: string[];
  /** How the file was protected, e.g. ["pbewithSHAAnd40BitRC2-CBC", "pbeWithSHAAnd3-KeyTripleDES-CBC"]. */
  encryption: string[];
}

export interface ImportOptions {
  limits?: Partial<Pkcs12Limits>;
  /** Check everything, write nothing. */
  dryRun?: boolean;
  /** For expiry warnings; default now. */
  now?: Date;
}

const PURPOSES: readonly CertificatePurpose[] = ['signing', 'encryption', 'both'];
const ENCRYPTION_KEY_TYPES = new Set(['rsa', 'ec', 'x25519', 'x448']);

/** Why a certificate cannot serve the purpose, or undefined when it can. */
function unsuitable(cert: Certificate, purpose: CertificatePurpose): string | undefined {
  if (cert.isCA) return 'is a CA certificate, not a user\'s certificate';
  if (cert.extKeyUsage && !cert.extKeyUsage.includes(EKU.emailProtection) && !cert.extKeyUsage.includes(EKU.any)) {
    return 'is not for e-mail protection (its extended key usage lacks emailProtection)';
  }
  const ku = cert.keyUsage;
  if (purpose !== 'encryption' && ku && !ku.includes('digitalSignature') && !ku.includes('nonRepudiation')) {
    return `cannot sign (key usage: ${ku.join(', ')})`;
  }
  if (purpose !== 'signing') {
    if (ku && !ku.includes('keyEncipherment') && !ku.includes('keyAgreement')) return `cannot receive encrypted mail (key usage: ${ku.join(', ')})`;
    const type = crypto.createPublicKey({ key: cert.spki, format: 'der', type: 'spki' }).asymmetricKeyType ?? 'unknown';
    if (!ENCRYPTION_KEY_TYPES.has(type)) return `has a ${type} key, which cannot receive encrypted mail`;
  }
  return undefined;
}

function describe(cert: Certificate): string {
  return `"${cert.subject}" (serial ${cert.serial})`;
}

/** Imports every key pair of a PKCS#12 file for a user. Throws ImportError; writes nothing then. */
export async function importPkcs12(store: Store, serverKey: Buffer, req: ImportPkcs12Request, options: ImportOptions = {}): Promise<ImportPkcs12Result> {
  if (!PURPOSES.includes(req.purpose)) throw new ImportError(`purpose must be one of ${PURPOSES.join(', ')}, not "${String(req.purpose)}"`, 'bad-request');
  if (req.deviceId !== undefined) {
    if (req.purpose === 'encryption') {
      throw new ImportError('a device id belongs to signing certificates only: encryption certificates go to all of a user\'s devices', 'bad-request');
    }
    if (req.deviceId.trim() === '' || req.deviceId.length > 128) throw new ImportError('device id must have 1 to 128 characters', 'bad-request');
  }
  const user = typeof req.user === 'number' ? store.directory.userById(req.user) : store.directory.userBySignInName(req.user);
  if (!user) throw new ImportError(`no user ${String(req.user)} in this organisation`, 'unknown-user');

  let contents;
  try {
    contents = await readPkcs12(req.pkcs12, req.password, { limits: options.limits });
  } catch (e) {
    if (e instanceof Pkcs12Error) throw new ImportError(e.message, 'pkcs12', e.code);
    throw e;
  }
  if (contents.pairs.length === 0) {
    throw new ImportError('holds no private key (only certificates): export it with its private key', 'unsuitable');
  }

  const now = options.now ?? new Date();
  const warnings: string[] = [];
  const pairs = contents.pairs.map((pair) => {
    const cert = parseCertificate(pair.certificate);
    const why = unsuitable(cert, req.purpose);
    if (why) throw new ImportError(`${describe(cert)} ${why}`, 'unsuitable');
    if (cert.notAfter < now) warnings.push(`${describe(cert)} expired on ${cert.notAfter.toISOString().slice(0, 10)}: kept to read older mail`);
    if (cert.notBefore > now) warnings.push(`${describe(cert)} is not valid before ${cert.notBefore.toISOString().slice(0, 10)}`);
    if (!cert.addresses.includes(user.address)) {
      warnings.push(`${describe(cert)} does not name ${user.address}${cert.addresses.length ? ` (it names ${cert.addresses.join(', ')})` : ''}`);
    }
    return { pair, cert };
  });

  const fingerprint = (der: Buffer): string => new crypto.X509Certificate(der).fingerprint256;
  const write = (): ImportedCertificate[] => {
    const held = new Map(store.certificates.ofUser(user.id).filter((c) => c.purpose === req.purpose).map((c) => [c.fingerprint256, c]));
    return pairs.map(({ pair }) => {
      const sealedKey = seal(serverKey, pair.privateKey);
      const existing = held.get(fingerprint(pair.certificate));
      if (existing) {
        if (existing.hasPrivateKey) return { certificate: existing, status: 'present' as const };
        if (!options.dryRun) store.certificates.setSealedKey(existing.id, sealedKey);
        return { certificate: { ...existing, hasPrivateKey: true }, status: 'key-added' as const };
      }
      const chain = contents.others.filter((c) => !c.equals(pair.certificate));
      const row = {
        purpose: req.purpose,
        der: pair.certificate,
        chain,
        sealedKey,
        publish: req.publish ?? req.purpose !== 'signing',
        source: req.source,
        ...(req.deviceId !== undefined ? { deviceId: req.deviceId } : {}),
      };
      if (options.dryRun) return { certificate: dryRunRow(user.id, row), status: 'added' as const };
      return { certificate: store.certificates.add({ userId: user.id }, row), status: 'added' as const };
    });
  };
  const certificates = options.dryRun ? write() : store.db.transaction(write)();
  for (const { pair } of pairs) pair.privateKey.fill(0);
  return { user: { id: user.id, address: user.address }, certificates, warnings, encryption: contents.encryption };
}

/** What a row would look like (id 0), for a dry run. */
function dryRunRow(userId: number, c: { purpose: CertificatePurpose; der: Buffer; chain: Buffer[]; publish: boolean; source: string; deviceId?: string }): StoredCertificate {
  const x = new crypto.X509Certificate(c.der);
  return {
    id: 0, userId, purpose: c.purpose, der: c.der, chain: c.chain, hasPrivateKey: true, deviceId: c.deviceId, publish: c.publish,
    source: c.source, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), serial: x.serialNumber, issuer: x.issuer,
    subject: x.subject, fingerprint256: x.fingerprint256,
  };
}
