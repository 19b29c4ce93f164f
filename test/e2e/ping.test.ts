// Ping over real HTTP+WBXML against the real server, woken by real SMTP deliveries and by other
// devices' Syncs, in 2.5, 12.1, 14.1 and 16.1; 1,000 Pings held at once; every status.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { inParallel } from '../support/parallel.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const P = ns('Ping');

const DOMAIN = 'ping.test';
const CROWD_USERS = 9;
// "At once" in these tests means woken by the event, not at the end of a 300 s interval; how fast
// is the benchmark's business (npm run bench -- ping), not a bound a shared CI machine must meet.
const PROMPTLY_MS = 20_000;
const CROWD_DEVICES = 999;

/** An organisation of empty mailboxes (one with an old message), so that who wakes is under the test's control. */
function writeFixture(): string {
  const dir = tempDir('easmime-ping-fixture-');
  const users = [
    ...['u1', 'u2', 'u3', 'u4', 'u5', 'old', 'target'].map((n) => ({ address: `${n}@${DOMAIN}`, password: 'demo', displayName: n })),
    ...Array.from({ length: CROWD_USERS }, (_, i) => ({ address: `crowd${i + 1}@${DOMAIN}`, password: 'demo' })),
  ];
  const org = {
    name: 'Ping test', domain: DOMAIN, users,
    groups: [{ address: `crowd@${DOMAIN}`, members: Array.from({ length: CROWD_USERS }, (_, i) => `crowd${i + 1}`) }],
  };
  fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify(org, null, 1));
  const inbox = path.join(dir, 'mailboxes', 'old', 'Inbox');
  fs.mkdirSync(inbox, { recursive: true });
  fs.writeFileSync(path.join(inbox, 'old.eml'), [
    `From: someone@elsewhere.test`, `To: old@${DOMAIN}`, 'Subject: from long ago', 'Date: Mon, 06 Jan 2020 10:00:00 +0000',
    'Message-ID: <old-1@elsewhere.test>', 'Content-Type: text/plain; charset=utf-8', '', 'An old message.', '',
  ].join('\r\n'));
  return dir;
}

interface PingAnswer { http: number; status?: string; folders: string[]; interval?: string; maxFolders?: string; ms: number; reason: string | null }

function pingBody(interval?: number | string, folders?: Array<[string, string]>): WbxmlElement {
  return P('Ping',
    interval !== undefined && P('HeartbeatInterval', String(interval)),
    folders !== undefined && P('Folders', folders.map(([id, cls]) => P('Folder', P('Id', id), P('Class', cls)))));
}

function readPing(r: EasResponse, started: number): PingAnswer {
  return {
    http: r.status,
    status: childText(r.body, 'Ping:Status'),
    folders: childrenOf(child(r.body, 'Ping:Folders'), 'Ping:Folder').map((f) => f.text ?? ''),
    interval: childText(r.body, 'Ping:HeartbeatInterval'),
    maxFolders: childText(r.body, 'Ping:MaxFolders'),
    ms: Date.now() - started,
    reason: r.headers.get('x-easmime-reason'),
  };
}

/** Sends a Ping without a policy key (Ping carries none). */
async function ping(c: EasClient, body?: WbxmlElement): Promise<PingAnswer> {
  const started = Date.now();
  return readPing(await c.send('Ping', body, { policyKey: null }), started);
}

