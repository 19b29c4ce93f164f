// A meeting as its organizer's 16.x device describes it in a calendar item, and what the server owes
// its attendees when that item is added, changed or deleted. From 16.0 the device no longer mails
// invitations itself: Exchange sends them (and updates and cancellations) when such an item changes,
// for every occurrence unless the device names one (KB 3205555). Before 16.0 the device sends them
// with SendMail and the server sends nothing.
import { parseEasDate, readException, readRecurrence } from '../../eas/pim/items.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { roughHtmlToText } from '../mail/text.js';
import type { StoredMeeting } from '../store/mailbox.js';
import { globalObjId } from './global-obj-id.js';

export interface OrganizedMeeting {
  meeting: StoredMeeting;
  /** MeetingStatus says the organizer canceled it. */
  canceled: boolean;
  /** The item's body as text, for the invitation's DESCRIPTION and the mail. */
  description: string;
}

/**
 * The meeting an item organizes: MeetingStatus 1, 5, 9 or 13 (a meeting, not received: MS-ASCAL
 * 2.2.2.29) with at least one attendee, organized by `organizer` (or naming no organizer). Undefined
 * for an appointment, a received meeting, or an item without readable times.
 */
export function organizedMeeting(data: WbxmlElement, organizer: { email: string; name: string }, uid: string, sequence: number): OrganizedMeeting | undefined {
  const text = (name: string): string | undefined => childText(data, `Calendar:${name}`)?.trim();
  const num = (name: string): number | undefined => {
    const v = Number(text(name));
    return text(name) !== undefined && text(name) !== '' && Number.isInteger(v) ? v : undefined;
  };
  const status = num('MeetingStatus') ?? 0;
  if ((status & 1) === 0 || (status & 2) !== 0) return undefined;
  const named = text('OrganizerEmail')?.toLowerCase();
  if (named && named !== organizer.email) return undefined;
  const start = parseEasDate(text('StartTime'));
  const end = parseEasDate(text('EndTime'));
  if (start === undefined || end === undefined || end < start) return undefined;
  const attendees = childrenOf(child(data, 'Calendar:Attendees'), 'Calendar:Attendee').flatMap((a) => {
    const email = childText(a, 'Calendar:Email')?.trim().toLowerCase() ?? '';
    if (!/^[^\s@]+@[^\s@]+$/.test(email) || email === organizer.email) return [];
    const name = childText(a, 'Calendar:Name')?.trim();
    const kind = Number(childText(a, 'Calendar:AttendeeType'));
    const type = kind === 2 ? 'optional' as const : kind === 3 ? 'resource' as const : 'required' as const;
    return [{ email, ...(name && name !== email ? { name } : {}), type, partstat: 'needs-action' as const, rsvp: true }];
  });
  if (attendees.length === 0) return undefined;
  const busy = num('BusyStatus') ?? 2;
  const sensitivity = num('Sensitivity') ?? 0;
  const reminder = num('Reminder');
  const recurrence = readRecurrence(child(data, 'Calendar:Recurrence'));
  const exceptions = recurrence ? exceptionsOf(child(data, 'Calendar:Exceptions'), end - start) : [];
  const location = locationOf(data) ?? '';
  const meeting: StoredMeeting = {
    method: 'REQUEST', uid, sequence, globalObjId: globalObjId(uid),
    start, end, dtstamp: Date.now(), allDay: text('AllDayEvent') === '1', location,
    organizer: { email: organizer.email, name: organizer.name },
    ...(reminder !== undefined && reminder >= 0 ? { reminderMinutes: reminder } : {}),
    responseRequested: text('ResponseRequested') !== '0',
    ...(recurrence ? { recurrence } : {}),
    sensitivity: sensitivity >= 0 && sensitivity <= 3 ? sensitivity : 0,
    busyStatus: busy >= 0 && busy <= 4 ? busy : 2,
    timezone: text('Timezone') ?? '', disallowNewTimeProposal: text('DisallowNewTimeProposal') === '1',
    summary: text('Subject') ?? '', attendees,
    ...(exceptions.length ? { exceptions } : {}),
  };
  return { meeting, canceled: (status & 4) !== 0, description: bodyText(data) };
}

/** Whether attendees must be asked again: the time, place, subject or pattern moved. */
export function significantlyChanged(before: StoredMeeting, after: StoredMeeting): boolean {
  const key = (m: StoredMeeting): string => JSON.stringify([m.start, m.end, m.allDay, m.location, m.summary, m.recurrence ?? null]);
  return key(before) !== key(after);
}

type MeetingException = NonNullable<StoredMeeting['exceptions']>[number];

/**
 * The series' exceptions as an invitation carries them (EXDATE, and a VEVENT per changed occurrence).
 * One that changes nothing of its occurrence (it holds only attendees' answers to it) is left out.
 */
function exceptionsOf(list: WbxmlElement | undefined, duration: number): MeetingException[] {
  const out: MeetingException[] = [];
  for (const e of list?.children ?? []) {
    if (out.length >= 1000) break;
    const read = exceptionOf(e);
    if (!read) continue;
    const same = !read.deleted && read.summary === undefined && read.location === undefined
      && (read.start ?? read.originalStart) === read.originalStart && (read.end === undefined || read.end === read.originalStart + duration);
    if (!same) out.push(read);
  }
  return out;
}

/** One Exception of an organizer's series: removed, or what it changes; undefined when it names no occurrence. */
export function exceptionOf(e: WbxmlElement): MeetingException | undefined {
  const read = readException(e);
  if (!read) return undefined;
  if (read.deleted) return { originalStart: read.original, deleted: true };
  const summary = childText(e, 'Calendar:Subject')?.trim();
  const location = locationOf(e);
  return {
    originalStart: read.original, deleted: false, ...(read.start !== undefined ? { start: read.start } : {}), ...(read.end !== undefined ? { end: read.end } : {}),
    ...(summary !== undefined ? { summary } : {}), ...(location !== undefined ? { location } : {}),
  };
}

/** An item's or exception's location, in either version's form (eas/pim/versions.ts). */
function locationOf(el: WbxmlElement): string | undefined {
  return (childText(el, 'Calendar:Location') ?? childText(child(el, 'AirSyncBase:Location'), 'AirSyncBase:DisplayName'))?.trim();
}

function bodyText(data: WbxmlElement): string {
  const body = child(data, 'AirSyncBase:Body');
  const content = childText(body, 'AirSyncBase:Data') ?? childText(data, 'Calendar:Body') ?? '';
  return childText(body, 'AirSyncBase:Type') === '2' ? roughHtmlToText(content) : content;
}
