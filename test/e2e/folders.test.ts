// FolderCreate, FolderUpdate and FolderDelete over real HTTP+WBXML in 2.5, 12.1, 14.1 and 16.1: the
// hierarchy SyncKey rules, every status, and what the device itself and other devices see afterwards.
import { strict as assert } from 'node:assert';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const M = ns('Move');

interface Changes { adds: Array<{ id: string; parent: string; name: string; type: string }>; updates: Array<{ id: string; parent: string; name: string }>; deletes: string[] }

describe('end to end: FolderCreate, FolderUpdate, FolderDelete', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  let counter = 0;
  class Device {
    key = '0';
    folders = new Map<string, string>();
    constructor(readonly c: EasClient, readonly version: string) {}

    /** FolderSync from the device's key; returns the changes and keeps the new key. */
    async folderSync(): Promise<Changes> {
      const r = await this.c.send('FolderSync', F('FolderSync', F('SyncKey', this.key)));
      assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
      this.key = childText(r.body, 'FolderHierarchy:SyncKey')!;
      const ch = child(r.body, 'FolderHierarchy:Changes');
      const adds = childrenOf(ch, 'FolderHierarchy:Add').map((a) => ({
        id: childText(a, 'FolderHierarchy:ServerId')!, parent: childText(a, 'FolderHierarchy:ParentId')!,
        name: childText(a, 'FolderHierarchy:DisplayName')!, type: childText(a, 'FolderHierarchy:Type')!,
      }));
      for (const a of adds) if (a.parent === '0') this.folders.set(a.name, a.id);
      return {
        adds,
        updates: childrenOf(ch, 'FolderHierarchy:Update').map((u) => ({
          id: childText(u, 'FolderHierarchy:ServerId')!, parent: childText(u, 'FolderHierarchy:ParentId')!, name: childText(u, 'FolderHierarchy:DisplayName')!,
        })),
        deletes: childrenOf(ch, 'FolderHierarchy:Delete').map((d) => childText(d, 'FolderHierarchy:ServerId')!),
      };
    }

    /** Sends a folder command; on success the device keeps the new key. */
    async op(command: 'FolderCreate' | 'FolderUpdate' | 'FolderDelete', children: WbxmlElement[], key: string | null = this.key): Promise<{ status: string; serverId?: string; body: WbxmlElement }> {
      const r = await this.c.send(command, F(command, key !== null && F('SyncKey', key), ...children));
      assert.equal(r.status, 200);
      assert.equal(r.body?.tag, `FolderHierarchy:${command}`);
      const status = childText(r.body, 'FolderHierarchy:Status')!;
      const newKey = childText(r.body, 'FolderHierarchy:SyncKey');
      if (status === '1') {
        assert.ok(newKey && newKey !== this.key, 'success carries a new hierarchy key');
        this.key = newKey;
      } else {
        assert.equal(newKey, undefined, `a failure (${command} status ${status}) carries no SyncKey`);
      }
      return { status, serverId: childText(r.body, 'FolderHierarchy:ServerId'), body: r.body! };
    }
  }

  async function device(user: string, version: string): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `FolderDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    const d = new Device(c, version);
    await d.folderSync();
    return d;
  }

  const create = (d: Device, parent: string, name: string, type: number | string = 12, key?: string | null) =>
    d.op('FolderCreate', [F('ParentId', parent), F('DisplayName', name), F('Type', type)], key);
  const update = (d: Device, id: string, parent: string, name: string, key?: string | null) =>
    d.op('FolderUpdate', [F('ServerId', id), F('ParentId', parent), F('DisplayName', name)], key);
  const remove = (d: Device, id: string, key?: string | null) => d.op('FolderDelete', [F('ServerId', id)], key);

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    it(`${version}: create, rename, move and delete with the hierarchy key; other devices see each change once`, async () => {
      const user = 'bob@contoso.test';
      const a = await device(user, version);
      const b = await device(user, '14.1');
      const name = `Projects ${version}`;

      // The key must be the current one: an old key, 0 or garbage get 9 and change nothing.
      const staleKey = a.key;
      assert.equal((await create(a, '0', name, 12, '0')).status, '9');
      assert.equal((await create(a, '0', name, 12, '{nonsense}7')).status, '9');
      const made = await create(a, '0', name);
      assert.equal(made.status, '1');
      const projects = made.serverId!;
      assert.match(projects, /^\d+$/);
      assert.equal((await create(a, '0', `${name} again`, 12, staleKey)).status, '9', 'the key before the create is no longer current');

      // The creating device's next FolderSync does not repeat its own change; another device's does.
      let own = await a.folderSync();
      assert.deepEqual([own.adds, own.updates, own.deletes], [[], [], []]);
      let seen = await b.folderSync();
      assert.deepEqual(seen.adds, [{ id: projects, parent: '0', name, type: '12' }]);

      const sub = await create(a, projects, 'Reports', 1);
      assert.equal(sub.status, '1');
      const cal = await create(a, projects, 'Team calendar', 13);
      assert.equal(cal.status, '1');
      const archive = await create(a, projects, 'Archive', 12);
      assert.equal(archive.status, '1');

      // Statuses of FolderCreate.
      assert.equal((await create(a, '0', name.toUpperCase())).status, '2', 'names compare case-insensitively under one parent');
      assert.equal((await create(a, projects, 'reports')).status, '2');
      assert.equal((await create(a, '99999999', 'Orphan')).status, '5');
      assert.equal((await create(a, 'not-a-folder', 'Orphan')).status, '5');
      for (const type of [2, 4, 8, 19, 'x']) assert.equal((await create(a, '0', `Typed ${type}`, type)).status, '10', `Type ${type}`);
      assert.equal((await create(a, '0', '   ')).status, '10');
      assert.equal((await create(a, '0', 'x'.repeat(300))).status, '10');
      assert.equal((await a.op('FolderCreate', [F('ParentId', '0'), F('Type', 12)])).status, '10', 'no DisplayName');
      assert.equal((await a.op('FolderCreate', [F('ParentId', '0'), F('DisplayName', 'No key'), F('Type', 12)], null)).status, '10', 'no SyncKey');

      // Rename, then move below Inbox; the device's own view keeps up, others get Updates.
      const renamed = `${name} (renamed)`;
      assert.equal((await update(a, projects, '0', renamed)).status, '1');
      const inbox = a.folders.get('Inbox')!;
      assert.equal((await update(a, sub.serverId!, inbox, 'Reports')).status, '1');
      own = await a.folderSync();
      assert.deepEqual([own.adds, own.updates, own.deletes], [[], [], []]);
      seen = await b.folderSync();
      assert.deepEqual(seen.adds.map((x) => x.name).sort(), ['Archive', 'Reports', 'Team calendar']);
      assert.deepEqual(seen.adds.find((x) => x.name === 'Reports')?.parent, inbox, 'a folder new to b arrives where it is now');
      assert.deepEqual(seen.updates, [{ id: projects, parent: '0', name: renamed }]);

      // Statuses of FolderUpdate.
      assert.equal((await update(a, inbox, '0', 'My Inbox')).status, '2', 'a default folder cannot be renamed');
      assert.equal((await update(a, a.folders.get('Calendar')!, projects, 'Calendar')).status, '2', 'nor moved');
      assert.equal((await update(a, '99999999', '0', 'Ghost')).status, '4');
      assert.equal((await update(a, 'bad\r\nid ü', '0', 'Ghost')).status, '4', 'a ServerId that could not be put in a header is still answered');
      assert.equal((await create(a, 'x\r\nSet-Cookie: y', 'Ghost')).status, '5');
      assert.equal((await update(a, projects, '99999999', renamed)).status, '5');
      assert.equal((await update(a, projects, cal.serverId!, renamed)).status, '5', 'not below its own subfolder');
      assert.equal((await update(a, projects, projects, renamed)).status, '5', 'not below itself');
      assert.equal((await update(a, cal.serverId!, '0', renamed)).status, '2', 'the new name is taken at the new place');
      assert.equal((await update(a, projects, '0', renamed, staleKey)).status, '9');
      assert.equal((await a.op('FolderUpdate', [F('ServerId', projects), F('DisplayName', 'x')])).status, '10', 'no ParentId');

      // Deleting takes the subfolders and their mail along.
      const subject = `filed ${version}`;
      await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: [user] }, await compose({ from: 'erin@fabrikam.test', to: user, subject, text: 'x' }));
      const itemId = await moveNewestInto(a, inbox, subject, archive.serverId!);
      assert.ok(itemId);
      assert.equal((await remove(a, a.folders.get('Deleted Items')!)).status, '3');
      assert.equal((await remove(a, inbox)).status, '3');
      assert.equal((await remove(a, '99999999')).status, '4');
      assert.equal((await remove(a, projects, staleKey)).status, '9');
      assert.equal((await a.op('FolderDelete', [])).status, '10');
      const deleted = await remove(a, projects);
      assert.equal(deleted.status, '1');
      own = await a.folderSync();
      assert.deepEqual([own.adds, own.updates, own.deletes], [[], [], []], 'the deleting device was told nothing new');
      seen = await b.folderSync();
      assert.deepEqual(seen.deletes.sort(), [projects, cal.serverId!, archive.serverId!].sort(), 'other devices lose the folder and its subfolders');
      assert.equal((await remove(a, projects)).status, '4', 'already gone');
      const stale = await b.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', archive.serverId!)))));
      assert.equal(childText(child(child(stale.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Status'), '12');
      const fetched = await b.c.send('ItemOperations', ns('ItemOperations')('ItemOperations', ns('ItemOperations')('Fetch',
        ns('ItemOperations')('Store', 'Mailbox'), ns('Search')('LongId', itemId!))));
      assert.equal(childText(child(child(fetched.body, 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Status'), '6', 'its mail went with it');

      // Reports (moved below Inbox) survived; a folder id is never handed out twice.
      const again = await create(a, '0', name);
      assert.equal(again.status, '1');
      assert.ok(![projects, cal.serverId, archive.serverId].includes(again.serverId), 'a deleted folder\'s id is not reused');
      assert.equal((await remove(a, again.serverId!)).status, '1');
      assert.equal((await remove(a, sub.serverId!)).status, '1');
    });
  }

  /** Syncs a folder from scratch, finds the message by subject and moves it; returns its new ServerId. */
  async function moveNewestInto(d: Device, folder: string, subject: string, to: string): Promise<string | undefined> {
    const legacy = Number(d.version) < 14;
    const sync = async (key: string): Promise<WbxmlElement> => {
      const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection', legacy && A('Class', 'Email'), A('SyncKey', key), A('CollectionId', folder)))));
      return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    };
    let key = childText(await sync('0'), 'AirSync:SyncKey')!;
    for (let i = 0; i < 10; i++) {
      const col = await sync(key);
      key = childText(col, 'AirSync:SyncKey')!;
      const add = childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add').find((x) => childText(child(x, 'AirSync:ApplicationData'), 'Email:Subject') === subject);
      if (add) {
        const r = await d.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', childText(add, 'AirSync:ServerId')!), M('SrcFldId', folder), M('DstFldId', to))));
        return childText(child(r.body, 'Move:Response'), 'Move:DstMsgId');
      }
      if (!child(col, 'AirSync:MoreAvailable')) break;
    }
    return undefined;
  }

  it('a user cannot create in, rename or delete another user\'s folders', async () => {
    const alice = await device('alice@contoso.test', '16.1');
    const made = await create(alice, '0', 'Private');
    assert.equal(made.status, '1');
    const bob = await device('bob@contoso.test', '16.1');
    assert.equal((await create(bob, made.serverId!, 'Intruder')).status, '5');
    assert.equal((await update(bob, made.serverId!, '0', 'Mine now')).status, '4');
    assert.equal((await remove(bob, made.serverId!)).status, '4');
    assert.equal((await remove(bob, alice.folders.get('Inbox')!)).status, '4');
    const check = await alice.folderSync();
    assert.deepEqual([check.adds, check.updates, check.deletes], [[], [], []], 'alice\'s folders are as she left them');
    assert.equal((await remove(alice, made.serverId!)).status, '1');
  });

  it('12.1: a device that never ran FolderSync has no hierarchy key to present', async () => {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'carol@contoso.test', password: 'demo', deviceId: 'FolderNoSync1', version: '12.1' });
    await c.provision();
    const d = new Device(c, '12.1');
    assert.equal((await create(d, '0', 'Early', 12, '0')).status, '9');
  });
});
