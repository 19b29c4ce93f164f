// What ResolveRecipients and ValidateCert need from the mail service: names resolved against the
// directory (users, groups, external contacts), group members, each person's valid encryption
// certificates, free/busy, and certificate validation. MS-ASCMD's status numbers stay in the
// commands; the service answers in its own terms. (Search in the GAL has its own port: search.ts.)
import type { Principal } from '../backend.js';

export type RecipientKind = 'user' | 'group' | 'contact';

export interface DirectoryRecipient {
  kind: RecipientKind;
  displayName: string;
  emailAddress: string;
}

export interface GroupMembers {
  total: number;
  members: DirectoryRecipient[];
}

export interface NameResolution {
  /**
   * 'exact': one entry has this address, alias or display name (case-insensitively) and is the
   * only one in `entries`. 'prefix': ambiguous name resolution matched `total` entries (the name
   * starts the display name or one of its words, the alias or the address); `entries` holds the
   * first of them by display name.
   */
  match: 'exact' | 'prefix';
  total: number;
  entries: DirectoryRecipient[];
}

/** Why a certificate is not valid, in the service's terms; the command maps these to statuses. */
export type CertificateProblem =
  /** Unreadable, empty, or not one X.509 certificate. */
  | 'malformed'
  /** The certificate is itself a CA certificate. */
  | 'ca-as-end-entity'
  /** A certificate's signature does not verify under its issuer's key, or uses an algorithm we cannot check. */
  | 'bad-signature'
  /** No path to one of the organisation's trusted roots. */
  | 'untrusted-root'
  /** A certificate that is not a CA issued another one in the path. */
  | 'end-entity-as-ca'
  /** Any other broken path rule (path length, CA key usage, an unhandled critical extension). */
  | 'chain-invalid'
  /** The certificate is revoked by its issuer's CRL. */
  | 'revoked'
  /** A CA certificate of the path is revoked. */
  | 'ca-revoked'
  /** The certificate or one of its path is expired or not yet valid. */
  | 'expired'
  /** A certificate of the path is valid outside its issuer's validity period. */
  | 'validity-not-nested'
  /** No usable CRL says whether a certificate of the path is revoked (only when that counts). */
  | 'revocation-unknown'
  /** keyUsage does not allow signing (digitalSignature or nonRepudiation). */
  | 'not-for-signing'
  /** extendedKeyUsage lacks emailProtection. */
  | 'wrong-purpose';

export interface CertificateCheck {
  valid: boolean;
  /** The deciding problem when not valid. */
  problem?: CertificateProblem;
  /** Human-readable: what was found (for logs and the X-EasMime-Reason header). */
  detail: string;
}

export interface CertificateCheckRequest {
  /** The certificates to check, each as received (base64 text already decoded). */
  certificates: Buffer[];
  /** Intermediates the client offers for building paths. */
  chain: Buffer[];
  /** When true, a certificate whose revocation status cannot be determined is not valid. */
  revocationRequired: boolean;
}

export interface DirectoryPort {
  /** Resolves one To value; `limit` bounds `entries` (0 is allowed), never `total`. */
  resolveName(p: Principal, name: string, limit: number): NameResolution;

  /** How many members a group has, and the first `limit` of them by address (none for an unknown group). */
  members(p: Principal, groupAddress: string, limit: number): GroupMembers;

  /**
   * The published encryption certificates (DER) of a user or external contact that are valid now
   * (chain to a trusted root, dates, not revoked by the organisation's CRLs, key usage), newest
   * first. Empty for a group or an unknown address.
   */
  encryptionCertificates(p: Principal, address: string): Promise<Buffer[]>;

  /** The mini-certificate blob describing these certificates (DER), at least one. */
  miniCertificate(certificates: Buffer[]): Buffer;

  /**
   * Free/busy of one user or contact from `start`, one digit per `slotMinutes` (0 free,
   * 1 tentative, 2 busy, 3 out of office, 4 no data), `slots` digits.
   */
  freeBusy(p: Principal, address: string, start: Date, slotMinutes: number, slots: number): string;

  /** Checks each certificate for signing e-mail, in order. */
  checkCertificates(p: Principal, request: CertificateCheckRequest): Promise<CertificateCheck[]>;
}
