// Opens the embedded SQLite store and brings its schema up to date. Every table lives here so the
// whole schema can be read in one place; the repositories beside this file hold the queries.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

export type Db = Database.Database;

const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,
  local_part TEXT NOT NULL,
  display_name TEXT NOT NULL,
  password_hash TEXT NOT NULL
);
CREATE INDEX users_local_part ON users(local_part);

CREATE TABLE groups (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,
  local_part TEXT NOT NULL,
  display_name TEXT NOT NULL
);
CREATE TABLE group_members (
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE TABLE external_contacts (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL
);

-- Certificates as loaded: owner is a user or an external contact. The PKCS#12 (when present) is kept
-- sealed under the server key (see server/store/secrets.ts).
CREATE TABLE certificates (
  id INTEGER PRIMARY KEY,
  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
  contact_id INTEGER REFERENCES external_contacts(id) ON DELETE CASCADE,
  purpose TEXT NOT NULL CHECK (purpose IN ('signing','encryption','both')),
  der BLOB NOT NULL,
  chain_der BLOB,
  sealed_pkcs12 BLOB,
  device_id TEXT,
  publish INTEGER NOT NULL DEFAULT 1,
  source TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  serial TEXT NOT NULL,
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  fingerprint256 TEXT NOT NULL
);
CREATE INDEX certificates_user ON certificates(user_id);

CREATE TABLE trust_anchors (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('root','intermediate','crl')),
  der BLOB NOT NULL,
  source TEXT NOT NULL
);

CREATE TABLE folders (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  parent_id INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL,
  type INTEGER NOT NULL,
  modseq INTEGER NOT NULL
);
CREATE INDEX folders_user ON folders(user_id);

-- One monotonic counter for the whole store stamps every change (the MODSEQ idea): any folder's
-- counter is then monotonic too.
CREATE TABLE modseq (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT INTO modseq (id, value) VALUES (1, 0);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
  modseq INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  subject TEXT NOT NULL,
  from_addr TEXT NOT NULL,
  to_addr TEXT NOT NULL,
  cc_addr TEXT NOT NULL,
  reply_to TEXT NOT NULL,
  display_to TEXT NOT NULL,
  thread_topic TEXT NOT NULL,
  importance INTEGER NOT NULL,
  message_class TEXT NOT NULL,
  smime_kind TEXT NOT NULL,
  cpid INTEGER NOT NULL,
  text_body TEXT NOT NULL,
  html_body TEXT,
  preview TEXT NOT NULL,
  attachments TEXT NOT NULL,
  message_id TEXT,
  conversation_id BLOB NOT NULL,
  conversation_index BLOB NOT NULL,
  read INTEGER NOT NULL DEFAULT 0,
  flag_status INTEGER NOT NULL DEFAULT 0,
  flag_type TEXT,
  flag_start INTEGER,
  flag_due INTEGER,
  flag_complete_time INTEGER,
  received_as_bcc INTEGER NOT NULL DEFAULT 0,
  -- The S/MIME gateway's verdict (JSON), when it looked at the message.
  smime_verdict TEXT
);
CREATE INDEX messages_folder ON messages(folder_id, received_at);
CREATE INDEX messages_folder_modseq ON messages(folder_id, modseq);

-- The raw message, byte for byte as it arrived, apart from the row that lists are built from.
CREATE TABLE message_raw (
  id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  raw BLOB NOT NULL
);

-- Mail for external recipients when no smarthost is configured: kept for tests to read.
-- rcpt_to is a JSON array of lower-case addresses; size is length(raw), kept so that bounding the
-- store by bytes never reads the blobs.
CREATE TABLE captured_mail (
  id INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  mail_from TEXT NOT NULL,
  rcpt_to TEXT NOT NULL,
  raw BLOB NOT NULL,
  origin TEXT NOT NULL,
  submitted_by TEXT,
  subject TEXT NOT NULL DEFAULT '',
  message_id TEXT,
  size INTEGER NOT NULL DEFAULT 0
);

