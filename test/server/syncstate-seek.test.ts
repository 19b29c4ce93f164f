// The saved-view hints (clean marker, add floor and mark) that let a diff seek instead of scanning:
// over random histories of mail arriving with old and new dates, moves out and back in, deletions,
// flag changes, changing date windows and retries from the previous view, every diff must equal
// the one worked out from the view's items and the folder's messages directly, and the rows kept
// for each view must be its parent's with the update applied (views reuse their parent's rows).
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Store } from '../../server/store/index.js';
import { openDatabase } from '../../server/store/db.js';
import { FolderType, type NewMessage } from '../../server/store/mailbox.js';
import { hashPassword } from '../../server/store/secrets.js';
import type { FolderDiff, SyncState } from '../../eas/backend.js';

const DAY = 86_400_000;
const BASE = Date.UTC(2026, 0, 1);

function message(i: number, receivedAt: number): NewMessage {
  return {
    receivedAt: new Date(receivedAt), raw: Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`), subject: `m${i}`, from: 'a@x.test', to: 'u@contoso.test',
    cc: '', replyTo: '', displayTo: 'u', threadTopic: `m${i}`, importance: 1, messageClass: 'IPM.Note', smimeKind: 'none',
    cpid: 65001, text: `body ${i}`, preview: `body ${i}`, attachments: [], conversationId: Buffer.alloc(16), conversationIndex: Buffer.alloc(5),
  };
}

type Op =
  | { kind: 'insert'; count: number; day: number }
  | { kind: 'move-out'; pick: number }
  | { kind: 'move-in'; pick: number }
  | { kind: 'delete'; pick: number }
  | { kind: 'flag'; pick: number }
  | { kind: 'sync'; window: number; previous: boolean; filterDays: number; ownFlag: boolean; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), count: fc.integer({ min: 1, max: 4 }), day: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('move-out' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('move-in' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flag' as const), pick: fc.nat() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('sync' as const), window: fc.integer({ min: 1, max: 7 }), previous: fc.boolean(),
      filterDays: fc.constantFrom(0, 0, 0, 10, 25), ownFlag: fc.boolean(), pick: fc.nat(),
    }),
  },
);

describe('sync states: seeking diffs agree with the plain definition', () => {
  let store: Store;
  let userId: number;
  let inbox: number;
  let trash: number;
  let device: number;

  beforeEach(() => {
    store = Store.inMemory();
    userId = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)').run('u@contoso.test', 'u', 'U', hashPassword('x')).lastInsertRowid);
    store.mailbox.createDefaultFolders(userId);
    inbox = store.mailbox.folderByType(userId, FolderType.Inbox)!.id;
    trash = store.mailbox.folderByType(userId, FolderType.DeletedItems)!.id;
    device = store.devices.touch(userId, 'DEV1', 'Test', undefined).pk;
  });
  afterEach(() => store.close());

  const idsIn = (folderId: number): number[] =>
    (store.db.prepare('SELECT id FROM messages WHERE folder_id = ? ORDER BY id').all(folderId) as Array<{ id: number }>).map((r) => r.id);

  /** The diff as defined: what the folder holds now that the view does not, cut to the window. */
  function expected(view: SyncState, cutoff: number, limit: number): FolderDiff {
    const items = new Map((store.db.prepare('SELECT item_id, modseq FROM sync_items WHERE state_id = ?').all(view.id) as Array<{ item_id: number; modseq: number }>)
      .map((r) => [r.item_id, r.modseq]));
    const folder = store.db.prepare('SELECT id, modseq, received_at FROM messages WHERE folder_id = ? AND user_id = ?').all(inbox, userId) as Array<{ id: number; modseq: number; received_at: number }>;
    const byId = new Map(folder.map((m) => [m.id, m]));
    const viewIds = [...items.keys()].sort((a, b) => a - b);
    const allDeletes = viewIds.filter((id) => !byId.has(id));
    const allSoft = viewIds.filter((id) => byId.has(id) && byId.get(id)!.received_at < cutoff);
    const allChanges = viewIds.filter((id) => byId.has(id) && byId.get(id)!.received_at >= cutoff && byId.get(id)!.modseq !== items.get(id))
      .map((id) => ({ id, modseq: byId.get(id)!.modseq }));
    const allAdds = folder.filter((m) => m.received_at >= cutoff && !items.has(m.id))
      .sort((a, b) => b.received_at - a.received_at || b.id - a.id).map((m) => ({ id: m.id, modseq: m.modseq }));
    const out: FolderDiff = { deletes: [], softDeletes: [], changes: [], adds: [], more: false };
    let room = limit;
    const fill = <T>(from: T[], to: T[]): void => {
      to.push(...from.slice(0, Math.max(0, room)));
      room -= Math.min(from.length, Math.max(0, room));
      if (from.length > to.length) out.more = true;
    };
    fill(allDeletes, out.deletes);
    fill(allSoft, out.softDeletes);
    fill(allChanges, out.changes);
    fill(allAdds, out.adds);
    return out;
  }

  it('over random histories, with retries from the previous view', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 5, maxLength: 60 }), (ops) => {
      store.close();
      store = Store.inMemory();
      userId = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)').run('u@contoso.test', 'u', 'U', hashPassword('x')).lastInsertRowid);
      store.mailbox.createDefaultFolders(userId);
      inbox = store.mailbox.folderByType(userId, FolderType.Inbox)!.id;
      trash = store.mailbox.folderByType(userId, FolderType.DeletedItems)!.id;
      device = store.devices.touch(userId, 'DEV1', 'Test', undefined).pk;
      for (let i = 0; i < 12; i++) store.mailbox.insertMessage(userId, inbox, message(i, BASE + i * DAY));
      const scope = String(inbox);
      let previous: SyncState | undefined;
      let latest = store.syncStates.start(device, scope);
      let n = 100;
      const model = new Map<string, Map<number, number>>([[latest.key, new Map()]]);
      const rowsOf = (v: SyncState): Map<number, number> => new Map((store.db.prepare('SELECT item_id, modseq FROM sync_items WHERE state_id = ? ORDER BY item_id')
        .all(v.id) as Array<{ item_id: number; modseq: number }>).map((r) => [r.item_id, r.modseq]));
      const pick = (list: number[], k: number): number | undefined => (list.length === 0 ? undefined : list[k % list.length]);
      const sync = (from: SyncState, cutoff: number | undefined, limit: number, own?: number): SyncState => {
        const set: Array<{ id: number; modseq: number }> = [];
        if (own !== undefined) {
          const modseq = store.mailbox.updateFlags(userId, own, { read: true });
          if (modseq !== undefined) set.push({ id: own, modseq });
        }
        const ownIds = new Set(set.map((s) => s.id));
        const want = expected(from, cutoff ?? -8.64e15, limit + ownIds.size);
        const got = store.syncStates.diff(userId, inbox, from, cutoff === undefined ? undefined : new Date(cutoff), limit + ownIds.size);
        assert.deepEqual(got, want);
        set.push(...got.adds.filter((a) => !ownIds.has(a.id)), ...got.changes.filter((c) => !ownIds.has(c.id)));
        const remove = [...got.deletes.filter((d) => !ownIds.has(d)), ...got.softDeletes];
        const next = store.syncStates.derive(device, scope, from, { set, remove });
        // The saved rows of both kept views are what applying each update to its parent gives.
        const held = new Map(model.get(from.key)!);
        for (const id of remove) held.delete(id);
        for (const s of set) held.set(s.id, s.modseq);
        model.set(next.key, held);
        assert.deepEqual(rowsOf(next), held);
        assert.deepEqual(rowsOf(store.syncStates.find(device, scope, from.key)!), model.get(from.key));
        return next;
      };
      for (const op of ops) {
        switch (op.kind) {
          case 'insert':
            for (let i = 0; i < op.count; i++) store.mailbox.insertMessage(userId, inbox, message(n++, BASE + op.day * DAY + i));
            break;
          case 'move-out': { const id = pick(idsIn(inbox), op.pick); if (id !== undefined) store.mailbox.moveMessage(userId, id, trash); break; }
          case 'move-in': { const id = pick(idsIn(trash), op.pick); if (id !== undefined) store.mailbox.moveMessage(userId, id, inbox); break; }
          case 'delete': { const id = pick(idsIn(inbox), op.pick); if (id !== undefined) store.mailbox.deleteMessage(userId, id); break; }
          case 'flag': { const id = pick(idsIn(inbox), op.pick); if (id !== undefined) store.mailbox.updateFlags(userId, id, { read: true }); break; }
          case 'sync': {
            const from = op.previous && previous ? previous : latest;
            const cutoff = op.filterDays === 0 ? undefined : BASE + op.filterDays * DAY;
            const next = sync(from, cutoff, op.window, op.ownFlag ? pick(idsIn(inbox), op.pick) : undefined);
            previous = from;
            latest = next;
            break;
          }
        }
      }
      // Finally page through without a date window: the view ends up holding exactly the folder.
      for (let guard = 0; guard < 200; guard++) {
        const before = latest;
        latest = sync(latest, undefined, 5);
        if (!store.syncStates.diff(userId, inbox, latest, undefined, 5).more && expected(latest, -8.64e15, 1000).adds.length === 0) break;
        assert.notEqual(latest.id, before.id);
      }
      const held = (store.db.prepare('SELECT item_id FROM sync_items WHERE state_id = ? ORDER BY item_id').all(latest.id) as Array<{ item_id: number }>).map((r) => r.item_id);
      assert.deepEqual(held, idsIn(inbox));
    }), { seed: 20261129, numRuns: 150 });
  });

  it('a data folder written before the hint columns existed opens and gains them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-hints-'));
    try {
      const first = openDatabase(dir);
      for (const c of ['add_floor_at', 'add_floor_id', 'add_mark', 'clean_marker']) first.exec(`ALTER TABLE sync_states DROP COLUMN ${c}`);
      first.close();
      const again = openDatabase(dir);
      const columns = (again.prepare("SELECT name FROM pragma_table_info('sync_states')").all() as Array<{ name: string }>).map((r) => r.name);
      again.close();
      for (const c of ['add_floor_at', 'add_floor_id', 'add_mark', 'clean_marker']) assert.ok(columns.includes(c), c);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
