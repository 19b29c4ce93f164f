// The mail flow: one path for every message that enters or leaves.
// deliver (SMTP from outside): parse -> S/MIME gateway (inbound) -> local mailboxes -> store byte-exact -> announce.
// submit (a signed-in user sends: EAS SendMail/SmartReply/SmartForward, authenticated SMTP):
//   fix the outer headers -> parse -> S/MIME gateway (outbound) -> smarthost or capture store for
//   external recipients -> local mailboxes and Sent Items in one transaction -> announce.
import type { Logger } from './log.js';
import type { FolderEvents } from './events.js';
import type { Store } from './store/index.js';
import { FolderType, type NewMessage } from './store/mailbox.js';
import { conversationFor, needsParent } from './conversation.js';
import { parseMessage, type ParsedMessage } from './mail/parse.js';
import { GatewayRefusal, passThroughGateway, type Gateway, type GatewayDecision } from './gateway/gateway.js';
import { verdictHeader } from '../smime/verdict.js';
import { MailParseError } from './mail/errors.js';
import { CapturedMail } from './store/captured.js';
import { CaptureRoute } from './outbound/capture.js';
import { OutboundError, type OutboundHandover, type OutboundRoute, type RefusedRecipient } from './outbound/route.js';
import { ascii, buildDeliveryReport, headerBlock } from './mail/delivery-report.js';
import { prepareSubmission } from './outbound/prepare.js';
import { GroupCommit } from './store/group-commit.js';
import { inProcessIngest, type IngestPipeline } from './ingest/pipeline.js';
import { meetingMessageClass, meetingOf } from './meetings/extract.js';
import { storedMeetingOf } from './meetings/calendar.js';
import { applyToCalendar } from './meetings/apply.js';
import type { StoredMeeting } from './store/mailbox.js';

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
    threadParent: needsParent(parsed) ? { messageId: parsed.inReplyTo!, date: parsed.date } : undefined,
  };
}

/** A meeting message's invitation as stored, and the class the mail takes (NewMessage fields). */
interface ReadMeeting {
  meeting: StoredMeeting;
  messageClass: string;
}

interface PreparedDelivery {
  parsed: ParsedMessage;
  users: Map<string, { id: number; address: string }>;
  notLocal: string[];
  decision: GatewayDecision;
}

/**
 * Where a submission's recipient goes: a local mailbox or group, nowhere (an address of the
 * organisation's domain that no one has, or no domain at all), or the outbound route.
 */
export function recipientKind(isLocal: boolean, rcpt: string, domain: string): 'local' | 'unknown' | 'external' {
  if (isLocal) return 'local';
  const at = rcpt.lastIndexOf('@');
  return at < 0 || rcpt.slice(at + 1) === domain ? 'unknown' : 'external';
}

/** A refusal the smarthost meant as temporary (4xx). */
export function isTemporary(r: RefusedRecipient): boolean {
  return r.code !== undefined && r.code >= 400 && r.code < 500;
}

/** The RFC 3463 status a refusal carries (its enhanced code, else one from its reply code). */
function enhancedStatus(r: RefusedRecipient): string {
  const said = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(r.response)?.[1];
  return said ?? (isTemporary(r) ? '4.0.0' : '5.0.0');
}

/** Most recipients one submission may have (the SMTP listener's RCPT limit too). */
export const MAX_SUBMISSION_RECIPIENTS = 500;

export interface SubmissionEnvelope {
  /** The signed-in user who sends. */
  sender: { id: number; address: string; displayName: string };
  origin: 'eas' | 'smtp';
  /** SMTP: the RCPT TO addresses. EAS: undefined, and the recipients are the To, Cc and Bcc fields. */
  rcptTo?: string[];
  /** Envelope sender for the relay (SMTP MAIL FROM); the sender's address when absent or empty. */
  mailFrom?: string;
  /** Keep a copy (marked read) in the sender's Sent Items. */
  saveInSent: boolean;
  /** Make the From field name the sender when it is absent or names anyone else. */
  rewriteFrom: boolean;
  remoteAddress?: string;
  /**
   * Runs inside the transaction that stores the message, with the recipients the smarthost refused
   * one by one (the outbox removes or narrows its entry there).
   */
  inTransaction?: (refused: readonly RefusedRecipient[]) => void;
  /** The caller tries again the recipients refused with 4xx (the outbox): the sender's report names only the 5xx ones. */
  retriesRefused?: boolean;
}

