// Parses a raw RFC 5322 message into the fields an EAS Sync Add needs.
//
// Policy: limits (overall size, top-level header block size and field count)
// throw a MailParseError, so the mail flow can refuse the message with a precise
// reason. Anything else - garbage bytes, a MIME tree mailparser rejects, a
// timeout - yields a ParsedMessage with defaults plus `warnings`, because an
// SMTP server accepts such mail and the raw bytes are still stored and served.
//
// Two parsers read the body: the lean parser (lean-parse.ts) for the shapes ordinary mail
// comes in, and mailparser for everything the lean parser is not sure of. Both report the
// same MailContent, and the lean parser only answers where its answer is mailparser's.

import { classifyParsed, messageClassFor, type SmimeKind } from '../../smime/classify.js';
import { findHeaderEnd, parseHeaderFields } from '../../smime/mime-split.js';
import { displayNames, formatMailboxes, plainAddresses } from './addresses.js';
import { codePageFor } from './charset.js';
import { MailParseError } from './errors.js';
import { headerDate, importanceOf, threadIndexOf, threadTopic } from './headers.js';
import { parseLean } from './lean-parse.js';
import { contentFromMailparser, type AttachmentMeta, type MailContent } from './mail-content.js';
import { runMailparser } from './mailparser-run.js';
import { mainTextCharset } from './structure.js';
import { roughHtmlToText } from './text.js';
import { PREVIEW_LENGTH, previewOf } from '../../eas/email/preview.js';
import type { AttachmentInfo, ParsedMessage, ParseOptions } from './types.js';

export { MailParseError } from './errors.js';
export type { AttachmentInfo, ParsedMessage, ParseOptions } from './types.js';

const MiB = 1024 * 1024;
const DEFAULTS = {
  maxBytes: 25 * MiB,
  maxHeaderBytes: MiB,
  maxHeaderFields: 1000,
  maxParts: 1000,
  maxHtmlToTextBytes: MiB,
  timeoutMs: 10_000,
  previewLength: PREVIEW_LENGTH,
};

/** Kinds whose content is inside a CMS blob: no readable body, no attachments of their own. */
const OPAQUE_KINDS = new Set<SmimeKind>(['enveloped', 'auth-enveloped', 'opaque-signed', 'compressed']);
const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]+/g;

/** Which parser read the body, and why the lean one declined. */
export interface ParseOutcome {
  parsed: ParsedMessage;
  path: 'lean' | 'mailparser';
  fallbackReason?: string;
}

export async function parseMessage(raw: Buffer, opts: ParseOptions = {}): Promise<ParsedMessage> {
  return (await parseMessageDetailed(raw, opts)).parsed;
}

/** parseMessage, also telling which parser answered (tests, diagnostics). */
export function parseMessageDetailed(raw: Buffer, opts: ParseOptions = {}): Promise<ParseOutcome> {
  return parseWith(raw, opts, true);
}

/** parseMessage on the mailparser path alone: the reference the lean parser is checked against. */
export async function parseMessageWithMailparser(raw: Buffer, opts: ParseOptions = {}): Promise<ParsedMessage> {
  return (await parseWith(raw, opts, false)).parsed;
}

