// The caches in front of the directory and meta: every change is seen on the next read, whether it
// came through a repository, raw SQL on the same connection, another connection to the same file
// (the PKCS#12 CLI against a running server's data folder) or was rolled back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../server/store/index.js';

describe('store: versioned caches over the directory and meta', () => {
  let dir: string;
  let store: Store;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-versions-'));
    store = Store.open(dir);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const addUser = (db: Database.Database, local: string): void => {
    db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?, ?, ?, ?)').run(`${local}@contoso.test`, local, local, 'x');
  };

  it('answers from the cache until a directory table changes through raw SQL', () => {
    assert.equal(store.directory.userByAddress('ann@contoso.test'), undefined);
    assert.equal(store.directory.isLocalAddress('ann@contoso.test'), false);
    addUser(store.db, 'ann');
    assert.equal(store.directory.userByAddress('ANN@contoso.test')?.localPart, 'ann');
    assert.equal(store.directory.isLocalAddress('ann@contoso.test'), true);
    const ann = store.directory.userByAddress('ann@contoso.test')!;
    store.db.prepare("UPDATE users SET display_name = 'Ann Smith' WHERE id = ?").run(ann.id);
    assert.equal(store.directory.userByAddress('ann@contoso.test')?.displayName, 'Ann Smith');
    store.db.prepare('DELETE FROM users WHERE id = ?').run(ann.id);
    assert.equal(store.directory.userByAddress('ann@contoso.test'), undefined);
  });

  it('sees group membership changes in expandLocal and groupsOf', () => {
    addUser(store.db, 'ann');
    addUser(store.db, 'bob');
    const gid = Number(store.db.prepare("INSERT INTO groups (address, local_part, display_name) VALUES ('team@contoso.test', 'team', 'Team')").run().lastInsertRowid);
    const ann = store.directory.userByAddress('ann@contoso.test')!;
    const bob = store.directory.userByAddress('bob@contoso.test')!;
    assert.deepEqual(store.directory.expandLocal('team@contoso.test'), []);
    assert.deepEqual(store.directory.groupsOf(ann.id), []);
    store.db.prepare('INSERT INTO group_members (group_id, user_id) VALUES (?, ?), (?, ?)').run(gid, ann.id, gid, bob.id);
    assert.deepEqual(store.directory.expandLocal('team@contoso.test').map((u) => u.localPart), ['ann', 'bob']);
    assert.deepEqual(store.directory.groupsOf(ann.id), ['team@contoso.test']);
    store.db.prepare('DELETE FROM group_members WHERE user_id = ?').run(bob.id);
    assert.deepEqual(store.directory.expandLocal('team@contoso.test').map((u) => u.localPart), ['ann']);
  });

  it('sees a commit by another connection to the same file from the next turn on', async () => {
    assert.equal(store.directory.userByAddress('cat@contoso.test'), undefined);
    assert.equal(store.getMeta('policy'), undefined);
    const other = new Database(path.join(dir, 'easmime.sqlite'));
    try {
      addUser(other, 'cat');
      other.prepare("INSERT INTO meta (key, value) VALUES ('policy', '{}')").run();
    } finally {
      other.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.directory.userByAddress('cat@contoso.test')?.localPart, 'cat');
    assert.equal(store.getMeta('policy'), '{}');
  });

  it('does not remember what it read inside a transaction that was rolled back', () => {
    assert.throws(() => store.db.transaction(() => {
      addUser(store.db, 'dan');
      assert.equal(store.directory.userByAddress('dan@contoso.test')?.localPart, 'dan');
      store.setMeta('policy', '{"mode":"tag"}');
      assert.equal(store.getMeta('policy'), '{"mode":"tag"}');
      throw new Error('roll back');
    })(), /roll back/);
    assert.equal(store.directory.userByAddress('dan@contoso.test'), undefined);
    assert.equal(store.getMeta('policy'), undefined);
  });

  it('hands out frozen answers, so one caller cannot change what the next one reads', () => {
    addUser(store.db, 'eve');
    const eve = store.directory.userByAddress('eve@contoso.test')!;
    assert.throws(() => { (eve as { displayName: string }).displayName = 'Mallory'; }, TypeError);
    assert.throws(() => { (store.directory.expandLocal('eve@contoso.test') as unknown[]).push(eve); }, TypeError);
  });
});
