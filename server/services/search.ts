// The SearchPort over the store: mailbox queries evaluated over the user's own messages in bounded
// batches (the event loop keeps serving Pings meanwhile, and a deadline ends runaway scans), the GAL
// from the directory tables, and message counts for Ping.
import type { Principal } from '../../eas/backend.js';
import type {
  DirectoryEntry, DirectoryPage, EqualField, MailCondition, MailHit, MailSearchOutcome, MailSearchRequest, SearchPort, TextField,
} from '../../eas/ports/search.js';
import { FolderType, MAIL_FOLDER_TYPES, type AttachmentMeta, type Folder } from '../store/mailbox.js';
import type { ServiceDeps } from './deps.js';
import { bccOf } from '../mail/bcc.js';

/** Rows read per step of a scan; between steps the scan yields to other requests. */
const BATCH = 200;

/** How long one mailbox scan may run before it is answered as timed out. */
export const DEFAULT_SEARCH_TIME_LIMIT_MS = 10_000;

interface Candidate { id: number; folderId: number; receivedAt: number }

interface MessageRow {
  id: number; folder_id: number; received_at: number; subject: string; from_addr: string; to_addr: string;
  cc_addr: string; display_to: string; thread_topic: string; message_class: string; read: number; importance: number;
  text_body: string; attachments: string; conversation_id: Buffer;
}

/** The searchable form of one message, lower-cased once. */
interface Searchable {
  row: MessageRow;
  lower: Record<TextField, string>;
}

/** The Junk Email default folder: a user-mail folder at the top with that name. */
const isJunkFolder = (f: Folder): boolean => f.parentId === 0 && f.type === FolderType.UserMail && f.name === 'Junk Email';

/**
 * Splits a stored address list ("Name" <a@b>, c@d, Name only) back into mailboxes. The store writes
 * it with formatMailboxes, so quotes and angle brackets are the only structure to respect.
 */
export function splitAddressList(list: string): Array<{ name: string; address: string }> {
  const parts: string[] = [];
  let current = '';
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i]!;
    if (inQuote && ch === '\\' && i + 1 < list.length) { current += ch + list[++i]!; continue; }
    if (ch === '"' && !inAngle) inQuote = !inQuote;
    else if (ch === '<' && !inQuote) inAngle = true;
    else if (ch === '>' && !inQuote) inAngle = false;
    if ((ch === ',' || ch === ';') && !inQuote && !inAngle) { parts.push(current); current = ''; continue; }
    current += ch;
  }
  parts.push(current);
  const out: Array<{ name: string; address: string }> = [];
  for (const raw of parts) {
    const p = raw.trim();
    if (!p) continue;
    const quoted = /^"((?:[^"\\]|\\.)*)"\s*<([^>]*)>$/.exec(p);
    if (quoted) { out.push({ name: quoted[1]!.replace(/\\(.)/g, '$1'), address: quoted[2]!.trim() }); continue; }
    const named = /^(.*?)\s*<([^>]*)>$/.exec(p);
    if (named) { out.push({ name: named[1]!.trim(), address: named[2]!.trim() }); continue; }
    out.push(p.includes('@') ? { name: '', address: p } : { name: p, address: '' });
  }
  return out;
}

function displayNames(list: string): string {
  return splitAddressList(list).map((m) => m.name || m.address).join('; ');
}

function attachmentNames(json: string): string {
  try {
    return (JSON.parse(json) as AttachmentMeta[]).map((a) => a.fileName).join('\n');
  } catch {
    return '';
  }
}

function hasRealAttachment(json: string): boolean {
  try {
    return (JSON.parse(json) as AttachmentMeta[]).some((a) => !a.isInline);
  } catch {
    return false;
  }
}

/** Whether the condition reads anything beyond the folder and the received date. */
function needsRow(c: MailCondition): boolean {
  switch (c.kind) {
    case 'all': case 'none': case 'received': return false;
    case 'and': return c.all.some(needsRow);
    case 'or': return c.any.some(needsRow);
    default: return true;
  }
}

