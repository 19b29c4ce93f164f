// Group commit: deliveries that become ready close together are written in one SQLite transaction.
// A commit writes every page it touched to the write-ahead log, and consecutive messages touch the
// same index pages, so under load most of that cost is shared. A batch waits for the deliveries still
// being parsed and verified (they will want to commit too), for at most maxDelayMs; with none in
// progress it commits in the same turn of the event loop. Each piece of
// work still runs in its own savepoint: one that fails is rolled back alone and its caller alone
// hears of it. A caller's promise settles only after the commit that holds its work, so an SMTP
// client never gets 250 for a message that a crash could still lose.
import type { Db } from './db.js';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitStats {
  commits: number;
  items: number;
  largestBatch: number;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly stats: GroupCommitStats = { commits: 0, items: 0, largestBatch: 0 };

  /**
   * @param upstream how many pieces of work are on their way (they will call run() soon)
   * @param maxBatch bounds how long one commit can hold the event loop
   */
  constructor(private readonly db: Db, private readonly upstream: () => number = () => 0, private readonly maxDelayMs = 2, private readonly maxBatch = 32) {}

  /** Runs `work` inside a transaction shared with other work queued close by; resolves after the commit. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.immediate) return;
    if (this.upstream() === 0 || this.queue.length >= this.maxBatch) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(() => this.flush());
    } else {
      this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.immediate = undefined;
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) this.schedule();
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          try {
            // A nested better-sqlite3 transaction is a savepoint.
            outcomes.push({ ok: true, value: this.db.transaction(item.work)() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the batch was stored.
      for (const item of batch) item.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.items += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
  }
}
