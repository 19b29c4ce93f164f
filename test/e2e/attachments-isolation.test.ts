// Another user's attachment, by ItemOperations Fetch of its FileReference and by GetAttachment, over
// real HTTP+WBXML: refused exactly as an attachment that does not exist or a malformed reference is
// (ItemOperations Status 15; GetAttachment HTTP 500 as MS-ASCMD 2.2.1.7 answers a deleted attachment,
// 400 for a name that is no reference at all), so the answer never tells whether the other user's
// message exists; never a crash, never a byte of it.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');
const IO = ns('ItemOperations');

describe('end to end: attachments of another user', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  const secret = Buffer.concat([Buffer.from('BOB-ONLY-'), crypto.randomBytes(2000)]);
  let bobRef: string;
  let bobMessage: string;
  let bobFolder: string;

  let counter = 0;
  async function device(user: string, version: string): Promise<{ c: EasClient; folders: Map<string, string> }> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `AttIso${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return { c, folders };
  }

  before(async () => {
    server = await startServerProcess();
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, await compose({
      from: 'erin@fabrikam.test', to: 'bob@contoso.test', subject: 'for bob only', text: 'see the file',
      attachments: [{ filename: 'bob.bin', content: secret }],
    }));
    const bob = await device('bob@contoso.test', '14.1');
    const inbox = bob.folders.get('Inbox')!;
    const r0 = await bob.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inbox)))));
    const key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
    const r1 = await bob.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox), A('WindowSize', 100)))));
    const add = childrenOf(child(child(child(r1.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Commands'), 'AirSync:Add')
      .find((a) => childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject') === 'for bob only')!;
    bobRef = childText(child(child(child(add, 'AirSync:ApplicationData'), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment'), 'AirSyncBase:FileReference')!;
    [bobFolder, bobMessage] = bobRef.split(':') as [string, string];
    assert.match(bobRef, /^\d+:\d+:0$/);
  });
  after(async () => { await server?.stop(); });

  /** Error lines the server logged since `from` (its log reaches the test a moment after the answer): a refusal is a warning, never an error. */
  async function errorsSince(from: number): Promise<unknown[]> {
    await new Promise((r) => setTimeout(r, 100));
    return server.logs.slice(from).filter((l) => l.level === 'error');
  }

  const fetchOf = (r: EasResponse): WbxmlElement[] => childrenOf(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch');

  for (const version of ['12.1', '14.1', '16.1']) {
    it(`${version}: ItemOperations Fetch of another user's FileReference is Status 15, as a missing or malformed one is`, async () => {
      const alice = await device('alice@contoso.test', version);
      const logMark = server.logs.length;
      const refs = {
        bobs: bobRef,
        missing: `${bobFolder}:99999999:0`,
        missingInHerFolder: `${alice.folders.get('Inbox')}:${Number(bobMessage) + 100000}:0`,
        bobsWithHerFolder: `${alice.folders.get('Inbox')}:${bobMessage}:0`,
        malformed: 'not-a-reference',
        empty: '',
      };
      const fetch = (ref: string, options?: WbxmlElement): WbxmlElement => IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', ref), options);
      const r = await alice.c.send('ItemOperations', IO('ItemOperations', [
        ...Object.values(refs).map((ref) => fetch(ref)),
        // A byte range does not let a reference past the check either.
        fetch(bobRef, IO('Options', IO('Range', '0-9'))),
        fetch(bobRef, IO('Options', IO('Range', '999999-9999999'))),
      ]));
      assert.equal(r.status, 200);
      assert.equal(childText(r.body, 'ItemOperations:Status'), '1');
      const fetched = fetchOf(r);
      assert.deepEqual(fetched.map((f) => childText(f, 'ItemOperations:Status')), Object.values(refs).map(() => '15').concat(['15', '15']));
      for (const f of fetched) assert.equal(child(f, 'ItemOperations:Properties'), undefined);
      // Her answer for bob's reference and for one that never existed differ only in the echoed reference.
      const shape = (f: WbxmlElement): string => JSON.stringify(f.children.filter((c) => c.tag !== 'AirSyncBase:FileReference'));
      assert.equal(shape(fetched[0]!), shape(fetched[1]!));
      assert.ok(!r.raw.includes(secret.subarray(0, 9)), 'nothing of bob\'s file');

      // Multipart: the same statuses, no parts.
      const mp = await alice.c.send('ItemOperations', IO('ItemOperations', fetch(bobRef)), { headers: { 'MS-ASAcceptMultiPart': 'T' } });
      assert.equal(mp.status, 200);
      assert.ok(!mp.raw.includes(secret.subarray(0, 9)));
      assert.equal(mp.raw.readInt32LE(0), 1, 'only the WBXML part');
      assert.deepEqual(await errorsSince(logMark), [], 'refusals are not server errors');

      // Bob still fetches his own.
      const bob = await device('bob@contoso.test', version);
      const own = await bob.c.send('ItemOperations', IO('ItemOperations', fetch(bobRef)));
      const ok = fetchOf(own)[0];
      assert.equal(childText(ok, 'ItemOperations:Status'), '1');
      assert.ok(Buffer.from(childText(child(ok, 'ItemOperations:Properties'), 'ItemOperations:Data')!, 'base64').equals(secret));
    });
  }

  for (const version of ['2.5', '12.0', '12.1']) {
    it(`${version}: GetAttachment of another user's attachment answers exactly as one that does not exist`, async () => {
      const alice = await device('alice@contoso.test', version);
      const logMark = server.logs.length;
      const get = (name: string): Promise<EasResponse> => alice.c.send('GetAttachment', undefined, { params: { AttachmentName: name } });
      const bobs = await get(bobRef);
      const missing = await get(`${bobFolder}:99999999:0`);
      const noSuchIndex = await get(`${bobFolder}:${bobMessage}:7`);
      for (const [what, r] of [['bob\'s', bobs], ['missing', missing], ['bob\'s message, no such index', noSuchIndex]] as const) {
        assert.equal(r.status, 500, `${what}: MS-ASCMD's answer for an attachment that is not there`);
        assert.equal(r.raw.length, 0, `${what}: no body`);
        assert.match(r.headers.get('x-easmime-reason') ?? '', /no such attachment/);
      }
      assert.equal(bobs.headers.get('x-easmime-reason'), missing.headers.get('x-easmime-reason'), 'the same reason: nothing tells the two apart');
      assert.equal(bobs.headers.get('content-type'), missing.headers.get('content-type'));
      for (const bad of ['garbage', '1:2', `${bobRef}:0`, '-1:-1:-1', '9'.repeat(40)]) {
        const r = await get(bad);
        assert.equal(r.status, 400, `AttachmentName ${bad}: not a reference at all`);
        assert.equal(r.raw.length, 0);
      }
      assert.deepEqual(await errorsSince(logMark), [], 'refusals are not server errors');
    });
  }
});
