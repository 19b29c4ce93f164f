// The iCalendar the server writes (RFC 5546): the REPLY an attendee's answer is sent as (a COUNTER
// when it proposes another time), and the REQUEST or CANCEL it sends for a 16.x organizer. Written
// by ical.js, then refolded because ical.js's folding does not keep to RFC 5545's line limit.
// Times go out in UTC, which every reader converts; only a series in a zone with daylight saving
// needs its zone written (a VTIMEZONE built from its TIME_ZONE_INFORMATION, see composeRequest).
import ICAL from 'ical.js';
import { clean, CONTROLS, wallTime, WEEKDAYS, type Component, type Property } from './ical-values.js';
import type { Invitation } from './invitation.js';
import { rruleOf } from './recurrence.js';
import { utcToWall, zoneRules } from './occurrences.js';
import { compactDate } from '../../eas/pim/items.js';
import type { StoredMeeting } from '../store/mailbox.js';

const REPLY_PREFIX = { accepted: 'Accepted: ', tentative: 'Tentative: ', declined: 'Declined: ' } as const;

/** What a reply repeats of the invitation: an Invitation, or what the server kept of one. */
export type ReplySource = Pick<Invitation, 'uid' | 'sequence' | 'start' | 'end' | 'allDay' | 'recurrenceId' | 'summary' | 'organizer'>
  & { attendees: ReadonlyArray<{ email: string; name?: string }> };

/** When an event message says the event is: its DTSTART and DTEND, as dates or as date-times. */
interface When { start: number; end: number; allDay: boolean }

/**
 * A VCALENDAR with METHOD and one VEVENT carrying the event's identity and times (`when`, the
 * event's own by default); RECURRENCE-ID takes the form of the event's own DTSTART (RFC 5545 3.8.4.4).
 */
function scheduling(method: string, inv: ReplySource, when: When = inv): { cal: Component; ev: Component } {
  const cal = new ICAL.Component(['vcalendar', [], []]);
  cal.addPropertyWithValue('prodid', '-//easmime//EN');
  cal.addPropertyWithValue('version', '2.0');
  cal.addPropertyWithValue('method', method);
  const ev = new ICAL.Component('vevent');
  cal.addSubcomponent(ev);
  const at = (ms: number, date: boolean): InstanceType<typeof ICAL.Time> => {
    const d = new Date(ms);
    return date
      ? ICAL.Time.fromData({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), isDate: true })
      : ICAL.Time.fromJSDate(d, true);
  };
  ev.addPropertyWithValue('uid', inv.uid);
  ev.addPropertyWithValue('sequence', inv.sequence);
  ev.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(), true));
  ev.addPropertyWithValue('dtstart', at(when.start, when.allDay));
  ev.addPropertyWithValue('dtend', at(when.end, when.allDay));
  if (inv.recurrenceId !== undefined) ev.addPropertyWithValue('recurrence-id', at(inv.recurrenceId, inv.allDay));
  return { cal, ev };
}

export function composeReply(inv: ReplySource, attendee: { email: string; name?: string }, partstat: 'accepted' | 'tentative' | 'declined', comment?: string): string {
  return fold(answering('REPLY', inv, REPLY_PREFIX[partstat] + clean(inv.summary), attendee, partstat, comment).cal.toString());
}

/**
 * A counter-proposal (RFC 5546 3.2.7 COUNTER) as Outlook writes one: the proposed time as DTSTART
 * and DTEND, the meeting's own time as X-MS-OLK-ORIGINALSTART/-END (which Outlook and this server
 * read back), the attendee with their answer.
 */
export function composeCounter(inv: ReplySource, attendee: { email: string; name?: string }, partstat: 'accepted' | 'tentative' | 'declined',
  proposal: { start: number; end: number }, comment?: string): string {
  // A time proposed for an all-day meeting need not be a whole day: date-times, as Outlook writes them.
  const { cal, ev } = answering('COUNTER', inv, clean(inv.summary), attendee, partstat, comment, { ...proposal, allDay: false });
  ev.addPropertyWithValue('x-ms-olk-originalstart', compactDate(inv.start));
  ev.addPropertyWithValue('x-ms-olk-originalend', compactDate(inv.end));
  return fold(cal.toString());
}

