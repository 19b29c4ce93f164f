// Bodies as mailparser reports them: which parts are text and which are attachments, the
// text and HTML it assembles from the text parts, attachment sizes. Transfer decoding uses
// libqp and libbase64, charsets libmime, HTML-to-text html-to-text with mailparser's options:
// the same libraries mailparser streams through, here applied to whole bodies.

import { htmlToText } from 'html-to-text';
import libbase64 from 'libbase64';
import libmime from 'libmime';
import { decode as decodeCharset } from 'libmime/lib/charset.js';
import libqp from 'libqp';
import { base64DecodedSize } from './base64-size.js';
import { CALENDAR_TYPES, MAX_CALENDAR_PART_BYTES, type AttachmentMeta } from './mail-content.js';
import { fallBack } from './lean-fallback.js';
import { contentIdOf, type LeanNode } from './lean-tree.js';
import { HTML_MAX_DEPTH } from '../../eas/email/html.js';

/** Media types mailparser shows as text when they are inline (delivery reports read as text). */
const TEXT_TYPES = new Set(['text/plain', 'text/html', 'message/delivery-status']);
const UTF8_NAMES = new Set(['ascii', 'usascii', 'utf8']);

export interface BodyContent {
  text?: string;
  html?: string;
  textConversionError?: string;
  attachments: AttachmentMeta[];
  calendar?: string;
}

/** What the walk over the tree collects, in mailparser's terms. */
interface Collected {
  /** Text of each inline text part (text/plain, text/html, delivery report). */
  texts: Map<LeanNode, string>;
  attachments: AttachmentMeta[];
  hasText: boolean;
  hasHtml: boolean;
  /** The first calendar part (a meeting invitation). */
  calendar?: LeanNode;
}

interface Assembled {
  text: string[];
  html: string[];
  conversionError?: string;
}

export function readBodies(root: LeanNode, maxHtmlToTextBytes: number): BodyContent {
  const collected: Collected = { texts: new Map(), attachments: [], hasText: false, hasHtml: false };
  collect(root, collected);
  const out: Assembled = { text: [], html: [] };
  assemble(root, false, collected, maxHtmlToTextBytes, out);
  const calendar = collected.calendar && decodedSize(collected.calendar) <= MAX_CALENDAR_PART_BYTES ? transferDecode(collected.calendar).toString('utf8') : undefined;
  return {
    ...(calendar !== undefined ? { calendar } : {}),
    ...(out.text.length ? { text: out.text.join('\n') } : {}),
    ...(out.html.length ? { html: out.html.join('<br/>\n') } : {}),
    ...(out.conversionError !== undefined ? { textConversionError: out.conversionError } : {}),
    attachments: collected.attachments,
  };
}

function collect(node: LeanNode, c: Collected): void {
  if (!node.multipart) {
    if (isAttachment(node)) {
      const meta = attachmentOf(node);
      c.attachments.push(meta);
      if (!c.calendar && CALENDAR_TYPES.has(meta.contentType)) c.calendar = node;
    } else {
      if (node.contentType === 'text/html') c.hasHtml = true;
      else c.hasText = true;
      c.texts.set(node, textOf(node));
    }
  }
  for (const child of node.children) collect(child, c);
}

/** The text and HTML in document order; HTML becomes text only where mailparser converts it. */
function assemble(node: LeanNode, inAlternative: boolean, c: Collected, maxHtmlToTextBytes: number, out: Assembled): void {
  const content = c.texts.get(node);
  if (content) {
    if (node.contentType !== 'text/html') {
      out.text.push(content);
      // mailparser adds the text rendered as HTML; asked to skip that rendering, it adds ''.
      if (!inAlternative && c.hasHtml) out.html.push('');
    } else {
      if ((!inAlternative && c.hasText) || (node.root && !c.hasText)) {
        const converted = convertHtml(content, maxHtmlToTextBytes);
        out.text.push(converted.text);
        out.conversionError ??= converted.error;
      }
      out.html.push(content);
    }
  }
  const childrenInAlternative = inAlternative || node.contentType === 'multipart/alternative';
  for (const child of node.children) assemble(child, childrenInAlternative, c, maxHtmlToTextBytes, out);
}

