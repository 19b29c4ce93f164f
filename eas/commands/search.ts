// Search (MS-ASCMD 2.2.1.16) in the Mailbox and GAL stores, and Find (2.2.1.2, 16.1). The request is
// read into a MailCondition tree here; the SearchPort runs it over the user's own mail only.
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../wbxml/tree.js';
import { ns } from '../wbxml/ns.js';
import { V120, V141 } from '../version.js';
import { OptionsError, readOptions, type ItemOptions } from '../email/options.js';
import { easDate, renderEmail } from '../email/render.js';
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

/** Highest zero-based index a mailbox search (and Find) hands out: 1,000 results. */
export const MAILBOX_MAX_INDEX = 999;
export const MAILBOX_DEFAULT_END = 99;
/** A GAL page holds at most 100 entries. */
export const GAL_PAGE = 100;
/** A query that has not finished scanning in this time is answered with Status 10 (Find: retry later). */
export const SEARCH_TIMEOUT_MS = 10_000;
const MAX_QUERY_TEXT = 256;
const MAX_TERMS = 16;
const MAX_CONDITIONS = 32;
const MAX_DEPTH = 4;
const MAX_SEARCH_ID = 64;
/** SearchIds remembered per device for Find's rule that a new search starts at 0. */
const FIND_SEARCHES_KEPT = 50;
const FIND_DEVICES_KEPT = 10_000;

const CLASSES: ReadonlySet<string> = new Set(['Email', 'SMS', 'Calendar', 'Contacts', 'Tasks', 'Notes']);

const EQUAL_FIELDS: Readonly<Record<string, EqualField>> = {
  'Email:Subject': 'subject', 'Email:From': 'from', 'Email:To': 'to', 'Email:Cc': 'cc', 'Email:DisplayTo': 'displayTo',
  'Email:ThreadTopic': 'threadTopic', 'Email:MessageClass': 'messageClass', 'Email:Read': 'read',
  'Email:Importance': 'importance', 'Email:DateReceived': 'dateReceived',
};

/** KQL property names Find's FreeText understands ("subject:report"). */
const KQL_FIELDS: Readonly<Record<string, TextField>> = {
  subject: 'subject', from: 'from', to: 'to', cc: 'cc', body: 'body', attachment: 'attachment', attachments: 'attachment',
};

/** A store-level failure: the status for Store (Search) or Response (Find), and why. */
class StoreFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

function reasonHeader(reason: string | undefined): Record<string, string> | undefined {
  return reason ? { 'X-EasMime-Reason': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) } : undefined;
}

// ---- reading requests ----

interface Range { start: number; end: number }

/** "m-n", zero-based, inclusive. */
function readRange(text: string | undefined, defaultEnd: number, maxIndex: number, invalid: number): Range {
  if (text === undefined) return { start: 0, end: defaultEnd };
  const m = /^(\d{1,7})-(\d{1,7})$/.exec(text.trim());
  if (!m) throw new StoreFailure(invalid, `Range ${text.slice(0, 20)} is not of the form m-n`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (start > end) throw new StoreFailure(invalid, 'Range starts after it ends');
  if (start > maxIndex) throw new StoreFailure(SearchStatus.EndOfRange, `results past index ${maxIndex} cannot be retrieved`);
  return { start, end: Math.min(end, maxIndex) };
}

/** A flag element: present and empty, or "1". */
function flag(el: WbxmlElement | undefined): boolean {
  if (!el) return false;
  const t = (el.text ?? '').trim();
  return t === '' || t === '1';
}

/**
 * Splits free text into lower-cased terms; "quoted phrases" stay one term. With `kql`, a leading
 * "property:" limits a term to that property, and the AND keyword is dropped (terms are ANDed anyway).
 */
function readTerms(text: string, kql: boolean): MailCondition {
  const t = text.trim();
  if (t === '') throw new StoreFailure(SearchStatus.InvalidRequest, 'FreeText is empty');
  if (t.length > MAX_QUERY_TEXT) throw new StoreFailure(SearchStatus.TooComplex, `FreeText is longer than ${MAX_QUERY_TEXT} characters`);
  const tokens: Array<{ field?: TextField; term: string }> = [];
  const re = /(?:([A-Za-z]+):)?(?:"([^"]*)"|(\S+))/g;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    let field: TextField | undefined;
    let term = m[2] ?? m[3] ?? '';
    if (m[1] !== undefined) {
      const f = kql ? KQL_FIELDS[m[1].toLowerCase()] : undefined;
      if (f) field = f;
      else term = m[2] !== undefined ? `${m[1]}:${m[2]}` : `${m[1]}:${term}`;
    }
    if (kql && field === undefined && m[2] === undefined && term === 'AND') continue;
    term = term.trim().toLowerCase();
    if (term !== '') tokens.push({ field, term });
  }
  if (tokens.length === 0) throw new StoreFailure(SearchStatus.InvalidRequest, 'FreeText holds no words');
  if (tokens.length > MAX_TERMS) throw new StoreFailure(SearchStatus.TooComplex, `FreeText holds more than ${MAX_TERMS} words`);
  const conditions: MailCondition[] = tokens.map((x) => ({ kind: 'text', terms: [x.term], field: x.field }));
  return conditions.length === 1 ? conditions[0]! : { kind: 'and', all: conditions };
}