/** The event an attendee's answer sends back: the organizer, the attendee with their PARTSTAT, their comment. */
function answering(method: 'REPLY' | 'COUNTER', inv: ReplySource, summary: string, attendee: { email: string; name?: string },
  partstat: 'accepted' | 'tentative' | 'declined', comment: string | undefined, when: When = inv): { cal: Component; ev: Component } {
  const { cal, ev } = scheduling(method, inv, when);
  ev.addPropertyWithValue('summary', summary);
  if (inv.organizer) addressProperty(ev, 'organizer', inv.organizer.email, inv.organizer.name);
  const email = attendee.email.trim().toLowerCase();
  const name = attendee.name ?? inv.attendees.find((a) => a.email === email)?.name;
  addressProperty(ev, 'attendee', email, name).setParameter('partstat', partstat.toUpperCase());
  if (comment) ev.addPropertyWithValue('comment', plainText(comment));
  return { cal, ev };
}

/** What an invitation the server sends for an organizer says of the meeting (see server/meetings/organizer.ts). */
export type RequestSource = ReplySource & Pick<StoredMeeting, 'location' | 'busyStatus' | 'sensitivity' | 'reminderMinutes' | 'recurrence' | 'responseRequested' | 'exceptions'>
  & { timezone?: string }
  & { attendees: ReadonlyArray<{ email: string; name?: string; type: 'required' | 'optional' | 'resource' }> };

const BUSY_NAMES = ['FREE', 'TENTATIVE', 'BUSY', 'OOF', 'WORKINGELSEWHERE'];
const CLASS_NAMES = ['PUBLIC', 'PRIVATE', 'PRIVATE', 'CONFIDENTIAL'];

/**
 * A REQUEST (to every attendee given) or CANCEL, as Exchange writes them: an unanswered copy shows
 * tentative (BUSYSTATUS) and an accepted one what the organizer chose (INTENDEDSTATUS).
 */
export function composeRequest(m: RequestSource, method: 'REQUEST' | 'CANCEL', description: string, attendees = m.attendees): string {
  const { cal, ev } = scheduling(method, m);
  if (m.recurrence && !m.allDay) inZone(cal, ev, m);
  ev.addPropertyWithValue('summary', clean(m.summary));
  if (m.location !== '') ev.addPropertyWithValue('location', clean(m.location));
  const text = plainText(description);
  if (text !== '') ev.addPropertyWithValue('description', text);
  if (m.organizer) addressProperty(ev, 'organizer', m.organizer.email, m.organizer.name);
  for (const a of attendees) {
    const p = addressProperty(ev, 'attendee', a.email, a.name);
    if (a.type === 'resource') p.setParameter('cutype', 'RESOURCE');
    p.setParameter('role', a.type === 'optional' ? 'OPT-PARTICIPANT' : a.type === 'resource' ? 'NON-PARTICIPANT' : 'REQ-PARTICIPANT');
    p.setParameter('partstat', 'NEEDS-ACTION');
    p.setParameter('rsvp', m.responseRequested ? 'TRUE' : 'FALSE');
  }
  if (m.recurrence) ev.addPropertyWithValue('rrule', ICAL.Recur.fromString(rruleOf(m.recurrence)));
  ev.addPropertyWithValue('class', CLASS_NAMES[m.sensitivity] ?? 'PUBLIC');
  ev.addPropertyWithValue('transp', m.busyStatus === 0 ? 'TRANSPARENT' : 'OPAQUE');
  ev.addPropertyWithValue('status', method === 'CANCEL' ? 'CANCELLED' : 'CONFIRMED');
  ev.addPropertyWithValue('x-microsoft-cdo-busystatus', method === 'CANCEL' ? 'FREE' : m.busyStatus === 0 ? 'FREE' : 'TENTATIVE');
  ev.addPropertyWithValue('x-microsoft-cdo-intendedstatus', BUSY_NAMES[m.busyStatus] ?? 'BUSY');
  if (method === 'REQUEST' && m.reminderMinutes !== undefined) {
    const alarm = new ICAL.Component('valarm');
    alarm.addPropertyWithValue('action', 'DISPLAY');
    alarm.addPropertyWithValue('description', 'Reminder');
    alarm.addPropertyWithValue('trigger', ICAL.Duration.fromSeconds(-60 * m.reminderMinutes));
    ev.addSubcomponent(alarm);
  }
  if (method === 'REQUEST' && m.recurrence) withExceptions(cal, ev, m, attendees);
  return fold(cal.toString());
}

