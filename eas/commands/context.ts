// What every command handler receives and returns.
import type { DeviceRecord, EasBackend, Principal } from '../backend.js';
import type { EasQuery } from '../http/query.js';
import type { WbxmlElement } from '../wbxml/tree.js';
import type { PingMemory } from '../ports/settings.js';
import type { CollectionLocks } from './collectionlocks.js';
import type { HeldRequests } from './held.js';

export interface CommandContext {
  backend: EasBackend;
  principal: Principal;
  device: DeviceRecord;
  /** Protocol version x 10 (25, 120, 121, 140, 141, 160, 161). */
  version: number;
  query: EasQuery;
  headers: Record<string, string | undefined>;
  /** The decoded WBXML request, or undefined for an empty body. */
  request: WbxmlElement | undefined;
  rawBody: Buffer;
  /** Aborted when the client goes away or the server stops. */
  signal: AbortSignal;
  /** Per-process memory shared by commands (cached Sync requests, Ping folder lists). */
  cache: CommandCache;
  log: (event: Record<string, unknown>) => void;
}

export interface CommandCache {
  lastSync: Map<number, WbxmlElement>;
  /** Sync: one request at a time works on a device's collection (keys "<device pk>:<folder id>"). */
  syncLocks: CollectionLocks;
  /** Ping and Sync: the requests each device holds open for changes, so that a newer one can end them. */
  held: HeldRequests;
  /** Ping: each device's remembered interval and folders (by device pk), read from the store on first use. Created on first use. */
  pingMemory?: Map<number, PingMemory>;
  /** Find: the SearchIds each device has run (by device pk), newest last. Created on first use. */
  findSearches?: Map<number, string[]>;
}

export type CommandResult =
  | { kind: 'wbxml'; body: WbxmlElement; headers?: Record<string, string> }
  | { kind: 'empty'; headers?: Record<string, string> }
  | { kind: 'http'; status: number; body?: Buffer | string; headers?: Record<string, string> };

export type CommandHandler = (ctx: CommandContext) => Promise<CommandResult> | CommandResult;

/** A protocol failure with a status code for the command's top-level Status (14.0+) or an HTTP code (older). */
export class CommandFailure extends Error {
  /** `headers` go out with the failure, e.g. Retry-After with 111 (retry later). */
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'CommandFailure';
  }
}