function isAttachment(node: LeanNode): boolean {
  if (!TEXT_TYPES.has(node.contentType)) return true;
  // Any disposition but inline (an unknown one counts as attachment) makes a text part an attachment.
  return node.disposition !== '' && node.disposition !== 'inline';
}

function attachmentOf(node: LeanNode): AttachmentMeta {
  let contentType = node.contentType;
  if (contentType === 'application/octet-stream' && node.filename) {
    contentType = libmime.detectMimeType(node.filename) || 'application/octet-stream';
  }
  const cid = contentIdOf(node);
  let related = false;
  if (cid !== undefined) {
    for (let p = node.parent; p; p = p.parent) if (p.contentType === 'multipart/related') related = true;
  }
  return {
    contentType,
    partId: node.partId,
    ...(node.filename ? { filename: node.filename } : {}),
    ...(cid ? { cid } : {}),
    related,
    disposition: node.disposition,
    size: decodedSize(node),
  };
}

function transferDecode(node: LeanNode): Buffer {
  switch (node.encoding) {
    case 'base64':
      return base64Decode(node.body);
    case 'quoted-printable':
      return libqp.decode(node.body);
    default:
      return node.body;
  }
}

const OUTSIDE_ALPHABET = /[^A-Za-z0-9+/=\r\n]/;
const NOT_PADDING = /[^=\r\n]/;

/**
 * libbase64's streaming decoder drops every character outside the base64 alphabet and '=',
 * then decodes segment by segment between padding; for the usual body (alphabet and line
 * breaks, padding only at the end) that is Node's own decoding of the text as it is.
 */
function base64Decode(body: Buffer): Buffer {
  const text = body.toString('latin1');
  const pad = text.indexOf('=');
  if (!OUTSIDE_ALPHABET.test(text) && (pad < 0 || !NOT_PADDING.test(text.slice(pad)))) return Buffer.from(text, 'base64');
  return libbase64.decode(text.replace(/[^a-zA-Z0-9+/=]/g, ''));
}

function decodedSize(node: LeanNode): number {
  if (node.encoding === 'base64') return base64DecodedSize(node.body);
  return node.encoding === 'quoted-printable' ? libqp.decode(node.body).length : node.body.length;
}

/** The text of an inline text part: transfer decoded, format=flowed joined, charset decoded, LF line ends. */
function textOf(node: LeanNode): string {
  let bytes = transferDecode(node);
  if (node.flowed && bytes.length) {
    bytes = Buffer.from(libmime.decodeFlowed(bytes.toString('latin1'), node.delSp), 'latin1');
  }
  const charset = node.charset || 'utf-8';
  let text: string;
  if (UTF8_NAMES.has(charset.toLowerCase().replace(/[^a-z0-9]+/g, ''))) {
    text = bytes.toString();
  } else {
    // mailparser's decoding stream emits UTF-8, so an unpaired surrogate ends up as U+FFFD.
    text = Buffer.from(decodeCharset(bytes, charset), 'utf8').toString();
  }
  return text.replace(/\r?\n/g, '\n');
}

function convertHtml(html: string, maxBytes: number): { text: string; error?: string } {
  if (html.length > maxBytes) return { text: '', error: `HTML too long for parsing ${html.length} bytes` };
  // mailparser first checks the nesting depth with a scan of its own; with no more tags than
  // the limit there is nothing for that scan to find, beyond it the answer is mailparser's to give.
  if (countOf(html, '<') > HTML_MAX_DEPTH) fallBack('HTML to convert has too many tags to judge its depth');
  try {
    return { text: htmlToText(html, { limits: { maxDepth: HTML_MAX_DEPTH } }) };
  } catch {
    return { text: '', error: 'Failed to parse HTML' };
  }
}

function countOf(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) if (++n > HTML_MAX_DEPTH) break;
  return n;
}
