// The attendee's calendar item for a meeting, written as a device would sync it (MS-ASCAL
// ApplicationData), so every device of the user gets it through the same Sync path as items the
// user made; and the organizer's item, whose attendees' answers replies record.
import { truncateUtf8 } from '../../eas/email/render.js';
import { compactDate, decodePimData, encodePimData, exceptionOriginal, exceptionsElement, PROPOSAL_TAGS, putException, recurrenceElements } from '../../eas/pim/items.js';
import { child, childText, x, type WbxmlElement } from '../../eas/wbxml/tree.js';
import type { NewItem, StoredMeeting } from '../store/mailbox.js';
import { globalObjId } from './global-obj-id.js';
import type { Invitation, PartStat } from './invitation.js';

/** Most of the invitation's text kept in the calendar item, bytes. */
const MAX_BODY_BYTES = 32 * 1024;

/** MS-ASCAL ResponseType: what the attendee answered. */
export const ResponseType = { None: 0, Organizer: 1, Tentative: 2, Accepted: 3, Declined: 4, NotResponded: 5 } as const;

/** MS-ASCAL MeetingStatus for an attendee's copy: a meeting received, or one whose cancellation was received. */
export const MeetingStatus = { Received: 3, CanceledReceived: 7 } as const;

/** MS-ASCAL AttendeeStatus for each iCalendar PARTSTAT. */
const ATTENDEE_STATUS: Readonly<Record<PartStat, number>> = {
  'needs-action': 5, accepted: 3, tentative: 2, declined: 4, delegated: 0,
};

const ATTENDEE_TYPE = { required: 1, optional: 2, resource: 3 } as const;

/** What is kept of an invitation: all but its description (the mail's body) and the parse warnings. */
export function storedMeetingOf(inv: Invitation): StoredMeeting {
  // A COUNTER's DTSTART/DTEND are the proposal; the meeting's own time is Outlook's original, when written.
  const counter = inv.method === 'COUNTER';
  const start = counter ? inv.originalStart ?? inv.start : inv.start;
  const end = counter ? inv.originalEnd ?? inv.end : inv.end;
  return {
    method: inv.method, uid: inv.uid, sequence: inv.sequence, globalObjId: globalObjId(inv.uid),
    start, end, dtstamp: inv.dtstamp, allDay: inv.allDay, location: inv.location,
    ...(counter ? { proposedStart: inv.start, proposedEnd: inv.end } : {}),
    ...(inv.organizer ? { organizer: inv.organizer } : {}),
    ...(inv.recurrenceId !== undefined ? { recurrenceId: inv.recurrenceId } : {}),
    ...(inv.reminderMinutes !== undefined ? { reminderMinutes: inv.reminderMinutes } : {}),
    responseRequested: inv.responseRequested,
    ...(inv.recurrence ? { recurrence: inv.recurrence } : {}),
    sensitivity: inv.sensitivity, busyStatus: inv.busyStatus, timezone: inv.timezone,
    disallowNewTimeProposal: inv.disallowNewTimeProposal, summary: inv.summary, attendees: inv.attendees,
    ...(inv.exceptions.length ? { exceptions: inv.exceptions } : {}),
  };
}

export interface AttendeeState {
  responseType: number;
  busyStatus: number;
  meetingStatus: number;
}

/** The busy status an unanswered invitation shows: tentative, unless the meeting leaves its attendees free. */
export function unansweredBusy(m: StoredMeeting): number {
  return m.busyStatus === 0 ? 0 : 1;
}

