// Meeting invitations, cancellations and replies as mail carries them: an iCalendar (RFC 5545/5546)
// text/calendar part, read with ical.js into what EAS needs (MS-ASEMAIL MeetingRequest, MS-ASCAL).
//
// The text comes from anyone who can send mail, so everything is bounded: the size before parsing,
// the component tree right after, and the one costly thing ical.js does later, expanding a VTIMEZONE's
// transitions year by year, is only allowed for the yearly rules real calendars use and within a budget.
import ICAL from 'ical.js';
import {
  clean, CONTROLS, cutUtf8, errorMessage, short, validWall, wallMs, wallStamp, type Component, type Property, type Recur, type Wall,
} from './ical-values.js';
import { easRecurrence, type EasRecurrence } from './recurrence.js';
import {
  intlFormat, intlOffset, intlWallOffset, offsetMinutes, ruleStillRuns, timezoneBlob, transition, transitionRule, UTC_BLOB, zoneRuleProblem,
} from './timezone.js';

/** COUNTER is an attendee's reply that proposes another time (RFC 5546 3.2.7). */
export type MeetingMethod = 'REQUEST' | 'CANCEL' | 'REPLY' | 'COUNTER';

export type PartStat = 'needs-action' | 'accepted' | 'tentative' | 'declined' | 'delegated';

export interface InvitationAttendee {
  /** Lower-case address from the mailto: URI. */
  email: string;
  name?: string;
  /** ROLE: REQ-PARTICIPANT/CHAIR -> required, OPT-PARTICIPANT/NON-PARTICIPANT -> optional, CUTYPE=RESOURCE/ROOM -> resource. */
  type: 'required' | 'optional' | 'resource';
  partstat: PartStat;
  rsvp: boolean;
}

export interface Invitation {
  method: MeetingMethod;
  uid: string;
  sequence: number;
  /** DTSTAMP, ms since the epoch; the parse time when absent. */
  dtstamp: number;
  /** Start and end as ms since the epoch (UTC); an all-day event starts at 00:00 UTC of its date. */
  start: number;
  end: number;
  allDay: boolean;
  summary: string;
  location: string;
  description: string;
  organizer?: { email: string; name?: string };
  attendees: InvitationAttendee[];
  /** Calendar BusyStatus an accepted meeting shows: X-MICROSOFT-CDO-INTENDEDSTATUS, else -BUSYSTATUS, else TRANSP (OPAQUE 2, TRANSPARENT 0). */
  busyStatus: 0 | 1 | 2 | 3 | 4;
  /** CLASS: PUBLIC 0, PRIVATE 2, CONFIDENTIAL 3. */
  sensitivity: 0 | 1 | 2 | 3;
  /** Minutes before the start, from the first VALARM's relative TRIGGER. */
  reminderMinutes?: number;
  recurrence?: EasRecurrence;
  /** RECURRENCE-ID: the one occurrence this message is about, ms since the epoch. */
  recurrenceId?: number;
  /** EAS TIME_ZONE_INFORMATION (172 bytes), base64, of the event's start. */
  timezone: string;
  /** Some attendee has RSVP=TRUE (RFC 5545: RSVP defaults to FALSE). */
  responseRequested: boolean;
  /** A series' removed (EXDATE, a cancelled occurrence) and changed occurrences, by original start; [] for a single event. */
  exceptions: InvitationException[];
  /** X-MICROSOFT-DISALLOW-COUNTER:TRUE. */
  disallowNewTimeProposal: boolean;
  /**
   * A COUNTER's start and end are the time proposed; these are the meeting's time as it was, from
   * Outlook's X-MS-OLK-ORIGINALSTART/-ORIGINALEND (absent when the proposer did not write them).
   */
  originalStart?: number;
  originalEnd?: number;
  /** What could not be kept (an RRULE EAS cannot express, an unknown TZID read as UTC, ...). */
  warnings: string[];
}

/** One occurrence of a series that is not as the rule makes it (MS-ASCAL Exception). */
export interface InvitationException {
  /** The start the rule gives it (RECURRENCE-ID or EXDATE), ms since the epoch. */
  originalStart: number;
  deleted: boolean;
  start?: number;
  end?: number;
  summary?: string;
  location?: string;
  busyStatus?: 0 | 1 | 2 | 3 | 4;
}

export class InvitationError extends Error {}

