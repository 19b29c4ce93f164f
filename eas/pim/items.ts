// Contacts, calendar items, tasks and notes as Sync carries them. The server keeps each item as the
// device described it (its ApplicationData, re-encoded) and hands it to every other device of the
// user as it is: no conversion to a mail-store model, so what a client sends is what clients get.
// A Change replaces the item, as MS-ASCMD has clients send every property of a changed item, but
// for the elements the device does not manage (ghosted: eas/commands/sync-pim.ts).
import { decodeWbxml, encodeWbxml } from '../wbxml/index.js';
import { child, childText, type WbxmlElement } from '../wbxml/tree.js';

export type PimClass = 'Contacts' | 'Calendar' | 'Tasks' | 'Notes';

/** Folder types (MS-ASCMD FolderSync Type) of the folders that hold each class, default and user-created. */
const CLASS_OF_FOLDER_TYPE: Readonly<Record<number, PimClass>> = {
  7: 'Tasks', 15: 'Tasks', 8: 'Calendar', 13: 'Calendar', 9: 'Contacts', 14: 'Contacts', 10: 'Notes', 17: 'Notes',
};

/** The type of a folder of each class that a user (or a fixture) creates. */
export const USER_FOLDER_TYPE: Readonly<Record<PimClass, number>> = { Contacts: 14, Calendar: 13, Tasks: 15, Notes: 17 };

/** The class of items a folder of this type holds; undefined for mail (and journal) folders. */
export function pimClassOfFolderType(type: number): PimClass | undefined {
  return CLASS_OF_FOLDER_TYPE[type];
}

export const MESSAGE_CLASS: Readonly<Record<PimClass, string>> = {
  Contacts: 'IPM.Contact', Calendar: 'IPM.Appointment', Tasks: 'IPM.Task', Notes: 'IPM.StickyNote',
};

export const PIM_MESSAGE_CLASSES: ReadonlySet<string> = new Set(Object.values(MESSAGE_CLASS));

/** The class of a stored item by its message class; undefined for mail. */
export function pimClassOfMessageClass(messageClass: string): PimClass | undefined {
  return (Object.keys(MESSAGE_CLASS) as PimClass[]).find((c) => MESSAGE_CLASS[c] === messageClass);
}

/**
 * The code pages an item of each class is written in (AirSyncBase for Body, Attachments, Location;
 * MeetingResponse for an attendee's proposed time on the organizer's item, and only that).
 */
const NAMESPACES: Readonly<Record<PimClass, ReadonlySet<string>>> = {
  Contacts: new Set(['Contacts', 'Contacts2', 'AirSyncBase']),
  Calendar: new Set(['Calendar', 'AirSyncBase', 'MeetingResponse']),
  Tasks: new Set(['Tasks', 'AirSyncBase']),
  Notes: new Set(['Notes', 'AirSyncBase']),
};

/** The MeetingResponse elements a calendar item holds: an attendee's proposed time, on the Attendee. */
export const PROPOSAL_TAGS: ReadonlySet<string> = new Set(['MeetingResponse:ProposedStartTime', 'MeetingResponse:ProposedEndTime']);

/** Largest item kept (encoded): a contact with a photo is tens of KiB. */
export const MAX_ITEM_BYTES = 1024 * 1024;

export class PimDataError extends Error {}

/** Checks a device's ApplicationData for a folder of `cls` and encodes it for the store. */
export function encodePimData(cls: PimClass, data: WbxmlElement): { content: Buffer; summary: string; schedule?: PimSchedule; uid?: string } {
  const allowed = NAMESPACES[cls];
  const check = (el: WbxmlElement, parent: string): void => {
    const namespace = el.tag.slice(0, el.tag.indexOf(':'));
    const misplaced = namespace === 'MeetingResponse' && !(PROPOSAL_TAGS.has(el.tag) && parent === 'Calendar:Attendee');
    if (!allowed.has(namespace) || misplaced) throw new PimDataError(`${el.tag} does not belong in a ${cls} item${misplaced ? ' there' : ''}`);
    for (const c of el.children) check(c, el.tag);
  };
  if (data.children.length === 0) throw new PimDataError(`an empty ${cls} item`);
  for (const c of data.children) check(c, data.tag);
  const content = encodeWbxml({ tag: 'AirSync:ApplicationData', children: data.children });
  if (content.length > MAX_ITEM_BYTES) throw new PimDataError(`the item takes ${content.length} bytes, more than ${MAX_ITEM_BYTES}`);
  const schedule = cls === 'Calendar' ? scheduleOf(data) : undefined;
  // Meeting updates and replies find the organizer's or attendee's item by it.
  const uid = cls === 'Calendar' ? childText(data, 'Calendar:UID')?.trim().slice(0, 1024) : undefined;
  return { content, summary: summaryOf(cls, data), ...(schedule ? { schedule } : {}), ...(uid ? { uid } : {}) };
}