-- ClientIds of EAS submissions, for duplicate detection (MessagePreviouslySent).
CREATE TABLE submissions (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;
CREATE INDEX submissions_age ON submissions(user_id, created_at);

-- Per-user settings (Oof, device password, ...) as JSON values under a name.
CREATE TABLE user_settings (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (user_id, name)
) WITHOUT ROWID;

CREATE TABLE devices (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  device_type TEXT NOT NULL,
  user_agent TEXT,
  policy_key INTEGER,
  pending_policy_key INTEGER,
  policy_status INTEGER,
  wipe_state TEXT NOT NULL DEFAULT 'none' CHECK (wipe_state IN ('none','requested','account-requested','acknowledged')),
  info TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  UNIQUE (user_id, device_id)
);

-- A saved client view: a SyncKey names one. scope is 'hierarchy' or a folder id.
CREATE TABLE sync_states (
  id INTEGER PRIMARY KEY,
  device_pk INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  sync_key TEXT NOT NULL,
  generation INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (device_pk, scope, sync_key)
);
CREATE INDEX sync_states_scope ON sync_states(device_pk, scope, generation);

CREATE TABLE sync_items (
  state_id INTEGER NOT NULL REFERENCES sync_states(id) ON DELETE CASCADE,
  item_id INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (state_id, item_id)
) WITHOUT ROWID;

CREATE TABLE sync_folders (
  state_id INTEGER NOT NULL REFERENCES sync_states(id) ON DELETE CASCADE,
  folder_id INTEGER NOT NULL,
  parent_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL,
  PRIMARY KEY (state_id, folder_id)
) WITHOUT ROWID;
`;

/**
 * Repositories write `db.prepare(sql)` where the query is used; compiling SQL costs more than running
 * a small query, so statements are kept by their text. better-sqlite3 statements are reusable and every
 * call runs to completion synchronously, so sharing one is safe. Bounded, for queries built with
 * variable IN lists.
 */
function cacheStatements(db: Db): Db {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      if (cache.size >= 1000) cache.clear();
      stmt = compile(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  }) as Db['prepare'];
  return db;
}

export function openDatabase(dataDir: string): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = cacheStatements(new Database(path.join(dataDir, 'easmime.sqlite')));
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode (only a power loss can drop the last commits).
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function openMemoryDatabase(): Db {
  const db = cacheStatements(new Database(':memory:'));
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

/**
 * Tables added after schema 1 was first written: created on every open when missing, so data
 * folders made by an earlier build get them too (an earlier build leaves them alone).
 */
const LATER_TABLES = `
-- Mail the server sends on a user's behalf (a 16.x organizer's meeting mail), written in the same
-- transaction as the change that owes it and kept until the mail flow has taken it (server/outbound/outbox.ts).
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- 'local' or 'external', and what the message is about (a meeting's UID): each such lane of a
  -- user's mail keeps its order on its own.
  lane TEXT NOT NULL,
  thread TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox(user_id, lane, thread, id);
`;

/**
 * Indexes added after schema 1 was first written: created on every open when missing, so data
 * folders made by an earlier build get them too (no schema change, only lookups get faster).
 */
const LATER_INDEXES = `
-- A reply finds its parent (conversation threading) and a conversation its messages (Move, rules).
CREATE INDEX IF NOT EXISTS messages_user_message_id ON messages(user_id, message_id);
CREATE INDEX IF NOT EXISTS messages_user_conversation ON messages(user_id, conversation_id);
-- A user's appointments by time, for free/busy (only calendar items have starts_at).
CREATE INDEX IF NOT EXISTS messages_user_schedule ON messages(user_id, starts_at) WHERE starts_at IS NOT NULL;
-- A user's calendar items by iCalendar UID, for meeting updates and replies.
CREATE INDEX IF NOT EXISTS messages_user_uid ON messages(user_id, uid) WHERE uid IS NOT NULL;
`;

/**
 * Columns added after schema 1 was first written, each nullable so that rows written before it mean
 * "not known" and an earlier build can still open the folder.
 */
const LATER_COLUMNS: Array<{ table: string; column: string; type: string }> = [
  // Hints that let a sync diff seek instead of scanning a saved view (see server/store/syncstate.ts).
  { table: 'sync_states', column: 'add_floor_at', type: 'INTEGER' },
  { table: 'sync_states', column: 'add_floor_id', type: 'INTEGER' },
  { table: 'sync_states', column: 'add_mark', type: 'INTEGER' },
  { table: 'sync_states', column: 'clean_marker', type: 'TEXT' },
  // The view a folder view was derived from and the update applied to it (JSON), so that the rows of
  // that parent, which are dropped at the next step anyway, can be turned into the next view's.
  { table: 'sync_states', column: 'parent_id', type: 'INTEGER' },
  { table: 'sync_states', column: 'delta', type: 'TEXT' },
  // An appointment's time and busy status (Calendar BusyStatus), read from what the device sent, for free/busy.
  { table: 'messages', column: 'starts_at', type: 'INTEGER' },
  { table: 'messages', column: 'ends_at', type: 'INTEGER' },
  { table: 'messages', column: 'busy_status', type: 'INTEGER' },
  // A meeting message's invitation (JSON, see server/meetings), on the mail and on the calendar item it
  // made; the calendar item's iCalendar UID, by which later updates, cancellations and replies find it.
  { table: 'messages', column: 'meeting', type: 'TEXT' },
  { table: 'messages', column: 'uid', type: 'TEXT' },
  // A recurring appointment's rule and time zone (JSON), for free/busy beyond its first occurrence.
  { table: 'messages', column: 'recurrence', type: 'TEXT' },
];

function addLaterColumns(db: Db): void {
  for (const c of LATER_COLUMNS) {
    const present = (db.prepare(`SELECT name FROM pragma_table_info('${c.table}')`).all() as Array<{ name: string }>).some((r) => r.name === c.column);
    if (!present) db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.column} ${c.type}`);
  }
}

function migrate(db: Db): void {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").get();
  if (!hasMeta) {
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      addLaterColumns(db);
      db.exec(LATER_TABLES);
      db.exec(LATER_INDEXES);
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
    })();
    return;
  }
  const row = db.prepare("SELECT value FROM meta WHERE key='schema_version'").get() as { value: string } | undefined;
  const version = Number(row?.value ?? 0);
  if (version > SCHEMA_VERSION) {
    throw new Error(`the data folder was written by a newer easmime (schema ${version}, this one knows ${SCHEMA_VERSION})`);
  }
  // Columns first: a later index may cover a later column.
  db.transaction(() => addLaterColumns(db))();
  db.exec(LATER_TABLES);
  db.exec(LATER_INDEXES);
}

/** Whether the store holds an organisation yet (an empty data folder is initialised from fixtures). */
export function isInitialised(db: Db): boolean {
  const row = db.prepare("SELECT value FROM meta WHERE key='initialised_from'").get();
  return row !== undefined;
}

export function nextModseq(db: Db): number {
  const row = db.prepare('UPDATE modseq SET value = value + 1 WHERE id = 1 RETURNING value').get() as { value: number };
  return row.value;
}
