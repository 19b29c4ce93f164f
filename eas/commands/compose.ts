// SendMail, SmartReply and SmartForward (MS-ASCMD 2.2.1.17, 2.2.1.19, 2.2.1.20): mail submitted by a
// device. 14.0+ sends a ComposeMail WBXML document with the MIME inside; 2.5 and 12.x send the MIME
// itself (message/rfc822) with SaveInSent, ItemId, CollectionId, LongId and Occurrence in the query.
// Success is an empty 200 in every version. A failure is the command's own element with a Status
// (14.0+) or an HTTP code (older), and the reason in X-EasMime-Reason.
import type { WbxmlElement } from '../wbxml/tree.js';
import { child } from '../wbxml/tree.js';
import { V140, V141, V160 } from '../version.js';
import type { SourceItem, SubmissionCommand, SubmitFailure, SubmitRequest } from '../ports/submission.js';
import { parseLongId } from '../ports/items.js';
import { parseFolderId, parseItemServerId } from './serverid.js';
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

export const ComposeStatus = {
  InvalidContent: 101, InvalidXml: 103, InvalidDateTime: 104, InvalidCombinationOfIds: 105, InvalidMime: 107,
  ServerError: 110, RecipientUnresolved: 116, PreviouslySent: 118, NoRecipient: 119, SubmissionFailed: 120,
  TooLarge: 122, NoRecurrence: 146, ItemNotFound: 150, InvalidAccountId: 166, IrmDisabled: 168,
  InvalidMimeBodyCombination: 178, InvalidSmartForwardParameters: 179,
} as const;

/** Each failure's 14.0+ Status and the HTTP code 2.5/12.x get instead (400 bad input, 500 not sent, 413 too large). */
const FAILURE_STATUS: Readonly<Record<SubmitFailure, [status: number, http: number]>> = {
  'duplicate-client-id': [ComposeStatus.PreviouslySent, 500],
  'no-recipients': [ComposeStatus.NoRecipient, 500],
  'source-not-found': [ComposeStatus.ItemNotFound, 500],
  'too-large': [ComposeStatus.TooLarge, 413],
  'invalid-mime': [ComposeStatus.InvalidMime, 400],
  'recipient-unresolved': [ComposeStatus.RecipientUnresolved, 500],
  refused: [ComposeStatus.RecipientUnresolved, 500],
  'too-many-recipients': [ComposeStatus.SubmissionFailed, 500],
  'submission-failed': [ComposeStatus.SubmissionFailed, 500],
};

/** HTTP codes for the request-reading statuses when the client speaks 2.5/12.x. */
const LEGACY_HTTP: Readonly<Record<number, number>> = {
  [ComposeStatus.InvalidContent]: 400, [ComposeStatus.InvalidXml]: 400, [ComposeStatus.InvalidDateTime]: 400,
  [ComposeStatus.InvalidCombinationOfIds]: 400, [ComposeStatus.InvalidMime]: 400, [ComposeStatus.NoRecurrence]: 500,
  [ComposeStatus.ItemNotFound]: 500,
};

export const MAX_CLIENT_ID_LENGTH = 40;

/** A request that cannot be sent as it is, with its 14.0+ Status. */
class Refusal {
  constructor(readonly status: number, readonly reason: string) {}
}

export function sendMail(ctx: CommandContext): Promise<CommandResult> {
  return submit(ctx, 'SendMail');
}

export function smartReply(ctx: CommandContext): Promise<CommandResult> {
  return submit(ctx, 'SmartReply');
}

export function smartForward(ctx: CommandContext): Promise<CommandResult> {
  return submit(ctx, 'SmartForward');
}

async function submit(ctx: CommandContext, command: SubmissionCommand): Promise<CommandResult> {
  const request = ctx.version >= V140 ? readComposeMail(ctx, command) : readLegacy(ctx, command);
  if (request instanceof Refusal) return fail(ctx, command, request.status, LEGACY_HTTP[request.status] ?? 400, request.reason);
  const outcome = await ctx.backend.submission.submit(ctx.principal, request);
  if (outcome.kind === 'sent') return { kind: 'empty' };
  const [status, http] = FAILURE_STATUS[outcome.failure];
  return fail(ctx, command, status, http, outcome.reason);
}

function fail(ctx: CommandContext, command: SubmissionCommand, status: number, http: number, reason: string): CommandResult {
  // 14.0+: the handler answers with <command><Status/></command> in the ComposeMail namespace.
  if (ctx.version >= V140) throw new CommandFailure(status, reason);
  ctx.log({ level: 'warn', msg: 'eas failure', command, status: http, reason });
  return { kind: 'http', status: http, headers: { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } };
}

