// Settings over real HTTP+WBXML against the real server on the demo organisation, in 12.1, 14.1 and
// 16.1 (and its refusal in 2.5): UserInformation, Oof get and set for every audience (kept across a
// restart), DeviceInformation, DevicePassword, RightsManagementInformation, and every status.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { child, childrenOf, childText, type Content, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const S = ns('Settings');
const P = ns('Provision');

interface SettingsAnswer { http: number; status?: string; sections: WbxmlElement[]; reason: string | null; raw: Buffer }

function readSettings(r: EasResponse): SettingsAnswer {
  return {
    http: r.status,
    status: childText(r.body, 'Settings:Status'),
    sections: (r.body?.children ?? []).filter((c) => c.tag !== 'Settings:Status'),
    reason: r.headers.get('x-easmime-reason'),
    raw: r.raw,
  };
}

const sectionStatus = (a: SettingsAnswer, name: string): string | undefined => childText(a.sections.find((s) => s.tag === `Settings:${name}`), 'Settings:Status');

type Audience = 'AppliesToInternal' | 'AppliesToExternalKnown' | 'AppliesToExternalUnknown';

function oofMessage(audience: Audience | null, enabled: string | null, reply?: string, bodyType?: string): WbxmlElement {
  return S('OofMessage', audience && S(audience), enabled !== null && S('Enabled', enabled), reply !== undefined && S('ReplyMessage', reply), bodyType !== undefined && S('BodyType', bodyType));
}

function oofSet(o: { state?: string; start?: string; end?: string; messages?: WbxmlElement[] }): WbxmlElement {
  return S('Oof', S('Set', o.state !== undefined && S('OofState', o.state), o.start !== undefined && S('StartTime', o.start), o.end !== undefined && S('EndTime', o.end), o.messages ?? []));
}

interface OofView { status?: string; state?: string; start?: string; end?: string; messages: Record<string, { enabled?: string; reply?: string; bodyType?: string }> }

function readOof(a: SettingsAnswer): OofView {
  const oof = a.sections.find((s) => s.tag === 'Settings:Oof');
  const get = child(oof, 'Settings:Get');
  const messages: OofView['messages'] = {};
  for (const m of childrenOf(get, 'Settings:OofMessage')) {
    const audience = m.children[0]!.tag.replace('Settings:', '');
    messages[audience] = { enabled: childText(m, 'Settings:Enabled'), reply: childText(m, 'Settings:ReplyMessage'), bodyType: childText(m, 'Settings:BodyType') };
  }
  return { status: childText(oof, 'Settings:Status'), state: childText(get, 'Settings:OofState'), start: childText(get, 'Settings:StartTime'), end: childText(get, 'Settings:EndTime'), messages };
}

