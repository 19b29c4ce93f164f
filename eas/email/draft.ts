// 16.x drafts in Sync (MS-ASCMD 2.2.3.7.2, MS-ASEMAIL, MS-ASAIRS 2.2.2.2/2.2.2.21): the
// ApplicationData of a client Add or Change read into a draft edit, and the pieces of the answer
// (attachment ClientId -> FileReference, the draft markers of server Adds and Changes).
import type { DraftAttachmentAdd, DraftEdit, DraftFields, DraftOutcome, DraftSendFailure } from '../ports/drafts.js';
import { formatFileReference, parseFileReference } from '../ports/items.js';
import { V160 } from '../version.js';
import { ns } from '../wbxml/ns.js';
import { child, childText, type WbxmlElement } from '../wbxml/tree.js';

const A = ns('AirSync');
const E2 = ns('Email2');
const B = ns('AirSyncBase');

/** Bounds on what a device may put into one draft. Exceeding one gets a precise item Status. */
export const DRAFT_LIMITS = {
  /** Attachment slots of one draft over its life (removed ones keep their slot: FileReferences stay stable). */
  maxAttachments: 100,
  /** One attachment's decoded bytes. */
  maxAttachmentBytes: 10 * 1024 * 1024,
  /** The body's Data, in UTF-8 bytes. */
  maxBodyBytes: 2 * 1024 * 1024,
  /** To, Cc, Bcc (MS-ASEMAIL's bound for address fields). */
  maxAddressChars: 32_768,
  maxSubjectChars: 4096,
  /** ClientIds, DisplayName, ContentType, ContentId, ContentLocation. */
  maxShortChars: 255,
} as const;

/**
 * Item Status values for drafts: the Sync ones (MS-ASCMD 2.2.3.177.17) and, for what only drafts
 * can run into, the common ones (MS-ASCMD 2.2.2) that name the problem exactly.
 */
export const DraftStatus = {
  Success: 1, ProtocolError: 4, ConversionError: 6, NotFound: 8,
  InvalidMime: 107, RecipientUnresolved: 116, SubmissionFailed: 120, AttachmentTooLarge: 122, InvalidRecipients: 183,
} as const;

export class DraftDataError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** Email elements a client may change on any message; everything else in a Change edits a draft. */
const FLAG_ELEMENTS = new Set(['Email:Read', 'Email:Flag', 'Email:Categories']);
/** Elements only servers write (MS-ASEMAIL: clients MUST NOT send them). */
const SERVER_ONLY = new Set(['Email2:IsDraft', 'Email2:ConversationId', 'Email2:ConversationIndex', 'Email2:ReceivedAsBcc']);

/**
 * The elements of a Change beyond Read, Flag and Categories: on a draft they edit it (To, Cc, Bcc,
 * Subject, Importance, Body, Attachments are read; the server's own fields such as From are left
 * alone), on any other message they are refused.
 */
export function draftElements(data: WbxmlElement | undefined): string[] {
  return (data?.children ?? []).map((c) => c.tag).filter((t) => !FLAG_ELEMENTS.has(t));
}

function text(el: WbxmlElement): string {
  return el.text ?? el.opaque?.toString('utf8') ?? '';
}

function bounded(el: WbxmlElement | undefined, max: number, what: string): string | undefined {
  if (!el) return undefined;
  const t = text(el);
  if (t.length > max) throw new DraftDataError(DraftStatus.ConversionError, `${what} is ${t.length} characters, at most ${max} are accepted`);
  return t;
}

function readFields(data: WbxmlElement): DraftFields {
  const L = DRAFT_LIMITS;
  const fields: DraftFields = {
    to: bounded(child(data, 'Email:To'), L.maxAddressChars, 'To'),
    cc: bounded(child(data, 'Email:Cc'), L.maxAddressChars, 'Cc'),
    bcc: bounded(child(data, 'Email2:Bcc'), L.maxAddressChars, 'Bcc'),
    subject: bounded(child(data, 'Email:Subject'), L.maxSubjectChars, 'Subject'),
  };
  const importance = childText(data, 'Email:Importance');
  if (importance !== undefined) {
    if (!/^[012]$/.test(importance.trim())) throw new DraftDataError(DraftStatus.ConversionError, 'Importance must be 0, 1 or 2');
    fields.importance = Number(importance.trim()) as 0 | 1 | 2;
  }
  const body = child(data, 'AirSyncBase:Body');
  if (body) {
    const type = childText(body, 'AirSyncBase:Type');
    // A draft is kept as the fields a device edits; RTF and MIME bodies have no such form (MS-ASEMAIL).
    if (type !== '1' && type !== '2') throw new DraftDataError(DraftStatus.ConversionError, `a draft body must be Type 1 (text) or 2 (HTML), not ${type ?? 'none'}`);
    const dataEl = child(body, 'AirSyncBase:Data');
    const value = dataEl ? text(dataEl) : '';
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > L.maxBodyBytes) throw new DraftDataError(DraftStatus.ConversionError, `the body is ${bytes} bytes, at most ${L.maxBodyBytes} are accepted`);
    fields.body = { type: type === '1' ? 1 : 2, data: value };
  }
  return fields;
}

