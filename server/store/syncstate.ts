// Saved client views. A SyncKey names one; for each (device, scope) the newest view and the one it
// came from are kept, so a client that lost a response and retries with its previous key is answered
// again from the same starting point instead of failing or skipping changes.
import crypto from 'node:crypto';
import type { Db } from './db.js';
import type { FolderDiff, HierarchyEntry, SyncState, ViewUpdate } from '../../eas/backend.js';

interface StateRow { id: number; sync_key: string; generation: number }

export class SyncStates {
  constructor(private readonly db: Db) {}

  /**
   * Keys are "{chain}generation". The chain is random per reset, so a key from an abandoned chain never
   * names a later view; within a chain the key is fixed by the generation, so a retried request is
   * answered with the very same key as the answer the client lost.
   */
  private newKey(generation: number, from?: SyncState): string {
    const chain = from ? from.key.slice(0, from.key.indexOf('}') + 1) : `{${crypto.randomUUID()}}`;
    return `${chain}${generation}`;
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

  private makeSuccessor(devicePk: number, scope: string, from: SyncState): SyncState {
    // Views newer than `from` belong to an answer the client never received; views older than
    // `from` can no longer be retried. Only `from` and its successor remain.
    this.db.prepare('DELETE FROM sync_states WHERE device_pk = ? AND scope = ? AND generation != ?').run(devicePk, scope, from.generation);
    const generation = from.generation + 1;
    const key = this.newKey(generation, from);
    const info = this.db.prepare('INSERT INTO sync_states (device_pk, scope, sync_key, generation, created_at) VALUES (?, ?, ?, ?, ?)').run(devicePk, scope, key, generation, Date.now());
    return { id: Number(info.lastInsertRowid), key, generation, latest: true };
  }

  derive(devicePk: number, scope: string, from: SyncState, update: ViewUpdate): SyncState {
    return this.db.transaction(() => {
      const next = this.makeSuccessor(devicePk, scope, from);
      this.db.prepare('INSERT INTO sync_items (state_id, item_id, modseq) SELECT ?, item_id, modseq FROM sync_items WHERE state_id = ?').run(next.id, from.id);
      const del = this.db.prepare('DELETE FROM sync_items WHERE state_id = ? AND item_id = ?');
      for (const id of update.remove) del.run(next.id, id);
      const set = this.db.prepare('INSERT INTO sync_items (state_id, item_id, modseq) VALUES (?, ?, ?) ON CONFLICT (state_id, item_id) DO UPDATE SET modseq = excluded.modseq');
      for (const s of update.set) set.run(next.id, s.id, s.modseq);
      return next;
    })();
  }

  /** Forgets every device's views of these folders of a user: the folders are gone and their ids are never given out again. */
  dropFolders(userId: number, folderIds: readonly number[]): number {
    const del = this.db.prepare('DELETE FROM sync_states WHERE scope = ? AND device_pk IN (SELECT id FROM devices WHERE user_id = ?)');
    return this.db.transaction(() => folderIds.reduce((n, id) => n + del.run(String(id), userId).changes, 0))();
  }

  deriveHierarchy(devicePk: number, from: SyncState, entries: HierarchyEntry[]): SyncState {
    return this.db.transaction(() => {
      const next = this.makeSuccessor(devicePk, 'hierarchy', from);
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
    const cutoff = since?.getTime() ?? -8.64e15;
    const deletes = (this.db.prepare(`SELECT s.item_id AS id FROM sync_items s
        LEFT JOIN messages m ON m.id = s.item_id AND m.folder_id = ? AND m.user_id = ?
        WHERE s.state_id = ? AND m.id IS NULL ORDER BY s.item_id LIMIT ?`).all(folderId, userId, view.id, limit + 1) as Array<{ id: number }>).map((r) => r.id);
    let room = limit - deletes.length;
    const softDeletes = room < 0 ? [] : (this.db.prepare(`SELECT m.id FROM sync_items s JOIN messages m ON m.id = s.item_id
        WHERE s.state_id = ? AND m.folder_id = ? AND m.received_at < ? ORDER BY m.id LIMIT ?`).all(view.id, folderId, cutoff, room + 1) as Array<{ id: number }>).map((r) => r.id);
    room -= softDeletes.length;
    const changes = room < 0 ? [] : this.db.prepare(`SELECT m.id, m.modseq FROM sync_items s JOIN messages m ON m.id = s.item_id
        WHERE s.state_id = ? AND m.folder_id = ? AND m.received_at >= ? AND m.modseq != s.modseq ORDER BY m.id LIMIT ?`).all(view.id, folderId, cutoff, room + 1) as Array<{ id: number; modseq: number }>;
    room -= changes.length;
    const adds = room < 0 ? [] : this.db.prepare(`SELECT m.id, m.modseq FROM messages m
        WHERE m.folder_id = ? AND m.user_id = ? AND m.received_at >= ?
          AND NOT EXISTS (SELECT 1 FROM sync_items s WHERE s.state_id = ? AND s.item_id = m.id)
        ORDER BY m.received_at DESC, m.id DESC LIMIT ?`).all(folderId, userId, cutoff, view.id, room + 1) as Array<{ id: number; modseq: number }>;
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
