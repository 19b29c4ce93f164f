// Sync's client Add and Change for contacts, calendar, tasks and notes folders, and the items it
// sends back (see eas/pim/items.ts for how items are kept).
import { child, childText, x, type WbxmlElement } from '../wbxml/tree.js';
import { decodePimData, encodePimData, exceptionOriginal, exceptionsElement, MESSAGE_CLASS, putException, parseEasDate, PimDataError, pimClassOfMessageClass, type PimClass } from '../pim/items.js';
import { formsOf, pimDataForVersion } from '../pim/versions.js';
import type { BodyPreference } from '../email/options.js';
import type { CommandContext } from './context.js';
import { V160 } from '../version.js';
import type { PimWriteOptions } from '../ports/pim.js';

const Status = { Success: 1, ProtocolError: 4, ConversionError: 6, NotFound: 8 } as const;

export interface PimResult {
  status: number;
  itemId?: number;
  modseq?: number;
  reason?: string;
}

/** A command's item, checked for the folder's class; a PimResult when it cannot be kept. */
function readItem(cls: PimClass, cmd: WbxmlElement, verb: string): ReturnType<typeof encodePimData> | PimResult {
  const className = childText(cmd, 'AirSync:Class');
  if (className !== undefined && className !== cls) return { status: Status.ConversionError, reason: `this folder holds ${cls}, not ${className.slice(0, 20)}` };
  const data = child(cmd, 'AirSync:ApplicationData');
  if (!data) return { status: Status.ProtocolError, reason: `${verb} needs ApplicationData` };
  try {
    return encodePimData(cls, data);
  } catch (e) {
    if (e instanceof PimDataError) return { status: Status.ConversionError, reason: e.message };
    throw e;
  }
}

export function applyPimAdd(ctx: CommandContext, folderId: number, cls: PimClass, cmd: WbxmlElement, clientId: string): PimResult {
  const item = readItem(cls, cmd, 'an Add');
  if ('status' in item) return item;
  const stored = ctx.backend.pim.add(ctx.principal, folderId, { messageClass: MESSAGE_CLASS[cls], ...item }, `${ctx.device.pk}:${clientId}`, writeOptions(ctx, cls));
  if (!stored) return { status: Status.ConversionError, reason: `the folder does not hold ${cls}` };
  return { status: Status.Success, itemId: stored.id, modseq: stored.modseq };
}

/**
 * A client Change replaces the item, but for the elements the device does not manage: when its first
 * Sync of the folder named a Supported list, every element not on it is "ghosted" (MS-ASCMD
 * 2.2.3.179) and kept from the stored item, so a phone that knows no Spouse field does not erase the
 * one another client set. From 16.0 every calendar element a Change leaves out is ghosted (MS-ASCAL
 * 3.1.5.3): such a device sends what changed, and an element it sends empty is cleared.
 */
export function applyPimChange(ctx: CommandContext, folderId: number, itemId: number, cls: PimClass, cmd: WbxmlElement): PimResult {
  const data = child(cmd, 'AirSync:ApplicationData');
  const allGhosted = cls === 'Calendar' && ctx.version >= V160;
  const supported = allGhosted ? [] : ctx.backend.pim.supported(ctx.principal, ctx.device.pk, folderId);
  let merged = cmd;
  if (supported !== undefined && data) {
    const managed = new Set(supported);
    // A location or body sent in one version's form replaces the stored one in another's.
    const sent = new Set(data.children.flatMap((c) => formsOf(c.tag)));
    // MS-ASCAL: a new pattern or a new start or end of a series deletes its exceptions.
    if (allGhosted && ['Calendar:Recurrence', 'Calendar:StartTime', 'Calendar:EndTime'].some((t) => sent.has(t))) sent.add('Calendar:Exceptions');
    const stored = pimItems(ctx, [itemId]).get(itemId);
    const ghosted = (stored?.data.children ?? []).filter((c) => !managed.has(c.tag) && !sent.has(c.tag));
    const kept = allGhosted ? data.children.filter((c) => !isEmpty(c)) : data.children;
    merged = { ...cmd, children: cmd.children.map((c) => (c === data ? { ...data, children: [...kept, ...ghosted] } : c)) };
  }
  const item = readItem(cls, merged, 'a Change');
  if ('status' in item) return item;
  const modseq = ctx.backend.pim.replace(ctx.principal, itemId, item, writeOptions(ctx, cls));
  return modseq === undefined ? { status: Status.NotFound, reason: 'no such item' } : { status: Status.Success, itemId, modseq };
}

