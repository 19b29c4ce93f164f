// The outbox: mail the server sends on a user's behalf with no client waiting for the answer (a
// 16.x organizer's invitations, updates and cancellations, which Exchange sends after the Sync is
// answered). It is queued in the store in the same transaction as the change that owes it, and goes
// through the mail flow as the user's own mail (local calendars, the outbound route, Sent Items);
// the entry is removed in the transaction that stores the sent message, so after a crash a message
// is still queued or already sent, never lost (mail relayed just before a crash may go twice).
//
// A temporary failure (the smarthost down or answering 4xx, to the message or to some recipients,
// the store busy) is tried again later, as an MTA's queue does; a permanent one (5xx), or one still
// failing after two days (Exchange's default expiry), ends with a non-delivery report in the user's
// Inbox. A message the gateway refuses is dropped whole: the gateway reports that itself.
import crypto from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Logger } from '../log.js';
import type { MailFlow } from '../mailflow.js';
import { isTemporary, MAX_SUBMISSION_RECIPIENTS, recipientKind, SubmissionError, type SubmissionFailure } from '../mailflow.js';
import type { Store } from '../store/index.js';
import type { OutboxEntry, OutboxLane } from '../store/outbox.js';
import { ascii, buildDeliveryReport, headerBlock } from '../mail/delivery-report.js';

/** After the first failure, then the second, ...; the last repeats. */
export const RETRY_DELAYS_MS: readonly number[] = [60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];
/** How long a message is tried before the user is told it could not be sent. */
export const EXPIRY_MS = 2 * 24 * 3600_000;
/** Most entries one user may have queued. */
export const MAX_QUEUED_PER_USER = 5000;
/** Entries read per look at the table. */
const BATCH = 20;
/** How long stopping waits for a message being sent (the smarthost's own timeout is longer). */
const CLOSE_WAIT_MS = 5_000;
/** The pause after the outbox itself failed (not a message: the store), before it looks again. */
const ERROR_PAUSE_MS = 5_000;

/** What a caller queues: the message and its recipients; the outbox splits it into lanes. */
export interface OutgoingMessage {
  to: Array<{ email: string; name?: string }>;
  subject: string;
  text: string;
  calendar?: { method: string; content: string };
  /** What the message is about (a meeting's UID): messages about the same thing go in the order queued. */
  thread?: string;
}

/** Submission failures no later attempt changes: the message, its recipients, the gateway's verdict. */
const PERMANENT: ReadonlySet<SubmissionFailure> = new Set(['too-large', 'invalid-mime', 'no-recipients', 'too-many-recipients', 'unknown-recipient', 'refused']);

/** The user has as many messages queued as the outbox keeps; the caller's change may stand without its mail (logged). */
export class OutboxFull extends Error {}

