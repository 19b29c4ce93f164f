// Sync (MS-ASCMD 2.2.1.21) for email folders, and for contacts, calendar, tasks and notes folders
// (eas/commands/sync-pim.ts): client changes in, server changes out, one saved view per response so
// a lost response can be retried with the previous key.
import { child, childrenOf, childText, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V121, V160 } from '../version.js';
import type { EmailItem, SyncState, ViewUpdate } from '../backend.js';
import { filterCutoff, OptionsError, readOptions, type ItemOptions } from '../email/options.js';
import { renderEmail, renderEmailChange } from '../email/render.js';
import {
  addedAttachmentsData, DraftDataError, draftElements, draftFailureStatus, draftMarkers, readDraftEdit, wantsSend,
} from '../email/draft.js';
import type { DraftOutcome } from '../ports/drafts.js';
import { itemServerId, parseFolderId, parseItemServerId } from './serverid.js';
import { applyOccurrenceChange, applyPimAdd, applyPimChange, pimItemsForDevice, writeOptions } from './sync-pim.js';
import { pimClassOfFolderType } from '../pim/items.js';
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

const A = ns('AirSync');

export const MAX_WINDOW = 512;
export const MAX_COLLECTIONS = 100;
const HEARTBEAT_MIN = 60;
const HEARTBEAT_MAX = 3540;

const SyncStatus = {
  Success: 1, InvalidSyncKey: 3, ProtocolError: 4, ServerError: 5, ConversionError: 6, NotFound: 8,
  HierarchyChanged: 12, IncompleteRequest: 13, InvalidWait: 14, TooManyCollections: 15,
} as const;

interface CollectionRequest {
  el: WbxmlElement;
  syncKey: string;
  collectionId: string;
  folderId: number;
  getChanges: boolean;
  windowSize: number;
  deletesAsMoves: boolean;
  options: ItemOptions;
  className?: string;
}

class CollectionFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

function parseCollection(el: WbxmlElement, windowDefault: number): CollectionRequest {
  const syncKey = childText(el, 'AirSync:SyncKey');
  const collectionId = childText(el, 'AirSync:CollectionId');
  if (syncKey === undefined || syncKey.length > 64) throw new CollectionFailure(SyncStatus.ProtocolError, 'SyncKey is missing or too long');
  if (collectionId === undefined) throw new CollectionFailure(SyncStatus.ProtocolError, 'CollectionId is missing');
  const folderId = parseFolderId(collectionId);
  if (folderId === undefined) throw new CollectionFailure(SyncStatus.HierarchyChanged, `CollectionId ${collectionId.slice(0, 40)} is not a folder`);
  const getChangesEl = child(el, 'AirSync:GetChanges');
  const getChangesText = getChangesEl === undefined ? undefined : (getChangesEl.text ?? '1');
  if (syncKey === '0' && getChangesText !== undefined && getChangesText !== '0') {
    throw new CollectionFailure(SyncStatus.ProtocolError, 'GetChanges cannot be set with SyncKey 0');
  }
  const windowText = childText(el, 'AirSync:WindowSize');
  let windowSize = windowDefault;
  if (windowText !== undefined) {
    if (!/^\d{1,10}$/.test(windowText)) throw new CollectionFailure(SyncStatus.ProtocolError, 'WindowSize must be a number');
    windowSize = Number(windowText);
    if (windowSize === 0 || windowSize > MAX_WINDOW) windowSize = MAX_WINDOW;
  }
  const dam = childText(el, 'AirSync:DeletesAsMoves');
  let options: ItemOptions;
  try {
    // Up to two Options blocks (Email and SMS); only the Email one applies to mail folders.
    const blocks = childrenOf(el, 'AirSync:Options');
    const emailBlock = blocks.find((b) => (childText(b, 'AirSync:Class') ?? 'Email') === 'Email');
    options = readOptions(emailBlock);
  } catch (e) {
    if (e instanceof OptionsError) throw new CollectionFailure(SyncStatus.ProtocolError, e.message);
    throw e;
  }
  return {
    el, syncKey, collectionId, folderId,
    getChanges: syncKey === '0' ? false : getChangesText !== '0',
    windowSize, deletesAsMoves: dam === undefined || dam === '' || dam === '1', options,
    className: childText(el, 'AirSync:Class'),
  };
}

