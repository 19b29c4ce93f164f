// Crash safety: the server is killed with SIGKILL in the middle of an SMTP burst over several
// connections, twice, and restarted on the same data folder. Every message that got 250 is stored
// exactly once and byte for byte; nothing is stored that was not sent; nothing is stored twice.
// A message whose DATA was complete when the kill came may be stored without its 250 having
// reached the client (the commit came first): SMTP's known duplicate window, at most one per
// connection, and it is counted against that bound.
import { strict as assert } from 'node:assert';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { SmtpClient } from '../support/smtp-client.js';
import { adminMessages, adminRaw, writeOrgFixture } from '../support/org-fixture.js';
import { EasClient } from '../support/eas-client.js';
import { ns } from '../../eas/wbxml/ns.js';
import { child, childrenOf, childText } from '../../eas/wbxml/tree.js';

const DOMAIN = 'crash.test';
const TOKEN = 'crash-safety-admin-token-0123456789';
const CONNECTIONS = 6;
const A = ns('AirSync');
const F = ns('FolderHierarchy');

interface Burst { sent: Map<string, Buffer>; acked: Set<string> }

function message(n: number): { id: string; raw: Buffer } {
  const id = `crash-${n}`;
  // Sizes vary so that some messages span several TCP writes when the kill comes.
  const body = `Message ${n} of the crash test.\r\n`.repeat(1 + (n * 37) % 400);
  return { id, raw: Buffer.from(`From: sender@elsewhere.test\r\nTo: keeper@${DOMAIN}\r\nSubject: ${id}\r\nMessage-ID: <${id}@elsewhere.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n${body}`) };
}

/** Sends over several connections until the server dies under them; records what was sent and what got 250. */
async function burstUntilKilled(server: ServerProcess, first: number, killAfterAcks: number): Promise<Burst> {
  const burst: Burst = { sent: new Map(), acked: new Set() };
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => SmtpClient.connect(server.smtpPort)));
  let next = first;
  let killed = false;
  await Promise.all(clients.map(async (c) => {
    for (;;) {
      const m = message(next++);
      burst.sent.set(m.id, m.raw);
      try {
        await c.send('sender@elsewhere.test', [`keeper@${DOMAIN}`], m.raw);
      } catch {
        c.destroy();
        return;
      }
      burst.acked.add(m.id);
      if (!killed && burst.acked.size >= killAfterAcks) {
        killed = true;
        server.child.kill('SIGKILL');
      }
    }
  }));
  return burst;
}

describe('reliability: crash safety of SMTP ingest', function () {
  this.timeout(120_000);
  let server: ServerProcess | undefined;
  after(async () => { await server?.stop(); });

  it('kill -9 during a burst, twice: every 250 is stored once, byte for byte, and nothing else', async () => {
    const fixtures = writeOrgFixture({ domain: DOMAIN, users: [{ address: `keeper@${DOMAIN}`, password: 'demo' }] });
    const env = { EASMIME_ADMIN_TOKEN: TOKEN };
    server = await startServerProcess({ fixtures, env });
    const sent = new Map<string, Buffer>();
    const acked = new Set<string>();
    let maxUnacked = 0;
    for (const [round, killAfter] of [[0, 40], [1, 25]] as const) {
      const burst = await burstUntilKilled(server, round * 100_000, killAfter);
      await new Promise<void>((resolve) => { if (server!.child.exitCode !== null || server!.child.signalCode !== null) resolve(); else server!.child.once('exit', () => resolve()); });
      assert.equal(server.child.signalCode, 'SIGKILL');
      for (const [k, v] of burst.sent) sent.set(k, v);
      for (const k of burst.acked) acked.add(k);
      maxUnacked += CONNECTIONS;
      assert.ok(burst.acked.size >= killAfter, `round ${round}: ${burst.acked.size} acknowledged before the kill`);

      server = await startServerProcess({ data: server.data, fixtures, env });
      const stored = await adminMessages(server.baseUrl, TOKEN, `keeper@${DOMAIN}`);
      const bySubject = new Map<string, number[]>();
      for (const m of stored) bySubject.set(m.subject, [...(bySubject.get(m.subject) ?? []), m.id]);
      const twice = [...bySubject].filter(([, ids]) => ids.length > 1).map(([s]) => s);
      assert.deepEqual(twice, [], 'stored more than once');
      const strangers = [...bySubject.keys()].filter((s) => !sent.has(s));
      assert.deepEqual(strangers, [], 'stored but never sent');
      const lost = [...acked].filter((s) => !bySubject.has(s));
      assert.deepEqual(lost, [], 'acknowledged with 250 but not stored');
      const unacked = [...bySubject.keys()].filter((s) => !acked.has(s));
      assert.ok(unacked.length <= maxUnacked, `${unacked.length} stored without a 250: more than one in flight per connection`);
      for (const m of stored) {
        const raw = await adminRaw(server.baseUrl, TOKEN, `keeper@${DOMAIN}`, m.id);
        assert.ok(raw.equals(sent.get(m.subject)!), `${m.subject} is stored byte for byte`);
      }
    }

    // The restarted store serves the same set over EAS: the index and the rows agree.
    const c = new EasClient({ baseUrl: server.baseUrl, user: `keeper@${DOMAIN}`, password: 'demo', deviceId: 'CrashCheck', version: '14.1' });
    await c.provision();
    const fsr = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const inbox = childrenOf(child(fsr.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .find((a) => childText(a, 'FolderHierarchy:DisplayName') === 'Inbox')!;
    const inboxId = childText(inbox, 'FolderHierarchy:ServerId')!;
    const r0 = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inboxId)))));
    let key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
    const ids = new Set<string>();
    for (;;) {
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inboxId), A('WindowSize', 100)))));
      const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
      key = childText(col, 'AirSync:SyncKey')!;
      for (const a of childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add')) ids.add(childText(a, 'AirSync:ServerId')!);
      if (!child(col, 'AirSync:MoreAvailable')) break;
    }
    const stored = await adminMessages(server.baseUrl, TOKEN, `keeper@${DOMAIN}`);
    assert.equal(ids.size, stored.length);
    assert.ok(stored.length >= acked.size);
  });
});
