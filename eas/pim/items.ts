// Contacts, calendar items, tasks and notes as Sync carries them. The server keeps each item as the
// device described it (its ApplicationData, re-encoded) and hands it to every other device of the
// user as it is: no conversion to a mail-store model, so what a client sends is what clients get.
// A Change replaces the item, as MS-ASCMD has clients send every property of a changed item, but
// for the elements the device does not manage (ghosted: eas/commands/sync-pim.ts).
import { decodeWbxml, encodeWbxml } from '../wbxml/index.js';
import { childText, type WbxmlElement } from '../wbxml/tree.js';

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

/** The code pages an item of each class is written in (AirSyncBase for Body, Attachments, Location). */
const NAMESPACES: Readonly<Record<PimClass, ReadonlySet<string>>> = {
  Contacts: new Set(['Contacts', 'Contacts2', 'AirSyncBase']),
  Calendar: new Set(['Calendar', 'AirSyncBase']),
  Tasks: new Set(['Tasks', 'AirSyncBase']),
  Notes: new Set(['Notes', 'AirSyncBase']),
};

/** Largest item kept (encoded): a contact with a photo is tens of KiB. */
export const MAX_ITEM_BYTES = 1024 * 1024;

export class PimDataError extends Error {}

/** Checks a device's ApplicationData for a folder of `cls` and encodes it for the store. */
export function encodePimData(cls: PimClass, data: WbxmlElement): { content: Buffer; summary: string; schedule?: { start: number; end: number; busy: number }; uid?: string } {
  const allowed = NAMESPACES[cls];
  const check = (el: WbxmlElement): void => {
    const namespace = el.tag.slice(0, el.tag.indexOf(':'));
    if (!allowed.has(namespace)) throw new PimDataError(`${el.tag} does not belong in a ${cls} item`);
    el.children.forEach(check);
  };
  if (data.children.length === 0) throw new PimDataError(`an empty ${cls} item`);
  data.children.forEach(check);
  const content = encodeWbxml({ tag: 'AirSync:ApplicationData', children: data.children });
  if (content.length > MAX_ITEM_BYTES) throw new PimDataError(`the item takes ${content.length} bytes, more than ${MAX_ITEM_BYTES}`);
  const schedule = cls === 'Calendar' ? scheduleOf(data) : undefined;
  // Meeting updates and replies find the organizer's or attendee's item by it.
  const uid = cls === 'Calendar' ? childText(data, 'Calendar:UID')?.trim().slice(0, 1024) : undefined;
  return { content, summary: summaryOf(cls, data), ...(schedule ? { schedule } : {}), ...(uid ? { uid } : {}) };
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

/**
 * When an appointment keeps its owner busy: its first occurrence (recurrences are not expanded).
 * Without a readable start and end it has no place in free/busy; it is still kept.
 */
function scheduleOf(data: WbxmlElement): { start: number; end: number; busy: number } | undefined {
  const start = parseEasDate(childText(data, 'Calendar:StartTime'));
  const end = parseEasDate(childText(data, 'Calendar:EndTime'));
  if (start === undefined || end === undefined || end <= start) return undefined;
  const busy = Number(childText(data, 'Calendar:BusyStatus') ?? '2');
  return { start, end, busy: Number.isInteger(busy) && busy >= 0 && busy <= 4 ? busy : 2 };
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