/** Largest iCalendar text read, bytes. */
export const MAX_ICALENDAR_BYTES = 256 * 1024;

// Far above what Outlook, Google or Apple send (a master with its exceptions, one zone per TZID),
// low enough that nothing after the parse is costly.
const MAX_VEVENTS = 100;
const MAX_VTIMEZONES = 50;
const MAX_COMPONENTS = 1000;
const MAX_DEPTH = 8;
const MAX_PROPERTIES = 20_000;
const MAX_ATTENDEES = 1000;
const MAX_EXCEPTIONS = 1000;
const MAX_TEXT_BYTES = 64 * 1024;
/** Years of VTIMEZONE rules ical.js may expand per parse (about 25 µs each); Outlook's zones, which start in 1601, need about 860. */
const ZONE_EXPANSION_BUDGET = 4000;

type Timezone = InstanceType<typeof ICAL.Timezone>;

type Zone =
  | { kind: 'utc' }
  | { kind: 'floating' }
  /** A TZID read as UTC; the warning was given when it was resolved. */
  | { kind: 'unknown'; tzid: string }
  | { kind: 'vtimezone'; tzid: string; comp: Component; tz: Timezone; ruleStartYears: number[]; expandedTo: number }
  | { kind: 'intl'; tzid: string; fmt: Intl.DateTimeFormat };

interface When { wall: Wall; date: boolean; zone: Zone }

const UTC: Zone = { kind: 'utc' };
const FLOATING: Zone = { kind: 'floating' };
const DAY_MS = 86_400_000;
// jCal forms ical.js gives a DATE or DATE-TIME; "T::" is what it makes of a DATE written without VALUE=DATE.
const JCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(Z)?|T::)?$/;
const UTC_OFFSET = /^[+-]\d{2}:\d{2}(?::\d{2})?$/;

export function parseInvitation(ics: string): Invitation {
  if (typeof ics !== 'string') throw new InvitationError('the iCalendar text is not a string');
  const bytes = Buffer.byteLength(ics, 'utf8');
  if (bytes > MAX_ICALENDAR_BYTES) throw new InvitationError(`the iCalendar text is ${bytes} bytes, over the limit of ${MAX_ICALENDAR_BYTES}`);
  try {
    return new Reader(ics).read();
  } catch (e) {
    // ical.js reports bad values lazily, as plain Errors or TypeErrors; callers get one error type.
    if (e instanceof InvitationError) throw e;
    throw new InvitationError(`malformed iCalendar: ${short(errorMessage(e))}`);
  }
}

class Reader {
  private readonly warnings: string[] = [];
  private readonly zones = new Map<string, Zone>();
  private budget = ZONE_EXPANSION_BUDGET;
  private cal!: Component;

  constructor(private readonly ics: string) {}

