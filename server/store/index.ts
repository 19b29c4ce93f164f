// The store: one SQLite database and the repositories over it.
import { openDatabase, openMemoryDatabase, type Db } from './db.js';
import { Certificates } from './certificates.js';
import { Devices } from './devices.js';
import { Directory } from './directory.js';
import { Mailbox } from './mailbox.js';
import { OutboxTable } from './outbox.js';
import { SyncStates } from './syncstate.js';
import { TableVersions, VersionedCache } from './table-versions.js';

export class Store {
  readonly directory: Directory;
  readonly mailbox: Mailbox;
  readonly devices: Devices;
  readonly syncStates: SyncStates;
  readonly certificates: Certificates;
  readonly outbox: OutboxTable;
  /** Change counters of the directory, meta and certificate tables, for caches in front of them. */
  readonly versions: TableVersions;
  private readonly metaValues: VersionedCache<string, string | undefined>;

  constructor(readonly db: Db) {
    this.versions = new TableVersions(db);
    this.metaValues = new VersionedCache(this.versions, ['meta'], 1000);
    this.directory = new Directory(db, () => this.domain(), this.versions);
    this.mailbox = new Mailbox(db);
    this.devices = new Devices(db);
    this.syncStates = new SyncStates(db);
    this.certificates = new Certificates(db);
    this.outbox = new OutboxTable(db);
  }

  static open(dataDir: string): Store {
    return new Store(openDatabase(dataDir));
  }

  static inMemory(): Store {
    return new Store(openMemoryDatabase());
  }

  getMeta(key: string): string | undefined {
    return this.metaValues.get(key, (k) => (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(k) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  domain(): string {
    return this.getMeta('domain') ?? 'localhost';
  }

  close(): void {
    this.db.close();
  }
}
