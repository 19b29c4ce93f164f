// FolderCreate, FolderUpdate and FolderDelete (MS-ASCMD 2.2.1.3, 2.2.1.6, 2.2.1.4). Each carries the
// device's current hierarchy SyncKey; on success the device gets a new one whose saved view already
// holds its own change, so its next FolderSync does not repeat it, while other devices see the change
// in theirs.
import { childText, type Content } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import type { HierarchyEntry, SyncState } from '../backend.js';
import type { FolderChangeOutcome } from '../ports/items.js';
import { parseFolderId } from './serverid.js';
import type { CommandContext, CommandResult } from './context.js';

const F = ns('FolderHierarchy');

export const FolderStatus = {
  Success: 1, Exists: 2, Special: 3, NotFound: 4, ParentNotFound: 5, ServerError: 6, InvalidSyncKey: 9, Malformed: 10,
} as const;

/** Folder types a client may create: generic, user mail, calendar, contacts, tasks, journal, notes. */
export const CREATABLE_TYPES: ReadonlySet<number> = new Set([1, 12, 13, 14, 15, 16, 17]);
export const MAX_FOLDER_NAME = 256;

type Command = 'FolderCreate' | 'FolderUpdate' | 'FolderDelete';

class FolderFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

function reply(command: Command, status: number, ...rest: Content[]): CommandResult {
  return { kind: 'wbxml', body: F(command, F('Status', status), ...rest) };
}

function required(ctx: CommandContext, name: 'SyncKey' | 'ServerId' | 'ParentId' | 'DisplayName' | 'Type'): string {
  const value = childText(ctx.request, `FolderHierarchy:${name}`);
  if (value === undefined) throw new FolderFailure(FolderStatus.Malformed, `${name} is missing`);
  return value;
}

/** The device's current hierarchy view, which the request's SyncKey must name. */
function currentView(ctx: CommandContext, key: string): SyncState {
  const latest = key.length <= 64 ? ctx.backend.latestView(ctx.device, 'hierarchy') : undefined;
  if (!latest || latest.key !== key) throw new FolderFailure(FolderStatus.InvalidSyncKey, 'the SyncKey is not the current hierarchy key: FolderSync again');
  return latest;
}

function displayName(text: string): string {
  if (text.trim() === '') throw new FolderFailure(FolderStatus.Malformed, 'DisplayName is empty');
  if (text.length > MAX_FOLDER_NAME) throw new FolderFailure(FolderStatus.Malformed, `DisplayName is longer than ${MAX_FOLDER_NAME} characters`);
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new FolderFailure(FolderStatus.Malformed, 'DisplayName holds control characters');
  return text;
}

/** ParentId "0" is the top level; anything else must name a folder (checked by the port). */
function parentId(text: string): number {
  const id = parseFolderId(text);
  if (id === undefined) throw new FolderFailure(FolderStatus.ParentNotFound, `ParentId ${text.slice(0, 40)} is not a folder`);
  return id;
}

/** Saves the device's new hierarchy view: the old one with the device's own change applied. */
function commit(ctx: CommandContext, from: SyncState, edit: (entries: HierarchyEntry[]) => HierarchyEntry[]): string {
  return ctx.backend.deriveHierarchyView(ctx.device, from, edit(ctx.backend.hierarchyView(from))).key;
}

function run(command: Command, ctx: CommandContext, body: () => CommandResult): CommandResult {
  try {
    if (!ctx.request) throw new FolderFailure(FolderStatus.Malformed, `${command} has no body`);
    return body();
  } catch (e) {
    if (e instanceof FolderFailure) {
      ctx.log({ level: 'info', msg: `${command} refused`, status: e.status, reason: e.message });
      // The reason may quote the client's own text: keep it to what a header can carry.
      return { ...reply(command, e.status), headers: { 'X-EasMime-Reason': e.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } };
    }
    ctx.log({ level: 'error', msg: `${command} failed`, error: e instanceof Error ? e.stack : String(e) });
    return reply(command, FolderStatus.ServerError);
  }
}