function classCondition(text: string | undefined): MailCondition {
  const cls = (text ?? '').trim();
  if (!CLASSES.has(cls)) throw new StoreFailure(SearchStatus.InvalidRequest, `Class ${cls.slice(0, 20)} is not a class of items`);
  // Only mail lives in this server's mailboxes.
  return cls === 'Email' ? { kind: 'all' } : { kind: 'none' };
}

function dateValue(el: WbxmlElement): Date {
  const prop = el.children[0];
  const value = el.children[1];
  if (el.children.length !== 2 || prop?.tag !== 'Email:DateReceived' || value?.tag !== 'Search:Value') {
    throw new StoreFailure(SearchStatus.InvalidRequest, `${el.tag} holds email:DateReceived and then Value`);
  }
  const text = (value.text ?? '').trim();
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new StoreFailure(SearchStatus.InvalidRequest, `${text.slice(0, 30)} is not a date`);
  return new Date(ms);
}

/** The Mailbox query: folders named at the top (And > CollectionId) and the condition on messages. */
interface MailQuery { folderIds?: number[]; where: MailCondition }

function readMailQuery(query: WbxmlElement): MailQuery {
  let budget = MAX_CONDITIONS;
  const folderIds: number[] = [];

  const folder = (text: string | undefined): void => {
    const id = parseFolderId(text);
    // An id this server never gave out names no folder the device can know: its hierarchy is stale.
    if (id === undefined) throw new StoreFailure(SearchStatus.FolderSyncRequired, `CollectionId ${(text ?? '').slice(0, 20)} is not a folder`);
    if (!folderIds.includes(id)) folderIds.push(id);
  };

  const condition = (el: WbxmlElement, depth: number): MailCondition => {
    if (--budget < 0) throw new StoreFailure(SearchStatus.TooComplex, `the query has more than ${MAX_CONDITIONS} conditions`);
    if (depth > MAX_DEPTH) throw new StoreFailure(SearchStatus.TooComplex, `the query nests deeper than ${MAX_DEPTH} levels`);
    switch (el.tag) {
      case 'Search:And':
      case 'Search:Or': {
        if (el.children.length === 0) throw new StoreFailure(SearchStatus.InvalidRequest, `${el.tag} is empty`);
        const parts = el.children.map((c) => condition(c, depth + 1));
        return el.tag === 'Search:And' ? { kind: 'and', all: parts } : { kind: 'or', any: parts };
      }
      case 'Search:FreeText': return readTerms(el.text ?? '', false);
      case 'AirSync:Class': return classCondition(el.text);
      case 'Search:GreaterThan': return { kind: 'received', after: dateValue(el) };
      case 'Search:LessThan': return { kind: 'received', before: dateValue(el) };
      case 'Search:ConversationId': {
        const id = el.opaque ?? Buffer.from(el.text ?? '', 'utf8');
        if (id.length === 0 || id.length > 64) throw new StoreFailure(SearchStatus.InvalidRequest, 'ConversationId is empty or too long');
        return { kind: 'conversation', id };
      }
      case 'AirSync:CollectionId':
        throw new StoreFailure(SearchStatus.TooComplex, 'CollectionId belongs directly in the top-level And');
      case 'Search:EqualTo': {
        const prop = el.children[0];
        const value = el.children[1];
        if (el.children.length !== 2 || !prop || value?.tag !== 'Search:Value') {
          throw new StoreFailure(SearchStatus.InvalidRequest, 'EqualTo holds a property and then Value');
        }
        const text = value.text ?? value.opaque?.toString('utf8') ?? '';
        if (prop.tag === 'AirSync:Class') return classCondition(text);
        if (prop.tag === 'AirSync:CollectionId') throw new StoreFailure(SearchStatus.TooComplex, 'EqualTo CollectionId belongs directly in the top-level And');
        const field = EQUAL_FIELDS[prop.tag];
        if (!field) throw new StoreFailure(SearchStatus.TooComplex, `EqualTo cannot compare ${prop.tag}`);
        if (text.length > MAX_QUERY_TEXT) throw new StoreFailure(SearchStatus.TooComplex, `the EqualTo value is longer than ${MAX_QUERY_TEXT} characters`);
        return { kind: 'equals', field, value: text };
      }
      default:
        throw new StoreFailure(SearchStatus.InvalidRequest, `${el.tag} cannot appear in a mailbox query`);
    }
  };

  // Query > And is the usual form; bare conditions under Query are read as one And, and plain text as FreeText.
  let top: WbxmlElement[];
  if (query.children.length === 0) {
    if ((query.text ?? '').trim() === '') throw new StoreFailure(SearchStatus.InvalidRequest, 'the Query is empty');
    return { where: readTerms(query.text ?? '', false) };
  }
  if (query.children.length === 1 && query.children[0]!.tag === 'Search:And') top = query.children[0]!.children;
  else top = query.children;
  if (top.length === 0) throw new StoreFailure(SearchStatus.InvalidRequest, 'the Query is empty');
  const all: MailCondition[] = [];
  for (const el of top) {
    if (el.tag === 'AirSync:CollectionId') { folder(el.text); continue; }
    if (el.tag === 'Search:EqualTo' && el.children[0]?.tag === 'AirSync:CollectionId') {
      if (el.children.length !== 2 || el.children[1]?.tag !== 'Search:Value') throw new StoreFailure(SearchStatus.InvalidRequest, 'EqualTo holds a property and then Value');
      folder(el.children[1]!.text);
      continue;
    }
    all.push(condition(el, 1));
  }
  return { folderIds: folderIds.length > 0 ? folderIds : undefined, where: all.length === 1 ? all[0]! : { kind: 'and', all } };
}

