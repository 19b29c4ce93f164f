// The MIME tree as mailparser's splitter builds it, for the messages where that can be done
// without its line-by-line state machine: header blocks found with findHeaderEnd, multipart
// bodies split with splitMultipart (smime/mime-split.ts), and each entity described with the
// same libmime calls the splitter makes. Every construct where the two splitters could
// disagree (a delimiter line they read differently, a part without a header block, nested
// boundaries that prefix each other, an inline message/rfc822 mailparser descends into) makes
// the caller fall back to mailparser.

import path from 'node:path';
import libmime from 'libmime';
import type { ParsedHeaderValue } from 'libmime/lib/types.js';
import { findHeaderEnd, splitMultipart, type HeaderBlock, type MultipartBody } from '../../smime/mime-split.js';
import { fallBack } from './lean-fallback.js';
import { decodeWords, fieldValue, firstLine, splitHeaderBlock, structuralValue, type HeaderLine } from './lean-headers.js';

/** The splitter's reading of an entity's MIME fields. */
interface Description {
  /** Lower-case media type. */
  contentType: string;
  /** Content-Disposition value (lower-case, encoded words decoded), '' when none. */
  disposition: string;
  /** From Content-Disposition filename or Content-Type name, '' when none. */
  filename: string;
  charset: string;
  /** Content-Transfer-Encoding, lower-case: '', 7bit, 8bit, binary, base64 or quoted-printable. */
  encoding: string;
  flowed: boolean;
  delSp: boolean;
  boundary: string;
}

export interface LeanNode extends Omit<Description, 'boundary'> {
  root: boolean;
  parent: LeanNode | null;
  fields: HeaderLine[];
  multipart: boolean;
  /** IMAP-style part number, null for the top-level entity. */
  partId: string | null;
  /** Content bytes, still transfer-encoded; empty for a multipart. */
  body: Buffer;
  children: LeanNode[];
}

export interface TreeLimits {
  /** mailparser's maxChildNodes. */
  maxParts: number;
  /** mailparser's per-entity header limit (maxHeadSize). */
  maxHeaderBytes: number;
}

const MAX_DEPTH = 32;
const MAX_BOUNDARY_LENGTH = 200;
const MAX_DELIMITER_CANDIDATES = 10_000;
/** The splitter takes at most this much whitespace after a delimiter; keep well inside it. */
const MAX_DELIMITER_TRAILING_WSP = 900;
const PLAIN_ENCODINGS = new Set(['', '7bit', '8bit', 'binary', 'base64', 'quoted-printable']);
const UNENCODED = new Set(['', '7bit', '8bit', 'binary']);
const LF = 0x0a;
const CR = 0x0d;
/** parseMessage feeds mailparser the message in chunks of this size. */
const CHUNK = 64 * 1024;

interface Walk {
  limits: TreeLimits;
  /** byteOffset of the message in its ArrayBuffer: positions in the message from subarrays. */
  base: number;
  nodes: number;
  candidates: number;
}

export function buildTree(raw: Buffer, header: HeaderBlock, limits: TreeLimits): LeanNode {
  if (limits.maxParts < 2 || limits.maxHeaderBytes < 1024) fallBack('limits too small to judge');
  const walk: Walk = { limits, base: raw.byteOffset, nodes: 0, candidates: MAX_DELIMITER_CANDIDATES };
  const fields = splitHeaderBlock(raw.toString('latin1', 0, header.headerEnd), limits.maxHeaderBytes);
  return entity(walk, fields, raw.subarray(header.bodyStart), null, [], []);
}

