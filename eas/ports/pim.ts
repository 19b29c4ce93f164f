// What Sync needs for the folders that hold contacts, calendar items, tasks and notes. The engine
// checks and encodes what devices send (eas/pim/items.ts); the service stores it as it came.
import type { Principal } from '../backend.js';
import type { PimSchedule } from '../pim/items.js';

export interface PimContent {
  /** IPM.Contact, IPM.Appointment, IPM.Task or IPM.StickyNote. */
  messageClass: string;
  /** A name for lists and logs (the contact's name, the item's subject). */
  summary: string;
  /** The item's ApplicationData, WBXML-encoded. */
  content: Buffer;
  /** An appointment's time (ms since the epoch) and Calendar BusyStatus (0 free to 4 working elsewhere), for free/busy. */
  schedule?: PimSchedule;
  /** A calendar item's iCalendar UID (Calendar:UID). */
  uid?: string;
}

export interface PimWriteOptions {
  /**
   * A calendar item from a 16.x device, whose organizers leave meeting mail to the server: an item
   * that organizes a meeting sends its invitations, updates and cancellations (server/meetings/organizer.ts).
   */
  meetingMail?: boolean;
  /** The write changed (or deleted) one occurrence of a series, by its original start: an organizer's attendees hear of that occurrence alone. */
  occurrence?: { instance: number; deleted: boolean };
}

export interface PimItem {
  id: number;
  folderId: number;
  modseq: number;
  messageClass: string;
  content: Buffer;
}

export interface PimPort {
  /**
   * Stores a new item in one of the user's contacts, calendar, tasks or notes folders; undefined when
   * the folder is not one. The same replayKey (device and ClientId) gets the item it got before, so a
   * Sync retried after a lost answer does not add the item twice.
   */
  add(p: Principal, folderId: number, item: PimContent, replayKey: string, opts?: PimWriteOptions): { id: number; modseq: number } | undefined;
  /** Replaces an item's content; the new modseq, or undefined when it is not the user's. */
  replace(p: Principal, id: number, item: Omit<PimContent, 'messageClass'>, opts?: PimWriteOptions): number | undefined;
  /** Whether a series item has an occurrence (not deleted) at this original start. */
  hasOccurrence(p: Principal, id: number, instance: number): boolean;
  /** Deletes an item for good; false when it is not the user's. */
  remove(p: Principal, id: number, opts?: PimWriteOptions): boolean;
  /** Items by id, the user's own only. */
  items(p: Principal, ids: number[]): Map<number, PimItem>;
  /** Remembers the elements a device manages in a folder (Sync Supported); undefined: it named none. */
  setSupported(p: Principal, devicePk: number, folderId: number, tags: string[] | undefined): void;
  supported(p: Principal, devicePk: number, folderId: number): string[] | undefined;
}
