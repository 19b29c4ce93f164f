// Editing the top-level header block of a submitted message without touching its body: the body of
// a signed message must stay byte for byte as the client made it, and only the outer header fields
// (From, Bcc, Date, Message-ID, threading) are the server's to change. Header bytes are handled as
// latin1 so 8-bit header content passes through unchanged.
import crypto from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { findHeaderEnd } from '../../smime/mime-split.js';

export interface HeaderLine {
  /** Lower-case field name. */
  name: string;
  /** The field as it was written, folded lines included, without the final line end. */
  text: string;
}

export interface SplitMessage {
  headers: HeaderLine[];
  /** The line end the message uses (new fields are written with it). */
  eol: '\r\n' | '\n';
  /** Everything after the header block: the empty line and the body, as received. */
  rest: Buffer;
}

/** Splits a message into editable header lines and the untouched rest. Undefined when the header block is unbounded. */
export function splitMessage(raw: Buffer, maxHeaderBytes = 1024 * 1024): SplitMessage | undefined {
  const hb = findHeaderEnd(raw, maxHeaderBytes);
  if (!hb) return undefined;
  const block = raw.toString('latin1', 0, hb.headerEnd);
  const eol = /\r\n/.test(block) || raw.subarray(hb.headerEnd, hb.bodyStart).includes(0x0d) ? '\r\n' : '\n';
  const headers: HeaderLine[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && headers.length > 0) {
      headers[headers.length - 1]!.text += eol + line;
      continue;
    }
    const colon = line.indexOf(':');
    headers.push({ name: colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '', text: line });
  }
  // A message without a header/body separator gets one, so that fields added later stay headers.
  const rest = hb.terminated ? raw.subarray(hb.headerEnd) : Buffer.concat([Buffer.from(eol), raw.subarray(hb.bodyStart)]);
  return { headers, eol, rest };
}

export function joinMessage(m: SplitMessage): Buffer {
  const head = m.headers.map((h) => h.text + m.eol).join('');
  return Buffer.concat([Buffer.from(head, 'latin1'), m.rest]);
}

/** The unfolded value of the first field with that name. */
export function headerValue(m: SplitMessage, name: string): string | undefined {
  const h = m.headers.find((x) => x.name === name);
  if (!h) return undefined;
  return h.text.slice(h.text.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '').trim();
}

export function hasHeader(m: SplitMessage, name: string): boolean {
  return m.headers.some((h) => h.name === name);
}

export function removeHeaders(m: SplitMessage, names: ReadonlySet<string>): SplitMessage {
  return { ...m, headers: m.headers.filter((h) => !names.has(h.name)) };
}

/** Adds a field at the top (where trace-like fields the server adds belong). The value must be ASCII already. */
export function prependHeader(m: SplitMessage, name: string, value: string): SplitMessage {
  return { ...m, headers: [{ name: name.toLowerCase(), text: `${name}: ${value}` }, ...m.headers] };
}

/** Replaces every field of that name with one new field, at the place of the first. */
export function replaceHeader(m: SplitMessage, name: string, value: string): SplitMessage {
  const lower = name.toLowerCase();
  const at = m.headers.findIndex((h) => h.name === lower);
  if (at < 0) return prependHeader(m, name, value);
  const headers = m.headers.filter((h, i) => i === at || h.name !== lower);
  headers[headers.findIndex((h) => h.name === lower)] = { name: lower, text: `${name}: ${value}` };
  return { ...m, headers };
}

/** Plain lower-case addresses of an address field's value (groups flattened). */
export function addressesOf(value: string | undefined): string[] {
  if (!value) return [];
  return addressparser(value, { flatten: true }).map((a) => a.address.trim().toLowerCase()).filter((a) => a.includes('@'));
}

/** `"Display Name" <address>`, the name as an encoded word when it is not plain ASCII. */
export function formatAddress(displayName: string, address: string): string {
  const name = displayName.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (!name) return `<${address}>`;
  if (/^[\x20-\x7e]*$/.test(name)) return `"${name.replace(/[\\"]/g, '\\$&')}" <${address}>`;
  return `${encodedWords(name)} <${address}>`;
}

/** RFC 2047 B-encoded words of at most 75 characters, never splitting a character. */
export function encodedWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch) > 45) { words.push(chunk); chunk = ''; }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

export function newMessageId(domain: string): string {
  return `<${crypto.randomBytes(16).toString('hex')}@${domain}>`;
}

/** RFC 5322 date-time in UTC. */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** The unfolded values of every field with that name, joined with ", " (a message may repeat To or Cc). */
export function headerValues(m: SplitMessage, name: string): string | undefined {
  const values = m.headers.filter((h) => h.name === name).map((h) => h.text.slice(h.text.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '').trim());
  return values.length ? values.join(', ') : undefined;
}
