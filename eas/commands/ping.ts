// Ping (MS-ASCMD 2.2.1.13): the long poll that tells a device which folders changed. One waiting
// request per device: a held Ping sleeps on the folder events (no polling, one timer) and, when woken,
// counts what the device has not yet synced; a newer Ping from the same device ends the older one.
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { filterCutoff } from '../email/options.js';
import type { PingMemory } from '../ports/settings.js';
import { currentHierarchy } from './foldersync.js';
import { parseFolderId } from './serverid.js';
import type { CommandContext, CommandResult } from './context.js';

const P = ns('Ping');

/** Exchange's default bounds (MS-ASCMD leaves them to the server); Sync's HeartbeatInterval uses the same. */
export const HEARTBEAT_MIN = 60;
export const HEARTBEAT_MAX = 3540;
export const MAX_FOLDERS = 300;
/** A held Ping answers this long before its interval ends, to beat the client's own timeout and proxies. */
export const ANSWER_EARLY_MS = 5_000;
/** Devices whose Ping parameters stay in memory; older ones are read from the store again when needed. */
const MEMORY_LIMIT = 50_000;
const MAX_FOLDER_ID = 64;

const PING_CLASSES: ReadonlySet<string> = new Set(['Email', 'Calendar', 'Contacts', 'Tasks', 'Notes', 'SMS']);

export const PingStatus = {
  Expired: 1, Changes: 2, MissingParameters: 3, SyntaxError: 4, BadInterval: 5, TooManyFolders: 6,
  HierarchyChanged: 7, ServerError: 8,
} as const;

function reply(status: number, reason?: string, ...rest: Content[]): CommandResult {
  return {
    kind: 'wbxml',
    body: P('Ping', P('Status', status), ...rest),
    headers: reason ? { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } : undefined,
  };
}

interface PingRequest { interval?: number; folders?: PingMemory['folders'] }

/** Reads the request; a syntax problem or an out-of-range value is answered at once. */
function parseRequest(req: WbxmlElement | undefined): PingRequest | { answer: CommandResult } {
  if (!req) return {};
  const syntax = (why: string): { answer: CommandResult } => ({ answer: reply(PingStatus.SyntaxError, why) });
  for (const c of req.children) {
    if (c.tag !== 'Ping:HeartbeatInterval' && c.tag !== 'Ping:Folders') return syntax(`unexpected element ${c.tag} in Ping`);
  }
  if (childrenOf(req, 'Ping:HeartbeatInterval').length > 1 || childrenOf(req, 'Ping:Folders').length > 1) {
    return syntax('HeartbeatInterval and Folders may appear once each');
  }
  const out: PingRequest = {};
  const hbText = childText(req, 'Ping:HeartbeatInterval');
  if (hbText !== undefined) {
    if (!/^\d{1,9}$/.test(hbText.trim())) return syntax('HeartbeatInterval must be a number of seconds');
    out.interval = Number(hbText.trim());
  }
  const foldersEl = child(req, 'Ping:Folders');
  if (foldersEl) {
    if (foldersEl.children.length === 0) return syntax('Folders must name at least one Folder');
    const seen = new Set<string>();
    const folders: PingMemory['folders'] = [];
    for (const f of foldersEl.children) {
      if (f.tag !== 'Ping:Folder') return syntax(`unexpected element ${f.tag} in Folders`);
      if (f.children.some((c) => c.tag !== 'Ping:Id' && c.tag !== 'Ping:Class')) return syntax('a Folder holds only Id and Class');
      const id = childText(f, 'Ping:Id')?.trim();
      const cls = childText(f, 'Ping:Class')?.trim();
      if (!id || id.length > MAX_FOLDER_ID) return syntax('every Folder needs an Id');
      if (cls === undefined) return syntax(`Folder ${id} has no Class`);
      if (!PING_CLASSES.has(cls)) return syntax(`Class ${cls.slice(0, 20)} is not one of ${[...PING_CLASSES].join(', ')}`);
      if (seen.has(id)) continue;
      seen.add(id);
      folders.push({ id, class: cls });
    }
    out.folders = folders;
  }
  if (out.interval !== undefined && out.interval < HEARTBEAT_MIN) {
    return { answer: reply(PingStatus.BadInterval, `HeartbeatInterval is below ${HEARTBEAT_MIN} s`, P('HeartbeatInterval', HEARTBEAT_MIN)) };
  }
  if (out.interval !== undefined && out.interval > HEARTBEAT_MAX) {
    return { answer: reply(PingStatus.BadInterval, `HeartbeatInterval is above ${HEARTBEAT_MAX} s`, P('HeartbeatInterval', HEARTBEAT_MAX)) };
  }
  if (out.folders !== undefined && out.folders.length > MAX_FOLDERS) {
    return { answer: reply(PingStatus.TooManyFolders, `at most ${MAX_FOLDERS} folders can be watched`, P('MaxFolders', MAX_FOLDERS)) };
  }
  return out;
}

/**
 * Learns each folder's FilterType from the device's last Sync request: Sync counts only mail inside
 * that window as the device's, so Ping must count changes in the same window. A collection sent
 * without Options is synced with no filter, which is what 0 means here too.
 */
function learnFilters(ctx: CommandContext, memory: PingMemory): boolean {
  const last = ctx.cache.lastSync.get(ctx.device.pk);
  if (!last) return false;
  let changed = false;
  for (const col of childrenOf(child(last, 'AirSync:Collections'), 'AirSync:Collection')) {
    const id = childText(col, 'AirSync:CollectionId')?.trim();
    if (!id || !memory.folders.some((f) => f.id === id)) continue;
    const options = childrenOf(col, 'AirSync:Options').find((o) => (childText(o, 'AirSync:Class') ?? 'Email') === 'Email');
    const text = childText(options, 'AirSync:FilterType')?.trim();
    const filter = text !== undefined && /^[0-8]$/.test(text) ? Number(text) : 0;
    if (memory.filters[id] !== filter) {
      memory.filters[id] = filter;
      changed = true;
    }
  }
  return changed;
}