  read(): Invitation {
    let jcal: unknown;
    try {
      // A byte order mark survives decoding the MIME part, and ical.js would take it for part of a name.
      jcal = ICAL.parse(this.ics.replace(/^\uFEFF/, ''));
    } catch (e) {
      // ical.js's parser stumbles into a TypeError on a line outside any component (after END:VCALENDAR, say).
      const why = e instanceof TypeError ? 'a line outside any BEGIN/END component' : short(errorMessage(e));
      throw new InvitationError(`unparseable iCalendar: ${why}`);
    }
    const roots: unknown[] = isJcalComponent(jcal) ? [jcal] : Array.isArray(jcal) ? jcal : [];
    const root = roots.find((r) => isJcalComponent(r) && r[0] === 'vcalendar');
    if (!root) throw new InvitationError('no VCALENDAR component');
    checkTree(root);
    this.cal = new ICAL.Component(root as unknown[]);

    const method = upper(this.cal, 'method');
    if (!method) throw new InvitationError('METHOD is missing');
    if (method !== 'REQUEST' && method !== 'CANCEL' && method !== 'REPLY' && method !== 'COUNTER') {
      throw new InvitationError(`METHOD "${short(method)}" is not REQUEST, CANCEL, REPLY or COUNTER`);
    }

    const events = this.cal.getAllSubcomponents('vevent');
    if (!events.length) throw new InvitationError('no VEVENT component');
    // The series (master) when there is one; its changed occurrences become its exceptions.
    const ev = events.find((e) => !e.hasProperty('recurrence-id')) ?? events[0]!;

    const uid = textOf(ev, 'uid').trim();
    if (!uid) throw new InvitationError('VEVENT has no UID');
    const occurrences = ev.hasProperty('recurrence-id') ? [] : events.filter((e) => e !== ev && e.hasProperty('recurrence-id') && textOf(e, 'uid').trim() === uid);
    const strays = events.length - 1 - occurrences.length;
    if (strays > 0) this.warn(`${strays} other VEVENT(s) left out: EAS takes one event per message`);
    const attendeeProps = ev.getAllProperties('attendee');
    if (attendeeProps.length > MAX_ATTENDEES) {
      throw new InvitationError(`${attendeeProps.length} ATTENDEE properties, over the limit of ${MAX_ATTENDEES}`);
    }

    const startProp = ev.getFirstProperty('dtstart');
    if (!startProp && method !== 'REPLY') throw new InvitationError(`${method} without DTSTART`);
    const startWhen = startProp ? this.when(startProp, 'DTSTART') : undefined;
    const allDay = startWhen?.date ?? false;
    if (!startWhen) this.warn('REPLY without DTSTART: start and end are 0');
    const { ms: start, offset: startOffset } = startWhen ? this.toMs(startWhen, 'DTSTART') : { ms: 0, offset: 0 };
    const end = startWhen ? this.endOf(ev, start, allDay) : 0;

    const attendees = attendeeProps.flatMap((p) => this.attendee(p));
    const organizerProp = ev.getFirstProperty('organizer');
    const organizer = organizerProp ? this.address(organizerProp, 'ORGANIZER') : undefined;
    const recurrenceIdProp = ev.getFirstProperty('recurrence-id');
    const stampProp = ev.getFirstProperty('dtstamp');
    const recurrence = startWhen ? this.recurrence(ev, startWhen, allDay) : undefined;
    const exceptions = recurrence ? this.exceptions(ev, occurrences, allDay) : [];
    const original = method === 'COUNTER' ? this.originalTimes(ev) : undefined;
    if (!recurrence && occurrences.length) this.warn(`${occurrences.length} changed occurrence(s) of a series EAS cannot hold left out`);

    return {
      method,
      uid,
      sequence: sequenceOf(ev),
      dtstamp: stampProp ? this.toMs(this.when(stampProp, 'DTSTAMP'), 'DTSTAMP').ms : Date.now(),
      start,
      end,
      allDay,
      summary: this.text(ev, 'summary'),
      location: this.text(ev, 'location'),
      description: this.text(ev, 'description'),
      ...(organizer ? { organizer } : {}),
      attendees,
      busyStatus: busyStatusOf(ev),
      sensitivity: sensitivityOf(ev),
      ...optional('reminderMinutes', reminderOf(ev)),
      ...optional('recurrence', recurrence),
      ...optional('recurrenceId', recurrenceIdProp ? this.toMs(this.when(recurrenceIdProp, 'RECURRENCE-ID'), 'RECURRENCE-ID').ms : undefined),
      timezone: startWhen && !allDay ? this.timezone(startWhen, start, startOffset) : UTC_BLOB,
      responseRequested: attendees.some((a) => a.rsvp),
      exceptions,
      disallowNewTimeProposal: upper(ev, 'x-microsoft-disallow-counter') === 'TRUE',
      ...original,
      warnings: this.warnings,
    };
  }

