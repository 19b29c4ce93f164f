// Byte-level MIME structure: header blocks, header fields, structured header
// values and multipart bodies. Everything returns offsets into the caller's
// Buffer so that a caller can take byte-exact slices (a detached signature is
// computed over the exact bytes of the first part; re-serialising would break it).
// Nothing here throws on malformed input: a bad structure is reported as absent.
import { bytesView } from './der.js';

const LF = 0x0a;
const CR = 0x0d;

export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

export interface HeaderBlock {
  /** End (exclusive) of the header lines, before the empty separator line. */
  headerEnd: number;
  /** Offset of the first body byte; equals buf.length when there is no body. */
  bodyStart: number;
  /** False when no empty line ended the headers and the whole input was taken as headers. */
  terminated: boolean;
}

/**
 * Finds the empty line that ends the header block, accepting CRLF or bare LF.
 * Returns null when no separator occurs within `maxHeaderBytes` and the input is
 * longer than that: an unbounded header block is refused rather than scanned.
 */
export function findHeaderEnd(buf: Uint8Array, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES): HeaderBlock | null {
  if (buf.length === 0) return { headerEnd: 0, bodyStart: 0, terminated: false };
  if (buf[0] === LF) return { headerEnd: 0, bodyStart: 1, terminated: true };
  if (buf[0] === CR && buf[1] === LF) return { headerEnd: 0, bodyStart: 2, terminated: true };
  // Native searches over a bounded window: no per-line JavaScript work.
  const head = bytesView(buf, 0, Math.min(buf.length, maxHeaderBytes + 3));
  // Look first for the separator the first line's ending suggests, then for the
  // other one only before it: searching blindly for the other style would scan
  // the whole message (a CRLF message holds no LF LF at all).
  const firstLf = head.indexOf(LF);
  const crlfFirst = firstLf > 0 && head[firstLf - 1] === CR;
  let lf: number;
  let crlf: number;
  if (crlfFirst) {
    crlf = head.indexOf(LF_CRLF);
    // Backwards from just before it: usually finds nothing, and then there is nothing earlier either.
    lf = crlf < 0 ? head.indexOf(LF_LF) : crlf > 0 && head.lastIndexOf(LF_LF, crlf - 1) >= 0 ? head.indexOf(LF_LF) : -1;
  } else {
    lf = head.indexOf(LF_LF);
    crlf = lf < 0 ? head.indexOf(LF_CRLF) : lf > 0 && head.lastIndexOf(LF_CRLF, lf - 1) >= 0 ? head.indexOf(LF_CRLF) : -1;
  }
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return { headerEnd: lf + 1, bodyStart: lf + 2, terminated: true };
  if (crlf >= 0) return { headerEnd: crlf + 1, bodyStart: crlf + 3, terminated: true };
  if (buf.length > maxHeaderBytes) return null;
  return { headerEnd: buf.length, bodyStart: buf.length, terminated: false };
}

const LF_LF = Buffer.from('\n\n');
const LF_CRLF = Buffer.from('\n\r\n');

export interface HeaderField {
  /** Lower-case field name. */
  name: string;
  /** Unfolded value, surrounding whitespace removed, not decoded (RFC 2047 words stay encoded). */
  value: string;
}

export interface HeaderFields {
  fields: HeaderField[];
  /** True when more fields existed than `maxFields` allowed; `fields` then holds the first ones. */
  truncated: boolean;
}

/**
 * Splits a header block (already decoded to a string, latin1 keeps bytes 1:1)
 * into fields. Continuation lines are joined; lines that are neither a field nor
 * a continuation (an mbox "From " line, binary junk) are skipped, as mail parsers do.
 */