// ---- 14.0 and later: the ComposeMail document --------------------------------------------------

const ALLOWED: Readonly<Record<SubmissionCommand, ReadonlySet<string>>> = {
  SendMail: new Set(['ClientId', 'AccountId', 'SaveInSentItems', 'Mime', 'RightsManagement:TemplateID']),
  SmartReply: new Set(['ClientId', 'Source', 'AccountId', 'SaveInSentItems', 'ReplaceMime', 'Mime', 'RightsManagement:TemplateID']),
  SmartForward: new Set(['ClientId', 'Source', 'AccountId', 'SaveInSentItems', 'ReplaceMime', 'Mime', 'RightsManagement:TemplateID',
    'AirSyncBase:Body', 'Forwardees']),
};

function localName(tag: string): string {
  return tag.startsWith('ComposeMail:') ? tag.slice('ComposeMail:'.length) : tag;
}

function readComposeMail(ctx: CommandContext, command: SubmissionCommand): SubmitRequest | Refusal {
  const root = ctx.request;
  if (!root) return new Refusal(ComposeStatus.InvalidContent, `${command} has no body`);
  const seen = new Map<string, WbxmlElement>();
  for (const c of root.children) {
    const name = localName(c.tag);
    if (!ALLOWED[command].has(name)) return new Refusal(ComposeStatus.InvalidXml, `${c.tag} does not belong in ${command}`);
    if (seen.has(name)) return new Refusal(ComposeStatus.InvalidXml, `${c.tag} appears more than once`);
    seen.set(name, c);
  }
  const calendarForward = seen.has('Forwardees') || seen.has('AirSyncBase:Body');
  if (calendarForward) {
    if (ctx.version < V160) return new Refusal(ComposeStatus.InvalidXml, 'Forwardees and Body exist from protocol version 16.0');
    if (['Mime', 'SaveInSentItems', 'ReplaceMime', 'RightsManagement:TemplateID'].some((n) => seen.has(n))) {
      return new Refusal(ComposeStatus.InvalidMimeBodyCombination, 'Forwardees or Body cannot be combined with Mime, SaveInSentItems, ReplaceMime or TemplateID');
    }
  }
  const clientId = text(seen.get('ClientId'));
  if (clientId === undefined || clientId.length === 0) return new Refusal(ComposeStatus.InvalidXml, `${command} needs a ClientId`);
  if (clientId.length > MAX_CLIENT_ID_LENGTH) return new Refusal(ComposeStatus.InvalidXml, `the ClientId is longer than ${MAX_CLIENT_ID_LENGTH} characters`);
  if (seen.has('AccountId')) {
    if (ctx.version < V141) return new Refusal(ComposeStatus.InvalidXml, 'AccountId exists from protocol version 14.1');
    // Settings announces no other accounts, so there is none a message could be sent from.
    return new Refusal(ComposeStatus.InvalidAccountId, 'this mailbox has no account besides the primary one: send without AccountId');
  }
  if (seen.has('RightsManagement:TemplateID')) return new Refusal(ComposeStatus.IrmDisabled, 'Information Rights Management is not available on this server');

  let source: SourceItem | undefined;
  if (command !== 'SendMail') {
    const s = seen.get('Source');
    if (!s) return new Refusal(ComposeStatus.InvalidXml, `${command} needs a Source`);
    const found = readSource(s);
    if (found instanceof Refusal) return found;
    source = found;
  }
  if (calendarForward) {
    return new Refusal(ComposeStatus.InvalidSmartForwardParameters, 'Forwardees and Body forward calendar items; this mailbox holds only mail, forward it with Mime');
  }
  const mimeEl = seen.get('Mime');
  if (!mimeEl) return new Refusal(ComposeStatus.InvalidXml, `${command} needs Mime`);
  const mime = mimeEl.opaque ?? Buffer.from(mimeEl.text ?? '', 'utf8');
  if (mime.length === 0) return new Refusal(ComposeStatus.InvalidMime, 'the Mime element is empty');
  return {
    command, mime, clientId, saveInSent: seen.has('SaveInSentItems'), replaceMime: seen.has('ReplaceMime'), ...(source ? { source } : {}),
  };
}

