// Sync-state idempotence, as a property over random histories (fast-check, fixed seed) against the
// real server: a device syncs the Inbox in small windows while mail arrives and another device moves
// mail away; responses get lost (the client retries its key), the client goes back to its previous
// key, or to an older one. Checked on every answer applied: no item added twice, no delete of an
// item the client's view lacks; an older key than the two the server keeps gets Status 3; and at the
// end the client's view equals the folder, so nothing was lost.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { SmtpClient } from '../support/smtp-client.js';
import { adminMessages, writeOrgFixture } from '../support/org-fixture.js';
import { EasClient } from '../support/eas-client.js';
import { ns } from '../../eas/wbxml/ns.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';

const DOMAIN = 'idem.test';
const TOKEN = 'idempotence-admin-token-0123456789';
const A = ns('AirSync');
const E = ns('Email');
const F = ns('FolderHierarchy');
const M = ns('Move');

type Op =
  | { kind: 'deliver'; count: number }
  | { kind: 'move-away'; pick: number }
  | { kind: 'sync'; use: 'latest' | 'previous' | 'stale'; window: number; lose: boolean; change: 'none' | 'read' | 'delete'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('move-away' as const), pick: fc.nat() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('sync' as const),
      use: fc.constantFrom('latest', 'latest', 'latest', 'previous', 'stale') as fc.Arbitrary<'latest' | 'previous' | 'stale'>,
      window: fc.integer({ min: 1, max: 6 }),
      lose: fc.boolean(),
      change: fc.constantFrom('none', 'none', 'read', 'delete') as fc.Arbitrary<'none' | 'read' | 'delete'>,
      pick: fc.nat(),
    }),
  },
);

function collection(body: WbxmlElement | undefined): WbxmlElement | undefined {
  return child(child(body, 'AirSync:Collections'), 'AirSync:Collection');
}

