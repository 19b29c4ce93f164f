// Search (MS-ASCMD 2.2.1.16) in the Mailbox, GAL and DocumentLibrary stores, and Find (2.2.1.2, 16.1).
// The request is read into a MailCondition tree here; the SearchPort runs it over the user's own mail
// only, so no query can reach another user's messages.
//
// Protocol decisions (see also /tmp/docs-search-settings.md):
// - A Mailbox Query is exactly one And. Anything beside or instead of it (a second And, Or, or a bare
//   Class, CollectionId, FreeText, ConversationId, GreaterThan, LessThan, EqualTo) is Status 8, "too
//   complex", as Exchange answers it (MS-ASCMD R772, R923, R2032, R3105, R2086, R3143, R3220); so is And
//   or Or nested inside the And. An element that has no meaning in a mailbox query is Status 2.
// - Several Class elements in the And widen the search (any of the classes); several CollectionIds too.
// - One Search answers at most 100 results (MS-ASCMD's maximum for Mailbox and GAL); a Range asking for
//   more, or starting past the results there are (or past index 999 in a mailbox), is Status 12.
// - Several Store elements: the first is answered, as Exchange does (R4535); the others are ignored.
// - DocumentLibrary: no library is shared through this server; a malformed link is Status 4 (bad link)
//   and a well-formed one Status 5 (access denied), as ItemOperations answers the same links.
// - A store that fails under the search is Status 3 in both the Search and the Store status.
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V120, V140, V141 } from '../version.js';
import { OptionsError, readOptions, type ItemOptions } from '../email/options.js';
import { easDate, renderEmail } from '../email/render.js';
import { draftMarkersOf } from '../email/draft.js';
import { formatLongId } from '../ports/items.js';
import type { DirectoryEntry, EqualField, MailCondition, MailHit, MailSearchOutcome, TextField } from '../ports/search.js';
import { itemServerId, parseFolderId } from './serverid.js';
import { CommandFailure, type CommandContext, type CommandResult } from './context.js';

const SR = ns('Search');
const G = ns('GAL');
const A = ns('AirSync');
const FD = ns('Find');
const IO = ns('ItemOperations');
const E = ns('Email');
const E2 = ns('Email2');

export const SearchStatus = {
  Success: 1, InvalidRequest: 2, ServerError: 3, BadLink: 4, AccessDenied: 5, NotFound: 6, ConnectionFailed: 7,
  TooComplex: 8, TimedOut: 10, FolderSyncRequired: 11, EndOfRange: 12, AccessBlocked: 13, CredentialsRequired: 14,
} as const;

export const FindStatus = { Success: 1, InvalidRequest: 2, FolderSyncRequired: 3, RangeNotFromZero: 4 } as const;

/** Contact photo statuses (gal:Picture > Status). */
const NO_PHOTO = 173;

/** Results one Search hands out at most (MS-ASCMD Range(Search): Mailbox and GAL). */
export const MAX_RESULTS = 100;
/** Highest zero-based index of a mailbox result (Search) and of any Find result (Range(Find): n ≤ 999). */
export const MAX_INDEX = 999;
const DEFAULT_RANGE: Range = { start: 0, end: MAX_RESULTS - 1 };
export const MAX_QUERY_TEXT = 256;
const MAX_TERMS = 16;
const MAX_CONDITIONS = 32;
const MAX_SEARCH_ID = 64;
/** gal:Picture MaxSize may not ask for more than this (MS-ASCMD MaxSize(Search)). */
const MAX_PICTURE_SIZE = 102_400;
/** SearchIds remembered per device for Find's rule that a new search starts at 0. */
const FIND_SEARCHES_KEPT = 50;
const FIND_DEVICES_KEPT = 10_000;

const CLASSES: ReadonlySet<string> = new Set(['Email', 'SMS', 'Calendar', 'Contacts', 'Tasks', 'Notes']);
/** Classes that exist only from 14.0 (MS-ASCMD Class(Search)). */
const CLASSES_FROM_14: ReadonlySet<string> = new Set(['SMS', 'Notes']);

