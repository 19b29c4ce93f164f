// A user's private keys, unsealed for use: the input smime/decrypt.ts takes to open mail. Keys
// are unsealed when asked for and never cached here, so a key leaves memory with the message
// that needed it.

import crypto from 'node:crypto';
import type { DecryptionKey } from '../../smime/decrypt.js';
import type { Store } from '../store/index.js';
import { unseal } from '../store/secrets.js';

export interface UserKey extends DecryptionKey {
  /** The certificate row the key belongs to. */
  certificateId: number;
  privateKey: crypto.KeyObject;
}

/**
 * The user's keys for `purpose`, newest certificate first: the whole history, expired generations
 * included, since mail encrypted to them keeps arriving and stays in mailboxes. A row whose key
 * does not unseal (a different server key) or does not parse is left out and reported.
 */
export function keyHistory(
  store: Store,
  serverKey: Buffer,
  userId: number,
  purpose: 'encryption' | 'signing' = 'encryption',
  onProblem?: (certificateId: number, message: string) => void,
): UserKey[] {
  const out: UserKey[] = [];
  for (const { certificate, sealedKey } of store.certificates.privateKeys(userId, purpose)) {
    let pkcs8: Buffer | undefined;
    try {
      pkcs8 = unseal(serverKey, sealedKey);
      const privateKey = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      out.push({ certificateId: certificate.id, certificate: certificate.der, privateKey });
    } catch (e) {
      onProblem?.(certificate.id, `private key of certificate ${certificate.id} cannot be used: ${(e as Error).message}`);
    } finally {
      pkcs8?.fill(0);
    }
  }
  return out;
}