function entity(walk: Walk, fields: HeaderLine[], content: Buffer, parent: LeanNode | null, partNr: number[], boundaries: string[]): LeanNode {
  if (++walk.nodes >= walk.limits.maxParts) fallBack('too many parts');
  if (boundaries.length > MAX_DEPTH) fallBack('nesting too deep');
  const d = describe(fields);
  const node: LeanNode = {
    root: parent === null,
    parent,
    fields,
    contentType: d.contentType,
    multipart: d.contentType.startsWith('multipart/'),
    disposition: d.disposition,
    filename: d.filename,
    charset: d.charset,
    encoding: d.encoding,
    flowed: d.flowed,
    delSp: d.delSp,
    partId: parent === null ? null : partNr.join('.'),
    body: content,
    children: [],
  };
  if (!node.multipart) {
    // The splitter splits any entity that names a boundary, even a text part.
    if (d.boundary) fallBack('boundary parameter on a non-multipart entity');
    return node;
  }
  node.body = content.subarray(0, 0);
  if (!d.boundary) return node; // a multipart without a usable boundary has no parts for mailparser either
  if (d.boundary.length > MAX_BOUNDARY_LENGTH) fallBack('boundary too long');
  for (const outer of boundaries) {
    if (outer.startsWith(d.boundary) || d.boundary.startsWith(outer)) fallBack('nested boundaries that prefix each other');
  }
  const openDelimiters = checkDelimiterLines(walk, content, d.boundary);
  const split = splitMultipart(content, d.boundary, walk.limits.maxParts, { candidates: MAX_DELIMITER_CANDIDATES, bytes: Infinity });
  if (split.truncated) fallBack('too many parts');
  if (split.parts.length !== openDelimiters) fallBack('multipart split disagrees with the delimiter scan');
  const inner = [...boundaries, d.boundary];
  for (let i = 0; i < split.parts.length; i++) {
    const part = split.parts[i]!;
    const bytes = content.subarray(part.start, part.end);
    const hb = findHeaderEnd(bytes, walk.limits.maxHeaderBytes);
    // mailparser drops a part whose header block never ends: it must not be counted or numbered.
    if (!hb || !hb.terminated) fallBack('part without an empty line after its header');
    const partFields = splitHeaderBlock(bytes.toString('latin1', 0, hb.headerEnd), walk.limits.maxHeaderBytes);
    node.children.push(entity(walk, partFields, partBody(walk, content, split, i, bytes.subarray(hb.bodyStart)), node, [...partNr, i + 1], inner));
  }
  return node;
}

/**
 * A part's content. The line break before a delimiter belongs to the delimiter and the
 * splitter leaves it out, except in one case: when that line break is all there is after the
 * header block and an opening delimiter follows, the splitter reports it as the content.
 */
function partBody(walk: Walk, multipartBody: Buffer, split: MultipartBody, index: number, content: Buffer): Buffer {
  if (content.length > 0) return content;
  const last = index === split.parts.length - 1;
  if (last && split.closed) return content;
  if (last) fallBack('empty part at the end of an unclosed multipart');
  const end = split.parts[index]!.end;
  const width = multipartBody[end] === CR && multipartBody[end + 1] === LF ? 2 : 1;
  // The splitter reads its input in 64 KiB chunks and behaves so only when the line break and
  // the delimiter line after it arrive in the same chunk.
  const lineEnd = multipartBody.indexOf(LF, end + width);
  const from = multipartBody.byteOffset - walk.base + end;
  const to = multipartBody.byteOffset - walk.base + (lineEnd < 0 ? multipartBody.length : lineEnd + 1);
  if (Math.floor((from - 2) / CHUNK) !== Math.floor((to + 2) / CHUNK)) fallBack('empty part at a chunk boundary');
  return multipartBody.subarray(end, end + width);
}

function describe(fields: ReadonlyArray<HeaderLine>): Description {
  const disposition = structured(firstValue(fields, 'content-disposition'));
  let typeHeader = firstValue(fields, 'content-type');
  if (typeHeader === undefined) {
    const extension = disposition.params.filename ? path.parse(disposition.params.filename).ext.replace(/^\./, '') : '';
    if (extension) typeHeader = libmime.detectMimeType(extension);
    if (!typeHeader) typeHeader = /^attachment$/i.test(disposition.value) ? 'application/octet-stream' : 'text/plain';
  }
  const type = structured(typeHeader);

  const rawEncoding = firstValue(fields, 'content-transfer-encoding') ?? '';
  // A comment in the encoding is read by the splitter's own rules; not worth copying.
  if (rawEncoding.includes('(')) fallBack('comment in Content-Transfer-Encoding');
  const encoding = rawEncoding.toLowerCase().trim();
  if (!PLAIN_ENCODINGS.has(encoding)) fallBack(`transfer encoding ${encoding.slice(0, 40)}`);

  const contentType = (type.value || '').toLowerCase().trim();
  if (!contentType) fallBack('empty Content-Type');
  if (contentType.startsWith('multipart/') && contentType.length === 'multipart/'.length) fallBack('multipart without a subtype');

  let dispositionValue = (disposition.value || '').toLowerCase().trim();
  if (dispositionValue) dispositionValue = decodeWords(dispositionValue);

  let filename = disposition.params.filename || type.params.name || '';
  const decoded = disposition.params.filename ? disposition.decodedParams.includes('filename') : type.decodedParams.includes('name');
  if (filename && !decoded) filename = decodeWords(filename);

  const flowed = contentType === 'text/plain' && (type.params.format ?? '').toLowerCase().trim() === 'flowed';
  const delSp = flowed && (type.params.delsp ?? '').toLowerCase().trim() === 'yes';

  const boundary = (type.params.boundary || '').trimEnd();
  // The splitter ignores a boundary with non-ASCII characters.
  const usable = Buffer.byteLength(boundary) === boundary.length ? boundary : '';

  if (contentType === 'message/rfc822' && UNENCODED.has(encoding) && dispositionValue === 'inline') {
    fallBack('inline message/rfc822'); // mailparser parses it as a nested message
  }
  return {
    contentType,
    disposition: dispositionValue,
    filename,
    charset: type.params.charset || '',
    encoding,
    flowed,
    delSp,
    boundary: usable,
  };
}

