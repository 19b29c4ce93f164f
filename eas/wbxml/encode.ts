// Element tree -> WBXML.
//
// Output goes into one byte buffer that grows by doubling; a scratch buffer is kept between calls so a
// typical response costs one allocation (the final copy). Short ASCII strings, the bulk of EAS text
// (ids, keys, statuses, dates), are written by a byte loop because the call into the native UTF-8
// writer costs more than the copy for them.

import { OPAQUE_BY_CODE, rawCodeOf } from './codepages.js';
import { WbxmlError } from './errors.js';
import type { WbxmlElement } from './tree.js';

const SWITCH_PAGE = 0x00;
const END = 0x01;
const STR_I = 0x03;
const OPAQUE = 0xc3;
const CONTENT = 0x40;

/** Guards against a cyclic tree (a programming error) turning into an endless loop. */
const MAX_ENCODE_DEPTH = 1000;

const SCRATCH_SIZE = 64 * 1024;
/** Above this the grown buffer is handed out as the result instead of being copied and kept. */
const KEEP_LIMIT = 1024 * 1024;

let scratch: Buffer | null = null;

class Writer {
  buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  mbUint(n: number): void {
    if (this.pos + 5 > this.buf.length) this.grow(5);
    const buf = this.buf;
    if (n < 0x80) {
      buf[this.pos++] = n;
      return;
    }
    let shift = 28;
    while (shift > 0 && n < 2 ** shift) shift -= 7;
    for (; shift > 0; shift -= 7) buf[this.pos++] = 0x80 | (Math.floor(n / 2 ** shift) & 0x7f);
    buf[this.pos++] = n & 0x7f;
  }