export type SubmissionFailure =
  | 'too-large' | 'invalid-mime' | 'no-recipients' | 'too-many-recipients' | 'unknown-recipient' | 'refused' | 'relay-failed' | 'store-failed';

/** Why a submission reached no one. responseCode is the SMTP reply for the SMTP path. */
export class SubmissionError extends DeliveryError {
  constructor(readonly failure: SubmissionFailure, message: string, responseCode: number) {
    super(message, responseCode);
    this.name = 'SubmissionError';
  }
}

export interface SubmissionResult {
  messageId?: string;
  /** Message row ids in the recipients' Inboxes, by local user address. */
  delivered: Map<string, number>;
  /** External recipients, handed to the outbound route. */
  external: string[];
  route?: OutboundRoute['name'];
  /** The Sent Items copy, when one was asked for. */
  sentItemId?: number;
  /** External recipients the smarthost refused one by one (the sender gets a report). */
  refused: RefusedRecipient[];
}

export class MailFlow {
  readonly outbound: OutboundRoute;
  /** Deliveries ready close together share a commit (see store/group-commit.ts). */
  readonly deliveries: GroupCommit;

  constructor(
    private readonly store: Store, private readonly events: FolderEvents, private readonly log: Logger, readonly maxBytes: number,
    readonly gateway: Gateway = passThroughGateway,
    outbound?: OutboundRoute,
    /** Where incoming mail is parsed (and signed mail verified): in-process or on worker threads. */
    private readonly ingest: IngestPipeline = inProcessIngest,
  ) {
    this.outbound = outbound ?? new CaptureRoute(new CapturedMail(store.db));
    this.deliveries = new GroupCommit(store.db, () => this.deliveriesInProgress + this.arriving());
  }

  /**
   * How many messages are still arriving (SMTP DATA being read) on their way to deliver(): set by
   * the listener's owner. A commit waits a moment for them, as for deliveries being parsed, so that
   * concurrent connections share commits (under load about two messages per commit instead of one,
   * roughly 15% more messages per second); a slow upload delays other commits by maxDelayMs at most.
   */
  arriving: () => number = () => 0;

  /**
   * Deliveries being parsed and verified on this thread, which will soon want to commit. Those on
   * worker threads are not counted: waiting for them would stall every connection behind the
   * slowest message in the workers' queue, while the event loop has nothing else to do.
   */
  private deliveriesInProgress = 0;

  /** Delivers to every local recipient's Inbox, all or nothing. */
  async deliver(raw: Buffer, env: Envelope): Promise<DeliveryResult> {
    const counted = this.ingest.onMainThread;
    if (counted) this.deliveriesInProgress++;
    let prepared: PreparedDelivery;
    try {
      prepared = await this.prepareDelivery(raw, env);
    } finally {
      if (counted) this.deliveriesInProgress--;
    }
    const { parsed, users, notLocal, decision } = prepared;
    const meeting = this.readMeeting(parsed);
    const receivedAt = new Date();
    const visible = new Set([...parsed.toAddresses, ...parsed.ccAddresses].map((a) => a.toLowerCase()));
    const base = { ...toNewMessage(parsed, raw, receivedAt), smimeVerdict: decision.verdict && JSON.stringify(decision.verdict), ...meeting };
    const stored = new Map<string, number>();
    const folders: number[] = [];
    const calendar: string[] = [];
    await this.deliveries.run(() => {
      for (const u of users.values()) {
        const inbox = this.store.mailbox.folderByType(u.id, FolderType.Inbox);
        if (!inbox) throw new DeliveryError(`mailbox of ${u.address} has no Inbox`, 451);
        const put = this.store.mailbox.deliverMessage(u.id, inbox.id, { ...base, receivedAsBcc: !visible.has(u.address) && env.origin === 'smtp' ? !this.visibleViaGroup(u.address, visible) : false });
        stored.set(u.address, put.id);
        folders.push(put.folderId);
        if (meeting) this.placeMeeting(u, meeting.meeting, parsed.text, parsed.fromAddresses, folders, calendar);
      }
    });
    this.events.changed(folders);
    this.log({
      msg: 'delivered', origin: env.origin, from: env.mailFrom, to: [...stored.keys()].join(','), bytes: raw.length,
      class: base.messageClass, smime: parsed.smimeKind, messageId: parsed.messageId,
      ...(calendar.length ? { calendar: calendar.join(',') } : {}),
      ...(decision.verdict ? { verdict: verdictHeader(decision.verdict), reasons: decision.verdict.reasons.join(',') } : {}),
    });
    return { stored, notLocal };
  }

