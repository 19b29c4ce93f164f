// A data folder written by an earlier build, before the appointment columns and their index existed,
// opens and gains them (columns first: the index covers them).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../server/store/db.js';

describe('store: reopening an earlier data folder', () => {
  it('gains the appointment columns and the free/busy index', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-migration-'));
    try {
      const first = openDatabase(dir);
      first.exec('DROP INDEX messages_user_schedule');
      for (const c of ['starts_at', 'ends_at', 'busy_status']) first.exec(`ALTER TABLE messages DROP COLUMN ${c}`);
      first.close();
      const again = openDatabase(dir);
      const columns = (again.prepare("SELECT name FROM pragma_table_info('messages')").all() as Array<{ name: string }>).map((r) => r.name);
      const index = again.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'messages_user_schedule'").get() as { sql: string } | undefined;
      again.close();
      for (const c of ['starts_at', 'ends_at', 'busy_status']) assert.ok(columns.includes(c), c);
      assert.match(index?.sql ?? '', /WHERE starts_at IS NOT NULL/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
