// SendMail, SmartReply and SmartForward: mail submitted by a device.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function sendMail(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function smartReply(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function smartForward(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
