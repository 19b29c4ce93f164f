// Folders and messages of each user's mailbox. Every change stamps the store-wide modseq so sync
// states can tell what a device has not yet seen.
import type { EmailMeeting } from '../../eas/backend.js';
import type { PartStat } from '../meetings/invitation.js';
import { conversationFor, type Conversation } from '../conversation.js';
import type { Db } from './db.js';
import { nextModseq } from './db.js';
import type { PimSchedule } from '../../eas/pim/items.js';

export interface Folder {
  id: number;
  userId: number;
  parentId: number;
  name: string;
  type: number;
}

/** EAS folder types (MS-ASCMD FolderSync Type). */
export const FolderType = {
  UserGeneric: 1, Inbox: 2, Drafts: 3, DeletedItems: 4, SentItems: 5, Outbox: 6, Tasks: 7, Calendar: 8,
  Contacts: 9, Notes: 10, Journal: 11, UserMail: 12,
} as const;

/** The folders every mailbox starts with, as Exchange Online names them. */
export const DEFAULT_FOLDERS: ReadonlyArray<{ name: string; type: number }> = [
  { name: 'Inbox', type: FolderType.Inbox },
  { name: 'Drafts', type: FolderType.Drafts },
  { name: 'Deleted Items', type: FolderType.DeletedItems },
  { name: 'Sent Items', type: FolderType.SentItems },
  { name: 'Outbox', type: FolderType.Outbox },
  { name: 'Junk Email', type: FolderType.UserMail },
  { name: 'Contacts', type: FolderType.Contacts },
  { name: 'Calendar', type: FolderType.Calendar },
  { name: 'Tasks', type: FolderType.Tasks },
  { name: 'Notes', type: FolderType.Notes },
];

export const MAIL_FOLDER_TYPES: ReadonlySet<number> = new Set([
  FolderType.UserGeneric, FolderType.Inbox, FolderType.Drafts, FolderType.DeletedItems, FolderType.SentItems,
  FolderType.Outbox, FolderType.UserMail,
]);

/** Folder types a client may create: generic, and the user-created mail, calendar, contacts, tasks, journal, notes. */
export const USER_FOLDER_TYPES: ReadonlySet<number> = new Set([1, 12, 13, 14, 15, 16, 17]);

/**
 * Default folders (Inbox, Drafts, ..., Calendar, Contacts) and the Recipient information cache: the
 * mailbox's fixed structure, which clients can neither rename, move nor delete. Junk Email has the
 * user-mail type but is a default folder too, recognised by its place and name.
 */
export function isSpecialFolder(f: Pick<Folder, 'parentId' | 'name' | 'type'>): boolean {
  if (!USER_FOLDER_TYPES.has(f.type)) return true;
  return f.parentId === 0 && DEFAULT_FOLDERS.some((d) => d.type === f.type && d.name === f.name);
}

/** Case-insensitive folder-name equality as Exchange compares names under one parent. */
export function sameFolderName(a: string, b: string): boolean {
  return a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0;
}

/** A message's folder and attachment list, read without its bodies. */
export interface MessageAttachments {
  id: number;
  folderId: number;
  smimeKind: string;
  attachments: AttachmentMeta[];
}

/** What deleting or emptying folders removed. */
export interface FolderRemoval {
  /** Folders deleted, the subtree's root first. */
  folderIds: number[];
  /** Messages deleted. */
  messages: number;
}

export interface AttachmentMeta {
  index: number;
  fileName: string;
  contentType: string;
  size: number;
  contentId?: string;
  isInline: boolean;
}

/** What the mail flow hands over to store a message. */
export interface NewMessage {
  receivedAt: Date;
  raw: Buffer;
  subject: string;
  from: string;
  to: string;
  cc: string;
  replyTo: string;
  displayTo: string;
  threadTopic: string;
  importance: number;
  messageClass: string;
  smimeKind: string;
  cpid: number;
  text: string;
  html?: string;
  preview: string;
  attachments: AttachmentMeta[];
  messageId?: string;
  conversationId: Buffer;
  conversationIndex: Buffer;
  read?: boolean;
  receivedAsBcc?: boolean;
  /** The gateway's S/MIME verdict as JSON (undefined for mail that is not S/MIME). */
  smimeVerdict?: string;
  /**
   * The message this one answers (In-Reply-To), when its conversation should follow that parent's
   * if the parent is in the same mailbox (a reply without Outlook's Thread-Index).
   */
  threadParent?: { messageId: string; date: Date };
  /** A meeting message's invitation. */
  meeting?: StoredMeeting;
}

