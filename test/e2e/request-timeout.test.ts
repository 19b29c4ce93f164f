// --request-timeout-ms bounds how long a client may take to send a request (a body dripped byte by
// byte gets 408 and the connection is closed), and never cuts a held Ping, which answers long after
// its request arrived. The server runs with a 1.5 s limit so both show within a few seconds.
import { strict as assert } from 'node:assert';
import net from 'node:net';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const P = ns('Ping');
const LIMIT_MS = 1500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('end to end: --request-timeout-ms', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess({ extraArgs: ['--request-timeout-ms', String(LIMIT_MS)] }); });
  after(async () => { await server?.stop(); });

  it('a body dripped slower than the limit gets 408 and the connection is closed; the server goes on', async () => {
    const auth = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'DripDev1', version: '14.1' }).authHeader();
    const port = Number(new URL(server.baseUrl).port);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
    socket.write([
      'POST /Microsoft-Server-ActiveSync?Cmd=FolderSync&User=bob&DeviceId=DripDev1&DeviceType=Test HTTP/1.1', 'Host: 127.0.0.1',
      `Authorization: ${auth}`, 'MS-ASProtocolVersion: 14.1', 'Content-Type: application/vnd.ms-sync.wbxml', 'Content-Length: 1000', '', '',
    ].join('\r\n'));
    let answer = '';
    socket.on('data', (c: Buffer) => { answer += c.toString('latin1'); });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // One byte every 100 ms: 1,000 bytes would take 100 s.
    const drip = setInterval(() => { if (!socket.destroyed) socket.write('\x03'); }, 100);
    const started = Date.now();
    const gaveUp = setTimeout(() => socket.destroy(), 45_000);
    try {
      await closed;
    } finally {
      clearInterval(drip);
      clearTimeout(gaveUp);
    }
    assert.match(answer, /^HTTP\/1\.1 408 /, `answered: ${answer.slice(0, 80) || '(nothing)'}`);
    assert.ok(Date.now() - started < 40_000, 'closed by the server, not by the test giving up');

    const r = await new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'AfterDrip1', version: '14.1' })
      .send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(r.status, 200);
  });

  it('a held Ping is not cut by the limit: it answers Status 2 when mail arrives after twice the limit', async () => {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'demo', deviceId: 'HeldPing1', version: '14.1' });
    await c.provision();
    const fs = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const inbox = childrenOf(child(fs.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .find((a) => childText(a, 'FolderHierarchy:DisplayName') === 'Inbox');
    const inboxId = childText(inbox, 'FolderHierarchy:ServerId')!;
    // Sync to the end, so that only new mail counts as a change.
    const syncFrom = async (key: string): Promise<{ key: string; more: boolean }> => {
      const s = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inboxId), key !== '0' && A('WindowSize', '512')))));
      const col = child(child(s.body, 'AirSync:Collections'), 'AirSync:Collection');
      assert.equal(childText(col, 'AirSync:Status'), '1');
      return { key: childText(col, 'AirSync:SyncKey')!, more: child(col, 'AirSync:MoreAvailable') !== undefined };
    };
    let view = await syncFrom('0');
    do view = await syncFrom(view.key); while (view.more);

    let settled = false;
    const held = c.send('Ping', P('Ping', P('HeartbeatInterval', '300'), P('Folders', P('Folder', P('Id', inboxId), P('Class', 'Email')))))
      .finally(() => { settled = true; });
    await sleep(2 * LIMIT_MS + 500);
    assert.equal(settled, false, 'still held after twice the request limit');
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['alice@contoso.test'] },
      await compose({ from: 'erin@fabrikam.test', to: 'alice@contoso.test', subject: 'wakes the held Ping', text: 'hello' }));
    const r = await held;
    assert.equal(r.status, 200);
    assert.equal(childText(r.body, 'Ping:Status'), '2');
  });
});