export function parseHeaderFields(block: string, maxFields = Infinity): HeaderFields {
  const fields: HeaderField[] = [];
  let current: HeaderField | null = null;
  let truncated = false;
  for (const rawLine of block.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.length === 0) continue;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (current) current.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      current = null;
      continue;
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) {
      current = null;
      continue;
    }
    if (fields.length >= maxFields) {
      truncated = true;
      break;
    }
    current = { name, value: line.slice(colon + 1) };
    fields.push(current);
  }
  for (const f of fields) f.value = f.value.trim();
  return { fields, truncated };
}

/** The first field of that name (RFC 2045 allows one; mail parsers use the first). */
export function firstHeader(fields: ReadonlyArray<HeaderField>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const f of fields) if (f.name === lower) return f.value;
  return undefined;
}

export interface StructuredValue {
  /** Lower-case main value, e.g. `multipart/signed` or `attachment`. */
  value: string;
  /** Parameters by lower-case name; RFC 2231 continuations and charsets are decoded. */
  params: Map<string, string>;
}

/**
 * Parses `type/subtype; a=b; c="d;e"` style values (Content-Type,
 * Content-Disposition): comments are dropped, quoted strings unescaped, names
 * compared case-insensitively, and RFC 2231 `name*`, `name*0*` forms decoded.
 */
export function parseStructuredValue(input: string): StructuredValue {
  const segments = splitParams(stripComments(input));
  const value = (segments.shift() ?? '').trim().toLowerCase();
  const plain = new Map<string, string>();
  let extended: Map<string, Array<{ index: number; encoded: boolean; text: string }>> | null = null;
  for (const seg of segments) {
    const eq = seg.indexOf('=');
    if (eq <= 0) continue;
    const rawName = seg.slice(0, eq).trim().toLowerCase();
    const text = unquote(seg.slice(eq + 1).trim());
    const m = rawName.includes('*') ? /^([^*]+)\*(?:(\d{1,3})(\*)?)?$/.exec(rawName) : null;
    if (!m) {
      if (!plain.has(rawName)) plain.set(rawName, text);
      continue;
    }
    const base = m[1]!;
    const index = m[2] === undefined ? 0 : Number(m[2]);
    const encoded = m[2] === undefined ? true : m[3] === '*';
    extended ??= new Map();
    let list = extended.get(base);
    if (!list) extended.set(base, (list = []));
    list.push({ index, encoded, text });
  }
  if (!extended) return { value, params: plain };
  const params = new Map(plain);
  for (const [name, pieces] of extended) params.set(name, joinRfc2231(pieces));
  return { value, params };
}

function stripComments(s: string): string {
  if (!s.includes('(')) return s;
  let out = '';
  let depth = 0;
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (inQuote || depth > 0)) {
      if (depth === 0) out += c + (s[i + 1] ?? '');
      i++;
      continue;
    }
    if (depth === 0 && c === '"') inQuote = !inQuote;
    if (!inQuote) {
      if (c === '(') {
        depth++;
        continue;
      }
      if (c === ')' && depth > 0) {
        depth--;
        continue;
      }
    }
    if (depth === 0) out += c;
  }
  return out;
}

function splitParams(s: string): string[] {
  // Hops from separator to quote with native searches rather than a loop over every character.
  const out: string[] = [];
  let start = 0;
  let i = 0;
  for (;;) {
    const semi = s.indexOf(';', i);
    const quote = s.indexOf('"', i);
    if (quote >= 0 && (semi < 0 || quote < semi)) {
      // Skip the quoted string; a backslash in it escapes the next character.
      let j = quote + 1;
      let closed = false;
      for (;;) {
        const q = s.indexOf('"', j);
        const bs = s.indexOf('\\', j);
        if (bs >= 0 && (q < 0 || bs < q)) {
          j = bs + 2;
          continue;
        }
        if (q >= 0) {
          j = q + 1;
          closed = true;
        }
        break;
      }
      if (!closed) break;
      i = j;
      continue;
    }
    if (semi < 0) break;
    out.push(s.slice(start, semi));
    start = i = semi + 1;
  }
  out.push(s.slice(start));
  return out;
}