type Inspection = { kind: 'hierarchy-changed'; reason: string } | { kind: 'changes'; folders: string[] };

/** Whether the hierarchy moved on since the device's FolderSync, else which watched folders it has not caught up with. */
function inspect(ctx: CommandContext, memory: PingMemory): Inspection {
  const { backend, device, principal } = ctx;
  const hierarchy = backend.latestView(device, 'hierarchy');
  if (!hierarchy) return { kind: 'hierarchy-changed', reason: 'the device has not run FolderSync' };
  const seen = new Map(backend.hierarchyView(hierarchy).map((e) => [e.folderId, e]));
  const now = currentHierarchy(ctx);
  const same = now.length === seen.size && now.every((e) => {
    const s = seen.get(e.folderId);
    return s !== undefined && s.parentId === e.parentId && s.name === e.name && s.type === e.type;
  });
  if (!same) return { kind: 'hierarchy-changed', reason: 'the folder hierarchy changed since the last FolderSync' };
  const existing = new Set(now.map((e) => e.folderId));
  const changed: string[] = [];
  for (const f of memory.folders) {
    const id = parseFolderId(f.id);
    // An id the server never gave out (or one deleted since) means the device's hierarchy is stale.
    if (id === undefined || !existing.has(id)) return { kind: 'hierarchy-changed', reason: `folder ${f.id.slice(0, 20)} does not exist` };
    const view = backend.latestView(device, String(id));
    const pending = view
      ? backend.countPending(principal, id, view, filterCutoff(memory.filters[f.id] ?? 0))
      // Never synced: anything in it is news to the device.
      : backend.search.countMessages(principal, id) ?? 0;
    if (pending > 0) changed.push(f.id);
  }
  return { kind: 'changes', folders: changed };
}

function rememberInMemory(ctx: CommandContext, memory: PingMemory): void {
  const memories = (ctx.cache.pingMemory ??= new Map());
  memories.delete(ctx.device.pk);
  memories.set(ctx.device.pk, memory);
  if (memories.size > MEMORY_LIMIT) memories.delete(memories.keys().next().value!);
}

function recall(ctx: CommandContext): PingMemory | undefined {
  const cached = ctx.cache.pingMemory?.get(ctx.device.pk);
  if (cached) return cached;
  const stored = ctx.backend.settings.pingMemory(ctx.principal, ctx.device);
  // Only what a Ping could have asked for counts as remembered (the value may come from an older server).
  const usable = stored !== undefined && Number.isInteger(stored.interval) && stored.interval >= HEARTBEAT_MIN &&
    stored.interval <= HEARTBEAT_MAX && stored.folders.length > 0 && stored.folders.length <= MAX_FOLDERS;
  if (!usable) return undefined;
  rememberInMemory(ctx, stored);
  return stored;
}

export async function ping(ctx: CommandContext): Promise<CommandResult> {
  const parsed = parseRequest(ctx.request);
  if ('answer' in parsed) return parsed.answer;
  const { backend, device, principal } = ctx;

  let memory: PingMemory;
  try {
    const remembered = recall(ctx);
    const interval = parsed.interval ?? remembered?.interval;
    const folders = parsed.folders ?? remembered?.folders;
    if (interval === undefined || folders === undefined || folders.length === 0) {
      return reply(PingStatus.MissingParameters, 'no HeartbeatInterval and Folders are remembered for this device: send a full Ping');
    }
    memory = { interval, folders, filters: { ...remembered?.filters } };
    const learnt = learnFilters(ctx, memory);
    if (!remembered || parsed.interval !== undefined || parsed.folders !== undefined || learnt) {
      backend.settings.savePingMemory(principal, device, memory);
    }
    rememberInMemory(ctx, memory);
  } catch (e) {
    ctx.log({ level: 'error', msg: 'ping failed', deviceId: device.deviceId, error: e instanceof Error ? e.stack : String(e) });
    return reply(PingStatus.ServerError, 'internal server error');
  }

  // The older Ping of this device answers Status 1 at once: the device has moved on to this one,
  // and "nothing changed, Ping again" is harmless to a client that still listens.
  ctx.cache.held.end(device.pk, 'ping');
  const watched = memory.folders.map((f) => parseFolderId(f.id)).filter((id): id is number => id !== undefined);
  const held = ctx.cache.held.hold(device.pk, 'ping', new Set(watched), ctx.signal);

  try {
    const deadline = Date.now() + memory.interval * 1000 - ANSWER_EARLY_MS;
    for (;;) {
      if (held.signal.aborted) return reply(PingStatus.Expired);
      const found = inspect(ctx, memory);
      if (found.kind === 'hierarchy-changed') return reply(PingStatus.HierarchyChanged, found.reason);
      if (found.folders.length > 0) {
        return reply(PingStatus.Changes, undefined, P('Folders', found.folders.map((id) => P('Folder', id))));
      }
      const left = deadline - Date.now();
      if (left <= 0) return reply(PingStatus.Expired);
      // Whatever ends the wait (a change, the interval, a newer Ping, the client leaving), the loop decides.
      await backend.waitForChanges(principal, watched, left, held.signal);
      if (learnFilters(ctx, memory)) backend.settings.savePingMemory(principal, device, memory);
    }
  } catch (e) {
    ctx.log({ level: 'error', msg: 'ping failed', deviceId: device.deviceId, error: e instanceof Error ? e.stack : String(e) });
    return reply(PingStatus.ServerError, 'internal server error');
  } finally {
    held.release();
  }
}
