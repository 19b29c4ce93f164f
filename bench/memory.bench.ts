// Memory stays flat as the organisation grows: the same workload (a full initial Sync of the largest
// mailbox, GetItemEstimate, a mailbox Search, a deep admin listing, Syncs of other users) against an
// organisation of 100,000 messages and one of a tenth of that, the server's heap capped alike. The figure is its
// peak RSS (VmHWM) in each; the ratio is small/large, so 1.0 means flat and a server that held a
// whole mailbox in memory would fall towards 0.1.
import fs from 'node:fs';
import { ns } from '../eas/wbxml/ns.js';
import { child, childText } from '../eas/wbxml/tree.js';
import { parseMessage } from '../server/mail/parse.js';
import { toNewMessage } from '../server/mailflow.js';
import { FolderType } from '../server/store/mailbox.js';
import { Store } from '../server/store/index.js';
import { progress, type Figure } from './harness.js';
import { easRequest, enrol, type Device } from './support/eas-http.js';
import { peakRssBytes, rssBytes, startBenchServer, writeOrganisation } from './support/server.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const S = ns('Search');
const MESSAGES = Number(process.env.BENCH_MEMORY_MESSAGES ?? 100_000);
const OTHER_USERS = 60;
const DOMAIN = 'memory.bench';
const MiB = 2 ** 20;
const HEAP_MIB = Number(process.env.BENCH_MEMORY_HEAP_MIB ?? 96);

interface Outcome { idle: number; peak: number; synced: number; seconds: number; phases: string }

/** Stores `total` messages straight into the SQLite rows (40% in one Inbox, the rest spread over the other users). */
async function fill(data: string, total: number, label: string): Promise<void> {
  const store = Store.open(data);
  try {
    const raw = Buffer.from(`From: "Sender" <sender@elsewhere.test>\r\nTo: big@${DOMAIN}\r\nSubject: memory\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <memory@elsewhere.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'Some ordinary text of an ordinary message.\r\n'.repeat(25)}`);
    const base = toNewMessage(await parseMessage(raw), raw, new Date());
    const big = Math.round(total * 0.4);
    const targets: Array<{ user: number; folder: number; count: number }> = [];
    const add = (address: string, count: number): void => {
      const u = store.directory.userByAddress(address)!;
      targets.push({ user: u.id, folder: store.mailbox.folderByType(u.id, FolderType.Inbox)!.id, count });
    };
    add(`big@${DOMAIN}`, big);
    for (let i = 0; i < OTHER_USERS; i++) add(`user${i}@${DOMAIN}`, Math.floor((total - big) / OTHER_USERS) + (i < (total - big) % OTHER_USERS ? 1 : 0));
    let done = 0;
    for (const t of targets) {
      for (let start = 0; start < t.count; start += 5000) {
        store.db.transaction(() => {
          for (let i = start; i < Math.min(t.count, start + 5000); i++) {
            store.mailbox.insertMessage(t.user, t.folder, { ...base, subject: i % 997 === 0 ? `needle ${i}` : `message ${i}`, receivedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000) });
          }
        })();
        const before = done;
        done += Math.min(t.count, start + 5000) - start;
        if (Math.floor(done / 20_000) > Math.floor(before / 20_000)) progress(`memory: ${label}: stored ${done}/${total}`);
      }
    }
  } finally {
    store.close();
  }
}

async function syncAll(port: number, d: Device, folder: string): Promise<number> {
  const options = A('Options', B('BodyPreference', B('Type', 1), B('TruncationSize', 512)));
  const first = await easRequest(port, d, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', folder)))));
  let key = childText(child(child(first.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey');
  let items = 0;
  for (;;) {
    const r = await easRequest(port, d, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key!), A('CollectionId', folder), A('WindowSize', 512), options))));
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
    if (childText(col, 'AirSync:Status') !== '1') throw new Error(`Sync answered HTTP ${r.status} Status ${childText(col, 'AirSync:Status')} ${r.reason ?? ''}`);
    key = childText(col, 'AirSync:SyncKey');
    items += child(col, 'AirSync:Commands')?.children.length ?? 0;
    if (!child(col, 'AirSync:MoreAvailable')) return items;
  }
}

