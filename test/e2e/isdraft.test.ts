// Email2:IsDraft (and a draft's Email2:Bcc) outside Sync, over real HTTP+WBXML: ItemOperations Fetch by
// ServerId and by LongId, and Mailbox Search results carry them from 16.0 as Sync does (MS-ASEMAIL
// IsDraft: 16.0 and 16.1 only); 14.1 gets neither.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');
const E = ns('Email');
const E2 = ns('Email2');
const IO = ns('ItemOperations');
const S = ns('Search');

describe('end to end: IsDraft in ItemOperations and Search', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  const marker = `isdraft-${crypto.randomBytes(4).toString('hex')}`;
  /** ServerIds of the draft (in Drafts) and of a received message (in the Inbox), both matching `marker`. */
  let draftId: string;
  let receivedId: string;
  let folders: Map<string, string>;

  let counter = 0;
  async function device(version: string): Promise<EasClient> {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: `IsDraft${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return c;
  }

  async function syncAll(c: EasClient, folderId: string, commands?: WbxmlElement[]): Promise<WbxmlElement> {
    const r0 = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', folderId)))));
    const key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
    const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', folderId),
      commands && A('Commands', commands)))));
    return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
  }

  before(async () => {
    server = await startServerProcess();
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] },
      await compose({ from: 'erin@fabrikam.test', to: 'bob@contoso.test', subject: `received ${marker}`, text: 'a message that is no draft' }));
    const c = await device('16.1');
    const drafts = await syncAll(c, folders.get('Drafts')!, [A('Add', A('ClientId', 'draft-1'), A('ApplicationData',
      E('To', 'alice@contoso.test'), E2('Bcc', 'carol@contoso.test'), E('Subject', `draft ${marker}`), B('Body', B('Type', 1), B('Data', 'not sent yet'))))]);
    const added = child(child(drafts, 'AirSync:Responses'), 'AirSync:Add');
    assert.equal(childText(added, 'AirSync:Status'), '1');
    draftId = childText(added, 'AirSync:ServerId')!;
    const inbox = await syncAll(c, folders.get('Inbox')!);
    receivedId = childText(childrenOf(child(inbox, 'AirSync:Commands'), 'AirSync:Add')
      .find((a) => childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject') === `received ${marker}`), 'AirSync:ServerId')!;
    assert.ok(draftId && receivedId);
  });
  after(async () => { await server?.stop(); });

  const properties = (fetch: WbxmlElement | undefined): WbxmlElement | undefined => child(fetch, 'ItemOperations:Properties');

  for (const version of ['14.1', '16.0', '16.1']) {
    const has = Number(version) >= 16;
    it(`${version}: ItemOperations Fetch ${has ? 'marks the draft IsDraft 1 with its Bcc, the received message 0' : 'carries no IsDraft'}`, async () => {
      const c = await device(version);
      const r = await c.send('ItemOperations', IO('ItemOperations',
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', folders.get('Drafts')!), A('ServerId', draftId)),
        IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', folders.get('Inbox')!), A('ServerId', receivedId)),
        IO('Fetch', IO('Store', 'Mailbox'), S('LongId', draftId)),
        IO('Fetch', IO('Store', 'Mailbox'), S('LongId', receivedId), IO('Options', B('BodyPreference', B('Type', 1))))));
      const [draft, received, draftByLongId, receivedByLongId] = childrenOf(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch');
      for (const f of [draft, received, draftByLongId, receivedByLongId]) assert.equal(childText(f, 'ItemOperations:Status'), '1');
      for (const f of [draft, draftByLongId]) {
        assert.equal(childText(properties(f), 'Email:Subject'), `draft ${marker}`);
        assert.equal(childText(properties(f), 'Email2:IsDraft'), has ? '1' : undefined);
        assert.equal(childText(properties(f), 'Email2:Bcc'), has ? 'carol@contoso.test' : undefined);
      }
      for (const f of [received, receivedByLongId]) {
        assert.equal(childText(properties(f), 'Email:Subject'), `received ${marker}`);
        assert.equal(childText(properties(f), 'Email2:IsDraft'), has ? '0' : undefined);
        assert.equal(child(properties(f), 'Email2:Bcc'), undefined);
      }
    });

    it(`${version}: Search results ${has ? 'mark the draft IsDraft 1 with its Bcc, the received message 0' : 'carry no IsDraft'}`, async () => {
      const c = await device(version);
      const r = await c.send('Search', S('Search', S('Store', S('Name', 'Mailbox'),
        S('Query', S('And', S('FreeText', marker))), S('Options', S('Range', '0-9'), B('BodyPreference', B('Type', 1))))));
      const store = child(child(r.body, 'Search:Response'), 'Search:Store');
      assert.equal(childText(store, 'Search:Status'), '1');
      const results = childrenOf(store, 'Search:Result');
      const bySubject = new Map(results.map((x) => [childText(child(x, 'Search:Properties'), 'Email:Subject'), child(x, 'Search:Properties')]));
      const draft = bySubject.get(`draft ${marker}`);
      const received = bySubject.get(`received ${marker}`);
      assert.ok(draft && received, 'both are found');
      assert.equal(childText(draft, 'Email2:IsDraft'), has ? '1' : undefined);
      assert.equal(childText(draft, 'Email2:Bcc'), has ? 'carol@contoso.test' : undefined);
      assert.equal(childText(received, 'Email2:IsDraft'), has ? '0' : undefined);
      assert.equal(child(received, 'Email2:Bcc'), undefined);
    });
  }

  it('16.1: what Fetch and Search say agrees with what Sync says', async () => {
    const c = await device('16.1');
    const sync = await syncAll(c, folders.get('Drafts')!);
    const synced = childrenOf(child(sync, 'AirSync:Commands'), 'AirSync:Add').find((a) => childText(a, 'AirSync:ServerId') === draftId);
    const data = child(synced, 'AirSync:ApplicationData');
    assert.equal(childText(data, 'Email2:IsDraft'), '1');
    const r = await c.send('ItemOperations', IO('ItemOperations', IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', folders.get('Drafts')!), A('ServerId', draftId))));
    const props = properties(childrenOf(child(r.body, 'ItemOperations:Response'), 'ItemOperations:Fetch')[0]);
    assert.equal(childText(props, 'Email2:IsDraft'), childText(data, 'Email2:IsDraft'));
    assert.equal(childText(props, 'Email2:Bcc'), childText(data, 'Email2:Bcc'));
  });
});