  /**
   * The meeting a mail carries, read from its calendar part. An unreadable one leaves the mail an
   * ordinary message (logged): the person still gets the invitation's text, as Exchange delivers it.
   * So does a reply or counter-proposal whose From names none of the attendees it answers for: no
   * one's answer, and no one's to show. S/MIME mail keeps its S/MIME class, which clients need to
   * verify or decrypt it.
   */
  private readMeeting(parsed: ParsedMessage): ReadMeeting | undefined {
    const found = meetingOf(parsed);
    if (!found) return undefined;
    const answering = 'invitation' in found && (found.invitation.method === 'REPLY' || found.invitation.method === 'COUNTER');
    if (answering && !found.invitation.attendees.some((a) => parsed.fromAddresses.includes(a.email))) {
      this.log({ level: 'warn', msg: 'calendar part not read', messageId: parsed.messageId, reason: `a ${found.invitation.method} from someone who is none of the attendees it names` });
      return undefined;
    }
    if ('error' in found) {
      this.log({ level: 'warn', msg: 'calendar part not read', messageId: parsed.messageId, reason: found.error });
      return undefined;
    }
    if (found.invitation.warnings.length) {
      this.log({ level: 'debug', msg: 'calendar part read with warnings', messageId: parsed.messageId, warnings: found.invitation.warnings.join('; ') });
    }
    const messageClass = parsed.smimeKind === 'none' ? meetingMessageClass(found.invitation, parsed.fromAddresses) : parsed.messageClass;
    return { meeting: storedMeetingOf(found.invitation), messageClass };
  }

  /** A meeting message's effect on one recipient's calendar, inside the delivery's transaction; notes the folders changed and the outcome. */
  private placeMeeting(user: { id: number; address: string }, meeting: StoredMeeting, text: string, from: readonly string[], folders: number[], outcomes: string[]): void {
    const change = applyToCalendar(this.store.mailbox, user, meeting, text, from);
    folders.push(...change.folders);
    outcomes.push(`${user.address}:${change.outcome}`);
  }

  /** Everything before the store: parse, find the local recipients, ask the gateway. */
  private async prepareDelivery(raw: Buffer, env: Envelope): Promise<PreparedDelivery> {
    const { parsed, verdict } = await this.ingest.prepare(raw, { maxBytes: this.maxBytes });
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
    let decision: GatewayDecision;
    try {
      decision = await this.gateway.inbound(raw, parsed, {
        sender: env.mailFrom.toLowerCase(), recipients: env.rcptTo.map((r) => r.toLowerCase()), origin: env.origin === 'eas' ? 'eas' : 'smtp',
        authenticatedUser: env.authenticatedUser, ...(verdict ? { verdict } : {}),
      });
    } catch (e) {
      if (e instanceof GatewayRefusal) {
        this.log({ msg: 'refused by the S/MIME gateway', origin: env.origin, from: env.mailFrom, code: e.code, reason: e.message, messageId: parsed.messageId });
        throw new DeliveryError(e.message, e.smtpCode);
      }
      throw e;
    }
    return { parsed, users, notLocal, decision };
  }