/** The attendee's calendar item for a meeting, in the given state. `body` is the invitation's text. */
export function attendeeItem(m: StoredMeeting, state: AttendeeState, body: string): NewItem {
  const C = (name: string, ...content: Parameters<typeof x>[1][]): WbxmlElement => x(`Calendar:${name}`, ...content);
  const r = m.recurrence;
  // The invitation's text, not a whole message: the item must stay well inside MAX_ITEM_BYTES.
  const text = truncateUtf8(body.trimEnd(), MAX_BODY_BYTES).text;
  const subject = state.meetingStatus === MeetingStatus.CanceledReceived ? `Canceled: ${m.summary}` : m.summary;
  const data = x('AirSync:ApplicationData',
    C('Timezone', m.timezone),
    C('AllDayEvent', m.allDay ? 1 : 0),
    text !== '' && x('AirSyncBase:Body', x('AirSyncBase:Type', 1), x('AirSyncBase:Data', text)),
    C('BusyStatus', state.busyStatus),
    m.organizer && C('OrganizerName', m.organizer.name ?? m.organizer.email),
    m.organizer && C('OrganizerEmail', m.organizer.email),
    C('DtStamp', compactDate(m.dtstamp)),
    C('EndTime', compactDate(m.end)),
    m.location !== '' && C('Location', m.location),
    m.reminderMinutes !== undefined && C('Reminder', m.reminderMinutes),
    C('Sensitivity', m.sensitivity),
    C('Subject', subject),
    C('StartTime', compactDate(m.start)),
    C('UID', m.uid),
    C('MeetingStatus', state.meetingStatus),
    m.attendees.length > 0 && C('Attendees', m.attendees.map((a) => C('Attendee',
      C('Email', a.email), C('Name', a.name ?? a.email),
      C('AttendeeStatus', ATTENDEE_STATUS[a.partstat] ?? 0), C('AttendeeType', ATTENDEE_TYPE[a.type])))),
    r && C('Recurrence', recurrenceElements((name, value) => C(name, value), r)),
    // A changed occurrence shows as the meeting does to this attendee (tentative until answered).
    r && m.exceptions !== undefined && m.exceptions.length > 0 && C('Exceptions', m.exceptions.map((e) => exceptionElement({ ...e, busyStatus: state.busyStatus }))),
    C('ResponseRequested', m.responseRequested ? 1 : 0),
    C('ResponseType', state.responseType),
    m.disallowNewTimeProposal && C('DisallowNewTimeProposal', 1),
  );
  const encoded = encodePimData('Calendar', data);
  return { messageClass: 'IPM.Appointment', ...encoded, uid: m.uid, meeting: m };
}

/** The state an attendee's stored item is in (ResponseType, BusyStatus, MeetingStatus as stored). */
export function stateOf(content: Buffer): AttendeeState {
  const data = decodePimData(content);
  const num = (tag: string, fallback: number): number => {
    const v = Number(childText(data, `Calendar:${tag}`));
    return Number.isInteger(v) ? v : fallback;
  };
  return { responseType: num('ResponseType', ResponseType.NotResponded), busyStatus: num('BusyStatus', 1), meetingStatus: num('MeetingStatus', MeetingStatus.Received) };
}

/** What recording an attendee's answer on the organizer's item came to. */
export type AttendeeAnswer =
  | { kind: 'recorded'; item: ReturnType<typeof encodePimData>; proposal: boolean }
  /** The item does not list the attendee: a reply from someone not invited changes nothing. */
  | { kind: 'not-an-attendee' }
  /** The occurrence already has that answer from the series. */
  | { kind: 'unchanged' }
  /** MS-ASCAL allows 256 Exceptions; an answer that would need one more is not recorded. */
  | { kind: 'too-many-exceptions' };

/** A time an attendee proposes. */
type Proposal = { start: number; end: number };

/** MS-ASCAL's bound on Exception elements per item. */
const MAX_EXCEPTIONS = 256;

/**
 * The organizer's item with an attendee's answer recorded (Calendar AttendeeStatus) and, for a
 * counter-proposal, the time they proposed (MeetingResponse ProposedStartTime/EndTime, which 16.1
 * devices read on the Attendee), unless the item disallows new time proposals; a plain answer
 * withdraws an earlier proposal. Throws PimDataError when the result is not a valid item.
 */
export function withAttendeeAnswer(content: Buffer, attendee: { email: string }, partstat: PartStat, proposal?: Proposal): AttendeeAnswer {
  const data = decodePimData(content);
  const entry = attendeeEntry(data.children.find((c) => c.tag === 'Calendar:Attendees'), attendee.email);
  if (!entry) return { kind: 'not-an-attendee' };
  const taken = proposalTaken(data, proposal);
  answerOn(entry, partstat, taken, keepsStatus(partstat, proposal));
  return { kind: 'recorded', item: encodePimData('Calendar', data), proposal: taken !== undefined };
}

/** A counter-proposal that gives no answer (PARTSTAT left out) keeps the answer the attendee gave before. */
function keepsStatus(partstat: PartStat, proposal: Proposal | undefined): boolean {
  return proposal !== undefined && partstat === 'needs-action';
}