export interface MessageSummary {
  id: number;
  folderId: number;
  receivedAt: Date;
  subject: string;
  from: string;
  messageClass: string;
  smimeKind: string;
  read: boolean;
  /** The stored verdict (JSON) or null. */
  verdict: string | null;
}

export interface MessageFlag {
  status: number; // 0 cleared, 1 complete, 2 active
  type?: string;
  startDate?: number;
  dueDate?: number;
  completeTime?: number;
}

/** A contact, calendar item, task or note as a device described it (see Mailbox.addItem). */
export interface NewItem {
  messageClass: string;
  /** A name for lists and logs: the contact's name, the item's subject. */
  summary: string;
  /** The ApplicationData, WBXML-encoded. */
  content: Buffer;
  /** An appointment's time (ms since the epoch) and Calendar BusyStatus, for free/busy. */
  schedule?: PimSchedule;
  /** A calendar item's iCalendar UID. */
  uid?: string;
  /** The invitation a calendar item was made from. */
  meeting?: StoredMeeting;
}

export interface StoredItem { id: number; folderId: number; modseq: number; messageClass: string; content: Buffer }

export interface StoredMessage {
  id: number;
  userId: number;
  folderId: number;
  modseq: number;
  receivedAt: Date;
  size: number;
  subject: string;
  from: string;
  to: string;
  cc: string;
  replyTo: string;
  displayTo: string;
  threadTopic: string;
  importance: number;
  messageClass: string;
  smimeKind: string;
  cpid: number;
  text: string;
  html?: string;
  preview: string;
  attachments: AttachmentMeta[];
  messageId?: string;
  conversationId: Buffer;
  conversationIndex: Buffer;
  read: boolean;
  flag: MessageFlag;
  receivedAsBcc: boolean;
  meeting?: StoredMeeting;
}

/** What a meeting message or the calendar item it made keeps of the invitation (see server/meetings). */
export interface StoredMeeting extends EmailMeeting {
  summary: string;
  attendees: Array<{ email: string; name?: string; type: 'required' | 'optional' | 'resource'; partstat: PartStat; rsvp: boolean }>;
  /** A series' removed and changed occurrences (server/meetings/invitation.ts InvitationException). */
  exceptions?: Array<{ originalStart: number; deleted: boolean; start?: number; end?: number; summary?: string; location?: string; busyStatus?: number }>;
}

/** A calendar item found by its UID. */
export interface CalendarEntry { id: number; folderId: number; content: Buffer; meeting?: StoredMeeting }

interface MessageRow {
  id: number; user_id: number; folder_id: number; modseq: number; received_at: number; size: number;
  subject: string; from_addr: string; to_addr: string; cc_addr: string; reply_to: string; display_to: string;
  thread_topic: string; importance: number; message_class: string; smime_kind: string; cpid: number;
  text_body: string; html_body: string | null; preview: string; attachments: string; message_id: string | null;
  conversation_id: Buffer; conversation_index: Buffer; read: number; flag_status: number; flag_type: string | null;
  flag_start: number | null; flag_due: number | null; flag_complete_time: number | null; received_as_bcc: number;
  meeting: string | null;
}

