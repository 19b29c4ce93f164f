// WBXML -> element tree.
//
// The input is untrusted (any device, or anyone who reaches the endpoint), so the decoder is written
// to terminate on every input with either a tree or a WbxmlError: no recursion (nesting depth is an
// explicit stack), every length is checked against the remaining bytes before use, mb_u_int32 is capped
// at five bytes, and content of one element is gathered as a list of slices and joined once at its END
// (joining on every part would make many tiny parts quadratic).

import { isUtf8 } from 'node:buffer';
import { NAMESPACE_BY_PAGE, OPAQUE_BY_CODE, PAGE_COUNT, TAG_BY_CODE } from './codepages.js';
import { WbxmlError } from './errors.js';
import type { WbxmlElement } from './tree.js';

export { WbxmlError } from './errors.js';

export interface WbxmlLimits {
  /** Largest accepted document, header included. */
  maxBytes: number;
  /** Deepest accepted element nesting; the root is depth 1. */
  maxDepth: number;
  /** Most elements in one document. */
  maxElements: number;
  /** Largest content of one element (all its strings and opaque parts together), and largest string table. */
  maxStringBytes: number;
}

export const DEFAULT_WBXML_LIMITS: Readonly<WbxmlLimits> = Object.freeze({
  maxBytes: 16 * 1024 * 1024,
  maxDepth: 64,
  maxElements: 200_000,
  maxStringBytes: 16 * 1024 * 1024,
});

/** The root element plus what the header said, for callers that want to log or check it. */
export interface WbxmlDocument {
  root: WbxmlElement;
  /** Header version byte: 0x03 for WBXML 1.3 (0x01 and 0x02 are accepted too). */
  version: number;
  /** Public identifier: 1 (EAS), or 0 when the identifier is a string in the string table. */
  publicId: number;
  /** The public identifier string when publicId is 0 (libwbxml writes "-//MICROSOFT//DTD ActiveSync//EN"). */
  publicIdString?: string;
  /** Charset MIBenum; always 106 (UTF-8), anything else is rejected. */
  charset: number;
  /** Length of the string table (EAS does not use one; libwbxml's xml2wbxml may write one). */
  stringTableLength: number;
}

// Global tokens (WBXML 1.3 section 7.1).
const SWITCH_PAGE = 0x00;
const END = 0x01;
const STR_I = 0x03;
const STR_T = 0x83;
const OPAQUE = 0xc3;

const GLOBAL_NAMES: Record<number, string> = {
  0x02: 'ENTITY', 0x04: 'LITERAL', 0x40: 'EXT_I_0', 0x41: 'EXT_I_1', 0x42: 'EXT_I_2', 0x43: 'PI',
  0x44: 'LITERAL_C', 0x80: 'EXT_T_0', 0x81: 'EXT_T_1', 0x82: 'EXT_T_2', 0x84: 'LITERAL_A',
  0xc0: 'EXT_0', 0xc1: 'EXT_1', 0xc2: 'EXT_2', 0xc4: 'LITERAL_AC',
};

const UTF8 = 106;

const hex = (n: number): string => '0x' + n.toString(16).toUpperCase().padStart(2, '0');

function resolveLimits(limits: Partial<WbxmlLimits> | undefined): WbxmlLimits {
  const out = { ...DEFAULT_WBXML_LIMITS };
  if (limits) {
    // Callers pass options straight through ({ maxBytes: opts.maxWbxmlBytes }); undefined means default.
    for (const k of Object.keys(out) as (keyof WbxmlLimits)[]) {
      const v = limits[k];
      if (v !== undefined) {
        if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new TypeError(`WbxmlLimits.${k} must be a non-negative number`);
        out[k] = v;
      }
    }
  }
  return out;
}

/** Decodes an EAS WBXML document to its root element. Throws WbxmlError on any malformed input. */
export function decodeWbxml(bytes: Buffer | Uint8Array, limits?: Partial<WbxmlLimits>): WbxmlElement {
  return decodeWbxmlDocument(bytes, limits).root;
}