function readBool(el: WbxmlElement | undefined): boolean | 'invalid' | undefined {
  if (!el) return undefined;
  const t = (el.text ?? '').trim();
  if (t === '1') return true;
  if (t === '0') return false;
  return 'invalid';
}

function parseDate(text: string | undefined): number | undefined | 'invalid' {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? 'invalid' : t;
}

type ReadFlagChange = { read?: boolean; flag?: EmailItem['flag'] };

/** Reads a Change's Read and Flag, checked before anything is applied. */
function readReadFlag(data: WbxmlElement): ReadFlagChange | { status: number } {
  const change: ReadFlagChange = {};
  const read = readBool(child(data, 'Email:Read'));
  if (read === 'invalid') return { status: SyncStatus.ConversionError };
  if (read !== undefined) change.read = read;
  const flagEl = child(data, 'Email:Flag');
  if (flagEl) {
    const statusText = childText(flagEl, 'Email:Status');
    const status = statusText === undefined ? 0 : Number(statusText);
    if (![0, 1, 2].includes(status)) return { status: SyncStatus.ConversionError };
    const start = parseDate(childText(flagEl, 'Tasks:UtcStartDate') ?? childText(flagEl, 'Tasks:StartDate'));
    const due = parseDate(childText(flagEl, 'Tasks:UtcDueDate') ?? childText(flagEl, 'Tasks:DueDate'));
    const done = parseDate(childText(flagEl, 'Email:CompleteTime') ?? childText(flagEl, 'Tasks:DateCompleted'));
    if (start === 'invalid' || due === 'invalid' || done === 'invalid') return { status: SyncStatus.ConversionError };
    change.flag = status === 0 ? { status: 0 } : {
      status, type: childText(flagEl, 'Email:FlagType')?.slice(0, 255), startDate: start, dueDate: due,
      completeTime: status === 1 ? (done ?? Date.now()) : undefined,
    };
  }
  return change;
}

/** Applies Read and Flag; returns the status and the item's new modseq (none when nothing changed). */
function applyReadFlag(ctx: CommandContext, itemId: number, change: ReadFlagChange): ItemResult {
  if (change.read === undefined && change.flag === undefined) return { status: SyncStatus.Success };
  const modseq = ctx.backend.setReadFlag(ctx.principal, itemId, change);
  return modseq === undefined ? { status: SyncStatus.NotFound } : { status: SyncStatus.Success, modseq };
}

/** The outcome of one client Add or Change: its Status, the item's new modseq, response ApplicationData. */
interface ItemResult {
  status: number;
  modseq?: number;
  itemId?: number;
  data?: WbxmlElement;
  reason?: string;
}

const refuse = (status: number, reason: string): ItemResult => ({ status, reason });

/**
 * Saves (and with Email2:Send sends) a draft edit, then applies Read and Flag unless the draft left.
 * A failed send keeps the edit saved and answers with the send's status.
 */
async function saveDraft(ctx: CommandContext, flags: ReadFlagChange, run: () => Promise<DraftOutcome>): Promise<ItemResult> {
  const outcome = await run();
  if (outcome.kind !== 'saved' && outcome.kind !== 'send-failed') {
    return refuse(draftFailureStatus(outcome), 'reason' in outcome ? outcome.reason : `draft ${outcome.kind}`);
  }
  let modseq = outcome.modseq;
  if (!(outcome.kind === 'saved' && outcome.sent)) modseq = applyReadFlag(ctx, outcome.itemId, flags).modseq ?? modseq;
  const data = addedAttachmentsData(outcome.folderId, outcome.itemId, outcome.added);
  if (outcome.kind === 'send-failed') return { status: draftFailureStatus(outcome), itemId: outcome.itemId, modseq, data, reason: outcome.reason };
  return { status: SyncStatus.Success, itemId: outcome.itemId, modseq, data };
}

/**
 * A client Change. Read, Flag and Categories may change on any message; in 16.x a draft (a message in
 * the Drafts folder) may also change its own fields and attachments, and be sent. Before 16.x only
 * Read and Flag are read and the rest is left alone, as it always was.
 */