// ---- answers ----

function storeAnswer(status: number, reason: string | undefined, ...content: Content[]): CommandResult {
  return {
    kind: 'wbxml',
    body: SR('Search', SR('Status', 1), SR('Response', SR('Store', SR('Status', status), ...content))),
    headers: reasonHeader(reason),
  };
}

function failedOutcome(outcome: Exclude<MailSearchOutcome, { kind: 'ok' }>): StoreFailure {
  switch (outcome.kind) {
    case 'no-folder': return new StoreFailure(SearchStatus.FolderSyncRequired, `folder ${outcome.folderId} is not one of the user's folders: FolderSync`);
    case 'timed-out': return new StoreFailure(SearchStatus.TimedOut, `the search took longer than ${SEARCH_TIMEOUT_MS / 1000} s`);
    case 'aborted': return new StoreFailure(SearchStatus.ServerError, 'the search was cancelled');
  }
}

function galProperties(e: DirectoryEntry, picture: boolean): WbxmlElement[] {
  return [
    G('DisplayName', e.displayName),
    e.company !== undefined && e.company !== '' && G('Company', e.company),
    e.alias !== undefined && G('Alias', e.alias),
    G('EmailAddress', e.emailAddress),
    // The directory holds no photos.
    picture && G('Picture', G('Status', 173)),
  ].filter((x): x is WbxmlElement => x !== false);
}

interface PictureOptions { maxSize?: number; maxPictures?: number }

function readPicture(el: WbxmlElement | undefined, maxSizeTag: string, maxPicturesTag: string): PictureOptions | undefined {
  if (!el) return undefined;
  const num = (tag: string): number | undefined => {
    const t = childText(el, tag);
    if (t === undefined) return undefined;
    if (!/^\d{1,9}$/.test(t.trim())) throw new StoreFailure(SearchStatus.InvalidRequest, `${tag} must be a number`);
    return Number(t.trim());
  };
  return { maxSize: num(maxSizeTag), maxPictures: num(maxPicturesTag) };
}

function galSearch(ctx: CommandContext, store: WbxmlElement): CommandResult {
  const query = (childText(store, 'Search:Query') ?? '').trim();
  if (query === '') throw new StoreFailure(SearchStatus.InvalidRequest, 'the GAL Query is empty');
  if (query.length > MAX_QUERY_TEXT) throw new StoreFailure(SearchStatus.InvalidRequest, `the GAL Query is longer than ${MAX_QUERY_TEXT} characters`);
  const options = child(store, 'Search:Options');
  const range = readRange(childText(options, 'Search:Range'), GAL_PAGE - 1, Number.MAX_SAFE_INTEGER, SearchStatus.InvalidRequest);
  range.end = Math.min(range.end, range.start + GAL_PAGE - 1);
  const picture = ctx.version >= V141 ? readPicture(child(options, 'Search:Picture'), 'Search:MaxSize', 'Search:MaxPictures') : undefined;
  const page = ctx.backend.search.searchDirectory(ctx.principal, query, range.start, range.end);
  if (page.total > 0 && range.start >= page.total) {
    throw new StoreFailure(SearchStatus.EndOfRange, `the range starts past the ${page.total} matches`);
  }
  return storeAnswer(SearchStatus.Success, undefined,
    page.entries.map((e) => SR('Result', SR('Properties', galProperties(e, picture !== undefined)))),
    page.entries.length > 0 && SR('Range', `${range.start}-${range.start + page.entries.length - 1}`),
    SR('Total', page.total));
}