function firstValue(fields: ReadonlyArray<HeaderLine>, key: string): string | undefined {
  const line = firstLine(fields, key);
  return line === undefined ? undefined : structuralValue(line);
}

const EMPTY_VALUE: ParsedHeaderValue = Object.freeze({ value: '', params: Object.freeze({}), decodedParams: [] }) as ParsedHeaderValue;

/** libmime's parse of a MIME header value, comments dropped as the splitter drops them. */
function structured(value: string | undefined): ParsedHeaderValue {
  return value ? libmime.parseHeaderValue(value, { stripComments: true }) : EMPTY_VALUE;
}

/**
 * Looks at every line of a multipart body that starts with `--boundary` and returns how many
 * parts mailparser's splitter will open before the first close delimiter. Falls back where
 * that splitter and splitMultipart could read such a line differently: extra CRs, a delimiter
 * without a line end, a close delimiter before the first part, very long trailing whitespace.
 */
function checkDelimiterLines(walk: Walk, body: Buffer, boundary: string): number {
  const delimiter = Buffer.from('--' + boundary, 'latin1');
  let opened = 0;
  let closed = false;
  for (let at = body.indexOf(delimiter); at >= 0; at = body.indexOf(delimiter, at + 1)) {
    if (--walk.candidates < 0) fallBack('too many delimiter candidates');
    if (at > 0 && body[at - 1] === CR && (at === 1 || body[at - 2] === LF)) fallBack('CR before a delimiter line');
    if (at > 0 && body[at - 1] !== LF) continue;
    const kind = delimiterKind(body, at + delimiter.length);
    if (kind === 'unclear') fallBack('delimiter line the splitters may read differently');
    if (kind === 'content' || closed) continue;
    if (kind === 'close') {
      if (opened === 0) fallBack('close delimiter before the first part');
      closed = true;
    } else {
      opened++;
    }
  }
  return opened;
}

function delimiterKind(body: Buffer, p: number): 'open' | 'close' | 'content' | 'unclear' {
  let close = false;
  if (body[p] === 0x2d) {
    if (body[p + 1] !== 0x2d) return 'content';
    close = true;
    p += 2;
  }
  const start = p;
  while (p < body.length && (body[p] === 0x20 || body[p] === 0x09)) p++;
  if (p - start > MAX_DELIMITER_TRAILING_WSP) return 'unclear';
  const kind = close ? 'close' : 'open';
  // At the end of the bytes given: fine for a close delimiter, not for one that opens a part.
  if (p >= body.length) return close ? kind : 'unclear';
  if (body[p] === LF) return kind;
  if (body[p] === CR) return body[p + 1] === LF ? kind : 'unclear';
  return 'content';
}

/** mailparser's Content-ID of an entity: the first non-empty one, brackets and spaces removed. */
export function contentIdOf(node: LeanNode): string | undefined {
  for (const f of node.fields) {
    if (f.key !== 'content-id') continue;
    const value = fieldValue(f.line);
    if (value) return value.trim().replace(/^<|>$/g, '').trim();
  }
  return undefined;
}