  /** Outlook's record, in a COUNTER, of when the meeting was before the proposal; both or neither. */
  private originalTimes(ev: Component): { originalStart: number; originalEnd: number } | undefined {
    const startProp = ev.getFirstProperty('x-ms-olk-originalstart');
    const endProp = ev.getFirstProperty('x-ms-olk-originalend');
    if (!startProp || !endProp) return undefined;
    // ical.js keeps an X- property's value as the text it was (basic format); its TZID still applies.
    const read = (p: Property, what: string): number | undefined => {
      const raw = clean(rawText(p)).trim();
      const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(raw);
      const jcal = m && (m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}` : `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}`);
      try {
        return this.toMs(this.reading(jcal ?? raw, param(p, 'tzid'), what), what).ms;
      } catch (e) {
        // A vendor's extra: what it cannot say leaves the proposal as it is.
        if (!(e instanceof InvitationError)) throw e;
        this.warn(`${e.message}; left out`);
        return undefined;
      }
    };
    const originalStart = read(startProp, 'X-MS-OLK-ORIGINALSTART');
    const originalEnd = read(endProp, 'X-MS-OLK-ORIGINALEND');
    if (originalStart === undefined || originalEnd === undefined) return undefined;
    if (!(originalEnd >= originalStart)) {
      this.warn('X-MS-OLK-ORIGINALEND is before X-MS-OLK-ORIGINALSTART; left out');
      return undefined;
    }
    return { originalStart, originalEnd };
  }

  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  private endOf(ev: Component, start: number, allDay: boolean): number {
    const endProp = ev.getFirstProperty('dtend');
    let end: number;
    if (endProp) {
      end = this.toMs(this.when(endProp, 'DTEND'), 'DTEND').ms;
    } else if (ev.hasProperty('duration')) {
      end = start + decoded<InstanceType<typeof ICAL.Duration>>(ev.getFirstProperty('duration')!, 'DURATION').toSeconds() * 1000;
    } else {
      // RFC 5545 3.6.1: a DATE start alone lasts the day, a DATE-TIME start alone takes no time.
      end = allDay ? start + DAY_MS : start;
    }
    if (!(end >= start)) {
      this.warn('the event ends before it starts; read as ending at its start');
      end = start;
    }
    return end;
  }

  private text(comp: Component, name: string): string {
    const value = textOf(comp, name).replace(CONTROLS, '');
    const cut = cutUtf8(value, MAX_TEXT_BYTES);
    if (cut.length < value.length) this.warn(`${name.toUpperCase()} cut to ${MAX_TEXT_BYTES} bytes`);
    return cut;
  }

  private attendee(p: Property): InvitationAttendee[] {
    const who = this.address(p, 'ATTENDEE');
    if (!who) return [];
    const cutype = (param(p, 'cutype') ?? '').toUpperCase();
    const role = (param(p, 'role') ?? '').toUpperCase();
    const type = cutype === 'RESOURCE' || cutype === 'ROOM' ? 'resource'
      : role === 'OPT-PARTICIPANT' || role === 'NON-PARTICIPANT' ? 'optional' : 'required';
    const ps = (param(p, 'partstat') ?? '').toLowerCase();
    const partstat: PartStat = (['accepted', 'tentative', 'declined', 'delegated'] as const).find((s) => s === ps) ?? 'needs-action';
    return [{ ...who, type, partstat, rsvp: (param(p, 'rsvp') ?? '').toUpperCase() === 'TRUE' }];
  }

  /** The mailto: address, else Apple's EMAIL parameter (its value may be a urn:uuid:). */
  private address(p: Property, what: string): { email: string; name?: string } | undefined {
    const value = clean(rawText(p)).trim();
    const raw = /^mailto:/i.test(value) ? value.slice(7) : param(p, 'email') ?? (value.includes('@') && !value.includes(':') ? value : '');
    const email = clean(raw).trim().toLowerCase();
    if (!email) {
      this.warn(`${what} "${short(value)}" has no e-mail address; left out`);
      return undefined;
    }
    const name = clean(param(p, 'cn') ?? '').trim().replace(/^"(.*)"$/s, '$1').trim();
    return name ? { email, name } : { email };
  }

  /** The property's value (`index` 3, or a later one of a list such as EXDATE's) as a reading. */
  private when(p: Property, what: string, index = 3): When {
    return this.reading(p.jCal[index], param(p, 'tzid'), what);
  }

  /** A jCal DATE or DATE-TIME value in the zone `tzid` names (UTC when it ends in Z, floating without a TZID). */
  private reading(raw: unknown, tzid: string | undefined, what: string): When {
    const m = typeof raw === 'string' ? JCAL_TIME.exec(raw) : null;
    const wall = m ? { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +(m[4] ?? 0), mi: +(m[5] ?? 0), s: +(m[6] ?? 0) } : undefined;
    if (!m || !wall || !validWall(wall)) {
      // Back from ical.js's jCal form to what the text said.
      const written = String(raw).replace(/[-:]/g, '').replace(/T$/, '');
      throw new InvitationError(`${what}: "${short(written)}" is not a date or date-time`);
    }
    wall.s = Math.min(wall.s, 59); // a leap second
    const date = m[4] === undefined;
    return { wall, date, zone: date || m[7] ? UTC : tzid ? this.zone(tzid) : FLOATING };
  }

  /** UTC ms of a reading, and the zone's offset from UTC then, minutes. */
  private toMs(w: When, what: string): { ms: number; offset: number } {
    const local = wallMs(w.wall);
    const z = w.zone;
    switch (z.kind) {
      case 'utc':
      case 'unknown':
        return { ms: local, offset: 0 };
      case 'floating':
        this.warn(`${what} is a floating time (no TZID); read as UTC`);
        return { ms: local, offset: 0 };
      case 'intl': {
        const offset = intlWallOffset(z.fmt, local);
        return { ms: local - offset * 60_000, offset };
      }
      case 'vtimezone': {
        // ical.js expands every rule from its DTSTART to max(year, this year) + 5; pay for that first.
        const target = Math.max(w.wall.y, new Date().getUTCFullYear()) + ICAL.Timezone.EXTRA_COVERAGE;
        if (target > z.expandedTo) {
          const cost = z.ruleStartYears.reduce((sum, y) => sum + Math.max(0, target - y + 1), 0);
          if (cost > this.budget) {
            this.warn(`VTIMEZONE "${short(z.tzid)}" would need ${cost} years of rules expanded for ${what}; read as UTC`);
            return { ms: local, offset: 0 };
          }
          this.budget -= cost;
          z.expandedTo = target;
        }
        const t = new ICAL.Time({ year: w.wall.y, month: w.wall.mo, day: w.wall.d, hour: w.wall.h, minute: w.wall.mi, second: w.wall.s, isDate: false }, z.tz);
        const offset = Math.round(z.tz.utcOffset(t) / 60);
        return { ms: local - offset * 60_000, offset };
      }
    }
  }

  /** The zone a TZID names: the calendar's VTIMEZONE, else an IANA name Intl knows, else UTC with a warning. */
  private zone(tzid: string): Zone {
    let z = this.zones.get(tzid);
    if (z) return z;
    const comp = this.cal.getAllSubcomponents('vtimezone').find((c) => textOf(c, 'tzid') === tzid);
    const problem = comp ? zoneProblem(comp) : undefined;
    if (comp && !problem) {
      const ruleStartYears = comp.getAllSubcomponents().filter((s) => s.hasProperty('rrule')).map((s) => (s.getFirstProperty('dtstart')!.getFirstValue() as InstanceType<typeof ICAL.Time>).year);
      z = { kind: 'vtimezone', tzid, comp, tz: new ICAL.Timezone({ component: comp, tzid }), ruleStartYears, expandedTo: -Infinity };
    } else {
      const fmt = intlFormat(tzid);
      if (fmt) z = { kind: 'intl', tzid, fmt };
      else z = { kind: 'unknown', tzid };
      const how = fmt ? 'read with the IANA zone of that name' : 'read as UTC';
      if (problem) this.warn(`VTIMEZONE "${short(tzid)}": ${problem}; ${how}`);
      else if (!fmt) this.warn(`TZID "${short(tzid)}" has no VTIMEZONE and is not an IANA time zone; read as UTC`);
    }
    this.zones.set(tzid, z);
    return z;
  }

  /**
   * The series' exceptions: each occurrence an EXDATE removes, and each one a VEVENT with its
   * RECURRENCE-ID changes (or, STATUS:CANCELLED, removes), with what it changes.
   */
  private exceptions(ev: Component, occurrences: Component[], allDay: boolean): InvitationException[] {
    const out = new Map<number, InvitationException>();
    for (const p of ev.getAllProperties('exdate')) {
      for (let i = 3; i < p.jCal.length && out.size < MAX_EXCEPTIONS; i++) {
        const at = this.toMs(this.when(p, 'EXDATE', i), 'EXDATE').ms;
        out.set(at, { originalStart: at, deleted: true });
      }
    }
    for (const o of occurrences) {
      if (out.size >= MAX_EXCEPTIONS) break;
      const originalStart = this.toMs(this.when(o.getFirstProperty('recurrence-id')!, 'RECURRENCE-ID'), 'RECURRENCE-ID').ms;
      if (upper(o, 'status') === 'CANCELLED') {
        out.set(originalStart, { originalStart, deleted: true });
        continue;
      }
      const startProp = o.getFirstProperty('dtstart');
      const start = startProp ? this.toMs(this.when(startProp, 'DTSTART'), 'DTSTART').ms : originalStart;
      out.set(originalStart, {
        originalStart, deleted: false, start, end: this.endOf(o, start, allDay),
        ...optional('summary', o.hasProperty('summary') ? this.text(o, 'summary') : undefined),
        ...optional('location', o.hasProperty('location') ? this.text(o, 'location') : undefined),
        busyStatus: busyStatusOf(o),
      });
    }
    if (out.size >= MAX_EXCEPTIONS) this.warn(`more than ${MAX_EXCEPTIONS} exceptions; the rest left out`);
    return [...out.values()].sort((a, b) => a.originalStart - b.originalStart);
  }

  private recurrence(ev: Component, start: When, allDay: boolean): EasRecurrence | undefined {
    if (ev.hasProperty('rdate')) this.warn('RDATE left out: EAS keeps extra occurrences as separate items');
    const rules = ev.getAllProperties('rrule');
    if (!rules.length) return undefined;
    const texts = rules.map((p) => String(decoded<Recur>(p, 'RRULE')));
    if (rules.length > 1) {
      this.warn(`RRULE ${texts.map(short).join(' and ')}: EAS holds one rule; recurrence left out`);
      return undefined;
    }
    const rule = decoded<Recur>(rules[0]!, 'RRULE');
    const r = easRecurrence(rule, start.wall);
    if (typeof r === 'string') {
      this.warn(`RRULE ${short(texts[0]!)}: ${r}; EAS cannot express it, recurrence left out`);
      return undefined;
    }
    if (rule.count !== null && rule.count !== undefined) r.occurrences = rule.count;
    if (rule.until) r.until = this.until(rule.until, start, allDay);
    return r;
  }

  /**
   * A DATE UNTIL (RFC 5545 asks for one when DTSTART is a DATE) is 00:00Z of that date for an all-day
   * series, which is exactly its last start; for a timed series it is the end of that day in the
   * series' zone, so that day's occurrence is kept. A floating UNTIL is read in the series' zone.
   */
  private until(t: InstanceType<typeof ICAL.Time>, start: When, allDay: boolean): number {
    const wall = { y: t.year, mo: t.month, d: t.day, h: t.hour, mi: t.minute, s: t.second };
    if (!validWall(wall)) throw new InvitationError('RRULE: UNTIL is not a date or date-time');
    if (t.isDate && allDay) return wallMs(wall);
    if (t.isDate) return this.toMs({ wall: { ...wall, h: 23, mi: 59, s: 59 }, date: false, zone: start.zone }, 'RRULE UNTIL').ms;
    const zone = t.zone === ICAL.Timezone.utcTimezone ? UTC : start.zone;
    return this.toMs({ wall, date: false, zone }, 'RRULE UNTIL').ms;
  }

  private timezone(start: When, startMs: number, offset: number): string {
    const z = start.zone;
    if (z.kind === 'vtimezone') return this.vtimezoneBlob(z.comp, z.tzid, start.wall, offset);
    if (z.kind === 'intl') return this.intlBlob(z.fmt, z.tzid, startMs, offset);
    return UTC_BLOB;
  }

  /**
   * From the STANDARD and DAYLIGHT observances in force at the start (full-history zones list older
   * ones too). Without a DST rule EAS can hold, the blob keeps the start's offset alone.
   */
  private vtimezoneBlob(comp: Component, tzid: string, at: Wall, offset: number): string {
    const current = (kind: string): Component | undefined => {
      const subs = comp.getAllSubcomponents(kind)
        .map((c) => ({ c, onset: String(c.getFirstProperty('dtstart')!.jCal[3]) }))
        .sort((a, b) => (a.onset < b.onset ? -1 : a.onset > b.onset ? 1 : 0));
      const stamp = wallStamp(at);
      return (subs.filter((s) => s.onset <= stamp).pop() ?? subs[0])?.c;
    };
    const std = current('standard');
    const dst = current('daylight');
    const nameOf = (c: Component | undefined): string => (c && clean(textOf(c, 'tzname')).trim()) || tzid;
    const dstRule = dst && ruleStillRuns(dst, at) ? transitionRule(dst) : undefined;
    const stdRule = std && ruleStillRuns(std, at) ? transitionRule(std) : undefined;
    if (std && dst && stdRule && dstRule) {
      const stdOffset = offsetMinutes(std);
      return timezoneBlob({
        bias: -stdOffset, standardName: nameOf(std), daylightName: nameOf(dst),
        standardDate: stdRule, daylightDate: dstRule, daylightBias: -(offsetMinutes(dst) - stdOffset),
      });
    }
    if (dst && ruleStillRuns(dst, at)) this.warn(`VTIMEZONE "${short(tzid)}": its daylight saving rule cannot be expressed in EAS; the time zone keeps the start's UTC offset only`);
    return timezoneBlob({ bias: -offset, standardName: nameOf(std ?? dst), daylightName: nameOf(dst ?? std) });
  }

