// A lean, bounded reader for DER (and the BER that CMS senders emit: indefinite
// lengths, constructed OCTET STRINGs). It hands out offsets into the caller's
// bytes instead of building objects: parsing dominates the cost of S/MIME
// verification, and signatures are checked over exact byte ranges anyway.
// Every function throws DerError on bad input; callers turn that into a verdict.

export class DerError extends Error {
  override name = 'DerError';
}

/** Deepest nesting accepted; certificates and CMS need about 12. */
export const MAX_DER_DEPTH = 48;
/** Children of one constructed element read before giving up (bounds work on crafted input). */
export const MAX_DER_CHILDREN = 100_000;

/**
 * One element. Kept to the fields callers read: a message makes dozens of these, and a smaller
 * object is cheaper to make and to collect. The class and the number of a tag are in `tag`
 * (callers compare the first identifier octet as written).
 */
export interface DerNode {
  constructed: boolean;
  /** First identifier octet as written (e.g. 0x30 SEQUENCE, 0xa0 [0] constructed). */
  tag: number;
  start: number;
  contentStart: number;
  /** End of the content (before the end-of-contents octets for indefinite length). */
  contentEnd: number;
  /** End of the whole element. */
  end: number;
  indefinite: boolean;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PRINTABLE: 0x13,
  T61: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE: 0x1a,
  UNIVERSAL: 0x1c,
  BMP: 0x1e,
} as const;

const indefiniteEnds = new WeakMap<Uint8Array, Map<number, number>>();

/** Reads the element starting at `off`, which must end at or before `limit`. */
export function readNode(buf: Uint8Array, off: number, limit = buf.length, depth = 0): DerNode {
  if (depth > MAX_DER_DEPTH) throw new DerError('nesting too deep');
  if (off < 0 || off + 2 > limit) throw new DerError('truncated element');
  const tag = buf[off]!;
  const constructed = (tag & 0x20) !== 0;
  let p = off + 1;
  if ((tag & 0x1f) === 0x1f) {
    // A high tag number: up to four more octets, the last without bit 8.
    for (let n = 0; ; n++) {
      if (n >= 4 || p >= limit) throw new DerError('bad high tag number');
      if ((buf[p++]! & 0x80) === 0) break;
    }
  }
  if (p >= limit) throw new DerError('truncated length');
  const first = buf[p++]!;
  if (first === 0x80) {
    if (!constructed) throw new DerError('indefinite length on a primitive element');
    // Walk the children to find the end-of-contents octets. Ends found are
    // remembered per buffer: nested indefinite elements would otherwise be
    // walked once per enclosing level (quadratic on crafted input).
    let ends = indefiniteEnds.get(buf);
    const known = ends?.get(off);
    if (known !== undefined) {
      if (known > limit) throw new DerError('unterminated indefinite length');
      return { constructed, tag, start: off, contentStart: p, contentEnd: known - 2, end: known, indefinite: true };
    }
    let q = p;
    for (let count = 0; ; count++) {
      if (count > MAX_DER_CHILDREN) throw new DerError('too many elements');
      if (q + 2 > limit) throw new DerError('unterminated indefinite length');
      if (buf[q] === 0 && buf[q + 1] === 0) {
        if (!ends) indefiniteEnds.set(buf, (ends = new Map()));
        ends.set(off, q + 2);
        return { constructed, tag, start: off, contentStart: p, contentEnd: q, end: q + 2, indefinite: true };
      }
      q = readNode(buf, q, limit, depth + 1).end;
    }
  }
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    if (n > 4) throw new DerError('length too large');
    if (p + n > limit) throw new DerError('truncated length');
    length = 0;
    for (let k = 0; k < n; k++) length = length * 256 + buf[p + k]!;
    p += n;
  }
  const end = p + length;
  if (end > limit) throw new DerError('element runs past its container');
  return { constructed, tag, start: off, contentStart: p, contentEnd: end, end, indefinite: false };
}