function readAttachmentAdd(el: WbxmlElement): DraftAttachmentAdd {
  const L = DRAFT_LIMITS;
  const required = (tag: string, what: string): WbxmlElement => {
    const c = child(el, tag);
    if (!c) throw new DraftDataError(DraftStatus.ConversionError, `an attachment Add needs ${what}`);
    return c;
  };
  const clientId = bounded(required('AirSyncBase:ClientId', 'a ClientId'), L.maxShortChars, 'an attachment ClientId')!;
  if (clientId.trim() === '') throw new DraftDataError(DraftStatus.ConversionError, 'an attachment ClientId is empty');
  const displayName = bounded(required('AirSyncBase:DisplayName', 'a DisplayName'), L.maxShortChars, 'an attachment DisplayName')!;
  const methodText = text(required('AirSyncBase:Method', 'a Method')).trim();
  // 2-4 are reserved (MS-ASAIRS Method).
  if (!['1', '5', '6'].includes(methodText)) throw new DraftDataError(DraftStatus.ConversionError, `attachment Method ${methodText.slice(0, 10)} is not 1, 5 or 6`);
  const contentEl = required('AirSyncBase:Content', 'Content');
  const content = contentEl.opaque ?? Buffer.from(contentEl.text ?? '', 'utf8');
  if (content.length > L.maxAttachmentBytes) {
    throw new DraftDataError(DraftStatus.AttachmentTooLarge, `attachment ${displayName} is ${content.length} bytes, at most ${L.maxAttachmentBytes} are accepted`);
  }
  const contentType = bounded(child(el, 'AirSyncBase:ContentType'), L.maxShortChars, 'an attachment ContentType');
  if (contentType !== undefined && !/^[\w.+-]+\/[\w.+-]+$/.test(contentType.trim())) {
    throw new DraftDataError(DraftStatus.ConversionError, `attachment ContentType ${contentType.slice(0, 40)} is not type/subtype`);
  }
  const inline = childText(el, 'AirSyncBase:IsInline');
  if (inline !== undefined && !['0', '1'].includes(inline.trim())) throw new DraftDataError(DraftStatus.ConversionError, 'IsInline must be 0 or 1');
  return {
    clientId, displayName, content, method: Number(methodText) as 1 | 5 | 6,
    contentType: contentType?.trim().toLowerCase(),
    contentId: bounded(child(el, 'AirSyncBase:ContentId'), L.maxShortChars, 'an attachment ContentId')?.trim().replace(/^<|>$/g, '') || undefined,
    contentLocation: bounded(child(el, 'AirSyncBase:ContentLocation'), L.maxShortChars, 'an attachment ContentLocation') || undefined,
    isInline: inline?.trim() === '1',
  };
}

/**
 * Reads the draft part of a client Add or Change. `itemRef` is the item's folder and id for a
 * Change, whose attachment Deletes must name FileReferences of that very item.
 */
