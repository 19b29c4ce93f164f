// Initial Sync of a 10,000-message Inbox through real HTTP (WindowSize 512, MIMESupport 2), in items
// per second, against the bare cost of reading the same rows from SQLite and encoding them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../server/app.js';
import { defaultConfig } from '../server/config.js';
import { FolderType } from '../server/store/mailbox.js';
import { toNewMessage } from '../server/mailflow.js';
import { parseMessage } from '../server/mail/parse.js';
import { encodeWbxml } from '../eas/wbxml/index.js';
import { ns } from '../eas/wbxml/ns.js';
import { child, childText } from '../eas/wbxml/tree.js';
import { renderEmail } from '../eas/email/render.js';
import { readOptions } from '../eas/email/options.js';
import { EasClient } from '../test/support/eas-client.js';
import { progress, type Figure } from './harness.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const MESSAGES = Number(process.env.BENCH_SYNC_MESSAGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_SYNC_ROUNDS ?? 3);

export async function initialSyncBenchmark(): Promise<Figure[]> {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-bench-'));
  const server = await startServer({ ...defaultConfig(), data, httpPort: 0, smtpPort: 0 }, () => undefined);
  try {
    const user = server.store.directory.userByAddress('alice@contoso.test')!;
    const inbox = server.store.mailbox.folderByType(user.id, FolderType.Inbox)!;
    const raw = Buffer.from(`From: "Erin" <erin@fabrikam.test>\r\nTo: "Alice Anders" <alice@contoso.test>\r\nSubject: bench\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@fabrikam.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'A line of benchmark text.\r\n'.repeat(40)}`);
    const base = toNewMessage(await parseMessage(raw), raw, new Date());
    progress(`sync: storing ${MESSAGES} messages`);
    server.store.db.transaction(() => {
      for (let i = 0; i < MESSAGES; i++) {
        server.store.mailbox.insertMessage(user.id, inbox.id, { ...base, subject: `bench ${i}`, receivedAt: new Date(Date.UTC(2026, 10, 24) + i * 1000) });
        if ((i + 1) % 2500 === 0) progress(`sync: stored ${i + 1}/${MESSAGES}`);
      }
    })();

    const options = A('Options', A('MIMESupport', 2), B('BodyPreference', B('Type', 4)));
    /** One device's whole initial Sync over HTTP: items per second from its first windowed request to the last. */
    const httpPass = async (deviceId: string): Promise<number> => {
      const client = new EasClient({ baseUrl: `http://127.0.0.1:${server.httpPort}`, user: 'alice', password: 'demo', deviceId, version: '16.1' });
      await client.provision();
      const r0 = await client.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', String(inbox.id))))));
      let key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
      const t0 = performance.now();
      let items = 0;
      for (;;) {
        const r = await client.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', String(inbox.id)), A('WindowSize', 512), options))));
        const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
        key = childText(col, 'AirSync:SyncKey')!;
        items += child(col, 'AirSync:Commands')?.children.length ?? 0;
        if (!child(col, 'AirSync:MoreAvailable')) break;
      }
      if (items < MESSAGES) throw new Error(`initial sync delivered ${items} of ${MESSAGES} items`);
      return items / ((performance.now() - t0) / 1000);
    };
    /** The same rows read from SQLite and encoded as the same responses, without HTTP or sync state. */
    const itemOptions = readOptions(options);
    const barePass = (): number => {
      const t1 = performance.now();
      const ids = (server.store.db.prepare('SELECT id FROM messages WHERE folder_id = ? ORDER BY received_at DESC').all(inbox.id) as Array<{ id: number }>).map((r) => r.id);
      for (let i = 0; i < ids.length; i += 512) {
        const chunk = ids.slice(i, i + 512);
        const rows = server.store.mailbox.messagesByIds(user.id, chunk);
        const adds = chunk.map((id) => {
          const item = rows.get(id)!;
          return A('Add', A('ServerId', `${inbox.id}:${id}`), A('ApplicationData', renderEmail({ item, options: itemOptions, version: 161, raw: () => server.store.mailbox.raw(user.id, id) })));
        });
        encodeWbxml(A('Sync', A('Collections', A('Collection', A('SyncKey', 'x'), A('CollectionId', String(inbox.id)), A('Status', 1), A('Commands', adds)))));
      }
      return ids.length / ((performance.now() - t1) / 1000);
    };

    // Both sides share the rendering code: one untimed pass each first, so that neither is measured
    // while the JIT still compiles it; then alternating passes, each a new device, medians reported.
    progress('sync: warm-up, one initial Sync over HTTP and one bare pass');
    await httpPass('BenchWarmUp');
    barePass();
    const rates: number[] = [];
    const bares: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      progress(`sync: round ${round + 1}/${ROUNDS}, initial Sync over HTTP (WindowSize 512), then the bare read+encode`);
      const rate = await httpPass(`BenchDevice${round + 1}`);
      const bare = barePass();
      rates.push(rate);
      bares.push(bare);
      ratios.push(rate / bare);
    }
    const median = (l: number[]): number => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)]!;
    const [rate, bare, ratio] = [median(rates), median(bares), median(ratios)];
    return [{
      name: `initial Sync, ${MESSAGES} messages, MIME`, value: rate, unit: 'items/s', baseline: bare, ratio, target: '>= 0.5 of bare read+encode', pass: ratio >= 0.5,
      note: `median of ${ROUNDS} alternating rounds after a warm-up; ratios ${ratios.map((r) => r.toFixed(2)).join(' ')}`,
    }];
  } finally {
    await server.close();
    fs.rmSync(data, { recursive: true, force: true });
  }
}
