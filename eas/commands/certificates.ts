// ResolveRecipients and ValidateCert: recipients' certificates from the GAL, and certificate checks.
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export function resolveRecipients(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}

export function validateCert(_ctx: CommandContext): CommandResult {
  throw new CommandFailure(137, 'not implemented yet');
}