const EQUAL_FIELDS: Readonly<Record<string, EqualField>> = {
  'Email:Subject': 'subject', 'Email:From': 'from', 'Email:To': 'to', 'Email:Cc': 'cc', 'Email:DisplayTo': 'displayTo',
  'Email:ThreadTopic': 'threadTopic', 'Email:MessageClass': 'messageClass', 'Email:Read': 'read',
  'Email:Importance': 'importance', 'Email:DateReceived': 'dateReceived',
};

/** KQL property names Find's FreeText understands ("subject:report"). */
const KQL_FIELDS: Readonly<Record<string, TextField>> = {
  subject: 'subject', from: 'from', to: 'to', cc: 'cc', body: 'body', attachment: 'attachment', attachments: 'attachment',
};

const MAILBOX_OPTIONS: ReadonlySet<string> = new Set([
  'Search:Range', 'Search:DeepTraversal', 'Search:RebuildResults', 'AirSync:MIMESupport', 'AirSync:MIMETruncation',
  'AirSyncBase:BodyPreference', 'AirSyncBase:BodyPartPreference', 'RightsManagement:RightsManagementSupport',
]);
const GAL_OPTIONS: ReadonlySet<string> = new Set(['Search:Range', 'Search:Picture', 'Search:RebuildResults', 'Search:DeepTraversal']);

/** A store-level failure: the status for Store (Search) or for Find and its Response, and why. */
class StoreFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

function reasonHeader(reason: string | undefined): Record<string, string> | undefined {
  return reason ? { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } : undefined;
}

// ---- reading requests ----

interface Range { start: number; end: number }

/**
 * "m-n", zero-based, inclusive. Search refuses a range it cannot serve whole (Status 12); Find may
 * return fewer results than asked (MS-ASCMD Range(Find)) and only refuses what breaks 0 ≤ m ≤ n ≤ 999.
 */
function readRange(text: string | undefined, mode: { kind: 'search'; maxIndex: number } | { kind: 'find' }): Range {
  if (text === undefined) return { ...DEFAULT_RANGE };
  const invalid = mode.kind === 'search' ? SearchStatus.InvalidRequest : FindStatus.InvalidRequest;
  const m = /^(\d{1,7})-(\d{1,7})$/.exec(text.trim());
  if (!m) throw new StoreFailure(invalid, `Range ${text.slice(0, 20)} is not of the form m-n`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (start > end) throw new StoreFailure(invalid, 'Range starts after it ends');
  if (mode.kind === 'find') {
    if (end > MAX_INDEX) throw new StoreFailure(FindStatus.InvalidRequest, `a Find Range ends at ${MAX_INDEX} at most`);
    return { start, end: Math.min(end, start + MAX_RESULTS - 1) };
  }
  if (start > mode.maxIndex) throw new StoreFailure(SearchStatus.EndOfRange, `results past index ${mode.maxIndex} cannot be retrieved`);
  if (end - start + 1 > MAX_RESULTS) throw new StoreFailure(SearchStatus.EndOfRange, `a Search returns at most ${MAX_RESULTS} results at once`);
  return { start, end: Math.min(end, mode.maxIndex) };
}

/** A flag element: present and empty, or "1". */
function flag(el: WbxmlElement | undefined): boolean {
  if (!el) return false;
  const t = (el.text ?? '').trim();
  return t === '' || t === '1';
}

/** Text of a leaf element; an element with children where text belongs is a malformed request. */
function leafText(el: WbxmlElement, invalid: number): string {
  if (el.children.length > 0) throw new StoreFailure(invalid, `${el.tag} holds elements where text belongs`);
  return el.text ?? el.opaque?.toString('utf8') ?? '';
}

/**
 * Splits free text into lower-cased terms; "quoted phrases" stay one term. With `kql`, a leading
 * "property:" limits a term to that property, and the AND keyword is dropped (terms are ANDed anyway).
 */
function readTerms(text: string, kql: boolean, invalid: number, tooComplex: number): MailCondition {
  const t = text.trim();
  if (t === '') throw new StoreFailure(invalid, 'FreeText is empty');
  if (t.length > MAX_QUERY_TEXT) throw new StoreFailure(tooComplex, `FreeText is longer than ${MAX_QUERY_TEXT} characters`);
  const tokens: Array<{ field?: TextField; term: string }> = [];
  const re = /(?:([A-Za-z]+):)?(?:"([^"]*)"|(\S+))/g;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    let field: TextField | undefined;
    let term = m[2] ?? m[3] ?? '';
    if (m[1] !== undefined) {
      const f = kql ? KQL_FIELDS[m[1].toLowerCase()] : undefined;
      if (f) field = f;
      else term = `${m[1]}:${term}`;
    }
    if (kql && field === undefined && m[2] === undefined && term === 'AND') continue;
    term = term.trim().toLowerCase();
    if (term !== '') tokens.push({ field, term });
  }
  if (tokens.length === 0) throw new StoreFailure(invalid, 'FreeText holds no words');
  if (tokens.length > MAX_TERMS) throw new StoreFailure(tooComplex, `FreeText holds more than ${MAX_TERMS} words`);
  const conditions: MailCondition[] = tokens.map((x) => ({ kind: 'text', terms: [x.term], field: x.field }));
  return conditions.length === 1 ? conditions[0]! : { kind: 'and', all: conditions };
}