function unquote(s: string): string {
  if (!s.startsWith('"')) return s.trim();
  const close = s.indexOf('"', 1);
  const escape = s.indexOf('\\', 1);
  // The usual quoted string has no backslash before its closing quote: one slice.
  if (escape < 0 || (close >= 0 && escape > close)) return close < 0 ? s.slice(1) : s.slice(1, close);
  let out = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      out += s[i + 1] ?? '';
      i++;
    } else if (c === '"') {
      break;
    } else {
      out += c;
    }
  }
  return out;
}

function joinRfc2231(pieces: Array<{ index: number; encoded: boolean; text: string }>): string {
  pieces.sort((a, b) => a.index - b.index);
  let charset = 'utf-8';
  const bytes: number[] = [];
  pieces.forEach((p, n) => {
    let text = p.text;
    if (p.encoded && n === 0) {
      const parts = text.split("'");
      if (parts.length >= 3) {
        charset = parts[0] || 'utf-8';
        text = parts.slice(2).join("'");
      }
    }
    if (!p.encoded) {
      for (const b of Buffer.from(text, 'latin1')) bytes.push(b);
      return;
    }
    for (let i = 0; i < text.length; i++) {
      const hex = text.slice(i + 1, i + 3);
      if (text[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(text.charCodeAt(i) & 0xff);
      }
    }
  });
  try {
    return new TextDecoder(charset).decode(Uint8Array.from(bytes));
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}

export interface BodyPart {
  /** First byte of the part (its headers), just after the delimiter line. */
  start: number;
  /** End (exclusive) of the part, before the line break that belongs to the next delimiter. */
  end: number;
}

export interface MultipartBody {
  parts: BodyPart[];
  /** True when a close delimiter (`--boundary--`) was found. */
  closed: boolean;
  /** True when splitting stopped early: more parts than allowed, or the scan budget ran out. */
  truncated: boolean;
}

/**
 * Work allowance for splitting: delimiter candidates examined (occurrences of
 * `--boundary` that may or may not start a line) and bytes scanned. Share one
 * across a recursive walk so that a crafted message (deep nesting, the boundary
 * repeated mid-line) costs bounded work.
 */
export interface ScanBudget {
  candidates: number;
  bytes: number;
}

/**
 * Splits a multipart body on its boundary (RFC 2046 5.1.1). The CRLF (or LF)
 * before a delimiter belongs to the delimiter, so `parts[i]` are exactly the
 * bytes a multipart/signed signature covers. A delimiter line may carry
 * trailing whitespace; a line that merely starts with the delimiter followed by
 * other characters is content.
 */
export function splitMultipart(body: Uint8Array, boundary: string, maxParts = 1000, budget?: ScanBudget): MultipartBody {
  const result: MultipartBody = { parts: [], closed: false, truncated: false };
  if (!boundary || boundary.length > 200) return result;
  // A plain loop over the scanner: this runs for every signed message, and a generator costs more.
  const scanner = new PartScanner(body, boundary, budget ?? { candidates: 10_000, bytes: Infinity });
  for (let part = scanner.next(); part; part = scanner.next()) {
    if (result.parts.length >= maxParts) {
      result.truncated = true;
      return result;
    }
    result.parts.push(part);
  }
  result.closed = scanner.result!.closed;
  result.truncated = scanner.result!.truncated;
  return result;
}

/**
 * The parts one at a time, scanning only as far as the caller reads: a walk
 * that stops at the first text part never scans the attachments after it.
 */
export function* multipartParts(
  body: Uint8Array,
  boundary: string,
  budget: ScanBudget = { candidates: 10_000, bytes: Infinity },
): Generator<BodyPart, { closed: boolean; truncated: boolean }, void> {
  if (!boundary || boundary.length > 200) return { closed: false, truncated: false };
  const scanner = new PartScanner(body, boundary, budget);
  for (let part = scanner.next(); part; part = scanner.next()) yield part;
  return scanner.result!;
}

/**
 * The delimiter scan behind both: `next()` returns the next part, or null
 * once `result` is set. Like a generator it scans no further than the part it
 * returns; what follows that part's delimiter is looked at on the next call.
 */
class PartScanner {
  result: { closed: boolean; truncated: boolean } | null = null;
  private readonly buf: Buffer;
  private readonly delim: Buffer;
  private partStart = -1;
  private at: number;
  /** The delimiter line that ended the part last returned. */
  private pending: { close: boolean; next: number } | null = null;

  constructor(body: Uint8Array, boundary: string, private readonly budget: ScanBudget) {
    this.buf = bytesView(body);
    this.delim = Buffer.from('--' + boundary, 'latin1');
    this.at = findDelimiter(this.buf, this.delim, 0, budget);
  }

  next(): BodyPart | null {
    if (this.result) return null;
    const { buf, delim, budget } = this;
    if (this.pending) {
      const after = this.pending;
      this.pending = null;
      if (after.close) return this.done(true, false);
      this.partStart = after.next;
      this.at = findDelimiter(buf, delim, after.next, budget);
    }
    while (this.at >= 0) {
      if (--budget.candidates < 0 || budget.bytes < 0) return this.done(false, true);
      const at = this.at;
      const lineEnd = at === 0 || buf[at - 1] === LF ? delimiterLineEnd(buf, at + delim.length) : null;
      if (lineEnd === null) {
        this.at = findDelimiter(buf, delim, at + 1, budget);
        continue;
      }
      if (this.partStart >= 0) {
        const end = at >= 2 && buf[at - 2] === CR ? at - 2 : at > 0 ? at - 1 : at;
        this.pending = lineEnd;
        return { start: this.partStart, end: Math.max(this.partStart, end) };
      }
      if (lineEnd.close) return this.done(true, false);
      this.partStart = lineEnd.next;
      this.at = findDelimiter(buf, delim, lineEnd.next, budget);
    }
    if (budget.bytes < 0) return this.done(false, true);
    this.result = { closed: false, truncated: false };
    if (this.partStart >= 0 && this.partStart <= buf.length) return { start: this.partStart, end: buf.length };
    return null;
  }

  private done(closed: boolean, truncated: boolean): null {
    this.result = { closed, truncated };
    return null;
  }
}

/** The scan itself is native (indexOf); the budget counts what it costs. */
function findDelimiter(buf: Buffer, delim: Buffer, from: number, budget: ScanBudget): number {
  const at = buf.indexOf(delim, from);
  budget.bytes -= (at < 0 ? buf.length : at + delim.length) - from;
  return at;
}

function delimiterLineEnd(body: Uint8Array, p: number): { close: boolean; next: number } | null {
  let close = false;
  if (body[p] === 0x2d && body[p + 1] === 0x2d) {
    close = true;
    p += 2;
  }
  while (p < body.length && (body[p] === 0x20 || body[p] === 0x09)) p++;
  if (p >= body.length) return { close, next: body.length };
  if (body[p] === LF) return { close, next: p + 1 };
  if (body[p] === CR && body[p + 1] === LF) return { close, next: p + 2 };
  if (body[p] === CR && p + 1 >= body.length) return { close, next: body.length };
  return null;
}

/** Header fields and body of one MIME entity (a whole message or a part of it). */
export interface MimeEntity {
  fields: HeaderField[];
  body: Uint8Array;
}

/** Reads one entity's headers; null when its header block exceeds the limit. */
export function readEntity(buf: Uint8Array, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES, maxFields = Infinity): MimeEntity | null {
  const hb = findHeaderEnd(buf, maxHeaderBytes);
  if (!hb) return null;
  const block = bytesView(buf, 0, hb.headerEnd).toString('latin1');
  return { fields: parseHeaderFields(block, maxFields).fields, body: buf.subarray(hb.bodyStart) };
}
