// Overlapping Syncs of one device and collection over real HTTP+WBXML: the second waits for the first,
// in whichever order the previous and the current SyncKey are used, and no item is lost or doubled; a
// held Sync is ended by a newer Sync of its collection; a device that floods one collection is told to
// retry later (111 / HTTP 503 with Retry-After).
//
// A Sync that sends a 16.x draft waits for the smarthost between reading the view its SyncKey names
// and saving the next one. The smarthost here is the test's own and holds each message until the test
// lets it go, so the second request is known to arrive while the first is in that gap.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');
const E = ns('Email');
const E2 = ns('Email2');
const G = ns('GetItemEstimate');
const P = ns('Ping');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * What a device holds under each SyncKey it was given: the ServerIds of its view. Answers are applied
 * in the order the server gave them, each to the state of the key its request named, as a serial
 * server would have it; every Add of an id already held, and every Change or Delete of one not held,
 * is a violation (a doubled or a lost item).
 */
class DeviceModel {
  readonly states = new Map<string, Set<string>>([['0', new Set()]]);
  readonly violations: string[] = [];

  apply(sentKey: string, col: WbxmlElement | undefined, label: string): { status: string | undefined; key?: string } {
    const status = childText(col, 'AirSync:Status');
    if (!col || status !== '1') return { status };
    const base = this.states.get(sentKey);
    if (!base) {
      this.violations.push(`${label}: answered from ${sentKey}, a key the device never held`);
      return { status };
    }
    const next = new Set(base);
    for (const r of childrenOf(child(col, 'AirSync:Responses'), 'AirSync:Add')) {
      if (childText(r, 'AirSync:Status') !== '1') continue;
      const id = childText(r, 'AirSync:ServerId')!;
      if (next.has(id)) this.violations.push(`${label}: own Add answered with ${id}, which the device already holds`);
      next.add(id);
    }
    for (const cmd of child(col, 'AirSync:Commands')?.children ?? []) {
      const id = childText(cmd, 'AirSync:ServerId')!;
      if (cmd.tag === 'AirSync:Add') {
        if (next.has(id)) this.violations.push(`${label}: Add of ${id}, which the device already holds`);
        next.add(id);
      } else {
        if (!next.has(id)) this.violations.push(`${label}: ${cmd.tag} of ${id}, which the device does not hold`);
        if (cmd.tag !== 'AirSync:Change') next.delete(id);
      }
    }
    const key = childText(col, 'AirSync:SyncKey')!;
    // A key names one state: the same key for two different item sets would leave a device that got
    // one answer believing it holds the other (the SyncKey reuse the server once had on retries).
    const earlier = this.states.get(key);
    if (earlier && (earlier.size !== next.size || [...next].some((id) => !earlier.has(id)))) {
      this.violations.push(`${label}: key ${key} given again for another set of items (${[...earlier].sort().join(',')} then ${[...next].sort().join(',')})`);
    }
    this.states.set(key, next);
    return { status, key };
  }
}

