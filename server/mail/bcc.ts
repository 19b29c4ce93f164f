// The Bcc recipients a stored message names. Only a draft or a sender's Sent Items copy keeps the
// field (every copy that travels has it removed), so only those have any.
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { headerValue, splitMessage } from '../outbound/headers.js';

export function bccOf(raw: Buffer | undefined): Array<{ name: string; address: string }> {
  const head = raw && splitMessage(raw);
  const value = head ? headerValue(head, 'bcc') : undefined;
  if (!value) return [];
  return addressparser(value, { flatten: true })
    .filter((a) => a.address.includes('@'))
    // Names in encoded words are left out rather than shown undecoded.
    .map((a) => ({ name: a.name && !a.name.includes('=?') ? a.name : '', address: a.address }));
}