/**
 * The organizer's series with an attendee's answer for one occurrence (a REPLY or COUNTER with
 * RECURRENCE-ID): the occurrence's Exception (made when there is none) gets its own Attendees, the
 * series' list until then (MS-ASCAL: an Exception without Attendees has the series'), with the answer
 * on that attendee; the series' answer stays.
 */
export function withOccurrenceAttendeeAnswer(content: Buffer, instance: number, duration: number, attendee: { email: string }, partstat: PartStat,
  proposal?: Proposal): AttendeeAnswer {
  const data = decodePimData(content);
  const series = data.children.find((c) => c.tag === 'Calendar:Attendees');
  const inSeries = attendeeEntry(series, attendee.email);
  if (!series || !inSeries) return { kind: 'not-an-attendee' };
  const taken = proposalTaken(data, proposal);
  const list = exceptionsElement(data);
  let exception = list.children.find((c) => exceptionOriginal(c) === instance);
  if (!exception) {
    if (!taken && childText(inSeries, 'Calendar:AttendeeStatus') === String(ATTENDEE_STATUS[partstat])) return { kind: 'unchanged' };
    if (list.children.length >= MAX_EXCEPTIONS) return { kind: 'too-many-exceptions' };
    exception = exceptionElement({ originalStart: instance, deleted: false, start: instance, end: instance + duration });
    list.children.push(exception);
  }
  let own = exception.children.find((c) => c.tag === 'Calendar:Attendees');
  if (!own) {
    own = structuredClone(series);
    exception.children.push(own);
  }
  // An occurrence's own list that leaves the attendee out: they are not invited to it (mail does not
  // put anyone back; an attendee added to the series since the list was copied is left out too).
  const entry = attendeeEntry(own, attendee.email);
  if (!entry) return { kind: 'not-an-attendee' };
  answerOn(entry, partstat, taken, keepsStatus(partstat, proposal));
  return { kind: 'recorded', item: encodePimData('Calendar', data), proposal: taken !== undefined };
}

/**
 * The organizer's item without its attendees' proposed times (series and occurrences alike), or
 * undefined when it holds none. Takes the decoded item, which it changes.
 */
export function withoutProposals(data: WbxmlElement): ReturnType<typeof encodePimData> | undefined {
  let removed = false;
  const lists = [data, ...(child(data, 'Calendar:Exceptions')?.children ?? [])].map((e) => child(e, 'Calendar:Attendees'));
  for (const a of lists.flatMap((l) => l?.children ?? [])) {
    const kept = a.children.filter((c) => !PROPOSAL_TAGS.has(c.tag));
    if (kept.length !== a.children.length) {
      a.children = kept;
      removed = true;
    }
  }
  return removed ? encodePimData('Calendar', data) : undefined;
}

/** The proposal, unless the organizer's item disallows new time proposals (Outlook's option). */
function proposalTaken(data: WbxmlElement, proposal: Proposal | undefined): Proposal | undefined {
  return childText(data, 'Calendar:DisallowNewTimeProposal') === '1' ? undefined : proposal;
}

function attendeeEntry(list: WbxmlElement | undefined, email: string): WbxmlElement | undefined {
  return list?.children.find((a) => childText(a, 'Calendar:Email')?.trim().toLowerCase() === email);
}

/** Sets an Attendee's answer (or keeps the one it has), and its proposal or none. */
function answerOn(entry: WbxmlElement, partstat: PartStat, proposal: Proposal | undefined, keepStatus: boolean): void {
  // MS-ASCAL orders Email, Name, AttendeeStatus, AttendeeType, then the proposal.
  const kept = entry.children.filter((c) => !ANSWER_TAGS.has(c.tag) || (keepStatus && c.tag === 'Calendar:AttendeeStatus'));
  if (!keepStatus || !kept.some((c) => c.tag === 'Calendar:AttendeeStatus')) {
    const typeAt = kept.findIndex((c) => c.tag === 'Calendar:AttendeeType');
    kept.splice(typeAt < 0 ? kept.length : typeAt, 0, x('Calendar:AttendeeStatus', ATTENDEE_STATUS[partstat]));
  }
  if (proposal) kept.push(x('MeetingResponse:ProposedStartTime', compactDate(proposal.start)), x('MeetingResponse:ProposedEndTime', compactDate(proposal.end)));
  entry.children = kept;
}

