// Fuzzing the EAS endpoint of the real server (fast-check, fixed seeds): valid requests of every
// command mutated as trees (children dropped, doubled, moved, swapped for any tag of any code page,
// texts replaced by edge values), structured base64 queries and plain queries. Every answer must be
// precise: never HTTP 500, never a command that threw (the server logs "command failed" and answers
// Status 110), a WBXML body that decodes, an X-EasMime-Reason on refusals, and no hang (only Ping
// and a Sync with Wait may be held). The query parser is also fuzzed directly with base64 queries
// built field by field, which random bytes rarely reach.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { EasClient } from '../support/eas-client.js';
import { compose, sendRaw } from '../support/mail.js';
import { decodeWbxml, encodeWbxml, allTags, type WbxmlElement } from '../../eas/wbxml/index.js';
import { ns } from '../../eas/wbxml/ns.js';
import { child, childrenOf, childText } from '../../eas/wbxml/tree.js';
import { COMMAND_CODES, parseQuery, QueryError } from '../../eas/http/query.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const E = ns('Email');
const F = ns('FolderHierarchy');
const IO = ns('ItemOperations');
const S = ns('Search');
const M = ns('Move');
const C = ns('ComposeMail');
const G = ns('GetItemEstimate');
const P = ns('Ping');
const RR = ns('ResolveRecipients');
const VC = ns('ValidateCert');
const ST = ns('Settings');
const PR = ns('Provision');
const FI = ns('Find');
const MR = ns('MeetingResponse');
const CO = ns('Contacts');
const CO2 = ns('Contacts2');

const TAGS = allTags();
const EDGE_TEXTS = ['', '0', '1', '-1', '2', '7', '99', '4294967296', '999999999999999999999', '1:1', '1:99999', '0:0', ':', 'abc', '{x}1',
  ' 5 ', '\u00e9\u4e2d\u{1f600}', 'x'.repeat(300), '2026-11-29T10:00:00.000Z', '20261129T100000Z', 'a@b', '<>&"', '%00', '3540', '60', '61'];

interface Ids { inbox: string; drafts: string; item: string; fileRef: string; hierarchyKey: string; contacts: string; contactsKey: string }

