// GetItemEstimate: how many changes the next Sync of each collection would bring. Never advances a key.
import { child, childrenOf, childText } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V140 } from '../version.js';
import { filterCutoff, OptionsError, readOptions } from '../email/options.js';
import { pimClassOfFolderType } from '../pim/items.js';
import { parseFolderId } from './serverid.js';
import type { CommandContext, CommandResult } from './context.js';

const G = ns('GetItemEstimate');
const Status = { Success: 1, InvalidCollection: 2, NotPrimed: 3, InvalidSyncKey: 4 } as const;
const MAX_COLLECTIONS = 100;

export function getItemEstimate(ctx: CommandContext): CommandResult {
  const collections = childrenOf(child(ctx.request, 'GetItemEstimate:Collections'), 'GetItemEstimate:Collection');
  if (collections.length === 0 || collections.length > MAX_COLLECTIONS) {
    return { kind: 'wbxml', body: G('GetItemEstimate', G('Status', 2)) };
  }
  const responses = collections.map((c) => {
    const collectionId = childText(c, 'GetItemEstimate:CollectionId') ?? '';
    const syncKey = childText(c, 'AirSync:SyncKey') ?? childText(c, 'GetItemEstimate:SyncKey');
    const className = childText(c, 'GetItemEstimate:Class');
    const answer = (status: number, estimate?: number) => G('Response',
      G('Status', status),
      G('Collection',
        ctx.version < V140 && className !== undefined && G('Class', className),
        G('CollectionId', collectionId),
        estimate !== undefined && G('Estimate', estimate)));
    const folderId = parseFolderId(collectionId);
    if (folderId === undefined || ctx.backend.isMailFolder(ctx.principal, folderId) === undefined) return answer(Status.InvalidCollection);
    if (syncKey === undefined) return answer(Status.InvalidSyncKey);
    const scope = String(folderId);
    if (syncKey === '0') return answer(Status.NotPrimed);
    const view = ctx.backend.findView(ctx.device, scope, syncKey);
    if (!view) return answer(Status.InvalidSyncKey);
    let filterType: number;
    try {
      // 12.x puts FilterType in the Collection; 14.0+ in an Options block.
      const options = readOptions(child(c, 'AirSync:Options'));
      const legacy = childText(c, 'AirSync:FilterType');
      filterType = legacy !== undefined ? readOptions({ tag: 'AirSync:Options', children: [{ tag: 'AirSync:FilterType', children: [], text: legacy }] }).filterType : options.filterType;
    } catch (e) {
      if (e instanceof OptionsError) return answer(Status.InvalidCollection);
      throw e;
    }
    // As Sync does: contacts, calendar, tasks and notes are counted whole (eas/commands/sync.ts).
    const pim = pimClassOfFolderType(ctx.backend.folderType(ctx.principal, folderId) ?? -1);
    return answer(Status.Success, ctx.backend.countPending(ctx.principal, folderId, view, pim ? undefined : filterCutoff(filterType)));
  });
  return { kind: 'wbxml', body: G('GetItemEstimate', responses) };
}
