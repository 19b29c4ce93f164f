// What parseMessage takes from a parser: the fields EAS needs, in one shape whichever parser
// produced them (the lean ingest parser or mailparser). Keeping the assembly of a ParsedMessage
// on this shape is what lets the two paths be compared field by field.

import type { ParsedMail } from 'mailparser';
import { mailboxes, type Mailbox } from './addresses.js';

export interface AttachmentMeta {
  /** mailparser's content type for the part (guessed from the file name for application/octet-stream). */
  contentType: string;
  /** IMAP-style part number, null for a single-part message. */
  partId: string | null;
  filename?: string;
  /** Content-ID without angle brackets. */
  cid?: string;
  /** Has a Content-ID and some ancestor is multipart/related. */
  related: boolean;
  /** The Content-Disposition value as given ('' when none). */
  disposition: string;
  /** Decoded size in bytes. */
  size: number;
}

/** The top-level header fields EAS shows, decoded. */
export interface TopLevelFields {
  subject: string;
  from: Mailbox[];
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  replyTo: Mailbox[];
  messageId?: string;
  inReplyTo?: string;
  references: string[];
}

export interface MailContent extends TopLevelFields {
  text?: string;
  html?: string;
  /** Why the HTML body could not be turned into text. */
  textConversionError?: string;
  /** In mailparser's order: a stored message re-parsed later finds each at the same index. */
  attachments: AttachmentMeta[];
  /** The first calendar part's text (a meeting invitation), when it is at most MAX_CALENDAR_PART_BYTES. */
  calendar?: string;
}

/** Media types of a calendar part: iCalendar beside the text, or attached as an .ics file. */
export const CALENDAR_TYPES: ReadonlySet<string> = new Set(['text/calendar', 'application/ics']);

/** Largest calendar part kept from the parse; the meeting reader refuses larger ones anyway. */
export const MAX_CALENDAR_PART_BYTES = 256 * 1024;

export function contentFromMailparser(mail: ParsedMail): MailContent {
  const calendar = mail.attachments.find((a) => CALENDAR_TYPES.has(a.contentType.toLowerCase()));
  return {
    ...(calendar?.content && calendar.content.length <= MAX_CALENDAR_PART_BYTES ? { calendar: calendar.content.toString('utf8') } : {}),
    subject: mail.subject ?? '',
    from: mailboxes(mail.from),
    to: mailboxes(mail.to),
    cc: mailboxes(mail.cc),
    bcc: mailboxes(mail.bcc),
    replyTo: mailboxes(mail.replyTo),
    ...(mail.messageId ? { messageId: mail.messageId } : {}),
    ...(mail.inReplyTo ? { inReplyTo: mail.inReplyTo } : {}),
    references: mail.references === undefined ? [] : ([] as string[]).concat(mail.references),
    ...(mail.text !== undefined ? { text: mail.text } : {}),
    ...(typeof mail.html === 'string' ? { html: mail.html } : {}),
    ...(mail.textConversionError ? { textConversionError: mail.textConversionError.message } : {}),
    attachments: mail.attachments.map((a) => ({
      contentType: a.contentType,
      partId: a.partId ?? null,
      ...(a.filename ? { filename: a.filename } : {}),
      ...(a.cid ? { cid: a.cid } : {}),
      related: a.related === true,
      // Typed as a string, but mailparser leaves it unset for a part without a disposition.
      disposition: a.contentDisposition ?? '',
      size: typeof a.size === 'number' ? a.size : a.content?.length ?? 0,
    })),
  };
}
