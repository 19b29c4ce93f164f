// Search (Mailbox and GAL stores) and Find (16.1).
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function search(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function find(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
