// ItemOperations (Fetch, EmptyFolderContents, Move; MS-ASCMD 2.2.1.10) and the 12.x GetAttachment
// (2.2.1.7). Every operation gets its own Status; the top-level Status is 1 unless the request as a
// whole is unusable.
import { child, childText, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { encodeWbxml } from '../wbxml/index.js';
import { ns } from '../wbxml/ns.js';
import { V140, V160 } from '../version.js';
import { OptionsError, readOptions, type ItemOptions } from '../email/options.js';
import { renderEmail } from '../email/render.js';
import { draftMarkersOf } from '../email/draft.js';
import { encodeMultipart, MULTIPART_TYPE } from '../http/multipart.js';
import { parseFileReference, parseLongId, type AttachmentContent, type AttachmentsOutcome } from '../ports/items.js';
import { parseFolderId, parseItemServerId } from './serverid.js';
import { pimItemsForDevice } from './sync-pim.js';
import { pimClassOfFolderType } from '../pim/items.js';
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

const IO = ns('ItemOperations');
const A = ns('AirSync');
const B = ns('AirSyncBase');
const S = ns('Search');
const DL = ns('DocumentLibrary');

export const ItemOperationsStatus = {
  Success: 1, ProtocolError: 2, ServerError: 3, BadDocumentUri: 4, DocumentAccessDenied: 5, NotFound: 6,
  BadRange: 8, UnknownStore: 9, DataTooLarge: 11, ConversionFailed: 14, BadAttachment: 15, AccessDenied: 16,
  MoveWithoutMoveAlways: 155, BadMoveDestination: 156,
} as const;
const St = ItemOperationsStatus;

/** Operations per request, and bytes of item and attachment data per response. */
export const MAX_OPERATIONS = 100;
export const MAX_RESPONSE_DATA = 64 * 1024 * 1024;
const MAX_CONVERSATION_ID = 64;

/** Collects the binary payloads of one response: inline base64 Data, or multipart parts. */
class Payloads {
  readonly parts: Buffer[] = [];
  private budget = MAX_RESPONSE_DATA;
  constructor(readonly multipart: boolean) {}

  fits(bytes: number): boolean {
    return bytes <= this.budget;
  }

  /** The element that carries these bytes: ItemOperations:Data (base64) or ItemOperations:Part. */
  data(bytes: Buffer): WbxmlElement {
    this.budget -= bytes.length;
    if (!this.multipart) return IO('Data', bytes.toString('base64'));
    this.parts.push(bytes);
    return IO('Part', this.parts.length);
  }

  /** A body's text moved into a part (multipart) or left inline. */
  bodyText(text: string): WbxmlElement {
    if (!this.multipart) {
      this.budget -= Buffer.byteLength(text, 'utf8');
      return B('Data', text);
    }
    return this.data(Buffer.from(text, 'utf8'));
  }
}

interface FetchContext {
  ctx: CommandContext;
  out: Payloads;
  /** Attachment lists by message id, so several references into one message parse it once. */
  parsed: Map<number, Promise<AttachmentsOutcome>>;
}

/** "m-n", zero-based and inclusive, m <= n. */
function parseRange(text: string): { first: number; last: number } | undefined {
  const m = /^\s*(\d{1,10})-(\d{1,10})\s*$/.exec(text);
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  return first <= last ? { first, last } : undefined;
}

function looksLikeDocumentUri(text: string): boolean {
  return /^https?:\/\/[^\s/]+\/\S*$/i.test(text) || /^\\\\[^\\\s]+\\\S+$/.test(text);
}

/**
 * The user's own attachment a FileReference names, or why there is none. A reference that is malformed,
 * names a message that does not exist, another user's message, or a position the message has no
 * attachment at are one and the same answer (ItemOperations 15, GetAttachment HTTP 500), so that
 * nothing tells whether another user's message exists.
 */
async function resolveAttachment(ctx: CommandContext, refText: string, parsed?: FetchContext['parsed']): Promise<AttachmentContent | 'invalid' | 'unreadable'> {
  const ref = parseFileReference(refText);
  if (!ref) return 'invalid';
  let pending = parsed?.get(ref.messageId);
  if (!pending) {
    pending = ctx.backend.items.attachments(ctx.principal, ref.messageId);
    parsed?.set(ref.messageId, pending);
  }
  const outcome = await pending;
  if (outcome.kind === 'not-found') return 'invalid';
  // Only the user's own message can be unreadable: the store answers not-found for anyone else's.
  if (outcome.kind === 'unreadable') return 'unreadable';
  return outcome.attachments.get(ref.index) ?? 'invalid';
}

async function fetchAttachment(fc: FetchContext, refText: string, options: WbxmlElement | undefined): Promise<WbxmlElement> {
  const echo = B('FileReference', refText);
  const fail = (status: number): WbxmlElement => IO('Fetch', IO('Status', status), echo);
  if (!parseFileReference(refText)) return fail(St.BadAttachment);
  const rangeText = childText(options, 'ItemOperations:Range');
  const range = rangeText === undefined ? undefined : parseRange(rangeText);
  if (rangeText !== undefined && !range) return fail(St.BadRange);

  const attachment = await resolveAttachment(fc.ctx, refText, fc.parsed);
  if (attachment === 'invalid') return fail(St.BadAttachment);
  if (attachment === 'unreadable') return fail(St.ConversionFailed);

  let bytes = attachment.bytes;
  let rangeOut: string | undefined;
  if (range) {
    // Best effort as MS-ASCMD asks: a range reaching past the end is cut to it; one starting past it is invalid.
    if (range.first >= bytes.length) return fail(St.BadRange);
    const last = Math.min(range.last, bytes.length - 1);
    rangeOut = `${range.first}-${last}`;
    bytes = bytes.subarray(range.first, last + 1);
  }
  if (!fc.out.fits(bytes.length)) return fail(St.DataTooLarge);
  return IO('Fetch', IO('Status', St.Success), echo, IO('Properties',
    B('ContentType', attachment.info.contentType),
    rangeOut !== undefined && [IO('Range', rangeOut), IO('Total', attachment.bytes.length)],
    fc.out.data(bytes)));
}

/** The email's properties, with the body's Data moved into a part for a multipart response. */
function emailProperties(fc: FetchContext, itemId: number, options: ItemOptions): WbxmlElement[] | number {
  const { backend, principal, version } = fc.ctx;
  const item = backend.emails(principal, [itemId]).get(itemId);
  if (!item) return St.NotFound;
  let rendered: WbxmlElement[];
  try {
    rendered = renderEmail({ item, options, version, raw: () => backend.rawMessage(principal, item.id) });
  } catch (e) {
    fc.ctx.log({ level: 'warn', msg: 'ItemOperations: email could not be rendered', itemId, error: e instanceof Error ? e.message : String(e) });
    return St.ConversionFailed;
  }
  const isDraft = version >= V160 && item.folderId === backend.drafts.draftsFolder(principal);
  rendered.push(...draftMarkersOf(version, [{ id: item.id, isDraft }], (ids) => backend.drafts.bcc(principal, ids))(item.id));
  const body = rendered.find((e) => e.tag === 'AirSyncBase:Body');
  const dataIndex = body?.children.findIndex((c) => c.tag === 'AirSyncBase:Data') ?? -1;
  if (body && dataIndex >= 0) {
    const text = body.children[dataIndex]!.text ?? '';
    if (!fc.out.fits(Buffer.byteLength(text, 'utf8'))) return St.DataTooLarge;
    // A part carries bytes, so a whole MIME body goes out exactly as stored, whatever its charset.
    const wholeMime = fc.out.multipart && childText(body, 'AirSyncBase:Type') === '4' && childText(body, 'AirSyncBase:Truncated') !== '1';
    const raw = wholeMime ? backend.rawMessage(principal, item.id) : undefined;
    body.children[dataIndex] = raw ? fc.out.data(raw) : fc.out.bodyText(text);
  }
  return rendered;
}

async function fetchOperation(fc: FetchContext, el: WbxmlElement): Promise<WbxmlElement> {
  const { backend, principal } = fc.ctx;
  const store = childText(el, 'ItemOperations:Store');
  const serverId = childText(el, 'AirSync:ServerId');
  const collectionId = childText(el, 'AirSync:CollectionId');
  const fileRef = childText(el, 'AirSyncBase:FileReference');
  const longId = childText(el, 'Search:LongId');
  const linkId = childText(el, 'DocumentLibrary:LinkId');
  const optionsEl = child(el, 'ItemOperations:Options');
  const ids: Content[] = [
    collectionId !== undefined && A('CollectionId', collectionId), serverId !== undefined && A('ServerId', serverId),
    longId !== undefined && S('LongId', longId), linkId !== undefined && DL('LinkId', linkId),
  ];
  const fail = (status: number): WbxmlElement => IO('Fetch', IO('Status', status), ids, fileRef !== undefined && B('FileReference', fileRef));
  if (store === undefined) return fail(St.ProtocolError);
  const targets = [serverId, fileRef, longId, linkId].filter((t) => t !== undefined).length;
  if (targets !== 1) return fail(St.ProtocolError);

  const storeName = store.trim().toLowerCase();
  if (storeName === 'documentlibrary') {
    if (linkId === undefined) return fail(St.ProtocolError);
    // No document library is shared through this server: a well-formed link is refused, not looked up.
    return fail(looksLikeDocumentUri(linkId) ? St.DocumentAccessDenied : St.BadDocumentUri);
  }
  if (storeName !== 'mailbox') return fail(St.UnknownStore);
  if (linkId !== undefined) return fail(St.ProtocolError);
  if (fileRef !== undefined) {
    if (collectionId !== undefined) return fail(St.ProtocolError);
    return fetchAttachment(fc, fileRef, optionsEl);
  }

  let options: ItemOptions;
  try {
    options = readOptions(optionsEl);
  } catch (e) {
    if (e instanceof OptionsError) return fail(St.ProtocolError);
    throw e;
  }
  let itemId: number;
  if (serverId !== undefined) {
    if (collectionId === undefined) return fail(St.ProtocolError);
    const folderId = parseFolderId(collectionId);
    const ref = parseItemServerId(serverId);
    if (folderId === undefined || !ref || ref.folderId !== folderId) return fail(St.NotFound);
    if (backend.folderOfMessage(principal, ref.itemId) !== folderId) return fail(St.NotFound);
    itemId = ref.itemId;
  } else {
    if (collectionId !== undefined) return fail(St.ProtocolError);
    const ref = parseLongId(longId);
    if (!ref || backend.folderOfMessage(principal, ref.messageId) === undefined) return fail(St.NotFound);
    itemId = ref.messageId;
  }
  const folderType = backend.folderType(principal, backend.folderOfMessage(principal, itemId) ?? -1);
  const pim = folderType === undefined ? undefined : pimClassOfFolderType(folderType);
  if (pim) {
    const item = pimItemsForDevice(fc.ctx, [itemId], options.bodyPreferences).get(itemId);
    if (!item) return fail(St.NotFound);
    return IO('Fetch', IO('Status', St.Success), ids, A('Class', pim), IO('Properties', item.data.children));
  }
  const props = emailProperties(fc, itemId, options);
  if (typeof props === 'number') return fail(props);
  return IO('Fetch', IO('Status', St.Success), ids, A('Class', 'Email'), IO('Properties', props));
}

function emptyFolderOperation(ctx: CommandContext, el: WbxmlElement): WbxmlElement {
  const collectionId = childText(el, 'AirSync:CollectionId');
  const reply = (status: number): WbxmlElement => IO('EmptyFolderContents', IO('Status', status), collectionId !== undefined && A('CollectionId', collectionId));
  if (collectionId === undefined) return reply(St.ProtocolError);
  const folderId = parseFolderId(collectionId);
  if (folderId === undefined) return reply(St.NotFound);
  const flag = child(child(el, 'ItemOperations:Options'), 'ItemOperations:DeleteSubFolders');
  const deleteSubfolders = flag !== undefined && (flag.text ?? '').trim() !== '0';
  const outcome = ctx.backend.items.emptyFolder(ctx.principal, folderId, deleteSubfolders);
  switch (outcome.kind) {
    case 'emptied': return reply(St.Success);
    case 'not-found': return reply(St.NotFound);
    case 'not-mail': return reply(St.AccessDenied);
  }
}

function moveOperation(ctx: CommandContext, el: WbxmlElement): WbxmlElement {
  const convEl = child(el, 'ItemOperations:ConversationId');
  const conversationId = convEl?.opaque ?? (convEl?.text !== undefined ? Buffer.from(convEl.text, 'utf8') : undefined);
  const reply = (status: number): WbxmlElement => IO('Move', IO('Status', status), conversationId !== undefined && IO('ConversationId', conversationId));
  // Move arrived with 14.0; an older client cannot be asking for it.
  if (ctx.version < V140) return reply(St.ProtocolError);
  const dst = childText(el, 'ItemOperations:DstFldId');
  if (!conversationId || conversationId.length === 0 || conversationId.length > MAX_CONVERSATION_ID || dst === undefined) return reply(St.ProtocolError);
  const flag = child(child(el, 'ItemOperations:Options'), 'ItemOperations:MoveAlways');
  if (flag === undefined || (flag.text ?? '').trim() === '0') return reply(St.MoveWithoutMoveAlways);
  const folderId = parseFolderId(dst);
  if (folderId === undefined) return reply(St.BadMoveDestination);
  const outcome = ctx.backend.items.moveConversation(ctx.principal, conversationId, folderId, true);
  switch (outcome.kind) {
    case 'moved': return reply(St.Success);
    case 'not-found': return reply(St.NotFound);
    case 'bad-destination': return reply(St.BadMoveDestination);
  }
}

function wantsMultipart(ctx: CommandContext): boolean {
  return (ctx.headers['ms-asacceptmultipart'] ?? '').trim().toUpperCase() === 'T' || ctx.query.params.AcceptMultiPart === 'T';
}

export async function itemOperations(ctx: CommandContext): Promise<CommandResult> {
  const out = new Payloads(wantsMultipart(ctx));
  const respond = (doc: WbxmlElement, reason?: string): CommandResult => {
    const headers = reason ? { 'X-EasMime-Reason': reason } : undefined;
    if (!out.multipart) return { kind: 'wbxml', body: doc, headers };
    return { kind: 'http', status: 200, body: encodeMultipart([encodeWbxml(doc), ...out.parts]), headers: { 'Content-Type': MULTIPART_TYPE, ...headers } };
  };
  const operations = ctx.request?.children ?? [];
  const protocolError = (reason: string): CommandResult => respond(IO('ItemOperations', IO('Status', St.ProtocolError)), reason);
  if (operations.length === 0) return protocolError('ItemOperations names no Fetch, EmptyFolderContents or Move');
  if (operations.length > MAX_OPERATIONS) return protocolError(`ItemOperations carries more than ${MAX_OPERATIONS} operations`);
  const unknown = operations.find((op) => !['ItemOperations:Fetch', 'ItemOperations:EmptyFolderContents', 'ItemOperations:Move'].includes(op.tag));
  if (unknown) return protocolError(`${unknown.tag} is not an ItemOperations operation`);

  const fc: FetchContext = { ctx, out, parsed: new Map() };
  const results: WbxmlElement[] = [];
  try {
    for (const op of operations) {
      if (op.tag === 'ItemOperations:Fetch') results.push(await fetchOperation(fc, op));
      else if (op.tag === 'ItemOperations:EmptyFolderContents') results.push(emptyFolderOperation(ctx, op));
      else results.push(moveOperation(ctx, op));
    }
  } catch (e) {
    // ItemOperations has its own global server-error status; the operations done so far stay done.
    ctx.log({ level: 'error', msg: 'ItemOperations failed', error: e instanceof Error ? e.stack : String(e) });
    out.parts.length = 0;
    return respond(IO('ItemOperations', IO('Status', St.ServerError)), 'internal server error');
  }
  return respond(IO('ItemOperations', IO('Status', St.Success), IO('Response', results)));
}

/** A media type safe to put in a header; anything else is served as octet-stream. */
function headerContentType(type: string): string {
  return /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/i.test(type) ? type : 'application/octet-stream';
}

/**
 * GetAttachment (2.5 to 12.1): the attachment's bytes as the body, with its own Content-Type. A name
 * that is no FileReference at all is HTTP 400. A well-formed one that names no attachment of the
 * user's (its message deleted, never there, or another user's) is HTTP 500, with one
 * reason for all of them: MS-ASCMD 2.2.1.7 gives 500 for an attachment deleted on the server, and
 * Exchange cannot tell another mailbox's reference from a deleted one either.
 */
export async function getAttachment(ctx: CommandContext): Promise<CommandResult> {
  const name = ctx.query.params.AttachmentName;
  if (name === undefined || name.trim() === '') throw new CommandFailure(103, 'the AttachmentName parameter is missing');
  if (!parseFileReference(name)) throw new CommandFailure(106, `AttachmentName ${JSON.stringify(name.slice(0, 60))} is not an attachment name of this server`);
  const attachment = await resolveAttachment(ctx, name);
  if (attachment === 'invalid') throw new CommandFailure(150, 'no such attachment in this mailbox (deleted, or never here)');
  if (attachment === 'unreadable') throw new CommandFailure(110, 'the message could not be read');
  return { kind: 'http', status: 200, body: attachment.bytes, headers: { 'Content-Type': headerContentType(attachment.info.contentType) } };
}
