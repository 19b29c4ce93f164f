// The EAS engine's backend port implemented over the store and the folder events.
import type {
  DeviceInformation, DeviceRecord, EasBackend, EmailItem, FolderDiff, FolderInfo, HierarchyEntry, Principal,
  ProvisioningPolicy, SyncState, ViewUpdate, WipeState,
} from '../eas/backend.js';
import type { FolderEvents } from './events.js';
import type { ServiceDeps } from './services/deps.js';
import { SubmissionService } from './services/submission.js';
import { ItemsService } from './services/items.js';
import { SettingsService } from './services/settings.js';
import { SearchService } from './services/search.js';
import { DirectoryService } from './services/directory.js';
import { DraftsService } from './services/drafts.js';
import { PimService } from './services/pim.js';
import { MeetingService } from './services/meetings.js';
import { provisioningDocument } from './policy.js';
import { devicePolicyFor, enforcementFor, parsePolicy } from './gateway/policy.js';
import type { Store } from './store/index.js';
import { FolderType, MAIL_FOLDER_TYPES, type StoredMessage } from './store/mailbox.js';

export class StoreBackend implements EasBackend {
  private readonly store: Store;
  private readonly events: FolderEvents;
  readonly submission: SubmissionService;
  readonly items: ItemsService;
  readonly settings: SettingsService;
  readonly search: SearchService;
  readonly directory: DirectoryService;
  readonly drafts: DraftsService;
  readonly pim: PimService;
  readonly meetings: MeetingService;

  constructor(deps: ServiceDeps) {
    this.store = deps.store;
    this.events = deps.events;
    this.submission = new SubmissionService(deps);
    this.items = new ItemsService(deps);
    this.settings = new SettingsService(deps);
    this.search = new SearchService(deps, deps.searchTimeoutMs);
    this.directory = new DirectoryService(deps);
    this.drafts = new DraftsService(deps);
    this.meetings = new MeetingService(deps);
    this.pim = new PimService(deps, this.meetings);
  }

  async authenticate(name: string, password: string): Promise<Principal | undefined> {
    const user = await this.store.directory.authenticate(name, password);
    return user && { userId: user.id, address: user.address, displayName: user.displayName };
  }

  device(p: Principal, deviceId: string, deviceType: string, userAgent: string | undefined): DeviceRecord {
    return this.store.devices.touch(p.userId, deviceId, deviceType, userAgent);
  }

  setPolicyKeys(device: DeviceRecord, keys: { policyKey?: number | null; pendingPolicyKey?: number | null; policyStatus?: number }): void {
    this.store.devices.setPolicyKeys(device.pk, keys);
  }

  setWipeState(device: DeviceRecord, state: WipeState): void {
    this.store.devices.setWipeState(device.pk, state);
  }

  setDeviceInformation(device: DeviceRecord, info: DeviceInformation): void {
    this.store.devices.setInformation(device.pk, info);
  }

  /** The user's device policy: the organisation's, tightened by the groups the user is in, as the gateway enforces it. */
  policy(p: Principal): ProvisioningPolicy {
    // Derived from the one stored policy each time, so the device and the gateway cannot disagree.
    const parsed = parsePolicy(JSON.parse(this.store.getMeta('policy') ?? '{}') as Record<string, unknown>);
    return provisioningDocument(devicePolicyFor(parsed, enforcementFor(parsed, this.store.directory.groupsOf(p.userId))));
  }

  folders(p: Principal): FolderInfo[] {
    return this.store.mailbox.folders(p.userId).map((f) => ({
      serverId: String(f.id), parentId: String(f.parentId), displayName: f.name, type: f.type,
    }));
  }

  folderType(p: Principal, folderId: number): number | undefined {
    return this.store.mailbox.folder(p.userId, folderId)?.type;
  }

  isMailFolder(p: Principal, folderId: number): boolean | undefined {
    const f = this.store.mailbox.folder(p.userId, folderId);
    return f === undefined ? undefined : MAIL_FOLDER_TYPES.has(f.type);
  }

  deletedItemsFolder(p: Principal): number {
    const f = this.store.mailbox.folderByType(p.userId, FolderType.DeletedItems);
    if (!f) throw new Error(`user ${p.address} has no Deleted Items folder`);
    return f.id;
  }

  startView(device: DeviceRecord, scope: string): SyncState {
    return this.store.syncStates.start(device.pk, scope);
  }

  findView(device: DeviceRecord, scope: string, key: string): SyncState | undefined {
    return this.store.syncStates.find(device.pk, scope, key);
  }

  latestView(device: DeviceRecord, scope: string): SyncState | undefined {
    return this.store.syncStates.latest(device.pk, scope);
  }

  deriveView(device: DeviceRecord, scope: string, from: SyncState, update: ViewUpdate): SyncState {
    return this.store.syncStates.derive(device.pk, scope, from, update);
  }

  deriveHierarchyView(device: DeviceRecord, from: SyncState, entries: HierarchyEntry[]): SyncState {
    return this.store.syncStates.deriveHierarchy(device.pk, from, entries);
  }

  hierarchyView(state: SyncState): HierarchyEntry[] {
    return this.store.syncStates.hierarchy(state);
  }

  diffFolder(p: Principal, folderId: number, view: SyncState, since: Date | undefined, limit: number): FolderDiff {
    return this.store.syncStates.diff(p.userId, folderId, view, since, limit);
  }

  countPending(p: Principal, folderId: number, view: SyncState, since: Date | undefined): number {
    return this.store.syncStates.countPending(p.userId, folderId, view, since);
  }

  emails(p: Principal, ids: number[]): Map<number, EmailItem & { modseq: number }> {
    return this.store.mailbox.messagesByIds(p.userId, ids) as Map<number, StoredMessage>;
  }

  rawMessage(p: Principal, id: number): Buffer | undefined {
    return this.store.mailbox.raw(p.userId, id);
  }

  setReadFlag(p: Principal, id: number, change: { read?: boolean; flag?: EmailItem['flag'] }): number | undefined {
    const folder = this.store.mailbox.folderOfMessage(p.userId, id);
    const modseq = this.store.mailbox.updateFlags(p.userId, id, change);
    if (modseq !== undefined && folder !== undefined) this.events.changed([folder]);
    return modseq;
  }

  moveMessage(p: Principal, id: number, toFolderId: number): boolean {
    const from = this.store.mailbox.folderOfMessage(p.userId, id);
    const ok = this.store.mailbox.moveMessage(p.userId, id, toFolderId);
    if (ok && from !== undefined) this.events.changed([from, toFolderId]);
    return ok;
  }

  deleteMessage(p: Principal, id: number): boolean {
    const from = this.store.mailbox.folderOfMessage(p.userId, id);
    const ok = this.store.mailbox.deleteMessage(p.userId, id);
    if (ok && from !== undefined) this.events.changed([from]);
    return ok;
  }

  folderOfMessage(p: Principal, id: number): number | undefined {
    return this.store.mailbox.folderOfMessage(p.userId, id);
  }

  async waitForChanges(p: Principal, folderIds: number[], timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    const own = folderIds.filter((id) => this.store.mailbox.folder(p.userId, id) !== undefined);
    if (own.length === 0) return false;
    return (await this.events.wait(own, timeoutMs, signal)) !== undefined;
  }
}