export function readDraftEdit(data: WbxmlElement | undefined, itemRef?: { folderId: number; itemId: number }): DraftEdit {
  const edit: DraftEdit = { fields: {}, add: [], remove: [] };
  if (!data) return edit;
  for (const c of data.children) {
    if (SERVER_ONLY.has(c.tag)) throw new DraftDataError(DraftStatus.ConversionError, `${c.tag} is set by the server, a client cannot send it`);
  }
  edit.fields = readFields(data);
  const attachments = child(data, 'AirSyncBase:Attachments');
  for (const op of attachments?.children ?? []) {
    if (op.tag === 'AirSyncBase:Add') {
      edit.add.push(readAttachmentAdd(op));
    } else if (op.tag === 'AirSyncBase:Delete') {
      const refText = childText(op, 'AirSyncBase:FileReference');
      const ref = parseFileReference(refText);
      if (!ref) throw new DraftDataError(DraftStatus.ConversionError, `attachment Delete names no valid FileReference (${(refText ?? '').slice(0, 40)})`);
      // An Add has no attachments yet; a Change may only remove its own item's.
      if (!itemRef || ref.messageId !== itemRef.itemId) {
        throw new DraftDataError(DraftStatus.ConversionError, `FileReference ${refText!.slice(0, 40)} is not an attachment of this draft`);
      }
      edit.remove.push(ref.index);
    } else {
      throw new DraftDataError(DraftStatus.ConversionError, `${op.tag} does not belong in a request's Attachments (only Add and Delete)`);
    }
  }
  if (edit.add.length > DRAFT_LIMITS.maxAttachments) {
    throw new DraftDataError(DraftStatus.ConversionError, `${edit.add.length} attachments added, a draft holds at most ${DRAFT_LIMITS.maxAttachments}`);
  }
  const ids = new Set(edit.add.map((a) => a.clientId));
  if (ids.size !== edit.add.length) throw new DraftDataError(DraftStatus.ConversionError, 'two attachment Adds use the same ClientId');
  return edit;
}

const SEND_STATUS: Readonly<Record<DraftSendFailure, number>> = {
  'no-recipients': DraftStatus.InvalidRecipients,
  'recipient-unresolved': DraftStatus.InvalidRecipients,
  'too-many-recipients': DraftStatus.InvalidRecipients,
  'too-large': DraftStatus.AttachmentTooLarge,
  'invalid-mime': DraftStatus.InvalidMime,
  refused: DraftStatus.RecipientUnresolved,
  'submission-failed': DraftStatus.SubmissionFailed,
};

/** The item Status for a draft save or send that did not succeed. */
export function draftFailureStatus(outcome: Exclude<DraftOutcome, { kind: 'saved' }>): number {
  switch (outcome.kind) {
    case 'send-failed': return SEND_STATUS[outcome.failure];
    case 'not-found': return DraftStatus.NotFound;
    case 'too-large': return DraftStatus.AttachmentTooLarge;
    case 'not-draft': case 'bad-reference': case 'too-many-attachments': return DraftStatus.ConversionError;
  }
}

/** ApplicationData of an Add or Change response: each added attachment's ClientId with its FileReference. */
export function addedAttachmentsData(folderId: number, itemId: number, added: ReadonlyArray<{ clientId: string; index: number }>): WbxmlElement | undefined {
  if (added.length === 0) return undefined;
  return A('ApplicationData', B('Attachments', added.map((a) => B('Attachment',
    B('ClientId', a.clientId), B('FileReference', formatFileReference({ folderId, messageId: itemId, index: a.index }))))));
}

/** 16.x: IsDraft on every email, and a draft's Bcc (MS-ASEMAIL IsDraft, Bcc). */
export function draftMarkers(version: number, isDraft: boolean, bcc: string | undefined): WbxmlElement[] {
  if (version < V160) return [];
  return [E2('IsDraft', isDraft ? 1 : 0), ...(isDraft && bcc ? [E2('Bcc', bcc)] : [])];
}

/**
 * The same markers for emails answered outside a Sync, by ItemOperations Fetch and Search: MS-ASEMAIL
 * lets any Email class element appear there (3.2.5.2, 3.2.5.3), so a 16.x client sees a draft as a draft
 * wherever it meets it. `bccOf` is asked only for the drafts among `items`, and only from 16.0.
 */
export function draftMarkersOf(version: number, items: Iterable<{ id: number; isDraft: boolean }>,
  bccOf: (ids: number[]) => Map<number, string>): (id: number) => WbxmlElement[] {
  if (version < V160) return () => [];
  const drafts = new Set([...items].filter((i) => i.isDraft).map((i) => i.id));
  const bcc = drafts.size > 0 ? bccOf([...drafts]) : new Map<number, string>();
  return (id) => draftMarkers(version, drafts.has(id), bcc.get(id));
}

/** Whether a Sync Add or Change carries Email2:Send (send the draft after saving it). */
export function wantsSend(cmd: WbxmlElement): boolean {
  return child(cmd, 'Email2:Send') !== undefined;
}