/** One valid request per command, built on bob's real ids. */
function corpus(ids: Ids): Array<[string, WbxmlElement]> {
  const mime = 'From: bob@contoso.test\r\nTo: bob@contoso.test\r\nSubject: fuzz\r\n\r\nbody\r\n';
  return [
    ['Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', ids.inbox), A('DeletesAsMoves', 1), A('GetChanges', 1), A('WindowSize', 5),
      A('Options', A('FilterType', 3), A('MIMESupport', 2), B('BodyPreference', B('Type', 4), B('TruncationSize', 100), B('AllOrNone', 0), B('Preview', 50))),
      A('Commands', A('Change', A('ServerId', ids.item), A('ApplicationData', E('Read', 1))), A('Fetch', A('ServerId', ids.item))))), A('WindowSize', 10))],
    ['FolderSync', F('FolderSync', F('SyncKey', ids.hierarchyKey))],
    ['Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', ids.contactsKey), A('CollectionId', ids.contacts), A('GetChanges', 1), A('WindowSize', 5),
      A('Commands', A('Add', A('ClientId', 'fuzz-contact'), A('ApplicationData', CO('FileAs', 'Fuzz, Contact'), CO('Email1Address', 'fuzz@example.test'),
        CO2('NickName', 'F'), B('Body', B('Type', 1), B('Data', 'a note')))),
      A('Change', A('ServerId', `${ids.contacts}:1`), A('ApplicationData', CO('FileAs', 'Changed'))), A('Fetch', A('ServerId', `${ids.contacts}:1`))))))],
    ['FolderCreate', F('FolderCreate', F('SyncKey', ids.hierarchyKey), F('ParentId', ids.inbox), F('DisplayName', 'fuzz'), F('Type', 12))],
    ['FolderUpdate', F('FolderUpdate', F('SyncKey', ids.hierarchyKey), F('ServerId', ids.drafts), F('ParentId', '0'), F('DisplayName', 'renamed'))],
    ['FolderDelete', F('FolderDelete', F('SyncKey', ids.hierarchyKey), F('ServerId', ids.drafts))],
    ['GetItemEstimate', G('GetItemEstimate', G('Collections', G('Collection', A('SyncKey', '0'), G('CollectionId', ids.inbox), A('Options', A('FilterType', 2)))))],
    ['Ping', P('Ping', P('HeartbeatInterval', '60'), P('Folders', P('Folder', P('Id', ids.inbox), P('Class', 'Email'))))],
    ['ItemOperations', IO('ItemOperations',
      IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', ids.inbox), A('ServerId', ids.item), IO('Options', A('MIMESupport', 2), B('BodyPreference', B('Type', 2)))),
      IO('Fetch', IO('Store', 'Mailbox'), B('FileReference', ids.fileRef)),
      IO('Fetch', IO('Store', 'Mailbox'), S('LongId', ids.item)),
      IO('Move', IO('ConversationId', Buffer.alloc(16, 1)), IO('DstFldId', ids.inbox)),
      IO('EmptyFolderContents', A('CollectionId', ids.drafts), IO('Options', IO('DeleteSubFolders'))))],
    ['MoveItems', M('MoveItems', M('Move', M('SrcMsgId', ids.item), M('SrcFldId', ids.inbox), M('DstFldId', ids.drafts)))],
    ['Search', S('Search', S('Store', S('Name', 'Mailbox'), S('Query', S('And', A('CollectionId', ids.inbox), S('FreeText', 'fuzz'),
      S('GreaterThan', E('DateReceived'), S('Value', '2020-01-01T00:00:00.000Z')))), S('Options', S('Range', '0-9'), S('DeepTraversal'), S('RebuildResults'),
      B('BodyPreference', B('Type', 1), B('TruncationSize', 20)))))],
    ['Search', S('Search', S('Store', S('Name', 'GAL'), S('Query', 'ali'), S('Options', S('Range', '0-4'), S('Picture', S('MaxSize', 100)))))],
    ['Settings', ST('Settings', ST('Oof', ST('Get', ST('BodyType', 'Text'))), ST('UserInformation', ST('Get')),
      ST('DeviceInformation', ST('Set', ST('Model', 'Fuzz'), ST('OS', 'x'))), ST('DevicePassword', ST('Set', ST('Password', 'p'))))],
    ['SendMail', C('SendMail', C('ClientId', 'fuzz-1'), C('SaveInSentItems'), C('Mime', mime))],
    ['SmartReply', C('SmartReply', C('ClientId', 'fuzz-2'), C('Source', C('FolderId', ids.inbox), C('ItemId', ids.item)), C('Mime', mime))],
    ['SmartForward', C('SmartForward', C('ClientId', 'fuzz-3'), C('Source', C('LongId', ids.item)), C('ReplaceMime'), C('Mime', mime))],
    ['ResolveRecipients', RR('ResolveRecipients', RR('To', 'alice'), RR('To', 'sales@contoso.test'), RR('Options', RR('CertificateRetrieval', 3), RR('MaxCertificates', 5),
      RR('MaxAmbiguousRecipients', 2), RR('Availability', RR('StartTime', '2026-11-29T08:00:00.000Z'), RR('EndTime', '2026-11-29T18:00:00.000Z')), RR('Picture', RR('MaxSize', 10))))],
    ['ValidateCert', VC('ValidateCert', VC('Certificates', VC('Certificate', Buffer.from('MIIBfuzz'))), VC('CertificateChain', VC('Certificate', Buffer.alloc(40, 0x30))), VC('CheckCRL', '1'))],
    ['Find', FI('Find', FI('SearchId', '0c2e8f9a-0000-4000-8000-000000000001'), FI('ExecuteSearch', FI('MailBoxSearchCriterion', FI('Query', A('Class', 'Email'),
      FI('FreeText', 'subject:fuzz'), A('CollectionId', ids.inbox)), FI('Options', FI('Range', '0-9'), FI('DeepTraversal')))))],
    ['MeetingResponse', MR('MeetingResponse', MR('Request', MR('UserResponse', 1), MR('CollectionId', ids.inbox), MR('RequestId', ids.item)))],
  ];
}

type Mutation = { op: 'drop' | 'double' | 'text' | 'retag' | 'insert' | 'hoist' | 'opaque' | 'nest'; at: number; pick: number; text: number };

function nodes(t: WbxmlElement): Array<{ el: WbxmlElement; parent?: WbxmlElement }> {
  const out: Array<{ el: WbxmlElement; parent?: WbxmlElement }> = [{ el: t }];
  for (let i = 0; i < out.length; i++) for (const c of out[i]!.el.children) out.push({ el: c, parent: out[i]!.el });
  return out;
}

