// The occurrences of a recurring appointment within a window, for free/busy. A series repeats in its
// own wall-clock time (a Monday 10:00 in Berlin stays 10:00 when the clocks change), so occurrences
// are generated in local time by ical.js from the RRULE the EAS Recurrence stands for, and each is
// placed in UTC by the item's TIME_ZONE_INFORMATION; then the series' exceptions remove or move the
// occurrences they name.
import ICAL from 'ical.js';
import { decodePimData, scheduleOf, type PimOccurrenceChange, type PimRecurrence } from '../../eas/pim/items.js';
import { rruleOf } from './recurrence.js';
import { wallTime } from './ical-values.js';

/** A TIME_ZONE_INFORMATION's rules: UTC = local + bias (+ the season's bias), minutes. */
export interface ZoneRules {
  /** StandardName and DaylightName, '' when none. */
  name: string;
  daylightName: string;
  bias: number;
  standard?: Transition;
  standardBias: number;
  daylight?: Transition;
  daylightBias: number;
}

export interface Transition { month: number; dayOfWeek: number; week: number; hour: number; minute: number }

/**
 * Most occurrences generated for one series and window. Daily and weekly series without a count
 * start near the window (whole periods skipped), so this bounds monthly and yearly ones (over 400
 * years of months) and counted ones (their COUNT).
 */
const MAX_STEPS = 5000;

const DAY_MS = 86_400_000;

/** Reads a base64 TIME_ZONE_INFORMATION; a missing or malformed one is UTC. */
export function zoneRules(base64: string | undefined): ZoneRules {
  const b = base64 ? Buffer.from(base64, 'base64') : Buffer.alloc(0);
  if (b.length !== 172) return { name: '', daylightName: '', bias: 0, standardBias: 0, daylightBias: 0 };
  const transition = (at: number): Transition | undefined => {
    const [year, month, dayOfWeek, week, hour, minute] = [0, 1, 2, 3, 4, 5].map((i) => b.readUInt16LE(at + 2 * i)) as [number, number, number, number, number, number];
    // Absolute dates (year set) are one-off transitions: not a rule a series can follow.
    return year === 0 && month >= 1 && month <= 12 && dayOfWeek <= 6 && week >= 1 && week <= 5 && hour <= 23 && minute <= 59
      ? { month, dayOfWeek, week, hour, minute } : undefined;
  };
  const standard = transition(68);
  const daylight = transition(152);
  return {
    name: b.toString('utf16le', 4, 68).replace(/\0[\s\S]*$/, ''),
    daylightName: b.toString('utf16le', 88, 152).replace(/\0[\s\S]*$/, ''),
    bias: b.readInt32LE(0), standardBias: b.readInt32LE(84), daylightBias: b.readInt32LE(168),
    ...(standard && daylight ? { standard, daylight } : {}),
  };
}

/** The wall-clock moment (as if UTC) a transition happens in a year. */
function transitionWall(t: Transition, year: number): number {
  const first = new Date(Date.UTC(year, t.month - 1, 1)).getUTCDay();
  let day = 1 + ((t.dayOfWeek - first + 7) % 7) + (t.week - 1) * 7;
  const days = new Date(Date.UTC(year, t.month, 0)).getUTCDate();
  while (day > days) day -= 7; // week 5 is the last such day
  return Date.UTC(year, t.month - 1, day, t.hour, t.minute);
}

/** UTC of a wall-clock reading (ms, as if UTC) in the zone. */
export function wallToUtc(z: ZoneRules, wall: number): number {
  let extra = z.standardBias;
  if (z.standard && z.daylight) {
    const year = new Date(wall).getUTCFullYear();
    const dstStart = transitionWall(z.daylight, year);
    const dstEnd = transitionWall(z.standard, year);
    // Southern zones keep daylight time across the new year.
    const inDaylight = dstStart < dstEnd ? wall >= dstStart && wall < dstEnd : wall >= dstStart || wall < dstEnd;
    if (inDaylight) extra = z.daylightBias;
  }
  return wall + (z.bias + extra) * 60_000;
}

