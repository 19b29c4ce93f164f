// FolderSync: the folder hierarchy as changes against the device's saved hierarchy view.
import { childText, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import type { HierarchyEntry } from '../backend.js';
import type { CommandContext, CommandResult } from './context.js';

const F = ns('FolderHierarchy');

export function currentHierarchy(ctx: CommandContext): HierarchyEntry[] {
  return ctx.backend.folders(ctx.principal).map((f) => ({
    folderId: Number(f.serverId), parentId: Number(f.parentId), name: f.displayName, type: f.type,
  }));
}

export function folderSync(ctx: CommandContext): CommandResult {
  const { backend, device } = ctx;
  const reply = (status: number, ...rest: Content[]): CommandResult =>
    ({ kind: 'wbxml', body: F('FolderSync', F('Status', status), ...rest) });
  const key = childText(ctx.request, 'FolderHierarchy:SyncKey');
  if (key === undefined || key.length > 64) return reply(10);

  const from = key === '0' ? backend.startView(device, 'hierarchy') : backend.findView(device, 'hierarchy', key);
  if (!from) return reply(9);
  const before = key === '0' ? new Map<number, HierarchyEntry>() : new Map(backend.hierarchyView(from).map((e) => [e.folderId, e]));
  const now = currentHierarchy(ctx);
  const nowIds = new Set(now.map((e) => e.folderId));
  const adds = now.filter((e) => !before.has(e.folderId));
  const updates = now.filter((e) => {
    const b = before.get(e.folderId);
    return b !== undefined && (b.name !== e.name || b.parentId !== e.parentId || b.type !== e.type);
  });
  const deletes = [...before.keys()].filter((id) => !nowIds.has(id));
  const changed = adds.length + updates.length + deletes.length > 0;
  // An unchanged hierarchy keeps its key, so repeated FolderSyncs do not churn saved views.
  const next = changed || key === '0' ? backend.deriveHierarchyView(device, from, now) : from;
  const entry = (e: HierarchyEntry): WbxmlElement[] => [
    F('ServerId', String(e.folderId)), F('ParentId', String(e.parentId)), F('DisplayName', e.name), F('Type', e.type),
  ];
  return reply(1,
    F('SyncKey', next.key),
    F('Changes',
      F('Count', adds.length + updates.length + deletes.length),
      updates.map((e) => F('Update', entry(e))),
      deletes.map((id) => F('Delete', F('ServerId', String(id)))),
      adds.map((e) => F('Add', entry(e))),
    ),
  );
}
