// What ItemOperations, GetAttachment, MoveItems, FolderCreate/FolderUpdate/FolderDelete need from the mail service.
import type { AttachmentInfo, FolderInfo, Principal } from '../backend.js';

/**
 * Identifiers this server hands out for items outside a Sync collection:
 *
 * - FileReference (AirSyncBase, 12.0+) and AttName (Email, 2.5), also the GetAttachment AttachmentName:
 *   "<folderId>:<messageId>:<attachmentIndex>", where the index is the attachment's position in the
 *   parsed message (AttachmentInfo.index). The folder part is informative: a message keeps its id when it
 *   moves, so a reference taken before a move still finds the attachment.
 * - LongId (Search results): "<folderId>:<messageId>", the item's ServerId when the result was made.
 *   Fetch resolves it by the message id, so it outlives a move too.
 */
export interface FileReference { folderId: number; messageId: number; index: number }

export function formatFileReference(ref: FileReference): string {
  return `${ref.folderId}:${ref.messageId}:${ref.index}`;
}

export function parseFileReference(text: string | undefined): FileReference | undefined {
  const m = /^(\d{1,15}):(\d{1,15}):(\d{1,6})$/.exec((text ?? '').trim());
  return m ? { folderId: Number(m[1]), messageId: Number(m[2]), index: Number(m[3]) } : undefined;
}

export function formatLongId(folderId: number, messageId: number): string {
  return `${folderId}:${messageId}`;
}

export function parseLongId(text: string | undefined): { folderId: number; messageId: number } | undefined {
  const m = /^(\d{1,15}):(\d{1,15})$/.exec((text ?? '').trim());
  return m ? { folderId: Number(m[1]), messageId: Number(m[2]) } : undefined;
}

/** One attachment's bytes as the sender attached them (transfer encoding removed). */
export interface AttachmentContent {
  info: AttachmentInfo;
  bytes: Buffer;
}

export type AttachmentsOutcome =
  /** By AttachmentInfo.index; only the attachments the message lists (never a detached signature). */
  | { kind: 'ok'; folderId: number; attachments: Map<number, AttachmentContent> }
  /** No such message in the user's mailbox (another user's message is not found either). */
  | { kind: 'not-found' }
  /** The stored message could not be parsed again. */
  | { kind: 'unreadable'; reason: string };

export type MoveItemOutcome =
  | { kind: 'moved'; folderId: number; itemId: number }
  /** The source folder or the item in it is not the user's or does not exist. */
  | { kind: 'no-source' }
  /** The destination is not the user's, does not exist, or cannot hold this kind of item. */
  | { kind: 'no-destination' }
  | { kind: 'same-folder' }
  | { kind: 'locked' }
  | { kind: 'failed'; reason: string };

export type EmptyFolderOutcome =
  | { kind: 'emptied'; messages: number; deletedFolderIds: number[] }
  | { kind: 'not-found' }
  /** The folder holds no mail this server can delete (calendar, contacts, tasks, notes). */
  | { kind: 'not-mail' };

export type ConversationMoveOutcome =
  | { kind: 'moved'; count: number }
  | { kind: 'not-found' }
  | { kind: 'bad-destination' };

export interface FolderDetails extends FolderInfo {
  /** A default folder (Inbox, Drafts, Calendar, ...): it cannot be renamed, moved or deleted. */
  special: boolean;
}

export type FolderChangeOutcome =
  | { kind: 'ok'; folder: FolderDetails }
  | { kind: 'not-found' }
  | { kind: 'special' }
  | { kind: 'duplicate-name' }
  | { kind: 'no-parent' }
  /** FolderUpdate: the new parent is the folder itself or lies below it. */
  | { kind: 'cycle' };

export type FolderDeleteOutcome =
  | { kind: 'deleted'; folderIds: number[] }
  | { kind: 'not-found' }
  | { kind: 'special' };

export interface ItemsPort {
  /** The attachments of one of the user's messages, read again from the stored raw message. */
  attachments(p: Principal, messageId: number): Promise<AttachmentsOutcome>;

  /** Moves one item; its new ServerId is "<folderId>:<itemId>" of the outcome. */
  moveItem(p: Principal, itemId: number, fromFolderId: number, toFolderId: number): MoveItemOutcome;

  /** Deletes a folder's items and, when asked, its subfolders. */
  emptyFolder(p: Principal, folderId: number, deleteSubfolders: boolean): EmptyFolderOutcome;

  /**
   * Moves every message of a conversation (outside Sent Items, Outbox, Drafts and, unless it is the
   * destination, Deleted Items) to a mail folder, and remembers the destination for the conversation's
   * future mail when `always` is set.
   */
  moveConversation(p: Principal, conversationId: Buffer, toFolderId: number, always: boolean): ConversationMoveOutcome;

  folder(p: Principal, folderId: number): FolderDetails | undefined;
  /** parentId 0 = top level. The name is compared case-insensitively with its siblings'. */
  createFolder(p: Principal, parentId: number, name: string, type: number): FolderChangeOutcome;
  updateFolder(p: Principal, folderId: number, parentId: number, name: string): FolderChangeOutcome;
  /** Deletes the folder, its subfolders and their messages. */
  deleteFolder(p: Principal, folderId: number): FolderDeleteOutcome;
}
