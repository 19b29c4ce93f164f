// The MeetingPort over the store and the mail flow. An answer is recorded as Exchange records it:
// accepted or tentative puts the meeting on the calendar in that state (created if the invitation's
// item is gone), declined takes it off, and the invitation mail moves to Deleted Items. The answer
// reaches the organizer only when the client asks the server to send it (16.x SendResponse); older
// clients send their own.
import type { Principal } from '../../eas/backend.js';
import type { MeetingAnswer, MeetingPort, MeetingResponseOutcome, MeetingResponseRequest } from '../../eas/ports/meetings.js';
import { attendeeItem, isSeries, MeetingStatus, ResponseType, withOccurrenceAnswer, withoutProposals, withState } from '../meetings/calendar.js';
import { seriesOccurrence } from '../meetings/occurrences.js';
import { composeCounter, composeReply, composeRequest } from '../meetings/outgoing.js';
import { exceptionOf, organizedMeeting, significantlyChanged } from '../meetings/organizer.js';
import { globalObjId } from '../meetings/global-obj-id.js';
import { decodePimData, encodePimData, exceptionOriginal, PimDataError } from '../../eas/pim/items.js';
import { child, childText, x } from '../../eas/wbxml/tree.js';
import { randomUUID } from 'node:crypto';
import { FolderType, type StoredMeeting } from '../store/mailbox.js';
import type { ServiceDeps } from './deps.js';
import type { LogEvent } from '../log.js';
import { composeUserMessage } from '../outbound/outbox.js';

const RESPONSE_TYPE: Readonly<Record<MeetingAnswer, number>> = {
  accepted: ResponseType.Accepted, tentative: ResponseType.Tentative, declined: ResponseType.Declined,
};

const SUBJECT_PREFIX: Readonly<Record<MeetingAnswer, string>> = { accepted: 'Accepted', tentative: 'Tentative', declined: 'Declined' };

const KIND_OF_MESSAGE: Readonly<Record<StoredMeeting['method'], string>> = {
  REQUEST: 'request', CANCEL: 'cancellation', REPLY: 'reply', COUNTER: 'counter-proposal',
};

/** The proposed start, for the log line of an answer that proposes one. */
function proposalLog(req: MeetingResponseRequest): { proposedStart?: string } {
  const proposal = req.sendResponse?.proposal;
  return proposal ? { proposedStart: new Date(proposal.start).toISOString() } : {};
}

export class MeetingService implements MeetingPort {
  /** Log lines of meeting mail queued in a transaction not yet committed (see settled). */
  private queuedLines: LogEvent[] = [];

  constructor(private readonly deps: ServiceDeps) {}

  /**
   * The transaction that queued meeting mail has ended: committed, its lines are logged; rolled
   * back, they are dropped (nothing was queued).
   */
  settled(committed: boolean): void {
    const lines = this.queuedLines;
    this.queuedLines = [];
    if (committed) for (const line of lines) this.deps.log(line);
  }

