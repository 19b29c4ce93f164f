// The PimPort over the store: contacts, calendar items, tasks and notes kept as devices sent them
// (see eas/pim/items.ts), in the folders of those types. Every change wakes the folder's Pings.
import type { Principal } from '../../eas/backend.js';
import type { PimContent, PimItem, PimPort, PimWriteOptions } from '../../eas/ports/pim.js';
import type { MeetingService } from './meetings.js';
import { pimClassOfFolderType } from '../../eas/pim/items.js';
import { seriesOccurrence } from '../meetings/occurrences.js';
import type { ServiceDeps } from './deps.js';

/** Remembered Adds are shared with drafts (Mailbox.rememberClientAdd): kept apart by a prefix. */
const REPLAY_PREFIX = 'pim:';

export class PimService implements PimPort {
  constructor(private readonly deps: ServiceDeps, private readonly meetings: MeetingService) {}

  private get mailbox() { return this.deps.store.mailbox; }

  add(p: Principal, folderId: number, item: PimContent, replayKey: string, opts: PimWriteOptions = {}): { id: number; modseq: number } | undefined {
    const folder = this.mailbox.folder(p.userId, folderId);
    // Mail and journal folders hold no such items.
    if (!folder || pimClassOfFolderType(folder.type) === undefined) return undefined;
    const key = REPLAY_PREFIX + replayKey;
    const seen = this.mailbox.clientAdd(p.userId, key);
    if (seen !== undefined) {
      const id = Number(seen);
      const modseq = this.mailbox.modseqOf(p.userId, id);
      // Already added; if it has since been deleted, the device's next Sync tells it so.
      return { id, modseq: modseq ?? 0 };
    }
    const stored = this.withMeetingMail(() => {
      const added = this.mailbox.addItem(p.userId, folderId, item);
      this.mailbox.rememberClientAdd(p.userId, key, String(added.id));
      if (opts.meetingMail) this.meetingMail(p, () => this.meetings.organizerChanged(p, added.id, undefined));
      return added;
    });
    this.deps.events.changed([folderId]);
    if (opts.meetingMail) this.deps.outbox.kick();
    return stored;
  }

  /** Runs a change in a transaction; the meeting mail it queued is logged once it has committed. */
  private withMeetingMail<T>(work: () => T): T {
    let result: T;
    try {
      result = this.deps.store.db.transaction(work)();
    } catch (e) {
      this.meetings.settled(false);
      throw e;
    }
    this.meetings.settled(true);
    return result;
  }

  /**
   * Queues the meeting mail a 16.x organizer's change owes, in the change's transaction so that the
   * two are stored together; in a savepoint of its own, so that a meeting that cannot be mailed
   * (logged) does not cost the device its change.
   */
  private meetingMail(p: Principal, work: () => void): void {
    try {
      this.deps.store.db.transaction(work)();
    } catch (e) {
      this.meetings.settled(false);
      this.deps.log({ level: 'error', msg: 'meeting mail not queued', user: p.address, error: e instanceof Error ? e.message : String(e) });
    }
  }

  replace(p: Principal, id: number, item: Omit<PimContent, 'messageClass'>, opts: PimWriteOptions = {}): number | undefined {
    const folderId = this.mailbox.folderOfMessage(p.userId, id);
    if (folderId === undefined) return undefined;
    const modseq = this.withMeetingMail(() => {
      const before = opts.meetingMail ? this.meetings.organizedBefore(p, id) : undefined;
      const changed = this.mailbox.replaceItem(p.userId, id, item);
      if (changed !== undefined && opts.meetingMail) {
        const occurrence = opts.occurrence;
        this.meetingMail(p, () => (occurrence ? this.meetings.organizerOccurrenceChanged(p, id, before, occurrence) : this.meetings.organizerChanged(p, id, before)));
      }
      return changed;
    });
    if (modseq !== undefined) this.deps.events.changed([folderId]);
    if (modseq !== undefined && opts.meetingMail) this.deps.outbox.kick();
    return modseq;
  }

  hasOccurrence(p: Principal, id: number, instance: number): boolean {
    const content = this.mailbox.raw(p.userId, id);
    return content !== undefined && seriesOccurrence(content, instance) !== undefined;
  }

  remove(p: Principal, id: number, opts: PimWriteOptions = {}): boolean {
    const folderId = this.mailbox.folderOfMessage(p.userId, id);
    if (folderId === undefined) return false;
    const removed = this.withMeetingMail(() => {
      const before = opts.meetingMail ? this.meetings.organizedBefore(p, id) : undefined;
      if (!this.mailbox.deleteMessage(p.userId, id)) return false;
      if (before) this.meetingMail(p, () => this.meetings.organizerCanceled(p, before));
      return true;
    });
    if (!removed) return false;
    this.deps.events.changed([folderId]);
    if (opts.meetingMail) this.deps.outbox.kick();
    return true;
  }

  items(p: Principal, ids: number[]): Map<number, PimItem> {
    return this.mailbox.itemContents(p.userId, ids);
  }

  setSupported(p: Principal, devicePk: number, folderId: number, tags: string[] | undefined): void {
    this.mailbox.setSupported(p.userId, devicePk, folderId, tags);
  }

  supported(p: Principal, devicePk: number, folderId: number): string[] | undefined {
    return this.mailbox.supported(p.userId, devicePk, folderId);
  }
}
