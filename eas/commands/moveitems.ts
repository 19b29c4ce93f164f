// MoveItems (MS-ASCMD 2.2.1.12): items moved between folders, each answered with its new ServerId. The
// saved Sync views are left as they are: the source folder's next Sync reports the item deleted and the
// destination's reports it added, on this device and on every other.
import { childrenOf, childText, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { itemServerId, parseFolderId, parseItemServerId } from './serverid.js';
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

const M = ns('Move');

export const MoveStatus = {
  InvalidSource: 1, InvalidDestination: 2, Success: 3, SameFolder: 4, Failure: 5, Locked: 7,
} as const;

export const MAX_MOVES = 512;

function moveOne(ctx: CommandContext, move: WbxmlElement): WbxmlElement {
  const src = childText(move, 'Move:SrcMsgId');
  const reply = (status: number, dst?: string): WbxmlElement =>
    M('Response', M('SrcMsgId', src ?? ''), M('Status', status), dst !== undefined && M('DstMsgId', dst));
  const ref = parseItemServerId(src);
  const srcFolder = parseFolderId(childText(move, 'Move:SrcFldId'));
  if (!ref || srcFolder === undefined || ref.folderId !== srcFolder) return reply(MoveStatus.InvalidSource);
  const dstFolder = parseFolderId(childText(move, 'Move:DstFldId'));
  if (dstFolder === undefined) return reply(MoveStatus.InvalidDestination);
  const outcome = ctx.backend.items.moveItem(ctx.principal, ref.itemId, srcFolder, dstFolder);
  switch (outcome.kind) {
    case 'moved': return reply(MoveStatus.Success, itemServerId(outcome.folderId, outcome.itemId));
    case 'no-source': return reply(MoveStatus.InvalidSource);
    case 'no-destination': return reply(MoveStatus.InvalidDestination);
    case 'same-folder': return reply(MoveStatus.SameFolder);
    case 'locked': return reply(MoveStatus.Locked);
    case 'failed':
      ctx.log({ level: 'warn', msg: 'MoveItems: move failed', reason: outcome.reason });
      return reply(MoveStatus.Failure);
  }
}

export function moveItems(ctx: CommandContext): CommandResult {
  const moves = childrenOf(ctx.request, 'Move:Move');
  if (!ctx.request || moves.length === 0) throw new CommandFailure(103, 'MoveItems names no Move');
  if (moves.length > MAX_MOVES) throw new CommandFailure(103, `MoveItems carries more than ${MAX_MOVES} moves`);
  const stray = ctx.request.children.find((c) => c.tag !== 'Move:Move');
  if (stray) throw new CommandFailure(103, `${stray.tag} does not belong in MoveItems`);
  return { kind: 'wbxml', body: M('MoveItems', moves.map((m) => moveOne(ctx, m))) };
}