/** The wall-clock reading (ms, as if UTC) of a UTC instant in the zone. */
export function utcToWall(z: ZoneRules, utc: number): number {
  // The wall time is within a day of the UTC one; the season is read from the first estimate and checked.
  const guess = utc - (z.bias + z.standardBias) * 60_000;
  const shift = wallToUtc(z, guess) - guess;
  const wall = utc - shift;
  return wallToUtc(z, wall) === utc ? wall : guess;
}

/** The occurrences of a series overlapping [from, to), as UTC start/end (and a busy status of their own, when an exception gives one). */
export function occurrences(first: { start: number; end: number }, rule: PimRecurrence, timezone: string | undefined, from: number, to: number,
  exceptions: readonly PimOccurrenceChange[] = []): Array<{ start: number; end: number; busy?: number }> {
  const zone = zoneRules(timezone);
  const duration = first.end - first.start;
  const moved = movedInto(exceptions, duration, from, to);
  // A series over before the window: nothing to generate.
  if (rule.until !== undefined && rule.until + duration + DAY_MS < from) return moved;
  let wallStart = utcToWall(zone, first.start);
  if (rule.occurrences === undefined && (rule.type === 0 || rule.type === 1)) {
    // The pattern repeats every period in wall-clock time: start at the last whole period before the window.
    const period = (rule.type === 0 ? 1 : 7) * rule.interval * DAY_MS;
    const skip = Math.floor((from - first.start - duration - 2 * DAY_MS) / period);
    if (skip > 0) wallStart += skip * period;
  }
  const dtstart = wallTime(wallStart);
  let recur;
  try {
    recur = ICAL.Recur.fromString(rruleOf(rule));
  } catch {
    return [];
  }
  const changed = new Set(exceptions.map((e) => e.original));
  const out: Array<{ start: number; end: number; busy?: number }> = [];
  const iterator = recur.iterator(dtstart);
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = iterator.next();
    if (!next) break;
    const start = wallToUtc(zone, Date.UTC(next.year, next.month - 1, next.day, next.hour, next.minute, next.second));
    if (start >= to) break;
    if (start + duration > from && !changed.has(start)) out.push({ start, end: start + duration });
  }
  return [...out, ...moved].sort((a, b) => a.start - b.start);
}

/** The changed occurrences that fall in the window: each counts where it went, however far from where the rule put it. */
function movedInto(exceptions: readonly PimOccurrenceChange[], duration: number, from: number, to: number): Array<{ start: number; end: number; busy?: number }> {
  const out: Array<{ start: number; end: number; busy?: number }> = [];
  for (const e of exceptions) {
    if (e.deleted) continue;
    const start = e.start ?? e.original;
    const end = e.end ?? start + duration;
    if (start < to && end > from) out.push({ start, end, ...(e.busy !== undefined ? { busy: e.busy } : {}) });
  }
  return out;
}

/**
 * One occurrence of a stored series item, by its original start: the series' duration and the
 * exception that changed it, if one did; undefined when the item is no series or has no such
 * occurrence (or it was deleted).
 */
export function seriesOccurrence(content: Buffer, instance: number): { duration: number; changed?: PimOccurrenceChange } | undefined {
  let schedule;
  try {
    schedule = scheduleOf(decodePimData(content));
  } catch {
    return undefined;
  }
  const series = schedule?.recurrence;
  if (!schedule || !series) return undefined;
  const duration = schedule.end - schedule.start;
  const changed = series.exceptions?.find((e) => e.original === instance);
  if (changed) return changed.deleted ? undefined : { duration, changed };
  return occurrences(schedule, series.rule, series.timezone, instance, instance + 1).some((o) => o.start === instance) ? { duration } : undefined;
}