  /** STR_I with the terminating NUL. */
  strI(s: string, tag: string): void {
    const n = s.length;
    // Three bytes per UTF-16 unit is the worst case; for long strings measure instead of reserving that.
    const need = n <= 4096 ? n * 3 + 2 : Buffer.byteLength(s, 'utf8') + 2;
    if (this.pos + need > this.buf.length) this.grow(need);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = STR_I;
    if (n <= 64) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80 || c === 0) break;
        buf[p++] = c;
      }
      if (i === n) {
        buf[p++] = 0;
        this.pos = p;
        return;
      }
      p = this.pos + 1; // non-ASCII or NUL: redo with the general path
    }
    if (s.indexOf('\0') !== -1) {
      throw new WbxmlError('invalid-text', `text of ${tag} contains a NUL character, which an inline string cannot carry`);
    }
    // Lone surrogates are written as U+FFFD by the UTF-8 encoder; EAS text is UTF-8 so they have no encoding.
    p += buf.write(s, p, 'utf8');
    buf[p++] = 0;
    this.pos = p;
  }

  opaque(data: Uint8Array): void {
    const n = data.length;
    if (this.pos + n + 6 > this.buf.length) this.grow(n + 6);
    this.buf[this.pos++] = OPAQUE;
    this.mbUint(n);
    this.buf.set(data, this.pos);
    this.pos += n;
  }

  /** OPAQUE holding the UTF-8 bytes of a string, without an intermediate Buffer. */
  opaqueText(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (this.pos + n + 6 > this.buf.length) this.grow(n + 6);
    this.buf[this.pos++] = OPAQUE;
    this.mbUint(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

function invalid(el: unknown, why: string): WbxmlError {
  const tag = typeof el === 'object' && el !== null && typeof (el as { tag?: unknown }).tag === 'string' ? (el as { tag: string }).tag : '?';
  return new WbxmlError('invalid-element', `cannot encode element ${tag}: ${why}`);
}

/**
 * Encodes an element tree as an EAS WBXML document (header 03 01 6A 00).
 *
 * Element content is written as: text (STR_I, or OPAQUE for the opaque-valued tags), then opaque data
 * (OPAQUE), then the children. An element with none of these is written without the content flag.
 * Throws WbxmlError: 'unknown-tag' for a tag not in the code pages, 'invalid-text' for text containing
 * NUL, 'invalid-element' for a malformed tree (wrong field types, nesting deeper than 1000).
 */
export function encodeWbxml(root: WbxmlElement): Buffer {
  let start = scratch;
  scratch = null; // a re-entrant call (impossible today, all synchronous) would get its own buffer
  if (start === null) start = Buffer.allocUnsafe(SCRATCH_SIZE);
  const w = new Writer(start);
  try {
    encodeInto(w, root);
  } catch (e) {
    if (start.length <= KEEP_LIMIT) scratch = start;
    throw e;
  }
  if (w.buf.length > KEEP_LIMIT) {
    // Big document: hand out the grown buffer itself; keep the original small scratch for next time.
    scratch = start;
    return w.buf.subarray(0, w.pos);
  }
  const out = Buffer.allocUnsafe(w.pos);
  w.buf.copy(out, 0, 0, w.pos);
  scratch = w.buf;
  return out;
}

function encodeInto(w: Writer, root: WbxmlElement): void {
  const header = w.buf;
  header[0] = 0x03; // WBXML 1.3
  header[1] = 0x01; // public id 1: unknown
  header[2] = 0x6a; // charset 106: UTF-8
  header[3] = 0x00; // no string table
  w.pos = 4;

  let page = 0;
  // Explicit stack instead of recursion: element and index of its next child to write.
  const stackEl: WbxmlElement[] = [];
  const stackIdx: number[] = [];
  let el: WbxmlElement | undefined = root;

  for (;;) {
    if (el !== undefined) {
      if (typeof el !== 'object' || el === null || typeof el.tag !== 'string') throw invalid(el, 'not an element');
      const code = rawCodeOf(el.tag);
      if (code === undefined) {
        throw new WbxmlError('unknown-tag', `unknown tag "${el.tag}" (expected "Namespace:Name" from the MS-ASWBXML code pages)`);
      }
      const p = code >> 6;
      if (p !== page) {
        if (w.pos + 2 > w.buf.length) w.grow(2);
        w.buf[w.pos++] = SWITCH_PAGE;
        w.buf[w.pos++] = p;
        page = p;
      }
      const cur: WbxmlElement = el;
      const { text, opaque, children } = cur;
      if (!Array.isArray(children)) throw invalid(el, 'children is not an array');
      const hasContent = text !== undefined || opaque !== undefined || children.length > 0;
      if (w.pos + 1 > w.buf.length) w.grow(1);
      w.buf[w.pos++] = hasContent ? (code & 0x3f) | CONTENT : code & 0x3f;
      if (text !== undefined) {
        if (typeof text !== 'string') throw invalid(el, 'text is not a string');
        if (OPAQUE_BY_CODE[code] === 1) w.opaqueText(text);
        else w.strI(text, el.tag);
      }
      if (opaque !== undefined) {
        if (!(opaque instanceof Uint8Array)) throw invalid(el, 'opaque is not a Buffer');
        w.opaque(opaque);
      }
      if (children.length > 0) {
        if (stackEl.length >= MAX_ENCODE_DEPTH) throw invalid(el, `nesting deeper than ${MAX_ENCODE_DEPTH} (cyclic tree?)`);
        stackEl.push(el);
        stackIdx.push(1);
        el = children[0];
        if (el === undefined) throw invalid(stackEl[stackEl.length - 1], 'child 0 is undefined');
        continue;
      }
      if (hasContent) {
        if (w.pos + 1 > w.buf.length) w.grow(1);
        w.buf[w.pos++] = END;
      }
    }
    // Move to the next sibling, closing finished parents.
    const top = stackEl.length - 1;
    if (top < 0) return;
    const parent = stackEl[top]!;
    const i = stackIdx[top]!;
    if (i < parent.children.length) {
      stackIdx[top] = i + 1;
      el = parent.children[i];
      if (el === undefined) throw invalid(parent, `child ${i} is undefined`);
    } else {
      stackEl.pop();
      stackIdx.pop();
      if (w.pos + 1 > w.buf.length) w.grow(1);
      w.buf[w.pos++] = END;
      el = undefined;
    }
  }
}