/** A JSON column's value: the object as JSON, or NULL for none. */
function jsonOrNull(value: object | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The meeting column read back, as an optional field. */
function meetingField(column: string | null): { meeting?: StoredMeeting } {
  return column ? { meeting: JSON.parse(column) as StoredMeeting } : {};
}

function toMessage(r: MessageRow): StoredMessage {
  return {
    id: r.id, userId: r.user_id, folderId: r.folder_id, modseq: r.modseq, receivedAt: new Date(r.received_at),
    size: r.size, subject: r.subject, from: r.from_addr, to: r.to_addr, cc: r.cc_addr, replyTo: r.reply_to,
    displayTo: r.display_to, threadTopic: r.thread_topic, importance: r.importance, messageClass: r.message_class,
    smimeKind: r.smime_kind, cpid: r.cpid, text: r.text_body, html: r.html_body ?? undefined, preview: r.preview,
    attachments: JSON.parse(r.attachments) as AttachmentMeta[], messageId: r.message_id ?? undefined,
    conversationId: r.conversation_id, conversationIndex: r.conversation_index, read: r.read === 1,
    flag: {
      status: r.flag_status, type: r.flag_type ?? undefined, startDate: r.flag_start ?? undefined,
      dueDate: r.flag_due ?? undefined, completeTime: r.flag_complete_time ?? undefined,
    },
    receivedAsBcc: r.received_as_bcc === 1,
    ...meetingField(r.meeting),
  };
}

const CONVERSATION_RULE = 'conversation-move:';
export const MAX_CONVERSATION_RULES = 1000;
/** Remembered client Adds (drafts, and with a "pim:" key contacts and the like); the name predates the latter. */
const CLIENT_ADD = 'draft-add:';
const SUPPORTED = 'supported:';
/** Most elements a device can name as managed (Sync Supported) in one folder. */
const MAX_SUPPORTED = 300;
export const MAX_CLIENT_ADDS = 200;

interface FolderRow { id: number; user_id: number; parent_id: number; name: string; type: number }
const toFolder = (r: FolderRow): Folder => ({ id: r.id, userId: r.user_id, parentId: r.parent_id, name: r.name, type: r.type });

export class Mailbox {
  constructor(private readonly db: Db) {}

  /**
   * SQLite hands out max(id)+1, so deleting the newest row would let the next insert take its id, and
   * a device still holding the old ServerId would see the new item as a change of the old one. Ids
   * are therefore allocated above a floor that deletions raise to the largest id they saw.
   */
  private nextId(table: 'messages' | 'folders'): number {
    const r = this.db.prepare(`SELECT max(coalesce((SELECT max(id) FROM ${table}), 0),
        coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0)) + 1 AS id`).get(`id_floor:${table}`) as { id: number };
    return r.id;
  }

  private raiseIdFloor(table: 'messages' | 'folders'): void {
    this.db.prepare(`INSERT INTO meta (key, value) SELECT ?, CAST(coalesce(max(id), 0) AS TEXT) FROM ${table} WHERE true
        ON CONFLICT (key) DO UPDATE SET value = CAST(max(CAST(meta.value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)`).run(`id_floor:${table}`);
  }

  createDefaultFolders(userId: number): void {
    const insert = this.db.prepare('INSERT INTO folders (id, user_id, parent_id, name, type, modseq) VALUES (?, ?, 0, ?, ?, ?)');
    this.db.transaction(() => {
      for (const f of DEFAULT_FOLDERS) insert.run(this.nextId('folders'), userId, f.name, f.type, nextModseq(this.db));
    })();
  }

  folders(userId: number): Folder[] {
    return (this.db.prepare('SELECT id, user_id, parent_id, name, type FROM folders WHERE user_id = ? ORDER BY id').all(userId) as FolderRow[]).map(toFolder);
  }

  folder(userId: number, folderId: number): Folder | undefined {
    const r = this.db.prepare('SELECT id, user_id, parent_id, name, type FROM folders WHERE user_id = ? AND id = ?').get(userId, folderId) as FolderRow | undefined;
    return r && toFolder(r);
  }

  folderByType(userId: number, type: number): Folder | undefined {
    const r = this.db.prepare('SELECT id, user_id, parent_id, name, type FROM folders WHERE user_id = ? AND type = ? ORDER BY id LIMIT 1').get(userId, type) as FolderRow | undefined;
    return r && toFolder(r);
  }

  /** Finds a folder by its path of display names ("Inbox", "Inbox/Projects"), case-insensitively. */
  folderByPath(userId: number, folderPath: string): Folder | undefined {
    let parent = 0;
    let found: Folder | undefined;
    for (const name of folderPath.split('/')) {
      const r = this.db.prepare('SELECT id, user_id, parent_id, name, type FROM folders WHERE user_id = ? AND parent_id = ? AND lower(name) = lower(?)').get(userId, parent, name) as FolderRow | undefined;
      if (!r) return undefined;
      found = toFolder(r);
      parent = found.id;
    }
    return found;
  }

  createFolder(userId: number, parentId: number, name: string, type: number): Folder {
    return this.db.transaction(() => {
      const id = this.nextId('folders');
      this.db.prepare('INSERT INTO folders (id, user_id, parent_id, name, type, modseq) VALUES (?, ?, ?, ?, ?, ?)').run(id, userId, parentId, name, type, nextModseq(this.db));
      return { id, userId, parentId, name, type };
    })();
  }

  /** The folders directly below a parent (0 = top level). */
  childFolders(userId: number, parentId: number): Folder[] {
    return (this.db.prepare('SELECT id, user_id, parent_id, name, type FROM folders WHERE user_id = ? AND parent_id = ? ORDER BY id').all(userId, parentId) as FolderRow[]).map(toFolder);
  }

  /** A folder and everything below it, the folder itself first. Empty when it is not the user's. */
  folderSubtree(userId: number, folderId: number): number[] {
    const rows = this.db.prepare(`WITH RECURSIVE tree(id, depth) AS (
        SELECT id, 0 FROM folders WHERE user_id = ? AND id = ?
        UNION SELECT f.id, t.depth + 1 FROM folders f JOIN tree t ON f.parent_id = t.id WHERE f.user_id = ? AND t.depth < 256)
      SELECT id FROM tree ORDER BY depth, id`).all(userId, folderId, userId) as Array<{ id: number }>;
    return rows.map((r) => r.id);
  }

  /** Renames and/or moves a folder. Returns false when it is not the user's. */
  updateFolder(userId: number, folderId: number, change: { parentId: number; name: string }): boolean {
    const info = this.db.prepare('UPDATE folders SET parent_id = ?, name = ?, modseq = ? WHERE user_id = ? AND id = ?')
      .run(change.parentId, change.name, nextModseq(this.db), userId, folderId);
    return info.changes === 1;
  }

  /** Deletes a folder, its subfolders and all their messages. */
  deleteFolder(userId: number, folderId: number): FolderRemoval {
    return this.db.transaction(() => {
      const ids = this.folderSubtree(userId, folderId);
      if (ids.length === 0) return { folderIds: [], messages: 0 };
      this.raiseIdFloor('folders');
      this.raiseIdFloor('messages');
      let messages = 0;
      for (const id of ids) {
        messages += this.db.prepare('DELETE FROM messages WHERE user_id = ? AND folder_id = ?').run(userId, id).changes;
        this.db.prepare('DELETE FROM folders WHERE user_id = ? AND id = ?').run(userId, id);
      }
      return { folderIds: ids, messages };
    })();
  }

  /** Deletes a folder's messages and, when asked, its subfolders (with theirs); the folder stays. */
  emptyFolder(userId: number, folderId: number, deleteSubfolders: boolean): FolderRemoval {
    return this.db.transaction(() => {
      if (!this.folder(userId, folderId)) return { folderIds: [], messages: 0 };
      this.raiseIdFloor('messages');
      let messages = this.db.prepare('DELETE FROM messages WHERE user_id = ? AND folder_id = ?').run(userId, folderId).changes;
      const folderIds: number[] = [];
      if (deleteSubfolders) {
        for (const sub of this.childFolders(userId, folderId)) {
          // A default folder never sits below another folder; the check keeps that true whatever the data.
          if (isSpecialFolder(sub)) continue;
          const removed = this.deleteFolder(userId, sub.id);
          folderIds.push(...removed.folderIds);
          messages += removed.messages;
        }
      }
      return { folderIds, messages };
    })();
  }

  /**
   * Stores a message delivered to a user: into the folder a conversation rule (ItemOperations Move
   * with MoveAlways) names for its conversation, else into `inboxId`.
   */
  deliverMessage(userId: number, inboxId: number, m: NewMessage): { id: number; folderId: number } {
    return this.db.transaction(() => {
      const conv = this.conversationOf(userId, m);
      const folderId = this.conversationRule(userId, conv.conversationId) ?? inboxId;
      return { id: this.insertMessage(userId, folderId, { ...m, ...conv, threadParent: undefined }), folderId };
    })();
  }

  /** The message's conversation: its parent's, one level deeper, when the parent is in this mailbox. */
  private conversationOf(userId: number, m: NewMessage): Conversation {
    const own = { conversationId: m.conversationId, conversationIndex: m.conversationIndex };
    if (!m.threadParent) return own;
    const parent = this.db.prepare('SELECT conversation_id, conversation_index FROM messages WHERE user_id = ? AND message_id = ? ORDER BY id LIMIT 1')
      .get(userId, m.threadParent.messageId) as { conversation_id: Buffer; conversation_index: Buffer } | undefined;
    if (!parent) return own;
    return conversationFor({ threadTopic: '', date: m.threadParent.date }, { conversationId: parent.conversation_id, conversationIndex: parent.conversation_index });
  }

  insertMessage(userId: number, folderId: number, m: NewMessage): number {
    const run = this.db.transaction(() => {
      if (m.threadParent) m = { ...m, ...this.conversationOf(userId, m) };
      const id = this.nextId('messages');
      this.db.prepare(`INSERT INTO messages (id, user_id, folder_id, modseq, received_at, size, subject, from_addr,
        to_addr, cc_addr, reply_to, display_to, thread_topic, importance, message_class, smime_kind, cpid, text_body,
        html_body, preview, attachments, message_id, conversation_id, conversation_index, read, received_as_bcc, smime_verdict, meeting)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`).run(
        id, userId, folderId, nextModseq(this.db), m.receivedAt.getTime(), m.raw.length, m.subject, m.from, m.to, m.cc,
        m.replyTo, m.displayTo, m.threadTopic, m.importance, m.messageClass, m.smimeKind, m.cpid, m.text,
        m.html ?? null, m.preview, JSON.stringify(m.attachments), m.messageId ?? null, m.conversationId,
        m.conversationIndex, m.read ? 1 : 0, m.receivedAsBcc ? 1 : 0, m.smimeVerdict ?? null, jsonOrNull(m.meeting));
      this.db.prepare('INSERT INTO message_raw (id, raw) VALUES (?, ?)').run(id, m.raw);
      return id;
    });
    return run();
  }

  /**
   * Stores a contact, calendar item, task or note. Such items share the messages table with mail (an
   * item in a folder, with a change stamp, is what Sync keys on) and keep the device's description of
   * them, the WBXML ApplicationData, where mail keeps its MIME; `summary` stands in for the subject.
   */
  addItem(userId: number, folderId: number, item: NewItem): { id: number; modseq: number } {
    return this.db.transaction(() => {
      const id = this.nextId('messages');
      const modseq = nextModseq(this.db);
      this.db.prepare(`INSERT INTO messages (id, user_id, folder_id, modseq, received_at, size, subject, from_addr,
        to_addr, cc_addr, reply_to, display_to, thread_topic, importance, message_class, smime_kind, cpid, text_body,
        html_body, preview, attachments, message_id, conversation_id, conversation_index, read, received_as_bcc, smime_verdict,
        starts_at, ends_at, busy_status, uid, meeting, recurrence)
        VALUES (?,?,?,?,?,?,?,'','','','','','',1,?,'none',65001,'',NULL,'','[]',NULL,?,?,1,0,NULL,?,?,?,?,?,?)`).run(
        id, userId, folderId, modseq, Date.now(), item.content.length, item.summary, item.messageClass, Buffer.alloc(0), Buffer.alloc(0),
        item.schedule?.start ?? null, item.schedule?.end ?? null, item.schedule?.busy ?? null, item.uid ?? null, jsonOrNull(item.meeting),
        jsonOrNull(item.schedule?.recurrence));
      this.db.prepare('INSERT INTO message_raw (id, raw) VALUES (?, ?)').run(id, item.content);
      return { id, modseq };
    })();
  }

  /** Replaces an item's content (see addItem); the new modseq, or undefined when it is not the user's. */
  replaceItem(userId: number, id: number, item: Omit<NewItem, 'messageClass'>): number | undefined {
    return this.db.transaction(() => {
      const modseq = nextModseq(this.db);
      const info = this.db.prepare(`UPDATE messages SET modseq = ?, size = ?, subject = ?, starts_at = ?, ends_at = ?, busy_status = ?,
        recurrence = ?, uid = COALESCE(?, uid), meeting = COALESCE(?, meeting) WHERE user_id = ? AND id = ?`)
        .run(modseq, item.content.length, item.summary, item.schedule?.start ?? null, item.schedule?.end ?? null, item.schedule?.busy ?? null,
          jsonOrNull(item.schedule?.recurrence), item.uid ?? null, jsonOrNull(item.meeting), userId, id);
      if (info.changes !== 1) return undefined;
      this.db.prepare('UPDATE message_raw SET raw = ? WHERE id = ?').run(item.content, id);
      return modseq;
    })();
  }

  /** Records the meeting an item stands for, without changing what devices see of it (no new modseq). */
  setMeeting(userId: number, id: number, meeting: StoredMeeting | undefined): void {
    this.db.prepare('UPDATE messages SET meeting = ? WHERE user_id = ? AND id = ?').run(jsonOrNull(meeting), userId, id);
  }

  /** The user's calendar item with this iCalendar UID (the oldest, should a device have made two). */
  calendarItemByUid(userId: number, uid: string): CalendarEntry | undefined {
    const r = this.db.prepare(`SELECT m.id, m.folder_id, m.meeting, r.raw FROM messages m JOIN message_raw r ON r.id = m.id
      WHERE m.user_id = ? AND m.uid = ? AND m.message_class = 'IPM.Appointment' ORDER BY m.id LIMIT 1`).get(userId, uid) as
      { id: number; folder_id: number; meeting: string | null; raw: Buffer } | undefined;
    return r && { id: r.id, folderId: r.folder_id, content: r.raw, ...meetingField(r.meeting) };
  }

  /**
   * The user's appointments that may overlap [from, to) (ms since the epoch): those whose first
   * occurrence does, and every series that starts before `to` (its occurrences are the caller's to
   * expand: server/meetings/occurrences.ts).
   */
  schedule(userId: number, from: number, to: number, limit = 10_000): PimSchedule[] {
    return (this.db.prepare(`SELECT starts_at, ends_at, busy_status, recurrence FROM messages
      WHERE user_id = ? AND starts_at IS NOT NULL AND starts_at < ? AND (ends_at > ? OR recurrence IS NOT NULL) ORDER BY starts_at LIMIT ?`)
      .all(userId, to, from, limit) as Array<{ starts_at: number; ends_at: number; busy_status: number | null; recurrence: string | null }>)
      .map((r) => ({
        start: r.starts_at, end: r.ends_at, busy: r.busy_status ?? 2,
        ...(r.recurrence ? { recurrence: JSON.parse(r.recurrence) as NonNullable<PimSchedule['recurrence']> } : {}),
      }));
  }

  /** Items' stored content (see addItem) by id, the user's own only. */
  itemContents(userId: number, ids: number[]): Map<number, StoredItem> {
    const out = new Map<number, StoredItem>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT m.id, m.folder_id, m.modseq, m.message_class, r.raw FROM messages m JOIN message_raw r ON r.id = m.id
        WHERE m.user_id = ? AND m.id IN (${chunk.map(() => '?').join(',')})`).all(userId, ...chunk) as
        Array<{ id: number; folder_id: number; modseq: number; message_class: string; raw: Buffer }>;
      for (const r of rows) out.set(r.id, { id: r.id, folderId: r.folder_id, modseq: r.modseq, messageClass: r.message_class, content: r.raw });
    }
    return out;
  }

  /** The stored S/MIME verdict (JSON text), or null for mail that is not S/MIME; undefined when there is no such message. */
  verdict(userId: number, id: number): string | null | undefined {
    const r = this.db.prepare('SELECT smime_verdict FROM messages WHERE user_id = ? AND id = ?').get(userId, id) as { smime_verdict: string | null } | undefined;
    return r === undefined ? undefined : r.smime_verdict;
  }

  /** A page of a folder's messages, newest first, with what an operator needs to find one (no bodies). */
  summaries(userId: number, folderId: number, limit: number, offset = 0): MessageSummary[] {
    return (this.db.prepare(`SELECT id, folder_id, received_at, subject, from_addr, message_class, smime_kind, read, smime_verdict
      FROM messages WHERE user_id = ? AND folder_id = ? ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?`)
      .all(userId, folderId, limit, offset) as Array<{ id: number; folder_id: number; received_at: number; subject: string; from_addr: string;
        message_class: string; smime_kind: string; read: number; smime_verdict: string | null }>)
      .map((r) => ({
        id: r.id, folderId: r.folder_id, receivedAt: new Date(r.received_at), subject: r.subject, from: r.from_addr,
        messageClass: r.message_class, smimeKind: r.smime_kind, read: r.read === 1, verdict: r.smime_verdict,
      }));
  }

  /** The message's (or item's) class, or undefined when it is not the user's. */
  messageClassOf(userId: number, id: number): string | undefined {
    const r = this.db.prepare('SELECT message_class FROM messages WHERE user_id = ? AND id = ?').get(userId, id) as { message_class: string } | undefined;
    return r?.message_class;
  }

  message(userId: number, id: number): StoredMessage | undefined {
    const r = this.db.prepare('SELECT * FROM messages WHERE user_id = ? AND id = ?').get(userId, id) as MessageRow | undefined;
    return r && toMessage(r);
  }

  /** Messages by id, in one query, for building a Sync response window. Only the user's own. */
  messagesByIds(userId: number, ids: number[]): Map<number, StoredMessage> {
    const out = new Map<number, StoredMessage>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT * FROM messages WHERE user_id = ? AND id IN (${chunk.map(() => '?').join(',')})`).all(userId, ...chunk) as MessageRow[];
      for (const r of rows) out.set(r.id, toMessage(r));
    }
    return out;
  }

  /** A message's folder and attachment list without its bodies (for attachment fetches). */
  messageAttachments(userId: number, id: number): MessageAttachments | undefined {
    const r = this.db.prepare('SELECT id, folder_id, smime_kind, attachments FROM messages WHERE user_id = ? AND id = ?').get(userId, id) as
      { id: number; folder_id: number; smime_kind: string; attachments: string } | undefined;
    return r && { id: r.id, folderId: r.folder_id, smimeKind: r.smime_kind, attachments: JSON.parse(r.attachments) as AttachmentMeta[] };
  }

  /** The user's messages of one conversation, with their folders. */
  conversationMessages(userId: number, conversationId: Buffer): Array<{ id: number; folderId: number }> {
    return (this.db.prepare('SELECT id, folder_id FROM messages WHERE user_id = ? AND conversation_id = ? ORDER BY id LIMIT 10000').all(userId, conversationId) as
      Array<{ id: number; folder_id: number }>).map((r) => ({ id: r.id, folderId: r.folder_id }));
  }

  /**
   * Remembers that new mail of a conversation goes to a folder ("always move"). Kept as a per-user
   * setting; the newest rules win when a user has more than MAX_CONVERSATION_RULES.
   */
  setConversationRule(userId: number, conversationId: Buffer, folderId: number): void {
    this.putNewestSetting(userId, CONVERSATION_RULE, conversationId.toString('hex'), { folderId }, MAX_CONVERSATION_RULES);
  }

  /** The folder new mail of a conversation is to go to, when an "always move" rule names one that still exists. */
  conversationRule(userId: number, conversationId: Buffer): number | undefined {
    const rule = this.setting(userId, CONVERSATION_RULE + conversationId.toString('hex')) as { folderId?: number } | undefined;
    if (!rule) return undefined;
    const folderId = Number(rule.folderId);
    return Number.isInteger(folderId) && this.folder(userId, folderId) ? folderId : undefined;
  }

  /**
   * Remembers what a device's Sync Add (by device and ClientId) became, so that the same Add sent
   * again after a lost response is answered with the same item instead of a second one. A user's
   * newest MAX_CLIENT_ADDS are kept.
   */
  rememberClientAdd(userId: number, key: string, value: string): void {
    this.putNewestSetting(userId, CLIENT_ADD, key, { value }, MAX_CLIENT_ADDS);
  }

  /** What rememberClientAdd stored under the key, if it is still kept. */
  clientAdd(userId: number, key: string): string | undefined {
    return (this.setting(userId, CLIENT_ADD + key) as { value: string } | undefined)?.value;
  }

  /**
   * The elements a device manages in a contacts or calendar folder (the Supported list of its first
   * Sync there); undefined forgets the list (a device that named none manages every element).
   */
  setSupported(userId: number, devicePk: number, folderId: number, tags: string[] | undefined): void {
    const name = `${SUPPORTED}${devicePk}:${folderId}`;
    if (tags === undefined) this.deleteSetting(userId, name);
    else this.putSetting(userId, name, tags.slice(0, MAX_SUPPORTED));
  }

  supported(userId: number, devicePk: number, folderId: number): string[] | undefined {
    return this.setting(userId, `${SUPPORTED}${devicePk}:${folderId}`) as string[] | undefined;
  }

  /** A per-user setting's value (stored as JSON), or undefined. */
  private setting(userId: number, name: string): unknown {
    const r = this.db.prepare('SELECT value FROM user_settings WHERE user_id = ? AND name = ?').get(userId, name) as { value: string } | undefined;
    return r === undefined ? undefined : JSON.parse(r.value);
  }

  private putSetting(userId: number, name: string, value: unknown): void {
    this.db.prepare(`INSERT INTO user_settings (user_id, name, value) VALUES (?, ?, ?)
        ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value`).run(userId, name, JSON.stringify(value));
  }

  private deleteSetting(userId: number, name: string): void {
    this.db.prepare('DELETE FROM user_settings WHERE user_id = ? AND name = ?').run(userId, name);
  }

  /**
   * Stores `value` under prefix + key, stamped with the store-wide change counter (which orders
   * settings even when many are made within one millisecond), and keeps only the newest `max`
   * settings of the prefix.
   */
  private putNewestSetting(userId: number, prefix: string, key: string, value: object, max: number): void {
    this.db.transaction(() => {
      this.putSetting(userId, prefix + key, { ...value, seq: nextModseq(this.db) });
      const rows = this.db.prepare('SELECT name, value FROM user_settings WHERE user_id = ? AND name LIKE ?').all(userId, `${prefix}%`) as Array<{ name: string; value: string }>;
      if (rows.length <= max) return;
      const byAge = rows.map((r) => ({ name: r.name, seq: Number((JSON.parse(r.value) as { seq?: number }).seq ?? 0) })).sort((a, b) => a.seq - b.seq);
      for (const r of byAge.slice(0, rows.length - max)) this.deleteSetting(userId, r.name);
    })();
  }

  raw(userId: number, id: number): Buffer | undefined {
    const r = this.db.prepare('SELECT r.raw FROM message_raw r JOIN messages m ON m.id = r.id WHERE m.user_id = ? AND r.id = ?').get(userId, id) as { raw: Buffer } | undefined;
    return r?.raw;
  }

  countInFolder(folderId: number, since?: number): number {
    const r = this.db.prepare('SELECT count(*) AS n FROM messages WHERE folder_id = ? AND received_at >= ?').get(folderId, since ?? 0) as { n: number };
    return r.n;
  }

  /** Sets read and/or flag state. Returns the new modseq, or undefined when the message is not the user's. */
  updateFlags(userId: number, id: number, change: { read?: boolean; flag?: MessageFlag }): number | undefined {
    const run = this.db.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM messages WHERE user_id = ? AND id = ?').get(userId, id);
      if (!exists) return undefined;
      const modseq = nextModseq(this.db);
      if (change.read !== undefined) this.db.prepare('UPDATE messages SET read = ? WHERE id = ?').run(change.read ? 1 : 0, id);
      if (change.flag !== undefined) {
        const f = change.flag;
        this.db.prepare('UPDATE messages SET flag_status = ?, flag_type = ?, flag_start = ?, flag_due = ?, flag_complete_time = ? WHERE id = ?')
          .run(f.status, f.type ?? null, f.startDate ?? null, f.dueDate ?? null, f.completeTime ?? null, id);
      }
      this.db.prepare('UPDATE messages SET modseq = ? WHERE id = ?').run(modseq, id);
      return modseq;
    });
    return run();
  }

  /**
   * Replaces a message's content (raw MIME and every field read from it) in place, as saving an edited
   * draft does: the id stays, read and flag state stay, and the new modseq tells every device's view
   * that it changed. Returns the new modseq, or undefined when the message is not the user's.
   */
  replaceMessage(userId: number, id: number, m: NewMessage): number | undefined {
    return this.db.transaction(() => {
      const modseq = nextModseq(this.db);
      const info = this.db.prepare(`UPDATE messages SET modseq = ?, received_at = ?, size = ?, subject = ?, from_addr = ?, to_addr = ?,
        cc_addr = ?, reply_to = ?, display_to = ?, thread_topic = ?, importance = ?, message_class = ?, smime_kind = ?, cpid = ?,
        text_body = ?, html_body = ?, preview = ?, attachments = ?, message_id = ?, conversation_id = ?, conversation_index = ?,
        smime_verdict = ? WHERE user_id = ? AND id = ?`).run(
        modseq, m.receivedAt.getTime(), m.raw.length, m.subject, m.from, m.to, m.cc, m.replyTo, m.displayTo, m.threadTopic,
        m.importance, m.messageClass, m.smimeKind, m.cpid, m.text, m.html ?? null, m.preview, JSON.stringify(m.attachments),
        m.messageId ?? null, m.conversationId, m.conversationIndex, m.smimeVerdict ?? null, userId, id);
      if (info.changes !== 1) return undefined;
      this.db.prepare('UPDATE message_raw SET raw = ? WHERE id = ?').run(m.raw, id);
      return modseq;
    })();
  }

  /** The message's change stamp, or undefined when it is not the user's. */
  modseqOf(userId: number, id: number): number | undefined {
    const r = this.db.prepare('SELECT modseq FROM messages WHERE user_id = ? AND id = ?').get(userId, id) as { modseq: number } | undefined;
    return r?.modseq;
  }

  /** Moves a message to another of the user's folders. Returns false when either is not the user's. */
  moveMessage(userId: number, id: number, toFolderId: number): boolean {
    const run = this.db.transaction(() => {
      if (!this.folder(userId, toFolderId)) return false;
      const info = this.db.prepare('UPDATE messages SET folder_id = ?, modseq = ? WHERE user_id = ? AND id = ?').run(toFolderId, nextModseq(this.db), userId, id);
      return info.changes === 1;
    });
    return run();
  }

  deleteMessage(userId: number, id: number): boolean {
    return this.db.transaction(() => {
      this.raiseIdFloor('messages');
      return this.db.prepare('DELETE FROM messages WHERE user_id = ? AND id = ?').run(userId, id).changes === 1;
    })();
  }

  folderOfMessage(userId: number, id: number): number | undefined {
    const r = this.db.prepare('SELECT folder_id FROM messages WHERE user_id = ? AND id = ?').get(userId, id) as { folder_id: number } | undefined;
    return r?.folder_id;
  }
}