  /**
   * Sends a message for a signed-in user: to local recipients' Inboxes, to external ones through the
   * outbound route, and a copy to Sent Items when asked; all of it or, on any failure, none of it.
   * The gateway sees the final message (headers fixed, Bcc removed) before anything leaves.
   * Bcc is removed from every copy that travels; the sender's Sent Items copy keeps it, as
   * Exchange keeps it there, so the sender can see whom they sent it to.
   */
  async submit(raw: Buffer, env: SubmissionEnvelope): Promise<SubmissionResult> {
    const fail = (failure: SubmissionFailure, message: string, code: number): SubmissionError => new SubmissionError(failure, message, code);
    const tooLarge = (bytes: number): SubmissionError => fail('too-large', `the message is ${bytes} bytes, the limit is ${this.maxBytes}`, 552);
    if (raw.length > this.maxBytes) throw tooLarge(raw.length);
    const prepared = prepareSubmission(raw, {
      sender: env.rewriteFrom ? env.sender : undefined, domain: this.store.domain(), now: new Date(),
    });
    if (!prepared) throw fail('invalid-mime', 'the message\'s header block has no end within 1 MiB', 554);
    const { headerRecipients, sentRaw, outRaw } = prepared;
    if (outRaw.length > this.maxBytes) throw tooLarge(outRaw.length);
    if (sentRaw.length > this.maxBytes) throw tooLarge(sentRaw.length);

    let parsed: ParsedMessage;
    try {
      parsed = await parseMessage(outRaw, { maxBytes: this.maxBytes });
    } catch (e) {
      if (e instanceof MailParseError) throw e.code === 'too-large' ? tooLarge(outRaw.length) : fail('invalid-mime', e.message, 554);
      throw e;
    }

    const recipients = [...new Set((env.rcptTo ?? headerRecipients).map((r) => r.trim().toLowerCase()).filter((r) => r !== ''))];
    if (recipients.length === 0) throw fail('no-recipients', 'the message names no recipient in To, Cc or Bcc', 554);
    if (recipients.length > MAX_SUBMISSION_RECIPIENTS) {
      throw fail('too-many-recipients', `the message has ${recipients.length} recipients, at most ${MAX_SUBMISSION_RECIPIENTS} are accepted`, 452);
    }
    const domain = this.store.domain().toLowerCase();
    const users = new Map<string, { id: number; address: string }>();
    const external: string[] = [];
    const unknown: string[] = [];
    for (const rcpt of recipients) {
      const local = this.store.directory.expandLocal(rcpt);
      for (const u of local) users.set(u.address, u);
      const kind = recipientKind(local.length > 0, rcpt, domain);
      if (kind === 'unknown') unknown.push(rcpt);
      else if (kind === 'external') external.push(rcpt);
    }
    if (unknown.length > 0) throw fail('unknown-recipient', `no such recipient in ${domain}: ${unknown.slice(0, 10).join(', ')}`, 550);

    let decision;
    try {
      decision = await this.gateway.outbound(outRaw, parsed, {
        sender: env.sender.address.toLowerCase(), recipients, origin: env.origin, authenticatedUser: env.sender.address,
      });
    } catch (e) {
      if (e instanceof GatewayRefusal) throw fail('refused', e.message, e.smtpCode);
      throw e;
    }

    let handover: OutboundHandover | undefined;
    if (external.length > 0) {
      try {
        handover = await this.outbound.send({
          raw: outRaw, mailFrom: env.mailFrom || env.sender.address, rcptTo: external, origin: env.origin,
          submittedBy: env.sender.address, subject: parsed.subject, messageId: parsed.messageId,
        });
      } catch (e) {
        if (e instanceof OutboundError) throw fail('relay-failed', e.message, e.permanent ? 554 : 451);
        throw e;
      }
    }

    const meeting = this.readMeeting(parsed);
    const now = new Date();
    const verdict = decision.verdict && JSON.stringify(decision.verdict);
    const base = { ...toNewMessage(parsed, outRaw, now), smimeVerdict: verdict, ...meeting };
    const calendar: string[] = [];
    const visible = new Set([...parsed.toAddresses, ...parsed.ccAddresses]);
    const delivered = new Map<string, number>();
    const folders: number[] = [];
    let sentItemId: number | undefined;
    try {
      this.store.db.transaction(() => {
        for (const u of users.values()) {
          const inbox = this.store.mailbox.folderByType(u.id, FolderType.Inbox);
          if (!inbox) throw new Error(`mailbox of ${u.address} has no Inbox`);
          const bcc = !visible.has(u.address) && !this.visibleViaGroup(u.address, visible);
          const put = this.store.mailbox.deliverMessage(u.id, inbox.id, { ...base, receivedAsBcc: bcc });
          delivered.set(u.address, put.id);
          folders.push(put.folderId);
          if (meeting) this.placeMeeting(u, meeting.meeting, parsed.text, parsed.fromAddresses, folders, calendar);
        }
        if (env.saveInSent) {
          const sent = this.store.mailbox.folderByType(env.sender.id, FolderType.SentItems);
          if (!sent) throw new Error(`mailbox of ${env.sender.address} has no Sent Items`);
          sentItemId = this.store.mailbox.insertMessage(env.sender.id, sent.id, { ...toNewMessage(parsed, sentRaw, now), smimeVerdict: verdict, read: true,
            // The organizer's copy is of the class but carries no MeetingRequest: that is for attendees (MS-ASEMAIL 2.2.2.48).
            ...(meeting ? { messageClass: meeting.messageClass } : {}) });
          folders.push(sent.id);
        }
        handover?.commit();
        env.inTransaction?.(handover?.refused ?? []);
      })();
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.log({
        level: 'error', msg: 'submission not stored', from: env.sender.address, messageId: parsed.messageId, error: reason,
        ...(this.outbound.name === 'smarthost' && external.length ? { alreadyRelayedTo: external.join(',') } : {}),
      });
      throw fail('store-failed', `the message could not be stored: ${reason}`, 451);
    }
    this.events.changed(folders);
    this.log({
      msg: 'submitted', origin: env.origin, from: env.sender.address, to: [...delivered.keys()].join(','), external: external.join(','),
      route: external.length ? this.outbound.name : undefined, sentItems: env.saveInSent, bytes: outRaw.length,
      class: base.messageClass, smime: parsed.smimeKind, messageId: parsed.messageId,
      ...(calendar.length ? { calendar: calendar.join(',') } : {}),
      ...(decision.verdict ? { verdict: verdictHeader(decision.verdict), reasons: decision.verdict.reasons.join(',') } : {}),
      ...(handover?.refused.length ? { refused: handover.refused.map((r) => r.address).join(',') } : {}),
    });
    const refused = handover?.refused ?? [];
    const reported = env.retriesRefused ? refused.filter((r) => !isTemporary(r)) : refused;
    if (reported.length > 0) await this.reportRefused(env.sender, outRaw, parsed.subject, reported);
    return { messageId: parsed.messageId, delivered, external, route: external.length ? this.outbound.name : undefined, sentItemId, refused };
  }

