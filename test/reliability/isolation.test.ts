// Isolation: with his own credentials, bob names alice's folders, items (mail and a contact),
// attachments, LongIds, device and sync keys in every EAS command, calls the admin API without a
// token, with a wrong one and with EAS credentials, and asks Autodiscover for alice. Nothing of
// alice's mail, keys, devices or trace reaches him, and nothing of hers changes; every answer is a
// refusal or bob's own data. The server runs with --trace and unique passwords, so its log can be
// searched for leaks too.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServerProcess, PROJECT_ROOT, tempDir, type ServerProcess } from '../support/server-process.js';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { compose, sendRaw } from '../support/mail.js';
import { adminMessages } from '../support/org-fixture.js';
import { ns } from '../../eas/wbxml/ns.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const F = ns('FolderHierarchy');
const IO = ns('ItemOperations');
const S = ns('Search');
const M = ns('Move');
const C = ns('ComposeMail');
const G = ns('GetItemEstimate');
const P = ns('Ping');
const RR = ns('ResolveRecipients');

const TOKEN = 'isolation-admin-token-0123456789abcdef';
const ALICE_PW = 'alice-Pw-7f3a91c2';
const BOB_PW = 'bob-Pw-0d84e6b5';
const MARKER = `ALICE-PRIVATE-${crypto.randomBytes(6).toString('hex')}`;

/** The demo organisation with passwords no other text contains. */
function demoWithUniquePasswords(): string {
  const dir = path.join(tempDir('easmime-isolation-'), 'demo');
  fs.cpSync(path.join(PROJECT_ROOT, 'fixtures', 'demo'), dir, { recursive: true });
  const file = path.join(dir, 'organisation.json');
  const org = JSON.parse(fs.readFileSync(file, 'utf8')) as { users: Array<{ address: string; password: string }> };
  for (const u of org.users) u.password = u.address.startsWith('alice@') ? ALICE_PW : u.address.startsWith('bob@') ? BOB_PW : `${u.address}-pw-x9`;
  fs.writeFileSync(file, JSON.stringify(org, null, 1));
  return dir;
}

/** Byte strings that must never reach anyone but alice: her private keys' numbers and her PKCS#12 files. */
function aliceSecrets(): Array<{ what: string; bytes: Buffer }> {
  const keys = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki', 'keys');
  const out: Array<{ what: string; bytes: Buffer }> = [];
  for (const f of fs.readdirSync(keys).filter((n) => n.startsWith('alice-'))) {
    const jwk = crypto.createPrivateKey(fs.readFileSync(path.join(keys, f))).export({ format: 'jwk' });
    for (const part of ['d', 'p', 'q'] as const) {
      const b = Buffer.from(jwk[part]!, 'base64url');
      out.push({ what: `${f} ${part}`, bytes: b }, { what: `${f} ${part} (base64)`, bytes: Buffer.from(b.toString('base64').slice(0, 40)) });
    }
  }
  const users = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki', 'users');
  for (const f of fs.readdirSync(users).filter((n) => n.startsWith('alice-') && n.endsWith('.p12'))) {
    const b = fs.readFileSync(path.join(users, f));
    out.push({ what: f, bytes: b.subarray(0, 64) }, { what: `${f} (base64)`, bytes: Buffer.from(b.toString('base64').slice(0, 64)) });
  }
  return out;
}

interface Folders { byName: Map<string, string>; key: string }

async function folderSync(c: EasClient): Promise<Folders> {
  const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
  assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
  return {
    byName: new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!])),
    key: childText(r.body, 'FolderHierarchy:SyncKey')!,
  };
}

function collection(r: EasResponse): WbxmlElement | undefined {
  return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
}

