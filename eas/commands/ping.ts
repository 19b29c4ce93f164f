// Ping: the long poll that tells a device which folders changed.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function ping(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
