// Sync's client Add and Change for contacts, calendar, tasks and notes folders, and the items it
// sends back (see eas/pim/items.ts for how items are kept).
import { child, childText, type WbxmlElement } from '../wbxml/tree.js';
import { decodePimData, encodePimData, MESSAGE_CLASS, PimDataError, pimClassOfMessageClass, type PimClass } from '../pim/items.js';
import { formsOf, pimDataForVersion } from '../pim/versions.js';
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
  const stored = ctx.backend.pim.add(ctx.principal, folderId, { messageClass: MESSAGE_CLASS[cls], ...item }, `${ctx.device.pk}:${clientId}`, writeOptions(ctx));
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
    const stored = pimItems(ctx, [itemId]).get(itemId);
    const ghosted = (stored?.data.children ?? []).filter((c) => !managed.has(c.tag) && !sent.has(c.tag));
    const kept = allGhosted ? data.children.filter((c) => !isEmpty(c)) : data.children;
    merged = { ...cmd, children: cmd.children.map((c) => (c === data ? { ...data, children: [...kept, ...ghosted] } : c)) };
  }
  const item = readItem(cls, merged, 'a Change');
  if ('status' in item) return item;
  const modseq = ctx.backend.pim.replace(ctx.principal, itemId, item, writeOptions(ctx));
  return modseq === undefined ? { status: Status.NotFound, reason: 'no such item' } : { status: Status.Success, itemId, modseq };
}

/** 16.x organizers leave meeting mail to the server (see PimWriteOptions). */
export function writeOptions(ctx: CommandContext): PimWriteOptions {
  return { meetingMail: ctx.version >= V160 };
}

function isEmpty(el: WbxmlElement): boolean {
  return el.children.length === 0 && (el.text === undefined || el.text === '') && el.opaque === undefined;
}

/** The items as this device's protocol version reads them (eas/pim/versions.ts), with their change stamps. */
export function pimItemsForDevice(ctx: CommandContext, ids: number[]): Map<number, { data: WbxmlElement; modseq: number }> {
  const out = new Map<number, { data: WbxmlElement; modseq: number }>();
  for (const [id, item] of ctx.backend.pim.items(ctx.principal, ids)) {
    const data = decodePimData(item.content);
    const cls = pimClassOfMessageClass(item.messageClass);
    out.set(id, { data: cls ? pimDataForVersion(cls, data, ctx.version) : data, modseq: item.modseq });
  }
  return out;
}

/** The stored items' ApplicationData by id, as kept, with their change stamps. */
export function pimItems(ctx: CommandContext, ids: number[]): Map<number, { data: WbxmlElement; modseq: number }> {
  const out = new Map<number, { data: WbxmlElement; modseq: number }>();
  for (const [id, item] of ctx.backend.pim.items(ctx.principal, ids)) out.set(id, { data: decodePimData(item.content), modseq: item.modseq });
  return out;
}