  /** The rule from this year's two transitions, found by bisection on Intl's offsets. */
  private intlBlob(fmt: Intl.DateTimeFormat, tzid: string, startMs: number, offset: number): string {
    const year = new Date(startMs).getUTCFullYear();
    const jan = wallMs({ y: year, mo: 1, d: 1, h: 0, mi: 0, s: 0 });
    const jul = wallMs({ y: year, mo: 7, d: 1, h: 0, mi: 0, s: 0 });
    const next = wallMs({ y: year + 1, mo: 1, d: 1, h: 0, mi: 0, s: 0 });
    const [oJan, oJul, oNext] = [jan, jul, next].map((t) => intlOffset(fmt, t)) as [number, number, number];
    if (oJan === oJul && oJul === oNext) return timezoneBlob({ bias: -oJan, standardName: tzid, daylightName: tzid });
    if (oJan !== oJul && oJul !== oNext) {
      const changes = [transition(fmt, jan, jul), transition(fmt, jul, next)];
      const up = changes.find((c) => c.after > c.before);
      const down = changes.find((c) => c.after < c.before);
      if (up && down && up.after === down.before && up.before === down.after) {
        return timezoneBlob({
          bias: -down.after, standardName: tzid, daylightName: tzid,
          standardDate: down.rule, daylightDate: up.rule, daylightBias: -(up.after - up.before),
        });
      }
    }
    this.warn(`time zone "${short(tzid)}" changes its offset irregularly in ${year}; the time zone keeps the start's UTC offset only`);
    return timezoneBlob({ bias: -offset, standardName: tzid, daylightName: tzid });
  }
}