async function mailboxSearch(ctx: CommandContext, store: WbxmlElement): Promise<CommandResult> {
  if (ctx.version < V120) throw new StoreFailure(SearchStatus.InvalidRequest, 'protocol 2.5 searches only the GAL');
  const queryEl = child(store, 'Search:Query');
  if (!queryEl) throw new StoreFailure(SearchStatus.InvalidRequest, 'the Mailbox search has no Query');
  const query = readMailQuery(queryEl);
  const optionsEl = child(store, 'Search:Options');
  const range = readRange(childText(optionsEl, 'Search:Range'), MAILBOX_DEFAULT_END, MAILBOX_MAX_INDEX, SearchStatus.InvalidRequest);
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
    start: range.start, end: range.end, timeoutMs: SEARCH_TIMEOUT_MS,
  }, ctx.signal);
  if (outcome.kind !== 'ok') throw failedOutcome(outcome);
  if (outcome.total > 0 && range.start >= outcome.total) {
    throw new StoreFailure(SearchStatus.EndOfRange, `the range starts past the ${outcome.total} matches`);
  }
  const items = ctx.backend.emails(ctx.principal, outcome.hits.map((h) => h.id));
  const results: WbxmlElement[] = [];
  for (const hit of outcome.hits) {
    const item = items.get(hit.id);
    if (!item) continue; // deleted between the scan and now
    results.push(SR('Result',
      A('Class', 'Email'),
      SR('LongId', formatLongId(hit.folderId, hit.id)),
      A('CollectionId', String(hit.folderId)),
      SR('Properties', renderEmail({ item, options, version: ctx.version, raw: () => ctx.backend.rawMessage(ctx.principal, item.id) }))));
  }
  return storeAnswer(SearchStatus.Success, undefined,
    // A mailbox search without matches still carries one, empty, Result (MS-ASCMD 2.2.3.155.3).
    results.length > 0 ? results : SR('Result'),
    results.length > 0 && SR('Range', `${range.start}-${range.start + results.length - 1}`),
    SR('Total', outcome.total));
}

export async function search(ctx: CommandContext): Promise<CommandResult> {
  const req = ctx.request;
  const stores = childrenOf(req, 'Search:Store');
  try {
    if (!req || stores.length === 0) throw new StoreFailure(SearchStatus.InvalidRequest, 'the Search request has no Store');
    if (stores.length > 1 || req.children.length !== 1) throw new StoreFailure(SearchStatus.InvalidRequest, 'a Search request holds exactly one Store');
    const store = stores[0]!;
    const name = (childText(store, 'Search:Name') ?? '').trim();
    switch (name.toLowerCase()) {
      case 'gal': return galSearch(ctx, store);
      case 'mailbox': return await mailboxSearch(ctx, store);
      case 'documentlibrary': throw new StoreFailure(SearchStatus.InvalidRequest, 'this server has no document libraries');
      default: throw new StoreFailure(SearchStatus.InvalidRequest, `unknown store ${name.slice(0, 30) || '(none)'}: GAL or Mailbox`);
    }
  } catch (e) {
    if (e instanceof StoreFailure) return storeAnswer(e.status, e.message);
    throw e;
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
    E('Importance', item.importance),
    E('Read', item.read ? 1 : 0),
    E2('IsDraft', hit.isDraft ? 1 : 0),
    FD('Preview', [...item.preview].slice(0, 255).join('')),
    FD('HasAttachments', hit.hasAttachments ? 1 : 0),
    E('From', item.from),
  ];
}

