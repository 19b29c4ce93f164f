// Saved client views. A SyncKey names one; for each (device, scope) the newest view and the one it
// came from are kept, so a client that lost a response and retries with its previous key is answered
// again from the same starting point instead of failing or skipping changes.
//
// A full sync of a large folder sends it a window at a time, so scanning the whole saved view for
// every window would cost the square of the folder's size. Two hints saved with each view let the diff
// skip those scans; each is derived from facts checked when the view is saved, never from what a
// response is expected to hold, so a retried request is answered the same as the first try:
// - clean_marker: the folder's marker (see folderMarker) at a moment when every item of the view was
//   in the folder with the modseq the view holds. While the marker is unchanged nothing entered,
//   changed in or left the folder, so there is nothing to delete or change.
// - add floor (add_floor_at, add_floor_id) and add_mark: every message of the folder ordered at or
//   above the floor (by received_at, id) whose modseq is at most add_mark is in the view. New items
//   are then those below the floor plus those stamped after add_mark, both found by index seeks.
// Both rest on every insert, change and move into a folder stamping a fresh store-wide modseq.
// Copying every row of a view into its successor would cost as much again, so each view also keeps
// its parent and the update that made it from that parent (see reuseParent).
import crypto from 'node:crypto';
import type { Db } from './db.js';
import type { FolderDiff, HierarchyEntry, SyncState, ViewUpdate } from '../../eas/backend.js';

interface StateRow { id: number; sync_key: string; generation: number }
interface Hints { add_floor_at: number | null; add_floor_id: number | null; add_mark: number | null; clean_marker: string | null }
interface Key { at: number; id: number }

/** Whether a is ordered at or above b, in sending order's (received_at, id). */
const atOrAbove = (a: Key, b: Key): boolean => a.at > b.at || (a.at === b.at && a.id >= b.id);

const NOT_IN_VIEW = 'NOT EXISTS (SELECT 1 FROM sync_items s WHERE s.state_id = ? AND s.item_id = m.id)';

export class SyncStates {
  constructor(private readonly db: Db) {}

  /**
   * Keys are "{chain}generation.digest". The chain is random per reset, so a key from an abandoned
   * chain never names a later view. The digest covers the key derived from and what was changed,
   * so a retried request that is answered with the same changes gets the very same key as the answer
   * the client lost, and one answered differently (the folder changed in between) gets another: a
   * client that did receive the first answer and syncs on from it is told its key is unknown and
   * starts over, instead of being told the view holds items it was never sent.
   */
  private newKey(generation: number, from?: SyncState, change = ''): string {
    if (!from) return `{${crypto.randomUUID()}}${generation}`;
    const chain = from.key.slice(0, from.key.indexOf('}') + 1);
    const digest = crypto.createHash('sha256').update(from.key).update('\n').update(change).digest('hex').slice(0, 8);
    return `${chain}${generation}.${digest}`;
  }

  private latestGeneration(devicePk: number, scope: string): number {
    const r = this.db.prepare('SELECT max(generation) AS g FROM sync_states WHERE device_pk = ? AND scope = ?').get(devicePk, scope) as { g: number | null };
    return r.g ?? 0;
  }

