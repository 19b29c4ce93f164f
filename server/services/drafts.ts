// The DraftsPort over the store and the mail flow. A draft is a real MIME message in the user's
// Drafts folder, composed with nodemailer's MailComposer from the fields the device edits and stored
// through the same field extraction as every other message (parseMessage + toNewMessage), so Sync,
// ItemOperations and Search see it like any mail. Saving an edit replaces the MIME in place (same
// id, new modseq), which other devices see as a Change.
//
// FileReferences of attachments are "<folder>:<item>:<n>" where n is the part's position among the
// message's attachments (see eas/ports/items.ts). So that n never changes while a device may hold
// it, a removed attachment leaves an empty placeholder part (REMOVED_TYPE) in its place; the
// placeholders are left out of the attachment list, and out of the message when it is sent.
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { Principal } from '../../eas/backend.js';
import { reparseStored } from '../mail/reparse.js';
import { bccOf } from '../mail/bcc.js';
import type {
  AddedAttachment, DraftAttachmentAdd, DraftEdit, DraftOutcome, DraftsPort,
} from '../../eas/ports/drafts.js';
import { DRAFT_LIMITS } from '../../eas/email/draft.js';
import { formatMailboxes, mailboxes } from '../mail/addresses.js';
import { MailParseError, parseMessage } from '../mail/parse.js';
import { roughHtmlToText } from '../mail/text.js';
import { SubmissionError, toNewMessage } from '../mailflow.js';
import { SEND_FAILURES } from './submission.js';
import { formatAddress } from '../outbound/headers.js';
import { FolderType, type StoredMessage } from '../store/mailbox.js';
import type { ServiceDeps } from './deps.js';

/** Content type of the placeholder a removed attachment leaves behind. */
export const REMOVED_TYPE = 'application/x-easmime-removed';

type Slot =
  | { removed: false; fileName: string; contentType: string; content: Buffer; contentId?: string; contentLocation?: string; inline: boolean }
  | { removed: true };

/** Everything a draft is made of, read back from its MIME or built from a device's Add. */
interface DraftState {
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  importance: 0 | 1 | 2;
  body: { type: 1 | 2; data: string };
  slots: Slot[];
  messageId?: string;
}

interface Remembered { itemId: number; added: AddedAttachment[] }

