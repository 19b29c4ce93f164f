// Each bad request gets its precise answer, in the form of the client's protocol version.
import { strict as assert } from 'node:assert';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { child, childText } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';
import { encodeBase64Query } from '../../eas/http/query.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');

describe('end to end: protocol errors', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  const client = (version: string, deviceId: string, user = 'bob@contoso.test', password = 'demo'): EasClient =>
    new EasClient({ baseUrl: server.baseUrl, user, password, deviceId, version });

  it('OPTIONS advertises versions and commands, and needs credentials', async () => {
    const anon = await fetch(`${server.baseUrl}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS' });
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const c = client('14.1', 'OptDev1');
    const r = await c.options();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('ms-asprotocolversions'), '2.5,12.0,12.1,14.0,14.1,16.0,16.1');
    const commands = (r.headers.get('ms-asprotocolcommands') ?? '').split(',');
    for (const cmd of ['Sync', 'FolderSync', 'Provision', 'GetItemEstimate', 'Ping', 'SendMail']) assert.ok(commands.includes(cmd), cmd);
  });

  it('a wrong password or unknown user gets 401 with a Basic challenge', async () => {
    for (const [user, password] of [['bob@contoso.test', 'wrong'], ['nobody@contoso.test', 'demo'], ['bob', '']]) {
      const r = await client('14.1', 'AuthDev1', user, password).send('FolderSync', F('FolderSync', F('SyncKey', '0')));
      assert.equal(r.status, 401, `${user}/${password}`);
      assert.match(r.headers.get('www-authenticate') ?? '', /Basic/);
    }
    const none = await fetch(`${server.baseUrl}/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=bob&DeviceId=X1&DeviceType=T`, { method: 'POST', headers: { 'MS-ASProtocolVersion': '14.1' } });
    assert.equal(none.status, 401);
  });

  it('signs in with the local part as well as the full address', async () => {
    const c = client('14.1', 'LocalPart1', 'bob', 'demo');
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
  });

  it('an unprovisioned device gets HTTP 449 up to 12.1', async () => {
    for (const v of ['2.5', '12.0', '12.1']) {
      const c = client(v, `Unprov${v.replace('.', '')}`);
      const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
      assert.equal(r.status, 449, `version ${v}`);
      assert.equal(r.raw.length, 0);
    }
  });

  it('an unprovisioned device gets Status 142, a stale key 144, from 14.0', async () => {
    for (const v of ['14.0', '14.1', '16.0', '16.1']) {
      const c = client(v, `Unprov${v.replace('.', '')}`);
      const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
      assert.equal(r.status, 200);
      assert.equal(r.body?.tag, 'FolderHierarchy:FolderSync');
      assert.equal(childText(r.body, 'FolderHierarchy:Status'), '142', `version ${v}`);
      const key = await c.provision();
      const stale = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')), { policyKey: (key % 1000) + 1 });
      assert.equal(childText(stale.body, 'FolderHierarchy:Status'), '144', `version ${v}`);
      const ok = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
      assert.equal(childText(ok.body, 'FolderHierarchy:Status'), '1');
    }
  });

  it('the base64 query form carries the policy key, and 449/142 apply to it too', async () => {
    const c = client('14.1', 'B64Dev01');
    const gate = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')), { base64: true, policyKey: null });
    assert.equal(childText(gate.body, 'FolderHierarchy:Status'), '142');
    await c.provision();
    const ok = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')), { base64: true });
    assert.equal(ok.status, 200);
    assert.equal(childText(ok.body, 'FolderHierarchy:Status'), '1');
    const c12 = client('12.1', 'B64Dev02');
    const gate12 = await c12.send('FolderSync', F('FolderSync', F('SyncKey', '0')), { base64: true, policyKey: null });
    assert.equal(gate12.status, 449);
  });

  it('a bad base64 query gets 400 with the reason', async () => {
    const c = client('14.1', 'BadQ1');
    const cases: Array<[string, RegExp]> = [
      ['!!!notbase64', /neither a plain query/],
      [Buffer.from([141, 9, 9]).toString('base64'), /ends inside the locale/],
      [Buffer.from([99, 9, 9, 4, 1, 65, 0, 1, 84]).toString('base64'), /protocol version byte 99/],
      [Buffer.from([141, 77, 9, 4, 1, 65, 0, 1, 84]).toString('base64'), /unknown command code 77/],
      [Buffer.from([141, 9, 9, 4, 0, 0, 1, 84]).toString('base64'), /empty device id/],
      [Buffer.from([141, 9, 9, 4, 1, 65, 3, 1, 2, 3, 1, 84]).toString('base64'), /policy key of 3 bytes/],
      ['Cmd=Sync&DeviceType=x', /DeviceId is missing/],
      ['Cmd=Sync&DeviceId=has-dash&DeviceType=x', /DeviceId must be/],
    ];
    for (const [q, reason] of cases) {
      const r = await c.send('Sync', undefined, { rawQuery: q });
      assert.equal(r.status, 400, q);
      assert.match(r.raw.toString(), reason, q);
    }
    // A well-formed query still round-trips after the failures.
    assert.equal((await c.send('FolderSync', undefined, { rawQuery: encodeBase64Query({ version: '14.1', command: 'FolderSync', deviceId: 'BadQ1', deviceType: 'T' }) })).status, 200);
  });

  it('malformed WBXML gets Status 102 from 14.0 and HTTP 400 before', async () => {
    const c14 = client('14.1', 'Wbxml14');
    await c14.provision();
    const garbage = [Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, 0x30]), Buffer.from('not wbxml at all'), Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x63, 0x45])];
    for (const g of garbage) {
      const r = await c14.send('FolderSync', g);
      assert.equal(r.status, 200);
      assert.equal(r.body?.tag, 'FolderHierarchy:FolderSync');
      assert.equal(childText(r.body, 'FolderHierarchy:Status'), '102');
      assert.ok(r.headers.get('x-easmime-reason')?.startsWith('malformed WBXML'));
    }
    const c12 = client('12.1', 'Wbxml12');
    await c12.provision();
    const r = await c12.send('FolderSync', garbage[0]!);
    assert.equal(r.status, 400);
  });

  it('an unknown SyncKey gets Status 3; FolderSync gets 9', async () => {
    const c = client('14.1', 'KeyDev01');
    await c.provision();
    const fs = await c.send('FolderSync', F('FolderSync', F('SyncKey', '{nope}7')));
    assert.equal(childText(fs.body, 'FolderHierarchy:Status'), '9');
    const h = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const inbox = child(h.body, 'FolderHierarchy:Changes')!.children.find((a) => childText(a, 'FolderHierarchy:Type') === '2');
    const id = childText(inbox, 'FolderHierarchy:ServerId')!;
    const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '{00000000-0000-0000-0000-000000000000}5'), A('CollectionId', id)))));
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
    assert.equal(childText(col, 'AirSync:Status'), '3');
  });

  it('a retried SyncKey gets the same answer again', async () => {
    const c = client('14.1', 'RetryDev1', 'alice@contoso.test');
    await c.provision();
    const h = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const inbox = child(h.body, 'FolderHierarchy:Changes')!.children.find((a) => childText(a, 'FolderHierarchy:Type') === '2');
    const id = childText(inbox, 'FolderHierarchy:ServerId')!;
    const first = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', id)))));
    const key1 = childText(child(child(first.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
    const req = A('Sync', A('Collections', A('Collection', A('SyncKey', key1), A('CollectionId', id), A('WindowSize', 5))));
    const a = await c.send('Sync', req);
    const b = await c.send('Sync', req);
    assert.equal(a.status, 200);
    const colA = child(child(a.body, 'AirSync:Collections'), 'AirSync:Collection');
    assert.equal(childText(colA, 'AirSync:Status'), '1');
    assert.ok(child(colA, 'AirSync:Commands'), 'the demo Inbox has mail to send');
    assert.ok(a.raw.equals(b.raw), 'the retried request is answered byte for byte as before');
    // The new key works, and the old one still answers as the previous view.
    const key2 = childText(colA, 'AirSync:SyncKey')!;
    assert.notEqual(key2, key1);
    const next = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key2), A('CollectionId', id)))));
    assert.equal(childText(child(child(next.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Status'), '1');
  });

  it('a command that a version does not have is refused precisely', async () => {
    const c = client('14.1', 'VerDev01');
    await c.provision();
    const r = await c.send('GetAttachment', undefined, { params: { AttachmentName: '1:1:0' } });
    // GetAttachment has no WBXML form, so the refusal is HTTP 400 with the reason.
    assert.equal(r.status, 400);
    assert.match(r.headers.get('x-easmime-reason') ?? '', /GetAttachment does not exist in protocol version 14\.1/);
    const bad = await fetch(`${server.baseUrl}/Microsoft-Server-ActiveSync?Cmd=Sync&User=bob&DeviceId=V1&DeviceType=T`, { method: 'POST', headers: { Authorization: c.authHeader(), 'MS-ASProtocolVersion': '13.0' } });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /13\.0 is not supported/);
  });
});