function readClass(text: string | undefined, version: number, invalid: number): string {
  const cls = (text ?? '').trim();
  if (!CLASSES.has(cls)) throw new StoreFailure(invalid, `Class ${cls.slice(0, 20)} is not a class of items`);
  if (version < V140 && CLASSES_FROM_14.has(cls)) throw new StoreFailure(invalid, `Class ${cls} exists from protocol 14.0`);
  return cls;
}

/** Only mail lives in this server's mailboxes: any of the classes matches mail when Email is among them. */
function classesCondition(classes: string[]): MailCondition | undefined {
  if (classes.length === 0) return undefined;
  return classes.includes('Email') ? { kind: 'all' } : { kind: 'none' };
}

const EAS_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function dateText(text: string): Date {
  const t = text.trim();
  const ms = EAS_DATE.test(t) ? Date.parse(t.length === 10 || /(Z|[+-]\d{2}:?\d{2})$/.test(t) ? t : `${t}Z`) : NaN;
  if (Number.isNaN(ms)) throw new StoreFailure(SearchStatus.InvalidRequest, `${t.slice(0, 30)} is not a date and time`);
  return new Date(ms);
}

/** GreaterThan / LessThan: email:DateReceived, then Value (the only property with an order here). */
function dateBound(el: WbxmlElement): MailCondition {
  const [prop, value] = el.children;
  if (el.children.length !== 2 || prop?.tag !== 'Email:DateReceived' || value?.tag !== 'Search:Value') {
    throw new StoreFailure(SearchStatus.InvalidRequest, `${el.tag} holds email:DateReceived and then Value`);
  }
  const at = dateText(leafText(value, SearchStatus.InvalidRequest));
  return el.tag === 'Search:GreaterThan' ? { kind: 'received', after: at } : { kind: 'received', before: at };
}

/** The Mailbox query: folders named in the And, and the condition on messages. */
interface MailQuery { folderIds?: number[]; where: MailCondition }