/** What an Exception may hold of a calendar item (MS-ASCAL Exception). */
const EXCEPTION_TAGS: ReadonlySet<string> = new Set([
  'Calendar:Subject', 'Calendar:StartTime', 'Calendar:EndTime', 'AirSyncBase:Body', 'Calendar:Location', 'AirSyncBase:Location',
  'Calendar:Categories', 'Calendar:Sensitivity', 'Calendar:BusyStatus', 'Calendar:AllDayEvent', 'Calendar:Reminder', 'Calendar:DtStamp',
  'Calendar:MeetingStatus', 'Calendar:Attendees', 'Calendar:AppointmentReplyTime', 'Calendar:ResponseType',
  'Calendar:OnlineMeetingConfLink', 'Calendar:OnlineMeetingExternalLink',
]);

/**
 * A 16.x Change or Delete naming one occurrence of a series (AirSyncBase:InstanceId, its original
 * start): it becomes that occurrence's Exception, changed or deleted, and the series stays (KB 3205555:
 * without InstanceId the change is the series').
 */
export function applyOccurrenceChange(ctx: CommandContext, itemId: number, cls: PimClass, cmd: WbxmlElement, instanceText: string, deleted: boolean): PimResult {
  if (cls !== 'Calendar') return { status: Status.ProtocolError, reason: 'InstanceId names an occurrence of a calendar series' };
  const at = parseEasDate(instanceText);
  if (at === undefined) return { status: Status.ProtocolError, reason: 'InstanceId is not a date and time' };
  const stored = pimItems(ctx, [itemId]).get(itemId);
  if (!stored) return { status: Status.NotFound, reason: 'no such item' };
  const data = stored.data;
  if (!data.children.some((c) => c.tag === 'Calendar:Recurrence')) return { status: Status.ProtocolError, reason: 'InstanceId on an item that is not a series' };
  if (!ctx.backend.pim.hasOccurrence(ctx.principal, itemId, at)) return { status: Status.NotFound, reason: `the series has no occurrence at ${new Date(at).toISOString()}` };
  const list = exceptionsElement(data);
  const existing = list.children.find((e) => exceptionOriginal(e) === at);
  const named = existing?.children.filter((c) => c.tag === 'Calendar:ExceptionStartTime' || c.tag === 'AirSyncBase:InstanceId') ?? [x('AirSyncBase:InstanceId', new Date(at).toISOString())];
  let exception: WbxmlElement;
  if (deleted) {
    exception = x('Calendar:Exception', x('Calendar:Deleted', 1), named);
  } else {
    const sent = (child(cmd, 'AirSync:ApplicationData')?.children ?? []).filter((c) => EXCEPTION_TAGS.has(c.tag));
    const replaced = new Set(sent.flatMap((c) => formsOf(c.tag)));
    const kept = (existing?.children ?? named).filter((c) => !replaced.has(c.tag) && c.tag !== 'Calendar:Deleted');
    exception = x('Calendar:Exception', kept, sent.filter((c) => !isEmpty(c)));
  }
  putException(list, at, exception);
  let item;
  try {
    item = encodePimData('Calendar', data);
  } catch (e) {
    if (e instanceof PimDataError) return { status: Status.ConversionError, reason: e.message };
    throw e;
  }
  const modseq = ctx.backend.pim.replace(ctx.principal, itemId, item, { ...writeOptions(ctx, cls), occurrence: { instance: at, deleted } });
  return modseq === undefined ? { status: Status.NotFound, reason: 'no such item' } : { status: Status.Success, itemId, modseq };
}

/** 16.x organizers leave meeting mail to the server (see PimWriteOptions); only calendar items organize meetings. */
export function writeOptions(ctx: CommandContext, cls: PimClass): PimWriteOptions {
  return { meetingMail: cls === 'Calendar' && ctx.version >= V160 };
}

function isEmpty(el: WbxmlElement): boolean {
  return el.children.length === 0 && (el.text === undefined || el.text === '') && el.opaque === undefined;
}

/** The items as this device's protocol version reads them (eas/pim/versions.ts), with their change stamps. */
export function pimItemsForDevice(ctx: CommandContext, ids: number[], preferences: readonly BodyPreference[] = []): Map<number, { data: WbxmlElement; modseq: number }> {
  const out = new Map<number, { data: WbxmlElement; modseq: number }>();
  for (const [id, item] of ctx.backend.pim.items(ctx.principal, ids)) {
    const data = decodePimData(item.content);
    const cls = pimClassOfMessageClass(item.messageClass);
    out.set(id, { data: cls ? pimDataForVersion(cls, data, ctx.version, preferences) : data, modseq: item.modseq });
  }
  return out;
}

/** The stored items' ApplicationData by id, as kept, with their change stamps. */
function pimItems(ctx: CommandContext, ids: number[]): Map<number, { data: WbxmlElement; modseq: number }> {
  const out = new Map<number, { data: WbxmlElement; modseq: number }>();
  for (const [id, item] of ctx.backend.pim.items(ctx.principal, ids)) out.set(id, { data: decodePimData(item.content), modseq: item.modseq });
  return out;
}