async function applyChange(ctx: CommandContext, folderId: number, itemId: number, cmd: WbxmlElement): Promise<ItemResult> {
  const data = child(cmd, 'AirSync:ApplicationData');
  if (!data) return refuse(SyncStatus.ProtocolError, 'a Change needs ApplicationData');
  if (child(data, 'Email2:ConversationId') || child(data, 'Email2:ConversationIndex')) return refuse(SyncStatus.ConversionError, 'ConversationId and ConversationIndex are read-only');
  const flags = readReadFlag(data);
  if ('status' in flags) return refuse(flags.status, 'Read or Flag has an invalid value');
  const send = ctx.version >= V160 && wantsSend(cmd);
  if (ctx.version < V160 || (!send && draftElements(data).length === 0)) return applyReadFlag(ctx, itemId, flags);
  if (folderId !== ctx.backend.drafts.draftsFolder(ctx.principal)) {
    return refuse(SyncStatus.ConversionError, `only Read, Flag and Categories of a message that is not a draft can change (not ${draftElements(data).join(', ') || 'Send'})`);
  }
  let edit;
  try {
    edit = readDraftEdit(data, { folderId, itemId });
  } catch (e) {
    if (e instanceof DraftDataError) return refuse(e.status, e.message);
    throw e;
  }
  return saveDraft(ctx, flags, () => ctx.backend.drafts.update(ctx.principal, itemId, edit, { send }));
}

/** Longest ClientId of a Sync Add (MS-ASCMD ClientId). */
const MAX_CLIENT_ID = 64;

/**
 * A client Add. Only 16.x drafts can be added, in the Drafts folder; MS-ASCMD 2.2.3.7.2 answers an
 * attempt to add any other email (and any email before 16.0, which has no drafts) with Status 6.
 */
async function applyAdd(ctx: CommandContext, c: CollectionRequest, cmd: WbxmlElement, clientId: string | undefined): Promise<ItemResult> {
  if (clientId === undefined || clientId === '' || clientId.length > MAX_CLIENT_ID) return refuse(SyncStatus.ProtocolError, `an Add needs a ClientId of 1 to ${MAX_CLIENT_ID} characters`);
  if (ctx.version < V160) return refuse(SyncStatus.ConversionError, 'email cannot be added by a client before protocol version 16.0 (drafts are 16.x)');
  const className = childText(cmd, 'AirSync:Class');
  if (className !== undefined && className !== 'Email') return refuse(SyncStatus.ConversionError, `this folder holds email, not ${className.slice(0, 20)}`);
  if (c.folderId !== ctx.backend.drafts.draftsFolder(ctx.principal)) return refuse(SyncStatus.ConversionError, 'only drafts can be added, and only in the Drafts folder');
  const data = child(cmd, 'AirSync:ApplicationData');
  if (!data) return refuse(SyncStatus.ProtocolError, 'an Add needs ApplicationData');
  const flags = readReadFlag(data);
  if ('status' in flags) return refuse(flags.status, 'Read or Flag has an invalid value');
  let edit;
  try {
    edit = readDraftEdit(data);
  } catch (e) {
    if (e instanceof DraftDataError) return refuse(e.status, e.message);
    throw e;
  }
  const send = wantsSend(cmd);
  const result = await saveDraft(ctx, flags, () => ctx.backend.drafts.create(ctx.principal, edit, { send, replayKey: `${ctx.device.pk}:${clientId}` }));
  // A draft that was saved but not sent stays on the server; the device learns of it as a server Add.
  return result.status === SyncStatus.Success ? result : { ...result, itemId: undefined, modseq: undefined, data: undefined };
}