async function run(total: number, label: string): Promise<Outcome> {
  const users = [{ address: `big@${DOMAIN}`, password: 'bench' }, ...Array.from({ length: OTHER_USERS }, (_, i) => ({ address: `user${i}@${DOMAIN}`, password: 'bench' }))];
  const fixtures = writeOrganisation({ name: 'Memory benchmark', domain: DOMAIN, users });
  // The first start lays out the store from the fixture; the messages then go straight into its rows.
  const first = await startBenchServer({ fixtures });
  await first.stop();
  await fill(first.data, total, label);
  // A capped heap makes V8 collect before it grows, so the peak follows what is live, not how lazy
  // the collector was; a server that held a whole mailbox would run out of heap and fail the run.
  const server = await startBenchServer({ data: first.data, env: { EASMIME_ADMIN_TOKEN: 'bench-admin-token-0123456789', NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}` } });
  try {
    const idle = rssBytes(server.pid);
    const t0 = performance.now();
    // The peak after each phase shows which one raised it.
    const phases: string[] = [];
    const phase = (name: string): void => { phases.push(`${name} ${(peakRssBytes(server.pid) / MiB).toFixed(0)}`); };
    const big: Device = { user: `big@${DOMAIN}`, password: 'bench', deviceId: 'MemoryBig', version: '16.1', folders: new Map() };
    await enrol(server.httpPort, big);
    const inbox = big.folders.get('Inbox')!;
    progress(`memory: ${label}: initial Sync of the largest Inbox (${Math.round(total * 0.4)} messages)`);
    let synced = await syncAll(server.httpPort, big, inbox);
    phase('sync');
    progress(`memory: ${label}: GetItemEstimate, Search, admin listing, other users' Syncs`);
    const g = ns('GetItemEstimate');
    await easRequest(server.httpPort, big, 'GetItemEstimate', g('GetItemEstimate', g('Collections', g('Collection', A('SyncKey', '0'), g('CollectionId', inbox)))));
    phase('estimate');
    const search = await easRequest(server.httpPort, big, 'Search', S('Search', S('Store', S('Name', 'Mailbox'),
      S('Query', S('And', A('CollectionId', inbox), S('FreeText', 'needle'))), S('Options', S('Range', '0-99'), S('DeepTraversal')))));
    if (search.status !== 200) throw new Error(`Search answered HTTP ${search.status} ${search.reason ?? ''}`);
    phase('search');
    const listing = await fetch(`${server.baseUrl}/admin/users/big@${DOMAIN}/messages?folder=Inbox&limit=100&offset=${Math.max(0, Math.round(total * 0.4) - 100)}`,
      { headers: { Authorization: 'Bearer bench-admin-token-0123456789' } });
    if (listing.status !== 200) throw new Error(`admin listing answered HTTP ${listing.status}`);
    await listing.arrayBuffer();
    phase('admin');
    for (let i = 0; i < 10; i++) {
      const d: Device = { user: `user${i}@${DOMAIN}`, password: 'bench', deviceId: `Memory${i}`, version: '16.1', folders: new Map() };
      await enrol(server.httpPort, d);
      synced += await syncAll(server.httpPort, d, d.folders.get('Inbox')!);
    }
    phase('others');
    const peak = peakRssBytes(server.pid);
    const seconds = (performance.now() - t0) / 1000;
    progress(`memory: ${label}: idle ${(idle / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB (after ${phases.join(', ')}), ${synced} items synced in ${seconds.toFixed(1)} s`);
    return { idle, peak, synced, seconds, phases: phases.join(', ') };
  } finally {
    await server.dispose();
    fs.rmSync(fixtures, { recursive: true, force: true });
  }
}

export async function largeOrganisationBenchmark(): Promise<Figure[]> {
  const small = await run(Math.round(MESSAGES / 10), `${Math.round(MESSAGES / 10)} messages`);
  const large = await run(MESSAGES, `${MESSAGES} messages`);
  return [{
    name: `memory, ${MESSAGES} vs ${Math.round(MESSAGES / 10)} messages (peak RSS, heap cap ${HEAP_MIB} MiB)`, value: large.peak / MiB, unit: 'MiB', baseline: small.peak / MiB,
    ratio: small.peak / large.peak, target: '>= 0.8 (flat)', pass: small.peak / large.peak >= 0.8,
    note: `idle ${(small.idle / MiB).toFixed(0)} / ${(large.idle / MiB).toFixed(0)} MiB; peak MiB after each phase: ${large.phases}`,
  }];
}
