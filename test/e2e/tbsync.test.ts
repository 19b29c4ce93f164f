// Thunderbird's EAS client against the server: EAS-4-TbSync's own code (Debian's webext-eas4tbsync,
// loaded by test/support/tbsync.ts) builds the requests and reads the answers. Its WBXML codec is an
// independent implementation too, so its code pages and documents are compared with ours.
// The package comes from test/support/fetch-eas4tbsync.sh: without it the suite is skipped locally
// and fails under CI (which fetches it), so it cannot silently stop running there.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { decodeWbxml, encodeWbxml, x, type WbxmlElement } from '../../eas/wbxml/index.js';
import { NAMESPACE_BY_PAGE, TAG_BY_CODE, isOpaqueTag } from '../../eas/wbxml/codepages.js';
import { ns } from '../../eas/wbxml/ns.js';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { makeTlsPki } from '../support/tls-pki.js';
import { loadTbSync, SyncData, tbsyncDir, tbsyncFailure, tbsyncVersion, type AccountData, type FolderData, type TbSyncClient } from '../support/tbsync.js';

const F = ns('FolderHierarchy');

/**
 * Where TbSync's labels differ from MS-ASWBXML's (and ours) for the same code; see
 * ../shared/docs/eas-protocol.md. Same code, same meaning: only the printed name differs.
 */
const TBSYNC_LABELS: Readonly<Record<string, string>> = {
  'Email:Att0Id': 'Email:AttOId',
  'Email:DTStamp': 'Email:DtStamp',
  'Email:Recurrence_Type': 'Email:Type',
  'Email:Recurrence_Until': 'Email:Until',
  'Email:Recurrence_Occurrences': 'Email:Occurrences',
  'Email:Recurrence_Interval': 'Email:Interval',
  'Email:Recurrence_DayOfWeek': 'Email:DayOfWeek',
  'Email:Recurrence_DayOfMonth': 'Email:DayOfMonth',
  'Email:Recurrence_WeekOfMonth': 'Email:WeekOfMonth',
  'Email:Recurrence_MonthOfYear': 'Email:MonthOfYear',
  'Calendar:TimeZone': 'Calendar:Timezone',
  'ComposeMail:ForwardeeName': 'ComposeMail:Name',
  'ComposeMail:ForwardeeEmail': 'ComposeMail:Email',
  'RightsManagement:RemoveRightsManagementDistribution': 'RightsManagement:RemoveRightsManagementProtection',
};
/** TbSync spells page 16 "Gal". */
const TBSYNC_NAMESPACES: Readonly<Record<string, string>> = { Gal: 'GAL' };

const dir = tbsyncDir();

/** Which folder types TbSync syncs, and the Class it names them by (sync.js singleFolder). */
const CLASS_OF_TYPE: Readonly<Record<string, string>> = { 9: 'Contacts', 14: 'Contacts', 8: 'Calendar', 13: 'Calendar', 7: 'Tasks', 15: 'Tasks' };

