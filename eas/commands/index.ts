// The command table: one module per command.
import type { CommandHandler } from './context.js';
import { folderSync } from './foldersync.js';
import { getItemEstimate } from './getitemestimate.js';
import { provision } from './provision.js';
import { sync } from './sync.js';

export const COMMAND_HANDLERS: Readonly<Record<string, CommandHandler>> = {
  Provision: provision,
  FolderSync: folderSync,
  Sync: sync,
  GetItemEstimate: getItemEstimate,
};