function mutate(tree: WbxmlElement, muts: Mutation[]): WbxmlElement {
  const t = structuredClone(tree);
  for (const m of muts) {
    const all = nodes(t);
    const { el, parent } = all[m.at % all.length]!;
    const text = EDGE_TEXTS[m.text % EDGE_TEXTS.length]!;
    switch (m.op) {
      case 'drop': if (parent) parent.children.splice(parent.children.indexOf(el), 1); break;
      case 'double': if (parent) parent.children.splice(parent.children.indexOf(el), 0, structuredClone(el)); break;
      case 'text': if (el.children.length === 0) { el.text = text; delete el.opaque; } break;
      case 'retag': if (parent) el.tag = TAGS[m.pick % TAGS.length]!; break;
      case 'insert': el.children.splice(m.pick % (el.children.length + 1), 0, { tag: TAGS[m.pick % TAGS.length]!, children: [], text }); break;
      case 'hoist': if (parent && el.children.length > 0) parent.children.push(el.children[m.pick % el.children.length]!); break;
      case 'opaque': if (el.children.length === 0) { el.opaque = Buffer.from(text, 'utf8'); delete el.text; } break;
      case 'nest': if (parent) parent.children.splice(parent.children.indexOf(el), 1, { tag: el.tag, children: [el] }); break;
    }
  }
  return t;
}

const mutationArb = fc.array(fc.record({
  op: fc.constantFrom('drop', 'double', 'text', 'text', 'retag', 'insert', 'hoist', 'opaque', 'nest') as fc.Arbitrary<Mutation['op']>,
  at: fc.nat(), pick: fc.nat(), text: fc.nat(),
}), { minLength: 1, maxLength: 4 });

/** A base64 query built field by field (MS-ASHTTP 2.2.1.1.1.1), with lengths that may lie. */
const base64QueryArb = fc.record({
  version: fc.constantFrom(121, 140, 141, 160, 161, 25, 0, 255),
  command: fc.oneof(fc.constantFrom(...Object.keys(COMMAND_CODES).map(Number)), fc.integer({ min: 0, max: 255 })),
  locale: fc.integer({ min: 0, max: 0xffff }),
  deviceId: fc.uint8Array({ maxLength: 40 }),
  deviceIdLength: fc.option(fc.integer({ min: 0, max: 255 })),
  policyKey: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 9 })),
  deviceType: fc.uint8Array({ maxLength: 20 }),
  params: fc.array(fc.record({ tag: fc.integer({ min: 0, max: 14 }), value: fc.uint8Array({ maxLength: 30 }), lie: fc.option(fc.integer({ min: 0, max: 255 })) }), { maxLength: 5 }),
  cut: fc.option(fc.nat()),
  urlEncode: fc.boolean(),
}).map((q) => {
  const bytes: number[] = [q.version, q.command, q.locale & 0xff, q.locale >> 8,
    q.deviceIdLength ?? q.deviceId.length, ...q.deviceId, q.policyKey.length, ...q.policyKey, q.deviceType.length, ...q.deviceType];
  for (const p of q.params) bytes.push(p.tag, p.lie ?? p.value.length, ...p.value);
  const buf = Buffer.from(q.cut === null ? bytes : bytes.slice(0, q.cut % (bytes.length + 1)));
  const b64 = buf.toString('base64');
  return q.urlEncode ? encodeURIComponent(b64) : b64;
});

const plainQueryArb = fc.record({
  cmd: fc.oneof(fc.constantFrom(...Object.values(COMMAND_CODES), 'GetHierarchy', 'Nope'), fc.string({ maxLength: 12 })),
  user: fc.oneof(fc.constant('bob@contoso.test'), fc.string({ maxLength: 10 })),
  deviceId: fc.oneof(fc.constant('FuzzQuery1'), fc.string({ maxLength: 40 })),
  deviceType: fc.oneof(fc.constant('Fuzz'), fc.string({ maxLength: 10 })),
  extra: fc.array(fc.tuple(fc.constantFrom('AttachmentName', 'CollectionId', 'ItemId', 'LongId', 'SaveInSent', 'Occurrence', 'x', 'Cmd'), fc.string({ maxLength: 20 })), { maxLength: 3 }),
  raw: fc.option(fc.constantFrom('%', '%zz', '&&', '=', '%E0%A4%A')),
}).map((q) => {
  const parts = [`Cmd=${encodeURIComponent(q.cmd)}`, `User=${encodeURIComponent(q.user)}`, `DeviceId=${encodeURIComponent(q.deviceId)}`, `DeviceType=${encodeURIComponent(q.deviceType)}`,
    ...q.extra.map(([k, v]) => `${k}=${encodeURIComponent(v)}`)];
  if (q.raw !== null) parts.push(q.raw);
  return parts.join('&');
});

