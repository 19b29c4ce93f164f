// Saved views over real SQLite: paging, retries with the previous key, deletions, date windows.
import { strict as assert } from 'node:assert';
import { Store } from '../../server/store/index.js';
import { FolderType, type NewMessage } from '../../server/store/mailbox.js';
import { hashPassword } from '../../server/store/secrets.js';

function message(i: number, receivedAt = new Date(Date.UTC(2026, 0, 1) + i * 60_000)): NewMessage {
  return {
    receivedAt, raw: Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`), subject: `m${i}`, from: 'a@x.test', to: 'u@contoso.test',
    cc: '', replyTo: '', displayTo: 'u', threadTopic: `m${i}`, importance: 1, messageClass: 'IPM.Note', smimeKind: 'none',
    cpid: 65001, text: `body ${i}`, preview: `body ${i}`, attachments: [], conversationId: Buffer.alloc(16), conversationIndex: Buffer.alloc(5),
  };
}

describe('sync states (SQLite)', () => {
  let store: Store;
  let userId: number;
  let inbox: number;
  let device: number;

  beforeEach(() => {
    store = Store.inMemory();
    userId = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)').run('u@contoso.test', 'u', 'U', hashPassword('x')).lastInsertRowid);
    store.mailbox.createDefaultFolders(userId);
    inbox = store.mailbox.folderByType(userId, FolderType.Inbox)!.id;
    device = store.devices.touch(userId, 'DEV1', 'Test', undefined).pk;
  });
  afterEach(() => store.close());

  const take = (view: ReturnType<Store['syncStates']['start']>, limit: number) => {
    const diff = store.syncStates.diff(userId, inbox, view, undefined, limit);
    const next = store.syncStates.derive(device, String(inbox), view, {
      set: [...diff.adds, ...diff.changes], remove: [...diff.deletes, ...diff.softDeletes],
    });
    return { diff, next };
  };

  it('pages through a folder newest first with MoreAvailable, never repeating or skipping', () => {
    for (let i = 0; i < 23; i++) store.mailbox.insertMessage(userId, inbox, message(i));
    let view = store.syncStates.start(device, String(inbox));
    const seen: number[] = [];
    for (;;) {
      const { diff, next } = take(view, 5);
      seen.push(...diff.adds.map((a) => a.id));
      view = next;
      if (!diff.more) break;
    }
    assert.equal(seen.length, 23);
    assert.equal(new Set(seen).size, 23);
    const subjects = seen.map((id) => store.mailbox.message(userId, id)!.subject);
    assert.deepEqual(subjects.slice(0, 3), ['m22', 'm21', 'm20']);
  });

  it('a retry from the previous view gives the same diff and the same key; older views are gone', () => {
    for (let i = 0; i < 10; i++) store.mailbox.insertMessage(userId, inbox, message(i));
    const v1 = store.syncStates.start(device, String(inbox));
    const first = take(v1, 4);
    const retry = take(store.syncStates.find(device, String(inbox), v1.key)!, 4);
    assert.deepEqual(retry.diff, first.diff);
    assert.equal(retry.next.key, first.next.key);
    const v3 = take(retry.next, 4).next;
    assert.ok(store.syncStates.find(device, String(inbox), retry.next.key), 'the previous view is kept');
    assert.equal(store.syncStates.find(device, String(inbox), v1.key), undefined, 'views older than the previous are dropped');
    assert.ok(store.syncStates.find(device, String(inbox), v3.key)?.latest);
  });

  it('a retry answered differently (the folder changed in between) gets another key, and the lost answer\'s key is forgotten', () => {
    for (let i = 0; i < 3; i++) store.mailbox.insertMessage(userId, inbox, message(i));
    const v1 = take(store.syncStates.start(device, String(inbox)), 100).next;
    store.mailbox.insertMessage(userId, inbox, message(3));
    const first = take(v1, 100);
    store.mailbox.insertMessage(userId, inbox, message(4));
    const retry = take(store.syncStates.find(device, String(inbox), v1.key)!, 100);
    assert.equal(retry.diff.adds.length, 2, 'the retry carries both new messages');
    assert.notEqual(retry.next.key, first.next.key);
    assert.equal(retry.next.generation, first.next.generation);
    // A client that did get the first answer and syncs on from its key must start over rather than
    // be told its view holds the fifth message it was never sent.
    assert.equal(store.syncStates.find(device, String(inbox), first.next.key), undefined);
    assert.ok(store.syncStates.find(device, String(inbox), retry.next.key)?.latest);
  });

  it('reports changes, deletions and moves once', () => {
    const ids = [0, 1, 2].map((i) => store.mailbox.insertMessage(userId, inbox, message(i)));
    let view = take(store.syncStates.start(device, String(inbox)), 100).next;
    store.mailbox.updateFlags(userId, ids[0]!, { read: true });
    store.mailbox.deleteMessage(userId, ids[1]!);
    store.mailbox.moveMessage(userId, ids[2]!, store.mailbox.folderByType(userId, FolderType.DeletedItems)!.id);
    const { diff, next } = take(view, 100);
    assert.deepEqual(diff.changes.map((c) => c.id), [ids[0]]);
    assert.deepEqual(diff.deletes.sort(), [ids[1], ids[2]].sort());
    view = next;
    const after = store.syncStates.diff(userId, inbox, view, undefined, 100);
    assert.deepEqual(after, { deletes: [], softDeletes: [], changes: [], adds: [], more: false });
    assert.equal(store.syncStates.countPending(userId, inbox, view, undefined), 0);
  });

  it('items that leave the date window are soft-deleted, and counted by the estimate', () => {
    const old = store.mailbox.insertMessage(userId, inbox, message(0, new Date(Date.now() - 10 * 86_400_000)));
    store.mailbox.insertMessage(userId, inbox, message(1, new Date()));
    const view = take(store.syncStates.start(device, String(inbox)), 100).next;
    const since = new Date(Date.now() - 3 * 86_400_000);
    assert.equal(store.syncStates.countPending(userId, inbox, view, since), 1);
    const diff = store.syncStates.diff(userId, inbox, view, since, 100);
    assert.deepEqual(diff.softDeletes, [old]);
  });

  it('views of deleted folders are dropped for every device of the user, and only theirs', () => {
    const folder = store.mailbox.createFolder(userId, 0, 'Gone', 12).id;
    const second = store.devices.touch(userId, 'DEV2', 'Test', undefined).pk;
    const otherUser = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)').run('o@contoso.test', 'o', 'O', hashPassword('x')).lastInsertRowid);
    const foreign = store.devices.touch(otherUser, 'DEV3', 'Test', undefined).pk;
    store.syncStates.start(device, String(folder));
    store.syncStates.start(second, String(folder));
    store.syncStates.start(foreign, String(folder));
    store.syncStates.start(device, String(inbox));
    assert.equal(store.syncStates.dropFolders(userId, [folder]), 2);
    assert.equal(store.syncStates.latest(device, String(folder)), undefined);
    assert.equal(store.syncStates.latest(second, String(folder)), undefined);
    assert.ok(store.syncStates.latest(foreign, String(folder)), 'another user\'s device keeps its view');
    assert.ok(store.syncStates.latest(device, String(inbox)), 'other folders keep theirs');
  });

  it('a view never sees another user\'s messages', () => {
    const other = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)').run('o@contoso.test', 'o', 'O', hashPassword('x')).lastInsertRowid);
    store.mailbox.createDefaultFolders(other);
    store.mailbox.insertMessage(other, store.mailbox.folderByType(other, FolderType.Inbox)!.id, message(1));
    const diff = store.syncStates.diff(userId, store.mailbox.folderByType(other, FolderType.Inbox)!.id, store.syncStates.start(device, 'x'), undefined, 100);
    assert.equal(diff.adds.length, 0);
  });
});