const ANSWER_TAGS: ReadonlySet<string> = new Set(['Calendar:AttendeeStatus', ...PROPOSAL_TAGS]);

/**
 * An attendee's stored item in a new state, every other element as it was (a reminder or category a
 * device set stays). Throws PimDataError when the stored item is not a valid one.
 */
export function withState(content: Buffer, state: AttendeeState): ReturnType<typeof encodePimData> {
  const data = decodePimData(content);
  setChild(data, 'Calendar:BusyStatus', state.busyStatus);
  setChild(data, 'Calendar:MeetingStatus', state.meetingStatus);
  setChild(data, 'Calendar:ResponseType', state.responseType);
  // The answer covers the changed occurrences too.
  for (const e of data.children.find((c) => c.tag === 'Calendar:Exceptions')?.children ?? []) {
    const busy = e.children.find((c) => c.tag === 'Calendar:BusyStatus');
    if (busy) busy.text = String(state.busyStatus);
  }
  return encodePimData('Calendar', data);
}

type MeetingException = NonNullable<StoredMeeting['exceptions']>[number] & { responseType?: number };

/** An MS-ASCAL Exception: a removed occurrence, or what a changed one changes. */
function exceptionElement(e: MeetingException): WbxmlElement {
  const C = (name: string, ...content: Parameters<typeof x>[1][]): WbxmlElement => x(`Calendar:${name}`, ...content);
  return C('Exception',
    e.deleted && C('Deleted', 1),
    C('ExceptionStartTime', compactDate(e.originalStart)),
    !e.deleted && e.summary !== undefined && C('Subject', e.summary),
    !e.deleted && e.start !== undefined && C('StartTime', compactDate(e.start)),
    !e.deleted && e.end !== undefined && C('EndTime', compactDate(e.end)),
    !e.deleted && e.location !== undefined && C('Location', e.location),
    !e.deleted && e.busyStatus !== undefined && C('BusyStatus', e.busyStatus),
    !e.deleted && e.responseType !== undefined && C('ResponseType', e.responseType));
}

/**
 * A series item with one occurrence removed or changed (a cancellation or update of that occurrence
 * alone), replacing what the item said of it before. Throws PimDataError when the result is not a valid item.
 */
export function withException(content: Buffer, e: MeetingException): ReturnType<typeof encodePimData> {
  const data = decodePimData(content);
  putException(exceptionsElement(data), e.originalStart, exceptionElement(e));
  return encodePimData('Calendar', data);
}

/** Whether a stored calendar item is a series (has a Recurrence). */
export function isSeries(content: Buffer): boolean {
  try {
    return decodePimData(content).children.some((c) => c.tag === 'Calendar:Recurrence');
  } catch {
    return false;
  }
}

/**
 * A series item with the attendee's answer for one occurrence (MeetingResponse InstanceId): declined
 * removes it, accepted or tentative sets its busy status and response, keeping whatever else an
 * exception already changed for it. Throws PimDataError when the result is not a valid item.
 */
export function withOccurrenceAnswer(content: Buffer, instance: number, duration: number, state: AttendeeState | 'declined'): ReturnType<typeof encodePimData> {
  const data = decodePimData(content);
  const list = exceptionsElement(data);
  const existing = list.children.find((c) => exceptionOriginal(c) === instance);
  if (state === 'declined') {
    putException(list, instance, exceptionElement({ originalStart: instance, deleted: true }));
  } else if (!existing) {
    list.children.push(exceptionElement({ originalStart: instance, deleted: false, start: instance, end: instance + duration, busyStatus: state.busyStatus, responseType: state.responseType }));
  } else {
    setChild(existing, 'Calendar:BusyStatus', state.busyStatus);
    setChild(existing, 'Calendar:ResponseType', state.responseType);
  }
  return encodePimData('Calendar', data);
}

/** Sets a child's text, adding the child when it is missing. */
function setChild(parent: WbxmlElement, tag: string, value: number): void {
  const el = parent.children.find((c) => c.tag === tag);
  if (el) el.text = String(value);
  else parent.children.push(x(tag, value));
}
