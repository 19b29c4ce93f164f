// Change notifications inside one process: the mail flow and EAS commands announce which folders
// changed; held Pings and Syncs wait on them. One listener set per watched folder, no polling, no
// timer per folder (one timer per waiting request).

type Waiter = (folderId: number) => void;

export class FolderEvents {
  private readonly waiters = new Map<number, Set<Waiter>>();

  /** Announces that these folders changed. */
  changed(folderIds: Iterable<number>): void {
    for (const id of new Set(folderIds)) {
      const set = this.waiters.get(id);
      if (!set) continue;
      for (const w of [...set]) w(id);
    }
  }

  /** Resolves with the first folder that changes, or undefined on timeout or abort. */
  wait(folderIds: number[], timeoutMs: number, signal: AbortSignal): Promise<number | undefined> {
    return new Promise((resolve) => {
      if (signal.aborted) { resolve(undefined); return; }
      const ids = [...new Set(folderIds)];
      let done = false;
      const finish = (value: number | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        for (const id of ids) {
          const set = this.waiters.get(id);
          set?.delete(waiter);
          if (set && set.size === 0) this.waiters.delete(id);
        }
        resolve(value);
      };
      const waiter: Waiter = (id) => finish(id);
      const onAbort = (): void => finish(undefined);
      const timer = setTimeout(() => finish(undefined), Math.max(0, timeoutMs));
      signal.addEventListener('abort', onAbort, { once: true });
      for (const id of ids) {
        let set = this.waiters.get(id);
        if (!set) { set = new Set(); this.waiters.set(id, set); }
        set.add(waiter);
      }
    });
  }

  /** Number of waiting requests (for diagnostics and tests). */
  waiting(): number {
    const all = new Set<Waiter>();
    for (const set of this.waiters.values()) for (const w of set) all.add(w);
    return all.size;
  }
}