/** Like decodeWbxml, but also returns the header fields. */
export function decodeWbxmlDocument(bytes: Buffer | Uint8Array, limits?: Partial<WbxmlLimits>): WbxmlDocument {
  const lim = resolveLimits(limits);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = buf.length;
  if (len === 0) throw new WbxmlError('empty', 'empty WBXML document', 0);
  if (len > lim.maxBytes) {
    throw new WbxmlError('too-large', `WBXML document of ${len} bytes exceeds the limit of ${lim.maxBytes}`, 0);
  }

  let pos = 0;

  /** mb_u_int32; `what` names the field for the error message. */
  const readMbUint = (what: string, overflowCode: 'bad-header' | 'too-large'): number => {
    const start = pos;
    let v = 0;
    for (let i = 0; i < 5; i++) {
      if (pos >= len) throw new WbxmlError('truncated', `document ends inside the ${what} (mb_u_int32)`, start);
      const b = buf[pos++]!;
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) {
        if (v > 0xffffffff) break;
        return v;
      }
    }
    throw new WbxmlError(overflowCode, `${what} does not fit in an mb_u_int32 (more than 32 bits)`, start);
  };

  // ---- header ----
  const version = buf[pos++]!;
  if (version < 0x01 || version > 0x03) {
    // 0x00 is WBXML 1.0, whose header has no charset field; later versions are unknown.
    throw new WbxmlError('bad-header', `unsupported WBXML version byte ${hex(version)} (expected 0x03)`, 0);
  }
  const publicIdOffset = pos;
  const publicId = readMbUint('public identifier', 'bad-header');
  let publicIdIndex = -1;
  if (publicId === 0) {
    publicIdIndex = readMbUint('public identifier string index', 'bad-header');
  } else if (publicId !== 1) {
    throw new WbxmlError('bad-header', `unsupported public identifier ${publicId} (EAS uses 1, "unknown")`, publicIdOffset);
  }
  const charsetOffset = pos;
  const charset = readMbUint('charset', 'bad-header');
  if (charset !== UTF8) {
    throw new WbxmlError('bad-header', `unsupported charset MIBenum ${charset} (only 106 = UTF-8 is accepted)`, charsetOffset);
  }
  const tableLenOffset = pos;
  const tableLen = readMbUint('string table length', 'bad-header');
  if (tableLen > lim.maxStringBytes) {
    throw new WbxmlError('too-large', `string table of ${tableLen} bytes exceeds the limit of ${lim.maxStringBytes}`, tableLenOffset);
  }
  if (tableLen > len - pos) {
    throw new WbxmlError('truncated', `string table of ${tableLen} bytes runs past the end of the document`, tableLenOffset);
  }
  const tableStart = pos;
  const tableEnd = pos + tableLen;
  pos = tableEnd;

  // NUL positions of the string table, found once: scanning from each reference instead would let many
  // references into one long entry cost (references x entry length).
  let tableNuls: number[] | undefined;
  /** End (exclusive) of the NUL-terminated string at `index` of the string table. */
  const tableStringEnd = (index: number, at: number): number => {
    if (index >= tableLen) {
      throw new WbxmlError('bad-string-ref', `string table index ${index} is outside the ${tableLen}-byte table`, at);
    }
    if (tableNuls === undefined) {
      tableNuls = [];
      for (let i = buf.indexOf(0, tableStart); i >= 0 && i < tableEnd; i = buf.indexOf(0, i + 1)) tableNuls.push(i);
    }
    const target = tableStart + index;
    let lo = 0;
    let hi = tableNuls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (tableNuls[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    if (lo === tableNuls.length) {
      throw new WbxmlError('bad-string-ref', `string table entry at index ${index} has no terminating NUL`, at);
    }
    return tableNuls[lo]!;
  };

  let publicIdString: string | undefined;
  if (publicIdIndex >= 0) {
    const s = tableStart + publicIdIndex;
    const e = tableStringEnd(publicIdIndex, publicIdOffset);
    if (!isUtf8(buf.subarray(s, e))) throw new WbxmlError('bad-utf8', 'public identifier string is not valid UTF-8', s);
    publicIdString = buf.toString('utf8', s, e);
  }

  // ---- body ----
  // Open elements (those with the content flag, not yet closed). Parallel arrays indexed by depth-1,
  // reused as the document is walked; `depth` is the number of open elements.
  const open: WbxmlElement[] = [];
  const openCode: number[] = [];
  const partStart: number[] = []; // first content part of the element, -1 if none yet
  const partEnd: number[] = [];
  const partKinds: number[] = []; // bit 1: inline/table string seen, bit 2: opaque seen
  const partBytes: number[] = [];
  const moreParts: (Buffer[] | null)[] = []; // second and later parts, rare
  let depth = 0;
  let page = 0;
  let elements = 0;
  let root: WbxmlElement | undefined;
  // Bytes produced by string table references. Everything else in the tree is bounded by the input
  // size; references are not (one long entry can be referenced by every element), so they share maxBytes.
  let referenced = 0;
  const { maxDepth, maxElements, maxStringBytes } = lim;

  const addPart = (s: number, e: number, kind: number, at: number): void => {
    const d = depth - 1;
    const total = partBytes[d]! + (e - s);
    if (total > maxStringBytes) {
      throw new WbxmlError('too-large', `content of ${open[d]!.tag} exceeds the limit of ${maxStringBytes} bytes`, at);
    }
    partBytes[d] = total;
    if (partStart[d]! < 0) {
      partStart[d] = s;
      partEnd[d] = e;
    } else {
      let more = moreParts[d];
      if (!more) moreParts[d] = more = [];
      more.push(buf.subarray(s, e));
    }
    partKinds[d]! |= kind;
  };

  /** Text or opaque value of the element being closed. */
  const finishContent = (d: number, at: number): void => {
    const s = partStart[d]!;
    if (s < 0) return;
    const el = open[d]!;
    const more = moreParts[d];
    const kinds = partKinds[d]!;
    if (OPAQUE_BY_CODE[openCode[d]!] === 1 || kinds === 2) {
      // Binary value: keep the bytes as they came (inline strings included, no UTF-8 check), copied
      // so the tree does not pin the whole request buffer.
      el.opaque = more ? Buffer.concat([buf.subarray(s, partEnd[d]!), ...more]) : Buffer.from(buf.subarray(s, partEnd[d]!));
    } else if (!more) {
      el.text = buf.toString('utf8', s, partEnd[d]!);
    } else {
      // Several parts (unusual): strings were validated on arrival; opaque parts mixed into text
      // must be UTF-8 too.
      const joined = Buffer.concat([buf.subarray(s, partEnd[d]!), ...more]);
      if (kinds !== 1 && !isUtf8(joined)) {
        throw new WbxmlError('bad-utf8', `mixed text and opaque content of ${el.tag} is not valid UTF-8`, at);
      }
      el.text = joined.toString('utf8');
    }
  };

  /** Range of bytes that is UTF-8 text for a non-binary element; checked where it starts. */
  const checkUtf8 = (s: number, e: number, at: number): void => {
    // Short pure-ASCII strings are the common case; a JS scan beats the call into the validator there.
    if (e - s > 24) {
      if (!isUtf8(buf.subarray(s, e))) {
        throw new WbxmlError('bad-utf8', `string is not valid UTF-8 (inside ${open[depth - 1]!.tag})`, at);
      }
      return;
    }
    for (let i = s; i < e; i++) {
      if (buf[i]! >= 0x80) {
        if (!isUtf8(buf.subarray(i, e))) {
          throw new WbxmlError('bad-utf8', `string is not valid UTF-8 (inside ${open[depth - 1]!.tag})`, at);
        }
        return;
      }
    }
  };

  while (pos < len) {
    const at = pos;
    if (root !== undefined && depth === 0) {
      throw new WbxmlError('trailing-bytes', `${len - pos} byte(s) after the end of the document element`, at);
    }
    const b = buf[pos++]!;
    const token = b & 0x3f;

    if (token >= 0x05) {
      // A tag.
      if (b & 0x80) {
        throw new WbxmlError('unsupported-token', `tag ${hex(b)} has the attribute flag; EAS does not use attributes`, at);
      }
      const code = page * 64 + token;
      const tag = TAG_BY_CODE[code];
      if (tag === undefined) {
        throw new WbxmlError('unknown-token', `unknown tag token ${hex(token)} on code page ${page} (${NAMESPACE_BY_PAGE[page]})`, at);
      }
      if (++elements > maxElements) {
        throw new WbxmlError('too-many-elements', `more than ${maxElements} elements`, at);
      }
      if (depth + 1 > maxDepth) {
        throw new WbxmlError('too-deep', `element nesting deeper than ${maxDepth}`, at);
      }
      const el: WbxmlElement = { tag, children: [] };
      if (depth > 0) open[depth - 1]!.children.push(el);
      else root = el;
      if (b & 0x40) {
        open[depth] = el;
        openCode[depth] = code;
        partStart[depth] = -1;
        partBytes[depth] = 0;
        partKinds[depth] = 0;
        moreParts[depth] = null;
        depth++;
      }
      continue;
    }

    switch (b) {
      case SWITCH_PAGE: {
        if (pos >= len) throw new WbxmlError('truncated', 'document ends after SWITCH_PAGE', at);
        const p = buf[pos++]!;
        if (p >= PAGE_COUNT) throw new WbxmlError('unknown-page', `unknown code page ${p}`, at);
        page = p;
        break;
      }
      case END: {
        if (depth === 0) throw new WbxmlError('unsupported-token', 'END before any element was opened', at);
        finishContent(depth - 1, at);
        depth--;
        break;
      }
      case STR_I: {
        if (depth === 0) throw new WbxmlError('unsupported-token', 'inline string outside any element', at);
        const s = pos;
        const nul = buf.indexOf(0, s);
        if (nul < 0) throw new WbxmlError('truncated', 'inline string has no terminating NUL', at);
        if (nul - s > maxStringBytes) {
          throw new WbxmlError('too-large', `inline string exceeds the limit of ${maxStringBytes} bytes`, at);
        }
        pos = nul + 1;
        if (OPAQUE_BY_CODE[openCode[depth - 1]!] !== 1) checkUtf8(s, nul, at);
        addPart(s, nul, 1, at);
        break;
      }
      case STR_T: {
        if (depth === 0) throw new WbxmlError('unsupported-token', 'string table reference outside any element', at);
        const index = readMbUint('string table index', 'too-large');
        const e = tableStringEnd(index, at);
        const s = tableStart + index;
        referenced += e - s;
        if (referenced > lim.maxBytes) {
          throw new WbxmlError('too-large', `string table references expand to more than ${lim.maxBytes} bytes`, at);
        }
        if (OPAQUE_BY_CODE[openCode[depth - 1]!] !== 1) checkUtf8(s, e, at);
        addPart(s, e, 1, at);
        break;
      }
      case OPAQUE: {
        if (depth === 0) throw new WbxmlError('unsupported-token', 'opaque data outside any element', at);
        const n = readMbUint('opaque length', 'too-large');
        if (n > maxStringBytes) {
          throw new WbxmlError('too-large', `opaque data of ${n} bytes exceeds the limit of ${maxStringBytes}`, at);
        }
        if (n > len - pos) throw new WbxmlError('truncated', `opaque data of ${n} bytes runs past the end of the document`, at);
        addPart(pos, pos + n, 2, at);
        pos += n;
        break;
      }
      default: {
        const name = GLOBAL_NAMES[b] ?? `global token ${hex(b)}`;
        throw new WbxmlError('unsupported-token', `${name} (${hex(b)}) is not used by EAS`, at);
      }
    }
  }

  if (root === undefined) {
    if (pos === tableEnd) throw new WbxmlError('empty', 'WBXML document has a header but no element', pos);
    throw new WbxmlError('truncated', 'document ends before its first element', pos);
  }
  if (depth > 0) {
    throw new WbxmlError('truncated', `document ends inside ${open[depth - 1]!.tag} (${depth} element(s) not closed)`, len);
  }
  const doc: WbxmlDocument = { root, version, publicId, charset, stringTableLength: tableLen };
  if (publicIdString !== undefined) doc.publicIdString = publicIdString;
  return doc;
}