export class Outbox {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly store: Store, private readonly mailflow: MailFlow, private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Most entries one user may have queued: a device that books without end while the smarthost is down fills no disk. */
    private readonly maxPerUser = MAX_QUEUED_PER_USER,
  ) {}

  /**
   * Queues a message from the user: one entry for local recipients (with the Sent Items copy), one
   * for external ones. Call inside the transaction of the change that owes it, and kick() once it
   * has committed. Throws OutboxFull when the user has MAX_QUEUED_PER_USER entries queued.
   */
  enqueue(userId: number, m: OutgoingMessage): number[] {
    const queued = this.store.outbox.countFor(userId);
    if (queued >= this.maxPerUser) throw new OutboxFull(`the outbox holds ${queued} messages of this user, the most it keeps`);
    const domain = this.store.domain().toLowerCase();
    const recipients = [...new Set(m.to.map((a) => a.email.trim().toLowerCase()))];
    const kinds = new Map(recipients.map((r) => [r, recipientKind(this.store.directory.expandLocal(r).length > 0, r, domain)]));
    const of = (kind: string): string[] => recipients.filter((r) => kinds.get(r) === kind);
    // Unknown addresses of the organisation's own domain go in a copy of their own, which fails and
    // is reported, so that they hold back no one else.
    const groups: Array<[OutboxLane, string[]]> = [['local', of('local')], ['local', of('unknown')], ['external', of('external')]];
    const base = { to: m.to, subject: m.subject, text: m.text, ...(m.calendar ? { calendar: m.calendar } : {}), messageId: `<${crypto.randomUUID()}@${domain}>`, date: this.now() };
    const ids: number[] = [];
    let sentCopy = true;
    for (const [lane, rcpts] of groups) {
      // A submission takes at most MAX_SUBMISSION_RECIPIENTS; with no local recipient, the first external copy is the one Sent Items keeps.
      for (let i = 0; i < rcpts.length; i += MAX_SUBMISSION_RECIPIENTS) {
        const rcptTo = rcpts.slice(i, i + MAX_SUBMISSION_RECIPIENTS);
        ids.push(this.store.outbox.add(userId, lane, m.thread ?? '', { ...base, rcptTo, saveInSent: sentCopy }, this.now()));
        sentCopy = false;
      }
    }
    return ids;
  }

  /** Sends what is due now, and arranges to send the rest when it becomes due. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    let failed = false;
    this.running = this.drain()
      .catch((e: unknown) => {
        failed = true;
        this.log({ level: 'error', msg: 'outbox stopped on an error', error: e instanceof Error ? e.message : String(e) });
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !failed) {
          this.again = false;
          this.kick();
        } else {
          this.again = false;
          // After an error (the store failing, say), not straight back into it.
          this.schedule(failed ? ERROR_PAUSE_MS : 0);
        }
      });
  }

  /** Everything queued becomes due now (the admin API's retry); how many entries there are. */
  retryNow(): number {
    const n = this.store.outbox.retryAll(this.now());
    this.kick();
    return n;
  }

  /** Stops sending; waits a little for a message on its way (it stays queued if it does not finish). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const running = this.running;
    if (running) await Promise.race([running, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
  }

  private schedule(atLeastMs: number): void {
    if (this.closed) return;
    let next: number | undefined;
    try {
      next = this.store.outbox.nextDue();
    } catch (e) {
      this.log({ level: 'error', msg: 'outbox cannot read its queue', error: e instanceof Error ? e.message : String(e) });
      next = this.now() + ERROR_PAUSE_MS;
    }
    if (next === undefined) return;
    // setTimeout takes at most 2^31-1 ms; a later entry is looked at again then.
    this.timer = setTimeout(() => this.kick(), Math.min(Math.max(atLeastMs, next - this.now()), 2 ** 31 - 1));
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    const tried = new Set<number>();
    for (;;) {
      if (this.closed) return;
      const due = this.store.outbox.due(this.now(), BATCH).filter((e) => !tried.has(e.id));
      if (due.length === 0) return;
      for (const entry of due) {
        if (this.closed) return;
        tried.add(entry.id);
        await this.send(entry);
      }
    }
  }

  private async send(entry: OutboxEntry): Promise<void> {
    const m = entry.message;
    const user = this.store.directory.userById(entry.userId);
    if (!user) {
      this.store.outbox.remove(entry.id);
      return;
    }
    const sender = { id: user.id, address: user.address, displayName: user.displayName };
    const about = { id: entry.id, user: user.address, lane: entry.lane, subject: m.subject, to: m.rcptTo.join(','), attempt: entry.attempts + 1 };
    let raw: Buffer;
    try {
      raw = await composeUserMessage(sender, m);
    } catch (e) {
      // Nothing to send and nothing a retry would change.
      this.store.outbox.remove(entry.id);
      this.log({ level: 'error', msg: 'outbox gave up', ...about, reason: `the message could not be composed: ${e instanceof Error ? e.message : String(e)}` });
      return;
    }
    try {
      let later: string[] = [];
      let retryAt = 0;
      await this.mailflow.submit(raw, {
        sender, origin: 'eas', rcptTo: m.rcptTo, saveInSent: m.saveInSent, rewriteFrom: true, retriesRefused: true,
        inTransaction: (refused) => {
          // Recipients the smarthost put off (4xx) keep the entry, in its place; the 5xx ones are reported by the mail flow.
          later = refused.filter(isTemporary).map((r) => r.address);
          if (later.length === 0 || this.now() - entry.createdAt >= EXPIRY_MS) {
            this.store.outbox.remove(entry.id);
            return;
          }
          retryAt = this.now() + this.delayAfter(entry.attempts);
          this.store.outbox.narrow(entry.id, later, retryAt, refused.filter(isTemporary).map((r) => `${r.address}: ${r.response}`).join('; '));
        },
      });
      this.log({ msg: 'outbox sent', ...about, ...(retryAt ? { deferred: later.join(','), retryAt: new Date(retryAt).toISOString() } : {}) });
      return;
    } catch (e) {
      // Stopping: the store may be gone; the entry stays for the next start.
      if (this.closed) return;
      const reason = e instanceof Error ? e.message : String(e);
      const code = e instanceof SubmissionError ? e.responseCode : 451;
      if (e instanceof SubmissionError && e.failure === 'refused') {
        // The gateway has told the user already (its own report); every copy of the message would be refused alike.
        const dropped = this.store.outbox.removeMessage(entry.userId, m.messageId);
        this.log({ level: 'warn', msg: 'outbox gave up', ...about, code, reason, copies: dropped });
        return;
      }
      const permanent = code >= 500 || (e instanceof SubmissionError && PERMANENT.has(e.failure));
      const now = this.now();
      if (!permanent && now - entry.createdAt < EXPIRY_MS) {
        const delay = this.delayAfter(entry.attempts);
        this.store.outbox.deferred(entry.id, now + delay, reason);
        this.log({ level: 'warn', msg: 'outbox deferred', ...about, code, reason, retryAt: new Date(now + delay).toISOString() });
        return;
      }
      const why = permanent ? reason : `still failing after ${Math.round((now - entry.createdAt) / 3_600_000)} hours: ${reason}`;
      try {
        await this.report(sender, entry, raw, permanent ? '5.0.0' : '4.4.7', `${code} ${why}`);
      } catch (reportError) {
        // The message is given up all the same: without its report rather than sent again and again.
        this.store.outbox.remove(entry.id);
        this.log({ level: 'error', msg: 'could not leave the non-delivery report', user: sender.address, error: reportError instanceof Error ? reportError.message : String(reportError) });
      }
      this.log({ level: 'warn', msg: 'outbox gave up', ...about, code, reason: why });
    }
  }

  private delayAfter(attempts: number): number {
    return RETRY_DELAYS_MS[Math.min(attempts, RETRY_DELAYS_MS.length - 1)]!;
  }

  /**
   * The user's non-delivery report (who did not get the message, and the last answer), stored in
   * the transaction that removes the entry. When it cannot be left (no Inbox), the caller removes
   * the entry all the same.
   */
  private async report(sender: { id: number; address: string }, entry: OutboxEntry, raw: Buffer, status: string, diagnostic: string): Promise<void> {
    const domain = this.store.domain();
    const ndr = buildDeliveryReport({
      sender: sender.address, domain, originalHeaders: headerBlock(raw), originalSubject: entry.message.subject, at: new Date(this.now()),
      explanation: [
        'The server could not send this message, which it sends for you (a meeting invitation, update or cancellation),',
        'to these recipients:',
        '',
        ...entry.message.rcptTo.map((r) => `  ${ascii(r)}`),
        '',
        `The last answer was: ${ascii(diagnostic).slice(0, 500)}`,
      ],
      failed: entry.message.rcptTo.map((address) => ({ address, status, diagnostic })),
      extraHeaders: [`X-EasMime-Outbox: ${entry.id}`],
    });
    await this.mailflow.toInbox(sender.id, ndr, () => this.store.outbox.remove(entry.id));
  }
}

/** A message as the user sends it: text, and the iCalendar beside it when there is one (Outlook's multipart/alternative). */
export async function composeUserMessage(sender: { address: string; displayName: string },
  m: { to: ReadonlyArray<{ email: string; name?: string }>; subject: string; text: string; calendar?: { method: string; content: string }; messageId?: string; date?: number }): Promise<Buffer> {
  return new MailComposer({
    from: { name: sender.displayName, address: sender.address },
    to: m.to.map((a) => (a.name ? { name: a.name, address: a.email } : a.email)),
    subject: m.subject, text: m.text,
    ...(m.messageId ? { messageId: m.messageId } : {}), ...(m.date !== undefined ? { date: new Date(m.date) } : {}),
    ...(m.calendar ? { icalEvent: { method: m.calendar.method, content: m.calendar.content } } : {}),
  }).compile().build();
}