function readMailQuery(query: WbxmlElement, version: number): MailQuery {
  const invalid = SearchStatus.InvalidRequest;
  if (query.children.length === 0) throw new StoreFailure(invalid, 'a Mailbox Query holds an And');
  if (query.children.length !== 1 || query.children[0]!.tag !== 'Search:And') {
    throw new StoreFailure(SearchStatus.TooComplex, 'a Mailbox Query holds exactly one And and nothing beside it');
  }
  const and = query.children[0]!;
  if (and.children.length === 0) throw new StoreFailure(invalid, 'the And is empty');
  if (and.children.length > MAX_CONDITIONS) throw new StoreFailure(SearchStatus.TooComplex, `the And holds more than ${MAX_CONDITIONS} conditions`);

  const folderIds: number[] = [];
  const classes: string[] = [];
  const conditions: MailCondition[] = [];
  let conversations = 0;
  const folder = (text: string): void => {
    const id = parseFolderId(text);
    // An id this server never gave out names no folder the device can know: its hierarchy is stale.
    if (id === undefined) throw new StoreFailure(SearchStatus.FolderSyncRequired, `CollectionId ${text.slice(0, 20)} is not a folder`);
    if (!folderIds.includes(id)) folderIds.push(id);
  };

  for (const el of and.children) {
    switch (el.tag) {
      case 'AirSync:Class': classes.push(readClass(leafText(el, invalid), version, invalid)); break;
      case 'AirSync:CollectionId': folder(leafText(el, invalid)); break;
      case 'Search:FreeText': conditions.push(readTerms(leafText(el, invalid), false, invalid, SearchStatus.TooComplex)); break;
      case 'Search:GreaterThan':
      case 'Search:LessThan': conditions.push(dateBound(el)); break;
      case 'Search:ConversationId': {
        if (version < V140) throw new StoreFailure(invalid, 'ConversationId exists from protocol 14.0');
        // More than one is a protocol error, as Exchange answers it (MS-ASCMD R5815).
        if (++conversations > 1) throw new StoreFailure(invalid, 'the And holds more than one ConversationId');
        const id = el.opaque ?? Buffer.from(leafText(el, invalid), 'utf8');
        if (id.length === 0 || id.length > 64) throw new StoreFailure(invalid, 'ConversationId is empty or longer than 64 bytes');
        conditions.push({ kind: 'conversation', id });
        break;
      }
      case 'Search:EqualTo': {
        const [prop, value] = el.children;
        if (el.children.length !== 2 || !prop || value?.tag !== 'Search:Value') throw new StoreFailure(invalid, 'EqualTo holds a property and then Value');
        const text = leafText(value, invalid);
        if (text.length > MAX_QUERY_TEXT) throw new StoreFailure(SearchStatus.TooComplex, `the EqualTo value is longer than ${MAX_QUERY_TEXT} characters`);
        if (prop.tag === 'AirSync:Class') { classes.push(readClass(text, version, invalid)); break; }
        if (prop.tag === 'AirSync:CollectionId') { folder(text); break; }
        const field = EQUAL_FIELDS[prop.tag];
        if (!field) throw new StoreFailure(SearchStatus.TooComplex, `EqualTo cannot compare ${prop.tag}`);
        // Dates are compared as instants, so the value goes on in one unambiguous form.
        conditions.push({ kind: 'equals', field, value: field === 'dateReceived' ? dateText(text).toISOString() : text });
        break;
      }
      case 'Search:And':
      case 'Search:Or':
        throw new StoreFailure(SearchStatus.TooComplex, `${el.tag} inside the And is too complex`);
      default:
        throw new StoreFailure(invalid, `${el.tag} cannot appear in a Mailbox query`);
    }
  }
  const byClass = classesCondition(classes);
  if (byClass) conditions.push(byClass);
  const where: MailCondition = conditions.length === 0 ? { kind: 'all' } : conditions.length === 1 ? conditions[0]! : { kind: 'and', all: conditions };
  return { folderIds: folderIds.length > 0 ? folderIds : undefined, where };
}

function checkOptions(options: WbxmlElement | undefined, allowed: ReadonlySet<string>, store: string, invalid: number): void {
  const odd = options?.children.find((c) => !allowed.has(c.tag));
  if (odd) throw new StoreFailure(invalid, `${odd.tag} is not an option of a ${store} search`);
}

interface PictureOptions { maxSize?: number; maxPictures?: number }

function readPicture(el: WbxmlElement | undefined, prefix: 'Search' | 'Find', invalid: number): PictureOptions | undefined {
  if (!el) return undefined;
  const odd = el.children.find((c) => c.tag !== `${prefix}:MaxSize` && c.tag !== `${prefix}:MaxPictures`);
  if (odd) throw new StoreFailure(invalid, `${odd.tag} is not part of Picture`);
  const num = (tag: string, max: number): number | undefined => {
    const t = childText(el, tag);
    if (t === undefined) return undefined;
    if (!/^\d{1,9}$/.test(t.trim()) || Number(t) > max) throw new StoreFailure(invalid, `${tag} must be a number from 0 to ${max}`);
    return Number(t.trim());
  };
  return { maxSize: num(`${prefix}:MaxSize`, MAX_PICTURE_SIZE), maxPictures: num(`${prefix}:MaxPictures`, 9999) };
}

// ---- answers ----

function storeAnswer(status: number, reason: string | undefined, ...content: Content[]): CommandResult {
  const overall = status === SearchStatus.ServerError ? SearchStatus.ServerError : SearchStatus.Success;
  return {
    kind: 'wbxml',
    body: SR('Search', SR('Status', overall), SR('Response', SR('Store', SR('Status', status), ...content))),
    headers: reasonHeader(reason),
  };
}

