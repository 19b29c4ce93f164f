// Sync, GetItemEstimate, Provision details and remote wipe over real HTTP+WBXML, in every version.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');
const E = ns('Email');
const G = ns('GetItemEstimate');
const P = ns('Provision');

describe('end to end: Sync in depth', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  let deviceCounter = 0;
  async function device(user: string, version = '14.1'): Promise<{ c: EasClient; folders: Map<string, string> }> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `SyncDev${++deviceCounter}v${version.replace('.', '')}`, version });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return { c, folders };
  }

  async function sync(c: EasClient, collection: WbxmlElement[], extra: WbxmlElement[] = []): Promise<{ col: WbxmlElement; raw: Buffer; status: number }> {
    const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', collection)), extra));
    return { col: child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!, raw: r.raw, status: r.status };
  }

  async function primed(c: EasClient, folderId: string, className?: string): Promise<string> {
    const { col } = await sync(c, [className ? A('Class', className) : undefined!, A('SyncKey', '0'), A('CollectionId', folderId)].filter(Boolean));
    assert.equal(childText(col, 'AirSync:Status'), '1');
    return childText(col, 'AirSync:SyncKey')!;
  }

  /** Syncs until nothing more is available; returns the adds and the last key. */
  async function drain(c: EasClient, folderId: string, key: string, options?: WbxmlElement, windowSize = 100): Promise<{ adds: WbxmlElement[]; key: string; rounds: number }> {
    const adds: WbxmlElement[] = [];
    let rounds = 0;
    for (;;) {
      rounds++;
      const { col } = await sync(c, [A('SyncKey', key), A('CollectionId', folderId), A('WindowSize', windowSize), options!].filter(Boolean));
      assert.equal(childText(col, 'AirSync:Status'), '1');
      key = childText(col, 'AirSync:SyncKey')!;
      adds.push(...childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add'));
      if (!child(col, 'AirSync:MoreAvailable')) return { adds, key, rounds };
    }
  }

  const data = (add: WbxmlElement): WbxmlElement => child(add, 'AirSync:ApplicationData')!;

  it('answers every protocol version in its own form', async () => {
    for (const version of ['2.5', '12.0', '12.1', '14.0', '14.1', '16.0', '16.1']) {
      const { c, folders } = await device('carol@contoso.test', version);
      const inbox = folders.get('Inbox')!;
      const legacy = Number(version) < 14;
      const key = await primed(c, inbox, legacy ? 'Email' : undefined);
      const { col } = await sync(c, [legacy ? A('Class', 'Email') : undefined!, A('SyncKey', key), A('CollectionId', inbox),
        Number(version) < 12 ? A('Options', A('Truncation', 1)) : A('Options', B('BodyPreference', B('Type', 1)))].filter(Boolean));
      if (legacy) assert.equal(childText(col, 'AirSync:Class'), 'Email', `${version}: Class echoed`);
      else assert.equal(child(col, 'AirSync:Class'), undefined, `${version}: no Class`);
      const add = childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add')[0];
      assert.ok(add, `${version}: carol's welcome message`);
      const d = data(add);
      assert.equal(childText(d, 'Email:Subject'), 'Welcome to Contoso mail');
      if (version === '2.5') {
        assert.ok(childText(d, 'Email:Body')?.includes('your mailbox is ready'), '2.5 uses Email:Body');
        assert.equal(childText(d, 'Email:BodyTruncated'), '0');
        assert.equal(child(d, 'AirSyncBase:Body'), undefined);
        assert.equal(child(d, 'Email:Flag'), undefined);
      } else {
        assert.equal(childText(child(d, 'AirSyncBase:Body'), 'AirSyncBase:Type'), '1', version);
        assert.equal(child(d, 'Email:Body'), undefined);
        assert.ok(child(d, 'Email:Flag'), `${version}: Flag`);
        assert.equal(childText(d, 'Email:ContentClass'), 'urn:content-classes:message');
      }
      const conv = child(d, 'Email2:ConversationId');
      if (Number(version) >= 14) {
        assert.ok(conv?.opaque && conv.opaque.length === 16, `${version}: ConversationId is 16 opaque bytes`);
        assert.ok(child(d, 'Email2:ConversationIndex')?.opaque, version);
        assert.ok(child(d, 'Email:Categories'), version);
      } else {
        assert.equal(conv, undefined, `${version}: no Email2 before 14.0`);
      }
    }
  });

  it('Provision: 14.1 without DeviceInformation gets 165; a wrong acknowledged key gets Policy Status 5; 12.0 gets the 12.0 policy set', async () => {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'dave', password: 'demo', deviceId: 'ProvDev1', version: '14.1' });
    const r = await c.send('Provision', P('Provision', P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))), { policyKey: null });
    assert.equal(childText(r.body, 'Provision:Status'), '165');
    const first = await c.send('Provision', P('Provision', ns('Settings')('DeviceInformation', ns('Settings')('Set', ns('Settings')('Model', 'X'))),
      P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))), { policyKey: null });
    assert.equal(childText(child(first.body, 'Settings:DeviceInformation'), 'Settings:Status'), '1');
    const policy = child(child(first.body, 'Provision:Policies'), 'Provision:Policy')!;
    const doc = child(child(policy, 'Provision:Data'), 'Provision:EASProvisionDoc')!;
    for (const name of ['RequireSignedSMIMEMessages', 'RequireEncryptedSMIMEMessages', 'RequireSignedSMIMEAlgorithm', 'RequireEncryptionSMIMEAlgorithm', 'AllowSMIMEEncryptionAlgorithmNegotiation', 'AllowSMIMESoftCerts']) {
      assert.ok(child(doc, `Provision:${name}`), `policy carries ${name}`);
    }
    const temp = Number(childText(policy, 'Provision:PolicyKey'));
    assert.ok(temp > 0);
    const wrong = await c.send('Provision', P('Provision', P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML'), P('PolicyKey', temp + 1), P('Status', 1)))), { policyKey: temp + 1 });
    assert.equal(childText(child(child(wrong.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:Status'), '5');
    const unknownType = await c.send('Provision', P('Provision', ns('Settings')('DeviceInformation', ns('Settings')('Set', ns('Settings')('Model', 'X'))), P('Policies', P('Policy', P('PolicyType', 'MS-Other')))), { policyKey: null });
    assert.equal(childText(child(child(unknownType.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:Status'), '3');

    const c12 = new EasClient({ baseUrl: server.baseUrl, user: 'dave', password: 'demo', deviceId: 'ProvDev2', version: '12.0' });
    const r12 = await c12.send('Provision', P('Provision', P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))), { policyKey: null });
    const doc12 = child(child(child(child(r12.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:Data'), 'Provision:EASProvisionDoc')!;
    assert.ok(child(doc12, 'Provision:DevicePasswordEnabled'));
    assert.equal(child(doc12, 'Provision:AllowSMIMESoftCerts'), undefined, '12.0 does not know the 12.1 settings');
    const c25 = new EasClient({ baseUrl: server.baseUrl, user: 'dave', password: 'demo', deviceId: 'ProvDev3', version: '2.5' });
    await c25.provision();
    assert.ok(c25.policyKey);
  });

  it('remote wipe: requested through the admin API, signalled with 140, delivered in Provision, acknowledged', async () => {
    const { c } = await device('dave@contoso.test', '14.1');
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const noAuth = await fetch(`${server.baseUrl}/admin/users/dave/devices/${c.opts.deviceId}/wipe`, { method: 'POST' });
    assert.equal(noAuth.status, 401);
    const asUser = await fetch(`${server.baseUrl}/admin/users`, { headers: { Authorization: c.authHeader() } });
    assert.equal(asUser.status, 401, 'a user\'s Basic credentials do not open the admin API');
    const wipe = await fetch(`${server.baseUrl}/admin/users/dave/devices/${c.opts.deviceId}/wipe`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(wipe.status, 202);
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(childText(r.body, 'FolderHierarchy:Status'), '140');
    const p = await c.send('Provision', P('Provision'), { policyKey: null });
    assert.equal(childText(p.body, 'Provision:Status'), '1');
    assert.ok(child(p.body, 'Provision:RemoteWipe'), 'the Provision answer carries RemoteWipe');
    const ack = await c.send('Provision', P('Provision', P('RemoteWipe', P('Status', 1))), { policyKey: null });
    assert.equal(childText(ack.body, 'Provision:Status'), '1');
    const devices = await (await fetch(`${server.baseUrl}/admin/users/dave@contoso.test/devices`, { headers: { Authorization: `Bearer ${token}` } })).json() as Array<{ deviceId: string; wipeState: string }>;
    assert.equal(devices.find((d) => d.deviceId === c.opts.deviceId)?.wipeState, 'acknowledged');
  });

  it('body preferences: truncation, AllOrNone, Preview, HTML, MIME with MIMESupport 2 and MIMETruncation', async () => {
    const { c, folders } = await device('bob@contoso.test', '14.1');
    const inbox = folders.get('Inbox')!;
    const long = 'Ünïcode line that goes on. '.repeat(400);
    const raw = await compose({ from: 'erin@fabrikam.test', to: 'bob@contoso.test', subject: 'long body', text: long, html: `<p>${long}</p>` });
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, raw);
    const fetchWith = async (options: WbxmlElement): Promise<WbxmlElement> => {
      const key = await primed(c, inbox);
      const { adds } = await drain(c, inbox, key, options);
      const add = adds.find((a) => childText(data(a), 'Email:Subject') === 'long body');
      assert.ok(add);
      return data(add);
    };
    let d = await fetchWith(A('Options', A('FilterType', 1), B('BodyPreference', B('Type', 1), B('TruncationSize', 100), B('Preview', 40))));
    let body = child(d, 'AirSyncBase:Body')!;
    assert.equal(childText(body, 'AirSyncBase:Type'), '1');
    assert.equal(childText(body, 'AirSyncBase:Truncated'), '1');
    assert.ok(Buffer.byteLength(childText(body, 'AirSyncBase:Data')!, 'utf8') <= 100);
    assert.ok(Number(childText(body, 'AirSyncBase:EstimatedDataSize')) > 10_000);
    assert.equal(childText(body, 'AirSyncBase:Preview'), long.slice(0, 40));
    assert.equal(childText(d, 'AirSyncBase:NativeBodyType'), '2');

    d = await fetchWith(A('Options', A('FilterType', 1), B('BodyPreference', B('Type', 1), B('TruncationSize', 100), B('AllOrNone', 1))));
    body = child(d, 'AirSyncBase:Body')!;
    assert.equal(childText(body, 'AirSyncBase:Truncated'), '1');
    assert.equal(child(body, 'AirSyncBase:Data'), undefined, 'AllOrNone withholds a body that would be cut');

    d = await fetchWith(A('Options', A('FilterType', 1), B('BodyPreference', B('Type', 1)), B('BodyPreference', B('Type', 2))));
    body = child(d, 'AirSyncBase:Body')!;
    assert.equal(childText(body, 'AirSyncBase:Type'), '2');
    assert.ok(childText(body, 'AirSyncBase:Data')!.startsWith('<p>'));

    d = await fetchWith(A('Options', A('FilterType', 1), A('MIMESupport', 2), B('BodyPreference', B('Type', 4))));
    body = child(d, 'AirSyncBase:Body')!;
    assert.equal(childText(body, 'AirSyncBase:Type'), '4');
    assert.ok(Buffer.from(childText(body, 'AirSyncBase:Data')!, 'utf8').equals(raw), 'MIMESupport 2 sends every message as MIME, byte for byte');

    d = await fetchWith(A('Options', A('FilterType', 1), A('MIMESupport', 2), A('MIMETruncation', 1), B('BodyPreference', B('Type', 4))));
    body = child(d, 'AirSyncBase:Body')!;
    assert.equal(childText(body, 'AirSyncBase:Truncated'), '1');
    assert.equal(childText(body, 'AirSyncBase:Data')!.length, 4096);
    assert.equal(Number(childText(body, 'AirSyncBase:EstimatedDataSize')), raw.length);

    d = await fetchWith(A('Options', A('FilterType', 1), A('MIMESupport', 0), B('BodyPreference', B('Type', 1)), B('BodyPreference', B('Type', 4))));
    assert.equal(childText(child(d, 'AirSyncBase:Body'), 'AirSyncBase:Type'), '1', 'MIMESupport 0 keeps a plain message out of MIME');
  });

  it('WindowSize pages with MoreAvailable, FilterType hides older mail, GetItemEstimate counts what is pending', async () => {
    const { c, folders } = await device('carol@contoso.test', '14.1');
    const inbox = folders.get('Inbox')!;
    for (let i = 0; i < 5; i++) {
      await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['carol@contoso.test'] },
        await compose({ from: 'erin@fabrikam.test', to: 'carol@contoso.test', subject: `page ${i}`, text: `n ${i}` }));
    }
    const key = await primed(c, inbox);
    const estimate = async (k: string, filter = '1'): Promise<[string, string | undefined]> => {
      const r = await c.send('GetItemEstimate', G('GetItemEstimate', G('Collections', G('Collection',
        A('SyncKey', k), G('CollectionId', inbox), A('Options', A('FilterType', filter))))));
      const resp = child(r.body, 'GetItemEstimate:Response');
      return [childText(resp, 'GetItemEstimate:Status')!, childText(child(resp, 'GetItemEstimate:Collection'), 'GetItemEstimate:Estimate')];
    };
    assert.deepEqual(await estimate(key), ['1', '5'], 'FilterType 1 day: only the new mail counts');
    assert.equal((await estimate(key, '0'))[1], '6', 'no filter: the fixture welcome message too');
    assert.deepEqual(await estimate('0'), ['3', undefined]);
    assert.deepEqual(await estimate('{bad}1'), ['4', undefined]);
    const bad = await c.send('GetItemEstimate', G('GetItemEstimate', G('Collections', G('Collection', A('SyncKey', key), G('CollectionId', '99999')))));
    assert.equal(childText(child(bad.body, 'GetItemEstimate:Response'), 'GetItemEstimate:Status'), '2');

    const { adds, key: after, rounds } = await drain(c, inbox, key, A('Options', A('FilterType', 1)), 2);
    assert.equal(adds.length, 5);
    assert.equal(rounds, 3, '5 items in windows of 2');
    assert.deepEqual(adds.map((a) => childText(data(a), 'Email:Subject')), ['page 4', 'page 3', 'page 2', 'page 1', 'page 0']);
    assert.deepEqual(await estimate(after), ['1', '0']);
  });

  it('client Delete moves to Deleted Items (or deletes with DeletesAsMoves 0), Change sets Flag, bad values get Status 6, Fetch works', async () => {
    const { c, folders } = await device('dave@contoso.test', '16.1');
    const inbox = folders.get('Inbox')!;
    const trash = folders.get('Deleted Items')!;
    for (const s of ['to trash', 'to oblivion', 'to flag']) {
      await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['dave@contoso.test'] }, await compose({ from: 'erin@fabrikam.test', to: 'dave@contoso.test', subject: s, text: s }));
    }
    let { adds, key } = await drain(c, inbox, await primed(c, inbox));
    const id = (s: string): string => childText(adds.find((a) => childText(data(a), 'Email:Subject') === s), 'AirSync:ServerId')!;
    let { col } = await sync(c, [A('SyncKey', key), A('CollectionId', inbox), A('Commands', A('Delete', A('ServerId', id('to trash'))))]);
    assert.equal(childText(col, 'AirSync:Status'), '1');
    key = childText(col, 'AirSync:SyncKey')!;
    ({ col } = await sync(c, [A('SyncKey', key), A('CollectionId', inbox), A('DeletesAsMoves', 0), A('Commands', A('Delete', A('ServerId', id('to oblivion'))))]));
    key = childText(col, 'AirSync:SyncKey')!;
    const trashAdds = (await drain(c, trash, await primed(c, trash))).adds.map((a) => childText(data(a), 'Email:Subject'));
    assert.ok(trashAdds.includes('to trash'));
    assert.ok(!trashAdds.includes('to oblivion'));

    ({ col } = await sync(c, [A('SyncKey', key), A('CollectionId', inbox), A('Commands',
      A('Change', A('ServerId', id('to flag')), A('ApplicationData', E('Flag', E('Status', 2), E('FlagType', 'for Follow Up')))),
      A('Change', A('ServerId', id('to flag')), A('ApplicationData', E('Read', 'maybe'))),
      A('Change', A('ServerId', `${inbox}:999999`), A('ApplicationData', E('Read', 1))),
      A('Delete', A('ServerId', id('to trash'))),
      A('Fetch', A('ServerId', id('to flag'))))]));
    const responses = child(col, 'AirSync:Responses')!;
    const statusOf = (tag: string, serverId: string): string | undefined => childText(childrenOf(responses, tag).find((r) => childText(r, 'AirSync:ServerId') === serverId), 'AirSync:Status');
    assert.equal(statusOf('AirSync:Change', id('to flag')), '6', 'a non-boolean Read is a conversion error');
    assert.equal(statusOf('AirSync:Change', `${inbox}:999999`), '8');
    assert.equal(statusOf('AirSync:Delete', id('to trash')), '8', 'the item already left the folder');
    const fetched = childrenOf(responses, 'AirSync:Fetch')[0]!;
    assert.equal(childText(fetched, 'AirSync:Status'), '1');
    assert.equal(childText(child(child(fetched, 'AirSync:ApplicationData'), 'Email:Flag'), 'Email:Status'), '2', 'the flag change was applied');

    // A second device sees the flag.
    const other = await device('dave@contoso.test', '14.1');
    const seen = (await drain(other.c, inbox, await primed(other.c, inbox))).adds.find((a) => childText(a, 'AirSync:ServerId') === id('to flag'))!;
    assert.equal(childText(child(data(seen), 'Email:Flag'), 'Email:FlagType'), 'for Follow Up');
  });

  it('a Sync with HeartbeatInterval is held until mail arrives; an empty Sync repeats the last request', async () => {
    const { c, folders } = await device('alice@contoso.test', '14.1');
    const inbox = folders.get('Inbox')!;
    const { key } = await drain(c, inbox, await primed(c, inbox), A('Options', A('FilterType', 1)));
    const tooShort = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox))), A('HeartbeatInterval', 5)));
    assert.equal(childText(tooShort.body, 'AirSync:Status'), '14');
    assert.equal(childText(tooShort.body, 'AirSync:Limit'), '60');
    const held = c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox), A('Options', A('FilterType', 1)))), A('HeartbeatInterval', 120)));
    await new Promise((r) => setTimeout(r, 300));
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['alice@contoso.test'] }, await compose({ from: 'erin@fabrikam.test', to: 'alice@contoso.test', subject: 'wake up', text: 'now' }));
    const r = await held;
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    assert.equal(childText(data(childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add')[0]!), 'Email:Subject'), 'wake up');

    const empty = await c.send('Sync', undefined);
    assert.equal(empty.status, 200);
    // The cached request names the key before the held answer, so it is answered as a retry: the same item again.
    const again = child(child(empty.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    assert.equal(childText(again, 'AirSync:Status'), '1');
    assert.equal(childText(again, 'AirSync:SyncKey'), childText(col, 'AirSync:SyncKey'));
    assert.equal(childText(data(childrenOf(child(again, 'AirSync:Commands'), 'AirSync:Add')[0]!), 'Email:Subject'), 'wake up');
    const fresh = new EasClient({ ...c.opts, deviceId: 'EmptySync1' });
    await fresh.provision();
    assert.equal(childText((await fresh.send('Sync', undefined)).body, 'AirSync:Status'), '13', 'no cached request yet');
  });
});