  /**
   * Recipients the smarthost refused one by one while it took the message for the others: the
   * sender learns of them from a non-delivery report in their Inbox, as from Exchange.
   */
  private async reportRefused(sender: { id: number; address: string }, raw: Buffer, subject: string, refused: readonly RefusedRecipient[]): Promise<void> {
    const domain = this.store.domain();
    const ndr = buildDeliveryReport({
      sender: sender.address, domain, originalHeaders: headerBlock(raw), originalSubject: subject, at: new Date(),
      explanation: [
        'Your message was sent, but the relay did not take it for these recipients:',
        '',
        ...refused.map((r) => `  ${ascii(r.address)}: ${ascii(r.response).slice(0, 300)}`),
      ],
      failed: refused.map((r) => ({ address: r.address, status: enhancedStatus(r), diagnostic: /^\d{3}[ -]/.test(r.response) ? r.response : `${r.code ?? 550} ${r.response}` })),
    });
    try {
      await this.toInbox(sender.id, ndr);
    } catch (e) {
      this.log({ level: 'error', msg: 'could not leave the non-delivery report', user: sender.address, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /**
   * Leaves a message the server writes (a non-delivery report) in the user's Inbox and wakes its
   * Pings; `inTransaction` runs in the transaction that stores it. Throws when the user has no Inbox.
   */
  async toInbox(userId: number, raw: Buffer, inTransaction?: () => void): Promise<void> {
    const inbox = this.store.mailbox.folderByType(userId, FolderType.Inbox);
    if (!inbox) throw new Error('the user has no Inbox');
    await this.importInto(userId, inbox.id, raw, inTransaction ? { inTransaction } : {});
    this.events.changed([inbox.id]);
  }

  /** A user reached through a group named in To/Cc was not a Bcc recipient. */
  private visibleViaGroup(address: string, visible: Set<string>): boolean {
    for (const v of visible) {
      if (this.store.directory.expandLocal(v).some((u) => u.address === address)) return true;
    }
    return false;
  }

  /**
   * Stores a message into a folder as it is (fixtures, imports): no routing. An invitation places
   * its meeting in the user's calendar as delivery does, so a fixture's pending invitation looks as
   * it would in Exchange.
   */
  async importInto(userId: number, folderId: number, raw: Buffer, opts: { read?: boolean; receivedAt?: Date; inTransaction?: () => void } = {}): Promise<number> {
    const parsed = await parseMessage(raw, { maxBytes: this.maxBytes });
    const meeting = this.readMeeting(parsed);
    const m = toNewMessage(parsed, raw, opts.receivedAt ?? parsed.date);
    const user = meeting && this.store.directory.userById(userId);
    return this.store.db.transaction(() => {
      const id = this.store.mailbox.insertMessage(userId, folderId, { ...m, read: opts.read, ...meeting });
      if (meeting && user) this.placeMeeting({ id: userId, address: user.address }, meeting.meeting, parsed.text, parsed.fromAddresses, [], []);
      opts.inTransaction?.();
      return id;
    })();
  }
}