describe('end to end: overlapping Syncs of one device and collection', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let smarthost: SMTPServer;
  /** Messages held at the smarthost: each entry lets one go. */
  const held: Array<() => void> = [];
  let heldWaiter: (() => void) | undefined;

  before(async () => {
    smarthost = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
      onData(stream, _session, cb) {
        stream.on('data', () => undefined);
        stream.on('end', () => {
          held.push(() => cb(null));
          heldWaiter?.();
        });
      },
    });
    await new Promise<void>((resolve) => smarthost.listen(0, '127.0.0.1', () => resolve()));
    const port = (smarthost.server.address() as AddressInfo).port;
    server = await startServerProcess({ extraArgs: ['--smarthost', `127.0.0.1:${port}`], env: { EASMIME_SMARTHOST_TLS: 'none' } });
  });
  after(async () => {
    for (const letGo of held.splice(0)) letGo();
    await server?.stop();
    await new Promise<void>((resolve) => smarthost.close(() => resolve()));
  });

  /** Resolves with the release of the next message the smarthost holds. */
  async function nextHeldMessage(): Promise<() => void> {
    const deadline = Date.now() + 20_000;
    while (held.length === 0) {
      if (Date.now() > deadline) throw new Error('no message reached the smarthost');
      await new Promise<void>((resolve) => { heldWaiter = resolve; setTimeout(resolve, 200); });
    }
    heldWaiter = undefined;
    return held.shift()!;
  }

  let counter = 0;
  interface Device { c: EasClient; folders: Map<string, string> }
  async function device(user: string, version = '16.1', deviceId = `OverlapDev${++counter}`): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId, version });
    await c.provision();
    const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    assert.equal(childText(r.body, 'FolderHierarchy:Status'), '1');
    const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    return { c, folders };
  }

  const syncRequest = (folderId: string, key: string, commands?: WbxmlElement[], extra: Content[] = []): WbxmlElement =>
    A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', folderId), A('WindowSize', 100),
      A('Options', B('BodyPreference', B('Type', 1))), commands && A('Commands', commands))), ...extra);
  const collectionOf = (r: EasResponse): WbxmlElement | undefined => child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');

  /** Syncs from `key` until nothing more is available, checking each answer against the model. */
  async function drainFrom(d: Device, model: DeviceModel, folder: string, key: string, label: string): Promise<string> {
    for (let round = 0; round < 50; round++) {
      const r = await d.c.send('Sync', syncRequest(d.folders.get(folder)!, key));
      assert.equal(r.status, 200);
      const col = collectionOf(r);
      const { status, key: next } = model.apply(key, col, `${label} round ${round}`);
      assert.equal(status, '1', `${label}: Sync from ${key} (${r.headers.get('x-easmime-reason') ?? ''})`);
      key = next!;
      if (!child(col, 'AirSync:MoreAvailable')) return key;
    }
    throw new Error(`${label}: still more after 50 rounds`);
  }

  /** The folder's ServerIds as a new device sees them. */
  async function truth(user: string, folder: string): Promise<Set<string>> {
    const fresh = await device(user);
    const model = new DeviceModel();
    const first = collectionOf(await fresh.c.send('Sync', syncRequest(fresh.folders.get(folder)!, '0')));
    const { key } = model.apply('0', first, 'fresh');
    const last = await drainFrom(fresh, model, folder, key!, 'fresh');
    assert.deepEqual(model.violations, []);
    return model.states.get(last)!;
  }

  /** A draft saved by another device of the user: news for the device under test. */
  async function draftFromElsewhere(other: Device, otherKey: { key: string }, subject: string): Promise<void> {
    const r = await other.c.send('Sync', syncRequest(other.folders.get('Drafts')!, otherKey.key, [
      A('Add', A('ClientId', crypto.randomUUID()), A('ApplicationData', E('Subject', subject), B('Body', B('Type', 1), B('Data', subject))))]));
    const col = collectionOf(r);
    assert.equal(childText(child(child(col, 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:Status'), '1');
    otherKey.key = childText(col, 'AirSync:SyncKey')!;
  }

  const sendDraft = (subject: string): WbxmlElement => A('Add', A('ClientId', crypto.randomUUID()),
    A('ApplicationData', E('To', 'erin@fabrikam.test'), E('Subject', subject), B('Body', B('Type', 1), B('Data', 'through the smarthost'))), E2('Send'));

  /**
   * The device holds Kp (previous) and Kc (current) of its Drafts, with a draft it has not seen
   * waiting. The first request sends a draft and is held at the smarthost; the second is sent then.
   */
  async function overlap(user: string, firstKey: 'previous' | 'current', secondKey: 'previous' | 'current'): Promise<void> {
    const a = await device(user);
    const other = await device(user);
    const otherKey = { key: childText(collectionOf(await other.c.send('Sync', syncRequest(other.folders.get('Drafts')!, '0'))), 'AirSync:SyncKey')! };
    const drafts = a.folders.get('Drafts')!;
    const model = new DeviceModel();
    const k0 = model.apply('0', collectionOf(await a.c.send('Sync', syncRequest(drafts, '0'))), 'prime').key!;
    let key = await drainFrom(a, model, 'Drafts', k0, 'initial');
    await draftFromElsewhere(other, otherKey, `${user} one`);
    const previous = await drainFrom(a, model, 'Drafts', key, 'to previous');
    await draftFromElsewhere(other, otherKey, `${user} two`);
    const current = await drainFrom(a, model, 'Drafts', previous, 'to current');
    assert.notEqual(previous, current);
    await draftFromElsewhere(other, otherKey, `${user} three, unseen`);

    const keyOf = { previous, current };
    const answered: string[] = [];
    const releaseNext = nextHeldMessage();
    const first = a.c.send('Sync', syncRequest(drafts, keyOf[firstKey], [sendDraft(`${user} sent while another Sync came`)]))
      .then((r) => { answered.push('first'); return r; });
    const letGo = await releaseNext;
    // The first request is now between the view its key names and the one it will save.
    const second = a.c.send('Sync', syncRequest(drafts, keyOf[secondKey])).then((r) => { answered.push('second'); return r; });
    const early = await Promise.race([second.then(() => 'answered'), sleep(600).then(() => 'waiting')]);
    assert.equal(early, 'waiting', 'the second Sync of the collection waits for the first');

    if (firstKey === 'current' && secondKey === 'current') {
      // Reading saved views does not wait: GetItemEstimate and Ping answer meanwhile.
      const est = await a.c.send('GetItemEstimate', G('GetItemEstimate', G('Collections', G('Collection', A('SyncKey', current), G('CollectionId', drafts)))));
      assert.equal(childText(child(est.body, 'GetItemEstimate:Response'), 'GetItemEstimate:Status'), '1');
      assert.ok(Number(childText(child(child(est.body, 'GetItemEstimate:Response'), 'GetItemEstimate:Collection'), 'GetItemEstimate:Estimate')) >= 1);
      const ping = await a.c.send('Ping', P('Ping', P('HeartbeatInterval', '60'), P('Folders', P('Folder', P('Id', drafts), P('Class', 'Email')))));
      assert.equal(childText(ping.body, 'Ping:Status'), '2', 'the unseen draft is news to Ping');
    }
    letGo();
    const [r1, r2] = await Promise.all([first, second]);
    assert.deepEqual(answered, ['first', 'second'], 'answered in the order they came');
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200);

    const one = model.apply(keyOf[firstKey], collectionOf(r1), 'first');
    const two = model.apply(keyOf[secondKey], collectionOf(r2), 'second');
    assert.equal(one.status, '1', `first (${r1.headers.get('x-easmime-reason') ?? ''})`);
    const sentAdd = child(child(collectionOf(r1), 'AirSync:Responses'), 'AirSync:Add');
    assert.equal(childText(sentAdd, 'AirSync:Status'), '1', 'the draft was saved and sent');

    let last: string;
    if (firstKey !== secondKey) {
      // current then previous: the first request moved the collection on, so the previous key names
      // nothing any more. previous then current: the first request was a retry answered with more than
      // the answer that made the current key (a draft arrived since), so that key is replaced; a device
      // syncing on from it would otherwise be told it holds items it never got.
      assert.equal(two.status, '3', 'a key the first request replaced is refused');
      const fresh = model.apply('0', collectionOf(await a.c.send('Sync', syncRequest(drafts, '0'))), 'restart');
      last = await drainFrom(a, model, 'Drafts', fresh.key!, 'after restart');
    } else {
      assert.equal(two.status, '1', `second (${r2.headers.get('x-easmime-reason') ?? ''})`);
      last = await drainFrom(a, model, 'Drafts', two.key!, 'after both');
      // The key the second answer gave goes on: asked again, it brings nothing new.
      const again = collectionOf(await a.c.send('Sync', syncRequest(drafts, last)));
      assert.equal(childText(again, 'AirSync:Status'), '1');
      assert.equal(child(again, 'AirSync:Commands'), undefined);
    }
    assert.deepEqual(model.violations, [], 'no item doubled or lost');
    assert.deepEqual([...model.states.get(last)!].sort(), [...await truth(user, 'Drafts')].sort(), 'the device holds exactly the folder');
  }

  it('16.1: the same key twice (a retry while the first is still answered)', async () => {
    await overlap('alice@contoso.test', 'current', 'current');
  });

  it('16.1: the current key, then the previous one', async () => {
    await overlap('bob@contoso.test', 'current', 'previous');
  });

  it('16.1: the previous key, then the current one', async () => {
    await overlap('carol@contoso.test', 'previous', 'current');
  });

  it('a device that piles Syncs on one collection is told to retry later: 111 (14.0+) or HTTP 503 (12.x), with Retry-After', async () => {
    const d = await device('dave@contoso.test');
    const drafts = d.folders.get('Drafts')!;
    const k0 = childText(collectionOf(await d.c.send('Sync', syncRequest(drafts, '0'))), 'AirSync:SyncKey')!;
    const releaseNext = nextHeldMessage();
    const first = d.c.send('Sync', syncRequest(drafts, k0, [sendDraft('dave sends while the device piles up')]));
    const letGo = await releaseNext;
    const waiting = Array.from({ length: 4 }, () => d.c.send('Sync', syncRequest(drafts, k0)));
    await sleep(500);
    const refused = await d.c.send('Sync', syncRequest(drafts, k0));
    assert.equal(refused.status, 200);
    assert.equal(childText(refused.body, 'AirSync:Status'), '111');
    assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
    assert.match(refused.headers.get('x-easmime-reason') ?? '', /retry later/);
    const legacy = new EasClient({ ...d.c.opts, version: '12.1' });
    legacy.policyKey = d.c.policyKey;
    const refused12 = await legacy.send('Sync', A('Sync', A('Collections', A('Collection', A('Class', 'Email'), A('SyncKey', k0), A('CollectionId', drafts)))));
    assert.equal(refused12.status, 503);
    assert.ok(Number(refused12.headers.get('retry-after')) > 0);
    // Another collection of the same device is not held up.
    const inbox = await d.c.send('Sync', syncRequest(d.folders.get('Inbox')!, '0'));
    assert.equal(childText(collectionOf(inbox), 'AirSync:Status'), '1');

    letGo();
    assert.equal(childText(collectionOf(await first), 'AirSync:Status'), '1');
    for (const r of await Promise.all(waiting)) {
      assert.equal(r.status, 200);
      assert.equal(childText(collectionOf(r), 'AirSync:Status'), '1', 'each waiting Sync is answered in turn');
    }
  });

  it('14.1: a newer Sync of a held collection ends the held one (empty answer); one of another collection does not', async () => {
    const d = await device('alice@contoso.test', '14.1');
    const inbox = d.folders.get('Inbox')!;
    const model = new DeviceModel();
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['alice@contoso.test'] },
      await compose({ from: 'erin@fabrikam.test', to: 'alice@contoso.test', subject: 'to be read while held', text: 'x' }));
    const k0 = model.apply('0', collectionOf(await d.c.send('Sync', syncRequest(inbox, '0'))), 'prime').key!;
    const key = await drainFrom(d, model, 'Inbox', k0, 'initial');
    const item = [...model.states.get(key)!][0]!;

    // A Sync of another collection leaves the held one alone.
    let heldAnswered = false;
    const heldOne = d.c.send('Sync', syncRequest(inbox, key, undefined, [A('HeartbeatInterval', 120)])).then((r) => { heldAnswered = true; return r; });
    await sleep(300);
    const sent = await d.c.send('Sync', syncRequest(d.folders.get('Sent Items')!, '0'));
    assert.equal(childText(collectionOf(sent), 'AirSync:Status'), '1');
    await sleep(300);
    assert.equal(heldAnswered, false, 'still held after a Sync of Sent Items');

    // A Sync of the Inbox with a change of its own ends it: the newer request answers for the Inbox.
    const started = Date.now();
    const newer = await d.c.send('Sync', syncRequest(inbox, key, [A('Change', A('ServerId', item), A('ApplicationData', E('Read', 1)))]));
    const r = await heldOne;
    assert.ok(Date.now() - started < 10_000, 'the held Sync answered at once');
    assert.equal(r.status, 200);
    assert.equal(r.raw.length, 0, 'the superseded held Sync answers empty: nothing for it to tell');
    const after = model.apply(key, collectionOf(newer), 'newer');
    assert.equal(after.status, '1');
    const last = await drainFrom(d, model, 'Inbox', after.key!, 'after');
    assert.deepEqual(model.violations, []);
    assert.deepEqual([...model.states.get(last)!].sort(), [...await truth('alice@contoso.test', 'Inbox')].sort());
  });
});