  async respond(p: Principal, req: MeetingResponseRequest): Promise<MeetingResponseOutcome> {
    const invalid = (reason: string): MeetingResponseOutcome => ({ kind: 'invalid', reason });
    const { mailbox } = this.deps.store;
    const item = mailbox.message(p.userId, req.itemId);
    if (!item || item.folderId !== req.folderId) return invalid(`no item ${req.folderId}:${req.itemId} in this mailbox`);
    const meeting = item.meeting;
    if (!meeting) return invalid('the item is not a meeting invitation');
    const fromCalendar = item.messageClass === 'IPM.Appointment';
    if (!fromCalendar && meeting.method !== 'REQUEST') return invalid(`a meeting ${KIND_OF_MESSAGE[meeting.method]} cannot be answered`);
    if (meeting.organizer?.email === p.address) return invalid('the user organizes this meeting');
    // Outlook's "do not allow new time proposals" (X-MICROSOFT-DISALLOW-COUNTER), as Exchange keeps to it.
    if (req.sendResponse?.proposal && meeting.disallowNewTimeProposal) return invalid('the organizer does not allow new time proposals for this meeting');

    const busy = req.answer === 'accepted' ? meeting.busyStatus : req.answer === 'tentative' ? Math.min(meeting.busyStatus, 1) : 0;
    const state = { responseType: RESPONSE_TYPE[req.answer], busyStatus: busy, meetingStatus: MeetingStatus.Received };
    if (req.instance !== undefined) {
      // MS-ASCMD: an occurrence is named on the calendar item, never on the invitation mail.
      if (!fromCalendar) return invalid('InstanceId names an occurrence of a calendar item, not of an invitation mail');
      return this.respondToOccurrence(p, item.id, item.folderId, meeting, { ...req, instance: req.instance }, state);
    }
    // The calendar item an invitation mail answers: one the same organizer's invitations made. An
    // item of the user's own, or another organizer's, that shares the UID is not for mail to touch.
    const placed = fromCalendar ? undefined : mailbox.calendarItemByUid(p.userId, meeting.uid);
    if (placed && placed.meeting?.organizer?.email !== meeting.organizer?.email) return invalid('the calendar holds another meeting with this UID');
    if (!fromCalendar && meeting.recurrenceId !== undefined) {
      // An invitation to one occurrence of a series the calendar holds answers that occurrence alone.
      const series = placed;
      if (series && isSeries(series.content)) {
        const outcome = await this.respondToOccurrence(p, series.id, series.folderId, meeting, { ...req, instance: meeting.recurrenceId }, state);
        if (outcome.kind === 'answered' || outcome.kind === 'send-failed') this.toDeletedItems(p, item.id, item.folderId);
        return outcome;
      }
    }
    let calendarItem: { folderId: number; itemId: number } | undefined;
    const folders: number[] = [];
    try {
      this.deps.store.db.transaction(() => {
        const existing = fromCalendar ? { id: item.id, folderId: item.folderId } : placed;
        if (req.answer === 'declined') {
          if (existing && mailbox.deleteMessage(p.userId, existing.id)) folders.push(existing.folderId);
        } else if (existing) {
          const content = mailbox.raw(p.userId, existing.id);
          if (!content) throw new PimDataError('the calendar item has no content');
          mailbox.replaceItem(p.userId, existing.id, withState(content, state));
          folders.push(existing.folderId);
          calendarItem = { folderId: existing.folderId, itemId: existing.id };
        } else {
          const calendar = mailbox.folderByType(p.userId, FolderType.Calendar);
          if (!calendar) throw new PimDataError('the mailbox has no Calendar folder');
          const added = mailbox.addItem(p.userId, calendar.id, attendeeItem(meeting, state, item.text));
          folders.push(calendar.id);
          calendarItem = { folderId: calendar.id, itemId: added.id };
        }
      })();
      if (!fromCalendar) this.toDeletedItems(p, item.id, item.folderId);
    } catch (e) {
      if (e instanceof PimDataError) return { kind: 'mailbox-error', reason: e.message };
      throw e;
    }
    this.deps.events.changed(folders);
    return this.answered(p, meeting, req, { kind: 'answered', ...(calendarItem ? { calendarItem } : {}) });
  }

  /**
   * After an answer is recorded: the log line and, when the client asked (16.x SendResponse), the
   * answer sent to the organizer; `meeting` is what the answer is about (the occurrence, for one).
   */
  private async answered(p: Principal, meeting: StoredMeeting, req: MeetingResponseRequest, outcome: MeetingResponseOutcome): Promise<MeetingResponseOutcome> {
    this.deps.log({
      msg: 'meeting answered', user: p.address, uid: meeting.uid, answer: req.answer,
      ...(req.instance !== undefined ? { instance: new Date(req.instance).toISOString() } : {}), sendResponse: req.sendResponse !== undefined, ...proposalLog(req),
    });
    if (req.sendResponse && meeting.organizer) {
      const sent = await this.sendAnswer(p, meeting, req.answer, req.sendResponse);
      if (sent) return { kind: 'send-failed', reason: sent };
    }
    return outcome;
  }

  /** The answered invitation mail goes to Deleted Items, as Exchange moves it. */
  private toDeletedItems(p: Principal, id: number, folderId: number): void {
    const { mailbox } = this.deps.store;
    const deleted = mailbox.folderByType(p.userId, FolderType.DeletedItems);
    if (deleted && deleted.id !== folderId && mailbox.moveMessage(p.userId, id, deleted.id)) this.deps.events.changed([folderId, deleted.id]);
  }

