// Paging of the admin API's lists: ?limit= (default 100, at most the list's own maximum) and
// ?offset= (default 0), checked before any query runs.
import type Koa from 'koa';

/** The page asked for, or what is wrong with the request. */
export function pageOf(query: Koa.Context['query'], max: number): { limit: number; offset: number } | string {
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  const offset = query.offset === undefined ? 0 : Number(query.offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) return `limit must be an integer from 1 to ${max}`;
  if (!Number.isInteger(offset) || offset < 0) return 'offset must be a non-negative integer';
  return { limit, offset };
}