/** Whether the condition looks into the body (the largest column, read only when needed). */
function needsBody(c: MailCondition): boolean {
  switch (c.kind) {
    case 'text': return c.field === undefined || c.field === 'body';
    case 'and': return c.all.some(needsBody);
    case 'or': return c.any.some(needsBody);
    default: return false;
  }
}

/** Date bounds every match must satisfy (from a top-level And), to skip rows before reading them. */
function dateBounds(c: MailCondition): { after?: number; before?: number } {
  const list = c.kind === 'and' ? c.all : [c];
  let after: number | undefined;
  let before: number | undefined;
  for (const x of list) {
    if (x.kind !== 'received') continue;
    if (x.after) after = Math.max(after ?? -Infinity, x.after.getTime());
    if (x.before) before = Math.min(before ?? Infinity, x.before.getTime());
  }
  return { after, before };
}

function equalsAddressField(field: string, value: string): boolean {
  if (field.toLowerCase() === value) return true;
  return splitAddressList(field).some((m) => m.address.toLowerCase() === value || m.name.toLowerCase() === value);
}

function equals(field: EqualField, rawValue: string, s: Searchable): boolean {
  const r = s.row;
  const value = rawValue.trim().toLowerCase();
  switch (field) {
    case 'subject': return r.subject.toLowerCase() === value;
    case 'threadTopic': return r.thread_topic.toLowerCase() === value;
    case 'messageClass': return r.message_class.toLowerCase() === value;
    case 'from': return equalsAddressField(r.from_addr, value);
    case 'to': return equalsAddressField(r.to_addr, value);
    case 'cc': return equalsAddressField(r.cc_addr, value);
    case 'displayTo': return r.display_to.toLowerCase() === value || r.display_to.split(';').some((n) => n.trim().toLowerCase() === value);
    case 'read': return (value === '1' || value === 'true') === (r.read === 1) && ['0', '1', 'true', 'false'].includes(value);
    case 'importance': return /^\d$/.test(value) && Number(value) === r.importance;
    case 'dateReceived': {
      const t = Date.parse(rawValue.trim());
      return !Number.isNaN(t) && t === r.received_at;
    }
  }
}

function evaluate(c: MailCondition, cand: Candidate, s: Searchable | undefined): boolean {
  switch (c.kind) {
    case 'all': return true;
    case 'none': return false;
    case 'and': return c.all.every((x) => evaluate(x, cand, s));
    case 'or': return c.any.some((x) => evaluate(x, cand, s));
    case 'received':
      return (c.after === undefined || cand.receivedAt > c.after.getTime()) && (c.before === undefined || cand.receivedAt < c.before.getTime());
    case 'text': {
      if (!s) return false;
      const hay = c.field ? [s.lower[c.field]] : Object.values(s.lower);
      return c.terms.every((t) => hay.some((h) => h.includes(t)));
    }
    case 'equals':
      return s !== undefined && equals(c.field, c.value, s);
    case 'conversation':
      return s !== undefined && Buffer.isBuffer(s.row.conversation_id) && s.row.conversation_id.equals(c.id);
  }
}