async function syncCollection(ctx: CommandContext, c: CollectionRequest, reasons: string[]): Promise<WbxmlElement> {
  const { backend, device, principal, version } = ctx;
  const head = (status: number, key?: string): WbxmlElement[] => [
    ...(version <= V121 && c.className ? [A('Class', c.className)] : []),
    ...(key !== undefined ? [A('SyncKey', key)] : [A('SyncKey', c.syncKey)]),
    A('CollectionId', c.collectionId),
    A('Status', status),
  ];
  const folderType = backend.folderType(principal, c.folderId);
  if (folderType === undefined) return A('Collection', head(SyncStatus.HierarchyChanged));
  // Contacts, calendar, tasks and notes: items kept as devices sent them.
  const pim = pimClassOfFolderType(folderType);
  const scope = String(c.folderId);

  if (c.syncKey === '0') {
    // The first Sync of a folder says which elements the device manages (see applyPimChange).
    if (pim) backend.pim.setSupported(principal, device.pk, c.folderId, child(c.el, 'AirSync:Supported')?.children.map((t) => t.tag));
    const start = backend.startView(device, scope);
    return A('Collection', head(SyncStatus.Success, start.key));
  }
  const from = backend.findView(device, scope, c.syncKey);
  if (!from) return A('Collection', head(SyncStatus.InvalidSyncKey, '0'));

  // 16.x marks every email IsDraft 0 or 1 and gives a draft's Bcc; a draft's changes go out in full,
  // since its fields change, not only Read and Flag.
  const draftsView = version >= V160 && backend.drafts.draftsFolder(principal) === c.folderId;
  const markersFor = (ids: number[]): ((id: number) => WbxmlElement[]) => {
    const bcc = draftsView ? backend.drafts.bcc(principal, ids) : new Map<number, string>();
    return (id) => draftMarkers(version, draftsView, bcc.get(id));
  };

  const update: ViewUpdate = { set: [], remove: [] };
  const responses: WbxmlElement[] = [];
  const commands = child(c.el, 'AirSync:Commands');
  const fetched: WbxmlElement[] = [];
  // FilterType filters mail by its date; a calendar's filter would be by event dates, which are the
  // device's own data here, so PIM folders are synced whole.
  const since = pim ? undefined : filterCutoff(c.options.filterType);
  for (const cmd of commands?.children ?? []) {
    const serverId = childText(cmd, 'AirSync:ServerId');
    const ref = parseItemServerId(serverId);
    const mine = ref !== undefined && ref.folderId === c.folderId && backend.folderOfMessage(principal, ref.itemId) === c.folderId;
    switch (cmd.tag) {
      case 'AirSync:Change': {
        if (!mine) { responses.push(A('Change', A('ServerId', serverId ?? ''), A('Status', SyncStatus.NotFound))); break; }
        const instance = version >= V160 ? childText(cmd, 'AirSyncBase:InstanceId') : undefined;
        const r: ItemResult = pim
          ? instance !== undefined ? applyOccurrenceChange(ctx, ref.itemId, pim, cmd, instance, false) : applyPimChange(ctx, c.folderId, ref.itemId, pim, cmd)
          : await applyChange(ctx, c.folderId, ref.itemId, cmd);
        if (r.reason !== undefined) reasons.push(`Change ${serverId}: ${r.reason}`);
        // Successful changes are answered only when they added attachments (their FileReferences).
        if (r.status !== SyncStatus.Success || r.data) responses.push(A('Change', A('ServerId', serverId!), A('Status', r.status), r.data));
        // A draft that was sent has left the folder: the view keeps it, so the device's next Sync deletes it.
        if (r.modseq !== undefined) update.set.push({ id: ref.itemId, modseq: r.modseq });
        break;
      }
      case 'AirSync:Delete': {
        if (!mine) { responses.push(A('Delete', A('ServerId', serverId ?? ''), A('Status', SyncStatus.NotFound))); break; }
        const instance = pim && version >= V160 ? childText(cmd, 'AirSyncBase:InstanceId') : undefined;
        if (instance !== undefined) {
          // One occurrence of a series: it is deleted, the series stays.
          const r = applyOccurrenceChange(ctx, ref.itemId, pim!, cmd, instance, true);
          if (r.reason !== undefined) reasons.push(`Delete ${serverId}: ${r.reason}`);
          if (r.status !== SyncStatus.Success) responses.push(A('Delete', A('ServerId', serverId!), A('Status', r.status)));
          else if (r.modseq !== undefined) update.set.push({ id: ref.itemId, modseq: r.modseq });
          break;
        }
        const trash = backend.deletedItemsFolder(principal);
        // Deleted Items is a mail folder: a contact or appointment is deleted for good instead.
        const ok = pim ? backend.pim.remove(principal, ref.itemId, writeOptions(ctx, pim))
          : c.deletesAsMoves && trash !== c.folderId
            ? backend.moveMessage(principal, ref.itemId, trash)
            : backend.deleteMessage(principal, ref.itemId);
        if (!ok) responses.push(A('Delete', A('ServerId', serverId!), A('Status', SyncStatus.NotFound)));
        else update.remove.push(ref.itemId);
        break;
      }
      case 'AirSync:Fetch': {
        if (pim) {
          const found = mine ? pimItemsForDevice(ctx, [ref.itemId], c.options.bodyPreferences).get(ref.itemId) : undefined;
          fetched.push(found
            ? A('Fetch', A('ServerId', serverId!), A('Status', SyncStatus.Success), found.data)
            : A('Fetch', A('ServerId', serverId ?? ''), A('Status', SyncStatus.NotFound)));
          break;
        }
        const item = mine ? backend.emails(principal, [ref.itemId]).get(ref.itemId) : undefined;
        if (!item) { fetched.push(A('Fetch', A('ServerId', serverId ?? ''), A('Status', SyncStatus.NotFound))); break; }
        fetched.push(A('Fetch', A('ServerId', serverId!), A('Status', SyncStatus.Success),
          A('ApplicationData', renderEmail({ item, options: c.options, version, raw: () => backend.rawMessage(principal, item.id) }), markersFor([item.id])(item.id))));
        break;
      }
      case 'AirSync:Add': {
        const clientId = childText(cmd, 'AirSync:ClientId');
        const r: ItemResult = pim && clientId !== undefined && clientId !== '' && clientId.length <= MAX_CLIENT_ID
          ? applyPimAdd(ctx, c.folderId, pim, cmd, clientId)
          : await applyAdd(ctx, c, cmd, clientId);
        if (r.reason !== undefined) reasons.push(`Add ${(clientId ?? '').slice(0, MAX_CLIENT_ID)}: ${r.reason}`);
        responses.push(A('Add', A('ClientId', (clientId ?? '').slice(0, MAX_CLIENT_ID)),
          r.itemId !== undefined && A('ServerId', itemServerId(c.folderId, r.itemId)), A('Status', r.status), r.data));
        if (r.itemId !== undefined && r.modseq !== undefined) update.set.push({ id: r.itemId, modseq: r.modseq });
        break;
      }
      default:
        responses.push(A('Status', SyncStatus.ProtocolError));
    }
  }
  responses.push(...fetched);

  const serverCommands: WbxmlElement[] = [];
  let more = false;
  if (c.getChanges) {
    // What the client itself changed or deleted in this request is not sent back to it.
    const ownChanges = new Set([...update.set.map((s) => s.id), ...update.remove]);
    const diff = backend.diffFolder(principal, c.folderId, from, since, c.windowSize + ownChanges.size);
    more = diff.more;
    diff.deletes = diff.deletes.filter((id) => !ownChanges.has(id));
    diff.changes = diff.changes.filter((ch) => !ownChanges.has(ch.id));
    diff.adds = diff.adds.filter((a) => !ownChanges.has(a.id));
    for (const id of diff.deletes) {
      serverCommands.push(A('Delete', A('ServerId', itemServerId(c.folderId, id))));
      update.remove.push(id);
    }
    for (const id of diff.softDeletes) {
      serverCommands.push(A('SoftDelete', A('ServerId', itemServerId(c.folderId, id))));
      update.remove.push(id);
    }
    if (pim) {
      // A PIM item goes out whole, for a Change too: devices replace the item they hold.
      const found = pimItemsForDevice(ctx, [...diff.changes, ...diff.adds].map((d) => d.id), c.options.bodyPreferences);
      for (const [verb, list] of [['Change', diff.changes], ['Add', diff.adds]] as const) {
        for (const d of list) {
          const item = found.get(d.id);
          if (!item) continue;
          serverCommands.push(A(verb, A('ServerId', itemServerId(c.folderId, d.id)), item.data));
          update.set.push({ id: d.id, modseq: item.modseq });
        }
      }
    } else {
      const items = backend.emails(principal, [...diff.changes, ...diff.adds].map((d) => d.id));
      const markers = markersFor([...items.keys()]);
      for (const ch of diff.changes) {
        const item = items.get(ch.id);
        if (!item) continue;
        const changed = draftsView
          ? [...renderEmail({ item, options: c.options, version, raw: () => backend.rawMessage(principal, item.id) }), ...markers(item.id)]
          : renderEmailChange(item, version);
        serverCommands.push(A('Change', A('ServerId', itemServerId(c.folderId, ch.id)), A('ApplicationData', changed)));
        update.set.push({ id: ch.id, modseq: item.modseq });
      }
      for (const add of diff.adds) {
        const item = items.get(add.id);
        if (!item) continue;
        serverCommands.push(A('Add', A('ServerId', itemServerId(c.folderId, add.id)),
          A('ApplicationData', renderEmail({ item, options: c.options, version, raw: () => backend.rawMessage(principal, item.id) }), markers(item.id))));
        update.set.push({ id: add.id, modseq: item.modseq });
      }
    }
  }
  const changedView = update.set.length > 0 || update.remove.length > 0;
  // Nothing to tell and nothing changed: the key stays, so an idle device does not churn saved views.
  const next: SyncState = changedView || responses.length > 0 ? backend.deriveView(device, scope, from, update) : from;
  return A('Collection',
    head(SyncStatus.Success, next.key),
    responses.length > 0 && A('Responses', responses),
    more && A('MoreAvailable'),
    serverCommands.length > 0 && A('Commands', serverCommands),
  );
}

