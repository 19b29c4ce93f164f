// FolderCreate, FolderUpdate and FolderDelete.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function folderCreate(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function folderUpdate(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function folderDelete(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
