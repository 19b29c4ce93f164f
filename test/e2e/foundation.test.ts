// The first whole path: SMTP in, EAS out, across a restart, through real HTTP+WBXML and real SMTP.
import { strict as assert } from 'node:assert';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { compose, makeSigner, sendRaw, signClear } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');

async function folderSync(c: EasClient, key = '0'): Promise<WbxmlElement> {
  const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', key)));
  assert.equal(r.status, 200);
  assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
  return r.body!;
}

function inboxId(fs: WbxmlElement): string {
  const adds = childrenOf(child(fs, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add');
  const inbox = adds.find((a) => childText(a, 'FolderHierarchy:Type') === '2');
  assert.ok(inbox, 'FolderSync lists an Inbox');
  return childText(inbox, 'FolderHierarchy:ServerId')!;
}

async function syncOnce(c: EasClient, collectionId: string, key: string, extra: WbxmlElement[] = [], options?: WbxmlElement): Promise<WbxmlElement> {
  const r = await c.send('Sync', A('Sync', A('Collections', A('Collection',
    A('SyncKey', key), A('CollectionId', collectionId), key !== '0' && A('GetChanges', 1), key !== '0' && A('WindowSize', 100),
    options, extra.length > 0 && A('Commands', extra)))));
  assert.equal(r.status, 200, `Sync answered HTTP ${r.status}`);
  const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
  assert.ok(col, 'Sync response has a Collection');
  return col;
}

const mimeOptions = A('Options', A('MIMESupport', 1), B('BodyPreference', B('Type', 4)), B('BodyPreference', B('Type', 1)));

describe('end to end: SMTP in, EAS out, across a restart', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  const data = tempDir();

  after(async () => { await server?.stop(); });

  it('provisions, syncs, delivers plain and signed mail byte-exact, and keeps read state across a restart', async () => {
    server = await startServerProcess({ data });
    const alice = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'demo', deviceId: 'AliceiPhone01', deviceType: 'iPhone', version: '14.1' });
    await alice.provision();
    assert.ok(alice.policyKey && alice.policyKey > 0);

    const hierarchy = await folderSync(alice);
    const types = childrenOf(child(hierarchy, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add').map((a) => [childText(a, 'FolderHierarchy:DisplayName'), childText(a, 'FolderHierarchy:Type')]);
    for (const [name, type] of [['Inbox', '2'], ['Drafts', '3'], ['Deleted Items', '4'], ['Sent Items', '5'], ['Outbox', '6'], ['Junk Email', '12'], ['Contacts', '9'], ['Calendar', '8'], ['Tasks', '7'], ['Notes', '10']]) {
      assert.ok(types.some(([n, t]) => n === name && t === type), `folder ${name} of type ${type} in ${JSON.stringify(types)}`);
    }
    const inbox = inboxId(hierarchy);

    let col = await syncOnce(alice, inbox, '0');
    assert.equal(childText(col, 'AirSync:Status'), '1');
    let key = childText(col, 'AirSync:SyncKey')!;
    col = await syncOnce(alice, inbox, key, [], mimeOptions);
    key = childText(col, 'AirSync:SyncKey')!;
    const before = childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add').length;

    const plain = await compose({ from: 'erin@fabrikam.test', to: 'alice@contoso.test', subject: 'plain hello', text: 'Just text.\r\n.leading dot line\r\n' });
    const signer = makeSigner('bob@contoso.test');
    const signed = signClear({ signer, from: 'bob@contoso.test', to: 'alice@contoso.test', subject: 'signed hello', text: 'Signed text.' });
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['alice@contoso.test'] }, plain);
    await sendRaw(server.smtpPort, { from: 'bob@contoso.test', to: ['alice@contoso.test'] }, signed);

    col = await syncOnce(alice, inbox, key, [], mimeOptions);
    key = childText(col, 'AirSync:SyncKey')!;
    const adds = childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add');
    assert.equal(adds.length, 2, `two new messages (had ${before} before)`);
    const bySubject = new Map(adds.map((a) => [childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject'), a]));
    const plainAdd = bySubject.get('plain hello');
    const signedAdd = bySubject.get('signed hello');
    assert.ok(plainAdd && signedAdd);
    const plainData = child(plainAdd, 'AirSync:ApplicationData')!;
    const signedData = child(signedAdd, 'AirSync:ApplicationData')!;
    assert.equal(childText(plainData, 'Email:MessageClass'), 'IPM.Note');
    assert.equal(childText(signedData, 'Email:MessageClass'), 'IPM.Note.SMIME.MultipartSigned');
    // MIMESupport 1: only the S/MIME message comes as MIME.
    assert.equal(childText(child(plainData, 'AirSyncBase:Body'), 'AirSyncBase:Type'), '1');
    const body = child(signedData, 'AirSyncBase:Body')!;
    assert.equal(childText(body, 'AirSyncBase:Type'), '4');
    assert.equal(childText(body, 'AirSyncBase:Truncated'), '0');
    assert.equal(Number(childText(body, 'AirSyncBase:EstimatedDataSize')), signed.length);
    assert.ok(Buffer.from(childText(body, 'AirSyncBase:Data')!, 'utf8').equals(signed), 'the MIME body is byte-identical to what was sent');
    assert.equal(childText(plainData, 'Email:Read'), '0');

    // Mark the plain one read from this device.
    const plainId = childText(plainAdd, 'AirSync:ServerId')!;
    col = await syncOnce(alice, inbox, key, [A('Change', A('ServerId', plainId), A('ApplicationData', ns('Email')('Read', 1)))]);
    assert.equal(childText(col, 'AirSync:Status'), '1');
    assert.equal(child(col, 'AirSync:Responses'), undefined, 'a successful change has no response entry');
    assert.equal(child(col, 'AirSync:Commands'), undefined, 'the device\'s own change is not echoed back');
    key = childText(col, 'AirSync:SyncKey')!;

    assert.equal(await server.stop(), 0, 'the server exits cleanly on SIGTERM');
    server = await startServerProcess({ data });
    assert.ok(server.logs.some((l) => String(l.msg).startsWith('reopened data folder')), 'the data folder is reopened, not re-initialised');

    const phone2 = new EasClient({ baseUrl: server.baseUrl, user: 'alice', password: 'demo', deviceId: 'AliceAndroid02', deviceType: 'Android', version: '16.1' });
    await phone2.provision();
    const inbox2 = inboxId(await folderSync(phone2));
    assert.equal(inbox2, inbox);
    col = await syncOnce(phone2, inbox2, '0');
    col = await syncOnce(phone2, inbox2, childText(col, 'AirSync:SyncKey')!, [], A('Options', B('BodyPreference', B('Type', 1))));
    const adds2 = childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add');
    const seen = adds2.find((a) => childText(a, 'AirSync:ServerId') === plainId);
    assert.ok(seen, 'the second device receives the message');
    assert.equal(childText(child(seen, 'AirSync:ApplicationData'), 'Email:Read'), '1', 'read state survived the restart and reached the second device');
    const signed2 = adds2.find((a) => childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject') === 'signed hello');
    assert.equal(childText(child(signed2, 'AirSync:ApplicationData'), 'Email:Read'), '0');

    // The first device's key survived the restart; its own change is not sent back to it.
    const aliceAgain = new EasClient({ ...alice.opts, baseUrl: server.baseUrl });
    aliceAgain.policyKey = alice.policyKey;
    const again = await syncOnce(aliceAgain, inbox, key);
    assert.equal(childText(again, 'AirSync:Status'), '1');
    assert.equal(child(again, 'AirSync:Commands'), undefined);
  });
});