/** A Ping left running; `settled` tells whether it has answered yet. */
function holdPing(c: EasClient, body?: WbxmlElement): { answer: Promise<PingAnswer>; settled: () => boolean; sentAt: number } {
  let done = false;
  const sentAt = Date.now();
  const answer = ping(c, body).finally(() => { done = true; });
  answer.catch(() => undefined);
  return { answer, settled: () => done, sentAt };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function deliver(server: ServerProcess, to: string[], subject: string): Promise<number> {
  await sendRaw(server.smtpPort, { from: 'sender@elsewhere.test', to }, await compose({ from: 'sender@elsewhere.test', to, subject, text: `${subject}\n` }));
  return Date.now();
}

describe('end to end: Ping', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let fixtures: string;
  let counter = 0;
  let expiry: { answer: Promise<PingAnswer>; sentAt: number } | undefined;

  interface Device { c: EasClient; folders: Map<string, string>; hierarchyKey: string; version: string }

  async function device(user: string, version: string, opts: { folderSync?: boolean; id?: string } = {}): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user: `${user}@${DOMAIN}`, password: 'demo', deviceId: opts.id ?? `PingDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    if (opts.folderSync === false) return { c, folders: new Map(), hierarchyKey: '', version };
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
    const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return { c, folders, hierarchyKey: childText(r.body, 'FolderHierarchy:SyncKey')!, version };
  }

  async function syncOnce(d: Device, folderId: string, key: string, extra: Array<WbxmlElement | false> = []): Promise<WbxmlElement> {
    const legacy = Number(d.version) < 14;
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection',
      legacy && A('Class', 'Email'), A('SyncKey', key), A('CollectionId', folderId), ...extra))));
    assert.equal(r.status, 200);
    return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
  }

  /** Brings the device's view of a folder up to date; returns the key and the ServerIds it was sent. */
  async function catchUp(d: Device, folderId: string, key = '0', options?: WbxmlElement): Promise<{ key: string; added: string[] }> {
    const added: string[] = [];
    if (key === '0') key = childText(await syncOnce(d, folderId, '0', [options ?? false]), 'AirSync:SyncKey')!;
    for (;;) {
      const col = await syncOnce(d, folderId, key, [options ?? false]);
      assert.equal(childText(col, 'AirSync:Status'), '1');
      key = childText(col, 'AirSync:SyncKey')!;
      added.push(...childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add').map((a) => childText(a, 'AirSync:ServerId')!));
      if (!child(col, 'AirSync:MoreAvailable')) return { key, added };
    }
  }

  before(async () => {
    fixtures = writeFixture();
    server = await startServerProcess({ fixtures });
    // Status 1 needs a whole minimum interval (60 s, answered 5 s early): it runs beside the other tests.
    const d = await device('u4', '14.1');
    expiry = holdPing(d.c, pingBody(60, [[d.folders.get('Notes')!, 'Notes']]));
  });
  after(async () => { await server?.stop(); });

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    describe(`in ${version}`, () => {
      const user = { '2.5': 'u1', '12.1': 'u2', '14.1': 'u3', '16.1': 'u5' }[version]!;

      it('a held Ping answers Status 2 with the folder when an SMTP delivery arrives', async () => {
        const d = await device(user, version);
        const inbox = d.folders.get('Inbox')!;
        await catchUp(d, inbox);
        const held = holdPing(d.c, pingBody(300, [[inbox, 'Email'], [d.folders.get('Sent Items')!, 'Email']]));
        await sleep(400);
        assert.equal(held.settled(), false, 'nothing to report yet: the Ping waits');
        const delivered = await deliver(server, [`${user}@${DOMAIN}`], `wake ${version}`);
        const a = await held.answer;
        assert.equal(a.http, 200);
        assert.equal(a.status, '2');
        assert.deepEqual(a.folders, [inbox], 'only the folder that changed');
        const wake = Date.now() - delivered;
        assert.ok(wake < PROMPTLY_MS, `answered ${wake} ms after the delivery`);

        // Not synced yet: the next Ping (an empty one: same interval and folders) answers at once.
        const again = await ping(d.c);
        assert.equal(again.status, '2');
        assert.deepEqual(again.folders, [inbox]);
        assert.ok(again.ms < PROMPTLY_MS);
      });

      it('wakes for a change made by another device of the user (read flag, delete as move)', async () => {
        const d1 = await device(user, version);
        const d2 = await device(user, version);
        const inbox = d1.folders.get('Inbox')!;
        await deliver(server, [`${user}@${DOMAIN}`], `shared ${version}`);
        await catchUp(d1, inbox);
        const v2 = await catchUp(d2, inbox);
        const target = v2.added[0]!;

        const held = holdPing(d1.c, pingBody(300, [[inbox, 'Email']]));
        await sleep(400);
        assert.equal(held.settled(), false);
        const changedAt = Date.now();
        const col = await syncOnce(d2, inbox, v2.key, [A('Commands', A('Change', A('ServerId', target), A('ApplicationData', ns('Email')('Read', 1))))]);
        assert.equal(childText(col, 'AirSync:Status'), '1');
        const a = await held.answer;
        assert.equal(a.status, '2');
        assert.deepEqual(a.folders, [inbox]);
        assert.ok(Date.now() - changedAt < PROMPTLY_MS, 'woken by the other device\'s change');

        // d2's own change is in d2's view: its Ping waits. d1 catches up, then a delete (a move to Deleted Items) by d2 wakes d1.
        await catchUp(d1, inbox);
        const own = holdPing(d2.c, pingBody(300, [[inbox, 'Email']]));
        const held1 = holdPing(d1.c, pingBody(300, [[inbox, 'Email'], [d1.folders.get('Deleted Items')!, 'Email']]));
        await sleep(400);
        assert.equal(own.settled(), false, 'a device is not woken by its own change');
        assert.equal(own.settled(), false, 'a device is not woken by its own change');
        // d2 cannot Sync while its Ping is held without ending it: a third device deletes instead.
        const d3 = await device(user, version);
        const v3 = await catchUp(d3, inbox);
        const moved = await syncOnce(d3, inbox, v3.key, [A('Commands', A('Delete', A('ServerId', target)))]);
        assert.equal(childText(moved, 'AirSync:Status'), '1');
        const a1 = await held1.answer;
        assert.equal(a1.status, '2');
        assert.deepEqual(a1.folders.sort(), [inbox, d1.folders.get('Deleted Items')!].sort(), 'both ends of the move');
        const a2 = await own.answer;
        assert.equal(a2.status, '2', 'and now d2 too has something to sync');
      });

      it('a newer Ping from the same device ends the older one with Status 1', async () => {
        const d = await device(user, version);
        const notes = d.folders.get('Notes')!;
        // Earlier tests left mail in this Inbox: a device that never synced it would be told at once.
        await catchUp(d, d.folders.get('Inbox')!);
        const first = holdPing(d.c, pingBody(300, [[notes, 'Notes']]));
        await sleep(400);
        assert.equal(first.settled(), false);
        const second = holdPing(d.c, pingBody(300, [[d.folders.get('Inbox')!, 'Email']]));
        const a = await first.answer;
        assert.equal(a.status, '1');
        assert.ok(Date.now() - second.sentAt < PROMPTLY_MS, 'the older Ping answers at once');
        await sleep(300);
        assert.equal(second.settled(), false, 'the newer one is held');
        await deliver(server, [`${user}@${DOMAIN}`], `second ${version}`);
        const b = await second.answer;
        assert.equal(b.status, '2');
      });

      it('Status 3: nothing remembered; Status 4: syntax; Status 5: interval out of range; Status 6: too many folders', async () => {
        const d = await device(user, version);
        const inbox = d.folders.get('Inbox')!;
        assert.equal((await ping(d.c)).status, '3', 'empty Ping from a device that never sent a full one');
        assert.equal((await ping(d.c, pingBody(120))).status, '3', 'interval without remembered folders');
        assert.equal((await ping(d.c, pingBody(undefined, [[inbox, 'Email']]))).status, '3', 'folders without a remembered interval');

        const syntax = [
          P('Ping', P('HeartbeatInterval', 'soon'), P('Folders', P('Folder', P('Id', inbox), P('Class', 'Email')))),
          P('Ping', P('HeartbeatInterval', '120'), P('Folders')),
          P('Ping', P('HeartbeatInterval', '120'), P('Folders', P('Folder', P('Id', inbox)))),
          P('Ping', P('HeartbeatInterval', '120'), P('Folders', P('Folder', P('Class', 'Email')))),
          P('Ping', P('HeartbeatInterval', '120'), P('Folders', P('Folder', P('Id', inbox), P('Class', 'Mail')))),
          P('Ping', P('HeartbeatInterval', '120'), P('Folders', P('Folder', P('Id', inbox), P('Class', 'Email'))), P('MaxFolders', '5')),
        ];
        for (const body of syntax) {
          const a = await ping(d.c, body);
          assert.equal(a.status, '4', a.reason ?? '');
          assert.ok(a.reason, 'the reason travels in a header');
        }

        const low = await ping(d.c, pingBody(59, [[inbox, 'Email']]));
        assert.equal(low.status, '5');
        assert.equal(low.interval, '60');
        const high = await ping(d.c, pingBody(3541, [[inbox, 'Email']]));
        assert.equal(high.status, '5');
        assert.equal(high.interval, '3540');

        const many = Array.from({ length: 301 }, (_, i): [string, string] => [String(100000 + i), 'Email']);
        const six = await ping(d.c, pingBody(120, many));
        assert.equal(six.status, '6');
        assert.equal(six.maxFolders, '300');
        assert.equal((await ping(d.c)).status, '3', 'refused Pings leave nothing remembered');
      });

      it('Status 7: no FolderSync yet, an unknown folder, a hierarchy changed since FolderSync', async () => {
        const never = await device(user, version, { folderSync: false });
        assert.equal((await ping(never.c, pingBody(120, [['1', 'Email']]))).status, '7');

        const d = await device(user, version);
        assert.equal((await ping(d.c, pingBody(120, [['999999', 'Email']]))).status, '7', 'a folder that does not exist');
        assert.equal((await ping(d.c, pingBody(120, [['abc', 'Email']]))).status, '7', 'an id this server never gave out');

        // Another device creates a folder: d's hierarchy is stale.
        const other = await device(user, version);
        const created = await other.c.send('FolderCreate', F('FolderCreate', F('SyncKey', other.hierarchyKey), F('ParentId', '0'),
          F('DisplayName', `made by another device ${version}`), F('Type', 12)));
        assert.equal(childText(created.body, 'FolderHierarchy:Status'), '1');
        const newId = childText(created.body, 'FolderHierarchy:ServerId')!;
        assert.equal((await ping(d.c, pingBody(120, [[d.folders.get('Inbox')!, 'Email']]))).status, '7');

        // After FolderSync the Ping is held; renaming the watched folder elsewhere answers 7 at once.
        const fs2 = await d.c.send('FolderSync', F('FolderSync', F('SyncKey', d.hierarchyKey)));
        assert.equal(childText(fs2.body, 'FolderHierarchy:Status'), '1');
        const held = holdPing(d.c, pingBody(300, [[newId, 'Email']]));
        await sleep(400);
        assert.equal(held.settled(), false);
        const otherKey = childText(created.body, 'FolderHierarchy:SyncKey')!;
        const renamedAt = Date.now();
        const renamed = await other.c.send('FolderUpdate', F('FolderUpdate', F('SyncKey', otherKey), F('ServerId', newId), F('ParentId', '0'),
          F('DisplayName', `renamed ${version}`)));
        assert.equal(childText(renamed.body, 'FolderHierarchy:Status'), '1');
        const a = await held.answer;
        assert.equal(a.status, '7');
        assert.ok(Date.now() - renamedAt < PROMPTLY_MS);
      });
    });
  }

  it('counts changes in the window the device syncs (FilterType), and a never-synced folder with mail as changed', async () => {
    const d = await device('old', '14.1');
    const inbox = d.folders.get('Inbox')!;
    const fresh = await ping(d.c, pingBody(120, [[inbox, 'Email']]));
    assert.equal(fresh.status, '2', 'never synced, holds a message');
    // One day back: the 2020 message is outside the window, so there is nothing for the device.
    const window = A('Options', A('FilterType', 1));
    const { added } = await catchUp(d, inbox, '0', window);
    assert.deepEqual(added, []);
    const held = holdPing(d.c, pingBody(120, [[inbox, 'Email']]));
    await sleep(600);
    assert.equal(held.settled(), false, 'the old message does not count');
    await deliver(server, [`old@${DOMAIN}`], 'inside the window');
    assert.equal((await held.answer).status, '2');
  });

  it(`holds ${CROWD_DEVICES + 1} Pings at once and wakes exactly the right one`, async function () {
    this.timeout(90_000);
    const started = Date.now();
    const crowd = await inParallel(CROWD_DEVICES, 12, (i) => device(`crowd${(i % CROWD_USERS) + 1}`, '14.1', { id: `Crowd${i}` }));
    const target = await device('target', '14.1');
    const setUp = Date.now() - started;

    const held = crowd.map((d) => holdPing(d.c, pingBody(3540, [[d.folders.get('Inbox')!, 'Email']])));
    const targetPing = holdPing(target.c, pingBody(3540, [[target.folders.get('Inbox')!, 'Email']]));
    // A request sent after all of them that completes shows the server has taken them in.
    const probe = await device('target', '14.1');
    assert.equal((await ping(probe.c)).status, '3');
    await sleep(1000);
    assert.equal(held.filter((h) => h.settled()).length, 0, 'the crowd waits');
    assert.equal(targetPing.settled(), false, 'the target waits');

    const deliveredAt = await deliver(server, [`target@${DOMAIN}`], 'only for the target');
    const a = await targetPing.answer;
    assert.equal(a.status, '2');
    assert.deepEqual(a.folders, [target.folders.get('Inbox')!]);
    const wake = Date.now() - deliveredAt;
    assert.ok(wake < PROMPTLY_MS, `the target answered ${wake} ms after delivery`);
    await sleep(1000);
    assert.equal(held.filter((h) => h.settled()).length, 0, 'nobody else woke');

    // One delivery to the crowd's group ends every other Ping, each with its own Inbox.
    const crowdAt = await deliver(server, [`crowd@${DOMAIN}`], 'for everyone else');
    const answers = await Promise.all(held.map((h) => h.answer));
    const ended = Date.now() - crowdAt;
    answers.forEach((r, i) => {
      assert.equal(r.status, '2', `crowd device ${i}`);
      assert.deepEqual(r.folders, [crowd[i]!.folders.get('Inbox')!]);
    });
    assert.ok(ended < 20_000, `${CROWD_DEVICES} Pings answered in ${ended} ms`);
    const total = Date.now() - started;
    assert.ok(total < 60_000, `set-up ${setUp} ms, whole test ${total} ms`);
  });

  it('Status 1 when the interval ends, a few seconds early', async function () {
    this.timeout(90_000);
    const a = await expiry!.answer;
    const took = Date.now() - expiry!.sentAt;
    assert.equal(a.status, '1');
    assert.deepEqual(a.folders, []);
    assert.ok(took >= 53_000 && took < 60_000, `answered after ${took} ms of a 60 s interval`);
  });

  it('remembers interval and folders across a restart: an empty Ping is held and woken', async function () {
    this.timeout(60_000);
    const d = await device('u1', '14.1', { id: 'RestartDev' });
    const inbox = d.folders.get('Inbox')!;
    await catchUp(d, inbox);
    const first = holdPing(d.c, pingBody(600, [[inbox, 'Email']]));
    await sleep(300);
    await server.stop();
    // Shutdown ends the held Ping (Status 1, or the connection simply closes).
    const ended = await first.answer.then((r) => r.status, () => 'closed');
    assert.ok(ended === '1' || ended === 'closed', String(ended));

    server = await startServerProcess({ data: server.data, fixtures });
    const c = new EasClient({ ...d.c.opts, baseUrl: server.baseUrl });
    const held = holdPing(c);
    await sleep(500);
    assert.equal(held.settled(), false, 'the empty Ping reuses what was remembered before the restart');
    await deliver(server, [`u1@${DOMAIN}`], 'after restart');
    const a = await held.answer;
    assert.equal(a.status, '2');
    assert.deepEqual(a.folders, [inbox]);
  });

  // Nested describes run after the top-level tests and the version blocks: this one damages the store, so it goes last.
  describe('with a damaged store', () => {
    it('Status 8 when the store fails under it', async () => {
      const d = await device('u2', '14.1');
      const inbox = d.folders.get('Inbox')!;
      // Damage the store as a failing disk or a bad migration would: the hierarchy views are gone.
      const db = new Database(path.join(server.data, 'easmime.sqlite'));
      try {
        db.exec('DROP TABLE sync_folders');
      } finally {
        db.close();
      }
      const a = await ping(d.c, pingBody(120, [[inbox, 'Email']]));
      assert.equal(a.http, 200);
      assert.equal(a.status, '8');
    });
  });
});
