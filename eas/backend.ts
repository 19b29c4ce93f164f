// What the EAS engine needs from a mail service. eas/ states it; server/ implements it over the store
// and the mail flow. Nothing here knows about SQL, SMTP or crypto libraries.

import type { SubmissionPort } from './ports/submission.js';
import type { ItemsPort } from './ports/items.js';
import type { SettingsPort } from './ports/settings.js';
import type { SearchPort } from './ports/search.js';
import type { DirectoryPort } from './ports/directory.js';
import type { DraftsPort } from './ports/drafts.js';
import type { PimPort } from './ports/pim.js';
import type { MeetingPort } from './ports/meetings.js';
import type { PimRecurrence } from './pim/items.js';

export interface Principal {
  userId: number;
  address: string;
  displayName: string;
}

export type WipeState = 'none' | 'requested' | 'account-requested' | 'acknowledged';

export interface DeviceRecord {
  /** Store key of the device partnership (user + DeviceId). */
  pk: number;
  deviceId: string;
  deviceType: string;
  policyKey?: number;
  pendingPolicyKey?: number;
  wipeState: WipeState;
}

export interface DeviceInformation {
  model?: string; imei?: string; friendlyName?: string; os?: string; osLanguage?: string;
  phoneNumber?: string; userAgent?: string; enableOutboundSms?: string; mobileOperator?: string;
}

/** The provisioning policy: EASProvisionDoc element names to values (only the ones set). */
export type ProvisioningPolicy = Array<[name: string, value: string | number]>;

export interface FolderInfo {
  serverId: string;
  parentId: string; // "0" for top level
  displayName: string;
  type: number;
}

export interface AttachmentInfo {
  index: number;
  fileName: string;
  contentType: string;
  size: number;
  contentId?: string;
  isInline: boolean;
}

export interface EmailItem {
  id: number;
  folderId: number;
  receivedAt: Date;
  size: number;
  subject: string;
  from: string;
  to: string;
  cc: string;
  replyTo: string;
  displayTo: string;
  threadTopic: string;
  importance: number;
  messageClass: string;
  cpid: number;
  text: string;
  html?: string;
  preview: string;
  attachments: AttachmentInfo[];
  conversationId: Buffer;
  conversationIndex: Buffer;
  read: boolean;
  flag: { status: number; type?: string; startDate?: number; dueDate?: number; completeTime?: number };
  receivedAsBcc: boolean;
  /** The invitation a meeting request, update, cancellation or reply carries (MS-ASEMAIL MeetingRequest). */
  meeting?: EmailMeeting;
}

/** A meeting message's event, times in ms since the epoch (see server/meetings/invitation.ts). */
export interface EmailMeeting {
  /** COUNTER: an attendee's answer that proposes another time. */
  method: 'REQUEST' | 'CANCEL' | 'REPLY' | 'COUNTER';
  uid: string;
  sequence: number;
  /** MS-ASEMAIL GlobalObjId (base64). */
  globalObjId: string;
  start: number;
  end: number;
  dtstamp: number;
  allDay: boolean;
  location: string;
  organizer?: { email: string; name?: string };
  recurrenceId?: number;
  reminderMinutes?: number;
  responseRequested: boolean;
  recurrence?: PimRecurrence;
  sensitivity: number;
  busyStatus: number;
  /** MS-ASCAL Timezone (base64 TIME_ZONE_INFORMATION). */
  timezone: string;
  disallowNewTimeProposal: boolean;
  /** A COUNTER's proposed time (start and end are then the meeting's time as the proposer saw it). */
  proposedStart?: number;
  proposedEnd?: number;
}

/** A saved client view (a SyncKey). */
export interface SyncState {
  id: number;
  key: string;
  generation: number;
  latest: boolean;
}

/** Changes between a saved view and the folder now, in the order they are to be sent. */
export interface FolderDiff {
  deletes: number[];
  softDeletes: number[];
  changes: Array<{ id: number; modseq: number }>;
  adds: Array<{ id: number; modseq: number }>;
  /** Whether more changes exist beyond what was returned. */
  more: boolean;
}

/** How a new view differs from the one it derives from. */
export interface ViewUpdate {
  set: Array<{ id: number; modseq: number }>;
  remove: number[];
}

export interface HierarchyEntry { folderId: number; parentId: number; name: string; type: number }

/** The whole backend: the core below plus one port per group of commands (eas/ports/*). */
export interface EasBackend extends CoreBackend {
  submission: SubmissionPort;
  items: ItemsPort;
  settings: SettingsPort;
  search: SearchPort;
  directory: DirectoryPort;
  drafts: DraftsPort;
  pim: PimPort;
  meetings: MeetingPort;
}

/** Identity, devices, provisioning, folders, saved views and email items: what every command uses. */
export interface CoreBackend {
  authenticate(name: string, password: string): Promise<Principal | undefined>;

  device(p: Principal, deviceId: string, deviceType: string, userAgent: string | undefined): DeviceRecord;
  setPolicyKeys(device: DeviceRecord, keys: { policyKey?: number | null; pendingPolicyKey?: number | null; policyStatus?: number }): void;
  setWipeState(device: DeviceRecord, state: WipeState): void;
  setDeviceInformation(device: DeviceRecord, info: DeviceInformation): void;
  policy(p: Principal): ProvisioningPolicy;

  folders(p: Principal): FolderInfo[];
  isMailFolder(p: Principal, folderId: number): boolean | undefined; // undefined = no such folder
  /** The folder's type (MS-ASCMD FolderSync Type), undefined when it is not the user's. */
  folderType(p: Principal, folderId: number): number | undefined;
  deletedItemsFolder(p: Principal): number;

  // Saved views. scope is "hierarchy" or a folder id as a string.
  startView(device: DeviceRecord, scope: string): SyncState;
  findView(device: DeviceRecord, scope: string, key: string): SyncState | undefined;
  latestView(device: DeviceRecord, scope: string): SyncState | undefined;
  /** Saves a new view derived from `from` (dropping views newer than it and older than its predecessor). */
  deriveView(device: DeviceRecord, scope: string, from: SyncState, update: ViewUpdate): SyncState;
  deriveHierarchyView(device: DeviceRecord, from: SyncState, entries: HierarchyEntry[]): SyncState;
  hierarchyView(state: SyncState): HierarchyEntry[];

  diffFolder(p: Principal, folderId: number, view: SyncState, since: Date | undefined, limit: number): FolderDiff;
  countPending(p: Principal, folderId: number, view: SyncState, since: Date | undefined): number;

  emails(p: Principal, ids: number[]): Map<number, EmailItem & { modseq: number }>;
  rawMessage(p: Principal, id: number): Buffer | undefined;
  setReadFlag(p: Principal, id: number, change: { read?: boolean; flag?: EmailItem['flag'] }): number | undefined;
  moveMessage(p: Principal, id: number, toFolderId: number): boolean;
  deleteMessage(p: Principal, id: number): boolean;
  folderOfMessage(p: Principal, id: number): number | undefined;

  /** Resolves true when any of the folders changes, false on timeout or abort. No polling. */
  waitForChanges(p: Principal, folderIds: number[], timeoutMs: number, signal: AbortSignal): Promise<boolean>;
}
