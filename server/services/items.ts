// The ItemsPort over the store: attachment bytes, moves, emptying folders and folder changes. Every
// change is announced through the folder events so held Pings and Syncs wake.
import { reparseStored } from '../mail/reparse.js';
import type { ParsedMail } from 'mailparser';
import type { Principal } from '../../eas/backend.js';
import type {
  AttachmentContent, AttachmentsOutcome, ConversationMoveOutcome, EmptyFolderOutcome, FolderChangeOutcome,
  FolderDeleteOutcome, FolderDetails, ItemsPort, MoveItemOutcome,
} from '../../eas/ports/items.js';
import { pimClassOfFolderType } from '../../eas/pim/items.js';
import { FolderType, isSpecialFolder, MAIL_FOLDER_TYPES, sameFolderName, type Folder } from '../store/mailbox.js';
import type { ServiceDeps } from './deps.js';

/** Mailparser's limits as the mail flow used them, so a re-parse lists the attachments at the same positions. */

/** Folders whose mail a conversation move leaves alone: what the user wrote, and what is being sent. */
const CONVERSATION_MOVE_SKIPS: ReadonlySet<number> = new Set([FolderType.SentItems, FolderType.Outbox, FolderType.Drafts]);

function details(f: Folder): FolderDetails {
  return { serverId: String(f.id), parentId: String(f.parentId), displayName: f.name, type: f.type, special: isSpecialFolder(f) };
}

/** SQLite reports a busy or locked database with these codes; the client may retry. */
function isLockError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

export class ItemsService implements ItemsPort {
  constructor(private readonly deps: ServiceDeps) {}

  private get mailbox() { return this.deps.store.mailbox; }

  async attachments(p: Principal, messageId: number): Promise<AttachmentsOutcome> {
    const meta = this.mailbox.messageAttachments(p.userId, messageId);
    if (!meta) return { kind: 'not-found' };
    const out = new Map<number, AttachmentContent>();
    if (meta.attachments.length === 0) return { kind: 'ok', folderId: meta.folderId, attachments: out };
    const raw = this.mailbox.raw(p.userId, messageId);
    if (!raw) return { kind: 'not-found' };
    let mail: ParsedMail;
    try {
      mail = await reparseStored(raw);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.deps.log({ level: 'warn', msg: 'attachment re-parse failed', messageId, reason });
      return { kind: 'unreadable', reason };
    }
    for (const info of meta.attachments) {
      const part = mail.attachments[info.index];
      if (part) out.set(info.index, { info, bytes: part.content });
    }
    return { kind: 'ok', folderId: meta.folderId, attachments: out };
  }

  moveItem(p: Principal, itemId: number, fromFolderId: number, toFolderId: number): MoveItemOutcome {
    const from = this.mailbox.folder(p.userId, fromFolderId);
    if (!from) return { kind: 'no-source' };
    const to = this.mailbox.folder(p.userId, toFolderId);
    if (!to) return { kind: 'no-destination' };
    if (from.id === to.id) return { kind: 'same-folder' };
    if (this.mailbox.folderOfMessage(p.userId, itemId) !== from.id) return { kind: 'no-source' };
    // Mail moves between mail folders; a contact, appointment, task or note to a folder of its own kind.
    const fits = MAIL_FOLDER_TYPES.has(from.type)
      ? MAIL_FOLDER_TYPES.has(to.type)
      : pimClassOfFolderType(from.type) !== undefined && pimClassOfFolderType(from.type) === pimClassOfFolderType(to.type);
    if (!fits) return { kind: 'no-destination' };
    try {
      if (!this.mailbox.moveMessage(p.userId, itemId, to.id)) return { kind: 'no-source' };
    } catch (e) {
      if (isLockError(e)) return { kind: 'locked' };
      return { kind: 'failed', reason: e instanceof Error ? e.message : String(e) };
    }
    this.deps.events.changed([from.id, to.id]);
    return { kind: 'moved', folderId: to.id, itemId };
  }