async function parseWith(raw: Buffer, opts: ParseOptions, tryLean: boolean): Promise<ParseOutcome> {
  const o = { ...DEFAULTS, ...definedOnly(opts) };
  if (!Buffer.isBuffer(raw)) throw new MailParseError('invalid-input', 'message must be a Buffer');
  if (raw.length > o.maxBytes) {
    throw new MailParseError('too-large', `message is ${raw.length} bytes, the limit is ${o.maxBytes}`);
  }
  const hb = findHeaderEnd(raw, o.maxHeaderBytes);
  if (!hb) throw new MailParseError('header-too-large', `header block exceeds ${o.maxHeaderBytes} bytes`);
  const headers = parseHeaderFields(raw.toString('latin1', 0, hb.headerEnd), o.maxHeaderFields);
  if (headers.truncated) {
    throw new MailParseError('too-many-headers', `message has more than ${o.maxHeaderFields} header fields`);
  }
  const fields = headers.fields;
  const body = raw.subarray(hb.bodyStart);
  const warnings: string[] = [];

  const smime = classifyParsed(fields, body);
  if (smime.malformed) warnings.push(`S/MIME: ${smime.malformed}`);
  const opaque = OPAQUE_KINDS.has(smime.kind);

  let mail: MailContent | undefined;
  let fallbackReason: string | undefined;
  if (tryLean) {
    const lean = parseLean(raw, hb, { ...o, withBodies: !opaque });
    if ('content' in lean) mail = lean.content;
    else fallbackReason = lean.fallback;
  }
  const path = mail ? 'lean' : 'mailparser';
  if (!mail) {
    let parsed = await runMailparser(raw, o, warnings);
    // Headers are still worth having when the body defeated mailparser.
    if (!parsed) parsed = await runMailparser(Buffer.concat([raw.subarray(0, hb.headerEnd), Buffer.from('\r\n\r\n')]), o, warnings);
    mail = parsed ? contentFromMailparser(parsed) : undefined;
  }

  const charset = opaque ? undefined : mainTextCharset(fields, body);
  let text = opaque ? '' : mail?.text ?? '';
  const html = opaque || !mail ? undefined : mail.html;
  if (mail?.textConversionError && html !== undefined) {
    warnings.push(`HTML not converted to text: ${mail.textConversionError}`);
    if (!text.trim()) text = roughHtmlToText(html);
  }

  const subject = clean(mail?.subject ?? '');
  const to = mail?.to ?? [];
  const cc = mail?.cc ?? [];
  const date = headerDate(fields);
  const threadIndex = threadIndexOf(fields);
  const attachments = opaque ? [] : describeAttachments(mail?.attachments ?? [], smime.kind);

  const parsed: ParsedMessage = {
    subject,
    from: formatMailboxes(mail?.from ?? [], ', '),
    to: formatMailboxes(to, ', '),
    cc: formatMailboxes(cc, ', '),
    replyTo: formatMailboxes(mail?.replyTo ?? [], '; '),
    displayTo: displayNames(to),
    displayCc: displayNames(cc),
    date: date ?? (opts.now ? opts.now() : new Date()),
    dateFromHeader: date !== undefined,
    importance: importanceOf(fields),
    messageClass: messageClassFor(smime.kind),
    smimeKind: smime.kind,
    smime,
    internetCpid: codePageFor(charset),
    ...(charset ? { charset: charset.toLowerCase() } : {}),
    text,
    ...(html !== undefined ? { html } : {}),
    preview: opaque ? '' : previewOf(text, o.previewLength),
    threadTopic: threadTopic(subject),
    ...(mail?.messageId ? { messageId: clean(mail.messageId) } : {}),
    ...(mail?.inReplyTo ? { inReplyTo: clean(mail.inReplyTo) } : {}),
    references: (mail?.references ?? []).map(clean),
    attachments,
    ...(!opaque && mail?.calendar !== undefined ? { calendar: mail.calendar } : {}),
    hasAttachments: attachments.some((a) => !a.isInline),
    fromAddresses: plainAddresses(mail?.from ?? []),
    toAddresses: plainAddresses(to),
    ccAddresses: plainAddresses(cc),
    bccAddresses: plainAddresses(mail?.bcc ?? []),
    ...(threadIndex ? { threadIndex } : {}),
    size: raw.length,
    warnings,
  };
  return { parsed, path, ...(fallbackReason !== undefined ? { fallbackReason } : {}) };
}

function describeAttachments(list: AttachmentMeta[], kind: SmimeKind): AttachmentInfo[] {
  const out: AttachmentInfo[] = [];
  list.forEach((a, index) => {
    const contentType = (a.contentType || 'application/octet-stream').toLowerCase();
    // The detached signature is transport, not content; clients that verify fetch the MIME.
    if (kind === 'clear-signed' && SIGNATURE_TYPES.has(contentType)) return;
    const contentId = a.cid ? clean(a.cid) : undefined;
    const disposition = a.disposition.toLowerCase();
    out.push({
      index,
      partId: a.partId,
      fileName: clean(a.filename ?? '').trim() || defaultFileName(index, contentType),
      contentType,
      size: a.size,
      ...(contentId ? { contentId } : {}),
      isInline: Boolean(contentId) && (a.related || disposition === 'inline'),
    });
  });
  return out;
}

const EXTENSIONS: Record<string, string> = {
  'message/rfc822': 'eml',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/calendar': 'ics',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'application/pdf': 'pdf',
  'application/pkcs7-mime': 'p7m',
  'application/x-pkcs7-mime': 'p7m',
};

function defaultFileName(index: number, contentType: string): string {
  const ext = Object.hasOwn(EXTENSIONS, contentType) ? EXTENSIONS[contentType] : 'bin';
  return `attachment-${index + 1}.${ext}`;
}

function clean(s: string): string {
  return s.replace(CONTROL, ' ');
}

function definedOnly(opts: ParseOptions): Partial<typeof DEFAULTS> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && k in DEFAULTS) out[k] = v;
  return out as Partial<typeof DEFAULTS>;
}
