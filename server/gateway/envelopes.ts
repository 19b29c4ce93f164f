// The gateway's view of envelopes: which certificates an envelope names (no key needed, for the
// recipient-availability check) and opening it with the private keys of the users involved, so
// that a signature inside an encrypted message is verified like any other.
import { envelopeRecipientsMatch, readEnvelope } from '../../smime/envelope.js';
import { decryptEnvelope, type DecryptionKey } from '../../smime/decrypt.js';
import { keyHistory } from '../certificates/keys.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { EnvelopeOpener, EnvelopeReader } from './smime-gateway.js';

/** Parses the envelope once per message; throws (EnvelopeError) when the CMS is not a readable envelope. */
export const readEnvelopeNames: EnvelopeReader = (cms) => {
  const envelope = readEnvelope(cms);
  return (certificates) => {
    const named = new Set(envelopeRecipientsMatch(envelope, certificates).named);
    return certificates.map((_, i) => named.has(i));
  };
};

/** Keys of many users are tried in one pass: the envelope's recipient entries pick the right one. */
const MAX_KEY_HOLDERS = 200;

export function envelopeOpener(store: Store, serverKey: Buffer, log: Logger): EnvelopeOpener {
  return async (cms, userIds) => {
    const keys: DecryptionKey[] = [];
    for (const id of userIds.slice(0, MAX_KEY_HOLDERS)) {
      keys.push(...keyHistory(store, serverKey, id, 'encryption', (certificateId, message) =>
        log({ level: 'warn', msg: 'private key unusable', certificateId, reason: message })));
    }
    if (keys.length === 0) return null;
    const outcome = decryptEnvelope(cms, keys);
    if (outcome.ok) return outcome.content;
    if (outcome.code === 'no-matching-key') return null;
    throw new Error(outcome.message);
  };
}