function changeFailure(outcome: Exclude<FolderChangeOutcome, { kind: 'ok' }>, command: Command): FolderFailure {
  switch (outcome.kind) {
    case 'not-found': return new FolderFailure(FolderStatus.NotFound, 'no such folder');
    // FolderUpdate reports a default folder with Status 2 (MS-ASCMD 2.2.3.177.5).
    case 'special': return new FolderFailure(command === 'FolderUpdate' ? FolderStatus.Exists : FolderStatus.Special, 'default folders cannot be changed');
    case 'duplicate-name': return new FolderFailure(FolderStatus.Exists, 'a folder of that name already exists there');
    case 'no-parent': return new FolderFailure(FolderStatus.ParentNotFound, 'the parent folder does not exist');
    case 'cycle': return new FolderFailure(FolderStatus.ParentNotFound, 'a folder cannot move below itself');
  }
}

export function folderCreate(ctx: CommandContext): CommandResult {
  return run('FolderCreate', ctx, () => {
    const key = required(ctx, 'SyncKey');
    const parentText = required(ctx, 'ParentId');
    const nameText = required(ctx, 'DisplayName');
    const typeText = required(ctx, 'Type');
    const from = currentView(ctx, key);
    const name = displayName(nameText);
    const type = /^\d{1,2}$/.test(typeText.trim()) ? Number(typeText.trim()) : NaN;
    if (!CREATABLE_TYPES.has(type)) throw new FolderFailure(FolderStatus.Malformed, `folders of Type ${typeText.slice(0, 10)} cannot be created`);
    const outcome = ctx.backend.items.createFolder(ctx.principal, parentId(parentText), name, type);
    if (outcome.kind !== 'ok') throw changeFailure(outcome, 'FolderCreate');
    const f = outcome.folder;
    const newKey = commit(ctx, from, (entries) => [...entries,
      { folderId: Number(f.serverId), parentId: Number(f.parentId), name: f.displayName, type: f.type }]);
    return reply('FolderCreate', FolderStatus.Success, F('SyncKey', newKey), F('ServerId', f.serverId));
  });
}

export function folderUpdate(ctx: CommandContext): CommandResult {
  return run('FolderUpdate', ctx, () => {
    const key = required(ctx, 'SyncKey');
    const serverId = required(ctx, 'ServerId');
    const parentText = required(ctx, 'ParentId');
    const nameText = required(ctx, 'DisplayName');
    const from = currentView(ctx, key);
    const folderId = parseFolderId(serverId);
    if (folderId === undefined) throw new FolderFailure(FolderStatus.NotFound, `ServerId ${serverId.slice(0, 40)} is not a folder`);
    const name = displayName(nameText);
    const outcome = ctx.backend.items.updateFolder(ctx.principal, folderId, parentId(parentText), name);
    if (outcome.kind !== 'ok') throw changeFailure(outcome, 'FolderUpdate');
    const f = outcome.folder;
    const newKey = commit(ctx, from, (entries) => entries.map((e) => e.folderId === folderId
      ? { ...e, parentId: Number(f.parentId), name: f.displayName } : e));
    return reply('FolderUpdate', FolderStatus.Success, F('SyncKey', newKey));
  });
}

export function folderDelete(ctx: CommandContext): CommandResult {
  return run('FolderDelete', ctx, () => {
    const key = required(ctx, 'SyncKey');
    const serverId = required(ctx, 'ServerId');
    const from = currentView(ctx, key);
    const folderId = parseFolderId(serverId);
    if (folderId === undefined) throw new FolderFailure(FolderStatus.NotFound, `ServerId ${serverId.slice(0, 40)} is not a folder`);
    const outcome = ctx.backend.items.deleteFolder(ctx.principal, folderId);
    if (outcome.kind === 'not-found') throw new FolderFailure(FolderStatus.NotFound, 'no such folder');
    if (outcome.kind === 'special') throw new FolderFailure(FolderStatus.Special, 'default folders cannot be deleted');
    // The device removes the whole subtree itself; only what it cannot know stays for its FolderSync.
    const gone = new Set(outcome.folderIds);
    const newKey = commit(ctx, from, (entries) => entries.filter((e) => !gone.has(e.folderId)));
    return reply('FolderDelete', FolderStatus.Success, F('SyncKey', newKey));
  });
}
