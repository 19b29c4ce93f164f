// RRULE to MS-ASCAL Recurrence: EAS holds one rule of a few fixed shapes, so a rule either maps onto
// one of them or comes back as the reason it cannot, for the reader to warn about.
import { compactDate, type PimRecurrence } from '../../eas/pim/items.js';
import { BYDAY, WEEKDAYS, wallMs, type Recur, type Wall } from './ical-values.js';

/** MS-ASCAL Recurrence, as the calendar items hold it (eas/pim/items.ts). */
export type EasRecurrence = PimRecurrence;

interface ByDay { n?: number; dow: number }

/** The EAS form of a rule, or why there is none. UNTIL and COUNT are the caller's. */
export function easRecurrence(rule: Recur, start: Wall): EasRecurrence | string {
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

/** The RRULE of an EAS recurrence (UNTIL in UTC), for the invitations the server writes. */
export function rruleOf(r: EasRecurrence): string {
  const parts: string[] = [];
  const days = (mask: number): string => WEEKDAYS.filter((_, i) => mask & (1 << i)).join(',');
  const nth = (week: number): string => (week >= 5 ? '-1' : String(week));
  switch (r.type) {
    case 0: parts.push('FREQ=DAILY'); break;
    case 1: parts.push('FREQ=WEEKLY', `BYDAY=${days(r.dayOfWeek ?? 0) || 'MO'}`); break;
    case 2: parts.push('FREQ=MONTHLY', `BYMONTHDAY=${r.dayOfMonth ?? 1}`); break;
    case 3: parts.push('FREQ=MONTHLY', ...nthParts(r)); break;
    case 5: parts.push('FREQ=YEARLY', `BYMONTH=${r.monthOfYear ?? 1}`, `BYMONTHDAY=${r.dayOfMonth ?? 1}`); break;
    case 6: parts.push('FREQ=YEARLY', `BYMONTH=${r.monthOfYear ?? 1}`, ...nthParts(r)); break;
  }
  if (r.interval > 1) parts.push(`INTERVAL=${r.interval}`);
  if (r.occurrences !== undefined) parts.push(`COUNT=${r.occurrences}`);
  else if (r.until !== undefined) parts.push(`UNTIL=${compactDate(r.until)}`);
  return parts.join(';');

  function nthParts(x: EasRecurrence): string[] {
    // MS-ASCAL: DayOfWeek 127 in the last week is the month's last day.
    if (x.dayOfWeek === 127) return ['BYMONTHDAY=-1'];
    const list = days(x.dayOfWeek ?? 0) || 'MO';
    return list.includes(',') ? [`BYDAY=${list}`, `BYSETPOS=${nth(x.weekOfMonth ?? 1)}`] : [`BYDAY=${nth(x.weekOfMonth ?? 1)}${list}`];
  }
}
