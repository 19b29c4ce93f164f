// Conversations as clients thread them, through the real server: a reply without Outlook's
// Thread-Index joins the conversation of the original in the same mailbox (ConversationId kept,
// ConversationIndex one response level longer); a conversation moved with MoveAlways sends its later
// mail straight to that folder.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const IO = ns('ItemOperations');

function message(o: { subject: string; messageId: string; inReplyTo?: string; references?: string; threadIndex?: string; date?: Date }): Buffer {
  return Buffer.from([
    'From: Erin Eriksen <erin@fabrikam.test>', 'To: carol@contoso.test', `Subject: ${o.subject}`,
    `Date: ${(o.date ?? new Date()).toUTCString()}`, `Message-ID: ${o.messageId}`,
    ...(o.inReplyTo ? [`In-Reply-To: ${o.inReplyTo}`] : []), ...(o.references ? [`References: ${o.references}`] : []),
    ...(o.threadIndex ? [`Thread-Index: ${o.threadIndex}`] : []),
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', `${o.subject}.`, '',
  ].join('\r\n'));
}

/** An Outlook Thread-Index: reserved byte, 5-byte FILETIME header, 16-byte conversation GUID. */
function outlookThreadIndex(guid: Buffer): string {
  const ft = (BigInt(Date.now()) + 11644473600000n) * 10000n;
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(ft);
  return Buffer.concat([Buffer.from([0x01]), b.subarray(0, 5), guid]).toString('base64');
}

