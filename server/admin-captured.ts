// Admin routes over the capture store (mail for external recipients kept when no smarthost is
// configured): list, read one byte for byte, delete one or all.
import type Koa from 'koa';
import type { Store } from './store/index.js';
import { pageOf } from './admin-paging.js';
import { CapturedMail } from './store/captured.js';

const MAX_PAGE = 1000;

/** Handles /admin/captured[/<id>]; false when the route is not one of them. */
export function capturedRoutes(ctx: Koa.Context, store: Store, parts: string[]): boolean {
  if (parts[1] !== 'captured' || parts.length > 3) return false;
  const captured = new CapturedMail(store.db);
  const fail = (status: number, error: string): true => { ctx.status = status; ctx.body = { error }; return true; };

  if (parts.length === 2) {
    if (ctx.method === 'GET') {
      const page = pageOf(ctx.query, MAX_PAGE);
      if (typeof page === 'string') return fail(400, page);
      const to = ctx.query.to;
      if (to !== undefined && (typeof to !== 'string' || to.length > 320)) return fail(400, 'to must be one address');
      ctx.set('X-Total-Count', String(captured.count()));
      ctx.body = captured.list({ ...page, to }).map((c) => ({ ...c, createdAt: c.createdAt.toISOString() }));
      return true;
    }
    if (ctx.method === 'DELETE') {
      ctx.body = { deleted: captured.clear() };
      return true;
    }
    return fail(405, `${ctx.method} is not allowed on /admin/captured (GET, DELETE)`);
  }

  const id = /^\d{1,15}$/.test(parts[2]!) ? Number(parts[2]) : undefined;
  if (id === undefined) return fail(404, `captured message ${parts[2]} not found`);
  if (ctx.method === 'GET') {
    const summary = captured.summary(id);
    const raw = summary && captured.raw(id);
    if (!summary || !raw) return fail(404, `captured message ${id} not found`);
    ctx.type = 'message/rfc822';
    ctx.set('X-EasMime-Mail-From', headerSafe(summary.mailFrom));
    ctx.set('X-EasMime-Rcpt-To', headerSafe(summary.rcptTo.join(',')));
    ctx.body = raw;
    return true;
  }
  if (ctx.method === 'DELETE') {
    if (!captured.delete(id)) return fail(404, `captured message ${id} not found`);
    ctx.status = 204;
    return true;
  }
  return fail(405, `${ctx.method} is not allowed on /admin/captured/<id> (GET, DELETE)`);
}

function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 4000);
}
