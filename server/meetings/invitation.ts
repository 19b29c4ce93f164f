// Meeting invitations, cancellations and replies as mail carries them: an iCalendar (RFC 5545/5546)
// text/calendar part, read with ical.js into what EAS needs (MS-ASEMAIL MeetingRequest, MS-ASCAL).
//
// The text comes from anyone who can send mail, so everything is bounded: the size before parsing,
// the component tree right after, and the one costly thing ical.js does later, expanding a VTIMEZONE's
// transitions year by year, is only allowed for the yearly rules real calendars use and within a budget.
import ICAL from 'ical.js';

export type MeetingMethod = 'REQUEST' | 'CANCEL' | 'REPLY';

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

/** MS-ASCAL Recurrence, in EAS terms (Type 0 daily, 1 weekly, 2 monthly, 3 monthly on the nth day, 5 yearly, 6 yearly on the nth day). */
export interface EasRecurrence {
  type: 0 | 1 | 2 | 3 | 5 | 6;
  interval: number;
  /** UNTIL as ms since the epoch (UTC). */
  until?: number;
  /** COUNT. */
  occurrences?: number;
  /** Bit mask: Sunday 1, Monday 2, Tuesday 4, Wednesday 8, Thursday 16, Friday 32, Saturday 64. */
  dayOfWeek?: number;
  dayOfMonth?: number;
  /** 1-4, 5 for the last. */
  weekOfMonth?: number;
  monthOfYear?: number;
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
  /** X-MICROSOFT-DISALLOW-COUNTER:TRUE. */
  disallowNewTimeProposal: boolean;
  /** What could not be kept (an RRULE EAS cannot express, an unknown TZID read as UTC, ...). */
  warnings: string[];
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
const MAX_TEXT_BYTES = 64 * 1024;
/** Years of VTIMEZONE rules ical.js may expand per parse (about 25 µs each); Outlook's zones, which start in 1601, need about 860. */
const ZONE_EXPANSION_BUDGET = 4000;

type Component = InstanceType<typeof ICAL.Component>;
type Property = InstanceType<typeof ICAL.Property>;
type Recur = InstanceType<typeof ICAL.Recur>;
type Timezone = InstanceType<typeof ICAL.Timezone>;

/** A wall-clock reading, as written in the text. */
interface Wall { y: number; mo: number; d: number; h: number; mi: number; s: number }

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
const WEEKDAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];
const BYDAY = /^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$/;
// jCal forms ical.js gives a DATE or DATE-TIME; "T::" is what it makes of a DATE written without VALUE=DATE.
const JCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(Z)?|T::)?$/;
const UTC_OFFSET = /^[+-]\d{2}:\d{2}(?::\d{2})?$/;
/** Control characters but newline and tab, which texts keep. */
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

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
    if (method !== 'REQUEST' && method !== 'CANCEL' && method !== 'REPLY') {
      throw new InvitationError(`METHOD "${short(method)}" is not REQUEST, CANCEL or REPLY`);
    }

    const events = this.cal.getAllSubcomponents('vevent');
    if (!events.length) throw new InvitationError('no VEVENT component');
    // EAS holds one meeting per message: the series (master) when there is one, not its exceptions.
    const ev = events.find((e) => !e.hasProperty('recurrence-id')) ?? events[0]!;
    if (events.length > 1) this.warn(`${events.length - 1} other VEVENT(s) (exceptions of the series) left out: EAS takes one event per message`);

    const uid = textOf(ev, 'uid').trim();
    if (!uid) throw new InvitationError('VEVENT has no UID');
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
      ...optional('recurrence', startWhen ? this.recurrence(ev, startWhen, allDay) : undefined),
      ...optional('recurrenceId', recurrenceIdProp ? this.toMs(this.when(recurrenceIdProp, 'RECURRENCE-ID'), 'RECURRENCE-ID').ms : undefined),
      timezone: startWhen && !allDay ? this.timezone(startWhen, start, startOffset) : UTC_BLOB,
      responseRequested: attendees.some((a) => a.rsvp),
      disallowNewTimeProposal: upper(ev, 'x-microsoft-disallow-counter') === 'TRUE',
      warnings: this.warnings,
    };
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

  private when(p: Property, what: string): When {
    const raw: unknown = p.jCal[3];
    const m = typeof raw === 'string' ? JCAL_TIME.exec(raw) : null;
    const wall = m ? { y: +m[1]!, mo: +m[2]!, d: +m[3]!, h: +(m[4] ?? 0), mi: +(m[5] ?? 0), s: +(m[6] ?? 0) } : undefined;
    if (!m || !wall || !validWall(wall)) {
      // Back from ical.js's jCal form to what the text said.
      const written = String(raw).replace(/[-:]/g, '').replace(/T$/, '');
      throw new InvitationError(`${what}: "${short(written)}" is not a date or date-time`);
    }
    wall.s = Math.min(wall.s, 59); // a leap second
    const date = m[4] === undefined;
    const tzid = param(p, 'tzid');
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

  private recurrence(ev: Component, start: When, allDay: boolean): EasRecurrence | undefined {
    for (const name of ['exdate', 'rdate']) {
      if (ev.hasProperty(name)) this.warn(`${name.toUpperCase()} left out: EAS keeps exceptions as separate items`);
    }
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

// ---- recurrence ---------------------------------------------------------------------------------

interface ByDay { n?: number; dow: number }

/** The EAS form of a rule, or why there is none. UNTIL and COUNT are the caller's. */
function easRecurrence(rule: Recur, start: Wall): EasRecurrence | string {
  const p = rule.parts;
  for (const k of ['BYSECOND', 'BYMINUTE', 'BYHOUR', 'BYWEEKNO', 'BYYEARDAY'] as const) {
    if (p[k]?.length) return `${k} is not supported`;
  }
  const monthDays = p.BYMONTHDAY ?? [];
  const months = p.BYMONTH ?? [];
  const setPos = p.BYSETPOS ?? [];
  if (monthDays.length > 1) return 'several BYMONTHDAY values';
  if (setPos.length > 1) return 'several BYSETPOS values';
  if (months.length > 1) return 'several BYMONTH values';
  const days: ByDay[] = [];
  for (const d of p.BYDAY ?? []) {
    const m = BYDAY.exec(String(d).toUpperCase());
    if (!m) return `BYDAY ${d} is not a weekday`;
    days.push(m[1] === undefined ? { dow: WEEKDAYS.indexOf(m[2]!) } : { n: Number(m[1]), dow: WEEKDAYS.indexOf(m[2]!) });
  }
  const interval = Number.isSafeInteger(rule.interval) && rule.interval >= 1 ? rule.interval : 1;
  const mask = days.reduce((acc, d) => acc | (1 << d.dow), 0);
  const plain = days.every((d) => d.n === undefined);
  const startDow = new Date(wallMs(start)).getUTCDay();
  switch (rule.freq) {
    case 'DAILY':
      if (monthDays.length || months.length || setPos.length) return 'BYMONTHDAY, BYMONTH or BYSETPOS with FREQ=DAILY';
      if (!days.length) return { type: 0, interval };
      if (!plain || interval > 1) return 'FREQ=DAILY with BYDAY is only weekly when every day is plain and INTERVAL is 1';
      return { type: 1, interval: 1, dayOfWeek: mask };
    case 'WEEKLY':
      if (monthDays.length || months.length || setPos.length) return 'BYMONTHDAY, BYMONTH or BYSETPOS with FREQ=WEEKLY';
      if (!plain) return 'numbered BYDAY with FREQ=WEEKLY';
      return { type: 1, interval, dayOfWeek: days.length ? mask : 1 << startDow };
    case 'MONTHLY':
    case 'YEARLY': {
      const yearly = rule.freq === 'YEARLY';
      if (!yearly && months.length) return 'BYMONTH with FREQ=MONTHLY';
      const nth = nthDay(days, monthDays, setPos);
      if (typeof nth === 'string') return nth;
      const month = yearly ? { monthOfYear: months[0] ?? start.mo } : {};
      if (nth) return { type: yearly ? 6 : 3, interval, dayOfWeek: nth.mask, weekOfMonth: nth.week, ...month };
      const day = monthDays[0] ?? start.d;
      if (day < 1 || day > 31) return `BYMONTHDAY ${day}`;
      return { type: yearly ? 5 : 2, interval, dayOfMonth: day, ...month };
    }
    default:
      return rule.freq ? `FREQ=${rule.freq}` : 'no FREQ';
  }
}

/** The "nth weekday(s) of the month" of a MONTHLY or YEARLY rule; null when it names a day of the month instead. */
function nthDay(days: ByDay[], monthDays: number[], setPos: number[]): { mask: number; week: number } | null | string {
  const week = (n: number): number | undefined => (n === -1 ? 5 : n >= 1 && n <= 4 ? n : undefined);
  if (!days.length) {
    if (setPos.length) return 'BYSETPOS without BYDAY';
    // MS-ASCAL: DayOfWeek 127 in the fifth week is the month's last day.
    if (monthDays[0] === -1) return { mask: 127, week: 5 };
    if (monthDays.length && monthDays[0]! < 1) return `BYMONTHDAY ${monthDays[0]}`;
    return null;
  }
  if (monthDays.length) return 'BYDAY with BYMONTHDAY';
  if (days.length === 1 && days[0]!.n !== undefined && !setPos.length) {
    const w = week(days[0]!.n);
    return w ? { mask: 1 << days[0]!.dow, week: w } : `BYDAY ${days[0]!.n} (EAS has weeks 1-4 and the last)`;
  }
  if (days.every((d) => d.n === undefined) && setPos.length === 1) {
    const w = week(setPos[0]!);
    return w ? { mask: days.reduce((acc, d) => acc | (1 << d.dow), 0), week: w } : `BYSETPOS ${setPos[0]} (EAS has weeks 1-4 and the last)`;
  }
  return 'BYDAY needs one numbered day, or plain days with one BYSETPOS';
}

// ---- time zones ---------------------------------------------------------------------------------

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

/** ical.js iterates zone rules occurrence by occurrence; rules that may never match would spin. */
function zoneRuleProblem(r: Recur): string | undefined {
  if (r.freq !== 'YEARLY' || r.interval !== 1) return 'is not yearly';
  const p = r.parts;
  for (const [k, v] of Object.entries(p)) {
    if (Array.isArray(v) && v.length && k !== 'BYMONTH' && k !== 'BYDAY' && k !== 'BYMONTHDAY') return `uses ${k}`;
  }
  if (p.BYMONTH?.length !== 1) return 'needs one BYMONTH';
  return ruleDay(p.BYDAY ?? [], p.BYMONTHDAY ?? [], p.BYMONTH[0]!) === undefined ? 'is not "nth weekday" or a fixed day of its month' : undefined;
}

/** A yearly rule's day: nth (1-5, -1 as 5) weekday, "weekday on or after day 1/8/15/22", or a fixed day. */
function ruleDay(byDay: string[], monthDays: number[], month: number): { dow: number; week: number } | { day: number } | undefined {
  const m = byDay.length === 1 ? BYDAY.exec(String(byDay[0]).toUpperCase()) : null;
  if (m && m[1] !== undefined && !monthDays.length) {
    const n = Number(m[1]);
    return n === -1 || (n >= 1 && n <= 5) ? { dow: WEEKDAYS.indexOf(m[2]!), week: n === -1 ? 5 : n } : undefined;
  }
  if (m && m[1] === undefined && monthDays.length === 7 && [1, 8, 15, 22].includes(monthDays[0]!) && monthDays.every((d, i) => d === monthDays[0]! + i)) {
    return { dow: WEEKDAYS.indexOf(m[2]!), week: (monthDays[0]! + 6) / 7 };
  }
  if (!byDay.length && monthDays.length === 1 && monthDays[0]! >= 1 && monthDays[0]! <= monthLength(1, month)) return { day: monthDays[0]! };
  return undefined;
}

/** A STANDARD/DAYLIGHT transition as TIME_ZONE_INFORMATION holds it, when it is an "nth weekday" rule. */
function transitionRule(sub: Component): TransitionRule | undefined {
  const rule = sub.getFirstPropertyValue('rrule') as Recur | null;
  if (!rule) return undefined;
  const day = ruleDay(rule.parts.BYDAY ?? [], rule.parts.BYMONTHDAY ?? [], rule.parts.BYMONTH?.[0] ?? 0);
  if (!day || !('dow' in day)) return undefined;
  const start = sub.getFirstPropertyValue('dtstart') as InstanceType<typeof ICAL.Time>;
  return { month: rule.parts.BYMONTH![0]!, dayOfWeek: day.dow, week: day.week, hour: start.hour, minute: start.minute };
}

/** Whether a yearly rule still recurs at `at`; one that ended (DST abolished, rules changed) or a one-off transition does not. */
function ruleStillRuns(sub: Component, at: Wall): boolean {
  const rule = sub.getFirstPropertyValue('rrule') as Recur | null;
  if (!rule) return false;
  if (!rule.until) return rule.count === null || rule.count === undefined;
  const u = rule.until;
  return wallStamp({ y: u.year, mo: u.month, d: u.day, h: u.hour, mi: u.minute, s: u.second }) >= wallStamp(at);
}

function offsetMinutes(sub: Component): number {
  const m = /^([+-])(\d{2}):(\d{2})/.exec(String(sub.getFirstProperty('tzoffsetto')!.jCal[3]))!;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

function intlFormat(tzid: string): Intl.DateTimeFormat | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: tzid, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  } catch {
    return undefined;
  }
}

/** The zone's offset from UTC at a UTC instant, minutes. */
function intlOffset(fmt: Intl.DateTimeFormat, ms: number): number {
  const f: Record<string, number> = {};
  for (const part of fmt.formatToParts(ms)) if (part.type !== 'literal') f[part.type] = Number(part.value);
  const local = wallMs({ y: f.year ?? 1970, mo: f.month ?? 1, d: f.day ?? 1, h: f.hour ?? 0, mi: f.minute ?? 0, s: f.second ?? 0 });
  return Math.round((local - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** The offset in force at a wall-clock reading (given as if it were UTC): guess, then correct once. */
function intlWallOffset(fmt: Intl.DateTimeFormat, local: number): number {
  return intlOffset(fmt, local - intlOffset(fmt, local) * 60_000);
}

/** The first offset change in (from, to]; the offsets at the two ends differ. */
function transition(fmt: Intl.DateTimeFormat, from: number, to: number): { before: number; after: number; rule: TransitionRule } {
  let lo = Math.floor(from / 60_000);
  let hi = Math.floor(to / 60_000);
  const before = intlOffset(fmt, from);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (intlOffset(fmt, mid * 60_000) === before) lo = mid;
    else hi = mid;
  }
  const at = hi * 60_000;
  // TIME_ZONE_INFORMATION names the moment by the clock still showing the old time.
  const wall = new Date(at + before * 60_000);
  const day = wall.getUTCDate();
  const last = monthLength(wall.getUTCFullYear(), wall.getUTCMonth() + 1);
  return {
    before,
    after: intlOffset(fmt, at),
    rule: {
      month: wall.getUTCMonth() + 1, dayOfWeek: wall.getUTCDay(), week: day + 7 > last ? 5 : Math.ceil(day / 7),
      hour: wall.getUTCHours(), minute: wall.getUTCMinutes(),
    },
  };
}

function monthLength(y: number, mo: number): number {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return mo === 2 && leap ? 29 : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1] ?? 0;
}

function validWall(w: Wall): boolean {
  return Number.isInteger(w.y) && w.y >= 0 && w.y <= 9999 && w.d >= 1 && w.d <= monthLength(w.y, w.mo) && w.h <= 23 && w.mi <= 59 && w.s <= 60;
}

/** A reading as ms since the epoch as if it were UTC; Date.UTC would read years below 100 as 19xx. */
function wallMs(w: Wall): number {
  const d = new Date(0);
  d.setUTCFullYear(w.y, w.mo - 1, w.d);
  d.setUTCHours(w.h, w.mi, w.s, 0);
  return d.getTime();
}

/** Sorts like the jCal strings of DTSTART values. */
function wallStamp(w: Wall): string {
  const p = (n: number, l = 2): string => String(n).padStart(l, '0');
  return `${p(w.y, 4)}-${p(w.mo)}-${p(w.d)}T${p(w.h)}:${p(w.mi)}:${p(w.s)}`;
}

/** The day of a standard/daylight transition: the week-th (5 = last) dayOfWeek (0 = Sunday) of month, at hour:minute local time. */
export interface TransitionRule { month: number; dayOfWeek: number; week: number; hour: number; minute: number }

export interface TimezoneInfo {
  /** Minutes; UTC = local time + bias (Central Europe: -60). */
  bias: number;
  standardName: string;
  daylightName: string;
  standardDate?: TransitionRule;
  daylightDate?: TransitionRule;
  /** Minutes added to bias in daylight time (usually -60). */
  daylightBias?: number;
}

/**
 * MS TIME_ZONE_INFORMATION as EAS carries it (MS-ASDTYPE TimeZone), base64: Bias, StandardName (32
 * WCHARs), StandardDate (SYSTEMTIME), StandardBias, DaylightName, DaylightDate, DaylightBias, all
 * little-endian; 172 bytes. A zone without daylight saving has zeroed dates.
 */
export function timezoneBlob(z: TimezoneInfo): string {
  const b = Buffer.alloc(172);
  b.writeInt32LE(z.bias, 0);
  const name = (s: string, at: number): void => {
    // 31 UTF-16 units and a NUL, not splitting a surrogate pair.
    const cut = s.length > 31 ? s.slice(0, /[\ud800-\udbff]/.test(s[30]!) ? 30 : 31) : s;
    b.write(cut, at, 62, 'utf16le');
  };
  const date = (r: TransitionRule | undefined, at: number): void => {
    if (!r) return;
    // SYSTEMTIME: year 0 marks a yearly rule, "day" is then the week of the month.
    [0, r.month, r.dayOfWeek, r.week, r.hour, r.minute, 0, 0].forEach((v, i) => b.writeUInt16LE(v, at + 2 * i));
  };
  const daylight = z.standardDate && z.daylightDate;
  name(z.standardName, 4);
  if (daylight) date(z.standardDate, 68);
  b.writeInt32LE(0, 84);
  name(z.daylightName, 88);
  if (daylight) date(z.daylightDate, 152);
  b.writeInt32LE(daylight ? z.daylightBias ?? 0 : 0, 168);
  return b.toString('base64');
}

const UTC_BLOB = timezoneBlob({ bias: 0, standardName: 'UTC', daylightName: 'UTC' });

// ---- text ---------------------------------------------------------------------------------------

function clean(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}

/** At most `max` bytes of UTF-8, cut between characters. */
function cutUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  const b = Buffer.from(s, 'utf8');
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

function short(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- GlobalObjId --------------------------------------------------------------------------------

const GOID_CLASS = '040000008200E00074C5B7101A82E008';

/**
 * MS-ASEMAIL GlobalObjId: the MS-OXOCAL PidLidGlobalObjectId, base64. Outlook's UIDs are that
 * structure in hex already (MS-OXCICAL 2.1.3.1.1.20.26); any other UID is wrapped as "vCal-Uid" data.
 */
export function globalObjId(uid: string): string {
  if (uid.length % 2 === 0 && /^[0-9a-f]+$/i.test(uid) && uid.slice(0, 32).toUpperCase() === GOID_CLASS) {
    return Buffer.from(uid, 'hex').toString('base64');
  }
  const data = Buffer.concat([Buffer.from('vCal-Uid', 'ascii'), Buffer.from([1, 0, 0, 0]), Buffer.from(uid, 'utf8'), Buffer.from([0])]);
  const head = Buffer.alloc(40); // class id, instance date, creation time, reserved, size
  Buffer.from(GOID_CLASS, 'hex').copy(head, 0);
  head.writeUInt32LE(data.length, 36);
  return Buffer.concat([head, data]).toString('base64');
}

// ---- replies ------------------------------------------------------------------------------------

const REPLY_PREFIX = { accepted: 'Accepted: ', tentative: 'Tentative: ', declined: 'Declined: ' } as const;

export function composeReply(inv: Invitation, attendee: { email: string; name?: string }, partstat: 'accepted' | 'tentative' | 'declined', comment?: string): string {
  const cal = new ICAL.Component(['vcalendar', [], []]);
  cal.addPropertyWithValue('prodid', '-//easmime//EN');
  cal.addPropertyWithValue('version', '2.0');
  cal.addPropertyWithValue('method', 'REPLY');
  const ev = new ICAL.Component('vevent');
  cal.addSubcomponent(ev);
  const at = (ms: number): InstanceType<typeof ICAL.Time> => {
    const d = new Date(ms);
    return inv.allDay
      ? ICAL.Time.fromData({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), isDate: true })
      : ICAL.Time.fromJSDate(d, true);
  };
  ev.addPropertyWithValue('uid', inv.uid);
  ev.addPropertyWithValue('sequence', inv.sequence);
  ev.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(), true));
  ev.addPropertyWithValue('dtstart', at(inv.start));
  ev.addPropertyWithValue('dtend', at(inv.end));
  if (inv.recurrenceId !== undefined) ev.addPropertyWithValue('recurrence-id', at(inv.recurrenceId));
  ev.addPropertyWithValue('summary', REPLY_PREFIX[partstat] + clean(inv.summary));
  if (inv.organizer) addressProperty(ev, 'organizer', inv.organizer.email, inv.organizer.name);
  const email = attendee.email.trim().toLowerCase();
  const name = attendee.name ?? inv.attendees.find((a) => a.email === email)?.name;
  addressProperty(ev, 'attendee', email, name).setParameter('partstat', partstat.toUpperCase());
  if (comment) ev.addPropertyWithValue('comment', comment.replace(/\r\n?/g, '\n').replace(CONTROLS, ''));
  return fold(cal.toString());
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