export class DraftsService implements DraftsPort {
  /** Edits of one user run one after another: each reads the draft the previous one saved. */
  private readonly queues = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: ServiceDeps) {}

  private get mailbox() { return this.deps.store.mailbox; }

  draftsFolder(p: Principal): number | undefined {
    return this.mailbox.folderByType(p.userId, FolderType.Drafts)?.id;
  }

  create(p: Principal, edit: DraftEdit, opts: { send: boolean; replayKey?: string }): Promise<DraftOutcome> {
    return this.serialised(p.userId, async () => {
      const folderId = this.draftsFolder(p);
      if (folderId === undefined) return { kind: 'not-found' };
      if (opts.replayKey !== undefined) {
        const seen = this.mailbox.clientAdd(p.userId, opts.replayKey);
        if (seen !== undefined) {
          const r = JSON.parse(seen) as Remembered;
          // Already saved (and maybe sent and gone): the same answer again; the device's next Sync shows what became of it.
          return { kind: 'saved', itemId: r.itemId, folderId, modseq: this.mailbox.modseqOf(p.userId, r.itemId) ?? 0, added: r.added, sent: false };
        }
      }
      const state: DraftState = { to: '', cc: '', bcc: '', subject: '', importance: 1, body: { type: 1, data: '' }, slots: [] };
      const applied = applyEdit(state, edit);
      if ('kind' in applied) return applied;
      const stored = await this.store(p, state, { folderId });
      if ('kind' in stored) return stored;
      if (opts.replayKey !== undefined) this.mailbox.rememberClientAdd(p.userId, opts.replayKey, JSON.stringify({ itemId: stored.itemId, added: applied.added } satisfies Remembered));
      return this.finish(p, state, { itemId: stored.itemId, folderId, modseq: stored.modseq, added: applied.added }, opts.send);
    });
  }

  update(p: Principal, itemId: number, edit: DraftEdit, opts: { send: boolean }): Promise<DraftOutcome> {
    return this.serialised(p.userId, async () => {
      const folderId = this.draftsFolder(p);
      const message = this.mailbox.message(p.userId, itemId);
      const raw = message && this.mailbox.raw(p.userId, itemId);
      if (!message || !raw) return { kind: 'not-found' };
      if (message.folderId !== folderId) return { kind: 'not-draft' };
      const state = await readDraft(message, raw);
      const applied = applyEdit(state, edit);
      if ('kind' in applied) return applied;
      const stored = await this.store(p, state, { itemId, folderId });
      if ('kind' in stored) return stored;
      return this.finish(p, state, { itemId, folderId, modseq: stored.modseq, added: applied.added }, opts.send);
    });
  }

  bcc(p: Principal, itemIds: number[]): Map<number, string> {
    const out = new Map<number, string>();
    for (const id of itemIds) {
      const list = bccOf(this.mailbox.raw(p.userId, id)).map((a) => (a.name ? formatAddress(a.name, a.address) : a.address));
      if (list.length > 0) out.set(id, list.join(', '));
    }
    return out;
  }

  private serialised<T>(userId: number, run: () => Promise<T>): Promise<T> {
    const before = this.queues.get(userId) ?? Promise.resolve();
    const next = before.then(run, run);
    const tail = next.catch(() => undefined);
    this.queues.set(userId, tail);
    void tail.then(() => { if (this.queues.get(userId) === tail) this.queues.delete(userId); });
    return next;
  }

  /** Composes the draft, checks its size, and inserts it into Drafts or replaces the stored one. */
  private async store(p: Principal, state: DraftState, where: { folderId: number; itemId?: number }): Promise<{ itemId: number; modseq: number } | DraftOutcome> {
    const maxBytes = this.deps.mailflow.maxBytes;
    const raw = await compose(p, state, { forSending: false });
    if (raw.length > maxBytes) return { kind: 'too-large', reason: `the draft would be ${raw.length} bytes, the limit is ${maxBytes}` };
    let parsed;
    try {
      parsed = await parseMessage(raw, { maxBytes });
    } catch (e) {
      if (e instanceof MailParseError) return { kind: 'too-large', reason: e.message };
      throw e;
    }
    const m = toNewMessage(parsed, raw, new Date());
    const fields = { ...m, attachments: m.attachments.filter((a) => a.contentType !== REMOVED_TYPE), read: true };
    let itemId = where.itemId;
    let modseq: number | undefined;
    if (itemId === undefined) {
      itemId = this.mailbox.insertMessage(p.userId, where.folderId, fields);
      modseq = this.mailbox.modseqOf(p.userId, itemId);
    } else {
      modseq = this.mailbox.replaceMessage(p.userId, itemId, fields);
    }
    if (modseq === undefined) return { kind: 'not-found' };
    state.messageId = m.messageId;
    this.deps.events.changed([where.folderId]);
    this.deps.log({ msg: 'draft saved', user: p.address, itemId, bytes: raw.length, attachments: fields.attachments.length });
    return { itemId, modseq };
  }

  /** With `send`: submits the saved draft and, once it left, removes it from Drafts. */
  private async finish(p: Principal, state: DraftState, saved: { itemId: number; folderId: number; modseq: number; added: AddedAttachment[] }, send: boolean): Promise<DraftOutcome> {
    if (!send) return { kind: 'saved', ...saved, sent: false };
    const raw = await compose(p, state, { forSending: true });
    try {
      await this.deps.mailflow.submit(raw, {
        sender: { id: p.userId, address: p.address, displayName: p.displayName }, origin: 'eas', saveInSent: true, rewriteFrom: true,
      });
    } catch (e) {
      if (e instanceof SubmissionError) {
        this.deps.log({ level: 'warn', msg: 'draft not sent', user: p.address, itemId: saved.itemId, failure: e.failure, reason: e.message });
        return { kind: 'send-failed', ...saved, failure: SEND_FAILURES[e.failure], reason: e.message };
      }
      throw e;
    }
    if (this.mailbox.deleteMessage(p.userId, saved.itemId)) this.deps.events.changed([saved.folderId]);
    return { kind: 'saved', ...saved, sent: true };
  }
}

