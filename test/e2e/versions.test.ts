// The HTTP layer's "every protocol version" rules over real HTTP+WBXML: each of 2.5, 12.0, 12.1, 14.0,
// 14.1, 16.0 and 16.1 is answered in its own form, every command a version lacks is refused precisely,
// and an unknown version or command gets its own answer.
import { strict as assert } from 'node:assert';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { child, childrenOf, childText } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';
import { encodeBase64Query } from '../../eas/http/query.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const S = ns('Settings');
const SR = ns('Search');

const VERSIONS = ['2.5', '12.0', '12.1', '14.0', '14.1', '16.0', '16.1'];

/** Which versions have each command, from MS-ASCMD's per-command version tables (written out here, not read from the server). */
const HAS: Record<string, (v: number) => boolean> = {
  Sync: () => true, SendMail: () => true, SmartForward: () => true, SmartReply: () => true,
  GetAttachment: (v) => v <= 12.1, FolderSync: () => true, FolderCreate: () => true, FolderDelete: () => true,
  FolderUpdate: () => true, MoveItems: () => true, GetItemEstimate: () => true, MeetingResponse: () => true,
  Search: () => true, Settings: (v) => v >= 12, Ping: () => true, ItemOperations: (v) => v >= 12,
  Provision: () => true, ResolveRecipients: () => true, ValidateCert: () => true, Find: (v) => v >= 16.1,
};

/** The namespace of each command's top-level element. */
const NAMESPACE: Record<string, string> = {
  Sync: 'AirSync', SendMail: 'ComposeMail', SmartForward: 'ComposeMail', SmartReply: 'ComposeMail', FolderSync: 'FolderHierarchy',
  FolderCreate: 'FolderHierarchy', FolderDelete: 'FolderHierarchy', FolderUpdate: 'FolderHierarchy', MoveItems: 'Move',
  GetItemEstimate: 'GetItemEstimate', MeetingResponse: 'MeetingResponse', Search: 'Search', Settings: 'Settings', Ping: 'Ping',
  ItemOperations: 'ItemOperations', Provision: 'Provision', ResolveRecipients: 'ResolveRecipients', ValidateCert: 'ValidateCert', Find: 'Find',
};