describe('end to end: conversations', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  let c: EasClient;
  let folders: Map<string, string>;
  let hierarchyKey: string;
  const keys = new Map<string, string>();

  async function pull(folder: string): Promise<WbxmlElement[]> {
    const id = folders.get(folder)!;
    const sync = async (key: string): Promise<WbxmlElement> => {
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', id)))));
      return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    };
    let key = keys.get(folder) ?? childText(await sync('0'), 'AirSync:SyncKey')!;
    const col = await sync(key);
    assert.equal(childText(col, 'AirSync:Status'), '1');
    key = childText(col, 'AirSync:SyncKey')!;
    keys.set(folder, key);
    return childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add');
  }
  const bySubject = (adds: WbxmlElement[], subject: string): WbxmlElement => {
    const a = adds.find((x) => childText(child(x, 'AirSync:ApplicationData'), 'Email:Subject') === subject);
    assert.ok(a, `${subject} arrived`);
    return child(a, 'AirSync:ApplicationData')!;
  };
  const convOf = (d: WbxmlElement): { id: Buffer; index: Buffer } => ({
    id: child(d, 'Email2:ConversationId')!.opaque!, index: child(d, 'Email2:ConversationIndex')!.opaque!,
  });
  const deliver = (raw: Buffer): Promise<void> => sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['carol@contoso.test'] }, raw);

  before(async () => {
    server = await startServerProcess();
    c = new EasClient({ baseUrl: server.baseUrl, user: 'carol@contoso.test', password: 'demo', deviceId: 'ConvDev1', version: '14.1' });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    hierarchyKey = childText(r.body, 'FolderHierarchy:SyncKey')!;
    await pull('Inbox');
  });
  after(async () => { await server?.stop(); });

  it('a reply without Thread-Index joins the Outlook original: same ConversationId, one more response level', async () => {
    const guid = crypto.randomBytes(16);
    const tag = crypto.randomBytes(3).toString('hex');
    await deliver(message({ subject: `plan ${tag}`, messageId: `<orig-${tag}@fabrikam.test>`, threadIndex: outlookThreadIndex(guid), date: new Date(Date.now() - 3600_000) }));
    await deliver(message({ subject: `RE: plan ${tag}`, messageId: `<reply-${tag}@fabrikam.test>`, inReplyTo: `<orig-${tag}@fabrikam.test>` }));
    const adds = await pull('Inbox');
    const orig = convOf(bySubject(adds, `plan ${tag}`));
    const reply = convOf(bySubject(adds, `RE: plan ${tag}`));
    assert.deepEqual(orig.id, guid, 'the Thread-Index GUID is the ConversationId');
    assert.equal(orig.index.length, 5);
    assert.deepEqual(reply.id, guid, 'the reply joins it although it has no Thread-Index');
    assert.equal(reply.index.length, 10);
    assert.deepEqual(reply.index.subarray(0, 5), orig.index, 'the reply\'s index extends the original\'s');
  });

  it('without any Thread-Index, the thread\'s first Message-ID groups original and replies', async () => {
    const tag = crypto.randomBytes(3).toString('hex');
    await deliver(message({ subject: `lunch ${tag}`, messageId: `<l-${tag}@fabrikam.test>` }));
    await deliver(message({ subject: `RE: lunch ${tag}`, messageId: `<l2-${tag}@fabrikam.test>`, inReplyTo: `<l-${tag}@fabrikam.test>`, references: `<l-${tag}@fabrikam.test>` }));
    await deliver(message({ subject: `other ${tag}`, messageId: `<x-${tag}@fabrikam.test>` }));
    const adds = await pull('Inbox');
    const a = convOf(bySubject(adds, `lunch ${tag}`));
    const b = convOf(bySubject(adds, `RE: lunch ${tag}`));
    const other = convOf(bySubject(adds, `other ${tag}`));
    assert.deepEqual(a.id, b.id);
    assert.notDeepEqual(a.id, other.id);
    assert.deepEqual(b.index.subarray(0, 5), a.index);
  });

  it('after a MoveAlways of the conversation, its next reply is delivered to that folder, not the Inbox', async () => {
    const tag = crypto.randomBytes(3).toString('hex');
    const created = await c.send('FolderCreate', F('FolderCreate', F('SyncKey', hierarchyKey), F('ParentId', '0'), F('DisplayName', `Threads ${tag}`), F('Type', 12)));
    assert.equal(childText(created.body, 'FolderHierarchy:Status'), '1');
    hierarchyKey = childText(created.body, 'FolderHierarchy:SyncKey')!;
    const threads = childText(created.body, 'FolderHierarchy:ServerId')!;
    folders.set(`Threads ${tag}`, threads);
    await pull(`Threads ${tag}`);

    await deliver(message({ subject: `build ${tag}`, messageId: `<b-${tag}@fabrikam.test>` }));
    const conv = convOf(bySubject(await pull('Inbox'), `build ${tag}`)).id;
    const moved = await c.send('ItemOperations', IO('ItemOperations', IO('Move', IO('ConversationId', conv), IO('DstFldId', threads), IO('Options', IO('MoveAlways')))));
    assert.equal(childText(child(child(moved.body, 'ItemOperations:Response'), 'ItemOperations:Move'), 'ItemOperations:Status'), '1');
    await pull('Inbox');
    assert.ok(bySubject(await pull(`Threads ${tag}`), `build ${tag}`));

    await deliver(message({ subject: `RE: build ${tag}`, messageId: `<b2-${tag}@fabrikam.test>`, inReplyTo: `<b-${tag}@fabrikam.test>`, references: `<b-${tag}@fabrikam.test>` }));
    const inThreads = await pull(`Threads ${tag}`);
    assert.deepEqual(convOf(bySubject(inThreads, `RE: build ${tag}`)).id, conv);
    const inInbox = await pull('Inbox');
    assert.ok(!inInbox.some((x) => childText(child(x, 'AirSync:ApplicationData'), 'Email:Subject') === `RE: build ${tag}`), 'not in the Inbox');
    // Mail of other conversations still arrives in the Inbox.
    await deliver(message({ subject: `unrelated ${tag}`, messageId: `<u-${tag}@fabrikam.test>` }));
    assert.ok(bySubject(await pull('Inbox'), `unrelated ${tag}`));
  });
});
