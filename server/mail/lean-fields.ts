// The top-level fields mailparser reports (subject, addresses, message ids), read from the
// header lines with the same libraries and the same rules: encoded words decoded with libmime,
// addresses parsed by mailparser's own copy of nodemailer's address parser; the first non-empty
// Subject, Message-ID and In-Reply-To, the first From and Reply-To, every To, Cc, Bcc and References.

import libmime from 'libmime';
import type { AddressObject, EmailAddress } from 'mailparser';
import { mailboxes, type Mailbox } from './addresses.js';
import type { TopLevelFields } from './mail-content.js';
import { decodeWords, fieldValue, type HeaderLine } from './lean-headers.js';
import { addressparser, punycodeToUnicode, type ParsedAddress } from './mailparser-deps.js';


const ENCODED_WORD = /=\?[^?]+\?[BbQq]\?[^?]*\?=/;

export function readTopLevelFields(fields: ReadonlyArray<HeaderLine>): TopLevelFields {
  let subject: string | undefined;
  let messageId: string | undefined;
  let inReplyTo: string | undefined;
  let from: ParsedAddress[] | undefined;
  let replyTo: ParsedAddress[] | undefined;
  const to: ParsedAddress[] = [];
  const cc: ParsedAddress[] = [];
  const bcc: ParsedAddress[] = [];
  let references: string[] | undefined;
  for (const { key, line } of fields) {
    switch (key) {
      case 'subject':
        subject ||= decodeWords(fieldValue(line));
        break;
      case 'message-id':
        messageId ||= messageIdOf(decodeWords(fieldValue(line)));
        break;
      case 'in-reply-to':
        inReplyTo ||= messageIdOf(decodeWords(fieldValue(line)));
        break;
      case 'references':
        (references ??= []).push(...referencesOf(fieldValue(line)));
        break;
      // The first From and Reply-To count, even when empty; every To, Cc and Bcc does.
      case 'from':
        from ??= addresses(fieldValue(line));
        break;
      case 'reply-to':
        replyTo ??= addresses(fieldValue(line));
        break;
      case 'to':
        to.push(...addresses(fieldValue(line)));
        break;
      case 'cc':
        cc.push(...addresses(fieldValue(line)));
        break;
      case 'bcc':
        bcc.push(...addresses(fieldValue(line)));
        break;
    }
  }
  return {
    subject: subject ?? '',
    from: flatten(from ?? []),
    to: flatten(to),
    cc: flatten(cc),
    bcc: flatten(bcc),
    replyTo: flatten(replyTo ?? []),
    ...(messageId ? { messageId } : {}),
    ...(inReplyTo ? { inReplyTo } : {}),
    references: references ?? [],
  };
}

/** Angle brackets added where missing; '' for an empty value. */
function messageIdOf(value: string): string {
  if (!value) return '';
  return (value.startsWith('<') ? '' : '<') + value + (value.endsWith('>') ? '' : '>');
}

function referencesOf(value: string): string[] {
  return decodeWords(value).split(/\s+/).map(messageIdOf).filter(Boolean);
}

function addresses(value: string): ParsedAddress[] {
  const list = addressparser(value);
  decodeAddresses(list);
  return list;
}

/**
 * Display names are RFC 2047 decoded; an encoded word in an address is accepted only when it
 * decodes to a plain local@domain (else the address is dropped, RFC 2047 section 5 forbids it
 * there); a punycode domain is shown in Unicode.
 */
function decodeAddresses(list: ParsedAddress[]): void {
  for (const entry of list) {
    entry.name = String(entry.name ?? '').trim();
    if (entry.name) entry.name = decodeWords(entry.name);
    if (entry.address && ENCODED_WORD.test(entry.address)) entry.address = decodedAddress(entry.address);
    if (entry.address && entry.address.includes('@xn--')) entry.address = unicodeDomain(entry.address);
    if (entry.group) decodeAddresses(entry.group);
  }
}

function decodedAddress(address: string): string {
  try {
    const decoded = libmime.decodeWords(address);
    return /^[^\s@]+@[^\s@]+$/.test(decoded) && !decoded.includes('=?') ? decoded : '';
  } catch {
    return '';
  }
}

function unicodeDomain(address: string): string {
  const at = address.lastIndexOf('@') + 1;
  try {
    return address.slice(0, at) + punycodeToUnicode(address.slice(at));
  } catch {
    return address;
  }
}

function flatten(list: ParsedAddress[]): Mailbox[] {
  // mailboxes() reads only the parsed entries of an address header, not mailparser's renderings.
  const header: AddressObject = { value: list as EmailAddress[], html: '', text: '' };
  return mailboxes(header);
}