/** MS-ASDTYPE Compact DateTime (20261201T100000Z), which calendar items and recurrences use. */
export function compactDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** EAS dates: 20261201T100000Z (Calendar) or 2026-12-01T10:00:00.000Z; ms since the epoch. */
export function parseEasDate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const compact = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text.trim());
  const iso = compact ? `${compact[1]}-${compact[2]}-${compact[3]}T${compact[4]}:${compact[5]}:${compact[6]}Z` : text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(iso)) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** When an appointment keeps its owner busy, for free/busy. */
export interface PimSchedule {
  /** The first occurrence, ms since the epoch. */
  start: number;
  end: number;
  /** Calendar BusyStatus, 0 free to 4 working elsewhere. */
  busy: number;
  /** A series: its rule, the item's Timezone (base64 TIME_ZONE_INFORMATION) it repeats in, its changed and removed occurrences. */
  recurrence?: { rule: PimRecurrence; timezone?: string; exceptions?: PimOccurrenceChange[] };
}

/** An Exception of a series, for free/busy: the occurrence at `original` is removed, or moved to start-end. */
export interface PimOccurrenceChange {
  original: number;
  deleted: boolean;
  start?: number;
  end?: number;
  busy?: number;
}

/** Most exceptions of one series read for free/busy. */
const MAX_SCHEDULE_EXCEPTIONS = 1000;

/** MS-ASCAL Recurrence (Type 0 daily, 1 weekly, 2 monthly, 3 monthly on the nth day, 5 yearly, 6 yearly on the nth day). */
export interface PimRecurrence {
  type: 0 | 1 | 2 | 3 | 5 | 6;
  interval: number;
  /** Until, ms since the epoch (UTC). */
  until?: number;
  occurrences?: number;
  /** Bit mask: Sunday 1, Monday 2, Tuesday 4, Wednesday 8, Thursday 16, Friday 32, Saturday 64. */
  dayOfWeek?: number;
  dayOfMonth?: number;
  /** 1-4, 5 for the last. */
  weekOfMonth?: number;
  monthOfYear?: number;
}

/** A calendar item's place in free/busy; without a readable start and end it has none (it is still kept). */
export function scheduleOf(data: WbxmlElement): PimSchedule | undefined {
  const start = parseEasDate(childText(data, 'Calendar:StartTime'));
  const end = parseEasDate(childText(data, 'Calendar:EndTime'));
  if (start === undefined || end === undefined || end <= start) return undefined;
  const busy = Number(childText(data, 'Calendar:BusyStatus') ?? '2');
  const rule = readRecurrence(child(data, 'Calendar:Recurrence'));
  const timezone = childText(data, 'Calendar:Timezone');
  const exceptions = rule ? readExceptions(child(data, 'Calendar:Exceptions')) : [];
  return {
    start, end, busy: Number.isInteger(busy) && busy >= 0 && busy <= 4 ? busy : 2,
    ...(rule ? { recurrence: { rule, ...(timezone ? { timezone } : {}), ...(exceptions.length ? { exceptions } : {}) } } : {}),
  };
}

/** A calendar item's Exceptions element, added (empty) when it has none. */
export function exceptionsElement(data: WbxmlElement): WbxmlElement {
  let list = data.children.find((c) => c.tag === 'Calendar:Exceptions');
  if (!list) {
    list = { tag: 'Calendar:Exceptions', children: [] };
    data.children.push(list);
  }
  return list;
}

/** Replaces the Exception for an occurrence (by original start) where it stands, or adds it. */
export function putException(list: WbxmlElement, instance: number, exception: WbxmlElement): void {
  const at = list.children.findIndex((c) => exceptionOriginal(c) === instance);
  if (at >= 0) list.children[at] = exception;
  else list.children.push(exception);
}

