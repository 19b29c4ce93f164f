// Header blocks as mailparser (through its splitter, mailsplit) sees them: one entry per field
// with its folded lines kept, and values read the two ways mailparser reads them. Only header
// blocks without surprises are accepted: every line a `Name: value` field or the continuation
// of one, no lone CR; anything else falls back to mailparser.

import libmime from 'libmime';
import { fallBack } from './lean-fallback.js';

export interface HeaderLine {
  /** Lower-case field name. */
  key: string;
  /** The whole field, `Name: value`, folded lines joined by CRLF; bytes as latin1 characters. */
  line: string;
}

/** mailsplit counts a header line as at least this many bytes against the header size limit. */
const MIN_LINE_COST = 64;
const MAX_FIELD_LENGTH = 64 * 1024;
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const NON_ASCII = /[\x80-\xff]/;
const MBOX_OR_HTTP = /^(?:From|POST) /i;

/**
 * Splits a header block (latin1 text, the empty line that ends it excluded) into fields.
 * `maxCost` is mailparser's per-entity header limit, counted the way its splitter counts it.
 */
export function splitHeaderBlock(block: string, maxCost: number): HeaderLine[] {
  const fields: HeaderLine[] = [];
  let current: HeaderLine | undefined;
  // The empty line that ends the block counts too.
  let cost = 2;
  for (let pos = 0; pos < block.length; ) {
    const lf = block.indexOf('\n', pos);
    const next = lf < 0 ? block.length : lf + 1;
    const end = lf > pos && block.charCodeAt(lf - 1) === 0x0d ? lf - 1 : lf < 0 ? block.length : lf;
    cost += Math.max(next - pos, MIN_LINE_COST);
    const text = block.slice(pos, end);
    pos = next;
    if (text.includes('\r')) fallBack('header line with a lone CR');
    const first = text.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (!current) fallBack('header block starts with a continuation line');
      current.line += '\r\n' + text;
      // Decoding a huge field is where mailparser's timeout earns its keep; leave such fields to it.
      if (current.line.length > MAX_FIELD_LENGTH) fallBack('very long header field');
      continue;
    }
    // The splitter takes a first line starting "From " or "POST " for an mbox or HTTP preamble.
    if (fields.length === 0 && MBOX_OR_HTTP.test(text)) fallBack('header block starts like an mbox or HTTP preamble');
    const colon = text.indexOf(':');
    if (colon <= 0) fallBack('header line without a field name');
    const key = text.slice(0, colon).toLowerCase().trim();
    if (!FIELD_NAME.test(key)) fallBack('header field with an unusual name');
    if (text.length > MAX_FIELD_LENGTH) fallBack('very long header field');
    current = { key, line: text };
    fields.push(current);
  }
  // Far from the limit or not at all: the exact point where mailparser gives up is its business.
  if (cost > maxCost / 2) fallBack('header block near the size limit');
  return fields;
}

/**
 * A field's unfolded value as mailparser's header map holds it: the bytes read as UTF-8
 * (invalid sequences become U+FFFD). Not RFC 2047 decoded.
 */
export function fieldValue(line: string): string {
  const value = libmime.decodeHeader(line).value.trim();
  return NON_ASCII.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
}

/**
 * A MIME field's value as the splitter reads it to find the structure: the bytes read as
 * UTF-8 only when they are valid UTF-8, else kept as latin1.
 */
export function structuralValue(line: string): string {
  let text = line;
  if (NON_ASCII.test(line)) {
    const utf8 = Buffer.from(line, 'latin1').toString('utf8');
    if (!utf8.includes('\ufffd')) text = utf8;
  }
  return libmime.decodeHeader(text).value.trim();
}

export function firstLine(fields: ReadonlyArray<HeaderLine>, key: string): string | undefined {
  for (const f of fields) if (f.key === key) return f.line;
  return undefined;
}

/**
 * libmime's RFC 2047 decoding, or the value as it is when libmime cannot decode it. Values
 * without an encoded word (nor the NUL-delimited marker libmime joins words with) pass through
 * libmime unchanged, so they skip it.
 */
export function decodeWords(value: string): string {
  if (!value.includes('=?') && !value.includes('\0')) return value;
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}
