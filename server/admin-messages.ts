// Admin routes over a user's stored messages: lists per folder with each message's S/MIME verdict
// summary, and the full verdict of one message, so that tests and operators can see what the
// gateway concluded without parsing logs. The raw message route stays in admin.ts.
import type Koa from 'koa';
import type { Store } from './store/index.js';
import { pageOf } from './admin-paging.js';
import { verdictHeader, type SmimeVerdict } from '../smime/verdict.js';

const MAX_PAGE = 500;

/** Handles /admin/users/<address>/messages[...] routes it knows; false when the route is not one of them. */
export function messageRoutes(ctx: Koa.Context, store: Store, parts: string[]): boolean {
  if (ctx.method !== 'GET' || parts[1] !== 'users' || parts[3] !== 'messages') return false;
  const u = store.directory.userBySignInName(parts[2]!);
  const fail = (status: number, error: string): true => { ctx.status = status; ctx.body = { error }; return true; };

  if (parts.length === 4) {
    if (!u) return fail(404, `user ${parts[2]} not found`);
    const folderPath = typeof ctx.query.folder === 'string' ? ctx.query.folder : 'Inbox';
    const folder = store.mailbox.folderByPath(u.id, folderPath);
    if (!folder) return fail(404, `folder ${folderPath} of ${u.address} not found`);
    const page = pageOf(ctx.query, MAX_PAGE);
    if (typeof page === 'string') return fail(400, page);
    ctx.body = store.mailbox.summaries(u.id, folder.id, page.limit, page.offset).map((m) => {
      const v = m.verdict ? (JSON.parse(m.verdict) as SmimeVerdict) : null;
      return {
        id: m.id, folder: folderPath, subject: m.subject, from: m.from, messageClass: m.messageClass, smimeKind: m.smimeKind,
        read: m.read, receivedAt: m.receivedAt.toISOString(),
        smime: v ? { header: verdictHeader(v), valid: v.valid, signed: v.signed, reasons: v.reasons, summary: v.summary } : null,
      };
    });
    return true;
  }
  if (parts.length === 6 && parts[5] === 'verdict') {
    const id = Number(parts[4]);
    const stored = u && Number.isInteger(id) ? store.mailbox.verdict(u.id, id) : undefined;
    if (stored === undefined) return fail(404, 'message not found');
    ctx.body = { id, verdict: stored === null ? null : (JSON.parse(stored) as SmimeVerdict) };
    return true;
  }
  return false;
}