describe('Thunderbird TbSync (EAS-4-TbSync) as the client', function () {
  this.timeout(120_000);
  let tb: TbSyncClient;

  before(function () {
    if (!dir) {
      if (process.env.CI) throw new Error('EAS-4-TbSync must be fetched in CI (test/support/fetch-eas4tbsync.sh)');
      this.skip();
    }
    tb = loadTbSync(dir);
  });

  it('is EAS-4-TbSync 4.x, with an empty AirNotify page and no Find page', () => {
    assert.match(tbsyncVersion(dir!), /^4\./);
    assert.deepEqual(Object.keys(tb.eas.wbxmltools.codepages[3] ?? {}), []);
    assert.equal(tb.eas.wbxmltools.namespaces.length, 25);
  });

  describe('its WBXML codec against ours', () => {
    /** Every (page, token) TbSync knows, with its name and ours. */
    function tbsyncTags(): Array<{ page: number; token: number; theirs: string; ours: string | undefined }> {
      const w = tb.eas.wbxmltools;
      const out = [];
      for (let page = 0; page < w.namespaces.length; page++) {
        for (const [token, name] of Object.entries(w.codepages[page] ?? {})) {
          out.push({ page, token: Number(token), theirs: `${w.namespaces[page]}:${name}`, ours: TAG_BY_CODE[page * 64 + Number(token)] });
        }
      }
      return out;
    }

    it('names the same code pages, page for page', () => {
      const theirs = Array.from(tb.eas.wbxmltools.namespaces, (n) => TBSYNC_NAMESPACES[n] ?? n);
      assert.deepEqual(theirs, NAMESPACE_BY_PAGE.slice(0, theirs.length), 'TbSync has no page 25 (Find, 16.1)');
    });

    it('every tag it knows has the same code here, under the same name or a documented label', () => {
      const tags = tbsyncTags();
      assert.ok(tags.length > 500, `TbSync knows ${tags.length} tags`);
      const missing = tags.filter((t) => t.ours === undefined).map((t) => t.theirs);
      assert.deepEqual(missing, [], 'codes TbSync uses that we do not know');
      const renamed = tags.filter((t) => t.ours !== undefined && t.ours !== t.theirs.replace(/^Gal:/, 'GAL:'));
      assert.deepEqual(Object.fromEntries(renamed.map((t) => [t.theirs.replace(/^Gal:/, 'GAL:'), t.ours])), TBSYNC_LABELS);
    });

    /** A text value per tag: its code, and characters that take 2, 3 and 4 bytes in UTF-8. */
    const valueOf = (page: number, token: number): string => `${page}/${token} é ☃ 😀 & <x>`;

    // Page 3 (AirNotify) is empty in TbSync; 25 (Find) it does not have.
    for (const page of [...Array(25).keys()].filter((p) => p !== 3)) {
      it(`page ${page}: what its builder writes decodes here, and we write the same bytes`, () => {
        const w = tb.eas.wbxmltools;
        const tags = tbsyncTags().filter((t) => t.page === page);
        const builder = w.createWBXML();
        if (page !== 0) builder.switchpage(w.namespaces[page]!);
        const [root, ...rest] = tags;
        builder.otag(root!.theirs.split(':')[1]!);
        builder.atag(root!.theirs.split(':')[1]!); // an empty element
        for (const t of tags) builder.atag(t.theirs.split(':')[1]!, valueOf(page, t.token));
        builder.ctag();
        // What TbSync puts on the wire: its string, UTF-8 encoded (network.js sendRequestPromise).
        const bytes = Buffer.from(new TextEncoder().encode(builder.getBytes()));
        const leaf = (t: { token: number; ours: string | undefined }): WbxmlElement => {
          const v = valueOf(page, t.token);
          return isOpaqueTag(t.ours!) ? x(t.ours!, Buffer.from(v, 'utf8')) : x(t.ours!, v);
        };
        const expected = x(root!.ours!, x(root!.ours!), [root!, ...rest].map(leaf));
        assert.deepEqual(decodeWbxml(bytes), expected);
        if (!tags.some((t) => isOpaqueTag(t.ours!))) assert.deepEqual(encodeWbxml(expected), bytes);
      });

      it(`page ${page}: what we write reads the same in its decoder (OPAQUE aside, which it cannot read)`, () => {
        const w = tb.eas.wbxmltools;
        const tags = tbsyncTags().filter((t) => t.page === page && !isOpaqueTag(t.ours!));
        const [root] = tags;
        const doc = x(root!.ours!, x(root!.ours!), tags.map((t) => x(t.ours!, valueOf(page, t.token))));
        const builder = w.createWBXML();
        if (page !== 0) builder.switchpage(w.namespaces[page]!);
        builder.otag(root!.theirs.split(':')[1]!);
        builder.atag(root!.theirs.split(':')[1]!);
        for (const t of tags) builder.atag(t.theirs.split(':')[1]!, valueOf(page, t.token));
        builder.ctag();
        // A response as TbSync reads it: the body decoded as UTF-8 text (responseText), then convert2xml.
        const ours = w.convert2xml(new TextDecoder().decode(encodeWbxml(doc)));
        const theirs = w.convert2xml(new TextDecoder().decode(new TextEncoder().encode(builder.getBytes())));
        assert.notEqual(ours, false);
        assert.equal(ours, theirs);
      });
    }

    it('its decoder gives up on OPAQUE, which we write only in the MS-ASWBXML binary tags (none of them in what it asks for)', () => {
      // convert2xml returns false on OPAQUE, string-table references, entities and extensions; of
      // those, our encoder writes only OPAQUE, and only for the MS-ASWBXML binary tags.
      const w = tb.eas.wbxmltools;
      assert.equal(w.convert2xml(new TextDecoder().decode(encodeWbxml(x('GAL:Picture', x('GAL:Data', Buffer.from('jpeg')))))), false);
    });
  });

  describe('an account set up and synced as Thunderbird does', () => {
    let server: ServerProcess;
    let host: string;
    let ca: string;
    const data = tempDir();

    before(async function () {
      if (!dir) this.skip();
      const pki = makeTlsPki('easmime-tbsync-pki-');
      ca = fs.readFileSync(pki.caPem, 'utf8');
      server = await startServerProcess({ data, extraArgs: ['--https-port', '0', '--https-cert', pki.trusted.certFile, '--https-key', pki.trusted.keyFile] });
      host = new URL(server.baseUrl).host;
    });
    after(async () => {
      await server?.stop();
    });

    /** TbSync's account run: folderList, rerun while the provider asks for it (TbSync gives up after a few). */
    async function folderList(client: TbSyncClient, sd: SyncData): Promise<string[]> {
      const reruns: string[] = [];
      for (;;) {
        try {
          await client.eas.sync.folderList(sd);
          return reruns;
        } catch (e) {
          const status = (e as { statusData?: { type: string; message: string } }).statusData;
          if (status?.type !== 'account_rerun' || reruns.length >= 3) assert.fail(`folderList: ${tbsyncFailure(e)}`);
          reruns.push(status.message);
        }
      }
    }

    /** A folder's sync as singleFolder does it for a folder with no local changes: a key, an estimate, the server's changes. */
    async function syncFolder(client: TbSyncClient, sd: SyncData, folder: FolderData): Promise<void> {
      sd.currentFolderData = folder;
      sd.type = CLASS_OF_TYPE[String(folder.getFolderProperty('type'))]!;
      sd.synckey = String(folder.getFolderProperty('synckey'));
      try {
        if (sd.synckey === '') await client.eas.network.getSynckey(sd);
        await client.eas.network.getItemEstimate(sd);
        await client.eas.sync.requestRemoteChanges(sd);
      } catch (e) {
        assert.fail(`${sd.type}: ${tbsyncFailure(e)}`);
      }
    }

    const commands = (client: TbSyncClient, from = 0): string[] =>
      client.exchanges.slice(from).map((e) => (e.method === 'OPTIONS' ? 'OPTIONS' : new URL(e.url).searchParams.get('Cmd')!));
    const syncable = (a: AccountData): FolderData[] => a.folders.filter((f) => CLASS_OF_TYPE[String(f.getFolderProperty('type'))] && !f.removed);

    for (const version of ['14.0', '2.5'] as const) {
      it(`${version}: OPTIONS, provisioning when the server asks, FolderSync; then Contacts, Calendar and Tasks sync`, async () => {
        const client = loadTbSync(dir!);
        const account = client.newAccount('alice@contoso.test', 'demo', host);
        account.setAccountProperty('asversionselected', version === '14.0' ? 'auto' : '2.5');
        const sd = new SyncData(account);
        const reruns = await folderList(client, sd);

        assert.equal(account.getAccountProperty('asversion'), version);
        assert.ok(String(account.getAccountProperty('allowedEasVersions')).split(',').includes('14.0'));
        assert.ok(String(account.getAccountProperty('allowedEasCommands')).split(',').includes('FolderSync'));
        // TbSync starts without provisioning; the server's refusal makes it provision and start again,
        // in 14.0 through the Settings status 142, in 2.5 through HTTP 449.
        assert.deepEqual(reruns, [version === '14.0' ? 'Settings.142' : '449']);
        assert.equal(account.getAccountProperty('provision'), true);
        assert.match(String(account.getAccountProperty('policykey')), /^[1-9]\d*$/);
        assert.deepEqual(commands(client), version === '14.0'
          ? ['OPTIONS', 'Settings', 'Provision', 'Provision', 'Settings', 'FolderSync']
          : ['OPTIONS', 'FolderSync', 'Provision', 'Provision', 'FolderSync']);
        for (const e of client.exchanges) {
          if (e.method === 'POST') assert.equal(e.requestHeaders['MS-ASProtocolVersion'], version);
        }

        const names = account.folders.filter((f) => !f.removed).map((f) => `${f.getFolderProperty('foldername')}/${f.getFolderProperty('type')}`).sort();
        assert.deepEqual(names, ['Calendar/8', 'Contacts/9', 'Deleted Items/4', 'Tasks/7'], 'the folders TbSync keeps (it ignores mail folders)');
        assert.match(String(account.getAccountProperty('foldersynckey')), /\S/);

        const before = client.exchanges.length;
        for (const folder of syncable(account)) await syncFolder(client, sd, folder);
        assert.deepEqual(commands(client, before), ['Sync', 'GetItemEstimate', 'Sync', 'Sync', 'GetItemEstimate', 'Sync', 'Sync', 'GetItemEstimate', 'Sync']);
        for (const folder of syncable(account)) assert.match(String(folder.getFolderProperty('synckey')), /\S/, `${folder.getFolderProperty('foldername')} has a sync key`);
        for (const e of client.exchanges.slice(before)) {
          assert.equal(e.status, 200);
          assert.deepEqual([...e.responseBody.subarray(0, 4)], [0x03, 0x01, 0x6a, 0x00], 'the header TbSync insists on');
        }
        assert.deepEqual(client.reported, []);
      });
    }

    it('14.0 with its defaults: a secure connection, the server found by Autodiscover', async () => {
      // As a user who installed the test CA in Thunderbird; the autodiscover.<domain> names it tries
      // first need DNS, so its request goes to the server's address directly.
      const client = loadTbSync(dir!, { ca });
      const url = `https://127.0.0.1:${server.httpsPort}/autodiscover/autodiscover.xml`;
      const found = await client.eas.network.getServerConnectionViaAutodiscoverRequest('POST', { accountname: 'TbSync alice', url, user: 'alice@contoso.test' }, 'demo', 30_000);
      assert.equal(found.error, '', JSON.stringify(found));
      assert.equal(found.server, `https://127.0.0.1:${server.httpsPort}/Microsoft-Server-ActiveSync`);
      const account = client.newAccount('alice@contoso.test', 'demo', client.eas.network.stripAutodiscoverUrl(found.server), true);
      const sd = new SyncData(account);
      await folderList(client, sd);
      for (const folder of syncable(account)) await syncFolder(client, sd, folder);
      assert.equal(syncable(account).length, 3);
      assert.ok(client.exchanges.length > 10);
      for (const e of client.exchanges) assert.match(e.url, new RegExp(`^https://127\\.0\\.0\\.1:${server.httpsPort}/`));

      // Its Autodiscover v2 request (the one it makes for Office 365 accounts) finds the same server.
      const v2 = await client.eas.network.getServerConnectionViaAutodiscoverV2JsonRequest('TbSync alice', 'alice@contoso.test',
        `https://127.0.0.1:${server.httpsPort}/autodiscover/autodiscover.json?Email=${encodeURIComponent('alice@contoso.test')}&Protocol=ActiveSync`, 30_000);
      assert.deepEqual({ error: v2.error, server: v2.server }, { error: '', server: `127.0.0.1:${server.httpsPort}` });

      const wrong = loadTbSync(dir!, { ca });
      const refused = await wrong.eas.network.getServerConnectionViaAutodiscoverRequest('POST', { accountname: 'TbSync alice', url, user: 'alice@contoso.test' }, 'not-her-password', 30_000);
      assert.equal(refused.error, 401, 'TbSync reports the 401 (and would ask for the password)');
    });

    it('14.0: a second run finds the folder list unchanged and folders in sync; a folder made elsewhere arrives, and its deletion too', async () => {
      const client = loadTbSync(dir!);
      const account = client.newAccount('bob@contoso.test', 'demo', host);
      const sd = new SyncData(account);
      await folderList(client, sd);
      for (const folder of syncable(account)) await syncFolder(client, sd, folder);
      const keyBefore = account.getAccountProperty('foldersynckey');

      assert.deepEqual(await folderList(client, sd), []);
      assert.equal(account.getAccountProperty('foldersynckey'), keyBefore, 'nothing changed, the same FolderSync key');
      // The keys from the first run are still good: each folder syncs on from them.
      for (const folder of syncable(account)) await syncFolder(client, sd, folder);

      // bob's phone makes an address book; Thunderbird picks it up on its next run.
      const phone = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'BobPhone01', deviceType: 'iPhone', version: '14.1' });
      await phone.provision();
      const fs = await phone.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
      const key = fs.body!.children.find((c) => c.tag === 'FolderHierarchy:SyncKey')!.text!;
      const made = await phone.send('FolderCreate', F('FolderCreate', F('SyncKey', key), F('ParentId', '0'), F('DisplayName', 'Team contacts'), F('Type', '14')));
      const madeId = made.body!.children.find((c) => c.tag === 'FolderHierarchy:ServerId')!.text!;
      const newKey = made.body!.children.find((c) => c.tag === 'FolderHierarchy:SyncKey')!.text!;

      await folderList(client, sd);
      const team = account.getFolder('serverID', madeId);
      assert.ok(team, 'the new folder is in TbSync\'s list');
      assert.equal(team.getFolderProperty('foldername'), 'Team contacts');
      assert.equal(team.getFolderProperty('targetType'), 'addressbook');
      await syncFolder(client, sd, team);

      const gone = await phone.send('FolderDelete', F('FolderDelete', F('SyncKey', newKey), F('ServerId', madeId)));
      assert.equal(gone.body!.children.find((c) => c.tag === 'FolderHierarchy:Status')!.text, '1');
      await folderList(client, sd);
      assert.equal(team.removed, '[deleted on server]');
    });

    it('14.0: GAL search finds a colleague by name', async () => {
      const client = loadTbSync(dir!);
      const account = client.newAccount('alice@contoso.test', 'demo', host);
      const sd = new SyncData(account);
      await folderList(client, sd);
      const response = await client.eas.network.getSearchResults(account, 'Bob');
      assert.ok(response, 'an answer');
      const data = client.eas.network.getDataFromResponse(response) as { Search: { Status: string; Response: { Store: { Status: string; Result: unknown } } } };
      assert.equal(data.Search.Status, '1');
      assert.equal(data.Search.Response.Store.Status, '1');
      const results = client.eas.xmltools.nodeAsArray(data.Search.Response.Store.Result) as Array<{ Properties: Record<string, string> }>;
      assert.ok(results.some((r) => r.Properties.EmailAddress === 'bob@contoso.test' && r.Properties.DisplayName === 'Bob Berg'), JSON.stringify(results));
    });

    it('14.0: Settings UserInformation answers as it expects (its getUserInfo throws on any status but 1)', async () => {
      const client = loadTbSync(dir!);
      const account = client.newAccount('alice@contoso.test', 'demo', host);
      const sd = new SyncData(account);
      await folderList(client, sd);
      try {
        await client.eas.network.getUserInfo(sd);
      } catch (e) {
        assert.fail(tbsyncFailure(e));
      }
      const last = client.exchanges.at(-1)!;
      assert.equal(new URL(last.url).searchParams.get('Cmd'), 'Settings');
      assert.equal(last.status, 200);
    });

    it('a wrong password ends in TbSync\'s 401 error once the password prompt is declined', async () => {
      const client = loadTbSync(dir!);
      const account = client.newAccount('alice@contoso.test', 'not-her-password', host);
      const sd = new SyncData(account);
      await assert.rejects(client.eas.sync.folderList(sd), (e: unknown) => {
        assert.match(tbsyncFailure(e), /^error: 401/);
        return true;
      });
      assert.ok(client.exchanges.every((e) => e.status === 401), client.exchanges.map((e) => e.status).join(','));
    });
  });
});