/** Applies a device's edit to a draft; returns the numbers given to added attachments, or why it cannot be applied. */
function applyEdit(state: DraftState, edit: DraftEdit): { added: AddedAttachment[] } | DraftOutcome {
  const f = edit.fields;
  if (f.to !== undefined) state.to = f.to;
  if (f.cc !== undefined) state.cc = f.cc;
  if (f.bcc !== undefined) state.bcc = f.bcc;
  if (f.subject !== undefined) state.subject = f.subject;
  if (f.importance !== undefined) state.importance = f.importance;
  if (f.body !== undefined) state.body = f.body;
  for (const index of edit.remove) {
    // A slot already emptied stays empty: a device that did not yet see the removal may name it again.
    if (index >= state.slots.length) return { kind: 'bad-reference', reason: `this draft has no attachment ${index}` };
    state.slots[index] = { removed: true };
  }
  if (state.slots.length + edit.add.length > DRAFT_LIMITS.maxAttachments) {
    return {
      kind: 'too-many-attachments',
      reason: `the draft would have ${state.slots.length + edit.add.length} attachments (removed ones keep their place), at most ${DRAFT_LIMITS.maxAttachments} are accepted`,
    };
  }
  const added: AddedAttachment[] = [];
  for (const a of edit.add) {
    added.push({ clientId: a.clientId, index: state.slots.length });
    state.slots.push(slotOf(a));
  }
  return { added };
}

function slotOf(a: DraftAttachmentAdd): Slot {
  const contentType = a.contentType ?? (a.method === 5 ? 'message/rfc822' : 'application/octet-stream');
  // A text or message part shown inline would be read as part of the body and leave the attachment list.
  const inline = a.isInline && !/^(text|message)\//.test(contentType);
  return { removed: false, fileName: a.displayName, contentType, content: a.content, contentId: a.contentId, contentLocation: a.contentLocation, inline };
}

/** The draft as it is stored: the fields from the row, Bcc and the attachment slots from the MIME. */
async function readDraft(message: StoredMessage, raw: Buffer): Promise<DraftState> {
  const mail = await reparseStored(raw);
  const slots: Slot[] = mail.attachments.map((a): Slot => {
    const contentType = (a.contentType || 'application/octet-stream').toLowerCase();
    if (contentType === REMOVED_TYPE) return { removed: true };
    const location = a.headers.get('content-location');
    return {
      removed: false, fileName: a.filename ?? '', contentType, content: a.content, contentId: a.cid || undefined,
      contentLocation: typeof location === 'string' ? location : undefined, inline: (a.contentDisposition ?? '').toLowerCase() === 'inline',
    };
  });
  return {
    to: message.to, cc: message.cc, bcc: formatMailboxes(mailboxes(mail.bcc), ', '), subject: message.subject,
    importance: (message.importance === 0 || message.importance === 2 ? message.importance : 1),
    body: message.html !== undefined ? { type: 2, data: message.html } : { type: 1, data: message.text },
    slots, messageId: message.messageId,
  };
}

const PRIORITY: Readonly<Record<0 | 1 | 2, { importance: string; xPriority: string }>> = {
  0: { importance: 'low', xPriority: '5 (Lowest)' },
  1: { importance: 'normal', xPriority: '3 (Normal)' },
  2: { importance: 'high', xPriority: '1 (Highest)' },
};

/**
 * The draft as MIME. Every attachment is a plain mixed part (Content-ID set as a header, not as
 * MailComposer's cid, which would move it into a related part and change the order), so the parts
 * come back in slot order. For sending, placeholders are left out.
 */
async function compose(p: Principal, state: DraftState, opts: { forSending: boolean }): Promise<Buffer> {
  const attachments: Mail.Attachment[] = [];
  for (const s of state.slots) {
    if (s.removed) {
      if (!opts.forSending) {
        attachments.push({
          filename: 'removed', content: Buffer.alloc(0), contentType: REMOVED_TYPE, contentDisposition: 'attachment',
          headers: { 'X-EasMime-Removed': 'an attachment was removed here; the place is kept so later FileReferences stay valid' },
        });
      }
      continue;
    }
    const headers: Record<string, string> = {};
    if (s.contentId) headers['Content-ID'] = `<${s.contentId}>`;
    if (s.contentLocation) headers['Content-Location'] = s.contentLocation;
    attachments.push({ filename: s.fileName, content: s.content, contentType: s.contentType, contentDisposition: s.inline ? 'inline' : 'attachment', headers });
  }
  const priority = PRIORITY[state.importance];
  const body = state.body.type === 2 ? { html: state.body.data, text: roughHtmlToText(state.body.data) } : { text: state.body.data };
  const node = new MailComposer({
    from: formatAddress(p.displayName, p.address),
    to: state.to || undefined, cc: state.cc || undefined, bcc: state.bcc || undefined,
    subject: state.subject, date: new Date(), messageId: state.messageId,
    headers: { Importance: priority.importance, 'X-Priority': priority.xPriority },
    ...body, attachments, textEncoding: 'quoted-printable',
  }).compile();
  // The draft keeps its Bcc (Exchange shows it to the author); the mail flow removes it from what travels.
  node.keepBcc = true;
  return node.build();
}