  start(devicePk: number, scope: string): SyncState {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM sync_states WHERE device_pk = ? AND scope = ?').run(devicePk, scope);
      const key = this.newKey(1);
      const info = this.db.prepare('INSERT INTO sync_states (device_pk, scope, sync_key, generation, created_at) VALUES (?, ?, ?, 1, ?)').run(devicePk, scope, key, Date.now());
      return { id: Number(info.lastInsertRowid), key, generation: 1, latest: true };
    })();
  }

  find(devicePk: number, scope: string, key: string): SyncState | undefined {
    const r = this.db.prepare('SELECT id, sync_key, generation FROM sync_states WHERE device_pk = ? AND scope = ? AND sync_key = ?').get(devicePk, scope, key) as StateRow | undefined;
    if (!r) return undefined;
    return { id: r.id, key: r.sync_key, generation: r.generation, latest: r.generation === this.latestGeneration(devicePk, scope) };
  }

  latest(devicePk: number, scope: string): SyncState | undefined {
    const r = this.db.prepare('SELECT id, sync_key, generation FROM sync_states WHERE device_pk = ? AND scope = ? ORDER BY generation DESC LIMIT 1').get(devicePk, scope) as StateRow | undefined;
    return r && { id: r.id, key: r.sync_key, generation: r.generation, latest: true };
  }

  private makeSuccessor(devicePk: number, scope: string, from: SyncState, change: string): SyncState {
    // Views newer than `from` belong to an answer the client never received; views older than
    // `from` can no longer be retried. Only `from` and its successor remain.
    this.db.prepare('DELETE FROM sync_states WHERE device_pk = ? AND scope = ? AND generation != ?').run(devicePk, scope, from.generation);
    const generation = from.generation + 1;
    const key = this.newKey(generation, from, change);
    const info = this.db.prepare('INSERT INTO sync_states (device_pk, scope, sync_key, generation, created_at) VALUES (?, ?, ?, ?, ?)').run(devicePk, scope, key, generation, Date.now());
    return { id: Number(info.lastInsertRowid), key, generation, latest: true };
  }

  derive(devicePk: number, scope: string, from: SyncState, update: ViewUpdate): SyncState {
    return this.db.transaction(() => {
      const delta = JSON.stringify({ set: update.set, remove: update.remove });
      const next = this.reuseParent(devicePk, scope, from, update, delta) ?? this.copySuccessor(devicePk, scope, from, update, delta);
      // A reused row's hints described its old items: cleared here, set again below for a folder.
      this.db.prepare(`UPDATE sync_states SET parent_id = ?, delta = ?, add_floor_at = NULL, add_floor_id = NULL, add_mark = NULL, clean_marker = NULL
          WHERE id = ?`).run(from.id, delta, next.id);
      const folderId = Number(scope);
      if (Number.isSafeInteger(folderId)) this.saveHints(devicePk, folderId, from, next, update);
      return next;
    })();
  }

  private applyUpdate(stateId: number, update: ViewUpdate): void {
    const del = this.db.prepare('DELETE FROM sync_items WHERE state_id = ? AND item_id = ?');
    for (const id of update.remove) del.run(stateId, id);
    const set = this.db.prepare('INSERT INTO sync_items (state_id, item_id, modseq) VALUES (?, ?, ?) ON CONFLICT (state_id, item_id) DO UPDATE SET modseq = excluded.modseq');
    for (const s of update.set) set.run(stateId, s.id, s.modseq);
  }

  private copySuccessor(devicePk: number, scope: string, from: SyncState, update: ViewUpdate, delta: string): SyncState {
    const next = this.makeSuccessor(devicePk, scope, from, delta);
    this.db.prepare('INSERT INTO sync_items (state_id, item_id, modseq) SELECT ?, item_id, modseq FROM sync_items WHERE state_id = ?').run(next.id, from.id);
    this.applyUpdate(next.id, update);
    return next;
  }

  /**
   * The common step, from the newest view whose parent is the only other one kept: the parent is
   * dropped anyway, so its rows are brought up to `from` by replaying the update that made `from`,
   * then to the successor, instead of copying every row of `from`. Anything else copies.
   */
  private reuseParent(devicePk: number, scope: string, from: SyncState, update: ViewUpdate, delta: string): SyncState | undefined {
    const own = this.db.prepare('SELECT parent_id, delta FROM sync_states WHERE id = ? AND device_pk = ? AND scope = ? AND generation = ?')
      .get(from.id, devicePk, scope, from.generation) as { parent_id: number | null; delta: string | null } | undefined;
    if (!own || own.parent_id === null || own.delta === null) return undefined;
    const others = this.db.prepare('SELECT id, generation FROM sync_states WHERE device_pk = ? AND scope = ? AND id != ?').all(devicePk, scope, from.id) as Array<{ id: number; generation: number }>;
    if (others.length !== 1 || others[0]!.id !== own.parent_id || others[0]!.generation !== from.generation - 1) return undefined;
    const parent = others[0]!.id;
    this.applyUpdate(parent, JSON.parse(own.delta) as ViewUpdate);
    this.applyUpdate(parent, update);
    const generation = from.generation + 1;
    const key = this.newKey(generation, from, delta);
    this.db.prepare('UPDATE sync_states SET sync_key = ?, generation = ?, created_at = ? WHERE id = ?').run(key, generation, Date.now(), parent);
    return { id: parent, key, generation, latest: true };
  }

  private hints(stateId: number): Hints {
    return (this.db.prepare('SELECT add_floor_at, add_floor_id, add_mark, clean_marker FROM sync_states WHERE id = ?').get(stateId) as Hints | undefined)
      ?? { add_floor_at: null, add_floor_id: null, add_mark: null, clean_marker: null };
  }

  /**
   * Changes whenever a message enters, changes in or leaves the folder: an entry or a change stamps a
   * modseq above every other, so the same count and highest modseq mean the very same messages.
   */
  private folderMarker(userId: number, folderId: number): string {
    const r = this.db.prepare('SELECT count(*) AS n, max(modseq) AS m FROM messages WHERE folder_id = ?').get(folderId) as { n: number; m: number | null };
    return `${userId}:${r.n}:${r.m ?? 0}`;
  }

  /** The hints of `next`, carried from `from` and checked against the folder now (in derive's transaction). */
  private saveHints(devicePk: number, folderId: number, from: SyncState, next: SyncState, update: ViewUpdate): void {
    const owner = this.db.prepare('SELECT user_id FROM devices WHERE id = ?').get(devicePk) as { user_id: number } | undefined;
    if (!owner) return;
    const old = this.hints(from.id);
    const row = this.db.prepare('SELECT folder_id, user_id, modseq, received_at FROM messages WHERE id = ?');
    type Row = { folder_id: number; user_id: number; modseq: number; received_at: number };
    const inFolder = (id: number): Row | undefined => {
      const r = row.get(id) as Row | undefined;
      return r && r.folder_id === folderId ? r : undefined;
    };

    const added = update.set.map((s) => ({ ...s, row: inFolder(s.id) }));
    // Every added item must be in the folder as the view records it, or the view is not clean.
    const clean = old.clean_marker !== null && old.clean_marker === this.folderMarker(owner.user_id, folderId)
      && added.every((s) => s.row !== undefined && s.row.user_id === owner.user_id && s.row.modseq === s.modseq)
      ? old.clean_marker : null;

    let floor: Key | undefined = old.add_floor_at === null || old.add_floor_id === null ? undefined : { at: old.add_floor_at, id: old.add_floor_id };
    let mark = old.add_mark ?? 0;
    // An item taken out of the view while still in the folder (a soft delete) must sit below the floor.
    if (floor) {
      for (const id of update.remove) {
        const r = inFolder(id);
        if (r && r.modseq <= mark && atOrAbove({ at: r.received_at, id }, floor)) floor = { at: r.received_at, id: id + 1 };
      }
    }
    const now = (this.db.prepare('SELECT value FROM modseq WHERE id = 1').get() as { value: number }).value;
    if (!floor) {
      mark = now;
    } else {
      const missed = this.db.prepare(`SELECT 1 FROM messages m WHERE m.folder_id = ? AND m.modseq > ?
          AND (+m.received_at > ? OR (+m.received_at = ? AND m.id >= ?)) AND ${NOT_IN_VIEW} LIMIT 1`)
        .get(folderId, mark, floor.at, floor.at, floor.id, next.id);
      if (!missed) mark = now;
    }
    // Lower the floor to the lowest item just added, when nothing between it and the floor is missing.
    let lowest: Key | undefined;
    for (const { id, row: r } of added) {
      if (r && (!lowest || !atOrAbove({ at: r.received_at, id }, lowest))) lowest = { at: r.received_at, id };
    }
    if (lowest && (!floor || !atOrAbove(lowest, floor))) {
      const missed = floor
        ? this.db.prepare(`SELECT 1 FROM messages m WHERE m.folder_id = ? AND m.received_at >= ? AND m.received_at <= ?
            AND (m.received_at > ? OR m.id >= ?) AND (m.received_at < ? OR m.id < ?) AND m.modseq <= ? AND ${NOT_IN_VIEW} LIMIT 1`)
          .get(folderId, lowest.at, floor.at, lowest.at, lowest.id, floor.at, floor.id, mark, next.id)
        : this.db.prepare(`SELECT 1 FROM messages m WHERE m.folder_id = ? AND m.received_at >= ?
            AND (m.received_at > ? OR m.id >= ?) AND m.modseq <= ? AND ${NOT_IN_VIEW} LIMIT 1`)
          .get(folderId, lowest.at, lowest.at, lowest.id, mark, next.id);
      if (!missed) floor = lowest;
    }
    this.db.prepare('UPDATE sync_states SET add_floor_at = ?, add_floor_id = ?, add_mark = ?, clean_marker = ? WHERE id = ?')
      .run(floor?.at ?? null, floor?.id ?? null, floor ? mark : null, clean, next.id);
  }

  /** Forgets every device's views of these folders of a user: the folders are gone and their ids are never given out again. */
  dropFolders(userId: number, folderIds: readonly number[]): number {
    const del = this.db.prepare('DELETE FROM sync_states WHERE scope = ? AND device_pk IN (SELECT id FROM devices WHERE user_id = ?)');
    return this.db.transaction(() => folderIds.reduce((n, id) => n + del.run(String(id), userId).changes, 0))();
  }

  deriveHierarchy(devicePk: number, from: SyncState, entries: HierarchyEntry[]): SyncState {
    return this.db.transaction(() => {
      const next = this.makeSuccessor(devicePk, 'hierarchy', from, JSON.stringify(entries));
      const ins = this.db.prepare('INSERT INTO sync_folders (state_id, folder_id, parent_id, name, type) VALUES (?, ?, ?, ?, ?)');
      for (const e of entries) ins.run(next.id, e.folderId, e.parentId, e.name, e.type);
      return next;
    })();
  }

  hierarchy(state: SyncState): HierarchyEntry[] {
    const rows = this.db.prepare('SELECT folder_id, parent_id, name, type FROM sync_folders WHERE state_id = ? ORDER BY folder_id').all(state.id) as Array<{ folder_id: number; parent_id: number; name: string; type: number }>;
    return rows.map((r) => ({ folderId: r.folder_id, parentId: r.parent_id, name: r.name, type: r.type }));
  }

  /**
   * What the folder holds now that the view does not, in sending order: deletions, items that left
   * the date window, changed items, then new items newest first. `since` is the FilterType cut-off.
   */
  diff(userId: number, folderId: number, view: SyncState, since: Date | undefined, limit: number): FolderDiff {
    // One read transaction: the marker and the scans it vouches for see the same folder.
    return this.db.transaction(() => this.diffNow(userId, folderId, view, since, limit))();
  }

  private diffNow(userId: number, folderId: number, view: SyncState, since: Date | undefined, limit: number): FolderDiff {
    const cutoff = since?.getTime() ?? -8.64e15;
    const hints = this.hints(view.id);
    const marker = this.folderMarker(userId, folderId);
    const allDeletes: number[] = [];
    const allSoft: number[] = [];
    const allChanges: Array<{ id: number; modseq: number }> = [];
    if (hints.clean_marker !== marker) {
      // Deletions, soft deletions and changes in one pass over the view, in item order.
      let clean = true;
      const rows = this.db.prepare(`SELECT s.item_id AS id, s.modseq AS seen, m.id AS present, m.modseq AS modseq, m.received_at AS at
          FROM sync_items s LEFT JOIN messages m ON m.id = s.item_id AND m.folder_id = ? AND m.user_id = ?
          WHERE s.state_id = ? AND (m.id IS NULL OR m.modseq != s.modseq OR m.received_at < ?) ORDER BY s.item_id`)
        .iterate(folderId, userId, view.id, cutoff) as IterableIterator<{ id: number; seen: number; present: number | null; modseq: number; at: number }>;
      for (const r of rows) {
        if (r.present === null) allDeletes.push(r.id);
        else if (r.at < cutoff) allSoft.push(r.id);
        else allChanges.push({ id: r.id, modseq: r.modseq });
        if (r.present === null || r.modseq !== r.seen) clean = false;
        // Past this many deletions nothing else fits in the window.
        if (allDeletes.length > limit) { clean = false; break; }
      }
      if (clean) this.db.prepare('UPDATE sync_states SET clean_marker = ? WHERE id = ?').run(marker, view.id);
    } else if (since) {
      allSoft.push(...(this.db.prepare(`SELECT m.id FROM sync_items s JOIN messages m ON m.id = s.item_id
          WHERE s.state_id = ? AND m.folder_id = ? AND m.received_at < ? ORDER BY m.id LIMIT ?`).all(view.id, folderId, cutoff, limit + 1) as Array<{ id: number }>).map((r) => r.id));
    }
    const deletes = allDeletes.slice(0, limit + 1);
    let room = limit - deletes.length;
    const softDeletes = room < 0 ? [] : allSoft.slice(0, room + 1);
    room -= softDeletes.length;
    const changes = room < 0 ? [] : allChanges.slice(0, room + 1);
    room -= changes.length;
    const adds = room < 0 ? [] : this.newItems(userId, folderId, view, hints, cutoff, room + 1);
    room -= adds.length;
    // Each list was read one past the room left, so a negative room means something was cut.
    const total = deletes.length + softDeletes.length + changes.length + adds.length;
    const more = total > limit || room < 0;
    const keep = <T>(list: T[], start: number): T[] => list.slice(0, Math.max(0, limit - start));
    const d = keep(deletes, 0);
    const sd = keep(softDeletes, d.length);
    const c = keep(changes, d.length + sd.length);
    const a = keep(adds, d.length + sd.length + c.length);
    return { deletes: d, softDeletes: sd, changes: c, adds: a, more };
  }

  /** Up to `count` messages of the folder not in the view, newest first. */
  private newItems(userId: number, folderId: number, view: SyncState, hints: Hints, cutoff: number, count: number): Array<{ id: number; modseq: number }> {
    if (hints.add_floor_at === null || hints.add_floor_id === null || hints.add_mark === null) {
      return this.db.prepare(`SELECT m.id, m.modseq FROM messages m
          WHERE m.folder_id = ? AND m.user_id = ? AND m.received_at >= ? AND ${NOT_IN_VIEW}
          ORDER BY m.received_at DESC, m.id DESC LIMIT ?`).all(folderId, userId, cutoff, view.id, count) as Array<{ id: number; modseq: number }>;
    }
    const at = hints.add_floor_at;
    const id = hints.add_floor_id;
    const below = this.db.prepare(`SELECT m.id, m.modseq, m.received_at AS at FROM messages m
        WHERE m.folder_id = ? AND m.received_at <= ? AND (m.received_at < ? OR m.id < ?)
          AND m.user_id = ? AND m.received_at >= ? AND ${NOT_IN_VIEW}
        ORDER BY m.received_at DESC, m.id DESC LIMIT ?`).all(folderId, at, at, id, userId, cutoff, view.id, count) as Array<{ id: number; modseq: number; at: number }>;
    // Unary plus keeps SQLite off the received_at index here: only the few stamped rows are wanted.
    const stamped = this.db.prepare(`SELECT m.id, m.modseq, m.received_at AS at FROM messages m
        WHERE m.folder_id = ? AND m.modseq > ? AND (+m.received_at > ? OR (+m.received_at = ? AND m.id >= ?))
          AND m.user_id = ? AND +m.received_at >= ? AND ${NOT_IN_VIEW}
        ORDER BY m.received_at DESC, m.id DESC LIMIT ?`).all(folderId, hints.add_mark, at, at, id, userId, cutoff, view.id, count) as Array<{ id: number; modseq: number; at: number }>;
    // Every stamped item sits at or above the floor and every other below it: stamped ones come first.
    return [...stamped, ...below].slice(0, count).map((r) => ({ id: r.id, modseq: r.modseq }));
  }

  countPending(userId: number, folderId: number, view: SyncState, since: Date | undefined): number {
    const cutoff = since?.getTime() ?? -8.64e15;
    const r = this.db.prepare(`SELECT
        (SELECT count(*) FROM sync_items s LEFT JOIN messages m ON m.id = s.item_id AND m.folder_id = ? AND m.user_id = ? WHERE s.state_id = ? AND m.id IS NULL)
      + (SELECT count(*) FROM sync_items s JOIN messages m ON m.id = s.item_id WHERE s.state_id = ? AND m.folder_id = ? AND (m.received_at < ? OR m.modseq != s.modseq))
      + (SELECT count(*) FROM messages m WHERE m.folder_id = ? AND m.user_id = ? AND m.received_at >= ? AND NOT EXISTS (SELECT 1 FROM sync_items s WHERE s.state_id = ? AND s.item_id = m.id))
      AS n`).get(folderId, userId, view.id, view.id, folderId, cutoff, folderId, userId, cutoff, view.id) as { n: number };
    return r.n;
  }
}
