// Settings: Oof, DeviceInformation, UserInformation, DevicePassword, RightsManagementInformation.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function settings(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
