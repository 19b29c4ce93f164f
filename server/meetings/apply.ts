// What a meeting message does to its recipient's calendar, as Exchange does it on delivery: an
// invitation or update places the meeting (tentatively, until answered), a cancellation marks it
// canceled, and a reply records the attendee's answer on the organizer's item (a counter-proposal,
// the time proposed too; an answer about one occurrence, on that occurrence). Called inside the
// delivery's transaction, so the mail and the calendar change together or not at all.
//
// Mail is easy to forge and a meeting's UID is known to everyone invited, so only its organizer may
// change or cancel a meeting once placed (the stored organizer, the mail's From), a user's own
// appointments are never changed by mail, and a reply counts only from an attendee the organizer invited.
import { PimDataError } from '../../eas/pim/items.js';
import { FolderType, type Mailbox, type StoredMeeting } from '../store/mailbox.js';
import { attendeeItem, isSeries, MeetingStatus, ResponseType, stateOf, unansweredBusy, withAttendeeAnswer, withException, withOccurrenceAttendeeAnswer } from './calendar.js';
import { seriesOccurrence } from './occurrences.js';

export interface CalendarChange {
  /** Folders whose content changed (for Ping and Sync). */
  folders: number[];
  /** What was done, for the delivery's log line. */
  outcome: 'placed' | 'updated' | 'outdated' | 'canceled' | 'occurrence-updated' | 'occurrence-canceled' | 'answer-recorded' | 'proposal-recorded' | 'organizer-copy'
    | 'not-found' | 'no-calendar' | 'unreadable' | 'not-the-organizer' | 'not-an-attendee' | 'too-many-exceptions';
}

const nothing = (outcome: CalendarChange['outcome']): CalendarChange => ({ folders: [], outcome });

/**
 * Applies a meeting message to one recipient's calendar; `body` is the invitation's text, `from` the
 * mail's From addresses. An item the result cannot be stored as leaves the calendar as it was.
 */
export function applyToCalendar(mailbox: Mailbox, user: { id: number; address: string }, m: StoredMeeting, body: string, from: readonly string[]): CalendarChange {
  try {
    return apply(mailbox, user, m, body, from);
  } catch (e) {
    if (e instanceof PimDataError) return nothing('unreadable');
    throw e;
  }
}

function apply(mailbox: Mailbox, user: { id: number; address: string }, m: StoredMeeting, body: string, from: readonly string[]): CalendarChange {
  const existing = mailbox.calendarItemByUid(user.id, m.uid);
  if (m.method === 'REPLY' || m.method === 'COUNTER') {
    // A reply or counter-proposal counts only on the organizer's own item: one the user's device
    // made, or one they organize; and only from the attendee who sent it (a COUNTER may list others).
    if (!existing) return nothing('not-found');
    if (existing.meeting && existing.meeting.organizer?.email !== user.address) return nothing('not-found');
    if (m.attendees.length === 0) return nothing('unreadable');
    const answer = m.attendees.find((a) => from.includes(a.email));
    if (!answer) return nothing('not-an-attendee');
    const proposal = m.method === 'COUNTER' && m.proposedStart !== undefined && m.proposedEnd !== undefined ? { start: m.proposedStart, end: m.proposedEnd } : undefined;
    let result;
    if (m.recurrenceId !== undefined && isSeries(existing.content)) {
      // An answer about one occurrence is that occurrence's, not the series'.
      const occurrence = seriesOccurrence(existing.content, m.recurrenceId);
      if (!occurrence) return nothing('not-found');
      result = withOccurrenceAttendeeAnswer(existing.content, m.recurrenceId, occurrence.duration, answer, answer.partstat, proposal);
    } else {
      result = withAttendeeAnswer(existing.content, answer, answer.partstat, proposal);
    }
    if (result.kind === 'unchanged') return nothing('answer-recorded');
    if (result.kind !== 'recorded') return nothing(result.kind);
    mailbox.replaceItem(user.id, existing.id, result.item);
    return { folders: [existing.folderId], outcome: result.proposal ? 'proposal-recorded' : 'answer-recorded' };
  }
  // The organizer's copy of their own invitation (Sent Items, or a Bcc to themselves) changes nothing.
  if (m.organizer?.email === user.address) return nothing('organizer-copy');
  const stored = existing?.meeting;
  if (existing) {
    // The user's own appointment (no invitation made it), or one someone else organizes.
    if (!stored || !stored.organizer || stored.organizer.email === user.address) return nothing('not-the-organizer');
    if (m.organizer?.email !== stored.organizer.email || !from.includes(stored.organizer.email)) return nothing('not-the-organizer');
  }
  // One occurrence of a series the calendar holds: that occurrence changes, the series stays.
  if (m.recurrenceId !== undefined && existing && isSeries(existing.content)) {
    const change = m.method === 'CANCEL'
      ? { originalStart: m.recurrenceId, deleted: true }
      : { originalStart: m.recurrenceId, deleted: false, start: m.start, end: m.end, summary: m.summary, location: m.location, busyStatus: unansweredBusy(m) };
    mailbox.replaceItem(user.id, existing.id, withException(existing.content, change));
    return { folders: [existing.folderId], outcome: m.method === 'CANCEL' ? 'occurrence-canceled' : 'occurrence-updated' };
  }
  // RFC 5546 2.1.5: a higher SEQUENCE is newer; at the same SEQUENCE, a later DTSTAMP.
  if (stored && (stored.sequence > m.sequence || (stored.sequence === m.sequence && stored.dtstamp > m.dtstamp))) return nothing('outdated');
  if (m.method === 'CANCEL') {
    if (!existing) return nothing('not-found');
    const was = stateOf(existing.content);
    mailbox.replaceItem(user.id, existing.id, attendeeItem({ ...stored!, sequence: m.sequence, dtstamp: m.dtstamp },
      { responseType: was.responseType, busyStatus: 0, meetingStatus: MeetingStatus.CanceledReceived }, body));
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
  if (!calendar) return nothing('no-calendar');
  mailbox.addItem(user.id, calendar.id, item);
  return { folders: [calendar.id], outcome: 'placed' };
}