/** The original start an Exception names (ExceptionStartTime up to 14.1, AirSyncBase InstanceId from 16.0). */
export function exceptionOriginal(e: WbxmlElement): number | undefined {
  return parseEasDate(childText(e, 'Calendar:ExceptionStartTime') ?? childText(e, 'AirSyncBase:InstanceId'));
}

/** A series' Exceptions, those with a readable original start. */
function readExceptions(list: WbxmlElement | undefined): PimOccurrenceChange[] {
  const out: PimOccurrenceChange[] = [];
  for (const e of list?.children ?? []) {
    if (out.length >= MAX_SCHEDULE_EXCEPTIONS) break;
    const read = readException(e);
    if (read) out.push(read);
  }
  return out;
}

/** One Exception of a series; undefined when it is none or names no readable original start. */
export function readException(e: WbxmlElement): PimOccurrenceChange | undefined {
  const original = exceptionOriginal(e);
  if (e.tag !== 'Calendar:Exception' || original === undefined) return undefined;
  const start = parseEasDate(childText(e, 'Calendar:StartTime'));
  const end = parseEasDate(childText(e, 'Calendar:EndTime'));
  const busy = Number(childText(e, 'Calendar:BusyStatus'));
  return {
    original, deleted: childText(e, 'Calendar:Deleted') === '1',
    ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}),
    ...(Number.isInteger(busy) && busy >= 0 && busy <= 4 && childText(e, 'Calendar:BusyStatus') !== undefined ? { busy } : {}),
  };
}

/**
 * A recurrence's elements in the order MS-ASCAL and MS-ASEMAIL give them, in the namespace `el`
 * makes (Calendar:Recurrence, or Email:Recurrence in a MeetingRequest; Until is a Compact DateTime in both).
 */
export function recurrenceElements(el: (name: string, value: string | number) => WbxmlElement, r: PimRecurrence): WbxmlElement[] {
  const out = [el('Type', r.type), el('Interval', r.interval)];
  if (r.until !== undefined) out.push(el('Until', compactDate(r.until)));
  if (r.occurrences !== undefined) out.push(el('Occurrences', r.occurrences));
  if (r.weekOfMonth !== undefined) out.push(el('WeekOfMonth', r.weekOfMonth));
  if (r.dayOfMonth !== undefined) out.push(el('DayOfMonth', r.dayOfMonth));
  if (r.dayOfWeek !== undefined) out.push(el('DayOfWeek', r.dayOfWeek));
  if (r.monthOfYear !== undefined) out.push(el('MonthOfYear', r.monthOfYear));
  return out;
}

/** A Calendar:Recurrence element read; undefined when it names no type EAS defines. */
export function readRecurrence(r: WbxmlElement | undefined): PimRecurrence | undefined {
  if (!r) return undefined;
  const n = (name: string): number | undefined => {
    const t = childText(r, `Calendar:${name}`);
    const v = Number(t);
    return t !== undefined && t.trim() !== '' && Number.isInteger(v) ? v : undefined;
  };
  const type = n('Type');
  if (type === undefined || ![0, 1, 2, 3, 5, 6].includes(type)) return undefined;
  const until = parseEasDate(childText(r, 'Calendar:Until'));
  const out: PimRecurrence = { type: type as PimRecurrence['type'], interval: Math.min(999, Math.max(1, n('Interval') ?? 1)) };
  const occurrences = n('Occurrences');
  if (occurrences !== undefined && occurrences > 0) out.occurrences = occurrences;
  else if (until !== undefined) out.until = until;
  for (const [key, name] of [['dayOfWeek', 'DayOfWeek'], ['dayOfMonth', 'DayOfMonth'], ['weekOfMonth', 'WeekOfMonth'], ['monthOfYear', 'MonthOfYear']] as const) {
    const v = n(name);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** The stored ApplicationData element back. */
export function decodePimData(content: Buffer): WbxmlElement {
  return decodeWbxml(content);
}

function summaryOf(cls: PimClass, data: WbxmlElement): string {
  if (cls === 'Contacts') {
    const name = [childText(data, 'Contacts:FirstName'), childText(data, 'Contacts:LastName')].filter(Boolean).join(' ');
    return (childText(data, 'Contacts:FileAs') || name || childText(data, 'Contacts:CompanyName') || childText(data, 'Contacts:Email1Address') || '').slice(0, 255);
  }
  return (childText(data, `${cls}:Subject`) ?? '').slice(0, 255);
}