/** What a busy answer (111 / HTTP 503) tells the client to wait before it tries again. */
const RETRY_AFTER_SECONDS = 5;

const lockKey = (ctx: CommandContext, folderId: number): string => `${ctx.device.pk}:${folderId}`;

/**
 * Runs `work` while no other request of this device works on these collections. Between reading the
 * view a SyncKey names and saving its successor a Sync may wait (a draft being stored or sent); a
 * second Sync of the collection in that gap would save a view the first then overwrites, so one of
 * the two answers would name a view holding other items than it told the device. Exchange, too,
 * works on one request per device and collection at a time.
 */
async function exclusively<T>(ctx: CommandContext, folderIds: ReadonlySet<number>, work: () => Promise<T>): Promise<T> {
  const release = await ctx.cache.syncLocks.acquireAll([...folderIds].map((id) => lockKey(ctx, id)), ctx.signal);
  if (!release) {
    throw new CommandFailure(111, 'another Sync of this device is still working on the same collection: retry later',
      { 'Retry-After': String(RETRY_AFTER_SECONDS) });
  }
  try {
    return await work();
  } finally {
    release();
  }
}

function globalFailure(status: number, limit?: number): CommandResult {
  return { kind: 'wbxml', body: A('Sync', A('Status', status), limit !== undefined && A('Limit', limit)) };
}

