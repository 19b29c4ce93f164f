// What a meeting message does to its recipient's calendar, as Exchange does it on delivery: an
// invitation or update places the meeting (tentatively, until answered), a cancellation marks it
// canceled, and a reply records the attendee's answer on the organizer's item. Called inside the
// delivery's transaction, so the mail and the calendar change together or not at all.
import { PimDataError } from '../../eas/pim/items.js';
import { FolderType, type Mailbox, type StoredMeeting } from '../store/mailbox.js';
import { attendeeItem, isSeries, MeetingStatus, ResponseType, stateOf, unansweredBusy, withAttendeeAnswer, withException } from './calendar.js';

export interface CalendarChange {
  /** Folders whose content changed (for Ping and Sync). */
  folders: number[];
  /** What was done, for the delivery's log line. */
  outcome: 'placed' | 'updated' | 'outdated' | 'canceled' | 'occurrence-updated' | 'occurrence-canceled' | 'answer-recorded' | 'organizer-copy'
    | 'not-found' | 'no-calendar' | 'unreadable';
}

/** Applies a meeting message to one recipient's calendar; `body` is the invitation's text. */
export function applyToCalendar(mailbox: Mailbox, user: { id: number; address: string }, m: StoredMeeting, body: string): CalendarChange {
  const existing = mailbox.calendarItemByUid(user.id, m.uid);
  const isOrganizer = m.organizer?.email === user.address;
  if (m.method === 'REPLY') {
    // A reply counts only on the organizer's own item: one the user's device made, or one they organize.
    if (!existing) return { folders: [], outcome: 'not-found' };
    if (existing.meeting && existing.meeting.organizer?.email !== user.address) return { folders: [], outcome: 'not-found' };
    const answer = m.attendees[0];
    if (!answer) return { folders: [], outcome: 'unreadable' };
    try {
      const item = withAttendeeAnswer(existing.content, answer, answer.partstat as Parameters<typeof withAttendeeAnswer>[2]);
      mailbox.replaceItem(user.id, existing.id, item);
    } catch (e) {
      if (e instanceof PimDataError) return { folders: [], outcome: 'unreadable' };
      throw e;
    }
    return { folders: [existing.folderId], outcome: 'answer-recorded' };
  }
  // The organizer's copy of their own invitation (Sent Items, or a Bcc to themselves) changes nothing.
  if (isOrganizer) return { folders: [], outcome: 'organizer-copy' };
  const stored = existing?.meeting;
  // One occurrence of a series the calendar holds: that occurrence changes, the series stays.
  if (m.recurrenceId !== undefined && existing && isSeries(existing.content)) {
    const change = m.method === 'CANCEL'
      ? { originalStart: m.recurrenceId, deleted: true }
      : { originalStart: m.recurrenceId, deleted: false, start: m.start, end: m.end, summary: m.summary, location: m.location, busyStatus: unansweredBusy(m) };
    try {
      mailbox.replaceItem(user.id, existing.id, withException(existing.content, change));
    } catch (e) {
      if (e instanceof PimDataError) return { folders: [], outcome: 'unreadable' };
      throw e;
    }
    return { folders: [existing.folderId], outcome: m.method === 'CANCEL' ? 'occurrence-canceled' : 'occurrence-updated' };
  }
  if (stored && stored.sequence > m.sequence) return { folders: [], outcome: 'outdated' };
  if (m.method === 'CANCEL') {
    if (!existing) return { folders: [], outcome: 'not-found' };
    const was = stateOf(existing.content);
    const meeting = stored ? { ...stored, sequence: m.sequence } : m;
    mailbox.replaceItem(user.id, existing.id, attendeeItem(meeting, { responseType: was.responseType, busyStatus: 0, meetingStatus: MeetingStatus.CanceledReceived }, body));
    return { folders: [existing.folderId], outcome: 'canceled' };
  }
  // An update of the same sequence (a resend, a change of location only) keeps the answer given;
  // a new sequence asks again, as Outlook marks a rescheduled meeting unanswered.
  const kept = existing && stored && stored.sequence === m.sequence ? stateOf(existing.content) : undefined;
  const state = kept && kept.meetingStatus === MeetingStatus.Received
    ? { ...kept, busyStatus: kept.responseType === ResponseType.Accepted ? m.busyStatus : kept.busyStatus }
    : { responseType: ResponseType.NotResponded, busyStatus: unansweredBusy(m), meetingStatus: MeetingStatus.Received };
  const item = attendeeItem(m, state, body);
  if (existing) {
    mailbox.replaceItem(user.id, existing.id, item);
    return { folders: [existing.folderId], outcome: 'updated' };
  }
  const calendar = mailbox.folderByType(user.id, FolderType.Calendar);
  if (!calendar) return { folders: [], outcome: 'no-calendar' };
  mailbox.addItem(user.id, calendar.id, item);
  return { folders: [calendar.id], outcome: 'placed' };
}