function failedOutcome(outcome: Exclude<MailSearchOutcome, { kind: 'ok' }>, folderSync: number): StoreFailure {
  switch (outcome.kind) {
    case 'no-folder': return new StoreFailure(folderSync, `folder ${outcome.folderId} is not one of the user's folders: FolderSync`);
    case 'timed-out': return new StoreFailure(SearchStatus.TimedOut, `the search took longer than ${outcome.limitMs} ms`);
    case 'aborted': return new StoreFailure(SearchStatus.ServerError, 'the search was cancelled');
  }
}

/** Only the properties an entry has are sent (MS-ASCMD Properties(Search)); the directory holds no photos. */
function galProperties(e: DirectoryEntry, picture: boolean): Content[] {
  return [
    G('DisplayName', e.displayName),
    e.company !== undefined && e.company !== '' && G('Company', e.company),
    e.alias !== undefined && e.alias !== '' && G('Alias', e.alias),
    G('EmailAddress', e.emailAddress),
    picture && G('Picture', G('Status', NO_PHOTO)),
  ];
}

function galQueryText(text: string | undefined, invalid: number, tooComplex: number): string {
  const query = (text ?? '').trim();
  if (query === '') throw new StoreFailure(invalid, 'the GAL query is empty');
  if (query.length > MAX_QUERY_TEXT) throw new StoreFailure(tooComplex, `the GAL query is longer than ${MAX_QUERY_TEXT} characters`);
  return query;
}

function galSearch(ctx: CommandContext, store: WbxmlElement): CommandResult {
  const queryEl = child(store, 'Search:Query');
  if (!queryEl) throw new StoreFailure(SearchStatus.InvalidRequest, 'the GAL search has no Query');
  const query = galQueryText(leafText(queryEl, SearchStatus.InvalidRequest), SearchStatus.InvalidRequest, SearchStatus.TooComplex);
  const options = child(store, 'Search:Options');
  checkOptions(options, GAL_OPTIONS, 'GAL', SearchStatus.InvalidRequest);
  const range = readRange(childText(options, 'Search:Range'), { kind: 'search', maxIndex: Number.MAX_SAFE_INTEGER });
  const pictureEl = child(options, 'Search:Picture');
  if (pictureEl && ctx.version < V141) throw new StoreFailure(SearchStatus.InvalidRequest, 'Picture exists from protocol 14.1');
  const picture = readPicture(pictureEl, 'Search', SearchStatus.InvalidRequest);
  const page = ctx.backend.search.searchDirectory(ctx.principal, query, range.start, range.end);
  if (range.start > 0 && range.start >= page.total) {
    throw new StoreFailure(SearchStatus.EndOfRange, `the range starts past the ${page.total} matches`);
  }
  return storeAnswer(SearchStatus.Success, undefined,
    page.entries.length > 0 ? page.entries.map((e) => SR('Result', SR('Properties', galProperties(e, picture !== undefined)))) : SR('Result'),
    page.entries.length > 0 && SR('Range', `${range.start}-${range.start + page.entries.length - 1}`),
    SR('Total', page.total));
}