async function findMail(ctx: CommandContext, searchId: string, criterion: WbxmlElement): Promise<WbxmlElement> {
  const query = child(criterion, 'Find:Query');
  if (!query) throw new StoreFailure(FindStatus.InvalidRequest, 'MailBoxSearchCriterion has no Query');
  const conditions: MailCondition[] = [];
  const folderIds: number[] = [];
  for (const el of query.children) {
    switch (el.tag) {
      case 'AirSync:Class': conditions.push(classCondition(el.text)); break;
      case 'AirSync:CollectionId': {
        const id = parseFolderId(el.text);
        if (id === undefined) throw new StoreFailure(FindStatus.FolderSyncRequired, `CollectionId ${(el.text ?? '').slice(0, 20)} is not a folder`);
        folderIds.push(id);
        break;
      }
      case 'Find:FreeText': conditions.push(readTerms(el.text ?? '', true)); break;
      default: throw new StoreFailure(FindStatus.InvalidRequest, `${el.tag} cannot appear in a Find Query`);
    }
  }
  if (!child(query, 'Find:FreeText')) throw new StoreFailure(FindStatus.InvalidRequest, 'the Find Query has no FreeText');
  const options = child(criterion, 'Find:Options');
  const range = readRange(childText(options, 'Find:Range'), MAILBOX_DEFAULT_END, MAILBOX_MAX_INDEX, FindStatus.InvalidRequest);
  checkFindRange(ctx, searchId, range);
  const outcome = await ctx.backend.search.searchMail(ctx.principal, {
    folderIds: folderIds.length > 0 ? folderIds : undefined, deep: flag(child(options, 'Find:DeepTraversal')),
    where: conditions.length === 1 ? conditions[0]! : { kind: 'and', all: conditions },
    start: range.start, end: range.end, timeoutMs: SEARCH_TIMEOUT_MS,
  }, ctx.signal);
  if (outcome.kind === 'no-folder') throw new StoreFailure(FindStatus.FolderSyncRequired, `folder ${outcome.folderId} is not one of the user's folders: FolderSync`);
  // Find has no status for these: the common "retry later" says what happened.
  if (outcome.kind !== 'ok') throw new CommandFailure(111, outcome.kind === 'timed-out' ? 'the search timed out' : 'the search was cancelled');
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
  const query = child(criterion, 'Find:Query');
  const text = (childText(query, 'Find:FreeText') ?? '').trim();
  if (text === '' || text.length > MAX_QUERY_TEXT) throw new StoreFailure(FindStatus.InvalidRequest, 'the GAL FreeText is empty or too long');
  const options = child(criterion, 'Find:Options');
  const range = readRange(childText(options, 'Find:Range'), GAL_PAGE - 1, MAILBOX_MAX_INDEX, FindStatus.InvalidRequest);
  range.end = Math.min(range.end, range.start + GAL_PAGE - 1);
  checkFindRange(ctx, searchId, range);
  const picture = readPicture(child(options, 'Find:Picture'), 'Find:MaxSize', 'Find:MaxPictures');
  const page = ctx.backend.search.searchDirectory(ctx.principal, text, range.start, range.end);
  return findResponse('GAL', FindStatus.Success,
    page.entries.map((e) => FD('Result', FD('Properties', galProperties(e, picture !== undefined)))),
    page.entries.length > 0 && FD('Range', `${range.start}-${range.start + page.entries.length - 1}`),
    FD('Total', page.total));
}

export async function find(ctx: CommandContext): Promise<CommandResult> {
  const req = ctx.request;
  const searchId = childText(req, 'Find:SearchId')?.trim();
  if (!req || !searchId) return findAnswer(FindStatus.InvalidRequest, 'Find needs a SearchId');
  if (searchId.length > MAX_SEARCH_ID) return findAnswer(FindStatus.InvalidRequest, `the SearchId is longer than ${MAX_SEARCH_ID} characters`);
  const execute = child(req, 'Find:ExecuteSearch');
  const mail = child(execute, 'Find:MailBoxSearchCriterion');
  const gal = child(execute, 'Find:GalSearchCriterion');
  if (!execute || execute.children.length !== 1 || (!mail && !gal)) {
    return findAnswer(FindStatus.InvalidRequest, 'ExecuteSearch holds one MailBoxSearchCriterion or GalSearchCriterion');
  }
  try {
    const response = mail ? await findMail(ctx, searchId, mail) : findGal(ctx, searchId, gal!);
    return findAnswer(FindStatus.Success, undefined, response);
  } catch (e) {
    if (!(e instanceof StoreFailure)) throw e;
    // An unreadable request fails the command; a problem with the search itself is the Response's status.
    if (e.status === FindStatus.InvalidRequest || e.status === SearchStatus.TooComplex) return findAnswer(FindStatus.InvalidRequest, e.message);
    if (e.status === SearchStatus.EndOfRange) return findAnswer(FindStatus.InvalidRequest, e.message);
    return findAnswer(FindStatus.Success, e.message, findResponse(mail ? 'Mailbox' : 'GAL', e.status));
  }
}
