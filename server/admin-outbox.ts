// Admin routes over the outbox (mail the server sends for users, see server/outbound/outbox.ts):
// list what is queued and why it waits, send everything now, drop one entry.
import type Koa from 'koa';
import type { Store } from './store/index.js';
import { pageOf } from './admin-paging.js';
import type { Outbox } from './outbound/outbox.js';

const MAX_PAGE = 1000;

/** Handles /admin/outbox, /admin/outbox/retry and /admin/outbox/<id>; false when the route is not one of them. */
export function outboxRoutes(ctx: Koa.Context, store: Store, outbox: Outbox | undefined, parts: string[]): boolean {
  if (parts[1] !== 'outbox' || parts.length > 3) return false;
  const fail = (status: number, error: string): true => { ctx.status = status; ctx.body = { error }; return true; };

  if (parts.length === 2) {
    if (ctx.method !== 'GET') return fail(405, `${ctx.method} is not allowed on /admin/outbox (GET)`);
    const page = pageOf(ctx.query, MAX_PAGE);
    if (typeof page === 'string') return fail(400, page);
    ctx.set('X-Total-Count', String(store.outbox.count()));
    ctx.body = store.outbox.list(page.limit, page.offset).map((e) => ({
      id: e.id, user: store.directory.userById(e.userId)?.address ?? null, lane: e.lane, subject: e.message.subject,
      rcptTo: e.message.rcptTo, method: e.message.calendar?.method ?? null,
      createdAt: new Date(e.createdAt).toISOString(), nextAttemptAt: new Date(e.nextAttemptAt).toISOString(),
      attempts: e.attempts, lastError: e.lastError ?? null,
    }));
    return true;
  }
  if (parts[2] === 'retry') {
    if (ctx.method !== 'POST') return fail(405, `${ctx.method} is not allowed on /admin/outbox/retry (POST)`);
    if (!outbox) return fail(503, 'the outbox is not running');
    ctx.body = { entries: outbox.retryNow() };
    return true;
  }
  const id = /^\d{1,15}$/.test(parts[2]!) ? Number(parts[2]) : undefined;
  if (id === undefined) return fail(404, `outbox entry ${parts[2]} not found`);
  if (ctx.method !== 'DELETE') return fail(405, `${ctx.method} is not allowed on /admin/outbox/<id> (DELETE)`);
  if (!store.outbox.remove(id)) return fail(404, `outbox entry ${id} not found`);
  ctx.status = 204;
  return true;
}
