// One holder at a time per key, for the Sync work on one device's collection: a second request waits
// for the first to finish instead of deriving a view from a saved state the first is about to replace.
// Waiting is bounded in time and in the number of waiters, so a stuck or flooding client gets a
// "retry later" answer rather than a growing queue.

/** Gives the lock back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  settled: boolean;
  grant(release: Release): void;
  giveUp(): void;
}

/** Holders and waiters of one key; the entry exists only while someone holds the key. */
interface Entry { waiters: Waiter[] }

export interface CollectionLocksOptions {
  /** Longest wait for a key before giving up. */
  waitMs: number;
  /** Requests that may wait for one key at once; more are refused at once. */
  maxWaiters: number;
}

export class CollectionLocks {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly options: CollectionLocksOptions) {}

  /** Keys held now (for tests and diagnostics). */
  get held(): number {
    return this.entries.size;
  }

  /**
   * Resolves with a Release once the key is this caller's, or undefined when the wait would exceed
   * its bounds or `signal` aborts first.
   */
  acquire(key: string, signal?: AbortSignal): Promise<Release | undefined> {
    if (signal?.aborted) return Promise.resolve(undefined);
    const entry = this.entries.get(key);
    if (!entry) {
      this.entries.set(key, { waiters: [] });
      return Promise.resolve(this.releaser(key));
    }
    if (entry.waiters.length >= this.options.maxWaiters) return Promise.resolve(undefined);
    return new Promise<Release | undefined>((resolve) => {
      const onAbort = (): void => waiter.giveUp();
      const timer = setTimeout(() => waiter.giveUp(), this.options.waitMs);
      const settle = (outcome: Release | undefined): void => {
        if (waiter.settled) return;
        waiter.settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!outcome) {
          const at = entry.waiters.indexOf(waiter);
          if (at >= 0) entry.waiters.splice(at, 1);
        }
        resolve(outcome);
      };
      const waiter: Waiter = { settled: false, grant: settle, giveUp: () => settle(undefined) };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiters.push(waiter);
    });
  }

  /**
   * Acquires several keys, in sorted order so that two callers wanting overlapping sets never wait
   * for each other in a cycle. All or none: on failure the keys already taken are given back.
   */
  async acquireAll(keys: Iterable<string>, signal?: AbortSignal): Promise<Release | undefined> {
    const releases: Release[] = [];
    const releaseAll: Release = () => { for (const r of releases.splice(0).reverse()) r(); };
    for (const key of [...new Set(keys)].sort()) {
      const release = await this.acquire(key, signal);
      if (!release) {
        releaseAll();
        return undefined;
      }
      releases.push(release);
    }
    return releaseAll;
  }

  private releaser(key: string): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const entry = this.entries.get(key);
      if (!entry) return;
      // Handed straight to the next waiter, so no newcomer can slip in between.
      const next = entry.waiters.shift();
      if (next) next.grant(this.releaser(key));
      else this.entries.delete(key);
    };
  }
}
