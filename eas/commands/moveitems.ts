// MoveItems: items moved between folders, with new ServerIds.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function moveItems(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