function readSource(s: WbxmlElement): SourceItem | Refusal {
  const names = new Set<string>();
  for (const c of s.children) {
    const name = localName(c.tag);
    if (!['FolderId', 'ItemId', 'LongId', 'InstanceId'].includes(name)) return new Refusal(ComposeStatus.InvalidXml, `${c.tag} does not belong in Source`);
    if (names.has(name)) return new Refusal(ComposeStatus.InvalidXml, `Source names ${name} more than once`);
    names.add(name);
  }
  const found = sourceFrom({
    folderId: text(child(s, 'ComposeMail:FolderId')), itemId: text(child(s, 'ComposeMail:ItemId')),
    longId: text(child(s, 'ComposeMail:LongId')), instanceId: text(child(s, 'ComposeMail:InstanceId')),
  }, { folder: 'FolderId', item: 'ItemId', instance: 'InstanceId' });
  return found;
}

function text(el: WbxmlElement | undefined): string | undefined {
  if (!el) return undefined;
  return el.text ?? el.opaque?.toString('utf8') ?? '';
}

/** The source item from its ids, the same rules for the Source element and the 12.x query. */
function sourceFrom(ids: { folderId?: string; itemId?: string; longId?: string; instanceId?: string }, names: { folder: string; item: string; instance: string }): SourceItem | Refusal {
  if (ids.longId !== undefined && (ids.folderId !== undefined || ids.itemId !== undefined)) {
    return new Refusal(ComposeStatus.InvalidCombinationOfIds, `LongId cannot be combined with ${names.folder} or ${names.item}`);
  }
  let source: SourceItem;
  if (ids.longId !== undefined) {
    const ref = parseLongId(ids.longId);
    if (!ref) return new Refusal(ComposeStatus.ItemNotFound, `LongId ${ids.longId.slice(0, 60)} names no item of this server`);
    source = { itemId: ref.messageId };
  } else {
    if (ids.itemId === undefined) return new Refusal(ComposeStatus.InvalidCombinationOfIds, `the source needs ${names.item} or LongId`);
    const ref = parseItemServerId(ids.itemId);
    if (!ref) return new Refusal(ComposeStatus.ItemNotFound, `${names.item} ${ids.itemId.slice(0, 60)} names no item of this server`);
    if (ids.folderId !== undefined) {
      const folder = parseFolderId(ids.folderId);
      if (folder === undefined || folder !== ref.folderId) return new Refusal(ComposeStatus.ItemNotFound, `item ${ids.itemId.slice(0, 60)} is not in folder ${ids.folderId.slice(0, 20)}`);
    }
    source = { itemId: ref.itemId, folderId: ref.folderId };
  }
  if (ids.instanceId !== undefined) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(ids.instanceId.trim()) || Number.isNaN(Date.parse(ids.instanceId))) {
      return new Refusal(ComposeStatus.InvalidDateTime, `${names.instance} ${ids.instanceId.slice(0, 40)} is not a date and time`);
    }
    // Only mail is stored here, and a mail item has no occurrences.
    return new Refusal(ComposeStatus.NoRecurrence, `${names.instance} names an occurrence, but the source is not a recurring meeting`);
  }
  return source;
}

// ---- 2.5 and 12.x: MIME body, parameters in the query -----------------------------------------

function readLegacy(ctx: CommandContext, command: SubmissionCommand): SubmitRequest | Refusal {
  const p = ctx.query.params;
  const body = ctx.rawBody;
  if (body.length === 0) return new Refusal(ComposeStatus.InvalidContent, `${command} has no body: send the message as message/rfc822`);
  if (body.length >= 4 && body[0] === 0x03 && body[1] === 0x01 && body[2] === 0x6a) {
    return new Refusal(ComposeStatus.InvalidContent, `with protocol version ${ctx.version / 10} the ${command} body is the MIME message, not WBXML`);
  }
  const save = p.SaveInSent;
  if (save !== undefined && save !== 'T' && save !== 'F') return new Refusal(ComposeStatus.InvalidXml, `SaveInSent is ${save.slice(0, 10)}, expected T or F`);
  let source: SourceItem | undefined;
  if (command !== 'SendMail') {
    const found = sourceFrom({ folderId: p.CollectionId, itemId: p.ItemId, longId: p.LongId, instanceId: p.Occurrence },
      { folder: 'CollectionId', item: 'ItemId', instance: 'Occurrence' });
    if (found instanceof Refusal) return found;
    source = found;
  }
  // Clients of these versions send only what the user wrote: the server always adds the original.
  return { command, mime: body, saveInSent: save === 'T', replaceMime: false, ...(source ? { source } : {}) };
}