describe('reliability: fuzzing the EAS endpoint', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let bob: EasClient;
  let ids: Ids;

  before(async () => {
    server = await startServerProcess();
    bob = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'FuzzBob', version: '16.1' });
    await bob.provision();
    await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, await compose({
      from: 'erin@fabrikam.test', to: 'bob@contoso.test', subject: 'for the fuzzer', text: 'hello\n', attachments: [{ filename: 'a.txt', content: 'attached\n' }],
    }));
    const fsr = await bob.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const folders = new Map(childrenOf(child(fsr.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
    const inbox = folders.get('Inbox')!;
    const r0 = await bob.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inbox)))));
    const key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
    const r1 = await bob.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox), A('Options', B('BodyPreference', B('Type', 1)))))));
    const add = childrenOf(child(child(child(r1.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Commands'), 'AirSync:Add')
      .find((a) => child(child(a, 'AirSync:ApplicationData'), 'AirSyncBase:Attachments'))!;
    const contacts = folders.get('Contacts')!;
    const c0 = await bob.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', contacts)))));
    ids = {
      contacts, contactsKey: childText(child(child(c0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!,
      inbox, drafts: folders.get('Drafts')!, hierarchyKey: childText(fsr.body, 'FolderHierarchy:SyncKey')!,
      item: childText(add, 'AirSync:ServerId')!,
      fileRef: childText(child(child(child(add, 'AirSync:ApplicationData'), 'AirSyncBase:Attachments'), 'AirSyncBase:Attachment'), 'AirSyncBase:FileReference')!,
    };
  });
  after(async () => { await server?.stop(); });

  /** Posts and checks the answer is precise; returns 'held' when a waiting command was still waiting after 4 s. */
  async function post(query: string, body: Buffer | undefined, label: string, version = '16.1'): Promise<number | 'held'> {
    return (await postFull(query, body, label, version)).status;
  }

  async function postFull(query: string, body: Buffer | undefined, label: string, version = '16.1'): Promise<{ status: number | 'held'; tree?: WbxmlElement }> {
    const headers: Record<string, string> = { Authorization: bob.authHeader(), 'MS-ASProtocolVersion': version, 'X-MS-PolicyKey': String(bob.policyKey) };
    if (body) headers['Content-Type'] = 'application/vnd.ms-sync.wbxml';
    let res: Response;
    try {
      res = await fetch(`${server.baseUrl}/Microsoft-Server-ActiveSync?${query}`, { method: 'POST', headers, body: body ? new Uint8Array(body) : undefined, signal: AbortSignal.timeout(4000) });
    } catch (e) {
      if ((e as Error).name === 'TimeoutError') return { status: 'held' };
      throw e;
    }
    const raw = Buffer.from(await res.arrayBuffer());
    assert.notEqual(res.status, 500, `${label}: HTTP 500`);
    if (res.status >= 400 && res.status !== 401) assert.ok(res.headers.get('x-easmime-reason'), `${label}: HTTP ${res.status} without a reason`);
    const tree = (res.headers.get('content-type') ?? '').startsWith('application/vnd.ms-sync.wbxml') && raw.length > 0 ? decodeWbxml(raw) : undefined;
    return { status: res.status, tree };
  }

  function crashes(): string[] {
    return server.logs.filter((l) => l.level === 'error' || l.msg === 'command failed').map((l) => `${String(l.command ?? '')} ${String(l.error ?? l.msg).split('\n')[0]}`);
  }

  it('mutated requests of every command are answered precisely', async () => {
    const cases = corpus(ids);
    let hierarchyKey = ids.hierarchyKey;
    const runs = fc.sample(fc.tuple(fc.nat({ max: cases.length - 1 }), mutationArb), { seed: 20261129, numRuns: 6000 });
    let held = 0;
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < runs.length) {
        const [which, muts] = runs[next++]!;
        const [command, tree] = cases[which]!;
        // Folder commands need the current hierarchy key to get past the key check.
        const current = structuredClone(tree);
        const keyEl = current.children.find((c) => c.tag === 'FolderHierarchy:SyncKey');
        if (keyEl) keyEl.text = hierarchyKey;
        const mutated = mutate(current, muts);
        let body: Buffer;
        try {
          body = encodeWbxml(mutated);
        } catch {
          continue; // a mutation the encoder refuses (e.g. nesting past its depth) is no request
        }
        const deviceId = command === 'Provision' ? 'FuzzProv' : 'FuzzBob';
        const query = new URLSearchParams({ Cmd: command, User: 'bob@contoso.test', DeviceId: deviceId, DeviceType: 'Fuzz' }).toString();
        const { status, tree: answer } = await postFull(query, body, `${command} ${JSON.stringify(muts)}`);
        if (answer && childText(answer, 'FolderHierarchy:Status') === '1' && childText(answer, 'FolderHierarchy:SyncKey')) hierarchyKey = childText(answer, 'FolderHierarchy:SyncKey')!;
        if (status === 'held') {
          assert.ok(command === 'Ping' || command === 'Sync', `${command} hung: ${JSON.stringify(muts)}`);
          held++;
        }
      }
    }));
    assert.deepEqual(crashes(), [], 'no command threw');
    assert.ok(held < runs.length / 10, `${held} requests held`);
  });

  it('Provision, mutated, on its own device', async () => {
    const tree = PR('Provision', ST('DeviceInformation', ST('Set', ST('Model', 'F'))), PR('Policies', PR('Policy', PR('PolicyType', 'MS-EAS-Provisioning-WBXML'), PR('PolicyKey', '1'), PR('Status', 1))),
      PR('RemoteWipe', PR('Status', 1)));
    const runs = fc.sample(mutationArb, { seed: 7, numRuns: 200 });
    for (const muts of runs) {
      const query = new URLSearchParams({ Cmd: 'Provision', User: 'bob@contoso.test', DeviceId: 'FuzzProv', DeviceType: 'Fuzz' }).toString();
      assert.notEqual(await post(query, encodeWbxml(mutate(tree, muts)), `Provision ${JSON.stringify(muts)}`), 'held');
    }
    assert.deepEqual(crashes(), []);
  });

  it('random bytes as the body of every command', async () => {
    const runs = fc.sample(fc.tuple(fc.constantFrom(...Object.values(COMMAND_CODES)), fc.oneof(fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }).map((a) => new Uint8Array([3, 1, 106, 0, ...a])))), { seed: 11, numRuns: 300 });
    for (const [command, bytes] of runs) {
      const query = new URLSearchParams({ Cmd: command, User: 'bob@contoso.test', DeviceId: 'FuzzBob', DeviceType: 'Fuzz' }).toString();
      const status = await post(query, Buffer.from(bytes), `${command} random body`);
      if (status === 'held') assert.ok(command === 'Ping' || command === 'Sync');
    }
    assert.deepEqual(crashes(), []);
  });

  it('structured base64 queries and plain queries over HTTP: a precise answer each', async () => {
    const runs = fc.sample(fc.oneof(base64QueryArb, plainQueryArb), { seed: 13, numRuns: 600 });
    for (const q of runs) {
      // Empty bodies: the query and the gates in front of the commands are what is fuzzed here.
      const status = await post(q, undefined, `query ${q}`, '14.1');
      if (status === 'held') assert.fail(`query ${q} hung`);
    }
    assert.deepEqual(crashes(), []);
  });

  it('parseQuery: structured base64 queries parse or fail with QueryError, and what parses is bounded', () => {
    fc.assert(fc.property(base64QueryArb, (q) => {
      try {
        const parsed = parseQuery(q);
        assert.equal(parsed.form, 'base64');
        assert.ok(parsed.deviceId.length >= 1 && parsed.deviceId.length <= 64, parsed.deviceId);
        assert.ok(Object.values(COMMAND_CODES).includes(parsed.command), parsed.command);
      } catch (e) {
        if (!(e instanceof QueryError)) throw e;
        assert.ok(e.message.length > 0);
      }
    }), { seed: 17, numRuns: 20_000 });
  });
});