// ---- the component tree ------------------------------------------------------------------------

function isJcalComponent(x: unknown): x is [string, unknown[], unknown[]] {
  return Array.isArray(x) && typeof x[0] === 'string' && Array.isArray(x[1]) && Array.isArray(x[2]);
}

/** Bounds the tree before anything walks it with recursion or per-component work. */
function checkTree(root: unknown): void {
  const stack: Array<[unknown, number]> = [[root, 1]];
  let components = 0;
  let properties = 0;
  const counts = { vevent: 0, vtimezone: 0 };
  while (stack.length) {
    const [c, depth] = stack.pop()!;
    if (!isJcalComponent(c)) throw new InvitationError('malformed iCalendar component');
    if (depth > MAX_DEPTH) throw new InvitationError(`components nested deeper than ${MAX_DEPTH}`);
    if (++components > MAX_COMPONENTS) throw new InvitationError(`more than ${MAX_COMPONENTS} components`);
    if (c[0] === 'vevent' || c[0] === 'vtimezone') {
      if (++counts[c[0]] > (c[0] === 'vevent' ? MAX_VEVENTS : MAX_VTIMEZONES)) {
        throw new InvitationError(`more than ${c[0] === 'vevent' ? MAX_VEVENTS : MAX_VTIMEZONES} ${c[0].toUpperCase()} components`);
      }
    }
    properties += c[1].length;
    if (properties > MAX_PROPERTIES) throw new InvitationError(`more than ${MAX_PROPERTIES} properties`);
    for (const sub of c[2]) stack.push([sub, depth + 1]);
  }
}

