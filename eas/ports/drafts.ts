// What 16.x draft sync needs from the mail service (MS-ASCMD Sync Add/Change of an email in the
// Drafts folder, MS-ASAIRS attachment Add/Delete, MS-ASEMAIL Email2:Send): save a draft the device
// composed, edit one, send one. The service stores each draft as a real MIME message.
import type { SendFailure } from './submission.js';
import type { Principal } from '../backend.js';

/** One attachment a device adds (AirSyncBase:Add). */
export interface DraftAttachmentAdd {
  /** The device's temporary id, answered with the attachment's FileReference. */
  clientId: string;
  displayName: string;
  content: Buffer;
  /** 1 normal attachment, 5 embedded message, 6 OLE object / inline image. */
  method: 1 | 5 | 6;
  contentType?: string;
  contentId?: string;
  contentLocation?: string;
  isInline: boolean;
}

/** The draft's own fields; undefined leaves a field as it is (on a change), empty text clears it. */
export interface DraftFields {
  to?: string;
  cc?: string;
  bcc?: string;
  subject?: string;
  /** 0 low, 1 normal, 2 high. */
  importance?: 0 | 1 | 2;
  /** Type 1 plain text or 2 HTML. */
  body?: { type: 1 | 2; data: string };
}

export interface DraftEdit {
  fields: DraftFields;
  add: DraftAttachmentAdd[];
  /** Attachment numbers (the last part of a FileReference) to remove. */
  remove: number[];
}

/** An added attachment's number, to answer the device's ClientId with a FileReference. */
export interface AddedAttachment { clientId: string; index: number }

/** Why sending a saved draft failed; the draft itself stays saved. */
export type DraftSendFailure = SendFailure;

export type DraftOutcome =
  /** Saved (and, when asked, sent and removed from Drafts). modseq is the item's change stamp after the save. */
  | { kind: 'saved'; itemId: number; folderId: number; modseq: number; added: AddedAttachment[]; sent: boolean }
  /** Saved, but sending failed: the draft is kept as it now is. */
  | { kind: 'send-failed'; itemId: number; folderId: number; modseq: number; added: AddedAttachment[]; failure: DraftSendFailure; reason: string }
  | { kind: 'not-found' }
  /** The item is not a draft (not in the Drafts folder): only Read, Flag and Categories may change. */
  | { kind: 'not-draft' }
  /** A FileReference that names no attachment slot of this draft, or another item's. */
  | { kind: 'bad-reference'; reason: string }
  /** The draft would exceed a size or count bound. */
  | { kind: 'too-large'; reason: string }
  | { kind: 'too-many-attachments'; reason: string };

export interface DraftsPort {
  /** The user's Drafts folder, the one folder client Adds of email go to. */
  draftsFolder(p: Principal): number | undefined;
  /**
   * Saves a new draft in the Drafts folder; with `send`, then sends it. `replayKey` names the Add
   * (device and ClientId): the same key again answers with the draft saved the first time.
   */
  create(p: Principal, edit: DraftEdit, opts: { send: boolean; replayKey?: string }): Promise<DraftOutcome>;
  /** Applies an edit to a draft (a message in the Drafts folder); with `send`, then sends it. */
  update(p: Principal, itemId: number, edit: DraftEdit, opts: { send: boolean }): Promise<DraftOutcome>;
  /** The Bcc field of drafts, by item id (only items that have one). */
  bcc(p: Principal, itemIds: number[]): Map<number, string>;
}
