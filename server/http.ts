// The HTTP side: koa serving the EAS endpoint and Autodiscover.
import Koa from 'koa';
import type { IncomingMessage } from 'node:http';
import { createEasHandler, type EasHandlerOptions } from '../eas/http/handler.js';
import type { EasBackend } from '../eas/backend.js';
import { autodiscover, autodiscoverJson } from './autodiscover.js';
import { adminApi } from './admin.js';
import type { Store } from './store/index.js';
import type { Logger } from './log.js';
import type { Outbox } from './outbound/outbox.js';

export class BodyTooLarge extends Error {}

/** Reads a request body up to `limit` bytes; larger bodies are refused, not buffered. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) { reject(new BodyTooLarge(`the request body of ${declared} bytes is larger than ${limit}`)); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge(`the request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface HttpAppOptions {
  backend: EasBackend;
  authenticate: EasBackend['authenticate'];
  log: Logger;
  maxRequestBytes: number;
  shutdown: AbortSignal;
  eas?: EasHandlerOptions;
  store: Store;
  adminToken: string;
  /** Seals private keys imported through the admin API. */
  serverKey: Buffer;
  /** For the admin API's outbox routes. */
  outbox?: Outbox;
}

export function createHttpApp(opts: HttpAppOptions): Koa {
  const app = new Koa();
  app.proxy = false;
  const eas = createEasHandler(opts.backend, { ...opts.eas, log: (e) => opts.log({ msg: 'eas', ...e }) });

  // Koa sends the response after the middleware returns: the lines about this request go out first.
  app.use(async (_ctx, next) => {
    try {
      await next();
    } finally {
      opts.log.flush?.();
    }
  });

  app.use(async (ctx) => {
    const pathLower = ctx.path.toLowerCase();
    if (pathLower === '/microsoft-server-activesync' || pathLower === '/microsoft-server-activesync/') {
      let body: Buffer;
      try {
        body = ctx.method === 'POST' ? await readBody(ctx.req, opts.maxRequestBytes) : Buffer.alloc(0);
      } catch (e) {
        if (e instanceof BodyTooLarge) { ctx.status = 413; ctx.body = e.message + '\n'; return; }
        throw e;
      }
      // Aborted when the client hangs up before the answer (a held Ping or Sync) or the server stops.
      const abort = new AbortController();
      const onClose = (): void => { if (!ctx.res.writableEnded) abort.abort(); };
      ctx.res.on('close', onClose);
      const onShutdown = (): void => abort.abort();
      opts.shutdown.addEventListener('abort', onShutdown, { once: true });
      try {
        const rawQuery = ctx.querystring;
        const res = await eas({
          method: ctx.method, rawQuery, headers: ctx.req.headers as Record<string, string | undefined>, body,
          signal: abort.signal, remoteAddress: ctx.ip,
        });
        ctx.status = res.status;
        for (const [k, v] of Object.entries(res.headers)) ctx.set(k, v);
        if (res.body !== undefined && res.body.length > 0) ctx.body = res.body;
        else { ctx.body = null; ctx.status = res.status; ctx.set('Content-Length', '0'); }
      } finally {
        opts.shutdown.removeEventListener('abort', onShutdown);
      }
      return;
    }
    if (pathLower === '/autodiscover/autodiscover.xml') {
      await autodiscover(ctx, opts);
      return;
    }
    if (pathLower === '/autodiscover/autodiscover.json' || pathLower.startsWith('/autodiscover/autodiscover.json/v1.0/')) {
      autodiscoverJson(ctx, opts.store.domain());
      return;
    }
    if (pathLower === '/admin' || pathLower.startsWith('/admin/')) {
      await adminApi(ctx, opts.store, opts.adminToken, opts.serverKey, opts.outbox);
      return;
    }
    ctx.status = 404;
    ctx.body = 'not found: the EAS endpoint is /Microsoft-Server-ActiveSync\n';
  });

  app.on('error', (err: Error) => {
    opts.log({ level: 'error', msg: 'http error', error: err.message });
  });
  return app;
}