describe('end to end: Settings', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let counter = 0;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  async function device(user: string, version: string, signIn = `${user}@contoso.test`): Promise<EasClient> {
    const c = new EasClient({ baseUrl: server.baseUrl, user: signIn, password: 'demo', deviceId: `SetDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    return c;
  }

  const send = async (c: EasClient, ...sections: Content[]): Promise<SettingsAnswer> => readSettings(await c.send('Settings', S('Settings', ...sections)));
  const getOof = async (c: EasClient, bodyType = 'Text'): Promise<OofView> => readOof(await send(c, S('Oof', S('Get', S('BodyType', bodyType)))));

  async function adminDevices(user: string): Promise<Array<{ deviceId: string; info?: Record<string, string> }>> {
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const r = await fetch(`${server.baseUrl}/admin/users/${user}/devices`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    return await r.json() as Array<{ deviceId: string; info?: Record<string, string> }>;
  }

  const users: Record<string, string> = { '12.1': 'carol', '14.1': 'dave', '16.1': 'bob' };

  for (const version of ['12.1', '14.1', '16.1']) {
    const user = users[version]!;
    describe(`in ${version}`, () => {
      let c: EasClient;
      before(async () => { c = await device(user, version); });

      it(`UserInformation gives the primary SMTP address${version === '12.1' ? '' : ' inside Accounts'}`, async () => {
        // Signed in with the bare local part: the address is still the primary one.
        const viaLocal = await device(user, version, user);
        const a = await send(viaLocal, S('UserInformation', S('Get')));
        assert.equal(a.http, 200);
        assert.equal(a.status, '1');
        assert.equal(sectionStatus(a, 'UserInformation'), '1');
        const get = child(a.sections[0], 'Settings:Get')!;
        if (version === '12.1') {
          assert.deepEqual(get.children.map((x) => x.tag), ['Settings:EmailAddresses']);
          assert.deepEqual(childrenOf(child(get, 'Settings:EmailAddresses'), 'Settings:SMTPAddress').map((x) => x.text), [`${user}@contoso.test`]);
        } else {
          assert.deepEqual(get.children.map((x) => x.tag), ['Settings:Accounts']);
          const accounts = childrenOf(child(get, 'Settings:Accounts'), 'Settings:Account');
          assert.equal(accounts.length, 1);
          const addresses = child(accounts[0], 'Settings:EmailAddresses');
          assert.equal(childText(addresses, 'Settings:PrimarySmtpAddress'), `${user}@contoso.test`);
          assert.deepEqual(childrenOf(addresses, 'Settings:SMTPAddress').map((x) => x.text), [`${user}@contoso.test`]);
          // Exchange sends none of these, and neither do we.
          for (const tag of ['AccountId', 'AccountName', 'UserDisplayName', 'SendDisabled']) assert.equal(child(accounts[0], `Settings:${tag}`), undefined, tag);
        }
      });

      it('Oof: off by default; Set with internal and external messages; Get in the BodyType asked, spelt as asked', async () => {
        const initial = await getOof(c);
        assert.equal(initial.status, '1');
        assert.equal(initial.state, '0');
        assert.deepEqual(Object.keys(initial.messages), ['AppliesToInternal', 'AppliesToExternalKnown', 'AppliesToExternalUnknown']);
        for (const m of Object.values(initial.messages)) assert.deepEqual(m, { enabled: '0', reply: undefined, bodyType: undefined });

        const set = await send(c, oofSet({ state: '1', messages: [
          oofMessage('AppliesToInternal', '1', 'Back on Monday.\nAsk Alice meanwhile.', 'TEXT'),
          oofMessage('AppliesToExternalKnown', '1', '<p>Away until <b>Monday</b> &amp; offline.</p>', 'HTML'),
          oofMessage('AppliesToExternalUnknown', '1', 'I am away.', 'Text'),
        ] }));
        assert.equal(set.status, '1');
        assert.equal(sectionStatus(set, 'Oof'), '1');
        assert.equal(set.reason, null);

        const text = await getOof(c, 'TEXT');
        assert.equal(text.state, '1');
        assert.deepEqual(text.messages.AppliesToInternal, { enabled: '1', reply: 'Back on Monday.\nAsk Alice meanwhile.', bodyType: 'TEXT' });
        assert.deepEqual(text.messages.AppliesToExternalKnown, { enabled: '1', reply: 'Away until Monday & offline.', bodyType: 'TEXT' });
        assert.deepEqual(text.messages.AppliesToExternalUnknown, { enabled: '1', reply: 'I am away.', bodyType: 'TEXT' });
        const html = await getOof(c, 'html');
        assert.equal(html.messages.AppliesToExternalKnown!.reply, '<p>Away until <b>Monday</b> &amp; offline.</p>');
        assert.equal(html.messages.AppliesToInternal!.reply, '<html><body>Back on Monday.<br>Ask Alice meanwhile.</body></html>');
        assert.equal(html.messages.AppliesToInternal!.bodyType, 'html');
      });

      it('Oof: time-based state with its window; a Set changes only what it names; Enabled 0 without a reply clears it', async () => {
        const timed = await send(c, oofSet({ state: '2', start: '2030-07-01T08:00:00.000Z', end: '2030-07-15T17:00:00Z' }));
        assert.equal(sectionStatus(timed, 'Oof'), '1');
        let now = await getOof(c);
        assert.equal(now.state, '2');
        assert.equal(now.start, '2030-07-01T08:00:00.000Z');
        assert.equal(now.end, '2030-07-15T17:00:00.000Z');
        // The messages set before are untouched by a Set that names none.
        assert.equal(now.messages.AppliesToExternalUnknown!.reply, 'I am away.');

        // No OofState: the state stays; only the internal audience changes.
        assert.equal(sectionStatus(await send(c, oofSet({ messages: [oofMessage('AppliesToInternal', '0')] })), 'Oof'), '1');
        now = await getOof(c);
        assert.equal(now.state, '2');
        assert.deepEqual(now.messages.AppliesToInternal, { enabled: '0', reply: undefined, bodyType: undefined });
        assert.equal(now.messages.AppliesToExternalKnown!.enabled, '1');

        // A time-based Set without times keeps the window it had (MS-ASCMD lets OofState 2 come alone).
        assert.equal(sectionStatus(await send(c, oofSet({ state: '2' })), 'Oof'), '1');
        assert.equal((await getOof(c)).start, '2030-07-01T08:00:00.000Z');
        assert.equal(sectionStatus(await send(c, oofSet({ state: '0' })), 'Oof'), '1');
        now = await getOof(c);
        assert.equal(now.state, '0');
        assert.equal(now.start, undefined);
      });

      it('Oof statuses: 2 for a lone StartTime or EndTime and for incomplete messages, 5 for bad values, 6 for conflicts; nothing changes', async () => {
        assert.equal(sectionStatus(await send(c, oofSet({ state: '1', messages: [oofMessage('AppliesToInternal', '1', 'Steady.', 'Text')] })), 'Oof'), '1');
        const before = await getOof(c);
        const cases: Array<[string, string, WbxmlElement]> = [
          ['StartTime alone', '2', oofSet({ state: '2', start: '2030-01-01T00:00:00Z' })],
          ['EndTime alone', '2', oofSet({ state: '2', end: '2030-01-02T00:00:00Z' })],
          ['no audience', '2', oofSet({ messages: [oofMessage(null, '1')] })],
          ['two audiences', '2', oofSet({ messages: [S('OofMessage', S('AppliesToInternal'), S('AppliesToExternalKnown'), S('Enabled', '1'))] })],
          ['no Enabled', '2', oofSet({ messages: [oofMessage('AppliesToInternal', null)] })],
          ['ReplyMessage without BodyType', '2', oofSet({ messages: [oofMessage('AppliesToInternal', '1', 'x')] })],
          ['OofState 3', '5', oofSet({ state: '3' })],
          ['bad date', '5', oofSet({ state: '2', start: 'tomorrow', end: '2030-01-02T00:00:00Z' })],
          ['Enabled 2', '5', oofSet({ messages: [oofMessage('AppliesToInternal', '2')] })],
          ['BodyType RTF', '5', oofSet({ messages: [oofMessage('AppliesToExternalKnown', '1', 'x', 'RTF')] })],
          ['reply too long', '5', oofSet({ messages: [oofMessage('AppliesToInternal', '1', 'x'.repeat(64 * 1024 + 1), 'Text')] })],
          ['EndTime before StartTime', '6', oofSet({ state: '2', start: '2030-01-02T00:00:00Z', end: '2030-01-01T00:00:00Z' })],
          ['one audience twice', '6', oofSet({ messages: [oofMessage('AppliesToInternal', '1', 'a', 'Text'), oofMessage('AppliesToInternal', '0')] })],
          ['Get BodyType RTF', '5', S('Oof', S('Get', S('BodyType', 'RTF')))],
        ];
        for (const [what, status, oof] of cases) {
          const a = await send(c, oof);
          assert.equal(a.http, 200, what);
          assert.equal(a.status, '1', what);
          assert.equal(sectionStatus(a, 'Oof'), status, what);
          assert.match(a.reason ?? '', /^Oof: /, what);
        }
        assert.deepEqual(await getOof(c), before);
      });

      it('DeviceInformation is stored for the device; too long a value is Status 5', async () => {
        const fields = [S('Model', 'Pixel 9'), S('IMEI', '490154203237518'), S('FriendlyName', `${user}'s phone`), S('OS', 'Android 15'), S('OSLanguage', 'en-GB'), S('PhoneNumber', '+44 20 7946 0000'),
          S('UserAgent', 'TestMail/2.0'), ...(version === '12.1' ? [] : [S('EnableOutboundSMS', '0'), S('MobileOperator', 'Contoso Mobile')])];
        const a = await send(c, S('DeviceInformation', S('Set', ...fields)));
        assert.equal(a.status, '1');
        assert.equal(sectionStatus(a, 'DeviceInformation'), '1');
        const stored = (await adminDevices(`${user}@contoso.test`)).find((d) => d.deviceId === c.opts.deviceId);
        assert.equal(stored?.info?.model, 'Pixel 9');
        assert.equal(stored?.info?.friendlyName, `${user}'s phone`);
        assert.equal(stored?.info?.userAgent, 'TestMail/2.0');
        if (version !== '12.1') assert.equal(stored?.info?.mobileOperator, 'Contoso Mobile');
        const long = await send(c, S('DeviceInformation', S('Set', S('Model', 'm'.repeat(1025)))));
        assert.equal(sectionStatus(long, 'DeviceInformation'), '5');
        if (version !== '12.1') assert.equal(sectionStatus(await send(c, S('DeviceInformation', S('Set', S('EnableOutboundSMS', 'yes')))), 'DeviceInformation'), '5');
        assert.equal((await adminDevices(`${user}@contoso.test`)).find((d) => d.deviceId === c.opts.deviceId)?.info?.model, 'Pixel 9');
      });

      it('DevicePassword: Status 5 beyond 255 characters, else 7 (the device policy keeps no recovery password)', async () => {
        const long = await send(c, S('DevicePassword', S('Set', S('Password', 'p'.repeat(256)))));
        assert.equal(long.status, '1');
        assert.equal(sectionStatus(long, 'DevicePassword'), '5');
        const denied = await send(c, S('DevicePassword', S('Set', S('Password', 'recover-me-1234'))));
        assert.equal(sectionStatus(denied, 'DevicePassword'), '7');
        assert.match(denied.reason ?? '', /PasswordRecoveryEnabled 0/);
      });

      it(`RightsManagementInformation ${version === '12.1' ? 'does not exist (top-level Status 2)' : 'answers an empty template list'}`, async () => {
        const a = await send(c, S('RightsManagementInformation', S('Get')));
        if (version === '12.1') {
          assert.equal(a.status, '2');
          assert.equal(a.sections.length, 0);
          assert.match(a.reason ?? '', /14\.1/);
          return;
        }
        assert.equal(a.status, '1');
        assert.equal(sectionStatus(a, 'RightsManagementInformation'), '1');
        const templates = child(child(a.sections[0], 'Settings:Get'), 'RightsManagement:RightsManagementTemplates');
        assert.ok(templates);
        assert.equal(templates.children.length, 0);
      });

      it('answers sections in the order asked, each with its own status, the failing one changing nothing', async () => {
        const a = await send(c,
          S('UserInformation', S('Get')),
          oofSet({ state: '1', messages: [oofMessage('AppliesToExternalUnknown', '1', 'Mixed batch.', 'Text')] }),
          S('DevicePassword', S('Set', S('Password', 'p'.repeat(300)))),
          S('DeviceInformation', S('Set', S('Model', 'Batch phone'))));
        assert.equal(a.status, '1');
        assert.deepEqual(a.sections.map((s) => [s.tag, childText(s, 'Settings:Status')]),
          [['Settings:UserInformation', '1'], ['Settings:Oof', '1'], ['Settings:DevicePassword', '5'], ['Settings:DeviceInformation', '1']]);
        assert.equal((await getOof(c)).messages.AppliesToExternalUnknown!.reply, 'Mixed batch.');
      });

      it('a request that breaks the schema gets the top-level Status 2 and no section, and applies nothing', async () => {
        const before = await getOof(c);
        const cases: Array<[string, Content[]]> = [
          ['no section', []],
          ['unknown element', [S('Model', 'x')]],
          ['a section twice', [S('UserInformation', S('Get')), S('UserInformation', S('Get'))]],
          ['Oof with Get and Set', [S('Oof', S('Get', S('BodyType', 'Text')), S('Set', S('OofState', '0')))]],
          ['empty Oof', [S('Oof')]],
          ['Oof Get without BodyType', [S('Oof', S('Get'))]],
          ['unknown element in Oof Set', [S('Oof', S('Set', S('OofState', '0'), S('Model', 'x')))]],
          ['DevicePassword Set without Password', [S('DevicePassword', S('Set'))]],
          ['DeviceInformation Get', [S('DeviceInformation', S('Get'))]],
          ['empty DeviceInformation Set', [S('DeviceInformation', S('Set'))]],
          ['unknown DeviceInformation field', [S('DeviceInformation', S('Set', S('Model', 'x'), S('BodyType', 'Text')))]],
          ['UserInformation Set', [S('UserInformation', S('Set'))]],
          // The schema error fails the whole request: the valid Oof Set beside it is not applied.
          ['a valid section beside a broken one', [oofSet({ state: '1', messages: [oofMessage('AppliesToInternal', '1', 'Should not stick.', 'Text')] }), S('DevicePassword', S('Set'))]],
        ];
        if (version === '12.1') cases.push(['EnableOutboundSMS in 12.1', [S('DeviceInformation', S('Set', S('EnableOutboundSMS', '0')))]]);
        for (const [what, sections] of cases) {
          const a = await send(c, ...sections);
          assert.equal(a.http, 200, what);
          assert.equal(a.status, '2', what);
          assert.equal(a.sections.length, 0, what);
          assert.ok(a.reason, what);
        }
        assert.deepEqual(await getOof(c), before);
      });

      it(`malformed WBXML gets ${version === '12.1' ? 'HTTP 400' : 'Status 102'}; an empty body Status 2`, async () => {
        const r = await c.send('Settings', Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x12, 0x45, 0x49]));
        if (version === '12.1') {
          assert.equal(r.status, 400);
        } else {
          assert.equal(r.status, 200);
          assert.equal(childText(r.body, 'Settings:Status'), '102');
        }
        assert.match(r.headers.get('x-easmime-reason') ?? '', /malformed WBXML/);
        const empty = readSettings(await c.send('Settings'));
        assert.equal(empty.status, '2');
      });
    });
  }

  it('14.1: the device was told PasswordRecoveryEnabled 0 at Provision, which is why DevicePassword is refused', async () => {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'carol@contoso.test', password: 'demo', deviceId: 'SetDevPolicy', version: '14.1' });
    const r = await c.send('Provision', P('Provision', S('DeviceInformation', S('Set', S('Model', 'x'))), P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))), { policyKey: null });
    const doc = child(child(child(child(r.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:Data'), 'Provision:EASProvisionDoc');
    assert.equal(childText(doc, 'Provision:PasswordRecoveryEnabled'), '0');
  });

  it('2.5 has no Settings: HTTP 400 with the reason', async () => {
    const c = await device('alice', '2.5');
    const r = await c.send('Settings', S('Settings', S('UserInformation', S('Get'))));
    assert.equal(r.status, 400);
    assert.equal(r.raw.length, 0);
    assert.match(r.headers.get('x-easmime-reason') ?? '', /Settings does not exist in protocol version 2\.5/);
  });

  it('12.0: Settings exists; UserInformation in the 12.x form', async () => {
    const c = await device('alice', '12.0');
    const a = await send(c, S('UserInformation', S('Get')));
    assert.equal(a.status, '1');
    assert.equal(childText(child(child(a.sections[0], 'Settings:Get'), 'Settings:EmailAddresses'), 'Settings:SMTPAddress'), 'alice@contoso.test');
    // UserAgent came with 12.1.
    assert.equal((await send(c, S('DeviceInformation', S('Set', S('UserAgent', 'x'))))).status, '2');
  });

  // Nested describes run after the top-level tests and after the version blocks above: this one
  // restarts the server and then damages its store, so it is declared last.
  describe('across a restart, then with a damaged store', () => {
    it('Oof is kept across a restart; a damaged store is Status 4 for the section it breaks', async () => {
      const c = await device('alice', '16.1');
      const set = await send(c, oofSet({ state: '2', start: '2031-03-01T09:00:00.000Z', end: '2031-03-08T18:00:00.000Z', messages: [
        oofMessage('AppliesToInternal', '1', 'Skiing.', 'Text'),
        oofMessage('AppliesToExternalKnown', '1', '<b>Skiing</b>', 'HTML'),
      ] }));
      assert.equal(sectionStatus(set, 'Oof'), '1');
      const before = await getOof(c, 'HTML');

      assert.equal(await server.stop(), 0);
      server = await startServerProcess({ data: server.data });
      const again = new EasClient({ ...c.opts, baseUrl: server.baseUrl });
      again.policyKey = c.policyKey;
      const after = await getOof(again, 'HTML');
      assert.deepEqual(after, before);
      assert.equal(after.state, '2');
      assert.equal(after.start, '2031-03-01T09:00:00.000Z');
      assert.equal(after.messages.AppliesToExternalKnown!.reply, '<b>Skiing</b>');

      // Damage the store as a bad migration would: the user settings table is gone.
      const db = new Database(path.join(server.data, 'easmime.sqlite'));
      try {
        db.exec('DROP TABLE user_settings');
      } finally {
        db.close();
      }
      const a = await send(again, S('UserInformation', S('Get')), S('Oof', S('Get', S('BodyType', 'Text'))));
      assert.equal(a.status, '1');
      assert.deepEqual(a.sections.map((s) => [s.tag, childText(s, 'Settings:Status')]), [['Settings:UserInformation', '1'], ['Settings:Oof', '4']]);
      assert.match(a.reason ?? '', /Oof: the store is unavailable/);
      const set2 = await send(again, oofSet({ state: '0' }), S('DeviceInformation', S('Set', S('Model', 'Still here'))));
      assert.deepEqual(set2.sections.map((s) => [s.tag, childText(s, 'Settings:Status')]), [['Settings:Oof', '4'], ['Settings:DeviceInformation', '1']]);
    });
  });
});
