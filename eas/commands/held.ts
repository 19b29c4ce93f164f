// Requests a device holds open until something changes (Ping; Sync with Wait or HeartbeatInterval).
// A device that sends a newer one has moved on, so the older ones it supersedes are ended at once
// (they answer as if their interval had run out) instead of tying up a connection for up to an hour.

export type HeldKind = 'ping' | 'sync';

export interface Hold {
  /** Aborted when a newer request ends this one, or when the client goes away. */
  readonly signal: AbortSignal;
  /** Forgets the hold; call once the request has answered. */
  release(): void;
}

interface Entry {
  kind: HeldKind;
  folderIds: ReadonlySet<number>;
  stop: AbortController;
}

export class HeldRequests {
  private readonly byDevice = new Map<number, Set<Entry>>();

  /** @param maxPerDevice held requests of one kind a device may have open at once; one more ends the oldest */
  constructor(private readonly maxPerDevice = 8) {}

  /** Ends the device's held requests of this kind that watch any of `folderIds`, or all of them without it. */
  end(devicePk: number, kind: HeldKind, folderIds?: ReadonlySet<number>): void {
    for (const e of this.byDevice.get(devicePk) ?? []) {
      if (e.kind === kind && (!folderIds || [...e.folderIds].some((id) => folderIds.has(id)))) e.stop.abort();
    }
  }

  /** Registers a held request of the device on these folders; `clientGone` ends it too. */
  hold(devicePk: number, kind: HeldKind, folderIds: ReadonlySet<number>, clientGone: AbortSignal): Hold {
    const stop = new AbortController();
    const onClientGone = (): void => stop.abort();
    clientGone.addEventListener('abort', onClientGone, { once: true });
    if (clientGone.aborted) stop.abort();
    let mine = this.byDevice.get(devicePk);
    if (!mine) this.byDevice.set(devicePk, (mine = new Set()));
    const sameKind = [...mine].filter((e) => e.kind === kind && !e.stop.signal.aborted);
    if (sameKind.length >= this.maxPerDevice) sameKind[0]!.stop.abort();
    const entry: Entry = { kind, folderIds, stop };
    mine.add(entry);
    return {
      signal: stop.signal,
      release: () => {
        clientGone.removeEventListener('abort', onClientGone);
        mine.delete(entry);
        if (mine.size === 0 && this.byDevice.get(devicePk) === mine) this.byDevice.delete(devicePk);
      },
    };
  }
}