  /** An answer for one occurrence of a series the user's calendar holds. */
  private async respondToOccurrence(p: Principal, id: number, folderId: number, meeting: StoredMeeting, req: MeetingResponseRequest & { instance: number },
    state: { responseType: number; busyStatus: number; meetingStatus: number }): Promise<MeetingResponseOutcome> {
    const { mailbox } = this.deps.store;
    const content = mailbox.raw(p.userId, id);
    const occurrence = content && seriesOccurrence(content, req.instance);
    if (!content || !occurrence) return { kind: 'invalid', reason: `no occurrence of a series at ${new Date(req.instance).toISOString()}` };
    const { duration, changed } = occurrence;
    try {
      mailbox.replaceItem(p.userId, id, withOccurrenceAnswer(content, req.instance, duration, req.answer === 'declined' ? 'declined' : state));
    } catch (e) {
      if (e instanceof PimDataError) return { kind: 'mailbox-error', reason: e.message };
      throw e;
    }
    this.deps.events.changed([folderId]);
    const start = changed?.start ?? req.instance;
    const about = { ...meeting, recurrenceId: req.instance, start, end: changed?.end ?? start + duration };
    return this.answered(p, about, req, { kind: 'answered', ...(req.answer === 'declined' ? {} : { calendarItem: { folderId, itemId: id } }) });
  }

  /** The meeting an organizer's item last sent to its attendees (undefined when it sent none). */
  organizedBefore(p: Principal, id: number): StoredMeeting | undefined {
    const m = this.deps.store.mailbox.message(p.userId, id)?.meeting;
    return m && m.organizer?.email === p.address ? m : undefined;
  }

  /**
   * After a 16.x device stored an item: the invitations, updates or cancellations its attendees are
   * owed, compared with what they were last sent. Queued in the outbox, in the caller's transaction,
   * and sent from there after the Sync has been answered, as Exchange sends them.
   */
  organizerChanged(p: Principal, id: number, before: StoredMeeting | undefined): void {
    const { mailbox } = this.deps.store;
    const raw = mailbox.raw(p.userId, id);
    if (!raw) return;
    let data;
    try {
      data = decodePimData(raw);
    } catch {
      return;
    }
    const organizer = { email: p.address, name: p.displayName };
    let uid = childText(data, 'Calendar:UID')?.trim() || before?.uid;
    const now = organizedMeeting(data, organizer, uid ?? '', before?.sequence ?? 0);
    if (!now) {
      if (before && before.method !== 'CANCEL') this.cancel(p, id, before, before.attendees);
      return;
    }
    if (!uid) {
      // 16.x devices send ClientUid, not UID: the server names the meeting, and the device learns it at its next Sync.
      uid = randomUUID().replace(/-/g, '').toUpperCase();
      data.children.push(x('Calendar:UID', uid));
      mailbox.replaceItem(p.userId, id, encodePimData('Calendar', data));
      const folder = mailbox.folderOfMessage(p.userId, id);
      if (folder !== undefined) this.deps.events.changed([folder]);
      now.meeting.uid = uid;
      now.meeting.globalObjId = globalObjId(uid);
    }
    const m = now.meeting;
    if (now.canceled) {
      if (before && before.method !== 'CANCEL') this.cancel(p, id, m, m.attendees);
      return;
    }
    const sent = before && before.method !== 'CANCEL' ? before : undefined;
    const removed = sent ? sent.attendees.filter((a) => !m.attendees.some((b) => b.email === a.email)) : [];
    let to = m.attendees;
    if (!sent) m.sequence = before ? before.sequence + 1 : 0;
    else if (significantlyChanged(sent, m)) m.sequence = sent.sequence + 1;
    else to = m.attendees.filter((a) => !sent.attendees.some((b) => b.email === a.email));
    if (sent && (sent.start !== m.start || sent.end !== m.end)) {
      // A new time answers the proposals made for the old one (the organizer took one, or none).
      const cleared = withoutProposals(data);
      if (cleared) mailbox.replaceItem(p.userId, id, cleared);
    }
    mailbox.setMeeting(p.userId, id, m);
    if (removed.length) this.send(p, m, 'CANCEL', removed, '');
    if (to.length) this.send(p, m, 'REQUEST', to, now.description);
  }

  /**
   * After a 16.x organizer changed or deleted one occurrence: its attendees get an update of that
   * occurrence (REQUEST with RECURRENCE-ID) or its cancellation, and the series stays as it was sent.
   */
  organizerOccurrenceChanged(p: Principal, id: number, before: StoredMeeting | undefined, occurrence: { instance: number; deleted: boolean }): void {
    if (!before || before.method === 'CANCEL') return;
    const raw = this.deps.store.mailbox.raw(p.userId, id);
    let data;
    try {
      data = raw && decodePimData(raw);
    } catch {
      return;
    }
    if (!data) return;
    const exception = child(data, 'Calendar:Exceptions')?.children.find((e) => exceptionOriginal(e) === occurrence.instance);
    const changed = exception && exceptionOf(exception);
    const start = changed?.start ?? occurrence.instance;
    const m: StoredMeeting = {
      ...before, sequence: before.sequence + 1, recurrenceId: occurrence.instance, start, end: changed?.end ?? start + (before.end - before.start),
      summary: changed?.summary ?? before.summary, location: changed?.location ?? before.location,
    };
    delete m.recurrence;
    delete m.exceptions;
    this.deps.store.mailbox.setMeeting(p.userId, id, { ...before, sequence: m.sequence });
    this.send(p, m, occurrence.deleted ? 'CANCEL' : 'REQUEST', before.attendees, '');
  }