function searchable(row: MessageRow): Searchable {
  return {
    row,
    lower: {
      subject: row.subject.toLowerCase(),
      from: row.from_addr.toLowerCase(),
      to: `${row.to_addr}\n${row.display_to}`.toLowerCase(),
      cc: row.cc_addr.toLowerCase(),
      body: row.text_body.toLowerCase(),
      attachment: attachmentNames(row.attachments).toLowerCase(),
    },
  };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SearchService implements SearchPort {
  private readonly timeLimitMs: number;

  constructor(private readonly deps: ServiceDeps, timeLimitMs = DEFAULT_SEARCH_TIME_LIMIT_MS) {
    this.timeLimitMs = timeLimitMs;
  }

  private get db() { return this.deps.store.db; }
  private get mailbox() { return this.deps.store.mailbox; }

  /** The folders a request covers, or the first one that is not the user's. */
  private scope(p: Principal, req: MailSearchRequest): { folders: Set<number> } | { missing: number } {
    const all = this.mailbox.folders(p.userId);
    const byId = new Map(all.map((f) => [f.id, f]));
    const children = new Map<number, number[]>();
    for (const f of all) children.set(f.parentId, [...(children.get(f.parentId) ?? []), f.id]);
    const subtree = (id: number, into: Set<number>): void => {
      // The hierarchy is a tree; the set check also stops a damaged one that loops.
      const stack = [id];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (into.has(next)) continue;
        into.add(next);
        stack.push(...(children.get(next) ?? []));
      }
    };
    const folders = new Set<number>();
    if (req.folderIds !== undefined) {
      for (const id of req.folderIds) {
        if (!byId.has(id)) return { missing: id };
        if (req.deep) subtree(id, folders); else folders.add(id);
      }
      // Mail search finds mail: contacts, calendar, tasks and notes folders named (or below one named) hold none.
      for (const id of folders) if (!MAIL_FOLDER_TYPES.has(byId.get(id)!.type)) folders.delete(id);
      return { folders };
    }
    // No folder named: the mail the user keeps, not what was thrown away or filtered as junk.
    const excluded = new Set<number>();
    for (const f of all) if (f.type === FolderType.DeletedItems || isJunkFolder(f)) subtree(f.id, excluded);
    for (const f of all) if (MAIL_FOLDER_TYPES.has(f.type) && !excluded.has(f.id)) folders.add(f.id);
    return { folders };
  }

  async searchMail(p: Principal, req: MailSearchRequest, signal: AbortSignal): Promise<MailSearchOutcome> {
    const deadline = Date.now() + this.timeLimitMs;
    const scope = this.scope(p, req);
    if ('missing' in scope) return { kind: 'no-folder', folderId: scope.missing };
    const { after, before } = dateBounds(req.where);

    const candidates: Candidate[] = [];
    const inFolder = this.db.prepare('SELECT id, received_at FROM messages WHERE folder_id = ? AND user_id = ?');
    for (const folderId of scope.folders) {
      const rows = inFolder.all(folderId, p.userId) as Array<{ id: number; received_at: number }>;
      for (const r of rows) {
        if ((after !== undefined && r.received_at <= after) || (before !== undefined && r.received_at >= before)) continue;
        candidates.push({ id: r.id, folderId, receivedAt: r.received_at });
      }
    }
    // Newest first, as a mail client lists results.
    candidates.sort((a, b) => b.receivedAt - a.receivedAt || b.id - a.id);

    const matched: Candidate[] = [];
    let total = 0;
    const take = (c: Candidate): void => {
      if (total >= req.start && total <= req.end) matched.push(c);
      total++;
    };
    const rowsNeeded = needsRow(req.where);
    const body = needsBody(req.where) ? 'text_body' : "'' AS text_body";
    for (let i = 0; i < candidates.length; i += BATCH) {
      if (signal.aborted) return { kind: 'aborted' };
      // Checked before each batch (the first included), so a limit of 0 ends any scan that has rows to read.
      if (Date.now() >= deadline) return { kind: 'timed-out', limitMs: this.timeLimitMs };
      const chunk = candidates.slice(i, i + BATCH);
      if (!rowsNeeded) {
        for (const c of chunk) if (evaluate(req.where, c, undefined)) take(c);
      } else {
        const rows = this.db.prepare(`SELECT id, folder_id, received_at, subject, from_addr, to_addr, cc_addr, display_to, thread_topic,
            message_class, read, importance, ${body}, attachments, conversation_id FROM messages WHERE user_id = ? AND id IN (${chunk.map(() => '?').join(',')})`)
          .all(p.userId, ...chunk.map((c) => c.id)) as MessageRow[];
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const c of chunk) {
          const row = byId.get(c.id);
          // Gone since the candidate list was read (moved or deleted meanwhile).
          if (!row || row.folder_id !== c.folderId) continue;
          if (evaluate(req.where, c, searchable(row))) take(c);
        }
      }
      if (i + BATCH < candidates.length) await nextTurn();
    }
    return { kind: 'ok', total, hits: this.hits(p, matched) };
  }

  private hits(p: Principal, matched: Candidate[]): MailHit[] {
    if (matched.length === 0) return [];
    const folders = this.mailbox.folders(p.userId);
    const drafts = new Set(folders.filter((f) => f.type === FolderType.Drafts).map((f) => f.id));
    const keepsBcc = new Set(folders.filter((f) => f.type === FolderType.Drafts || f.type === FolderType.SentItems).map((f) => f.id));
    const out: MailHit[] = [];
    for (let i = 0; i < matched.length; i += 500) {
      const chunk = matched.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT id, cc_addr, attachments FROM messages WHERE user_id = ? AND id IN (${chunk.map(() => '?').join(',')})`)
        .all(p.userId, ...chunk.map((c) => c.id)) as Array<{ id: number; cc_addr: string; attachments: string }>;
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const c of chunk) {
        const r = byId.get(c.id);
        if (!r) continue;
        const displayBcc = keepsBcc.has(c.folderId) ? bccOf(this.mailbox.raw(p.userId, c.id)).map((m) => m.name || m.address).join('; ') : '';
        out.push({
          id: c.id, folderId: c.folderId, displayCc: displayNames(r.cc_addr), displayBcc, isDraft: drafts.has(c.folderId), hasAttachments: hasRealAttachment(r.attachments),
        });
      }
    }
    return out;
  }

  searchDirectory(_p: Principal, query: string, start: number, end: number): DirectoryPage {
    const q = query.trim().replace(/\s+/g, ' ').toLowerCase();
    if (q === '') return { total: 0, entries: [] };
    const company = this.deps.store.getMeta('organisation_name');
    const entries: DirectoryEntry[] = [];
    const users = this.db.prepare('SELECT address, local_part, display_name FROM users').all() as Array<{ address: string; local_part: string; display_name: string }>;
    for (const u of users) entries.push({ kind: 'user', displayName: u.display_name, emailAddress: u.address, alias: u.local_part, company });
    const groups = this.db.prepare('SELECT address, local_part, display_name FROM groups').all() as Array<{ address: string; local_part: string; display_name: string }>;
    for (const g of groups) entries.push({ kind: 'group', displayName: g.display_name, emailAddress: g.address, alias: g.local_part });
    const contacts = this.db.prepare('SELECT address, display_name FROM external_contacts').all() as Array<{ address: string; display_name: string }>;
    for (const c of contacts) entries.push({ kind: 'contact', displayName: c.display_name, emailAddress: c.address });

    const matches = entries.filter((e) => directoryMatch(e, q));
    const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
    matches.sort((a, b) => collator.compare(a.displayName, b.displayName) || a.emailAddress.localeCompare(b.emailAddress));
    return { total: matches.length, entries: matches.slice(start, end + 1) };
  }

  countMessages(p: Principal, folderId: number): number | undefined {
    if (!this.mailbox.folder(p.userId, folderId)) return undefined;
    const r = this.db.prepare('SELECT count(*) AS n FROM messages WHERE folder_id = ? AND user_id = ?').get(folderId, p.userId) as { n: number };
    return r.n;
  }
}

/**
 * Ambiguous name resolution as a GAL does it: the query is a prefix of the display name or of any
 * word in it (first or last name), of the alias, or of the address.
 */
function directoryMatch(e: DirectoryEntry, q: string): boolean {
  const name = e.displayName.toLowerCase();
  if (name.startsWith(q) || e.emailAddress.toLowerCase().startsWith(q) || (e.alias !== undefined && e.alias.toLowerCase().startsWith(q))) return true;
  for (let i = 0; i < name.length; i++) {
    if (/[\s,.\-'()]/.test(name[i]!) && name.slice(i + 1).startsWith(q)) return true;
  }
  return false;
}