async function mailboxSearch(ctx: CommandContext, store: WbxmlElement): Promise<CommandResult> {
  if (ctx.version < V120) throw new StoreFailure(SearchStatus.InvalidRequest, 'protocol 2.5 searches only the GAL');
  const queryEl = child(store, 'Search:Query');
  if (!queryEl) throw new StoreFailure(SearchStatus.InvalidRequest, 'the Mailbox search has no Query');
  const query = readMailQuery(queryEl, ctx.version);
  const optionsEl = child(store, 'Search:Options');
  checkOptions(optionsEl, MAILBOX_OPTIONS, 'Mailbox', SearchStatus.InvalidRequest);
  const range = readRange(childText(optionsEl, 'Search:Range'), { kind: 'search', maxIndex: MAX_INDEX });
  let options: ItemOptions;
  try {
    options = readOptions(optionsEl);
  } catch (e) {
    if (e instanceof OptionsError) throw new StoreFailure(SearchStatus.InvalidRequest, e.message);
    throw e;
  }
  // RebuildResults asks for fresh results: every search here is run afresh, so it needs nothing more.
  const outcome = await ctx.backend.search.searchMail(ctx.principal, {
    folderIds: query.folderIds, deep: flag(child(optionsEl, 'Search:DeepTraversal')), where: query.where,
    start: range.start, end: range.end,
  }, ctx.signal);
  if (outcome.kind !== 'ok') throw failedOutcome(outcome, SearchStatus.FolderSyncRequired);
  if (range.start > 0 && range.start >= outcome.total) {
    throw new StoreFailure(SearchStatus.EndOfRange, `the range starts past the ${outcome.total} matches`);
  }
  const items = ctx.backend.emails(ctx.principal, outcome.hits.map((h) => h.id));
  const markers = draftMarkersOf(ctx.version, outcome.hits, (ids) => ctx.backend.drafts.bcc(ctx.principal, ids));
  const results: WbxmlElement[] = [];
  for (const hit of outcome.hits) {
    const item = items.get(hit.id);
    if (!item) continue; // deleted between the scan and now
    results.push(SR('Result',
      A('Class', 'Email'),
      SR('LongId', formatLongId(hit.folderId, hit.id)),
      A('CollectionId', String(hit.folderId)),
      SR('Properties', renderEmail({ item, options, version: ctx.version, raw: () => ctx.backend.rawMessage(ctx.principal, item.id) }), markers(hit.id))));
  }
  return storeAnswer(SearchStatus.Success, undefined,
    // A search without matches still carries one, empty, Result (MS-ASCMD R3847).
    results.length > 0 ? results : SR('Result'),
    results.length > 0 && SR('Range', `${range.start}-${range.start + results.length - 1}`),
    SR('Total', outcome.total));
}

function looksLikeDocumentLink(text: string): boolean {
  return /^https?:\/\/[^\s/]+\/\S*$/i.test(text) || /^\\\\[^\\\s]+\\\S+$/.test(text);
}

function documentLibrarySearch(ctx: CommandContext, store: WbxmlElement): CommandResult {
  if (ctx.version < V120) throw new StoreFailure(SearchStatus.InvalidRequest, 'DocumentLibrary exists from protocol 12.0');
  const equalTo = child(child(store, 'Search:Query'), 'Search:EqualTo');
  const [prop, value] = equalTo?.children ?? [];
  if (!equalTo || equalTo.children.length !== 2 || prop?.tag !== 'DocumentLibrary:LinkId' || value?.tag !== 'Search:Value') {
    throw new StoreFailure(SearchStatus.InvalidRequest, 'a DocumentLibrary Query is EqualTo > documentlibrary:LinkId, Value');
  }
  const link = leafText(value, SearchStatus.InvalidRequest).trim();
  if (!looksLikeDocumentLink(link)) throw new StoreFailure(SearchStatus.BadLink, 'the LinkId is neither a UNC path nor an http(s) URL');
  throw new StoreFailure(SearchStatus.AccessDenied, 'no document library is shared through this server');
}

export async function search(ctx: CommandContext): Promise<CommandResult> {
  const req = ctx.request;
  try {
    if (!req || req.children.length === 0) throw new StoreFailure(SearchStatus.InvalidRequest, 'the Search request has no Store');
    const odd = req.children.find((c) => c.tag !== 'Search:Store');
    if (odd) throw new StoreFailure(SearchStatus.InvalidRequest, `${odd.tag} cannot appear in a Search request`);
    const store = req.children[0]!;
    const name = (childText(store, 'Search:Name') ?? '').trim();
    switch (name.toLowerCase()) {
      case 'gal': return galSearch(ctx, store);
      case 'mailbox': return await mailboxSearch(ctx, store);
      case 'documentlibrary': return documentLibrarySearch(ctx, store);
      default: throw new StoreFailure(SearchStatus.InvalidRequest, `unknown store ${name.slice(0, 30) || '(none)'}: GAL, Mailbox or DocumentLibrary`);
    }
  } catch (e) {
    if (e instanceof StoreFailure) return storeAnswer(e.status, e.message);
    ctx.log({ level: 'error', msg: 'Search failed', user: ctx.principal.address, error: e instanceof Error ? e.stack : String(e) });
    return storeAnswer(SearchStatus.ServerError, 'the store failed while searching');
  }
}

// ---- Find (16.1) ----

