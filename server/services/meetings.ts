// The MeetingPort over the store and the mail flow. An answer is recorded as Exchange records it:
// accepted or tentative puts the meeting on the calendar in that state (created if the invitation's
// item is gone), declined takes it off, and the invitation mail moves to Deleted Items. The answer
// reaches the organizer only when the client asks the server to send it (16.x SendResponse); older
// clients send their own.
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Principal } from '../../eas/backend.js';
import type { MeetingAnswer, MeetingPort, MeetingResponseOutcome, MeetingResponseRequest } from '../../eas/ports/meetings.js';
import { PimDataError } from '../../eas/pim/items.js';
import { attendeeItem, MeetingStatus, ResponseType, withState } from '../meetings/calendar.js';
import { composeReply } from '../meetings/reply.js';
import { SubmissionError } from '../mailflow.js';
import { FolderType, type StoredMeeting } from '../store/mailbox.js';
import type { ServiceDeps } from './deps.js';

const RESPONSE_TYPE: Readonly<Record<MeetingAnswer, number>> = {
  accepted: ResponseType.Accepted, tentative: ResponseType.Tentative, declined: ResponseType.Declined,
};

const SUBJECT_PREFIX: Readonly<Record<MeetingAnswer, string>> = { accepted: 'Accepted', tentative: 'Tentative', declined: 'Declined' };

export class MeetingService implements MeetingPort {
  constructor(private readonly deps: ServiceDeps) {}

  async respond(p: Principal, req: MeetingResponseRequest): Promise<MeetingResponseOutcome> {
    const invalid = (reason: string): MeetingResponseOutcome => ({ kind: 'invalid', reason });
    const { mailbox } = this.deps.store;
    const item = mailbox.message(p.userId, req.itemId);
    if (!item || item.folderId !== req.folderId) return invalid(`no item ${req.folderId}:${req.itemId} in this mailbox`);
    const meeting = item.meeting;
    if (!meeting) return invalid('the item is not a meeting invitation');
    const fromCalendar = item.messageClass === 'IPM.Appointment';
    if (!fromCalendar && meeting.method !== 'REQUEST') return invalid(`a meeting ${meeting.method === 'CANCEL' ? 'cancellation' : 'reply'} cannot be answered`);
    if (meeting.organizer?.email === p.address) return invalid('the user organizes this meeting');

    const busy = req.answer === 'accepted' ? meeting.busyStatus : req.answer === 'tentative' ? Math.min(meeting.busyStatus, 1) : 0;
    const state = { responseType: RESPONSE_TYPE[req.answer], busyStatus: busy, meetingStatus: MeetingStatus.Received };
    let calendarItem: { folderId: number; itemId: number } | undefined;
    const folders: number[] = [];
    try {
      this.deps.store.db.transaction(() => {
        const existing = fromCalendar ? { id: item.id, folderId: item.folderId } : mailbox.calendarItemByUid(p.userId, meeting.uid);
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
        if (!fromCalendar) {
          const deleted = mailbox.folderByType(p.userId, FolderType.DeletedItems);
          if (deleted && deleted.id !== item.folderId && mailbox.moveMessage(p.userId, item.id, deleted.id)) folders.push(item.folderId, deleted.id);
        }
      })();
    } catch (e) {
      if (e instanceof PimDataError) return { kind: 'mailbox-error', reason: e.message };
      throw e;
    }
    this.deps.events.changed(folders);
    this.deps.log({ msg: 'meeting answered', user: p.address, uid: meeting.uid, answer: req.answer, sendResponse: req.sendResponse !== undefined });
    if (req.sendResponse && meeting.organizer) {
      const sent = await this.sendAnswer(p, meeting, req.answer, req.sendResponse.text);
      if (sent) return { kind: 'send-failed', reason: sent };
    }
    return { kind: 'answered', ...(calendarItem ? { calendarItem } : {}) };
  }

  /** Sends the iCalendar REPLY to the organizer through the mail flow (Sent Items keeps a copy); the failure's reason, if any. */
  private async sendAnswer(p: Principal, meeting: StoredMeeting, answer: MeetingAnswer, text: string): Promise<string | undefined> {
    const organizer = meeting.organizer!;
    const ics = composeReply(meeting, { email: p.address, name: p.displayName }, answer, text || undefined);
    const mime = await new MailComposer({
      from: { name: p.displayName, address: p.address },
      to: organizer.name ? { name: organizer.name, address: organizer.email } : organizer.email,
      subject: `${SUBJECT_PREFIX[answer]}: ${meeting.summary}`,
      text: text || `${p.displayName} has ${answer === 'tentative' ? 'tentatively accepted' : answer} this meeting.`,
      icalEvent: { method: 'REPLY', content: ics },
    }).compile().build();
    try {
      await this.deps.mailflow.submit(mime, {
        sender: { id: p.userId, address: p.address, displayName: p.displayName }, origin: 'eas', saveInSent: true, rewriteFrom: true,
      });
      return undefined;
    } catch (e) {
      if (e instanceof SubmissionError) {
        this.deps.log({ level: 'warn', msg: 'meeting answer not sent', user: p.address, uid: meeting.uid, reason: e.message });
        return e.message;
      }
      throw e;
    }
  }
}
