// The outer header fields a submission gets before it leaves: From made the sender (when asked),
// Date and Message-ID stamped when missing (a message without them cannot be threaded or told
// apart; Exchange stamps both), and Bcc taken off every copy that travels. Only header lines change;
// a message that needs nothing keeps its bytes.
import {
  addressesOf, formatAddress, hasHeader, headerValue, headerValues, joinMessage, newMessageId, prependHeader, removeHeaders,
  replaceHeader, rfc5322Date, splitMessage,
} from './headers.js';

export interface PreparedSubmission {
  /** The addresses of To, Cc and Bcc, lower-case, de-duplicated. */
  headerRecipients: string[];
  /** The sender's own copy: Bcc kept. */
  sentRaw: Buffer;
  /** What recipients, the relay and the capture store get: Bcc removed. */
  outRaw: Buffer;
}

export function prepareSubmission(raw: Buffer, opts: { sender?: { address: string; displayName: string }; domain: string; now: Date }): PreparedSubmission | undefined {
  let m = splitMessage(raw);
  if (!m) return undefined;
  let edited = false;
  const headerRecipients = [...new Set(['to', 'cc', 'bcc'].flatMap((f) => addressesOf(headerValues(m!, f))))];
  if (opts.sender) {
    const from = addressesOf(headerValue(m, 'from'));
    if (from.length !== 1 || from[0] !== opts.sender.address.toLowerCase()) {
      m = removeHeaders(replaceHeader(m, 'From', formatAddress(opts.sender.displayName, opts.sender.address)), new Set(['sender']));
      edited = true;
    }
  }
  if (!hasHeader(m, 'message-id')) { m = prependHeader(m, 'Message-ID', newMessageId(opts.domain)); edited = true; }
  if (!hasHeader(m, 'date')) { m = prependHeader(m, 'Date', rfc5322Date(opts.now)); edited = true; }
  const sentRaw = edited ? joinMessage(m) : raw;
  const outRaw = hasHeader(m, 'bcc') ? joinMessage(removeHeaders(m, new Set(['bcc']))) : sentRaw;
  return { headerRecipients, sentRaw, outRaw };
}
