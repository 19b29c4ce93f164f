// The mail flow: one path for every message that enters (SMTP now; EAS submission later).
// parse -> (S/MIME gateway: later) -> route to local mailboxes -> store byte-exact -> announce.
import type { Logger } from './log.js';
import type { FolderEvents } from './events.js';
import type { Store } from './store/index.js';
import { FolderType, type NewMessage } from './store/mailbox.js';
import { conversationFor } from './conversation.js';
import { parseMessage, type ParsedMessage } from './mail/parse.js';
import { GatewayRefusal, passThroughGateway, type Gateway } from './gateway/gateway.js';
import { verdictHeader } from '../smime/verdict.js';

export interface Envelope {
  mailFrom: string;
  rcptTo: string[];
  origin: 'smtp' | 'eas' | 'fixture';
  remoteAddress?: string;
  authenticatedUser?: string;
}

export interface DeliveryResult {
  /** Message row ids by local user address. */
  stored: Map<string, number>;
  /** Recipients that are not local (relay comes with the submission work). */
  notLocal: string[];
}

/** An error with the SMTP reply to give (the listener passes responseCode through). */
export class DeliveryError extends Error {
  constructor(message: string, readonly responseCode: number) {
    super(message);
  }
}

export function toNewMessage(parsed: ParsedMessage, raw: Buffer, receivedAt: Date): NewMessage {
  const conv = conversationFor({
    threadIndex: parsed.threadIndex, messageId: parsed.messageId, inReplyTo: parsed.inReplyTo,
    references: parsed.references, threadTopic: parsed.threadTopic, date: parsed.date,
  });
  return {
    receivedAt, raw, subject: parsed.subject, from: parsed.from, to: parsed.to, cc: parsed.cc,
    replyTo: parsed.replyTo, displayTo: parsed.displayTo, threadTopic: parsed.threadTopic,
    importance: parsed.importance, messageClass: parsed.messageClass, smimeKind: parsed.smimeKind,
    cpid: parsed.internetCpid, text: parsed.text, html: parsed.html, preview: parsed.preview,
    attachments: parsed.attachments.map((a) => ({
      index: a.index, fileName: a.fileName, contentType: a.contentType, size: a.size, contentId: a.contentId, isInline: a.isInline,
    })),
    messageId: parsed.messageId, conversationId: conv.conversationId, conversationIndex: conv.conversationIndex,
  };
}

export class MailFlow {
  constructor(
    private readonly store: Store, private readonly events: FolderEvents, private readonly log: Logger, private readonly maxBytes: number,
    readonly gateway: Gateway = passThroughGateway,
  ) {}

  /** Delivers to every local recipient's Inbox, all or nothing. */
  async deliver(raw: Buffer, env: Envelope): Promise<DeliveryResult> {
    const parsed = await parseMessage(raw, { maxBytes: this.maxBytes });
    const receivedAt = new Date();
    const users = new Map<string, { id: number; address: string }>();
    const notLocal: string[] = [];
    for (const rcpt of env.rcptTo) {
      const local = this.store.directory.expandLocal(rcpt);
      if (local.length === 0) notLocal.push(rcpt.toLowerCase());
      for (const u of local) users.set(u.address, u);
    }
    if (users.size === 0 && notLocal.length > 0) {
      throw new DeliveryError(`no local recipient among ${notLocal.join(', ')} and relaying is not configured`, 550);
    }
    let decision;
    try {
      decision = await this.gateway.inbound(raw, parsed, {
        sender: env.mailFrom.toLowerCase(), recipients: env.rcptTo.map((r) => r.toLowerCase()), origin: env.origin === 'eas' ? 'eas' : 'smtp',
        authenticatedUser: env.authenticatedUser,
      });
    } catch (e) {
      if (e instanceof GatewayRefusal) {
        this.log({ msg: 'refused by the S/MIME gateway', origin: env.origin, from: env.mailFrom, code: e.code, reason: e.message, messageId: parsed.messageId });
        throw new DeliveryError(e.message, e.smtpCode);
      }
      throw e;
    }
    const visible = new Set([...parsed.toAddresses, ...parsed.ccAddresses].map((a) => a.toLowerCase()));
    const base = { ...toNewMessage(parsed, raw, receivedAt), smimeVerdict: decision.verdict && JSON.stringify(decision.verdict) };
    const stored = new Map<string, number>();
    const folders: number[] = [];
    this.store.db.transaction(() => {
      for (const u of users.values()) {
        const inbox = this.store.mailbox.folderByType(u.id, FolderType.Inbox);
        if (!inbox) throw new DeliveryError(`mailbox of ${u.address} has no Inbox`, 451);
        const id = this.store.mailbox.insertMessage(u.id, inbox.id, { ...base, receivedAsBcc: !visible.has(u.address) && env.origin === 'smtp' ? !this.visibleViaGroup(u.address, visible) : false });
        stored.set(u.address, id);
        folders.push(inbox.id);
      }
    })();
    this.events.changed(folders);
    this.log({
      msg: 'delivered', origin: env.origin, from: env.mailFrom, to: [...stored.keys()].join(','), bytes: raw.length,
      class: parsed.messageClass, smime: parsed.smimeKind, messageId: parsed.messageId,
      ...(decision.verdict ? { verdict: verdictHeader(decision.verdict), reasons: decision.verdict.reasons.join(',') } : {}),
    });
    return { stored, notLocal };
  }

  /** A user reached through a group named in To/Cc was not a Bcc recipient. */
  private visibleViaGroup(address: string, visible: Set<string>): boolean {
    for (const v of visible) {
      if (this.store.directory.expandLocal(v).some((u) => u.address === address)) return true;
    }
    return false;
  }

  /** Stores a message into a folder as it is (fixtures, imports): no routing. */
  async importInto(userId: number, folderId: number, raw: Buffer, opts: { read?: boolean; receivedAt?: Date } = {}): Promise<number> {
    const parsed = await parseMessage(raw, { maxBytes: this.maxBytes });
    const m = toNewMessage(parsed, raw, opts.receivedAt ?? parsed.date);
    return this.store.mailbox.insertMessage(userId, folderId, { ...m, read: opts.read });
  }
}