  /** The organizer deleted the meeting's item: its attendees are told it is canceled. */
  organizerCanceled(p: Principal, before: StoredMeeting): void {
    if (before.method !== 'CANCEL') this.send(p, { ...before, sequence: before.sequence + 1 }, 'CANCEL', before.attendees, '');
  }

  private cancel(p: Principal, id: number, m: StoredMeeting, attendees: StoredMeeting['attendees']): void {
    const canceled: StoredMeeting = { ...m, method: 'CANCEL', sequence: m.sequence + 1 };
    this.deps.store.mailbox.setMeeting(p.userId, id, canceled);
    this.send(p, canceled, 'CANCEL', attendees, '');
  }

  /** Queues the meeting mail its attendees are owed, in the transaction of the change that owes it (see server/outbound/outbox.ts). */
  private send(p: Principal, m: StoredMeeting, method: 'REQUEST' | 'CANCEL', attendees: StoredMeeting['attendees'], description: string): void {
    this.deps.outbox.enqueue(p.userId, {
      to: attendees.map((a) => ({ email: a.email, ...(a.name ? { name: a.name } : {}) })),
      subject: method === 'CANCEL' ? `Canceled: ${m.summary}` : m.summary,
      text: description || (method === 'CANCEL' ? 'This meeting has been canceled.' : m.summary),
      calendar: { method, content: composeRequest(m, method, description, attendees) },
      thread: m.uid,
    });
    this.queuedLines.push({ msg: 'meeting mail queued', user: p.address, uid: m.uid, method, sequence: m.sequence, to: attendees.map((a) => a.email).join(',') });
  }

  /**
   * Sends the answer to the organizer through the mail flow (Sent Items keeps a copy): an iCalendar
   * REPLY or, when it proposes another time, a COUNTER ("New Time Proposed", as Outlook titles it).
   * The failure's reason, if any.
   */
  private async sendAnswer(p: Principal, meeting: StoredMeeting, answer: MeetingAnswer, send: NonNullable<MeetingResponseRequest['sendResponse']>): Promise<string | undefined> {
    const organizer = meeting.organizer!;
    const { text, proposal } = send;
    const attendee = { email: p.address, name: p.displayName };
    const proposed = proposal && { start: proposal.start, end: proposal.end ?? proposal.start + (meeting.end - meeting.start) };
    try {
      if (proposed) {
        await this.mail(p, [organizer], `New Time Proposed: ${meeting.summary}`,
          text || `${p.displayName} proposes ${new Date(proposed.start).toISOString()} to ${new Date(proposed.end).toISOString()} for this meeting.`,
          'COUNTER', composeCounter(meeting, attendee, answer, proposed, text || undefined));
      } else {
        await this.mail(p, [organizer], `${SUBJECT_PREFIX[answer]}: ${meeting.summary}`,
          text || `${p.displayName} has ${answer === 'tentative' ? 'tentatively accepted' : answer} this meeting.`,
          'REPLY', composeReply(meeting, attendee, answer, text || undefined));
      }
      return undefined;
    } catch (e) {
      // The answer is recorded already: whatever stopped the mail, the client hears Status 4 and may retry.
      const reason = e instanceof Error ? e.message : String(e);
      this.deps.log({ level: 'warn', msg: 'meeting answer not sent', user: p.address, uid: meeting.uid, reason });
      return reason;
    }
  }

  /** A scheduling message (the iCalendar beside its text) from the user, through the mail flow, with a copy in Sent Items. */
  private async mail(p: Principal, to: ReadonlyArray<{ email: string; name?: string }>, subject: string, text: string, method: string, ics: string): Promise<void> {
    const mime = await composeUserMessage(p, { to, subject, text, calendar: { method, content: ics } });
    await this.deps.mailflow.submit(mime, {
      sender: { id: p.userId, address: p.address, displayName: p.displayName }, origin: 'eas', saveInSent: true, rewriteFrom: true,
    });
  }
}