/** A series' removed occurrences as EXDATE, each changed one as a VEVENT of its own with its RECURRENCE-ID (RFC 5545 3.8.4.4). */
function withExceptions(cal: Component, ev: Component, m: RequestSource, attendees: RequestSource['attendees']): void {
  const utc = (ms: number): InstanceType<typeof ICAL.Time> => ICAL.Time.fromJSDate(new Date(ms), true);
  for (const e of m.exceptions ?? []) {
    if (e.deleted) {
      ev.addPropertyWithValue('exdate', utc(e.originalStart));
      continue;
    }
    const occurrence = new ICAL.Component('vevent');
    occurrence.addPropertyWithValue('uid', m.uid);
    occurrence.addPropertyWithValue('sequence', m.sequence);
    occurrence.addPropertyWithValue('dtstamp', utc(Date.now()));
    occurrence.addPropertyWithValue('recurrence-id', utc(e.originalStart));
    const start = e.start ?? e.originalStart;
    occurrence.addPropertyWithValue('dtstart', utc(start));
    occurrence.addPropertyWithValue('dtend', utc(e.end ?? start + (m.end - m.start)));
    occurrence.addPropertyWithValue('summary', clean(e.summary ?? m.summary));
    const location = e.location ?? m.location;
    if (location !== '') occurrence.addPropertyWithValue('location', clean(location));
    if (m.organizer) addressProperty(occurrence, 'organizer', m.organizer.email, m.organizer.name);
    for (const a of attendees) addressProperty(occurrence, 'attendee', a.email, a.name).setParameter('partstat', 'NEEDS-ACTION');
    cal.addSubcomponent(occurrence);
  }
}

/**
 * A series repeats in its wall-clock time (RFC 5545 expands RRULE in DTSTART's zone): in UTC a weekly
 * 10:00 Berlin meeting would show at 11:00 half the year. When the item's TIME_ZONE_INFORMATION has
 * daylight saving, the start and end are written in that zone, with a VTIMEZONE of its two yearly rules.
 */
function inZone(cal: Component, ev: Component, m: RequestSource): void {
  const z = zoneRules(m.timezone);
  if (!z.standard || !z.daylight) return;
  const tzid = clean(z.name).trim() || `UTC${-(z.bias + z.standardBias) >= 0 ? '+' : '-'}${Math.abs(z.bias + z.standardBias)}min`;
  const offset = (minutes: number): InstanceType<typeof ICAL.UtcOffset> => ICAL.UtcOffset.fromSeconds(minutes * 60);
  const standard = -(z.bias + z.standardBias);
  const daylight = -(z.bias + z.daylightBias);
  const zone = new ICAL.Component('vtimezone');
  zone.addPropertyWithValue('tzid', tzid);
  for (const [kind, t, from, to, name] of [['standard', z.standard, daylight, standard, z.name], ['daylight', z.daylight, standard, daylight, z.daylightName]] as const) {
    const sub = new ICAL.Component(kind);
    if (clean(name).trim()) sub.addPropertyWithValue('tzname', clean(name).trim());
    sub.addPropertyWithValue('dtstart', ICAL.Time.fromData({ year: 1601, month: 1, day: 1, hour: t.hour, minute: t.minute, second: 0, isDate: false }));
    sub.addPropertyWithValue('tzoffsetfrom', offset(from));
    sub.addPropertyWithValue('tzoffsetto', offset(to));
    sub.addPropertyWithValue('rrule', ICAL.Recur.fromString(`FREQ=YEARLY;BYDAY=${t.week >= 5 ? -1 : t.week}${WEEKDAYS[t.dayOfWeek]};BYMONTH=${t.month}`));
    zone.addSubcomponent(sub);
  }
  // Zones come before the events that use them, as Outlook and Google write them.
  cal.removeSubcomponent(ev);
  cal.addSubcomponent(zone);
  cal.addSubcomponent(ev);
  for (const [name, at] of [['dtstart', m.start], ['dtend', m.end]] as const) {
    ev.removeProperty(name);
    ev.addPropertyWithValue(name, wallTime(utcToWall(z, at))).setParameter('tzid', tzid);
  }
}

/** A device's or user's text as an iCalendar TEXT value holds it: LF line ends, no control characters. */
function plainText(s: string): string {
  return s.replace(/\r\n?/g, '\n').replace(CONTROLS, '');
}

function addressProperty(ev: Component, name: string, email: string, cn: string | undefined): Property {
  const p = ev.addPropertyWithValue(name, `mailto:${clean(email)}`);
  const n = cn === undefined ? '' : clean(cn).trim();
  if (n) p.setParameter('cn', n);
  return p;
}

/**
 * RFC 5545 3.1: lines of at most 75 octets, continuation lines starting with a space, never inside
 * a UTF-8 sequence, each line ending in CRLF. ical.js folds continuation lines at 76, so refold.
 */
function fold(text: string): string {
  return text.replace(/\r\n[ \t]/g, '').split('\r\n').map((line) => {
    let out = '';
    let octets = 0;
    for (const ch of line) {
      const n = Buffer.byteLength(ch, 'utf8');
      if (octets + n > 75) {
        out += '\r\n ';
        octets = 1;
      }
      out += ch;
      octets += n;
    }
    return out;
  }).join('\r\n') + '\r\n';
}
