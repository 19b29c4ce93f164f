// The command table: one module per command or per family of commands.
import type { CommandHandler } from './context.js';
import { folderSync } from './foldersync.js';
import { getItemEstimate } from './getitemestimate.js';
import { provision } from './provision.js';
import { sync } from './sync.js';
import { ping } from './ping.js';
import { sendMail, smartForward, smartReply } from './compose.js';
import { getAttachment, itemOperations } from './itemoperations.js';
import { moveItems } from './moveitems.js';
import { folderCreate, folderDelete, folderUpdate } from './folderops.js';
import { settings } from './settings.js';
import { find, search } from './search.js';
import { resolveRecipients, validateCert } from './certificates.js';
import { meetingResponse } from './meetingresponse.js';

export const COMMAND_HANDLERS: Readonly<Record<string, CommandHandler>> = {
  Provision: provision,
  FolderSync: folderSync,
  Sync: sync,
  GetItemEstimate: getItemEstimate,
  Ping: ping,
  SendMail: sendMail,
  SmartReply: smartReply,
  SmartForward: smartForward,
  ItemOperations: itemOperations,
  GetAttachment: getAttachment,
  MoveItems: moveItems,
  MeetingResponse: meetingResponse,
  FolderCreate: folderCreate,
  FolderUpdate: folderUpdate,
  FolderDelete: folderDelete,
  Settings: settings,
  Search: search,
  Find: find,
  ResolveRecipients: resolveRecipients,
  ValidateCert: validateCert,
};
