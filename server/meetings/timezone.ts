// EAS TIME_ZONE_INFORMATION and the rules that fill it: a VTIMEZONE's yearly observances or Intl's
// offsets, reduced to the one standard/daylight pair the 172-byte blob can hold.
import type ICAL from 'ical.js';
import { BYDAY, monthLength, WEEKDAYS, wallMs, wallStamp, type Component, type Recur, type Wall } from './ical-values.js';

/** ical.js iterates zone rules occurrence by occurrence; rules that may never match would spin. */
export function zoneRuleProblem(r: Recur): string | undefined {
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
export function transitionRule(sub: Component): TransitionRule | undefined {
  const rule = sub.getFirstPropertyValue('rrule') as Recur | null;
  if (!rule) return undefined;
  const day = ruleDay(rule.parts.BYDAY ?? [], rule.parts.BYMONTHDAY ?? [], rule.parts.BYMONTH?.[0] ?? 0);
  if (!day || !('dow' in day)) return undefined;
  const start = sub.getFirstPropertyValue('dtstart') as InstanceType<typeof ICAL.Time>;
  return { month: rule.parts.BYMONTH![0]!, dayOfWeek: day.dow, week: day.week, hour: start.hour, minute: start.minute };
}

/** Whether a yearly rule still recurs at `at`; one that ended (DST abolished, rules changed) or a one-off transition does not. */
export function ruleStillRuns(sub: Component, at: Wall): boolean {
  const rule = sub.getFirstPropertyValue('rrule') as Recur | null;
  if (!rule) return false;
  if (!rule.until) return rule.count === null || rule.count === undefined;
  const u = rule.until;
  return wallStamp({ y: u.year, mo: u.month, d: u.day, h: u.hour, mi: u.minute, s: u.second }) >= wallStamp(at);
}

export function offsetMinutes(sub: Component): number {
  const m = /^([+-])(\d{2}):(\d{2})/.exec(String(sub.getFirstProperty('tzoffsetto')!.jCal[3]))!;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

export function intlFormat(tzid: string): Intl.DateTimeFormat | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: tzid, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  } catch {
    return undefined;
  }
}

/** The zone's offset from UTC at a UTC instant, minutes. */
export function intlOffset(fmt: Intl.DateTimeFormat, ms: number): number {
  const f: Record<string, number> = {};
  for (const part of fmt.formatToParts(ms)) if (part.type !== 'literal') f[part.type] = Number(part.value);
  const local = wallMs({ y: f.year ?? 1970, mo: f.month ?? 1, d: f.day ?? 1, h: f.hour ?? 0, mi: f.minute ?? 0, s: f.second ?? 0 });
  return Math.round((local - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** The offset in force at a wall-clock reading (given as if it were UTC): guess, then correct once. */
export function intlWallOffset(fmt: Intl.DateTimeFormat, local: number): number {
  return intlOffset(fmt, local - intlOffset(fmt, local) * 60_000);
}

/** The first offset change in (from, to]; the offsets at the two ends differ. */
export function transition(fmt: Intl.DateTimeFormat, from: number, to: number): { before: number; after: number; rule: TransitionRule } {
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

export const UTC_BLOB = timezoneBlob({ bias: 0, standardName: 'UTC', daylightName: 'UTC' });
