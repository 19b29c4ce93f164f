// SendMail, SmartReply and SmartForward over real HTTP+WBXML (14.0+) and real message/rfc822 bodies
// (2.5, 12.1), with messages composed by nodemailer: local delivery seen by the recipient's device,
// external copies in the capture store or at a smarthost (an smtp-server started here), Sent Items,
// the quoted original, S/MIME left intact, authenticated SMTP as submission, and every failure status.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { PROJECT_ROOT, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { makeSigner, sendRaw, signClear } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const CM = ns('ComposeMail');
const S = ns('Search');
const MAX_MESSAGE_BYTES = 256 * 1024;

type Att = { filename: string; content: Buffer };
/** A message as a device would submit it: nodemailer builds it, Bcc kept in the header as devices send it. */
async function compose(o: { from?: string; to?: string; cc?: string; bcc?: string; subject: string; text: string; attachments?: Att[] }): Promise<Buffer> {
  const node = new MailComposer({ ...o, date: new Date() }).compile();
  (node as unknown as { keepBcc: boolean }).keepBcc = true;
  return node.build();
}

/** An S/MIME enveloped message made by openssl, to a certificate of the demo organisation. */
function encrypted(opts: { from: string; to: string; subject: string; text: string; cert: string }): Buffer {
  const dir = tempDir('easmime-enc-');
  const inner = path.join(dir, 'inner.txt');
  fs.writeFileSync(inner, `Content-Type: text/plain; charset=utf-8\r\n\r\n${opts.text}\r\n`);
  const out = execFileSync('openssl', ['smime', '-encrypt', '-aes256', '-in', inner, '-from', opts.from, '-to', opts.to, '-subject', opts.subject, opts.cert], { stdio: ['ignore', 'pipe', 'pipe'] });
  return Buffer.from(out.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

interface Device { c: EasClient; folders: Map<string, string>; version: string; keys: Map<string, string> }
const legacy = (d: Device): boolean => Number(d.version) < 14;

let counter = 0;
async function device(server: ServerProcess, user: string, version: string): Promise<Device> {
  const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `Cmp${++counter}v${version.replace('.', '')}`, version });
  await c.provision();
  const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
  assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
  const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
    .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
  return { c, folders, version, keys: new Map() };
}

/** Everything new in a folder since the last pull on this device (the first pull takes what is there). */
async function pull(d: Device, folder: string): Promise<WbxmlElement[]> {
  const folderId = d.folders.get(folder)!;
  const sync = async (key: string): Promise<WbxmlElement> => {
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection',
      legacy(d) && A('Class', 'Email'), A('SyncKey', key), A('CollectionId', folderId), key !== '0' && A('WindowSize', 100)))));
    assert.equal(r.status, 200);
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    assert.equal(childText(col, 'AirSync:Status'), '1');
    return col;
  };
  let key = d.keys.get(folder);
  if (key === undefined) key = childText(await sync('0'), 'AirSync:SyncKey')!;
  const adds: WbxmlElement[] = [];
  for (let round = 0; round < 20; round++) {
    const col = await sync(key);
    key = childText(col, 'AirSync:SyncKey')!;
    adds.push(...childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add'));
    if (!child(col, 'AirSync:MoreAvailable')) break;
  }
  d.keys.set(folder, key);
  return adds;
}

const data = (add: WbxmlElement): WbxmlElement => child(add, 'AirSync:ApplicationData')!;
const subjectOf = (add: WbxmlElement): string | undefined => childText(data(add), 'Email:Subject');
const withSubject = (adds: WbxmlElement[], subject: string): WbxmlElement[] => adds.filter((a) => subjectOf(a) === subject);

interface Submit { clientId?: string; save?: boolean; replaceMime?: boolean; source?: { folderId?: string; itemId?: string; longId?: string; instanceId?: string }; extra?: WbxmlElement[] }