  emptyFolder(p: Principal, folderId: number, deleteSubfolders: boolean): EmptyFolderOutcome {
    const f = this.mailbox.folder(p.userId, folderId);
    if (!f) return { kind: 'not-found' };
    if (!MAIL_FOLDER_TYPES.has(f.type)) return { kind: 'not-mail' };
    const removed = this.mailbox.emptyFolder(p.userId, folderId, deleteSubfolders);
    this.deps.store.syncStates.dropFolders(p.userId, removed.folderIds);
    this.deps.events.changed([folderId, ...removed.folderIds]);
    return { kind: 'emptied', messages: removed.messages, deletedFolderIds: removed.folderIds };
  }

  moveConversation(p: Principal, conversationId: Buffer, toFolderId: number, always: boolean): ConversationMoveOutcome {
    const to = this.mailbox.folder(p.userId, toFolderId);
    if (!to || !MAIL_FOLDER_TYPES.has(to.type)) return { kind: 'bad-destination' };
    const messages = this.mailbox.conversationMessages(p.userId, conversationId);
    if (messages.length === 0) return { kind: 'not-found' };
    const skip = new Set<number>();
    for (const f of this.mailbox.folders(p.userId)) {
      // Contacts, calendar, tasks and notes folders hold no conversations (their items' ids are empty).
      if (CONVERSATION_MOVE_SKIPS.has(f.type) || !MAIL_FOLDER_TYPES.has(f.type) || (f.type === FolderType.DeletedItems && f.id !== to.id)) skip.add(f.id);
    }
    const touched = new Set<number>();
    let count = 0;
    this.deps.store.db.transaction(() => {
      for (const m of messages) {
        if (m.folderId === to.id || skip.has(m.folderId)) continue;
        if (this.mailbox.moveMessage(p.userId, m.id, to.id)) { count++; touched.add(m.folderId); }
      }
      if (always) this.mailbox.setConversationRule(p.userId, conversationId, to.id);
    })();
    if (count > 0) this.deps.events.changed([...touched, to.id]);
    return { kind: 'moved', count };
  }

  folder(p: Principal, folderId: number): FolderDetails | undefined {
    const f = this.mailbox.folder(p.userId, folderId);
    return f && details(f);
  }

  private nameTaken(p: Principal, parentId: number, name: string, except?: number): boolean {
    return this.mailbox.childFolders(p.userId, parentId).some((c) => c.id !== except && sameFolderName(c.name, name));
  }

  createFolder(p: Principal, parentId: number, name: string, type: number): FolderChangeOutcome {
    return this.deps.store.db.transaction((): FolderChangeOutcome => {
      if (parentId !== 0 && !this.mailbox.folder(p.userId, parentId)) return { kind: 'no-parent' };
      if (this.nameTaken(p, parentId, name)) return { kind: 'duplicate-name' };
      const f = this.mailbox.createFolder(p.userId, parentId, name, type);
      return { kind: 'ok', folder: details(f) };
    })();
  }

  updateFolder(p: Principal, folderId: number, parentId: number, name: string): FolderChangeOutcome {
    const outcome = this.deps.store.db.transaction((): FolderChangeOutcome => {
      const f = this.mailbox.folder(p.userId, folderId);
      if (!f) return { kind: 'not-found' };
      if (isSpecialFolder(f)) return { kind: 'special' };
      if (parentId !== 0 && !this.mailbox.folder(p.userId, parentId)) return { kind: 'no-parent' };
      if (parentId !== 0 && this.mailbox.folderSubtree(p.userId, folderId).includes(parentId)) return { kind: 'cycle' };
      if (this.nameTaken(p, parentId, name, folderId)) return { kind: 'duplicate-name' };
      this.mailbox.updateFolder(p.userId, folderId, { parentId, name });
      return { kind: 'ok', folder: details({ ...f, parentId, name }) };
    })();
    if (outcome.kind === 'ok') this.deps.events.changed([folderId]);
    return outcome;
  }

  deleteFolder(p: Principal, folderId: number): FolderDeleteOutcome {
    const f = this.mailbox.folder(p.userId, folderId);
    if (!f) return { kind: 'not-found' };
    if (isSpecialFolder(f)) return { kind: 'special' };
    const removed = this.mailbox.deleteFolder(p.userId, folderId);
    if (removed.folderIds.length === 0) return { kind: 'not-found' };
    this.deps.store.syncStates.dropFolders(p.userId, removed.folderIds);
    this.deps.events.changed(removed.folderIds);
    return { kind: 'deleted', folderIds: removed.folderIds };
  }
}