describe('reliability: isolation between users', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let alice: EasClient;
  let bob: EasClient;
  let aliceFolders: Folders;
  let bobFolders: Folders;
  let aliceItem: string;
  let aliceFileRef: string;
  let aliceKey: string;
  let aliceOwnFolder: string;
  let aliceContact: string;
  /** Everything bob's requests brought back, searched at the end. */
  const seenByBob: Array<{ what: string; raw: Buffer }> = [];

  const asBob = async (what: string, command: string, body?: WbxmlElement, o: Parameters<EasClient['send']>[2] = {}): Promise<EasResponse> => {
    const r = await bob.send(command, body, o);
    seenByBob.push({ what, raw: r.raw });
    assert.notEqual(r.status, 500, `${what}: HTTP 500`);
    assert.ok(!r.raw.includes(MARKER), `${what}: alice's mail came back`);
    return r;
  };

  before(async () => {
    server = await startServerProcess({ fixtures: demoWithUniquePasswords(), env: { EASMIME_ADMIN_TOKEN: TOKEN }, extraArgs: ['--trace'] });
    alice = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: ALICE_PW, deviceId: 'AlicePhone', version: '14.1' });
    bob = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: BOB_PW, deviceId: 'BobPhone', version: '14.1' });
    await alice.provision();
    await bob.provision();
    aliceFolders = await folderSync(alice);
    bobFolders = await folderSync(bob);
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['alice@contoso.test'] }, await compose({
      from: 'erin@fabrikam.test', to: 'alice@contoso.test', subject: `${MARKER} subject`, text: `${MARKER} body\n`,
      attachments: [{ filename: 'secret.txt', content: `${MARKER} attachment\n` }],
    }));
    const inbox = aliceFolders.byName.get('Inbox')!;
    const r0 = await alice.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inbox)))));
    const r1 = await alice.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', childText(collection(r0), 'AirSync:SyncKey')!), A('CollectionId', inbox),
      A('WindowSize', 100), A('Options', B('BodyPreference', B('Type', 1)))))));
    aliceKey = childText(collection(r1), 'AirSync:SyncKey')!;
    const add = childrenOf(child(collection(r1), 'AirSync:Commands'), 'AirSync:Add')
      .find((a) => (childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject') ?? '').includes(MARKER))!;
    aliceItem = childText(add, 'AirSync:ServerId')!;
    aliceFileRef = childText(child(child(child(add, 'AirSync:ApplicationData'), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment'), 'AirSyncBase:FileReference')!;
    assert.ok(aliceItem && aliceFileRef, 'alice has a message with an attachment');
    // And a contact, its name carrying the marker too.
    const contacts = aliceFolders.byName.get('Contacts')!;
    const c0 = await alice.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', contacts)))));
    const c1 = await alice.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', childText(collection(c0), 'AirSync:SyncKey')!), A('CollectionId', contacts),
      A('Commands', A('Add', A('ClientId', 'iso-1'), A('ApplicationData', ns('Contacts')('FileAs', `${MARKER} contact`), ns('Contacts')('Email1Address', 'private@example.test'))))))));
    aliceContact = childText(child(child(collection(c1), 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:ServerId')!;
    assert.ok(aliceContact, 'alice has a contact');
    const made = await alice.send('FolderCreate', F('FolderCreate', F('SyncKey', aliceFolders.key), F('ParentId', '0'), F('DisplayName', `${MARKER} folder`), F('Type', 12)));
    aliceOwnFolder = childText(made.body, 'FolderHierarchy:ServerId')!;
    aliceFolders.key = childText(made.body, 'FolderHierarchy:SyncKey')!;
  });
  after(async () => { await server?.stop(); });

  it('EAS commands naming alice\'s folders, items, attachments and LongIds are refused and change nothing', async () => {
    const aInbox = aliceFolders.byName.get('Inbox')!;
    const bInbox = bobFolders.byName.get('Inbox')!;
    const aDeleted = aliceFolders.byName.get('Deleted Items')!;

    const s0 = await asBob('Sync of alice\'s Inbox', 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', aInbox)))));
    assert.notEqual(childText(collection(s0), 'AirSync:Status') ?? childText(s0.body, 'AirSync:Status'), '1', 'bob cannot start a view of alice\'s Inbox');

    // Bob's own Inbox, with alice's item named in Change, Delete and Fetch.
    const b0 = await asBob('Sync 0', 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', bInbox)))));
    let bKey = childText(collection(b0), 'AirSync:SyncKey')!;
    for (const cmd of [
      A('Change', A('ServerId', aliceItem), A('ApplicationData', ns('Email')('Read', 1))),
      A('Delete', A('ServerId', aliceItem)),
      A('Fetch', A('ServerId', aliceItem)),
    ]) {
      const r = await asBob(`Sync ${cmd.tag} of alice's item`, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', bKey), A('CollectionId', bInbox), A('Commands', cmd)))));
      const col = collection(r);
      if (childText(col, 'AirSync:SyncKey')) bKey = childText(col, 'AirSync:SyncKey')!;
      const resp = child(child(col, 'AirSync:Responses'), cmd.tag);
      if (resp) assert.notEqual(childText(resp, 'AirSync:Status'), '1', `${cmd.tag} of alice's item`);
    }

    for (const [what, fetch] of [
      ['ServerId', IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', aInbox), A('ServerId', aliceItem))],
      ['ServerId in bob\'s folder', IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', bInbox), A('ServerId', aliceItem))],
      ['FileReference', IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', aliceFileRef))],
      ['LongId', IO('Fetch', IO('Store', 'Mailbox'), S('LongId', aliceItem))],
    ] as const) {
      const r = await asBob(`ItemOperations Fetch by ${what}`, 'ItemOperations', IO('ItemOperations', fetch));
      const st = childText(child(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Status') ?? childText(r.body, 'ItemOperations:Status');
      assert.notEqual(st, '1', `Fetch by ${what}`);
    }
    // GetAttachment exists up to 12.1.
    const bob121 = new EasClient({ ...bob.opts, version: '12.1' });
    bob121.policyKey = bob.policyKey;
    const ga = await bob121.send('GetAttachment', undefined, { params: { AttachmentName: aliceFileRef } });
    seenByBob.push({ what: 'GetAttachment', raw: ga.raw });
    assert.ok(!ga.raw.includes(MARKER));
    // Those versions answer HTTP 500 for an attachment the user does not have; the reason says which.
    assert.equal(ga.status, 500);
    assert.match(ga.headers.get('x-easmime-reason') ?? '', /gone|no such/);

    const empty = await asBob('EmptyFolderContents', 'ItemOperations', IO('ItemOperations', IO('EmptyFolderContents', A('CollectionId', aInbox))));
    assert.notEqual(childText(child(child(empty.body, 'ItemOperations:Response'), 'ItemOperations:EmptyFolderContents'), 'ItemOperations:Status') ?? childText(empty.body, 'ItemOperations:Status'), '1');

    const mv = await asBob('MoveItems', 'MoveItems', M('MoveItems', M('Move', M('SrcMsgId', aliceItem), M('SrcFldId', aInbox), M('DstFldId', bInbox))));
    assert.notEqual(childText(child(mv.body, 'Move:Response'), 'Move:Status'), '3');
    const mv2 = await asBob('MoveItems into alice\'s folder', 'MoveItems', M('MoveItems', M('Move', M('SrcMsgId', aliceItem), M('SrcFldId', aInbox), M('DstFldId', aDeleted))));
    assert.notEqual(childText(child(mv2.body, 'Move:Response'), 'Move:Status'), '3');
    for (const answer of [1, 3]) {
      const mr = await asBob(`MeetingResponse ${answer} to alice's item`, 'MeetingResponse', ns('MeetingResponse')('MeetingResponse',
        ns('MeetingResponse')('Request', ns('MeetingResponse')('UserResponse', answer), ns('MeetingResponse')('CollectionId', aInbox), ns('MeetingResponse')('RequestId', aliceItem))));
      assert.equal(childText(child(mr.body, 'MeetingResponse:Result'), 'MeetingResponse:Status'), '2', 'not an invitation bob can answer');
    }

    for (const [command, source] of [
      ['SmartForward', C('Source', C('FolderId', aInbox), C('ItemId', aliceItem))],
      ['SmartReply', C('Source', C('FolderId', aInbox), C('ItemId', aliceItem))],
      ['SmartForward', C('Source', C('LongId', aliceItem))],
    ] as const) {
      const mime = `From: bob@contoso.test\r\nTo: bob@contoso.test\r\nSubject: forwarded\r\n\r\nsee below\r\n`;
      const r = await asBob(`${command} of alice's item`, command, C(command, C('ClientId', crypto.randomUUID()), source, C('SaveInSentItems'), C('Mime', mime)));
      assert.ok(r.status !== 200 || (childText(r.body, 'ComposeMail:Status') ?? '1') !== '1', `${command} refused`);
    }

    const fu = await asBob('FolderUpdate of alice\'s folder', 'FolderUpdate', F('FolderUpdate', F('SyncKey', bobFolders.key), F('ServerId', aliceOwnFolder), F('ParentId', '0'), F('DisplayName', 'taken')));
    assert.notEqual(childText(fu.body, 'FolderHierarchy:Status'), '1');
    const fd = await asBob('FolderDelete of alice\'s folder', 'FolderDelete', F('FolderDelete', F('SyncKey', bobFolders.key), F('ServerId', aliceOwnFolder)));
    assert.notEqual(childText(fd.body, 'FolderHierarchy:Status'), '1');

    const est = await asBob('GetItemEstimate', 'GetItemEstimate', G('GetItemEstimate', G('Collections', G('Collection', A('SyncKey', aliceKey), G('CollectionId', aInbox)))));
    assert.notEqual(childText(child(est.body, 'GetItemEstimate:Response'), 'GetItemEstimate:Status'), '1');

    const ping = bob.send('Ping', P('Ping', P('HeartbeatInterval', '60'), P('Folders', P('Folder', P('Id', aInbox), P('Class', 'Email')))), { policyKey: null });
    const answered = await Promise.race([ping, new Promise<'held'>((r) => setTimeout(() => r('held'), 5000))]);
    assert.notEqual(answered, 'held', 'a Ping on alice\'s folder is not held');
    seenByBob.push({ what: 'Ping', raw: (answered as EasResponse).raw });
    assert.equal(childText((answered as EasResponse).body, 'Ping:Status'), '7');

    const search = await asBob('Search', 'Search', S('Search', S('Store', S('Name', 'Mailbox'), S('Query', S('And', A('CollectionId', aInbox), S('FreeText', MARKER))), S('Options', S('Range', '0-9')))));
    assert.equal(childrenOf(child(search.body, 'Search:Response'), 'Search:Store').flatMap((s) => childrenOf(s, 'Search:Result')).filter((r) => child(r, 'Search:Properties')).length, 0);
    const search2 = await asBob('Search everywhere', 'Search', S('Search', S('Store', S('Name', 'Mailbox'), S('Query', S('And', S('FreeText', MARKER))), S('Options', S('Range', '0-9'), S('DeepTraversal')))));
    assert.equal(childrenOf(child(search2.body, 'Search:Response'), 'Search:Store').flatMap((s) => childrenOf(s, 'Search:Result')).filter((r) => child(r, 'Search:Properties')).length, 0);

    // Alice's side is untouched: her item is where it was, unread, her folder still named as she named it.
    const inboxNow = await adminMessages(server.baseUrl, TOKEN, 'alice@contoso.test');
    const mine = inboxNow.find((m) => m.subject.includes(MARKER));
    assert.ok(mine, 'alice\'s message is still in her Inbox');
    assert.equal(mine!.read, false);
    assert.equal(`${aInbox}:${mine!.id}`, aliceItem);
    const aliceView = await folderSync(alice);
    assert.ok(aliceView.byName.has(`${MARKER} folder`));
    const bobSent = await adminMessages(server.baseUrl, TOKEN, 'bob@contoso.test', 'Sent Items');
    assert.equal(bobSent.filter((m) => m.subject.includes(MARKER)).length, 0);
  });

  it('alice\'s contacts: bob cannot sync her folder, nor change, delete, fetch, move or forward her contact', async () => {
    const aContacts = aliceFolders.byName.get('Contacts')!;
    const bContacts = bobFolders.byName.get('Contacts')!;
    const s0 = await asBob('Sync of alice\'s Contacts', 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', aContacts)))));
    assert.notEqual(childText(collection(s0), 'AirSync:Status') ?? childText(s0.body, 'AirSync:Status'), '1');
    const b0 = await asBob('Sync 0 of bob\'s Contacts', 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', bContacts)))));
    let bKey = childText(collection(b0), 'AirSync:SyncKey')!;
    for (const cmd of [
      A('Change', A('ServerId', aliceContact), A('ApplicationData', ns('Contacts')('FileAs', 'taken'))),
      A('Delete', A('ServerId', aliceContact)),
      A('Fetch', A('ServerId', aliceContact)),
    ]) {
      const r = await asBob(`Sync ${cmd.tag} of alice's contact`, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', bKey), A('CollectionId', bContacts), A('GetChanges'), A('Commands', cmd)))));
      const col = collection(r);
      if (childText(col, 'AirSync:SyncKey')) bKey = childText(col, 'AirSync:SyncKey')!;
      assert.equal(childText(child(child(col, 'AirSync:Responses'), cmd.tag), 'AirSync:Status'), '8', `${cmd.tag} of alice's contact`);
    }
    for (const [what, fetch] of [
      ['ServerId', IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', aContacts), A('ServerId', aliceContact))],
      ['LongId', IO('Fetch', IO('Store', 'Mailbox'), S('LongId', aliceContact))],
    ] as const) {
      const r = await asBob(`ItemOperations Fetch of alice's contact by ${what}`, 'ItemOperations', IO('ItemOperations', fetch));
      assert.notEqual(childText(child(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Status'), '1', what);
    }
    const mv = await asBob('MoveItems of alice\'s contact', 'MoveItems', M('MoveItems', M('Move', M('SrcMsgId', aliceContact), M('SrcFldId', aContacts), M('DstFldId', bContacts))));
    assert.notEqual(childText(child(mv.body, 'Move:Response'), 'Move:Status'), '3');
    const mime = 'From: bob@contoso.test\r\nTo: bob@contoso.test\r\nSubject: fw\r\n\r\nsee below\r\n';
    const fw = await asBob('SmartForward of alice\'s contact', 'SmartForward', C('SmartForward', C('ClientId', crypto.randomUUID()), C('Source', C('FolderId', aContacts), C('ItemId', aliceContact)), C('SaveInSentItems'), C('Mime', mime)));
    assert.notEqual(childText(fw.body, 'ComposeMail:Status') ?? '1', '1');

    // alice's contact is as she left it.
    const other = new EasClient({ ...alice.opts, deviceId: 'AliceTablet' });
    await other.provision();
    const o0 = await other.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', aContacts)))));
    const o1 = await other.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', childText(collection(o0), 'AirSync:SyncKey')!), A('CollectionId', aContacts), A('GetChanges')))));
    const adds = childrenOf(child(collection(o1), 'AirSync:Commands'), 'AirSync:Add');
    assert.deepEqual(adds.map((a) => [childText(a, 'AirSync:ServerId'), childText(child(a, 'AirSync:ApplicationData'), 'Contacts:FileAs')]), [[aliceContact, `${MARKER} contact`]]);
  });

  it('another user\'s device id, sync key and User= parameter lead to bob\'s own data only', async () => {
    const aInbox = aliceFolders.byName.get('Inbox')!;
    const bInbox = bobFolders.byName.get('Inbox')!;
    const impostor = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: BOB_PW, deviceId: 'AlicePhone', version: '14.1' });
    const policyKey = await impostor.provision();
    assert.notEqual(policyKey, alice.policyKey, 'alice\'s device is not bob\'s');
    for (const folder of [aInbox, bInbox]) {
      const r = await impostor.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', aliceKey), A('CollectionId', folder)))));
      seenByBob.push({ what: 'Sync with alice\'s key', raw: r.raw });
      assert.ok(!r.raw.includes(MARKER));
      assert.notEqual(childText(collection(r), 'AirSync:Status') ?? childText(r.body, 'AirSync:Status'), '1', 'alice\'s sync key names nothing of bob\'s');
    }
    // Alice's own device goes on with her key, as if nothing happened.
    const again = await alice.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', aliceKey), A('CollectionId', aInbox)))));
    assert.equal(childText(collection(again), 'AirSync:Status'), '1');

    // Bob's credentials with User=alice: bob's hierarchy or a refusal, never alice's.
    const asAlice = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'unused', deviceId: 'BobPhone', version: '14.1' });
    asAlice.policyKey = bob.policyKey;
    const r = await asAlice.send('FolderSync', F('FolderSync', F('SyncKey', '0')), { headers: { Authorization: bob.authHeader() } });
    seenByBob.push({ what: 'FolderSync with User=alice', raw: r.raw });
    const names = childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add').map((a) => childText(a, 'FolderHierarchy:DisplayName'));
    assert.ok(!names.includes(`${MARKER} folder`));
    const ids = childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add').map((a) => childText(a, 'FolderHierarchy:ServerId'));
    assert.ok(!ids.includes(aInbox));

    // Wrong passwords never reach anyone's mailbox.
    const wrong = await new EasClient({ ...alice.opts, password: BOB_PW }).send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(wrong.status, 401);
  });

  it('certificates: the GAL hands out alice\'s public certificates, never her private keys', async () => {
    const rr = await asBob('ResolveRecipients', 'ResolveRecipients', RR('ResolveRecipients', RR('To', 'alice@contoso.test'), RR('Options', RR('CertificateRetrieval', 2))));
    assert.ok([200, 501].includes(rr.status));
    await asBob('ResolveRecipients mini', 'ResolveRecipients', RR('ResolveRecipients', RR('To', 'alice@contoso.test'), RR('Options', RR('CertificateRetrieval', 3))));
    await asBob('Search GAL', 'Search', S('Search', S('Store', S('Name', 'GAL'), S('Query', 'alice'), S('Options', S('Range', '0-9')))));
    const certs = await fetch(`${server.baseUrl}/admin/users/alice@contoso.test/certificates`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(certs.status, 200);
    seenByBob.push({ what: 'admin certificates (with the token)', raw: Buffer.from(await certs.arrayBuffer()) });
  });

  it('the admin API refuses every route without the token, with a wrong one and with EAS credentials', async () => {
    const aliceId = (await adminMessages(server.baseUrl, TOKEN, 'alice@contoso.test'))[0]!.id;
    const routes: Array<[string, string, string?]> = [
      ['GET', '/admin/users'], ['GET', '/admin/users/alice@contoso.test/devices'],
      ['POST', '/admin/users/alice@contoso.test/devices/AlicePhone/wipe'],
      ['GET', '/admin/users/alice@contoso.test/messages'], ['GET', `/admin/users/alice@contoso.test/messages/${aliceId}`],
      ['GET', `/admin/users/alice@contoso.test/messages/${aliceId}/verdict`],
      ['GET', '/admin/users/alice@contoso.test/certificates'], ['PUT', '/admin/users/alice@contoso.test/certificates/1/published', 'false'],
      ['GET', '/admin/trust'], ['POST', '/admin/trust/roots', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
      ['GET', '/admin/captured'], ['GET', '/admin/outbox'], ['POST', '/admin/outbox/retry'], ['DELETE', '/admin/outbox/1'],
    ];
    const wrongs: Array<Record<string, string>> = [
      {}, { Authorization: 'Bearer wrong-token-0123456789abcdef' }, { Authorization: `Bearer ${TOKEN}x` }, { Authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { Authorization: bob.authHeader() }, { Authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }, { Authorization: `Bearer ${BOB_PW}` },
    ];
    for (const [method, route, body] of routes) {
      for (const headers of wrongs) {
        const r = await fetch(`${server.baseUrl}${route}`, { method, headers, body });
        const raw = Buffer.from(await r.arrayBuffer());
        assert.equal(r.status, 401, `${method} ${route} with ${JSON.stringify(headers)}`);
        assert.ok(!raw.includes(MARKER) && !raw.includes('AlicePhone'), `${method} ${route}: nothing of alice's`);
        seenByBob.push({ what: `${method} ${route}`, raw });
      }
    }
    const devices = await (await fetch(`${server.baseUrl}/admin/users/alice@contoso.test/devices`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json() as Array<{ deviceId: string; wipeState: unknown }>;
    const phone = devices.find((d) => d.deviceId === 'AlicePhone')!;
    assert.ok(phone.wipeState === null || phone.wipeState === undefined || phone.wipeState === 'none', `no wipe was requested: ${String(phone.wipeState)}`);
  });

  it('Autodiscover answers with the signed-in user only', async () => {
    const body = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>alice@contoso.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>`;
    const url = `${server.baseUrl}/autodiscover/autodiscover.xml`;
    const asBobAd = await fetch(url, { method: 'POST', headers: { Authorization: bob.authHeader(), 'Content-Type': 'text/xml' }, body });
    const text = await asBobAd.text();
    seenByBob.push({ what: 'Autodiscover', raw: Buffer.from(text) });
    assert.equal(asBobAd.status, 200);
    assert.match(text, /<EMailAddress>bob@contoso\.test<\/EMailAddress>/);
    assert.ok(!text.includes('Alice Anders') && !text.includes('alice@contoso.test'), 'nothing of alice in bob\'s answer');
    for (const headers of [{}, { Authorization: `Basic ${Buffer.from(`alice@contoso.test:${BOB_PW}`).toString('base64')}` }] as Array<Record<string, string>>) {
      const r = await fetch(url, { method: 'POST', headers: { ...headers, 'Content-Type': 'text/xml' }, body });
      assert.equal(r.status, 401);
      assert.ok(!(await r.text()).includes('Alice Anders'));
    }
  });

  it('nothing bob received holds alice\'s keys; the trace keeps each user\'s requests to that user and never a password', async () => {
    const secrets = aliceSecrets();
    assert.ok(secrets.length > 6);
    for (const { what, raw } of seenByBob) {
      for (const s of secrets) assert.ok(!raw.includes(s.bytes), `${what} carries ${s.what}`);
      assert.ok(!raw.includes('PRIVATE KEY'), `${what} carries a PEM private key`);
    }
    // Every log line so far: the trace names the right user, and no credential was ever written.
    const creds = [ALICE_PW, BOB_PW, Buffer.from(`alice@contoso.test:${ALICE_PW}`).toString('base64'), Buffer.from(`bob@contoso.test:${BOB_PW}`).toString('base64')];
    const traces = server.logs.filter((l) => l.msg === 'trace');
    assert.ok(traces.length > 20, 'the server traced the requests');
    for (const line of server.logs) {
      const text = JSON.stringify(line);
      for (const c of creds) assert.ok(!text.includes(c), `a log line holds a credential: ${text.slice(0, 200)}`);
    }
    // Bob's requests name the marker (his Search does); the answers traced for him never hold it.
    for (const t of traces.filter((l) => l.user === 'bob@contoso.test')) {
      assert.ok(!JSON.stringify(t.response ?? '').includes(MARKER), `bob's trace holds alice's mail: ${String(t.command)}`);
    }
    assert.ok(traces.some((t) => t.user === 'alice@contoso.test' && JSON.stringify(t).includes(MARKER)), 'alice\'s own trace does hold her mail (the search above can find it)');
  });
});
