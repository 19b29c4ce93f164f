// The admin API (JSON over HTTP under /admin): what a test harness or an operator needs to look
// inside and steer the server. Guarded by a bearer token: EASMIME_ADMIN_TOKEN, or a random token
// written to <data>/admin.token on first start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type Koa from 'koa';
import type { Store } from './store/index.js';
import { messageRoutes } from './admin-messages.js';
import { PIM_MESSAGE_CLASSES } from '../eas/pim/items.js';
import { certificateRoutes } from './admin-certificates.js';
import { capturedRoutes } from './admin-captured.js';
import { outboxRoutes } from './admin-outbox.js';
import type { Outbox } from './outbound/outbox.js';

export function loadAdminToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.EASMIME_ADMIN_TOKEN) {
    if (env.EASMIME_ADMIN_TOKEN.length < 16) throw new Error('EASMIME_ADMIN_TOKEN must be at least 16 characters');
    return env.EASMIME_ADMIN_TOKEN;
  }
  const file = path.join(dataDir, 'admin.token');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const token = crypto.randomBytes(24).toString('base64url');
  fs.writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

function sameToken(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export async function adminApi(ctx: Koa.Context, store: Store, token: string, serverKey: Buffer, outbox?: Outbox): Promise<void> {
  const auth = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
  if (!auth || !sameToken(auth[1]!, token)) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer realm="easmime-admin"');
    ctx.body = { error: 'the admin API needs Authorization: Bearer <admin token>' };
    return;
  }
  const parts = ctx.path.split('/').filter(Boolean).map((p) => decodeURIComponent(p)); // ['admin', ...]
  const user = (address: string) => store.directory.userBySignInName(address);
  const notFound = (what: string): void => { ctx.status = 404; ctx.body = { error: `${what} not found` }; };

  if (ctx.method === 'GET' && parts.length === 2 && parts[1] === 'users') {
    ctx.body = store.directory.listUsers().map((u) => ({ address: u.address, displayName: u.displayName }));
    return;
  }
  if (parts[1] === 'users' && parts.length >= 4 && parts[3] === 'devices') {
    const u = user(parts[2]!);
    if (!u) { notFound(`user ${parts[2]}`); return; }
    if (ctx.method === 'GET' && parts.length === 4) {
      ctx.body = store.devices.list(u.id).map((d) => ({
        deviceId: d.deviceId, deviceType: d.deviceType, provisioned: d.policyKey !== undefined, wipeState: d.wipeState,
        info: d.info, lastSeen: d.lastSeen.toISOString(),
      }));
      return;
    }
    if (ctx.method === 'POST' && parts.length === 6 && parts[5] === 'wipe') {
      const accountOnly = ctx.query.accountOnly === 'true' || ctx.query.accountOnly === '1';
      if (!store.devices.requestWipe(u.id, parts[4]!, accountOnly)) { notFound(`device ${parts[4]} of ${u.address}`); return; }
      ctx.status = 202;
      ctx.body = { deviceId: parts[4], wipe: accountOnly ? 'account-requested' : 'requested' };
      return;
    }
  }
  if (messageRoutes(ctx, store, parts)) return;
  if (capturedRoutes(ctx, store, parts)) return;
  if (outboxRoutes(ctx, store, outbox, parts)) return;
  if (await certificateRoutes(ctx, store, parts, serverKey)) return;
  if (ctx.method === 'GET' && parts[1] === 'users' && parts.length === 5 && parts[3] === 'messages') {
    // /admin/users/<address>/messages/<id>: the stored raw message, byte for byte; for a contact,
    // appointment, task or note, the WBXML ApplicationData a device sent.
    const u = user(parts[2]!);
    const id = Number(parts[4]);
    const raw = u && Number.isInteger(id) ? store.mailbox.raw(u.id, id) : undefined;
    if (!raw) { notFound('message'); return; }
    const messageClass = store.mailbox.messageClassOf(u!.id, id) ?? '';
    ctx.type = PIM_MESSAGE_CLASSES.has(messageClass) ? 'application/vnd.ms-sync.wbxml' : 'message/rfc822';
    ctx.body = raw;
    return;
  }
  ctx.status = 404;
  ctx.body = { error: `no admin route ${ctx.method} ${ctx.path}` };
}
