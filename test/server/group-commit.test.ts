// Group commit over a real SQLite file: work queued together shares one transaction, a failing piece
// is rolled back alone, a failed commit fails every caller, and a caller hears "done" only once
// another connection can read its rows (what an SMTP 250 promises).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../../server/store/db.js';
import { GroupCommit } from '../../server/store/group-commit.js';

describe('store: group commit', () => {
  let dir: string;
  let db: Db;
  let reader: Database.Database;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-groupcommit-'));
    db = openDatabase(dir);
    db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    reader = new Database(path.join(dir, 'easmime.sqlite'), { readonly: true });
  });
  afterEach(() => {
    reader.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const insert = (n: number, v: string | null) => () => db.prepare('INSERT INTO t (n, v) VALUES (?, ?)').run(n, v).changes;
  const visible = (): number[] => (reader.prepare('SELECT n FROM t ORDER BY n').all() as Array<{ n: number }>).map((r) => r.n);

  it('commits work queued in one turn together, each caller after its rows are readable elsewhere', async () => {
    const gc = new GroupCommit(db);
    const seen: number[][] = [];
    await Promise.all([1, 2, 3].map((n) => gc.run(insert(n, 'x')).then(() => seen.push(visible()))));
    assert.deepEqual(seen, [[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
    assert.deepEqual(gc.stats, { commits: 1, items: 3, largestBatch: 3 });
  });

  it('rolls back a failing piece alone and tells only its caller', async () => {
    const gc = new GroupCommit(db);
    const results = await Promise.allSettled([
      gc.run(insert(1, 'a')),
      gc.run(() => { insert(2, 'b')(); insert(3, null)(); }), // NOT NULL fails after a row of its own was written
      gc.run(insert(4, 'd')),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /NOT NULL/);
    assert.deepEqual(visible(), [1, 4]);
  });

  it('fails every caller when the commit itself fails, and stores nothing of the batch', async () => {
    const gc = new GroupCommit(db);
    db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
    const results = await Promise.allSettled([
      gc.run(insert(1, 'a')),
      // A deferred foreign key is checked at COMMIT: the whole transaction fails there.
      gc.run(() => db.prepare('INSERT INTO child (p) VALUES (42)').run()),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.deepEqual(visible(), []);
    await gc.run(insert(5, 'e'));
    assert.deepEqual(visible(), [5], 'the next batch commits normally');
  });

  it('waits for work still on its way, for a bounded time', async () => {
    let upstream = 1;
    const gc = new GroupCommit(db, () => upstream, 50);
    const first = gc.run(insert(1, 'a'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    upstream = 0;
    const second = gc.run(insert(2, 'b'));
    await Promise.all([first, second]);
    assert.deepEqual(gc.stats, { commits: 1, items: 2, largestBatch: 2 }, 'the first waited for the second');
    upstream = 1; // never arrives: the bound releases the batch (a hang would fail on mocha's timeout)
    await gc.run(insert(3, 'c'));
    assert.deepEqual(visible(), [1, 2, 3]);
  });
});