/** The children of a constructed element, in order. */
export function children(buf: Uint8Array, node: DerNode, depth = 0, max = MAX_DER_CHILDREN): DerNode[] {
  if (!node.constructed) throw new DerError('expected a constructed element');
  const out: DerNode[] = [];
  let p = node.contentStart;
  while (p < node.contentEnd) {
    if (out.length >= max) throw new DerError(`more than ${max} elements`);
    const child = readNode(buf, p, node.contentEnd, depth + 1);
    out.push(child);
    p = child.end;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what}: missing`);
  if (node.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  }
  return node;
}

/** Reads a whole buffer as exactly one element (trailing bytes are an error). */
export function readRoot(buf: Uint8Array): DerNode {
  const node = readNode(buf, 0);
  if (node.end !== buf.length) throw new DerError(`${buf.length - node.end} trailing bytes`);
  return node;
}

/**
 * `length` bytes of `buf` from `start` as a Buffer over the same memory (no copy): what pkijs,
 * asn1js and the DER reader hand around as plain Uint8Arrays, read with Buffer's methods.
 * The whole of a Buffer is the Buffer itself.
 */
export function bytesView(buf: Uint8Array, start = 0, length = buf.length - start): Buffer {
  if (start === 0 && length === buf.length && Buffer.isBuffer(buf)) return buf;
  return Buffer.from(buf.buffer, buf.byteOffset + start, length);
}

export function bytes(buf: Uint8Array, node: DerNode): Buffer {
  return bytesView(buf, node.start, node.end - node.start);
}

export function content(buf: Uint8Array, node: DerNode): Buffer {
  return bytesView(buf, node.contentStart, node.contentEnd - node.contentStart);
}

/** Decoded OIDs by a hash of their encoding; each hit is confirmed byte for byte. */
const oidCache = new Map<number, Array<{ bytes: Buffer; text: string }>>();
let oidCached = 0;

export function oid(buf: Uint8Array, node: DerNode): string {
  if (node.tag !== TAG.OID) throw new DerError('expected an OBJECT IDENTIFIER');
  const len = node.contentEnd - node.contentStart;
  if (len < 1 || len > 64) throw new DerError('bad OBJECT IDENTIFIER length');
  // OIDs repeat endlessly (a handful of algorithm and attribute types): memoise.
  let h = 0x811c9dc5 ^ len;
  for (let i = node.contentStart; i < node.contentEnd; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  const list = oidCache.get(h);
  if (list) {
    for (const e of list) {
      if (e.bytes.length !== len) continue;
      let same = true;
      for (let i = 0; i < len; i++) {
        if (e.bytes[i] !== buf[node.contentStart + i]) {
          same = false;
          break;
        }
      }
      if (same) return e.text;
    }
  }
  const text = decodeOid(buf, node);
  if (oidCached < 4096 && (!list || list.length < 4)) {
    const entry = { bytes: Buffer.from(buf.subarray(node.contentStart, node.contentEnd)), text };
    if (list) list.push(entry);
    else oidCache.set(h, [entry]);
    oidCached++;
  }
  return text;
}

function decodeOid(buf: Uint8Array, node: DerNode): string {
  const arcs: number[] = [];
  let value = 0;
  for (let i = node.contentStart; i < node.contentEnd; i++) {
    const b = buf[i]!;
    if (value === 0 && b === 0x80) throw new DerError('non-minimal OID arc');
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 256) throw new DerError('OID arc too large');
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    } else if (i === node.contentEnd - 1) {
      throw new DerError('truncated OID arc');
    }
  }
  const firstArc = arcs[0]! < 40 ? 0 : arcs[0]! < 80 ? 1 : 2;
  return [firstArc, arcs[0]! - firstArc * 40, ...arcs.slice(1)].join('.');
}

/** INTEGER content as unsigned magnitude hex without leading zero octets (serial numbers). */
export function integerHex(buf: Uint8Array, node: DerNode): string {
  if (node.tag !== TAG.INTEGER) throw new DerError('expected an INTEGER');
  let p = node.contentStart;
  if (p >= node.contentEnd) throw new DerError('empty INTEGER');
  while (p < node.contentEnd - 1 && buf[p] === 0) p++;
  return textOf(buf, 'hex', p, node.contentEnd);
}

/** Bytes `start` to `end` as text, without a new Buffer view when `buf` already is a Buffer. */
export function textOf(buf: Uint8Array, encoding: 'hex' | 'latin1', start: number, end: number): string {
  if (Buffer.isBuffer(buf)) return buf.toString(encoding, start, end);
  return bytesView(buf, start, end - start).toString(encoding);
}

/** Small non-negative INTEGER (versions, path lengths, salt lengths). */
export function smallInteger(buf: Uint8Array, node: DerNode): number {
  if (node.tag !== TAG.INTEGER && node.tag !== 0x0a) throw new DerError('expected an INTEGER');
  const len = node.contentEnd - node.contentStart;
  if (len < 1 || len > 6) throw new DerError('INTEGER out of range');
  if (buf[node.contentStart]! & 0x80) throw new DerError('negative INTEGER');
  let v = 0;
  for (let i = node.contentStart; i < node.contentEnd; i++) v = v * 256 + buf[i]!;
  return v;
}

export function bool(buf: Uint8Array, node: DerNode): boolean {
  if (node.tag !== TAG.BOOLEAN || node.contentEnd - node.contentStart !== 1) throw new DerError('expected a BOOLEAN');
  return buf[node.contentStart] !== 0;
}

/**
 * OCTET STRING content; a constructed (BER) OCTET STRING is joined from its
 * segments. `tag` lets an IMPLICIT-tagged string be read (e.g. [0] eContent).
 */
export function octets(buf: Uint8Array, node: DerNode, depth = 0): Buffer {
  if (!node.constructed) return content(buf, node);
  const parts: Buffer[] = [];
  for (const child of children(buf, node, depth)) {
    if ((child.tag & 0xdf) !== TAG.OCTET_STRING) throw new DerError('constructed OCTET STRING holds a non-OCTET STRING');
    parts.push(octets(buf, child, depth + 1));
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** BIT STRING bytes (unused bits must be zero for keys and signatures: we only allow 0 unused bits there). */
export function bitString(buf: Uint8Array, node: DerNode): { unused: number; bytes: Buffer } {
  if (node.tag !== TAG.BIT_STRING) throw new DerError('expected a BIT STRING');
  if (node.contentEnd <= node.contentStart) throw new DerError('empty BIT STRING');
  const unused = buf[node.contentStart]!;
  if (unused > 7) throw new DerError('bad BIT STRING');
  return { unused, bytes: bytesView(buf, node.contentStart + 1, node.contentEnd - node.contentStart - 1) };
}

/** Bits of a BIT STRING as a number, bit 0 being the most significant bit of the first octet (KeyUsage). */
export function namedBits(buf: Uint8Array, node: DerNode): number {
  const { bytes: b } = bitString(buf, node);
  let v = 0;
  for (let i = 0; i < Math.min(b.length, 3); i++) {
    for (let bit = 0; bit < 8; bit++) if (b[i]! & (0x80 >> bit)) v |= 1 << (i * 8 + bit);
  }
  return v;
}

/** UTCTime or GeneralizedTime as a Date (UTC). */
export function time(buf: Uint8Array, node: DerNode): Date {
  const n = node.contentEnd - node.contentStart;
  // Fast path for the forms RFC 5280 and CMS require: YYMMDDHHMMSSZ and YYYYMMDDHHMMSSZ.
  if (((node.tag === TAG.UTC_TIME && n === 13) || (node.tag === TAG.GENERALIZED_TIME && n === 15)) && buf[node.contentEnd - 1] === 0x5a) {
    const p = node.contentStart;
    const o = n === 13 ? 0 : 2;
    const yy = twoDigits(buf, p);
    const year = n === 13 ? (yy < 50 ? 2000 + yy : 1900 + yy) : yy * 100 + twoDigits(buf, p + 2);
    const mo = twoDigits(buf, p + o + 2);
    const day = twoDigits(buf, p + o + 4);
    const h = twoDigits(buf, p + o + 6);
    const mi = twoDigits(buf, p + o + 8);
    const sec = twoDigits(buf, p + o + 10);
    if (yy >= 0 && year >= 0 && mo >= 1 && mo <= 12 && day >= 1 && day <= 31 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 60) {
      return new Date(Date.UTC(year, mo - 1, day, h, mi, sec));
    }
  }
  const text = bytesView(buf, node.contentStart, n).toString('latin1');
  let m: RegExpExecArray | null;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})$/.exec(text);
    if (!m) throw new DerError(`bad UTCTime ${JSON.stringify(text.slice(0, 32))}`);
    const yy = Number(m[1]);
    return buildTime(yy < 50 ? 2000 + yy : 1900 + yy, m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '00', '', m[7]!);
  }
  if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d{1,9}))?(Z|[+-]\d{4})?$/.exec(text);
    if (!m) throw new DerError(`bad GeneralizedTime ${JSON.stringify(text.slice(0, 32))}`);
    return buildTime(Number(m[1]), m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '00', m[7] ?? '', m[8] ?? 'Z');
  }
  throw new DerError('expected a time');
}

/** Two ASCII digits as a number, or -1000 when either is not a digit (fails every range check). */
function twoDigits(buf: Uint8Array, p: number): number {
  const a = buf[p]! - 48;
  const b = buf[p + 1]! - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1000;
}

function buildTime(year: number, mo: string, d: string, h: string, mi: string, s: string, frac: string, zone: string): Date {
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  let t = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    t -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000;
  }
  const date = new Date(t);
  if (Number.isNaN(date.getTime()) || Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) {
    throw new DerError('time out of range');
  }
  return date;
}

/** Decodes the ASN.1 string types found in names; unknown types come back as hex. */
export function stringValue(buf: Uint8Array, node: DerNode): string {
  const b = content(buf, node);
  switch (node.tag) {
    case TAG.UTF8:
      return b.toString('utf8');
    case TAG.PRINTABLE:
    case TAG.IA5:
    case TAG.VISIBLE:
    case 0x12: // NumericString
    case TAG.T61:
      return b.toString('latin1');
    case TAG.BMP:
      return decodeUtf16be(b);
    case TAG.UNIVERSAL: {
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(Math.min(b.readUInt32BE(i), 0x10ffff));
      return s;
    }
    default:
      return '#' + bytes(buf, node).toString('hex');
  }
}

function decodeUtf16be(b: Buffer): string {
  const swapped = Buffer.from(b.subarray(0, b.length - (b.length % 2)));
  swapped.swap16();
  return swapped.toString('utf16le');
}

// ---- writing (used to re-tag signed attributes and to build test structures) --

export function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | out.length, ...out]);
}

export function encode(tag: number, value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

/**
 * Re-encodes an element with definite lengths throughout (BER indefinite
 * lengths become definite). Used for signed attributes, whose signature is
 * computed over a definite-length encoding.
 */
export function toDefinite(buf: Uint8Array, node: DerNode, newTag = node.tag, depth = 0): Buffer {
  if (depth > MAX_DER_DEPTH) throw new DerError('nesting too deep');
  if ((!node.indefinite && plainDefinite(buf, node.contentStart, node.contentEnd, node.constructed, depth)) || !hasIndefinite(buf, node, depth)) {
    if (newTag === node.tag) return bytes(buf, node);
    const out = Buffer.allocUnsafe(node.end - node.start);
    out.set(buf.subarray(node.start, node.end));
    out[0] = newTag;
    return out;
  }
  if (!node.constructed) return encode(newTag, content(buf, node));
  const parts = children(buf, node, depth).map((c) => toDefinite(buf, c, c.tag, depth + 1));
  return encode(newTag, Buffer.concat(parts));
}

/**
 * True when the content is a well-formed run of definite-length elements all
 * the way down (low tag numbers only), walked without building nodes. False
 * means "not sure": the caller then takes the thorough path, which also
 * produces the precise error for a broken encoding.
 */
function plainDefinite(buf: Uint8Array, start: number, end: number, constructed: boolean, depth: number): boolean {
  if (!constructed) return true;
  if (depth >= MAX_DER_DEPTH) return false;
  let p = start;
  while (p < end) {
    if (p + 2 > end) return false;
    const tag = buf[p]!;
    if ((tag & 0x1f) === 0x1f) return false;
    let first = buf[p + 1]!;
    let q = p + 2;
    let length: number;
    if (first < 0x80) length = first;
    else {
      first &= 0x7f;
      if (first === 0 || first > 4 || q + first > end) return false;
      length = 0;
      for (let k = 0; k < first; k++) length = length * 256 + buf[q + k]!;
      q += first;
    }
    const next = q + length;
    if (next > end) return false;
    if ((tag & 0x20) !== 0 && !plainDefinite(buf, q, next, true, depth + 1)) return false;
    p = next;
  }
  return true;
}

function hasIndefinite(buf: Uint8Array, node: DerNode, depth: number): boolean {
  if (node.indefinite) return true;
  if (!node.constructed) return false;
  // A definite-length element cannot contain an indefinite one without the
  // 0x80 length octet appearing somewhere in it; skip the walk in the usual case.
  let found = false;
  for (let i = node.contentStart; i < node.contentEnd; i++) {
    if (buf[i] === 0x80) {
      found = true;
      break;
    }
  }
  if (!found) return false;
  return children(buf, node, depth).some((c) => hasIndefinite(buf, c, depth + 1));
}