function findAnswer(status: number, reason: string | undefined, response?: WbxmlElement): CommandResult {
  return { kind: 'wbxml', body: FD('Find', FD('Status', status), response), headers: reasonHeader(reason) };
}

function findResponse(store: 'Mailbox' | 'GAL', status: number, ...content: Content[]): WbxmlElement {
  return FD('Response', IO('Store', store), FD('Status', status), ...content);
}

/** Find's rule: the first request of a search starts at 0; later pages of the same SearchId may not. */
function checkFindRange(ctx: CommandContext, searchId: string, range: Range): void {
  const searches = (ctx.cache.findSearches ??= new Map());
  const mine: string[] = searches.get(ctx.device.pk) ?? [];
  const known = mine.includes(searchId);
  if (!known && range.start !== 0) throw new StoreFailure(FindStatus.RangeNotFromZero, 'a new search starts its Range at 0');
  searches.delete(ctx.device.pk);
  searches.set(ctx.device.pk, [...mine.filter((s) => s !== searchId), searchId].slice(-FIND_SEARCHES_KEPT));
  if (searches.size > FIND_DEVICES_KEPT) searches.delete(searches.keys().next().value!);
}

function findMailProperties(item: { subject: string; receivedAt: Date; displayTo: string; importance: number; read: boolean; preview: string; from: string }, hit: MailHit): WbxmlElement[] {
  return [
    E('Subject', item.subject),
    E('DateReceived', easDate(item.receivedAt)),
    E('DisplayTo', item.displayTo),
    FD('DisplayCc', hit.displayCc),
    FD('DisplayBcc', hit.displayBcc),
    E('Importance', item.importance),
    E('Read', item.read ? 1 : 0),
    E2('IsDraft', hit.isDraft ? 1 : 0),
    FD('Preview', [...item.preview].slice(0, 255).join('')),
    FD('HasAttachments', hit.hasAttachments ? 1 : 0),
    E('From', item.from),
  ];
}

const FIND_QUERY: ReadonlySet<string> = new Set(['AirSync:Class', 'AirSync:CollectionId', 'Find:FreeText']);

async function findMail(ctx: CommandContext, searchId: string, criterion: WbxmlElement): Promise<WbxmlElement> {
  const invalid = FindStatus.InvalidRequest;
  const query = child(criterion, 'Find:Query');
  if (!query) throw new StoreFailure(invalid, 'MailBoxSearchCriterion has no Query');
  for (const el of query.children) {
    if (!FIND_QUERY.has(el.tag)) throw new StoreFailure(invalid, `${el.tag} cannot appear in a Find Query`);
    if (childrenOf(query, el.tag).length > 1) throw new StoreFailure(invalid, `a Find Query holds one ${el.tag}`);
  }
  const freeText = child(query, 'Find:FreeText');
  if (!freeText) throw new StoreFailure(invalid, 'the Find Query has no FreeText');
  const conditions: MailCondition[] = [readTerms(leafText(freeText, invalid), true, invalid, invalid)];
  const classEl = child(query, 'AirSync:Class');
  if (classEl) conditions.push(classesCondition([readClass(leafText(classEl, invalid), ctx.version, invalid)])!);
  const folderEl = child(query, 'AirSync:CollectionId');
  let folderIds: number[] | undefined;
  if (folderEl) {
    const id = parseFolderId(leafText(folderEl, invalid));
    if (id === undefined) throw new StoreFailure(FindStatus.FolderSyncRequired, `CollectionId ${(folderEl.text ?? '').slice(0, 20)} is not a folder`);
    folderIds = [id];
  }
  const options = child(criterion, 'Find:Options');
  const odd = options?.children.find((c) => c.tag !== 'Find:Range' && c.tag !== 'Find:DeepTraversal');
  if (odd) throw new StoreFailure(invalid, `${odd.tag} is not an option of a mailbox Find`);
  const range = readRange(childText(options, 'Find:Range'), { kind: 'find' });
  checkFindRange(ctx, searchId, range);
  const outcome = await ctx.backend.search.searchMail(ctx.principal, {
    folderIds, deep: flag(child(options, 'Find:DeepTraversal')),
    where: conditions.length === 1 ? conditions[0]! : { kind: 'and', all: conditions },
    start: range.start, end: range.end,
  }, ctx.signal);
  if (outcome.kind === 'no-folder') throw failedOutcome(outcome, FindStatus.FolderSyncRequired);
  // Find has no status of its own for these: the common "retry later" says what happened.
  if (outcome.kind !== 'ok') throw new CommandFailure(111, failedOutcome(outcome, 0).message);
  const items = ctx.backend.emails(ctx.principal, outcome.hits.map((h) => h.id));
  const results: WbxmlElement[] = [];
  for (const hit of outcome.hits) {
    const item = items.get(hit.id);
    if (!item) continue;
    results.push(FD('Result',
      A('Class', 'Email'),
      A('ServerId', itemServerId(hit.folderId, hit.id)),
      A('CollectionId', String(hit.folderId)),
      FD('Properties', findMailProperties(item, hit))));
  }
  return findResponse('Mailbox', FindStatus.Success, results,
    results.length > 0 && FD('Range', `${range.start}-${range.start + results.length - 1}`),
    FD('Total', outcome.total));
}

