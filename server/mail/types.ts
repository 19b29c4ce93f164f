import type { SmimeClassification, SmimeKind } from '../../smime/classify.js';
import type { Importance } from './headers.js';

export interface AttachmentInfo {
  /** Position in mailparser's attachment list for these bytes: a re-parse finds it at the same index. */
  index: number;
  /** IMAP-style part number from mailparser ('1.2'), null for a single-part message. */
  partId: string | null;
  /** File name from the part, or a generated `attachment-<n>.<ext>` when it named none. */
  fileName: string;
  contentType: string;
  /** Decoded size in bytes. */
  size: number;
  /** Content-ID without angle brackets. */
  contentId?: string;
  /** Rendered inside the body: has a Content-ID and sits in multipart/related or is disposition inline. */
  isInline: boolean;
}

export interface ParsedMessage {
  subject: string;
  /** Formatted mailbox list (`"Name" <addr>`), comma separated. */
  from: string;
  /** Formatted, comma separated (EAS To). */
  to: string;
  /** Formatted, comma separated (EAS Cc). */
  cc: string;
  /** Formatted, semicolon separated (EAS ReplyTo). */
  replyTo: string;
  /** Display names of To (address when nameless), `; ` separated. */
  displayTo: string;
  /** Display names of Cc, `; ` separated. */
  displayCc: string;
  /** The Date header, or the parse time when it is missing or invalid (see dateFromHeader). */
  date: Date;
  dateFromHeader: boolean;
  importance: Importance;
  /** EAS MessageClass from the S/MIME classification. */
  messageClass: string;
  smimeKind: SmimeKind;
  smime: SmimeClassification;
  /** Windows code page of the main text part's charset (65001 when unknown or absent). */
  internetCpid: number;
  /** The charset named by the main text part, lower-case, if any. */
  charset?: string;
  /** Plain text body (converted from HTML when there is no text part); '' for encrypted/opaque S/MIME. */
  text: string;
  /** HTML body with cid: links kept, undefined when there is none. */
  html?: string;
  /** First PREVIEW_LENGTH characters of the text, whitespace collapsed; '' for encrypted/opaque S/MIME. */
  preview: string;
  threadTopic: string;
  /** Angle brackets included, as in the header. */
  messageId?: string;
  inReplyTo?: string;
  references: string[];
  /** Metadata only. Empty for encrypted/opaque S/MIME; a clear-signed message's signature part is left out. */
  attachments: AttachmentInfo[];
  /** The first calendar part's text (a meeting invitation), when the parse kept it (at most 256 KiB). */
  calendar?: string;
  /** True when some attachment is not inline. */
  hasAttachments: boolean;
  /** Plain lower-case addresses of From (meeting updates must come from their organizer). */
  fromAddresses: string[];
  /** Plain lower-case addresses of To, de-duplicated, for routing and Bcc detection. */
  toAddresses: string[];
  ccAddresses: string[];
  bccAddresses: string[];
  /** Outlook's Thread-Index header (base64, whitespace removed), for EAS ConversationId/Index. */
  threadIndex?: string;
  /** Raw size in bytes. */
  size: number;
  /** Why some field fell back on a default (mailparser failure, timeout, unconvertible HTML). */
  warnings: string[];
}

export interface ParseOptions {
  /** Largest message accepted, bytes. Default 25 MiB (the SMTP listener's default). */
  maxBytes?: number;
  /** Largest top-level header block, bytes. Default 1 MiB. */
  maxHeaderBytes?: number;
  /** Most top-level header fields. Default 1000. */
  maxHeaderFields?: number;
  /** Most MIME parts (mailparser's maxChildNodes). Default 1000. */
  maxParts?: number;
  /** HTML longer than this is not converted to text by mailparser (a rough linear conversion is used). Default 1 MiB. */
  maxHtmlToTextBytes?: number;
  /** After this, mailparser is stopped and defaults are used (with a warning). Default 10 s. */
  timeoutMs?: number;
  /** Preview length in characters. Default 255. */
  previewLength?: number;
  /** Clock for the Date fallback (tests). */
  now?: () => Date;
}