/** One submission in the device's own form: ComposeMail WBXML for 14.0+, the MIME and query parameters before. */
async function submit(d: Device, command: 'SendMail' | 'SmartReply' | 'SmartForward', mime: Buffer, o: Submit = {}): Promise<EasResponse> {
  if (legacy(d)) {
    const params: Record<string, string> = {};
    if (o.save) params.SaveInSent = 'T';
    if (o.source?.itemId) params.ItemId = o.source.itemId;
    if (o.source?.folderId) params.CollectionId = o.source.folderId;
    if (o.source?.longId) params.LongId = o.source.longId;
    if (o.source?.instanceId) params.Occurrence = o.source.instanceId;
    return d.c.send(command, mime, { params, contentType: 'message/rfc822', base64: d.version === '12.1' });
  }
  const src = o.source;
  return d.c.send(command, CM(command,
    CM('ClientId', o.clientId ?? crypto.randomUUID()),
    src && CM('Source', src.folderId !== undefined && CM('FolderId', src.folderId), src.itemId !== undefined && CM('ItemId', src.itemId),
      src.longId !== undefined && CM('LongId', src.longId), src.instanceId !== undefined && CM('InstanceId', src.instanceId)),
    o.save && CM('SaveInSentItems'), o.replaceMime && CM('ReplaceMime'), ...(o.extra ?? []), CM('Mime', mime)));
}

/** A failure in the device's form: 14.0+ the Status in the command's own element; older, the HTTP code. */
function assertFailed(d: Device, r: EasResponse, command: string, status: number, http: number): void {
  assert.ok(r.headers.get('x-easmime-reason'), 'the reason is in X-EasMime-Reason');
  if (legacy(d)) {
    assert.equal(r.status, http, `${command}: HTTP ${http} expected, got ${r.status} (${r.headers.get('x-easmime-reason')})`);
    return;
  }
  assert.equal(r.status, 200);
  assert.equal(r.body?.tag, `ComposeMail:${command}`);
  assert.equal(childText(r.body, 'ComposeMail:Status'), String(status), `${command}: ${r.headers.get('x-easmime-reason')}`);
}

function assertSent(r: EasResponse): void {
  assert.equal(r.status, 200, `HTTP ${r.status}: ${r.headers.get('x-easmime-reason')} ${r.body ? JSON.stringify(r.body) : ''}`);
  assert.equal(r.raw.length, 0, 'success has an empty body');
}

async function admin(server: ServerProcess, route: string, method = 'GET'): Promise<Response> {
  const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  return fetch(`${server.baseUrl}/admin${route}`, { method, headers: { Authorization: `Bearer ${token}` } });
}

