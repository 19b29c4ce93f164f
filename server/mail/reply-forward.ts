// SmartReply and SmartForward without ReplaceMime: the device sends only what the user wrote, and
// the server adds the original the way Exchange lays it out: below the new text, a rule, a block
// naming the original's From, Sent, To, Cc and Subject, then the original body. A reply keeps only
// the original's inline images; a forward carries all of the original's attachments. The new
// message is UTF-8 (text, and HTML when either side has HTML). The device's own header fields are
// kept as it wrote them; only the content fields are replaced.
//
// Threading fields (In-Reply-To, References) are added when the device left them out, also for
// ReplaceMime and S/MIME messages: they sit in the outer header block, which no signature covers.
import { Readable } from 'node:stream';
import { simpleParser, type Attachment, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { hasHeader, headerValue, joinMessage, prependHeader, splitMessage, type SplitMessage } from '../outbound/headers.js';
import { escapeHtml, textToHtml } from '../../eas/email/html.js';

export type ComposeKind = 'reply' | 'forward';

/** The stored original, as the mail flow recorded it. */
export interface OriginalMessage {
  raw: Buffer;
  from: string;
  to: string;
  cc: string;
  subject: string;
  sentAt: Date;
  text: string;
  html?: string;
  smimeKind: string;
}

/** The device's MIME could not be read as a message. */
export class ComposeError extends Error {
  override readonly name = 'ComposeError';
}

const PARSE_LIMITS = { maxHtmlLengthToParse: 1024 * 1024, maxHeadSize: 1024 * 1024, maxChildNodes: 1000 };
const PARSE_TIMEOUT_MS = 15_000;
const MAX_REFERENCES = 20;
/** Kinds whose content is inside a CMS blob: nothing of it can be quoted, only the whole message forwarded. */
const OPAQUE_KINDS = new Set(['enveloped', 'auth-enveloped', 'opaque-signed', 'compressed']);
const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const CONTENT_FIELDS = /^(content-|mime-version$)/;
const RULE = '________________________________';

/** The device's message with the original added below its text (and, on forward, the original's attachments). */
export async function composeWithOriginal(kind: ComposeKind, client: Buffer, original: OriginalMessage): Promise<Buffer> {
  const head = splitMessage(client);
  if (!head) throw new ComposeError('the message\'s header block has no end within 1 MiB');
  const mail = await parseFully(client).catch((e: unknown) => {
    throw new ComposeError(`the message cannot be parsed: ${e instanceof Error ? e.message : String(e)}`);
  });
  const opaque = OPAQUE_KINDS.has(original.smimeKind);
  const originalMail = opaque ? undefined : await parseFully(original.raw).catch(() => undefined);

  const clientText = (mail.text ?? '').replace(/\s+$/, '');
  const clientHtml = typeof mail.html === 'string' ? mail.html : undefined;
  const originalHtml = opaque ? undefined : original.html;
  const text = `${clientText}\r\n\r\n${RULE}\r\n${quoteHeaderLines(original).join('\r\n')}\r\n\r\n${opaque ? '' : original.text}`;
  const html = clientHtml !== undefined || originalHtml !== undefined
    ? insertBeforeBodyEnd(clientHtml ?? textToHtml(clientText), quoteHtml(original, originalHtml))
    : undefined;

  const attachments: Mail.Attachment[] = (mail.attachments ?? []).map(asAttachment);
  if (opaque && kind === 'forward') {
    attachments.push({ filename: `${safeFileName(original.subject) || 'message'}.eml`, content: original.raw, contentType: 'message/rfc822', contentDisposition: 'attachment' });
  }
  for (const a of originalMail?.attachments ?? []) {
    if (SIGNATURE_TYPES.has((a.contentType ?? '').toLowerCase())) continue;
    const inline = isInline(a);
    // A reply shows the original's text, so it keeps the pictures that text shows and nothing else.
    if (kind === 'reply' && !(inline && a.cid && originalHtml?.includes(`cid:${a.cid}`))) continue;
    attachments.push(asAttachment(a));
  }

  const built = await new MailComposer({ text, ...(html !== undefined ? { html } : {}), attachments, textEncoding: 'quoted-printable' }).compile().build();
  const content = splitMessage(built);
  if (!content) throw new ComposeError('the composed message has no header block');
  const contentHeaders = content.headers.filter((h) => CONTENT_FIELDS.test(h.name) && h.name !== 'mime-version');
  const kept = head.headers.filter((h) => !CONTENT_FIELDS.test(h.name));
  return joinMessage({
    headers: [...kept.map((h) => ({ ...h, text: h.text.replace(/\r?\n(?=[ \t])/g, '\r\n') })), { name: 'mime-version', text: 'MIME-Version: 1.0' }, ...contentHeaders],
    eol: '\r\n',
    rest: content.rest,
  });
}

/** Adds In-Reply-To (reply) and References (both) naming the original, when the device did not. */
export function withThreading(kind: ComposeKind, message: Buffer, original: Buffer): Buffer {
  const m = splitMessage(message);
  const o = splitMessage(original);
  const originalId = o && headerValue(o, 'message-id');
  if (!m || !o || !originalId || !/^<[^<>\s]+>$/.test(originalId)) return message;
  let out: SplitMessage = m;
  if (kind === 'reply' && !hasHeader(out, 'in-reply-to')) out = prependHeader(out, 'In-Reply-To', originalId);
  if (!hasHeader(out, 'references')) {
    const chain = [...(headerValue(o, 'references') ?? '').split(/\s+/).filter((r) => /^<[^<>\s]+>$/.test(r)), originalId].slice(-MAX_REFERENCES);
    out = prependHeader(out, 'References', chain.join(`${out.eol} `));
  }
  return out === m ? message : joinMessage(out);
}

async function parseFully(raw: Buffer): Promise<ParsedMail> {
  const input = Readable.from((function* () { for (let i = 0; i < raw.length; i += 65536) yield raw.subarray(i, i + 65536); })(), { objectMode: false });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { input.destroy(new Error('timeout')); reject(new Error(`parsing took longer than ${PARSE_TIMEOUT_MS} ms`)); }, PARSE_TIMEOUT_MS);
  });
  try {
    const parsing = simpleParser(input, { ...PARSE_LIMITS, keepCidLinks: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
    parsing.catch(() => undefined);
    return await Promise.race([parsing, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function isInline(a: Attachment): boolean {
  return Boolean(a.cid) && (a.related === true || (a.contentDisposition ?? '').toLowerCase() === 'inline');
}

function asAttachment(a: Attachment): Mail.Attachment {
  const inline = isInline(a);
  return {
    content: a.content,
    contentType: a.contentType || 'application/octet-stream',
    ...(a.filename ? { filename: a.filename } : {}),
    ...(inline ? { cid: a.cid, contentDisposition: 'inline' as const } : { contentDisposition: 'attachment' as const }),
  };
}

/** `"Name" <addr>` as the mail flow stores it, shown the way Outlook shows it: `Name <addr>`. */
function shown(list: string): string {
  return list.replace(/"((?:[^"\\]|\\.)*)" </g, (_, name: string) => `${name.replace(/\\(.)/g, '$1')} <`);
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "Sunday, November 29, 2026 2:30 AM (UTC)": the server has no idea of the reader's time zone, so it says which one it used. */
export function sentLine(d: Date): string {
  const h = d.getUTCHours();
  const hour12 = h % 12 === 0 ? 12 : h % 12;
  return `${WEEKDAYS[d.getUTCDay()]}, ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} ${hour12}:${String(d.getUTCMinutes()).padStart(2, '0')} ${h < 12 ? 'AM' : 'PM'} (UTC)`;
}

function quoteFields(o: OriginalMessage): Array<[string, string]> {
  return [
    ['From', shown(o.from)], ['Sent', sentLine(o.sentAt)], ['To', shown(o.to)],
    ...(o.cc ? [['Cc', shown(o.cc)] as [string, string]] : []), ['Subject', o.subject],
  ];
}

function quoteHeaderLines(o: OriginalMessage): string[] {
  return quoteFields(o).map(([k, v]) => `${k}: ${v}`);
}

function quoteHtml(o: OriginalMessage, originalHtml: string | undefined): string {
  const fields = quoteFields(o).map(([k, v]) => `<b>${k}:</b> ${escapeHtml(v)}`).join('<br>\r\n');
  const body = originalHtml !== undefined ? bodyInner(originalHtml) : textToHtml(o.text);
  return `<hr style="display:inline-block;width:98%" tabindex="-1">\r\n<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">${fields}</font>\r\n<div>&nbsp;</div></div>\r\n<div>${body}</div>\r\n`;
}

/** What is inside <body>, or the whole document when it has none. */
function bodyInner(html: string): string {
  const open = /<body\b[^>]*>/i.exec(html);
  if (!open) return html;
  const start = open.index + open[0].length;
  const end = html.toLowerCase().lastIndexOf('</body>');
  return html.slice(start, end >= start ? end : undefined);
}

function insertBeforeBodyEnd(html: string, insert: string): string {
  const end = html.toLowerCase().lastIndexOf('</body>');
  return end < 0 ? `${html}\r\n${insert}` : `${html.slice(0, end)}${insert}${html.slice(end)}`;
}

function safeFileName(s: string): string {
  return s.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ').trim().slice(0, 100);
}
