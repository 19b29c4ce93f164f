// What every backend service is built from.
import type { FolderEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { MailFlow } from '../mailflow.js';
import type { Store } from '../store/index.js';
import type { Outbox } from '../outbound/outbox.js';

export interface ServiceDeps {
  store: Store;
  events: FolderEvents;
  mailflow: MailFlow;
  /** Mail the server sends for a user with no client waiting (a 16.x organizer's meeting mail). */
  outbox: Outbox;
  log: Logger;
  /** The key that seals private keys at rest. */
  serverKey: Buffer;
  /** Mailbox Search/Find scan limit in ms (--search-timeout-ms); default 10 s. */
  searchTimeoutMs?: number;
}