interface Captured { id: number; rcptTo: string[]; subject: string; mailFrom: string; submittedBy?: string }
async function captured(server: ServerProcess, to?: string): Promise<Captured[]> {
  const r = await admin(server, `/captured${to ? `?to=${encodeURIComponent(to)}` : ''}`);
  assert.equal(r.status, 200);
  return await r.json() as Captured[];
}
async function capturedRaw(server: ServerProcess, id: number): Promise<Buffer> {
  const r = await admin(server, `/captured/${id}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'message/rfc822');
  return Buffer.from(await r.arrayBuffer());
}
async function folderList(server: ServerProcess, user: string, folder: string): Promise<Array<{ id: number; subject: string; read: boolean }>> {
  const r = await admin(server, `/users/${user}/messages?folder=${encodeURIComponent(folder)}&limit=500`);
  assert.equal(r.status, 200);
  return await r.json() as Array<{ id: number; subject: string; read: boolean }>;
}
async function storedRaw(server: ServerProcess, user: string, id: number): Promise<Buffer> {
  return Buffer.from(await (await admin(server, `/users/${user}/messages/${id}`)).arrayBuffer());
}

describe('end to end: SendMail, SmartReply, SmartForward', function () {
  this.timeout(240_000);
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess({ extraArgs: ['--max-message-bytes', String(MAX_MESSAGE_BYTES)] });
  });
  after(async () => { await server?.stop(); });

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    it(`${version}: bob's message reaches alice's device, the external copy is captured, Sent Items has it once`, async () => {
      const bob = await device(server, 'bob@contoso.test', version);
      const alice = await device(server, 'alice@contoso.test', version);
      await pull(alice, 'Inbox');
      await pull(bob, 'Sent Items');
      const subject = `Lunch ${version} ${crypto.randomBytes(4).toString('hex')}`;
      // The device claims to be someone else: the server sends it as bob.
      const mime = await compose({ from: 'Someone <ceo@contoso.test>', to: 'Alice Anders <alice@contoso.test>, erin@fabrikam.test', bcc: 'dave@contoso.test', subject, text: 'Noon at the usual place?' });
      const clientId = `cid-${subject}`;
      assertSent(await submit(bob, 'SendMail', mime, { clientId, save: true }));

      const got = withSubject(await pull(alice, 'Inbox'), subject);
      assert.equal(got.length, 1, 'alice\'s device receives it once');
      assert.match(childText(data(got[0]!), 'Email:From')!, /bob@contoso\.test/);
      assert.doesNotMatch(childText(data(got[0]!), 'Email:From')!, /ceo@/);

      const ext = (await captured(server, 'erin@fabrikam.test')).filter((c) => c.subject === subject);
      assert.equal(ext.length, 1, 'one external copy in the capture store');
      assert.deepEqual(ext[0]!.rcptTo, ['erin@fabrikam.test'], 'only the external recipient: dave and alice are local');
      assert.equal(ext[0]!.submittedBy, 'bob@contoso.test');
      const extRaw = (await capturedRaw(server, ext[0]!.id)).toString('latin1');
      assert.doesNotMatch(extRaw, /^bcc:/im, 'Bcc does not travel');
      assert.match(extRaw, /^From: "Bob Berg" <bob@contoso\.test>\r$/m);

      const daves = (await folderList(server, 'dave@contoso.test', 'Inbox')).filter((m) => m.subject === subject);
      assert.equal(daves.length, 1, 'the Bcc recipient gets it');
      assert.doesNotMatch((await storedRaw(server, 'dave@contoso.test', daves[0]!.id)).toString('latin1'), /^bcc:/im);

      const sent = withSubject(await pull(bob, 'Sent Items'), subject);
      assert.equal(sent.length, 1, 'Sent Items has it once');
      assert.equal(childText(data(sent[0]!), 'Email:Read'), '1', 'the Sent Items copy is read');
      const sentList = (await folderList(server, 'bob@contoso.test', 'Sent Items')).filter((m) => m.subject === subject);
      assert.match((await storedRaw(server, 'bob@contoso.test', sentList[0]!.id)).toString('latin1'), /^Bcc: dave@contoso\.test\r$/m, 'the sender\'s copy keeps Bcc, as in Exchange');

      if (!legacy(bob)) {
        // The device lost the answer and sends the same ClientId again: 118, and nothing is sent twice.
        assertFailed(bob, await submit(bob, 'SendMail', mime, { clientId, save: true }), 'SendMail', 118, 500);
        assert.equal(withSubject(await pull(alice, 'Inbox'), subject).length, 0);
        assert.equal(withSubject(await pull(bob, 'Sent Items'), subject).length, 0);
        assert.equal((await captured(server, 'erin@fabrikam.test')).filter((c) => c.subject === subject).length, 1);
      }
      // Without SaveInSent nothing goes to Sent Items.
      const quiet = `${subject} quiet`;
      assertSent(await submit(bob, 'SendMail', await compose({ to: 'alice@contoso.test', subject: quiet, text: 'x' })));
      assert.equal(withSubject(await pull(alice, 'Inbox'), quiet).length, 1);
      assert.equal(withSubject(await pull(bob, 'Sent Items'), quiet).length, 0);
    });
  }

  for (const version of ['12.1', '14.1', '16.1']) {
    it(`${version}: SmartReply quotes the original and threads; SmartForward carries its attachments; ReplaceMime and S/MIME are left alone`, async () => {
      const tag = crypto.randomBytes(4).toString('hex');
      const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(5000)]);
      const originalSubject = `Q3 figures ${version} ${tag}`;
      const original = await compose({ from: 'Erin Example <erin@fabrikam.test>', to: 'bob@contoso.test', subject: originalSubject, text: 'The figures are attached.', attachments: [{ filename: 'figures.pdf', content: pdf }] });
      await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, original);
      const originalId = (await simpleParser(original)).messageId!;

      const bob = await device(server, 'bob@contoso.test', version);
      const alice = await device(server, 'alice@contoso.test', version);
      await pull(alice, 'Inbox');
      const inbox = bob.folders.get('Inbox')!;
      const add = withSubject(await pull(bob, 'Inbox'), originalSubject)[0];
      assert.ok(add, 'bob\'s device has the original');
      const serverId = childText(add, 'AirSync:ServerId')!;

      // Reply to erin and alice, naming the source by folder and item.
      const replySubject = `RE: ${originalSubject}`;
      assertSent(await submit(bob, 'SmartReply', await compose({ to: 'erin@fabrikam.test', cc: 'alice@contoso.test', subject: replySubject, text: 'Thanks, Erin.' }),
        { save: true, source: { folderId: inbox, itemId: serverId } }));
      const [ext] = (await captured(server, 'erin@fabrikam.test')).filter((c) => c.subject === replySubject);
      assert.ok(ext, 'the reply went out');
      const reply = await simpleParser(await capturedRaw(server, ext.id));
      assert.equal(reply.inReplyTo, originalId);
      assert.match(reply.text!, /^Thanks, Erin\.\r?\n\r?\n_{32}\r?\nFrom: Erin Example <erin@fabrikam\.test>\r?\nSent: .+\(UTC\)\r?\nTo: bob@contoso\.test\r?\nSubject: Q3 figures[^\n]*\r?\n\r?\nThe figures are attached\./);
      assert.equal(reply.attachments.length, 0, 'a reply does not carry the original\'s attachments');
      assert.equal(withSubject(await pull(alice, 'Inbox'), replySubject).length, 1);

      // Forward to alice, naming the source by the LongId a Search returned.
      const found = await bob.c.send('Search', S('Search', S('Store', S('Name', 'Mailbox'),
        S('Query', S('And', A('Class', 'Email'), A('CollectionId', inbox), S('FreeText', tag))), S('Options', S('Range', '0-9')))));
      const longId = childText(child(child(child(found.body, 'Search:Response'), 'Search:Store'), 'Search:Result'), 'Search:LongId');
      assert.ok(longId, 'Search gives a LongId');
      const fwdSubject = `FW: ${originalSubject}`;
      assertSent(await submit(bob, 'SmartForward', await compose({ to: 'alice@contoso.test', subject: fwdSubject, text: 'FYI' }), { source: { longId } }));
      const fwd = withSubject(await pull(alice, 'Inbox'), fwdSubject)[0];
      assert.ok(fwd, 'alice\'s device receives the forward');
      const fwdStored = (await folderList(server, 'alice@contoso.test', 'Inbox')).find((m) => m.subject === fwdSubject)!;
      const forwarded = await simpleParser(await storedRaw(server, 'alice@contoso.test', fwdStored.id));
      assert.ok(forwarded.attachments.find((a) => a.filename === 'figures.pdf')?.content.equals(pdf), 'the original\'s attachment, byte for byte');
      assert.match(forwarded.text!, /^FYI[\s\S]*From: Erin Example[\s\S]*The figures are attached\./);
      if (!legacy(alice)) {
        const names = childrenOf(child(data(fwd), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment').map((a) => childText(a, 'AirSyncBase:DisplayName'));
        assert.deepEqual(names, ['figures.pdf']);
      }

      if (!legacy(bob)) {
        // ReplaceMime: the device's message is the whole message.
        const own = `RE2: ${originalSubject}`;
        assertSent(await submit(bob, 'SmartReply', await compose({ to: 'erin@fabrikam.test', subject: own, text: 'My own edit.\n> quoted by me' }), { replaceMime: true, source: { itemId: serverId } }));
        const [c] = (await captured(server, 'erin@fabrikam.test')).filter((x) => x.subject === own);
        const parsed = await simpleParser(await capturedRaw(server, c!.id));
        assert.equal(parsed.text!.trim(), 'My own edit.\n> quoted by me');
        assert.equal(parsed.inReplyTo, originalId, 'still threaded');
      }

      // A signed forward without ReplaceMime: appending would break the signature, so nothing is appended.
      const signer = makeSigner('bob@contoso.test');
      const signedSubject = `FW signed ${version} ${tag}`;
      const signed = signClear({ signer, from: 'bob@contoso.test', to: 'erin@fabrikam.test', subject: signedSubject, text: 'Signed and forwarded.' });
      assertSent(await submit(bob, 'SmartForward', signed, { source: { folderId: inbox, itemId: serverId } }));
      const [sc] = (await captured(server, 'erin@fabrikam.test')).filter((x) => x.subject === signedSubject);
      const sentSigned = await capturedRaw(server, sc!.id);
      const bodyOf = (b: Buffer): Buffer => b.subarray(b.indexOf('\r\n\r\n'));
      assert.ok(bodyOf(sentSigned).equals(bodyOf(signed)), 'the signed body is byte for byte the device\'s');
      const dir = tempDir('easmime-verify-');
      fs.writeFileSync(path.join(dir, 'm.eml'), sentSigned);
      execFileSync('openssl', ['smime', '-verify', '-noverify', '-in', path.join(dir, 'm.eml'), '-out', path.join(dir, 'out.txt')], { stdio: 'pipe' });
      assert.match(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8'), /Signed and forwarded\./);
    });
  }

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    it(`${version}: every failure gets its status and nothing is sent, stored or captured`, async () => {
      const bob = await device(server, 'bob@contoso.test', version);
      await pull(bob, 'Sent Items');
      const capturedBefore = (await captured(server)).length;
      const daveBefore = (await folderList(server, 'dave@contoso.test', 'Inbox')).length;
      const tag = crypto.randomBytes(4).toString('hex');

      assertFailed(bob, await submit(bob, 'SendMail', await compose({ subject: `none ${tag}`, text: 'to nobody' }), { save: true }), 'SendMail', 119, 500);
      assertFailed(bob, await submit(bob, 'SendMail', await compose({ to: 'nobody@contoso.test, erin@fabrikam.test', subject: `unknown ${tag}`, text: 'x' }), { save: true }), 'SendMail', 116, 500);
      assertFailed(bob, await submit(bob, 'SendMail', await compose({ to: 'erin@fabrikam.test', subject: `big ${tag}`, text: 'x', attachments: [{ filename: 'big.bin', content: crypto.randomBytes(MAX_MESSAGE_BYTES) }] }), { save: true }), 'SendMail', 122, 413);
      assertFailed(bob, await submit(bob, 'SmartReply', await compose({ to: 'erin@fabrikam.test', subject: `RE ${tag}`, text: 'x' }), { save: true, source: { itemId: '999999:999999' } }), 'SmartReply', 150, 500);
      assertFailed(bob, await submit(bob, 'SmartForward', await compose({ to: 'erin@fabrikam.test', subject: `FW ${tag}`, text: 'x' }), { source: { folderId: bob.folders.get('Inbox')!, itemId: 'not-an-id' } }), 'SmartForward', 150, 500);
      // The S/MIME gateway refuses an encrypted message to dave, who has no encryption certificate: it reaches no one.
      const enc = encrypted({ from: 'bob@contoso.test', to: 'dave@contoso.test, erin@fabrikam.test', subject: `secret ${tag}`, text: 'for dave', cert: path.join(PROJECT_ROOT, 'fixtures/demo/pki/users/bob-encryption.crt') });
      const refused = await submit(bob, 'SendMail', enc, { save: true });
      assertFailed(bob, refused, 'SendMail', 116, 500);
      assert.match(refused.headers.get('x-easmime-reason')!, /dave@contoso\.test/);

      if (legacy(bob)) {
        assertFailed(bob, await bob.c.send('SendMail', Buffer.alloc(0), { contentType: 'message/rfc822' }), 'SendMail', 101, 400);
        assertFailed(bob, await submit(bob, 'SmartReply', await compose({ to: 'erin@fabrikam.test', subject: 'RE', text: 'x' })), 'SmartReply', 105, 400);
        assertFailed(bob, await submit(bob, 'SmartReply', await compose({ to: 'erin@fabrikam.test', subject: 'RE', text: 'x' }), { source: { itemId: '1:1', longId: '1:1' } }), 'SmartReply', 105, 400);
      } else {
        const mime = await compose({ to: 'erin@fabrikam.test', subject: `bad ${tag}`, text: 'x' });
        assertFailed(bob, await bob.c.send('SendMail', CM('SendMail', CM('Mime', mime))), 'SendMail', 103, 400);
        assertFailed(bob, await bob.c.send('SendMail', CM('SendMail', CM('ClientId', 'x'.repeat(41)), CM('Mime', mime))), 'SendMail', 103, 400);
        assertFailed(bob, await bob.c.send('SmartReply', CM('SmartReply', CM('ClientId', 'c'), CM('Mime', mime))), 'SmartReply', 103, 400);
        assertFailed(bob, await submit(bob, 'SmartReply', mime, { source: { itemId: '1:1', longId: '1:1' } }), 'SmartReply', 105, 400);
        assertFailed(bob, await submit(bob, 'SmartForward', mime, { source: { itemId: '1:1', instanceId: 'yesterday' } }), 'SmartForward', 104, 400);
        assertFailed(bob, await submit(bob, 'SendMail', mime, { extra: [CM('AccountId', 'other')] }), 'SendMail', 166, 500);
        assertFailed(bob, await submit(bob, 'SendMail', Buffer.alloc(0)), 'SendMail', 107, 400);
        if (version === '16.1') {
          assertFailed(bob, await submit(bob, 'SmartForward', mime, { source: { itemId: '1:1' }, extra: [CM('Forwardees', CM('Forwardee', CM('Email', 'erin@fabrikam.test')))] }), 'SmartForward', 178, 400);
        }
      }

      assert.equal((await captured(server)).length, capturedBefore, 'nothing captured');
      assert.equal((await folderList(server, 'dave@contoso.test', 'Inbox')).length, daveBefore, 'nothing delivered');
      assert.equal((await pull(bob, 'Sent Items')).filter((a) => subjectOf(a)?.includes(tag)).length, 0, 'nothing in Sent Items');
    });
  }

  it('authenticated SMTP is a submission: external copy captured, Sent Items kept, gateway refusal answered with its SMTP code', async () => {
    const subject = `smtp submission ${crypto.randomBytes(4).toString('hex')}`;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true, auth: { user: 'bob@contoso.test', pass: 'demo' } });
    try {
      const raw = await compose({ from: 'bob@contoso.test', to: 'erin@fabrikam.test, alice@contoso.test', subject, text: 'over SMTP' });
      const info = await transport.sendMail({ envelope: { from: 'bob@contoso.test', to: ['erin@fabrikam.test', 'alice@contoso.test'] }, raw });
      assert.match(info.response, /^250/);
      const [c] = (await captured(server, 'erin@fabrikam.test')).filter((x) => x.subject === subject);
      assert.ok(c, 'the external copy is captured');
      assert.equal(c.mailFrom, 'bob@contoso.test');
      assert.equal((await folderList(server, 'alice@contoso.test', 'Inbox')).filter((m) => m.subject === subject).length, 1);
      const sent = (await folderList(server, 'bob@contoso.test', 'Sent Items')).filter((m) => m.subject === subject);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.read, true);

      const enc = encrypted({ from: 'bob@contoso.test', to: 'dave@contoso.test', subject: `${subject} secret`, text: 'x', cert: path.join(PROJECT_ROOT, 'fixtures/demo/pki/users/bob-encryption.crt') });
      await assert.rejects(transport.sendMail({ envelope: { from: 'bob@contoso.test', to: ['dave@contoso.test'] }, raw: enc }),
        (e: Error & { responseCode?: number }) => e.responseCode === 550);
      assert.equal((await folderList(server, 'dave@contoso.test', 'Inbox')).filter((m) => m.subject === `${subject} secret`).length, 0);
    } finally {
      transport.close();
    }
  });

  it('the admin API reads, deletes and clears captured mail', async () => {
    const list = await captured(server);
    assert.ok(list.length > 0);
    const one = list[0]!;
    assert.equal((await admin(server, `/captured/${one.id}`, 'DELETE')).status, 204);
    assert.equal((await admin(server, `/captured/${one.id}`)).status, 404);
    assert.equal((await admin(server, '/captured?limit=0')).status, 400);
    const cleared = await (await admin(server, '/captured', 'DELETE')).json() as { deleted: number };
    assert.equal(cleared.deleted, list.length - 1);
    assert.deepEqual(await captured(server), []);
    const noToken = await fetch(`${server.baseUrl}/admin/captured`);
    assert.equal(noToken.status, 401);
  });
});

describe('end to end: relay to a smarthost', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let smarthost: SMTPServer;
  const received: Array<{ mailFrom: string; rcptTo: string[]; raw: Buffer }> = [];

  before(async () => {
    smarthost = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
      onRcptTo(address, _session, cb) {
        cb(address.address.startsWith('refuse@') ? Object.assign(new Error('5.1.1 no such user here'), { responseCode: 550 }) : null);
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({ mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcptTo: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
          cb(null);
        });
      },
    });
    await new Promise<void>((resolve) => smarthost.listen(0, '127.0.0.1', () => resolve()));
    const port = (smarthost.server.address() as AddressInfo).port;
    server = await startServerProcess({ extraArgs: ['--smarthost', `127.0.0.1:${port}`], env: { EASMIME_SMARTHOST_TLS: 'none' } });
  });
  after(async () => {
    await server?.stop();
    await new Promise<void>((resolve) => smarthost.close(() => resolve()));
  });

  it('14.1: the external copy goes to the smarthost, once, without Bcc; nothing is captured', async () => {
    const bob = await device(server, 'bob@contoso.test', '14.1');
    const alice = await device(server, 'alice@contoso.test', '14.1');
    await pull(alice, 'Inbox');
    await pull(bob, 'Sent Items');
    const subject = `relayed ${crypto.randomBytes(4).toString('hex')}`;
    assertSent(await submit(bob, 'SendMail', await compose({ to: 'alice@contoso.test, erin@fabrikam.test', cc: 'frank@fabrikam.test', bcc: 'dave@contoso.test', subject, text: 'via the smarthost' }), { save: true }));
    const mine = received.filter((r) => r.raw.toString('latin1').includes(subject));
    assert.equal(mine.length, 1, 'one SMTP transaction at the smarthost');
    assert.equal(mine[0]!.mailFrom, 'bob@contoso.test');
    assert.deepEqual([...mine[0]!.rcptTo].sort(), ['erin@fabrikam.test', 'frank@fabrikam.test']);
    assert.doesNotMatch(mine[0]!.raw.toString('latin1'), /^bcc:/im);
    assert.equal((await simpleParser(mine[0]!.raw)).text!.trim(), 'via the smarthost');
    assert.equal(withSubject(await pull(alice, 'Inbox'), subject).length, 1);
    assert.equal(withSubject(await pull(bob, 'Sent Items'), subject).length, 1);
    assert.deepEqual(await captured(server), []);
  });

  for (const version of ['12.1', '16.1']) {
    it(`${version}: a smarthost that refuses the recipients fails the submission (120 / HTTP 500) and nothing is kept`, async () => {
      const bob = await device(server, 'bob@contoso.test', version);
      const alice = await device(server, 'alice@contoso.test', version);
      await pull(alice, 'Inbox');
      await pull(bob, 'Sent Items');
      const subject = `refused ${crypto.randomBytes(4).toString('hex')}`;
      const r = await submit(bob, 'SendMail', await compose({ to: 'alice@contoso.test, refuse@fabrikam.test', subject, text: 'x' }), { save: true });
      assertFailed(bob, r, 'SendMail', 120, 500);
      assert.match(r.headers.get('x-easmime-reason')!, /smarthost/);
      assert.equal(withSubject(await pull(alice, 'Inbox'), subject).length, 0, 'alice gets nothing');
      assert.equal(withSubject(await pull(bob, 'Sent Items'), subject).length, 0, 'nothing in Sent Items');
    });
  }
});
