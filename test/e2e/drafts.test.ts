// 16.x drafts in Sync over real HTTP+WBXML: a client Add of a draft with attachments, its Change
// (attachment Delete and Add, new body) seen by a second device, attachment bytes by FileReference,
// Email2:Send, the refusals (14.1 Add, edits of received mail, bounds) with their statuses.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const E = ns('Email');
const E2 = ns('Email2');
const IO = ns('ItemOperations');

/** The server runs with a small message limit so that a whole draft can exceed it without huge requests. */
const MAX_MESSAGE_BYTES = 3_000_000;

describe('end to end: 16.x drafts in Sync', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess({ extraArgs: ['--max-message-bytes', String(MAX_MESSAGE_BYTES)] }); });
  after(async () => { await server?.stop(); });

  let counter = 0;
  interface Device { c: EasClient; folders: Map<string, string>; keys: Map<string, string> }
  async function device(user: string, version: string): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `DraftDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    return { c, folders: await c.folderIds(), keys: new Map() };
  }

  const textBodies = A('Options', B('BodyPreference', B('Type', 1)));

  /** One Sync of one folder from the device's last key (priming it first); keeps the new key. */
  async function sync(d: Device, folder: string, commands?: WbxmlElement[]): Promise<{ col: WbxmlElement; r: EasResponse }> {
    const folderId = d.folders.get(folder)!;
    if (!d.keys.has(folder)) {
      const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', folderId)))));
      const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
      assert.equal(childText(col, 'AirSync:Status'), '1');
      d.keys.set(folder, childText(col, 'AirSync:SyncKey')!);
    }
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection',
      A('SyncKey', d.keys.get(folder)!), A('CollectionId', folderId), textBodies, commands && A('Commands', commands)))));
    assert.equal(r.status, 200);
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    assert.equal(childText(col, 'AirSync:Status'), '1', `collection status (${r.headers.get('x-easmime-reason') ?? ''})`);
    d.keys.set(folder, childText(col, 'AirSync:SyncKey')!);
    return { col, r };
  }

  const commandsOf = (col: WbxmlElement, tag: string): WbxmlElement[] => childrenOf(child(col, 'AirSync:Commands'), `AirSync:${tag}`);
  const responsesOf = (col: WbxmlElement, tag: string): WbxmlElement[] => childrenOf(child(col, 'AirSync:Responses'), `AirSync:${tag}`);
  const data = (el: WbxmlElement | undefined): WbxmlElement | undefined => child(el, 'AirSync:ApplicationData');
  const attachmentsOf = (appData: WbxmlElement | undefined): WbxmlElement[] => childrenOf(child(appData, 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment');
  const bodyText = (appData: WbxmlElement | undefined): string | undefined => childText(child(appData, 'AirSyncBase:Body'), 'AirSyncBase:Data');

  /** Pulls server changes until none are left. */
  async function drain(d: Device, folder: string): Promise<{ adds: WbxmlElement[]; changes: WbxmlElement[]; deletes: string[] }> {
    const out = { adds: [] as WbxmlElement[], changes: [] as WbxmlElement[], deletes: [] as string[] };
    for (;;) {
      const { col } = await sync(d, folder);
      out.adds.push(...commandsOf(col, 'Add'));
      out.changes.push(...commandsOf(col, 'Change'));
      out.deletes.push(...commandsOf(col, 'Delete').map((x) => childText(x, 'AirSync:ServerId')!));
      if (!child(col, 'AirSync:MoreAvailable')) return out;
    }
  }

  const attachAdd = (clientId: string, name: string, content: Buffer, extra: Content[] = []): WbxmlElement =>
    B('Add', B('ClientId', clientId), B('DisplayName', name), B('Method', 1), B('Content', content), ...extra);
  const addDraft = (clientId: string, appData: Content[], extra: Content[] = []): WbxmlElement =>
    A('Add', A('ClientId', clientId), A('ApplicationData', appData), ...extra);

  async function fetchRefs(d: Device, refs: string[]): Promise<WbxmlElement[]> {
    const r = await d.c.send('ItemOperations', IO('ItemOperations', refs.map((ref) => IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', ref)))));
    assert.equal(childText(r.body, 'ItemOperations:Status'), '1');
    return childrenOf(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch');
  }
  const fetchedBytes = (f: WbxmlElement | undefined): Buffer => Buffer.from(childText(child(f, 'ItemOperations:Properties'), 'ItemOperations:Data') ?? '', 'base64');

  for (const version of ['16.0', '16.1']) {
    it(`${version}: a draft with two attachments is added, seen by a second device, edited (attachment out, attachment in, new body), and its attachments fetched by FileReference`, async () => {
      const a = await device('alice@contoso.test', version);
      const b = await device('alice@contoso.test', version);
      const drafts = a.folders.get('Drafts')!;
      await drain(b, 'Drafts');

      // Every byte value then noise, and a picture: what a text-minded path would damage.
      const blob = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), crypto.randomBytes(40_000)]);
      const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), crypto.randomBytes(5000)]);
      const subject = `Draft ${version} ${crypto.randomUUID().slice(0, 8)}`;
      const { col: added } = await sync(a, 'Drafts', [addDraft('c1', [
        E('To', '"Bob Berg" <bob@contoso.test>'), E('Cc', 'dave@contoso.test'), E2('Bcc', 'carol@contoso.test'), E('Subject', subject), E('Importance', 2),
        B('Body', B('Type', 1), B('Data', 'first words of the draft')),
        B('Attachments',
          attachAdd('att-blob', 'blob.bin', blob, [B('ContentType', 'application/octet-stream')]),
          B('Add', B('ClientId', 'att-png'), B('DisplayName', 'picture.png'), B('Method', 6), B('ContentType', 'image/png'),
            B('ContentId', 'pic1@device'), B('IsInline', 1), B('Content', png))),
      ], [A('Class', 'Email')])]);
      const addResponse = responsesOf(added, 'Add')[0];
      assert.equal(childText(addResponse, 'AirSync:ClientId'), 'c1');
      assert.equal(childText(addResponse, 'AirSync:Status'), '1');
      const serverId = childText(addResponse, 'AirSync:ServerId')!;
      assert.match(serverId, new RegExp(`^${drafts}:\\d+$`));
      const refOf = new Map(attachmentsOf(data(addResponse)).map((x) => [childText(x, 'AirSyncBase:ClientId')!, childText(x, 'AirSyncBase:FileReference')!]));
      assert.deepEqual([...refOf.keys()].sort(), ['att-blob', 'att-png'], 'each added attachment answered with its ClientId');
      for (const ref of refOf.values()) assert.ok(ref.startsWith(`${serverId}:`), `FileReference ${ref} belongs to ${serverId}`);
      assert.notEqual(refOf.get('att-blob'), refOf.get('att-png'));
      assert.ok(!commandsOf(added, 'Add').some((x) => childText(x, 'AirSync:ServerId') === serverId), 'the device is not sent its own draft back');

      // The second device gets the draft as it was written.
      const seen = (await drain(b, 'Drafts')).adds.find((x) => childText(x, 'AirSync:ServerId') === serverId);
      assert.ok(seen, 'the second device sees the draft');
      const seenData = data(seen);
      assert.equal(childText(seenData, 'Email:Subject'), subject);
      assert.match(childText(seenData, 'Email:To')!, /bob@contoso\.test/);
      assert.match(childText(seenData, 'Email:Cc')!, /dave@contoso\.test/);
      assert.equal(childText(seenData, 'Email2:IsDraft'), '1');
      assert.match(childText(seenData, 'Email2:Bcc') ?? '', /carol@contoso\.test/, 'the draft keeps its Bcc');
      assert.equal(childText(seenData, 'Email:Importance'), '2');
      assert.match(bodyText(seenData)!, /first words of the draft/);
      const seenAttachments = new Map(attachmentsOf(seenData).map((x) => [childText(x, 'AirSyncBase:DisplayName')!, x]));
      assert.deepEqual([...seenAttachments.keys()].sort(), ['blob.bin', 'picture.png']);
      assert.equal(childText(seenAttachments.get('blob.bin'), 'AirSyncBase:FileReference'), refOf.get('att-blob'));
      assert.equal(childText(seenAttachments.get('blob.bin'), 'AirSyncBase:EstimatedDataSize'), String(blob.length));
      assert.equal(childText(seenAttachments.get('picture.png'), 'AirSyncBase:FileReference'), refOf.get('att-png'));
      assert.equal(childText(seenAttachments.get('picture.png'), 'AirSyncBase:IsInline'), '1');
      assert.equal(childText(seenAttachments.get('picture.png'), 'AirSyncBase:ContentId'), 'pic1@device');

      // Edit: the first attachment goes (so the picture's place would shift if places were not kept), a third comes, the body changes.
      const notes = Buffer.from('notes for the meeting\r\n', 'utf8');
      const { col: changed } = await sync(a, 'Drafts', [A('Change', A('ServerId', serverId), A('ApplicationData',
        B('Body', B('Type', 1), B('Data', 'second version of the text')),
        B('Attachments', B('Delete', B('FileReference', refOf.get('att-blob')!)), attachAdd('att-notes', 'notes.txt', notes, [B('ContentType', 'text/plain')]))))]);
      const changeResponse = responsesOf(changed, 'Change')[0];
      assert.equal(childText(changeResponse, 'AirSync:ServerId'), serverId);
      assert.equal(childText(changeResponse, 'AirSync:Status'), '1');
      const newRefs = attachmentsOf(data(changeResponse));
      assert.equal(newRefs.length, 1, 'only the added attachment is answered');
      assert.equal(childText(newRefs[0], 'AirSyncBase:ClientId'), 'att-notes');
      const notesRef = childText(newRefs[0], 'AirSyncBase:FileReference')!;
      assert.ok(![...refOf.values()].includes(notesRef), 'a new attachment never takes an old FileReference');
      assert.ok(!commandsOf(changed, 'Change').some((x) => childText(x, 'AirSync:ServerId') === serverId), 'the device is not sent its own change back');

      // The second device sees the change in full.
      const update = (await drain(b, 'Drafts')).changes.find((x) => childText(x, 'AirSync:ServerId') === serverId);
      assert.ok(update, 'the second device gets a Change');
      assert.match(bodyText(data(update))!, /second version of the text/);
      assert.equal(childText(data(update), 'Email:Subject'), subject, 'fields not named in the Change stay');
      const after = new Map(attachmentsOf(data(update)).map((x) => [childText(x, 'AirSyncBase:DisplayName')!, childText(x, 'AirSyncBase:FileReference')!]));
      assert.deepEqual([...after.keys()].sort(), ['notes.txt', 'picture.png']);
      assert.equal(after.get('picture.png'), refOf.get('att-png'), 'the remaining attachment keeps its FileReference');
      assert.equal(after.get('notes.txt'), notesRef);

      // Bytes by the FileReferences the first device was given: identical; the removed one is gone.
      const [pic, note, removed] = await fetchRefs(a, [refOf.get('att-png')!, notesRef, refOf.get('att-blob')!]);
      assert.equal(childText(pic, 'ItemOperations:Status'), '1');
      assert.ok(fetchedBytes(pic).equals(png), 'the remaining attachment is byte-identical');
      assert.equal(childText(child(pic, 'ItemOperations:Properties'), 'AirSyncBase:ContentType'), 'image/png');
      assert.ok(fetchedBytes(note).equals(notes));
      assert.equal(childText(removed, 'ItemOperations:Status'), '15', 'a removed attachment cannot be fetched');

      // A Change naming the removed attachment again (a device that had not seen the removal) changes nothing and fails nothing.
      const { col: again } = await sync(b, 'Drafts', [A('Change', A('ServerId', serverId), A('ApplicationData',
        B('Attachments', B('Delete', B('FileReference', refOf.get('att-blob')!)))))]);
      assert.equal(responsesOf(again, 'Change').length, 0, 'a successful Change without added attachments is not answered');
      const [picAgain] = await fetchRefs(b, [refOf.get('att-png')!]);
      assert.ok(fetchedBytes(picAgain).equals(png));
    });
  }

  it('16.x: a received message takes Read and Flag but no edit of its own fields (Status 6); Add outside Drafts gets 6', async () => {
    const subject = `received ${crypto.randomUUID().slice(0, 8)}`;
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['dave@contoso.test'] },
      await compose({ from: 'erin@fabrikam.test', to: 'dave@contoso.test', subject, text: 'original text', attachments: [{ filename: 'a.txt', content: 'attached' }] }));
    for (const version of ['16.0', '16.1']) {
      const d = await device('dave@contoso.test', version);
      const item = (await drain(d, 'Inbox')).adds.find((x) => childText(data(x), 'Email:Subject') === subject)!;
      assert.ok(item);
      assert.equal(childText(data(item), 'Email2:IsDraft'), '0', '16.x marks received mail as not a draft');
      const serverId = childText(item, 'AirSync:ServerId')!;
      const ref = childText(attachmentsOf(data(item))[0], 'AirSyncBase:FileReference')!;
      const illegal: Array<[string, WbxmlElement]> = [
        ['Subject', E('Subject', 'rewritten')],
        ['Body', B('Body', B('Type', 1), B('Data', 'rewritten'))],
        ['To', E('To', 'mallory@contoso.test')],
        ['Attachments', B('Attachments', B('Delete', B('FileReference', ref)))],
        ['From', E('From', 'someone@else.test')],
      ];
      const { col, r } = await sync(d, 'Inbox', [
        ...illegal.map(([, el]) => A('Change', A('ServerId', serverId), A('ApplicationData', el))),
        A('Change', A('ServerId', serverId), A('ApplicationData', E('Read', 1), E('Flag', E('Status', 2), E('FlagType', 'for Follow Up')))),
        A('Change', A('ServerId', serverId), A('ApplicationData', E('Read', 1)), E2('Send')),
        addDraft('not-here', [E('Subject', 'an add in the Inbox')]),
      ]);
      const changes = responsesOf(col, 'Change');
      assert.deepEqual(changes.map((x) => childText(x, 'AirSync:Status')), [...illegal.map(() => '6'), '6'],
        'each field edit and the Send of a received message get Status 6; Read and Flag succeed silently');
      assert.match(r.headers.get('x-easmime-reason') ?? '', /not a draft/);
      const add = responsesOf(col, 'Add')[0];
      assert.equal(childText(add, 'AirSync:Status'), '6');
      assert.equal(child(add, 'AirSync:ServerId'), undefined);

      // A second device sees the Read and Flag and the message as it was.
      const other = await device('dave@contoso.test', version);
      const fresh = (await drain(other, 'Inbox')).adds.find((x) => childText(x, 'AirSync:ServerId') === serverId)!;
      assert.equal(childText(data(fresh), 'Email:Read'), '1');
      assert.equal(childText(child(data(fresh), 'Email:Flag'), 'Email:FlagType'), 'for Follow Up');
      assert.equal(childText(data(fresh), 'Email:Subject'), subject);
      assert.match(bodyText(data(fresh))!, /original text/);
      assert.equal(attachmentsOf(data(fresh)).length, 1);
      assert.ok(!(await drain(other, 'Inbox')).adds.some((x) => childText(data(x), 'Email:Subject') === 'an add in the Inbox'));
    }
  });

  it('14.1: a client Add of email gets Status 6 (drafts are 16.x) and nothing is stored', async () => {
    const old = await device('bob@contoso.test', '14.1');
    const watcher = await device('bob@contoso.test', '16.1');
    await drain(watcher, 'Drafts');
    const { col } = await sync(old, 'Drafts', [addDraft('old-1', [E('To', 'alice@contoso.test'), E('Subject', 'from 14.1'),
      B('Body', B('Type', 1), B('Data', 'text'))])]);
    const add = responsesOf(col, 'Add')[0];
    assert.equal(childText(add, 'AirSync:ClientId'), 'old-1');
    assert.equal(childText(add, 'AirSync:Status'), '6');
    assert.equal(child(add, 'AirSync:ServerId'), undefined);
    const later = await drain(watcher, 'Drafts');
    assert.equal(later.adds.length, 0, 'no draft was stored');
  });

  it('Email2:Send: a draft added with Send is delivered (Bcc too), kept in Sent Items and leaves Drafts; a draft without recipients gets 183 and stays', async () => {
    const a = await device('alice@contoso.test', '16.1');
    const subject = `send me ${crypto.randomUUID().slice(0, 8)}`;
    const { col } = await sync(a, 'Drafts', [addDraft('s1', [E('To', 'bob@contoso.test'), E2('Bcc', 'carol@contoso.test'), E('Subject', subject),
      B('Body', B('Type', 2), B('Data', '<p>sent from <b>drafts</b></p>')), B('Attachments', attachAdd('f', 'file.bin', Buffer.from([0, 1, 2, 255])))], [E2('Send')])]);
    const add = responsesOf(col, 'Add')[0];
    assert.equal(childText(add, 'AirSync:Status'), '1');
    const serverId = childText(add, 'AirSync:ServerId')!;
    assert.ok((await drain(a, 'Drafts')).deletes.includes(serverId), 'the sent draft leaves Drafts');

    const bob = await device('bob@contoso.test', '16.1');
    const got = (await drain(bob, 'Inbox')).adds.find((x) => childText(data(x), 'Email:Subject') === subject);
    assert.ok(got, 'the To recipient got it');
    assert.equal(childText(data(got), 'Email2:IsDraft'), '0');
    assert.equal(child(data(got), 'Email2:Bcc'), undefined);
    assert.deepEqual(attachmentsOf(data(got)).map((x) => childText(x, 'AirSyncBase:DisplayName')), ['file.bin']);
    const carol = await device('carol@contoso.test', '16.1');
    const bcc = (await drain(carol, 'Inbox')).adds.find((x) => childText(data(x), 'Email:Subject') === subject);
    assert.ok(bcc, 'the Bcc recipient got it');
    assert.equal(childText(data(bcc), 'Email2:ReceivedAsBcc'), '1');
    const sent = (await drain(a, 'Sent Items')).adds.find((x) => childText(data(x), 'Email:Subject') === subject);
    assert.ok(sent, 'a copy is in Sent Items');

    // No recipients: the draft is saved, the Send fails with InvalidRecipients, a Change with Send fails the same way.
    const { col: lonely } = await sync(a, 'Drafts', [addDraft('s2', [E('Subject', 'nobody to send to')], [E2('Send')])]);
    const failed = responsesOf(lonely, 'Add')[0];
    assert.equal(childText(failed, 'AirSync:Status'), '183');
    assert.equal(child(failed, 'AirSync:ServerId'), undefined);
    const kept = [...commandsOf(lonely, 'Add'), ...(await drain(a, 'Drafts')).adds].find((x) => childText(data(x), 'Email:Subject') === 'nobody to send to');
    assert.ok(kept, 'the unsendable draft is kept and comes to the device as a server Add');
    const keptId = childText(kept, 'AirSync:ServerId')!;
    const { col: retry } = await sync(a, 'Drafts', [A('Change', A('ServerId', keptId), A('ApplicationData', E('Subject', 'still nobody')), E2('Send'))]);
    assert.equal(childText(responsesOf(retry, 'Change')[0], 'AirSync:Status'), '183');
    const other = await device('alice@contoso.test', '16.1');
    const stillThere = (await drain(other, 'Drafts')).adds.find((x) => childText(x, 'AirSync:ServerId') === keptId);
    assert.equal(childText(data(stillThere), 'Email:Subject'), 'still nobody', 'the edit was saved although the send failed');
  });

  it('a lost Add response: the same Add with the same SyncKey is answered with the same draft, not a second one', async () => {
    const a = await device('dave@contoso.test', '16.1');
    await sync(a, 'Drafts');
    const key = a.keys.get('Drafts')!;
    const request = [addDraft('dup-1', [E('Subject', 'only once'), B('Attachments', attachAdd('x', 'x.bin', Buffer.from('x')))])];
    const first = responsesOf((await sync(a, 'Drafts', request)).col, 'Add')[0];
    a.keys.set('Drafts', key);
    const second = responsesOf((await sync(a, 'Drafts', request)).col, 'Add')[0];
    assert.equal(childText(second, 'AirSync:ServerId'), childText(first, 'AirSync:ServerId'));
    assert.deepEqual(attachmentsOf(data(second)).map((x) => childText(x, 'AirSyncBase:FileReference')),
      attachmentsOf(data(first)).map((x) => childText(x, 'AirSyncBase:FileReference')));
    const other = await device('dave@contoso.test', '16.1');
    assert.equal((await drain(other, 'Drafts')).adds.filter((x) => childText(data(x), 'Email:Subject') === 'only once').length, 1);
  });

  it('bounds: attachment size and count, body size and type, malformed attachments and references get precise statuses and store nothing', async () => {
    const a = await device('bob@contoso.test', '16.1');
    const watcher = await device('bob@contoso.test', '16.1');
    await drain(watcher, 'Drafts');
    const tiny = Buffer.from('t');
    const many = (n: number, prefix: string): WbxmlElement[] => Array.from({ length: n }, (_, i) => attachAdd(`${prefix}${i}`, `f${i}.txt`, tiny));
    const cases: Array<[string, WbxmlElement, string, RegExp]> = [
      ['one attachment over 10 MiB', addDraft('big', [B('Attachments', attachAdd('b', 'big.bin', Buffer.alloc(10 * 1024 * 1024 + 1, 7)))]), '122', /at most 10485760/],
      ['a draft over the message limit', addDraft('fat', [B('Attachments', attachAdd('f1', 'a.bin', crypto.randomBytes(1_600_000)), attachAdd('f2', 'b.bin', crypto.randomBytes(1_600_000)))]), '122', /the limit is 3000000/],
      ['101 attachments', addDraft('many', [B('Attachments', many(101, 'm'))]), '6', /at most 100/],
      ['a body over 2 MiB', addDraft('longbody', [B('Body', B('Type', 1), B('Data', 'x'.repeat(2 * 1024 * 1024 + 1)))]), '6', /at most 2097152/],
      ['an RTF body', addDraft('rtf', [B('Body', B('Type', 3), B('Data', 'e1xydGYxfQ=='))]), '6', /Type 1 .* or 2/],
      ['Method 3', addDraft('m3', [B('Attachments', B('Add', B('ClientId', 'q'), B('DisplayName', 'q'), B('Method', 3), B('Content', tiny)))]), '6', /Method 3/],
      ['an attachment without Content', addDraft('noc', [B('Attachments', B('Add', B('ClientId', 'q'), B('DisplayName', 'q'), B('Method', 1)))]), '6', /needs Content/],
      ['two attachments with one ClientId', addDraft('twice', [B('Attachments', attachAdd('same', 'a', tiny), attachAdd('same', 'b', tiny))]), '6', /same ClientId/],
      ['a Delete in an Add', addDraft('del', [B('Attachments', B('Delete', B('FileReference', '1:1:0')))]), '6', /not an attachment of this draft/],
      ['a subject over 4096 characters', addDraft('subj', [E('Subject', 's'.repeat(4097))]), '6', /Subject/],
      ['IsDraft sent by the client', addDraft('isd', [E2('IsDraft', 1)]), '6', /set by the server/],
      ['no ClientId', A('Add', A('ApplicationData', E('Subject', 'x'))), '4', /ClientId/],
    ];
    for (const [what, command, status, reason] of cases) {
      const { col, r } = await sync(a, 'Drafts', [command]);
      const add = responsesOf(col, 'Add')[0];
      assert.equal(childText(add, 'AirSync:Status'), status, what);
      assert.equal(child(add, 'AirSync:ServerId'), undefined, what);
      assert.match(r.headers.get('x-easmime-reason') ?? '', reason, what);
    }
    assert.equal((await drain(watcher, 'Drafts')).adds.length, 0, 'none of them stored a draft');

    // 100 attachment places fill a draft; removed ones keep theirs, so a 101st never fits.
    const { col } = await sync(a, 'Drafts', [addDraft('full', [E('Subject', 'full'), B('Attachments', many(100, 'p'))])]);
    const full = responsesOf(col, 'Add')[0];
    assert.equal(childText(full, 'AirSync:Status'), '1');
    const id = childText(full, 'AirSync:ServerId')!;
    const firstRef = childText(attachmentsOf(data(full))[0], 'AirSyncBase:FileReference')!;
    const { col: more, r } = await sync(a, 'Drafts', [A('Change', A('ServerId', id), A('ApplicationData',
      B('Attachments', B('Delete', B('FileReference', firstRef)), attachAdd('extra', 'extra.txt', tiny))))]);
    assert.equal(childText(responsesOf(more, 'Change')[0], 'AirSync:Status'), '6');
    assert.match(r.headers.get('x-easmime-reason') ?? '', /at most 100/);
    const otherDraft = id.replace(/:(\d+)$/, (_, n: string) => `:${Number(n) + 1000}`);
    const { col: wrong } = await sync(a, 'Drafts', [
      A('Change', A('ServerId', id), A('ApplicationData', B('Attachments', B('Delete', B('FileReference', `${otherDraft}:0`))))),
      A('Change', A('ServerId', id), A('ApplicationData', B('Attachments', B('Delete', B('FileReference', `${id}:100`))))),
      A('Change', A('ServerId', id), A('ApplicationData', B('Attachments', B('Delete', B('FileReference', 'garbage'))))),
    ]);
    assert.deepEqual(responsesOf(wrong, 'Change').map((x) => childText(x, 'AirSync:Status')), ['6', '6', '6'],
      'a FileReference of another item, past the last place, or malformed');
    const seen = (await drain(watcher, 'Drafts')).adds.find((x) => childText(x, 'AirSync:ServerId') === id);
    assert.equal(attachmentsOf(data(seen)).length, 100, 'the refused Changes changed nothing');
  });
});