describe('reliability: sync-state idempotence', function () {
  this.timeout(150_000);
  let server: ServerProcess;
  let smtp: SmtpClient;
  let other: EasClient;
  let inbox: string;
  let deleted: string;
  let runs = 0;
  let delivered = 0;

  before(async () => {
    const first = Array.from({ length: 6 }, (_, i) => [`m${i}.eml`, `From: a@elsewhere.test\r\nTo: syncer@${DOMAIN}\r\nSubject: initial ${i}\r\nMessage-ID: <initial-${i}@elsewhere.test>\r\nDate: Mon, 0${i + 1} Jun 2026 10:00:00 +0000\r\n\r\nInitial ${i}.\r\n`]);
    const fixtures = writeOrgFixture({ domain: DOMAIN, users: [{ address: `syncer@${DOMAIN}`, password: 'demo' }] }, { syncer: { Inbox: Object.fromEntries(first) } });
    server = await startServerProcess({ fixtures, env: { EASMIME_ADMIN_TOKEN: TOKEN } });
    smtp = await SmtpClient.connect(server.smtpPort);
    other = new EasClient({ baseUrl: server.baseUrl, user: `syncer@${DOMAIN}`, password: 'demo', deviceId: 'IdemOther', version: '14.1' });
    await other.provision();
    const r = await other.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const names = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    inbox = names.get('Inbox')!;
    deleted = names.get('Deleted Items')!;
  });
  after(async () => {
    await smtp?.quit();
    await server?.stop();
  });

  async function truth(): Promise<Set<string>> {
    return new Set((await adminMessages(server.baseUrl, TOKEN, `syncer@${DOMAIN}`)).map((m) => `${inbox}:${m.id}`));
  }

  async function run(ops: Op[]): Promise<void> {
    const c = new EasClient({ baseUrl: server.baseUrl, user: `syncer@${DOMAIN}`, password: 'demo', deviceId: `Idem${++runs}`, version: '14.1' });
    await c.provision();
    await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    // What the client holds for each key it received, and which keys the server still keeps.
    const views = new Map<string, Set<string>>();
    const issued: string[] = [];
    let retained: string[] = [];
    let latest = '0';

    const start = async (): Promise<void> => {
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inbox)))));
      const col = collection(r.body);
      assert.equal(childText(col, 'AirSync:Status'), '1', 'SyncKey 0 always starts over');
      assert.equal(child(col, 'AirSync:Commands'), undefined, 'SyncKey 0 carries no items');
      latest = childText(col, 'AirSync:SyncKey')!;
      views.clear();
      views.set(latest, new Set());
      issued.push(latest);
      retained = [latest];
    };

    const sync = async (key: string, window: number, lose: boolean, change: 'none' | 'read' | 'delete', pick: number): Promise<void> => {
      // A client that goes back to a key has given up what came after it (the server reuses those
      // key strings for the views it derives anew).
      for (const later of issued.splice(issued.indexOf(key) + 1)) views.delete(later);
      latest = key;
      const view = new Set(views.get(key)!);
      const held = [...view];
      const target = change !== 'none' && held.length > 0 ? held[pick % held.length]! : undefined;
      const commands = target === undefined ? undefined
        : change === 'read' ? A('Commands', A('Change', A('ServerId', target), A('ApplicationData', E('Read', 1))))
          : A('Commands', A('Delete', A('ServerId', target)));
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox), A('WindowSize', window), commands))));
      assert.equal(r.status, 200);
      const col = collection(r.body);
      const status = childText(col, 'AirSync:Status');
      if (!retained.includes(key)) {
        assert.equal(status, '3', `key ${key} is older than the two the server keeps (${retained.join(', ')})`);
        await start();
        return;
      }
      assert.equal(status, '1', `key ${key} is one the server keeps: ${r.headers.get('x-easmime-reason') ?? ''}`);
      const next = childText(col, 'AirSync:SyncKey')!;
      retained = [key, next];
      if (lose) return;
      const commandsEl = child(col, 'AirSync:Commands');
      const seen = new Set<string>();
      for (const el of commandsEl?.children ?? []) {
        const id = childText(el, 'AirSync:ServerId')!;
        assert.ok(!seen.has(id), `${id} appears twice in one answer`);
        seen.add(id);
        if (el.tag === 'AirSync:Add') {
          assert.ok(!view.has(id), `${id} added again: the view of ${key} already holds it`);
          view.add(id);
        } else if (el.tag === 'AirSync:Delete' || el.tag === 'AirSync:SoftDelete') {
          assert.ok(view.has(id), `${id} deleted but the view of ${key} lacks it`);
          view.delete(id);
        } else if (el.tag === 'AirSync:Change') {
          assert.ok(view.has(id), `${id} changed but the view of ${key} lacks it`);
        }
      }
      // The client's own delete: gone from its view, whether the server also reports it gone or not.
      if (target !== undefined && change === 'delete') view.delete(target);
      for (const resp of childrenOf(child(col, 'AirSync:Responses'), 'AirSync:Change')) {
        // 8: another device moved it away first; the same answer then carries its Delete.
        assert.ok(['1', '8'].includes(childText(resp, 'AirSync:Status')!), `a client change answered Status ${childText(resp, 'AirSync:Status')}`);
      }
      views.set(next, view);
      if (!issued.includes(next)) issued.push(next);
      latest = next;
    };

    await start();
    for (const op of ops) {
      if (op.kind === 'deliver') {
        for (let i = 0; i < op.count; i++) {
          const n = ++delivered;
          await smtp.send('a@elsewhere.test', [`syncer@${DOMAIN}`], Buffer.from(`From: a@elsewhere.test\r\nTo: syncer@${DOMAIN}\r\nSubject: arrived ${n}\r\nMessage-ID: <arrived-${n}@elsewhere.test>\r\n\r\nArrived ${n}.\r\n`));
        }
      } else if (op.kind === 'move-away') {
        const now = [...await truth()];
        if (now.length === 0) continue;
        const r = await other.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', now[op.pick % now.length]!), M('SrcFldId', inbox), M('DstFldId', deleted))));
        assert.equal(childText(child(r.body, 'Move:Response'), 'Move:Status'), '3', 'moved');
      } else {
        let key = latest;
        if (op.use === 'previous') key = retained.find((k) => k !== latest && views.has(k)) ?? latest;
        if (op.use === 'stale') key = issued.filter((k) => views.has(k)).at(op.pick % Math.max(1, issued.length)) ?? latest;
        if (!views.has(key)) key = latest;
        await sync(key, op.window, op.lose, op.change, op.pick);
      }
    }
    // Catch up from the newest key the client holds: its view must be the folder.
    for (let guard = 0; guard < 200; guard++) {
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', latest), A('CollectionId', inbox), A('WindowSize', 25)))));
      const more = child(collection(r.body), 'AirSync:MoreAvailable') !== undefined;
      // Same checks as any other answer.
      if (childText(collection(r.body), 'AirSync:Status') !== '1') assert.fail(`catch-up answered Status ${childText(collection(r.body), 'AirSync:Status')}`);
      const view = new Set(views.get(latest)!);
      for (const el of child(collection(r.body), 'AirSync:Commands')?.children ?? []) {
        const id = childText(el, 'AirSync:ServerId')!;
        if (el.tag === 'AirSync:Add') { assert.ok(!view.has(id), `${id} added twice`); view.add(id); }
        if (el.tag === 'AirSync:Delete' || el.tag === 'AirSync:SoftDelete') { assert.ok(view.has(id)); view.delete(id); }
      }
      latest = childText(collection(r.body), 'AirSync:SyncKey')!;
      views.set(latest, view);
      if (!more) break;
    }
    assert.deepEqual([...views.get(latest)!].sort(), [...await truth()].sort(), 'the client\'s view is the folder: nothing lost, nothing extra');
  }

  it('random histories of lost answers, retries, previous and stale keys never lose or duplicate an item', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 30 }), run), { seed: 20261129, numRuns: 150, endOnFailure: true });
  });

  it('a retried key is answered again byte for byte while nothing changed', async () => {
    const c = new EasClient({ baseUrl: server.baseUrl, user: `syncer@${DOMAIN}`, password: 'demo', deviceId: 'IdemBytes', version: '14.1' });
    await c.provision();
    await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const r0 = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inbox)))));
    let key = childText(collection(r0.body), 'AirSync:SyncKey')!;
    for (let step = 0; step < 4; step++) {
      const body = A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox), A('WindowSize', 2))));
      const first = await c.send('Sync', body);
      const again = await c.send('Sync', body);
      assert.ok(first.raw.equals(again.raw), `step ${step}: the retry is answered with the same bytes`);
      key = childText(collection(first.body), 'AirSync:SyncKey')!;
      if (!child(collection(first.body), 'AirSync:MoreAvailable')) break;
    }
  });
});
