// What every backend service is built from.
import type { FolderEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { MailFlow } from '../mailflow.js';
import type { Store } from '../store/index.js';

export interface ServiceDeps {
  store: Store;
  events: FolderEvents;
  mailflow: MailFlow;
  log: Logger;
  /** The key that seals private keys at rest. */
  serverKey: Buffer;
  /** Mailbox Search/Find scan limit in ms (--search-timeout-ms); default 10 s. */
  searchTimeoutMs?: number;
}
