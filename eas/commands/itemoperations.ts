// ItemOperations (Fetch, EmptyFolderContents, Move) and the 12.x GetAttachment.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function itemOperations(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function getAttachment(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