/**
 * The value as written (unescaped), not as ical.js decodes it: SUMMARY;VALUE=DATE-TIME:soon must not
 * throw when read, and a text need not be anything else.
 */
function rawText(p: Property): string {
  const v: unknown = p.jCal[3];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function textOf(comp: Component, name: string): string {
  const p = comp.getFirstProperty(name);
  return p ? rawText(p) : '';
}

/** ical.js decodes values on first use, and throws then for what it could not read. */
function decoded<T>(p: Property, what: string): T {
  try {
    return p.getFirstValue() as T;
  } catch (e) {
    throw new InvitationError(`${what}: ${short(errorMessage(e))}`);
  }
}

function param(p: Property, name: string): string | undefined {
  const v: unknown = p.getParameter(name);
  const first: unknown = Array.isArray(v) ? v[0] : v;
  return first === undefined || first === null ? undefined : String(first);
}

function upper(comp: Component, name: string): string {
  return textOf(comp, name).trim().toUpperCase();
}

function sequenceOf(ev: Component): number {
  const v = Number(textOf(ev, 'sequence') || 0);
  return Number.isSafeInteger(v) && v >= 0 ? Math.min(v, 0x7fffffff) : 0;
}

const BUSY: Record<string, 0 | 1 | 2 | 3 | 4> = { FREE: 0, TENTATIVE: 1, BUSY: 2, OOF: 3, WORKINGELSEWHERE: 4 };

function busyStatusOf(ev: Component): 0 | 1 | 2 | 3 | 4 {
  // Outlook's invitations say TENTATIVE in BUSYSTATUS (how the unanswered copy shows) and the
  // organizer's intent in INTENDEDSTATUS, which is what an accepted meeting shows.
  return BUSY[upper(ev, 'x-microsoft-cdo-intendedstatus')] ?? BUSY[upper(ev, 'x-microsoft-cdo-busystatus')]
    ?? (upper(ev, 'transp') === 'TRANSPARENT' ? 0 : 2);
}

function sensitivityOf(ev: Component): 0 | 1 | 2 | 3 {
  const c = upper(ev, 'class');
  return c === 'PRIVATE' ? 2 : c === 'CONFIDENTIAL' ? 3 : 0;
}

/** EAS reminders count down to the start, so only a TRIGGER at or before the start counts. */
function reminderOf(ev: Component): number | undefined {
  for (const alarm of ev.getAllSubcomponents('valarm')) {
    const trigger = alarm.getFirstProperty('trigger');
    if (!trigger || trigger.type !== 'duration' || (param(trigger, 'related') ?? '').toUpperCase() === 'END') continue;
    let seconds: number;
    try {
      seconds = (trigger.getFirstValue() as InstanceType<typeof ICAL.Duration>).toSeconds();
    } catch {
      continue;
    }
    if (seconds <= 0) return Math.abs(Math.round(seconds / 60));
  }
  return undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

// ---- time zones ---------------------------------------------------------------------------------

// Kept with the reader rather than in timezone.ts: a VTIMEZONE RRULE ical.js cannot decode is refused
// as the whole text's InvitationError, through decoded().
/** Why ical.js should not expand this VTIMEZONE, or undefined when it can do so quickly and correctly. */
function zoneProblem(comp: Component): string | undefined {
  // ical.js expands any sub-component that looks like an observance, whatever its name.
  const subs = comp.getAllSubcomponents();
  if (!subs.length) return 'no STANDARD or DAYLIGHT';
  for (const s of subs) {
    const name = s.name.toUpperCase();
    if (name !== 'STANDARD' && name !== 'DAYLIGHT') return `unexpected ${short(name)}`;
    const start = s.getFirstProperty('dtstart');
    const startRaw: unknown = start?.jCal[3];
    const startMatch = typeof startRaw === 'string' ? JCAL_TIME.exec(startRaw) : null;
    if (!startMatch || startMatch[4] === undefined) return `${name} without a DTSTART date-time`;
    for (const k of ['tzoffsetfrom', 'tzoffsetto']) {
      const v: unknown = s.getFirstProperty(k)?.jCal[3];
      if (typeof v !== 'string' || !UTC_OFFSET.test(v)) return `${name} without a valid ${k.toUpperCase()}`;
    }
    const rules = s.getAllProperties('rrule');
    if (rules.length > 1) return `${name} with several RRULEs`;
    if (rules.length) {
      const rule = decoded<Recur>(rules[0]!, `VTIMEZONE ${name} RRULE`);
      const problem = zoneRuleProblem(rule);
      if (problem) return `${name} RRULE ${short(String(rule))} ${problem}`;
    }
    for (const rdate of s.getAllProperties('rdate')) {
      const v: unknown = rdate.jCal[3];
      if (typeof v !== 'string' || !JCAL_TIME.test(v)) return `${name} RDATE is not a date or date-time`;
    }
  }
  return undefined;
}