describe('end to end: every protocol version', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  const devices = new Map<string, EasClient>();
  before(async () => {
    server = await startServerProcess();
    for (const v of VERSIONS) {
      const c = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'demo', deviceId: `VerDev${v.replace('.', '')}`, version: v });
      await c.provision();
      devices.set(v, c);
    }
  });
  after(async () => { await server?.stop(); });

  const raw = (query: string, headers: Record<string, string>, body?: Buffer): Promise<Response> =>
    fetch(`${server.baseUrl}/Microsoft-Server-ActiveSync?${query}`, {
      method: 'POST', headers: { Authorization: devices.get('14.1')!.authHeader(), ...headers }, body: body ? new Uint8Array(body) : undefined,
    });

  /** The commands OPTIONS advertises. */
  async function advertised(): Promise<string[]> {
    const r = await devices.get('14.1')!.options();
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers.get('ms-asprotocolversions')?.split(','), VERSIONS);
    return (r.headers.get('ms-asprotocolcommands') ?? '').split(',');
  }

  it('OPTIONS lists the seven versions and only commands of the protocol that the server answers', async () => {
    const commands = await advertised();
    for (const command of commands) assert.ok(HAS[command], `${command} is an EAS command`);
    for (const needed of ['Sync', 'FolderSync', 'Provision', 'Ping', 'Search', 'Settings', 'ItemOperations', 'Find', 'GetAttachment']) {
      assert.ok(commands.includes(needed), needed);
    }
    // The 2.5-era commands it does not implement are not advertised, and are unknown when sent.
    for (const legacy of ['GetHierarchy', 'CreateCollection', 'DeleteCollection', 'MoveCollection']) {
      assert.ok(!commands.includes(legacy), legacy);
      const u = await devices.get('2.5')!.send(legacy, undefined);
      assert.equal(u.status, 501, legacy);
    }
  });

  for (const version of VERSIONS) {
    it(`${version}: every command it lacks is refused (${Number(version) >= 14 ? 'Status 138 in the command\'s element' : 'HTTP 400'}), every advertised one it has is run`, async () => {
      const c = devices.get(version)!;
      const v = Number(version);
      const implemented = await advertised();
      for (const command of Object.keys(HAS)) {
        const r = await c.send(command, undefined, command === 'Ping' ? { policyKey: null } : {});
        const reason = r.headers.get('x-easmime-reason') ?? '';
        const refusal = new RegExp(`^${command} does not exist in protocol version ${version.replace('.', '\\.')}`);
        if (HAS[command]!(v)) {
          assert.doesNotMatch(reason, /does not exist in protocol version/, `${command} in ${version}`);
          if (implemented.includes(command)) {
            assert.notEqual(r.status, 501, `${command} in ${version}`);
          } else {
            // A command of the protocol this server does not answer yet: 137 (from 14.0) or HTTP 501.
            assert.match(reason, /not implemented/, `${command} in ${version}`);
            if (v >= 14) assert.equal(childText(r.body, `${NAMESPACE[command]}:Status`), '137', `${command} in ${version}`);
            else assert.equal(r.status, 501, `${command} in ${version}`);
          }
          continue;
        }
        assert.match(reason, refusal, `${command} in ${version}`);
        if (v >= 14 && command !== 'GetAttachment') {
          // The command's own element carries the common status 138.
          assert.equal(r.status, 200, `${command} in ${version}`);
          assert.equal(r.body?.tag, `${NAMESPACE[command]}:${command}`);
          assert.equal(childText(r.body, `${NAMESPACE[command]}:Status`), '138', `${command} in ${version}`);
        } else {
          // GetAttachment has no WBXML element at all, so from 14.0 too the refusal is HTTP 400.
          assert.equal(r.status, 400, `${command} in ${version}`);
          assert.equal(r.raw.length, 0);
        }
      }
    });
  }

  it('an unsupported or missing MS-ASProtocolVersion is HTTP 400 naming the versions there are', async () => {
    for (const bad of ['1.0', '2.0', '12.2', '13.0', '14', '14.10', '16.2', '17.0', 'latest']) {
      const r = await raw('Cmd=FolderSync&User=alice&DeviceId=VerBad1&DeviceType=T', { 'MS-ASProtocolVersion': bad }, Buffer.from([0x03, 0x01, 0x6a, 0x00]));
      assert.equal(r.status, 400, bad);
      assert.match(r.headers.get('x-easmime-reason') ?? '', new RegExp(`protocol version ${bad.replace('.', '\\.')} is not supported`), bad);
      assert.equal(r.headers.get('ms-asprotocolversions'), VERSIONS.join(','));
    }
    const none = await raw('Cmd=FolderSync&User=alice&DeviceId=VerBad1&DeviceType=T', {});
    assert.equal(none.status, 400);
    assert.match(none.headers.get('x-easmime-reason') ?? '', /MS-ASProtocolVersion header is missing/);
  });

  it('an unknown command is HTTP 501 in every version', async () => {
    for (const version of VERSIONS) {
      const r = await devices.get(version)!.send('Frobnicate', undefined);
      assert.equal(r.status, 501, version);
      assert.match(r.headers.get('x-easmime-reason') ?? '', /unknown command Frobnicate/);
    }
  });

  it('the base64 query form exists from 12.1; 2.5 and 12.0 must send the plain one', async () => {
    for (const version of VERSIONS) {
      const c = devices.get(version)!;
      const q = encodeBase64Query({ version, command: 'FolderSync', deviceId: c.opts.deviceId, deviceType: 'TestDevice', policyKey: c.policyKey });
      const r = await raw(q, { 'Content-Type': 'application/vnd.ms-sync.wbxml' }, Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, 0x30, 0x00, 0x01, 0x01]));
      if (Number(version) < 12.1) {
        assert.equal(r.status, 400, version);
        assert.match(r.headers.get('x-easmime-reason') ?? '', /base64 query form does not exist/);
      } else {
        assert.equal(r.status, 200, version);
      }
    }
  });

  it('malformed WBXML, a wrong root element and a wrong Content-Type: HTTP 400 up to 12.1, Status 102/103/101 from 14.0', async () => {
    for (const version of VERSIONS) {
      const c = devices.get(version)!;
      const legacy = Number(version) < 14;
      const cases: Array<[number, Parameters<EasClient['send']>]> = [
        [102, ['FolderSync', Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x07, 0x56, 0x52])]],
        [103, ['FolderSync', A('Sync', A('Collections'))]],
        [101, ['FolderSync', F('FolderSync', F('SyncKey', '0')), { contentType: 'text/plain' }]],
      ];
      for (const [status, args] of cases) {
        const r = await c.send(...args);
        if (legacy) {
          assert.equal(r.status, 400, `${status} in ${version}`);
          assert.equal(r.raw.length, 0);
        } else {
          assert.equal(r.status, 200, `${status} in ${version}`);
          assert.equal(childText(r.body, 'FolderHierarchy:Status'), String(status), `${status} in ${version}`);
        }
        assert.ok(r.headers.get('x-easmime-reason'), `${status} in ${version}`);
      }
    }
  });

  it('bodies: Email:Body and BodyTruncated in 2.5, AirSyncBase:Body from 12.0; conversation data from 14.0', async () => {
    for (const version of VERSIONS) {
      const c = devices.get(version)!;
      const legacy = Number(version) < 14;
      const h = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
      const inbox = childrenOf(child(h.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add').find((a) => childText(a, 'FolderHierarchy:Type') === '2');
      const id = childText(inbox, 'FolderHierarchy:ServerId')!;
      const collection = (key: string) => A('Sync', A('Collections', A('Collection', legacy && A('Class', 'Email'), A('SyncKey', key), A('CollectionId', id))));
      const first = await c.send('Sync', collection('0'));
      const key = childText(child(child(first.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
      const r = await c.send('Sync', collection(key));
      const add = child(child(child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Commands'), 'AirSync:Add');
      const data = child(add, 'AirSync:ApplicationData')!;
      if (version === '2.5') {
        assert.ok(child(data, 'Email:Body'), version);
        assert.equal(childText(data, 'Email:BodyTruncated'), '0');
        assert.equal(child(data, 'AirSyncBase:Body'), undefined);
      } else {
        assert.ok(child(data, 'AirSyncBase:Body'), version);
        assert.equal(child(data, 'Email:Body'), undefined);
        assert.equal(child(data, 'Email:BodyTruncated'), undefined);
      }
      assert.equal(child(data, 'Email2:ConversationId') !== undefined, !legacy, version);
    }
  });

  it('Search and Settings answer in each version\'s form', async () => {
    for (const version of VERSIONS) {
      const c = devices.get(version)!;
      const v = Number(version);
      const galAnswer = await c.send('Search', SR('Search', SR('Store', SR('Name', 'GAL'), SR('Query', 'bob'))));
      const store = child(child(galAnswer.body, 'Search:Response'), 'Search:Store');
      assert.equal(childText(store, 'Search:Status'), '1', version);
      assert.equal(childText(child(child(store, 'Search:Result'), 'Search:Properties'), 'GAL:EmailAddress'), 'bob@contoso.test');

      const mail = await c.send('Search', SR('Search', SR('Store', SR('Name', 'Mailbox'), SR('Query', SR('And', SR('FreeText', 'welcome'))))));
      const mstore = child(child(mail.body, 'Search:Response'), 'Search:Store');
      if (v < 12) {
        assert.equal(childText(mstore, 'Search:Status'), '2', version);
      } else {
        assert.equal(childText(mstore, 'Search:Status'), '1', version);
        const props = child(child(mstore, 'Search:Result'), 'Search:Properties');
        assert.ok(child(props, 'AirSyncBase:Body'), version);
        assert.equal(child(props, 'Email2:ConversationId') !== undefined, v >= 14, version);
      }

      if (v < 12) continue;
      const info = await c.send('Settings', S('Settings', S('UserInformation', S('Get'))));
      const get = child(child(info.body, 'Settings:UserInformation'), 'Settings:Get');
      assert.deepEqual(get?.children.map((x) => x.tag), [v >= 14.1 ? 'Settings:Accounts' : 'Settings:EmailAddresses'], version);
    }
  });
});
