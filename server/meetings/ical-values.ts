// Small values every part of the meeting code reads alike: ical.js's types, wall-clock readings (the
// text's dates before any zone applies), BYDAY weekdays, and text made safe and short for messages.
import ICAL from 'ical.js';

export type Component = InstanceType<typeof ICAL.Component>;
export type Property = InstanceType<typeof ICAL.Property>;
export type Recur = InstanceType<typeof ICAL.Recur>;

/** A wall-clock reading, as written in the text. */
export interface Wall { y: number; mo: number; d: number; h: number; mi: number; s: number }

export const WEEKDAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

/** A wall-clock reading given as ms since the epoch "as if UTC", as an ical.js date-time of no zone. */
export function wallTime(wall: number): InstanceType<typeof ICAL.Time> {
  const d = new Date(wall);
  return ICAL.Time.fromData({
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), isDate: false,
  });
}
export const BYDAY = /^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$/;
/** Control characters but newline and tab, which texts keep. */
export const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function monthLength(y: number, mo: number): number {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return mo === 2 && leap ? 29 : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1] ?? 0;
}

export function validWall(w: Wall): boolean {
  return Number.isInteger(w.y) && w.y >= 0 && w.y <= 9999 && w.d >= 1 && w.d <= monthLength(w.y, w.mo) && w.h <= 23 && w.mi <= 59 && w.s <= 60;
}

/** A reading as ms since the epoch as if it were UTC; Date.UTC would read years below 100 as 19xx. */
export function wallMs(w: Wall): number {
  const d = new Date(0);
  d.setUTCFullYear(w.y, w.mo - 1, w.d);
  d.setUTCHours(w.h, w.mi, w.s, 0);
  return d.getTime();
}

/** Sorts like the jCal strings of DTSTART values. */
export function wallStamp(w: Wall): string {
  const p = (n: number, l = 2): string => String(n).padStart(l, '0');
  return `${p(w.y, 4)}-${p(w.mo)}-${p(w.d)}T${p(w.h)}:${p(w.mi)}:${p(w.s)}`;
}

// ---- text ---------------------------------------------------------------------------------------

export function clean(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}

/** At most `max` bytes of UTF-8, cut between characters. */
export function cutUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  const b = Buffer.from(s, 'utf8');
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

export function short(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