function findGal(ctx: CommandContext, searchId: string, criterion: WbxmlElement): WbxmlElement {
  const invalid = FindStatus.InvalidRequest;
  const query = child(criterion, 'Find:Query');
  const odd = query?.children.find((c) => c.tag !== 'Find:FreeText');
  if (!query || odd) throw new StoreFailure(invalid, 'a GAL Find Query holds FreeText only');
  const freeText = child(query, 'Find:FreeText');
  const text = galQueryText(freeText ? leafText(freeText, invalid) : undefined, invalid, invalid);
  const options = child(criterion, 'Find:Options');
  const oddOption = options?.children.find((c) => c.tag !== 'Find:Range' && c.tag !== 'Find:Picture');
  if (oddOption) throw new StoreFailure(invalid, `${oddOption.tag} is not an option of a GAL Find`);
  const range = readRange(childText(options, 'Find:Range'), { kind: 'find' });
  const picture = readPicture(child(options, 'Find:Picture'), 'Find', invalid);
  checkFindRange(ctx, searchId, range);
  const page = ctx.backend.search.searchDirectory(ctx.principal, text, range.start, range.end);
  return findResponse('GAL', FindStatus.Success,
    page.entries.map((e) => FD('Result', FD('Properties', galProperties(e, picture !== undefined)))),
    page.entries.length > 0 && FD('Range', `${range.start}-${range.start + page.entries.length - 1}`),
    FD('Total', page.total));
}

export async function find(ctx: CommandContext): Promise<CommandResult> {
  const req = ctx.request;
  const invalid = FindStatus.InvalidRequest;
  if (!req) return findAnswer(invalid, 'the Find request is empty');
  const odd = req.children.find((c) => c.tag !== 'Find:SearchId' && c.tag !== 'Find:ExecuteSearch');
  if (odd) return findAnswer(invalid, `${odd.tag} cannot appear in a Find request`);
  const searchId = childText(req, 'Find:SearchId')?.trim();
  if (!searchId) return findAnswer(invalid, 'Find needs a SearchId');
  if (searchId.length > MAX_SEARCH_ID) return findAnswer(invalid, `the SearchId is longer than ${MAX_SEARCH_ID} characters`);
  const execute = child(req, 'Find:ExecuteSearch');
  const mail = child(execute, 'Find:MailBoxSearchCriterion');
  const gal = child(execute, 'Find:GalSearchCriterion');
  if (!execute || execute.children.length !== 1 || (!mail && !gal)) {
    return findAnswer(invalid, 'ExecuteSearch holds one MailBoxSearchCriterion or GalSearchCriterion');
  }
  try {
    const response = mail ? await findMail(ctx, searchId, mail) : findGal(ctx, searchId, gal!);
    return findAnswer(FindStatus.Success, undefined, response);
  } catch (e) {
    if (!(e instanceof StoreFailure)) throw e;
    // Statuses 2 and 3 belong to Find itself; 4 only to the Response (MS-ASCMD Status(Find)).
    if (e.status === FindStatus.RangeNotFromZero) return findAnswer(FindStatus.Success, e.message, findResponse(mail ? 'Mailbox' : 'GAL', e.status));
    return findAnswer(e.status === FindStatus.FolderSyncRequired ? e.status : invalid, e.message);
  }
}
