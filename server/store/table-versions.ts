// Change counters for small, rarely written tables (the directory, meta, trust material), so that
// caches in front of them cost nothing per message and still never serve a row that changed.
//
// TEMP triggers on this connection call back into JavaScript on every insert, update and delete,
// whoever issued the statement: a repository, the fixture loader, an admin route or a test writing
// SQL directly. Commits by other connections (`npm run import-pkcs12` against the data folder of a
// running server) do not fire them; SQLite's data_version, which changes exactly then, is added in.
// Reading it costs a few microseconds (more under load), so it is read once per turn of the event
// loop: another connection's commit is seen from the next turn, as if it had come a moment later.
import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/** Tables whose every change is counted. Each write costs one call into JavaScript per row. */
export const VERSIONED_TABLES = ['users', 'groups', 'group_members', 'external_contacts', 'meta', 'certificates', 'trust_anchors'] as const;
export type VersionedTable = (typeof VERSIONED_TABLES)[number];

const FUNCTION = 'easmime_table_changed';

export class TableVersions {
  private readonly counts = new Map<string, number>();
  private readonly dataVersion: Database.Statement;
  private external = 0;
  private externalFresh = false;

  constructor(private readonly db: Db) {
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    db.function(FUNCTION, { deterministic: false, varargs: false }, (table: unknown) => {
      this.counts.set(String(table), (this.counts.get(String(table)) ?? 0) + 1);
      return null;
    });
    for (const table of VERSIONED_TABLES) {
      for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
        db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS easmime_${table}_${op.toLowerCase()} AFTER ${op} ON main.${table}
          BEGIN SELECT ${FUNCTION}('${table}'); END`);
      }
    }
  }

  /** A number that differs after any change to any of these tables (including a rolled-back one). */
  version(...tables: VersionedTable[]): number {
    // Scaled so that a change of our own and one of another connection can never cancel out.
    let v = this.externalVersion() * 2 ** 32;
    for (const t of tables) v += this.counts.get(t) ?? 0;
    return v;
  }

  private externalVersion(): number {
    if (!this.externalFresh) {
      this.external = this.dataVersion.get() as number;
      this.externalFresh = true;
      setImmediate(() => { this.externalFresh = false; });
    }
    return this.external;
  }

  /**
   * Whether a cache may be filled now. Inside a transaction a read can see rows that a rollback
   * will remove without another trigger firing, so nothing read there may be remembered.
   */
  cacheable(): boolean {
    return !this.db.inTransaction;
  }
}

/**
 * A bounded map that empties itself when the tables it depends on change. Values read inside a
 * transaction are returned but not kept (see TableVersions.cacheable).
 */
export class VersionedCache<K, V> {
  private readonly entries = new Map<K, V>();
  private seen = -1;

  constructor(private readonly versions: TableVersions, private readonly tables: VersionedTable[], private readonly max = 10_000) {}

  get(key: K, load: (key: K) => V): V {
    const now = this.versions.version(...this.tables);
    if (now !== this.seen) {
      this.entries.clear();
      this.seen = now;
    }
    if (this.entries.has(key)) return this.entries.get(key) as V;
    const value = load(key);
    if (this.versions.cacheable()) {
      if (this.entries.size >= this.max) this.entries.clear();
      this.entries.set(key, value);
    }
    return value;
  }
}