export async function sync(ctx: CommandContext): Promise<CommandResult> {
  let request = ctx.request;
  if (!request) {
    // An empty Sync repeats the device's last full request (12.1+).
    request = ctx.cache.lastSync.get(ctx.device.pk);
    if (!request || ctx.version < V121) return globalFailure(SyncStatus.IncompleteRequest);
  }
  const collectionsEl = child(request, 'AirSync:Collections');
  const wait = childText(request, 'AirSync:Wait');
  const heartbeat = childText(request, 'AirSync:HeartbeatInterval');
  if (wait !== undefined && heartbeat !== undefined) return globalFailure(SyncStatus.ProtocolError);
  let holdSeconds: number | undefined;
  if (heartbeat !== undefined) {
    const hb = Number(heartbeat);
    if (!Number.isInteger(hb)) return globalFailure(SyncStatus.ProtocolError);
    if (hb < HEARTBEAT_MIN) return globalFailure(SyncStatus.InvalidWait, HEARTBEAT_MIN);
    if (hb > HEARTBEAT_MAX) return globalFailure(SyncStatus.InvalidWait, HEARTBEAT_MAX);
    holdSeconds = hb;
  } else if (wait !== undefined) {
    const w = Number(wait);
    if (!Number.isInteger(w)) return globalFailure(SyncStatus.ProtocolError);
    if (w < 1) return globalFailure(SyncStatus.InvalidWait, 1);
    if (w > 59) return globalFailure(SyncStatus.InvalidWait, 59);
    holdSeconds = w * 60;
  }
  const globalWindowText = childText(request, 'AirSync:WindowSize');
  const globalWindow = globalWindowText === undefined ? undefined : Math.min(Math.max(Number(globalWindowText) || MAX_WINDOW, 1), MAX_WINDOW);
  const collectionEls = childrenOf(collectionsEl, 'AirSync:Collection');
  if (collectionEls.length === 0) return globalFailure(SyncStatus.IncompleteRequest);
  if (collectionEls.length > MAX_COLLECTIONS) return globalFailure(SyncStatus.TooManyCollections, MAX_COLLECTIONS);
  if (ctx.request) ctx.cache.lastSync.set(ctx.device.pk, ctx.request);

  const folderIds = new Set(collectionEls.map((el) => parseFolderId(childText(el, 'AirSync:CollectionId'))).filter((f): f is number => f !== undefined));
  // This request supersedes any Sync of these collections the device has held; a held request of its
  // own is registered before its first run, so a newer one can end it from the start.
  ctx.cache.held.end(ctx.device.pk, 'sync', folderIds);
  const held = holdSeconds === undefined ? undefined : ctx.cache.held.hold(ctx.device.pk, 'sync', folderIds, ctx.signal);

  // Why client Adds and Changes were refused, for the log and the X-EasMime-Reason header.
  const reasons: string[] = [];
  const run = async (): Promise<{ results: WbxmlElement[]; anything: boolean }> => {
    const results: WbxmlElement[] = [];
    let anything = false;
    let windowLeft = globalWindow ?? Infinity;
    for (const el of collectionEls) {
      let c: CollectionRequest;
      try {
        c = parseCollection(el, 100);
      } catch (e) {
        if (!(e instanceof CollectionFailure)) throw e;
        results.push(A('Collection', A('SyncKey', childText(el, 'AirSync:SyncKey') ?? '0'),
          A('CollectionId', childText(el, 'AirSync:CollectionId') ?? ''), A('Status', e.status)));
        anything = true;
        continue;
      }
      c.windowSize = Math.max(1, Math.min(c.windowSize, windowLeft));
      const result = await syncCollection(ctx, c, reasons);
      const commandCount = child(result, 'AirSync:Commands')?.children.length ?? 0;
      windowLeft -= commandCount;
      const key = childText(result, 'AirSync:SyncKey');
      if (key !== c.syncKey || child(result, 'AirSync:Responses') || childText(result, 'AirSync:Status') !== '1') anything = true;
      results.push(result);
    }
    return { results, anything };
  };

  try {
    let outcome = await exclusively(ctx, folderIds, run);
    if (held && !outcome.anything) {
      if (held.signal.aborted) return { kind: 'empty' };
      const changed = await ctx.backend.waitForChanges(ctx.principal, [...folderIds], holdSeconds! * 1000 - 5000, held.signal);
      // Ended by a newer Sync of the same collections: that one answers for them now.
      if (!changed || held.signal.aborted) return { kind: 'empty' };
      const again = await exclusively(ctx, folderIds, async () => (held.signal.aborted ? undefined : run()));
      if (!again || !again.anything) return { kind: 'empty' };
      outcome = again;
    }
    return answer(ctx, outcome, reasons);
  } finally {
    held?.release();
  }
}

function answer(ctx: CommandContext, outcome: { results: WbxmlElement[]; anything: boolean }, reasons: string[]): CommandResult {
  if (ctx.version >= V121 && !outcome.anything && ctx.request === undefined) return { kind: 'empty' };
  if (reasons.length > 0) ctx.log({ level: 'warn', msg: 'sync items refused', reasons });
  return {
    kind: 'wbxml', body: A('Sync', A('Collections', outcome.results)),
    ...(reasons.length > 0 ? { headers: { 'X-EasMime-Reason': reasons.join('; ').replace(/[^\x20-\x7e]/g, '?').slice(0, 2000) } } : {}),
  };
}

