// ItemOperations (Fetch, EmptyFolderContents, Move), GetAttachment and MoveItems over real HTTP+WBXML,
// with mail sent through real SMTP, in 2.5, 12.1, 14.1 and 16.1.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { decodeWbxml } from '../../eas/wbxml/index.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');
const IO = ns('ItemOperations');
const M = ns('Move');
const S = ns('Search');
const DL = ns('DocumentLibrary');

/** Splits an application/vnd.ms-sync.multipart body by hand (little-endian int32 count, then offset/length pairs). */
function splitMultipart(body: Buffer): Buffer[] {
  const count = body.readInt32LE(0);
  assert.ok(count >= 1 && 4 + count * 8 <= body.length, `part count ${count}`);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const offset = body.readInt32LE(4 + i * 8);
    const length = body.readInt32LE(8 + i * 8);
    assert.ok(offset >= 4 + count * 8 && offset + length <= body.length, `part ${i} inside the body`);
    parts.push(body.subarray(offset, offset + length));
  }
  return parts;
}

describe('end to end: ItemOperations, GetAttachment and MoveItems', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  // Every byte value, then noise: what a text-minded code path would damage.
  const binary = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), crypto.randomBytes(70_000)]);
  const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), crypto.randomBytes(3000)]);
  let attachmentMail: Buffer;

  before(async () => {
    server = await startServerProcess();
    attachmentMail = await compose({
      from: 'erin@fabrikam.test', to: 'bob@contoso.test', subject: 'binary attachment', text: 'two files attached',
      attachments: [{ filename: 'blob.bin', content: binary }, { filename: 'picture.png', content: png }],
    });
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, attachmentMail);
  });
  after(async () => { await server?.stop(); });

  let counter = 0;
  interface Device { c: EasClient; folders: Map<string, string>; hierarchyKey: string; version: string }
  async function device(user: string, version: string): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `ItemDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
    const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return { c, folders, hierarchyKey: childText(r.body, 'FolderHierarchy:SyncKey')!, version };
  }

  const legacy = (d: Device): boolean => Number(d.version) < 14;

  async function syncOnce(d: Device, folderId: string, key: string, extra: WbxmlElement[] = []): Promise<WbxmlElement> {
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection',
      legacy(d) && A('Class', 'Email'), A('SyncKey', key), A('CollectionId', folderId), ...extra))));
    assert.equal(r.status, 200);
    return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
  }

  /** Starts a collection and pulls everything; returns the adds, deletes and the last key. */
  async function pull(d: Device, folderId: string, key?: string): Promise<{ adds: WbxmlElement[]; deletes: string[]; key: string }> {
    if (key === undefined) {
      const col = await syncOnce(d, folderId, '0');
      assert.equal(childText(col, 'AirSync:Status'), '1');
      key = childText(col, 'AirSync:SyncKey')!;
    }
    const adds: WbxmlElement[] = [];
    const deletes: string[] = [];
    for (let round = 0; round < 20; round++) {
      const col = await syncOnce(d, folderId, key, [A('WindowSize', 100)]);
      assert.equal(childText(col, 'AirSync:Status'), '1');
      key = childText(col, 'AirSync:SyncKey')!;
      adds.push(...childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add'));
      deletes.push(...childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Delete').map((e) => childText(e, 'AirSync:ServerId')!));
      if (!child(col, 'AirSync:MoreAvailable')) break;
    }
    return { adds, deletes, key };
  }

  const subjectOf = (add: WbxmlElement): string | undefined => childText(child(add, 'AirSync:ApplicationData'), 'Email:Subject');
  const findAdd = (adds: WbxmlElement[], subject: string): WbxmlElement => {
    const add = adds.find((a) => subjectOf(a) === subject);
    assert.ok(add, `an Add for "${subject}"`);
    return add;
  };

  async function itemOps(d: Device, ops: WbxmlElement[], o: Parameters<EasClient['send']>[2] = {}): Promise<EasResponse> {
    return d.c.send('ItemOperations', IO('ItemOperations', ops), o);
  }
  const responses = (r: EasResponse, tag: string): WbxmlElement[] => childrenOf(child(r.body, 'ItemOperations:Response'), `ItemOperations:${tag}`);
  const status = (el: WbxmlElement | undefined): string | undefined => childText(el, 'ItemOperations:Status');

  async function deliver(to: string, subject: string): Promise<Buffer> {
    const raw = await compose({ from: 'erin@fabrikam.test', to, subject, text: `text of ${subject}` });
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: [to] }, raw);
    return raw;
  }

  for (const version of ['12.1', '14.1', '16.1']) {
    it(`${version}: Fetch of attachments by FileReference returns the bytes sent, whole, by Range and as multipart`, async () => {
      const bob = await device('bob@contoso.test', version);
      const add = findAdd((await pull(bob, bob.folders.get('Inbox')!)).adds, 'binary attachment');
      const atts = childrenOf(child(child(add, 'AirSync:ApplicationData'), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment');
      const refOf = (name: string): string => childText(atts.find((a) => childText(a, 'AirSyncBase:DisplayName') === name), 'AirSyncBase:FileReference')!;
      const blobRef = refOf('blob.bin');
      const pngRef = refOf('picture.png');
      const fetchRef = (ref: string, options?: WbxmlElement): WbxmlElement => IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', ref), options);

      const r = await itemOps(bob, [fetchRef(blobRef), fetchRef(pngRef)]);
      assert.equal(r.headers.get('content-type'), 'application/vnd.ms-sync.wbxml');
      assert.equal(childText(r.body, 'ItemOperations:Status'), '1');
      const [f1, f2] = responses(r, 'Fetch');
      assert.equal(status(f1), '1');
      assert.equal(childText(f1, 'AirSyncBase:FileReference'), blobRef);
      const props = child(f1, 'ItemOperations:Properties');
      assert.equal(childText(props, 'AirSyncBase:ContentType'), 'application/octet-stream');
      assert.ok(Buffer.from(childText(props, 'ItemOperations:Data')!, 'base64').equals(binary), 'attachment bytes are identical to what was sent');
      assert.equal(childText(child(f2, 'ItemOperations:Properties'), 'AirSyncBase:ContentType'), 'image/png');
      assert.ok(Buffer.from(childText(child(f2, 'ItemOperations:Properties'), 'ItemOperations:Data')!, 'base64').equals(png));

      // Byte ranges: inside, reaching past the end (cut to it), reversed, malformed, starting past the end.
      const ranged = await itemOps(bob, [
        fetchRef(blobRef, IO('Options', IO('Range', '250-259'))),
        fetchRef(blobRef, IO('Options', IO('Range', `${binary.length - 10}-99999999`))),
        fetchRef(blobRef, IO('Options', IO('Range', '9-2'))),
        fetchRef(blobRef, IO('Options', IO('Range', 'all'))),
        fetchRef(blobRef, IO('Options', IO('Range', `${binary.length}-${binary.length + 5}`))),
      ]);
      const rf = responses(ranged, 'Fetch');
      const rp = child(rf[0], 'ItemOperations:Properties');
      assert.equal(childText(rp, 'ItemOperations:Range'), '250-259');
      assert.equal(childText(rp, 'ItemOperations:Total'), String(binary.length));
      assert.ok(Buffer.from(childText(rp, 'ItemOperations:Data')!, 'base64').equals(binary.subarray(250, 260)));
      const tail = child(rf[1], 'ItemOperations:Properties');
      assert.equal(childText(tail, 'ItemOperations:Range'), `${binary.length - 10}-${binary.length - 1}`);
      assert.ok(Buffer.from(childText(tail, 'ItemOperations:Data')!, 'base64').equals(binary.subarray(binary.length - 10)));
      assert.deepEqual(rf.slice(2).map(status), ['8', '8', '8'], 'invalid byte ranges get Status 8');

      // Multipart, asked for with the header: part 0 is the WBXML, Part elements index the bytes.
      const mp = await itemOps(bob, [fetchRef(pngRef), fetchRef(blobRef)], { headers: { 'MS-ASAcceptMultiPart': 'T' } });
      assert.equal(mp.status, 200);
      assert.equal(mp.headers.get('content-type'), 'application/vnd.ms-sync.multipart');
      const parts = splitMultipart(mp.raw);
      assert.equal(parts.length, 3);
      const doc = decodeWbxml(parts[0]!);
      const mf = childrenOf(child(doc, 'ItemOperations:Response'), 'ItemOperations:Fetch');
      const partOf = (fetch: WbxmlElement | undefined): Buffer => {
        const props = child(fetch, 'ItemOperations:Properties');
        assert.equal(child(props, 'ItemOperations:Data'), undefined, 'no inline Data in a multipart response');
        return parts[Number(childText(props, 'ItemOperations:Part'))]!;
      };
      assert.ok(partOf(mf[0]).equals(png));
      assert.ok(partOf(mf[1]).equals(binary));

      // The same through the base64 query's AcceptMultiPart option bit.
      const b64 = await itemOps(bob, [fetchRef(blobRef, IO('Options', IO('Range', '0-99')))], { base64: true, params: { AcceptMultiPart: 'T' } });
      assert.equal(b64.headers.get('content-type'), 'application/vnd.ms-sync.multipart');
      const bparts = splitMultipart(b64.raw);
      const bfetch = child(child(decodeWbxml(bparts[0]!), 'ItemOperations:Response'), 'ItemOperations:Fetch');
      assert.equal(status(bfetch), '1');
      assert.ok(bparts[Number(childText(child(bfetch, 'ItemOperations:Properties'), 'ItemOperations:Part'))]!.equals(binary.subarray(0, 100)));

      // References that are malformed, point nowhere, or name an attachment the message lacks: all an invalid attachment (15).
      const [folder, message] = blobRef.split(':');
      const bad = await itemOps(bob, [fetchRef('not-a-reference'), fetchRef(''), fetchRef(`${folder}:99999999:0`), fetchRef(`${folder}:${message}:7`)]);
      assert.deepEqual(responses(bad, 'Fetch').map(status), ['15', '15', '15', '15']);
    });

    it(`${version}: Fetch of an item by ServerId and by LongId renders through the body options, also as multipart`, async () => {
      const bob = await device('bob@contoso.test', version);
      const inbox = bob.folders.get('Inbox')!;
      const add = findAdd((await pull(bob, inbox)).adds, 'binary attachment');
      const serverId = childText(add, 'AirSync:ServerId')!;
      const r = await itemOps(bob, [
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId), IO('Options', B('BodyPreference', B('Type', 1), B('TruncationSize', 5)))),
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId), IO('Options', A('MIMESupport', 2), B('BodyPreference', B('Type', 4)))),
        IO('Fetch', IO('Store', 'Mailbox'), S('LongId', serverId)),
      ]);
      const [text, mime, byLong] = responses(r, 'Fetch');
      assert.equal(status(text), '1');
      assert.equal(childText(text, 'AirSync:ServerId'), serverId);
      assert.equal(childText(text, 'AirSync:CollectionId'), inbox);
      assert.equal(childText(text, 'AirSync:Class'), 'Email');
      const tp = child(text, 'ItemOperations:Properties');
      assert.equal(childText(tp, 'Email:Subject'), 'binary attachment');
      assert.equal(childText(child(tp, 'AirSyncBase:Body'), 'AirSyncBase:Data'), 'two f');
      assert.equal(childText(child(tp, 'AirSyncBase:Body'), 'AirSyncBase:Truncated'), '1');
      const mb = child(child(mime, 'ItemOperations:Properties'), 'AirSyncBase:Body');
      assert.equal(childText(mb, 'AirSyncBase:Type'), '4');
      assert.ok(Buffer.from(childText(mb, 'AirSyncBase:Data')!, 'utf8').equals(attachmentMail), 'the full MIME, byte for byte');
      assert.equal(status(byLong), '1');
      assert.equal(childText(byLong, 'Search:LongId'), serverId);
      assert.equal(childText(child(byLong, 'ItemOperations:Properties'), 'Email:Subject'), 'binary attachment');

      const mp = await itemOps(bob, [IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId),
        IO('Options', A('MIMESupport', 2), B('BodyPreference', B('Type', 4))))], { headers: { 'MS-ASAcceptMultiPart': 'T' } });
      const parts = splitMultipart(mp.raw);
      const body = child(child(child(child(decodeWbxml(parts[0]!), 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Properties'), 'AirSyncBase:Body');
      assert.equal(child(body, 'AirSyncBase:Data'), undefined);
      assert.ok(parts[Number(childText(body, 'ItemOperations:Part'))]!.equals(attachmentMail), 'the MIME body travels as a part');
    });

    it(`${version}: Fetch answers malformed and unanswerable requests with their own statuses`, async () => {
      const bob = await device('bob@contoso.test', version);
      const inbox = bob.folders.get('Inbox')!;
      const add = findAdd((await pull(bob, inbox)).adds, 'binary attachment');
      const serverId = childText(add, 'AirSync:ServerId')!;
      const r = await itemOps(bob, [
        IO('Fetch', A('CollectionId', inbox), A('ServerId', serverId)), // no Store
        IO('Fetch', IO('Store', 'Archive'), A('CollectionId', inbox), A('ServerId', serverId)),
        IO('Fetch', IO('Store', 'Mailbox'), A('ServerId', serverId)), // no CollectionId
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', bob.folders.get('Junk Email')!), A('ServerId', serverId)),
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', `${inbox}:99999999`)),
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId), B('FileReference', '1:1:0')),
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId), IO('Options', B('BodyPreference', B('Type', 9)))),
        IO('Fetch', IO('Store', 'Mailbox')),
        IO('Fetch', IO('Store', 'DocumentLibrary'), DL('LinkId', 'not a link')),
        IO('Fetch', IO('Store', 'DocumentLibrary'), DL('LinkId', 'http://fileserver/share/plan.docx')),
        IO('Fetch', IO('Store', 'Mailbox'), S('LongId', 'garbage')),
      ]);
      assert.equal(childText(r.body, 'ItemOperations:Status'), '1');
      assert.deepEqual(responses(r, 'Fetch').map(status), ['2', '9', '2', '6', '6', '2', '2', '2', '4', '5', '6']);

      const empty = await itemOps(bob, []);
      assert.equal(childText(empty.body, 'ItemOperations:Status'), '2');
      assert.equal(child(empty.body, 'ItemOperations:Response'), undefined);
      const stray = await bob.c.send('ItemOperations', IO('ItemOperations', IO('Store', 'Mailbox')));
      assert.equal(childText(stray.body, 'ItemOperations:Status'), '2');
      const tooMany = await itemOps(bob, Array.from({ length: 101 }, () => IO('Fetch', IO('Store', 'Mailbox'), S('LongId', serverId))));
      assert.equal(childText(tooMany.body, 'ItemOperations:Status'), '2');
    });
  }

  it('16.1: a multipart MIME fetch carries the stored bytes exactly, 8-bit Latin-1 included', async () => {
    const raw = Buffer.concat([Buffer.from('From: erin@fabrikam.test\r\nTo: bob@contoso.test\r\nSubject: latin1 body\r\n' +
      'Date: Mon, 02 Nov 2026 09:00:00 +0000\r\nMessage-ID: <latin1@fabrikam.test>\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x0d, 0x0a])]);
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, raw);
    const bob = await device('bob@contoso.test', '16.1');
    const inbox = bob.folders.get('Inbox')!;
    const serverId = childText(findAdd((await pull(bob, inbox)).adds, 'latin1 body'), 'AirSync:ServerId')!;
    const mp = await itemOps(bob, [IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId),
      IO('Options', A('MIMESupport', 2), B('BodyPreference', B('Type', 4))))], { headers: { 'MS-ASAcceptMultiPart': 'T' } });
    const parts = splitMultipart(mp.raw);
    const body = child(child(child(child(decodeWbxml(parts[0]!), 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Properties'), 'AirSyncBase:Body');
    assert.ok(parts[Number(childText(body, 'ItemOperations:Part'))]!.equals(raw));
  });

  it('a user never reaches another user\'s items, attachments, folders or conversations', async () => {
    const bob = await device('bob@contoso.test', '14.1');
    const inbox = bob.folders.get('Inbox')!;
    const add = findAdd((await pull(bob, inbox)).adds, 'binary attachment');
    const serverId = childText(add, 'AirSync:ServerId')!;
    const conversation = child(child(add, 'AirSync:ApplicationData'), 'Email2:ConversationId')!.opaque!;
    const ref = childText(childrenOf(child(child(add, 'AirSync:ApplicationData'), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment')[0], 'AirSyncBase:FileReference')!;

    const alice = await device('alice@contoso.test', '14.1');
    const r = await itemOps(alice, [
      IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', ref)),
      IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', inbox), A('ServerId', serverId)),
      IO('Fetch', IO('Store', 'Mailbox'), S('LongId', serverId)),
      IO('EmptyFolderContents', A('CollectionId', inbox)),
      IO('Move', IO('ConversationId', conversation), IO('DstFldId', alice.folders.get('Junk Email')!), IO('Options', IO('MoveAlways'))),
    ]);
    // Another user's FileReference is an invalid attachment reference (15); their item by ServerId or LongId is not found (6).
    assert.deepEqual(responses(r, 'Fetch').map(status), ['15', '6', '6']);
    assert.equal(status(responses(r, 'EmptyFolderContents')[0]), '6');
    assert.equal(status(responses(r, 'Move')[0]), '6');
    const mv = await alice.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', serverId), M('SrcFldId', inbox), M('DstFldId', alice.folders.get('Junk Email')!))));
    assert.equal(childText(child(mv.body, 'Move:Response'), 'Move:Status'), '1');
    const into = await alice.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', serverId), M('SrcFldId', inbox), M('DstFldId', inbox))));
    assert.equal(childText(child(into.body, 'Move:Response'), 'Move:Status'), '1', 'the source is not hers, whatever the destination');
    const alice12 = await device('alice@contoso.test', '12.1');
    const ga = await alice12.c.send('GetAttachment', undefined, { params: { AttachmentName: ref } });
    assert.equal(ga.status, 500);
    assert.equal(ga.raw.length, 0);

    // Bob's item is untouched and still his.
    const still = await itemOps(bob, [IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', ref))]);
    assert.equal(status(responses(still, 'Fetch')[0]), '1');
  });

  for (const version of ['2.5', '12.1']) {
    it(`${version}: GetAttachment returns the raw attachment with its Content-Type; 400 for a malformed name, 500 when gone`, async () => {
      const bob = await device('bob@contoso.test', version);
      const add = findAdd((await pull(bob, bob.folders.get('Inbox')!)).adds, 'binary attachment');
      const data = child(add, 'AirSync:ApplicationData');
      const names = version === '2.5'
        ? childrenOf(child(data, 'Email:Attachments'), 'Email:Attachment').map((a) => [childText(a, 'Email:DisplayName'), childText(a, 'Email:AttName')])
        : childrenOf(child(data, 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment').map((a) => [childText(a, 'AirSyncBase:DisplayName'), childText(a, 'AirSyncBase:FileReference')]);
      const byName = new Map(names as Array<[string, string]>);
      const blob = await bob.c.send('GetAttachment', undefined, { params: { AttachmentName: byName.get('blob.bin')! } });
      assert.equal(blob.status, 200);
      assert.equal(blob.headers.get('content-type'), 'application/octet-stream');
      assert.ok(blob.raw.equals(binary), 'bytes identical to what was sent');
      const pic = await bob.c.send('GetAttachment', undefined, { params: { AttachmentName: byName.get('picture.png')! } });
      assert.equal(pic.headers.get('content-type'), 'image/png');
      assert.ok(pic.raw.equals(png));
      if (version === '12.1') {
        const b64 = await bob.c.send('GetAttachment', undefined, { base64: true, params: { AttachmentName: byName.get('picture.png')! } });
        assert.equal(b64.status, 200);
        assert.ok(b64.raw.equals(png), 'the base64 query carries AttachmentName too');
      }
      for (const bad of ['', 'blob.bin', '1:2', '1:2:3:4']) {
        const r = await bob.c.send('GetAttachment', undefined, { params: { AttachmentName: bad } });
        assert.equal(r.status, 400, `AttachmentName "${bad}"`);
        assert.ok(r.headers.get('x-easmime-reason'));
      }
      assert.equal((await bob.c.send('GetAttachment', undefined, {})).status, 400, 'no AttachmentName at all');
      const [folder, message] = byName.get('blob.bin')!.split(':');
      assert.equal((await bob.c.send('GetAttachment', undefined, { params: { AttachmentName: `${folder}:99999999:0` } })).status, 500);
      assert.equal((await bob.c.send('GetAttachment', undefined, { params: { AttachmentName: `${folder}:${message}:9` } })).status, 500);
    });
  }

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    it(`${version}: MoveItems gives new ServerIds; both folders' next Syncs show the move, on this device and another`, async () => {
      const subject = `move me ${version}`;
      await deliver('carol@contoso.test', subject);
      const mover = await device('carol@contoso.test', version);
      const other = await device('carol@contoso.test', '14.1');
      const inbox = mover.folders.get('Inbox')!;
      const junk = mover.folders.get('Junk Email')!;
      const moverInbox = await pull(mover, inbox);
      const moverJunk = await pull(mover, junk);
      const otherInbox = await pull(other, inbox);
      const otherJunk = await pull(other, junk);
      const src = childText(findAdd(moverInbox.adds, subject), 'AirSync:ServerId')!;
      assert.ok(otherInbox.adds.some((a) => childText(a, 'AirSync:ServerId') === src));

      const r = await mover.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', src), M('SrcFldId', inbox), M('DstFldId', junk))));
      assert.equal(r.status, 200);
      const resp = child(r.body, 'Move:Response');
      assert.equal(childText(resp, 'Move:SrcMsgId'), src);
      assert.equal(childText(resp, 'Move:Status'), '3');
      const dst = childText(resp, 'Move:DstMsgId')!;
      assert.ok(dst.startsWith(`${junk}:`) && dst !== src, `new ServerId ${dst}`);

      for (const [d, inboxKey, junkKey] of [[mover, moverInbox.key, moverJunk.key], [other, otherInbox.key, otherJunk.key]] as const) {
        const fromSrc = await pull(d, inbox, inboxKey);
        assert.deepEqual(fromSrc.deletes, [src], `${d.version}: the source folder's Sync reports the item gone`);
        const intoDst = await pull(d, junk, junkKey);
        assert.deepEqual(intoDst.adds.map((a) => childText(a, 'AirSync:ServerId')), [dst], `${d.version}: the destination's Sync adds it`);
        assert.equal(subjectOf(intoDst.adds[0]!), subject);
      }

      const trash = mover.folders.get('Deleted Items')!;
      const calendar = mover.folders.get('Calendar')!;
      const statuses = async (moves: WbxmlElement[]): Promise<string[]> => {
        const res = await mover.c.send('MoveItems', M('MoveItems', moves));
        return childrenOf(res.body, 'Move:Response').map((x) => childText(x, 'Move:Status')!);
      };
      assert.deepEqual(await statuses([
        M('Move', M('SrcMsgId', src), M('SrcFldId', inbox), M('DstFldId', trash)), // already moved away
        M('Move', M('SrcMsgId', dst), M('SrcFldId', inbox), M('DstFldId', trash)), // SrcFldId does not hold it
        M('Move', M('SrcMsgId', 'garbage'), M('SrcFldId', junk), M('DstFldId', trash)),
        M('Move', M('SrcMsgId', dst), M('SrcFldId', junk), M('DstFldId', '99999999')),
        M('Move', M('SrcMsgId', dst), M('SrcFldId', junk), M('DstFldId', calendar)), // mail does not go into a calendar
        M('Move', M('SrcMsgId', dst), M('SrcFldId', junk), M('DstFldId', junk)),
        M('Move', M('SrcMsgId', dst), M('SrcFldId', junk)),
      ]), ['1', '1', '1', '2', '2', '4', '2']);

      const none = await mover.c.send('MoveItems', M('MoveItems'));
      if (Number(version) >= 14) assert.equal(childText(none.body, 'Move:Status'), '103');
      else assert.equal(none.status, 400);
    });
  }

  it('14.1: a move wakes a Sync held on the destination folder of another device', async () => {
    const subject = 'wake on move';
    await deliver('dave@contoso.test', subject);
    const mover = await device('dave@contoso.test', '16.1');
    const watcher = await device('dave@contoso.test', '14.1');
    const inbox = mover.folders.get('Inbox')!;
    const junk = mover.folders.get('Junk Email')!;
    const src = childText(findAdd((await pull(mover, inbox)).adds, subject), 'AirSync:ServerId')!;
    const { key } = await pull(watcher, junk);
    const started = Date.now();
    const held = watcher.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', junk))), A('HeartbeatInterval', 300)));
    await new Promise((r) => setTimeout(r, 300));
    const mv = await mover.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', src), M('SrcFldId', inbox), M('DstFldId', junk))));
    assert.equal(childText(child(mv.body, 'Move:Response'), 'Move:Status'), '3');
    const r = await held;
    assert.ok(Date.now() - started < 30_000, 'answered when the move happened, not at the heartbeat');
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
    assert.equal(subjectOf(childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add')[0]!), subject);
  });

  for (const version of ['12.1', '14.1', '16.1']) {
    it(`${version}: EmptyFolderContents empties Deleted Items, and its subfolders when asked`, async () => {
      const user = 'alice@contoso.test';
      const d = await device(user, version);
      const other = await device(user, '16.1');
      const trash = d.folders.get('Deleted Items')!;
      const inbox = d.folders.get('Inbox')!;
      for (const s of ['trash one', 'trash two']) await deliver(user, `${s} ${version}`);
      const inboxAdds = (await pull(d, inbox)).adds;
      for (const s of ['trash one', 'trash two']) {
        const id = childText(findAdd(inboxAdds, `${s} ${version}`), 'AirSync:ServerId')!;
        const mv = await d.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', id), M('SrcFldId', inbox), M('DstFldId', trash))));
        assert.equal(childText(child(mv.body, 'Move:Response'), 'Move:Status'), '3');
      }
      // A subfolder of Deleted Items, with mail in it.
      const created = await d.c.send('FolderCreate', F('FolderCreate', F('SyncKey', d.hierarchyKey), F('ParentId', trash), F('DisplayName', `old stuff ${version}`), F('Type', 12)));
      assert.equal(childText(created.body, 'FolderHierarchy:Status'), '1');
      const sub = childText(created.body, 'FolderHierarchy:ServerId')!;
      await deliver(user, `nested ${version}`);
      const nested = childText(findAdd((await pull(d, inbox)).adds, `nested ${version}`), 'AirSync:ServerId')!;
      await d.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', nested), M('SrcFldId', inbox), M('DstFldId', sub))));

      const trashView = await pull(d, trash);
      assert.ok(trashView.adds.length >= 2);
      const subView = await pull(d, sub);
      assert.equal(subView.adds.length, 1);
      const otherHierarchy = (await other.c.send('FolderSync', F('FolderSync', F('SyncKey', '0')))).body!;
      const otherKey = childText(otherHierarchy, 'FolderHierarchy:SyncKey')!;

      // Without DeleteSubFolders the subfolder and its mail stay.
      let r = await itemOps(d, [IO('EmptyFolderContents', A('CollectionId', trash))]);
      let efc = responses(r, 'EmptyFolderContents')[0];
      assert.equal(status(efc), '1');
      assert.equal(childText(efc, 'AirSync:CollectionId'), trash);
      const afterEmpty = await pull(d, trash, trashView.key);
      assert.deepEqual(afterEmpty.deletes.sort(), trashView.adds.map((a) => childText(a, 'AirSync:ServerId')!).sort());
      assert.equal((await pull(d, sub, subView.key)).deletes.length, 0);

      r = await itemOps(d, [IO('EmptyFolderContents', A('CollectionId', trash), IO('Options', IO('DeleteSubFolders')))]);
      assert.equal(status(responses(r, 'EmptyFolderContents')[0]), '1');
      const gone = await syncOnce(d, sub, subView.key);
      assert.equal(childText(gone, 'AirSync:Status'), '12', 'the deleted subfolder answers "hierarchy changed"');
      const fs = await other.c.send('FolderSync', F('FolderSync', F('SyncKey', otherKey)));
      assert.deepEqual(childrenOf(child(fs.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Delete').map((x) => childText(x, 'FolderHierarchy:ServerId')), [sub]);
      const nestedFetch = await itemOps(d, [IO('Fetch', IO('Store', 'Mailbox'), S('LongId', `${sub}:${nested.split(':')[1]}`))]);
      assert.equal(status(responses(nestedFetch, 'Fetch')[0]), '6', 'the subfolder\'s mail went with it');

      r = await itemOps(d, [
        IO('EmptyFolderContents'),
        IO('EmptyFolderContents', A('CollectionId', '99999999')),
        IO('EmptyFolderContents', A('CollectionId', 'x')),
        IO('EmptyFolderContents', A('CollectionId', d.folders.get('Calendar')!)),
      ]);
      assert.deepEqual(responses(r, 'EmptyFolderContents').map(status), ['2', '6', '6', '16']);
    });
  }

  for (const version of ['14.1', '16.1']) {
    it(`${version}: ItemOperations Move moves a conversation with MoveAlways; 155 without it, 156 for a bad destination`, async () => {
      const user = 'dave@contoso.test';
      const subject = `conversation ${version}`;
      await deliver(user, subject);
      const d = await device(user, version);
      const inbox = d.folders.get('Inbox')!;
      const junk = d.folders.get('Junk Email')!;
      const inboxView = await pull(d, inbox);
      const add = findAdd(inboxView.adds, subject);
      const conversation = child(child(add, 'AirSync:ApplicationData'), 'Email2:ConversationId')!.opaque!;
      const junkView = await pull(d, junk);
      const move = (dst: string, options?: WbxmlElement, conv: Buffer = conversation): WbxmlElement => IO('Move', IO('ConversationId', conv), IO('DstFldId', dst), options);

      const r = await itemOps(d, [
        move(junk),
        move(junk, IO('Options', IO('MoveAlways', 0))),
        move(d.folders.get('Calendar')!, IO('Options', IO('MoveAlways'))),
        move('99999999', IO('Options', IO('MoveAlways'))),
        move(junk, IO('Options', IO('MoveAlways')), crypto.randomBytes(16)),
        IO('Move', IO('DstFldId', junk), IO('Options', IO('MoveAlways'))),
      ]);
      const moves = responses(r, 'Move');
      assert.deepEqual(moves.map(status), ['155', '155', '156', '156', '6', '2']);
      assert.ok(child(moves[0], 'ItemOperations:ConversationId')!.opaque!.equals(conversation), 'the ConversationId is echoed as opaque bytes');

      const ok = await itemOps(d, [move(junk, IO('Options', IO('MoveAlways')))]);
      assert.equal(status(responses(ok, 'Move')[0]), '1');
      assert.deepEqual((await pull(d, inbox, inboxView.key)).deletes, [childText(add, 'AirSync:ServerId')]);
      assert.equal(subjectOf((await pull(d, junk, junkView.key)).adds[0]!), subject);
    });
  }

  it('12.1: ItemOperations Move is not part of 12.1 (Status 2)', async () => {
    const d = await device('dave@contoso.test', '12.1');
    const r = await itemOps(d, [IO('Move', IO('ConversationId', Buffer.alloc(16, 1)), IO('DstFldId', d.folders.get('Junk Email')!), IO('Options', IO('MoveAlways')))]);
    assert.equal(childText(r.body, 'ItemOperations:Status'), '1');
    assert.equal(status(responses(r, 'Move')[0]), '2');
  });
});
