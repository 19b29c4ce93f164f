// Contacts, calendar items, tasks and notes over real HTTP+WBXML: what one device adds, changes and
// deletes reaches the user's other devices exactly as it was sent, never another user's; Fetch,
// ItemOperations, GetItemEstimate, MoveItems and Ping treat them as items of their folders.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { adminMessages, writeOrgFixture } from '../support/org-fixture.js';
import { decodeWbxml } from '../../eas/wbxml/index.js';
import { child, childrenOf, childText, x, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { allTags, isLegacyTag } from '../../eas/wbxml/codepages.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const B = ns('AirSyncBase');
const C = ns('Contacts');
const C2 = ns('Contacts2');
const CAL = ns('Calendar');
const T = ns('Tasks');
const N = ns('Notes');
const E = ns('Email');
const IO = ns('ItemOperations');
const M = ns('Move');
const G = ns('GetItemEstimate');
const P = ns('Ping');
const RR = ns('ResolveRecipients');
const S = ns('Search');
const CM = ns('ComposeMail');
const MR = ns('MeetingResponse');

interface Device { c: EasClient; folders: Map<string, string>; keys: Map<string, string> }

interface SyncAnswer {
  status: string;
  key: string;
  responses: WbxmlElement[];
  adds: Map<string, WbxmlElement>;
  changes: Map<string, WbxmlElement>;
  deletes: string[];
  more: boolean;
}

describe('end to end: contacts, calendar, tasks and notes', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let counter = 0;

  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  async function device(user: string, version = '14.1'): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `PimDev${++counter}`, deviceType: 'iPhone', version });
    await c.provision();
    return { c, folders: await c.folderIds(), keys: new Map() };
  }

  /** One Sync of a folder from the device's last key (priming it first), with commands and options. */
  async function sync(d: Device, folder: string, commands: WbxmlElement[] = [], extra: WbxmlElement[] = []): Promise<SyncAnswer> {
    const id = d.folders.get(folder)!;
    if (!d.keys.has(folder)) {
      const primed = await d.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', id)))));
      d.keys.set(folder, childText(child(child(primed.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!);
    }
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection',
      A('SyncKey', d.keys.get(folder)!), A('CollectionId', id), A('GetChanges'), A('WindowSize', 100), extra,
      commands.length > 0 && A('Commands', commands)))));
    assert.equal(r.status, 200);
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    const key = childText(col, 'AirSync:SyncKey')!;
    d.keys.set(folder, key);
    const cmds = child(col, 'AirSync:Commands');
    const byId = (tag: string) => new Map(childrenOf(cmds, tag).map((x) => [childText(x, 'AirSync:ServerId')!, child(x, 'AirSync:ApplicationData')!]));
    return {
      status: childText(col, 'AirSync:Status')!, key, responses: child(col, 'AirSync:Responses')?.children ?? [],
      adds: byId('AirSync:Add'), changes: byId('AirSync:Change'),
      deletes: childrenOf(cmds, 'AirSync:Delete').map((x) => childText(x, 'AirSync:ServerId')!), more: Boolean(child(col, 'AirSync:MoreAvailable')),
    };
  }

  const add = (clientId: string, ...data: WbxmlElement[]): WbxmlElement => A('Add', A('ClientId', clientId), A('ApplicationData', data));
  const change = (serverId: string, ...data: WbxmlElement[]): WbxmlElement => A('Change', A('ServerId', serverId), A('ApplicationData', data));
  const statusOf = (r: WbxmlElement): string | undefined => childText(r, 'AirSync:Status');

  const jane = [C('FileAs', 'Doe, Jane'), C('FirstName', 'Jane'), C('LastName', 'Doe'), C('Email1Address', 'jane@example.test'),
    C('MobilePhoneNumber', '+44 7700 900123'), C2('NickName', 'JD'), B('Body', B('Type', '1'), B('Data', 'Met at the conference.\nLikes tea.'))];
  const zoe = [C('FileAs', 'Ørsted, Zoë'), C('FirstName', 'Zoë'), C('LastName', 'Ørsted'), C('CompanyName', 'Ærø Øl 🍺')];

  it('what one device adds reaches the user\'s other device exactly as sent; a Change replaces the item; a Delete removes it for good', async () => {
    const phone = await device('alice@contoso.test');
    const tablet = await device('alice@contoso.test');
    await sync(tablet, 'Contacts'); // a view from before the adds

    const added = await sync(phone, 'Contacts', [add('c-1', ...jane), add('c-2', ...zoe)]);
    assert.equal(added.status, '1');
    const ids = added.responses.map((r) => {
      assert.equal(statusOf(r), '1');
      return [childText(r, 'AirSync:ClientId'), childText(r, 'AirSync:ServerId')!] as const;
    });
    assert.deepEqual(ids.map(([c]) => c), ['c-1', 'c-2']);
    const [janeId, zoeId] = ids.map(([, s]) => s);
    assert.equal(added.adds.size, 0, 'the adding device is not sent its own items back');

    const seen = await sync(tablet, 'Contacts');
    assert.deepEqual([...seen.adds.keys()].sort(), [janeId, zoeId].sort());
    assert.deepEqual(seen.adds.get(janeId!)!.children, jane);
    assert.deepEqual(seen.adds.get(zoeId!)!.children, zoe);

    const janeNow = [C('FileAs', 'Doe, Jane'), C('FirstName', 'Jane'), C('LastName', 'Doe-Smith'), C('Email2Address', 'jane.smith@example.test')];
    const changed = await sync(tablet, 'Contacts', [change(janeId!, ...janeNow)]);
    assert.deepEqual(changed.responses, [], 'a successful Change is not answered');
    const phoneSees = await sync(phone, 'Contacts');
    assert.deepEqual(phoneSees.changes.get(janeId!)!.children, janeNow, 'the whole item, the fields left out gone');

    const trashBefore = await sync(phone, 'Deleted Items');
    const deleted = await sync(phone, 'Contacts', [A('Delete', A('ServerId', zoeId!))]);
    assert.deepEqual(deleted.responses, []);
    assert.deepEqual((await sync(tablet, 'Contacts')).deletes, [zoeId]);
    const trashAfter = await sync(phone, 'Deleted Items');
    assert.equal(trashAfter.adds.size, 0, 'a deleted contact does not land among deleted mail');
    assert.equal(trashBefore.status, '1');

    const fetched = await sync(phone, 'Contacts', [A('Fetch', A('ServerId', janeId!))]);
    const fetch = fetched.responses.find((r) => r.tag === 'AirSync:Fetch')!;
    assert.equal(statusOf(fetch), '1');
    assert.deepEqual(child(fetch, 'AirSync:ApplicationData')!.children, janeNow);
  });

  it('a Change keeps what the device does not manage (ghosted elements, from its Supported list); a device without one replaces all', async () => {
    const outlook = await device('dave@contoso.test');
    const phone = await device('dave@contoso.test');
    // The phone's first Sync of Contacts names the elements it manages.
    const primed = await phone.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', phone.folders.get('Contacts')!),
      A('Supported', C('FileAs'), C('FirstName'), C('LastName'), C('MobilePhoneNumber'))))));
    phone.keys.set('Contacts', childText(child(child(primed.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!);

    const full = [C('FileAs', 'Roe, Rita'), C('FirstName', 'Rita'), C('LastName', 'Roe'), C('Spouse', 'Sam Roe'), C('Email1Address', 'rita@example.test'), C('MobilePhoneNumber', '+1 555 0100')];
    const made = await sync(outlook, 'Contacts', [add('ghost-1', ...full)]);
    const id = childText(made.responses[0], 'AirSync:ServerId')!;
    assert.deepEqual((await sync(phone, 'Contacts')).adds.get(id)!.children, full);

    // The phone edits what it knows of; Spouse and Email1Address are not on its list, so they stay.
    await sync(phone, 'Contacts', [change(id, C('FileAs', 'Roe, Rita'), C('FirstName', 'Rita'), C('LastName', 'Roe-Lane'), C('MobilePhoneNumber', '+1 555 0199'))]);
    const seen = (await sync(outlook, 'Contacts')).changes.get(id)!;
    assert.deepEqual(seen.children.map((c) => [c.tag, c.text]).sort(), [
      ['Contacts:Email1Address', 'rita@example.test'], ['Contacts:FileAs', 'Roe, Rita'], ['Contacts:FirstName', 'Rita'],
      ['Contacts:LastName', 'Roe-Lane'], ['Contacts:MobilePhoneNumber', '+1 555 0199'], ['Contacts:Spouse', 'Sam Roe']]);

    // A field on its list that it leaves out is deleted.
    await sync(phone, 'Contacts', [change(id, C('FileAs', 'Roe, Rita'), C('LastName', 'Roe-Lane'))]);
    const after = (await sync(outlook, 'Contacts')).changes.get(id)!;
    assert.deepEqual(after.children.map((c) => c.tag).sort(), ['Contacts:Email1Address', 'Contacts:FileAs', 'Contacts:LastName', 'Contacts:Spouse']);

    // Outlook named no Supported list: it manages everything, and its Change is the whole item.
    await sync(outlook, 'Contacts', [change(id, C('FileAs', 'Roe, Rita'))]);
    assert.deepEqual((await sync(phone, 'Contacts')).changes.get(id)!.children, [C('FileAs', 'Roe, Rita')]);
  });

  it('16.x: a calendar Change keeps every element it leaves out and clears one it sends empty; a 14.1 Change without a Supported list replaces the item', async () => {
    const ios = await device('dave@contoso.test', '16.1');
    const old = await device('dave@contoso.test', '14.1');
    const item = [CAL('Subject', 'Dentist'), CAL('StartTime', '20261207T080000Z'), CAL('EndTime', '20261207T090000Z'), CAL('BusyStatus', 2),
      CAL('Reminder', 15), B('Location', B('DisplayName', 'High Street 4')), B('Body', B('Type', 1), B('Data', 'Bring the card.'))];
    const made = await sync(ios, 'Calendar', [add('ghost-cal-1', ...item)]);
    const id = childText(made.responses[0], 'AirSync:ServerId')!;
    await sync(old, 'Calendar');
    await sync(ios, 'Calendar', [change(id, CAL('Reminder', 60), B('Location'))]);
    const seen = (await sync(old, 'Calendar')).changes.get(id)!;
    assert.deepEqual(seen.children.map((c) => c.tag).sort(), ['AirSyncBase:Body', 'Calendar:BusyStatus', 'Calendar:EndTime', 'Calendar:Reminder', 'Calendar:StartTime', 'Calendar:Subject']);
    assert.equal(childText(seen, 'Calendar:Reminder'), '60');
    assert.equal(childText(seen, 'Calendar:Subject'), 'Dentist');
    // The same Change from a 14.1 device that named no Supported list is the whole item.
    await sync(old, 'Calendar', [change(id, CAL('Subject', 'Dentist'), CAL('StartTime', '20261207T080000Z'), CAL('EndTime', '20261207T090000Z'))]);
    assert.deepEqual((await sync(ios, 'Calendar')).changes.get(id)!.children.map((c) => c.tag).sort(), ['Calendar:EndTime', 'Calendar:StartTime', 'Calendar:Subject']);
  });

  it('each protocol version reads a shared item in its own form: location, body, and only the elements it has', async () => {
    const ios = await device('carol@contoso.test', '16.1');
    const android = await device('carol@contoso.test', '14.1');
    const old = await device('carol@contoso.test', '2.5');
    await sync(ios, 'Calendar');
    await sync(old, 'Calendar');
    const made = await sync(android, 'Calendar', [add('forms-1', CAL('Subject', 'Board'), CAL('StartTime', '20261208T090000Z'), CAL('EndTime', '20261208T100000Z'),
      CAL('Location', 'Boardroom'), B('Body', B('Type', 1), B('Data', 'Minutes last.')), CAL('ResponseRequested', 1),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'frank@contoso.test'), CAL('Name', 'Frank'), CAL('AttendeeStatus', 3), CAL('AttendeeType', 1))))]);
    const id = childText(made.responses[0], 'AirSync:ServerId')!;

    const onIos = (await sync(ios, 'Calendar')).adds.get(id)!;
    assert.equal(child(onIos, 'Calendar:Location'), undefined, '16.x has no Calendar:Location');
    assert.equal(childText(child(onIos, 'AirSyncBase:Location'), 'AirSyncBase:DisplayName'), 'Boardroom');
    assert.equal(childText(child(onIos, 'AirSyncBase:Body'), 'AirSyncBase:Data'), 'Minutes last.');

    const onOld = (await sync(old, 'Calendar')).adds.get(id)!;
    assert.equal(childText(onOld, 'Calendar:Location'), 'Boardroom');
    assert.equal(child(onOld, 'AirSyncBase:Body'), undefined, '2.5 reads the class\'s own Body');
    assert.equal(childText(onOld, 'Calendar:Body'), 'Minutes last.');
    assert.equal(child(onOld, 'Calendar:ResponseRequested'), undefined, 'ResponseRequested is 14.0+');
    const attendee = child(child(onOld, 'Calendar:Attendees'), 'Calendar:Attendee')!;
    assert.deepEqual(attendee.children.map((c) => c.tag), ['Calendar:Email', 'Calendar:Name'], 'AttendeeStatus and AttendeeType are 12.0+');

    // The phone moves the meeting in its own form; the tablet reads the new place in its form, not the old one.
    await sync(android, 'Calendar');
    await sync(ios, 'Calendar', [change(id, B('Location', B('DisplayName', 'Room 9')))]);
    const onAndroid = (await sync(android, 'Calendar')).changes.get(id)!;
    assert.equal(childText(onAndroid, 'Calendar:Location'), 'Room 9');
    assert.equal(child(onAndroid, 'AirSyncBase:Location'), undefined);
    assert.equal(childText(onAndroid, 'Calendar:Subject'), 'Board');
    // And a 2.5 device's body replaces the AirSyncBase one for everyone.
    await sync(ios, 'Calendar');
    await sync(old, 'Calendar', [change(id, CAL('Subject', 'Board'), CAL('StartTime', '20261208T090000Z'), CAL('EndTime', '20261208T100000Z'), CAL('Body', 'Minutes first.'))]);
    const again = (await sync(ios, 'Calendar')).changes.get(id)!;
    assert.equal(childText(child(again, 'AirSyncBase:Body'), 'AirSyncBase:Data'), 'Minutes first.');
    assert.equal(child(again, 'Calendar:Body'), undefined);
  });

  it('a body is converted between text and HTML when the device asks only for the other (as Exchange converts); 2.5 reads HTML as text', async () => {
    const ios = await device('dave@contoso.test', '16.1');
    const textOnly = await device('dave@contoso.test', '14.1');
    const both = await device('dave@contoso.test', '14.1');
    const old = await device('dave@contoso.test', '2.5');
    for (const d of [textOnly, both, old]) await sync(d, 'Calendar');
    const asked = (...types: number[]): WbxmlElement[] => [A('Options', ...types.map((t) => B('BodyPreference', B('Type', t), t === 1 && B('Preview', 12))))];
    const html = '<html><body><p>Agenda &amp; <b>notes</b></p><p>Second line</p></body></html>';
    const made = await sync(ios, 'Calendar', [add('html-1', CAL('Subject', 'Styled'), CAL('StartTime', '20261209T090000Z'), CAL('EndTime', '20261209T100000Z'),
      B('Body', B('Type', 2), B('Data', html)))]);
    const id = childText(made.responses[0], 'AirSync:ServerId')!;

    const asText = child((await sync(textOnly, 'Calendar', [], asked(1))).adds.get(id), 'AirSyncBase:Body');
    assert.equal(childText(asText, 'AirSyncBase:Type'), '1');
    const text = childText(asText, 'AirSyncBase:Data')!;
    assert.match(text, /^Agenda & notes\s+Second line$/);
    assert.equal(childText(asText, 'AirSyncBase:EstimatedDataSize'), String(Buffer.byteLength(text)), 'the size of what is sent');
    assert.equal(childText(asText, 'AirSyncBase:Preview'), 'Agenda & not', 'the preview is text');
    const asStored = child((await sync(both, 'Calendar', [], asked(1, 2))).adds.get(id), 'AirSyncBase:Body');
    assert.deepEqual([childText(asStored, 'AirSyncBase:Type'), childText(asStored, 'AirSyncBase:Data')], ['2', html], 'asked for both, the stored type');
    const onOld = (await sync(old, 'Calendar')).adds.get(id);
    assert.match(childText(onOld, 'Calendar:Body') ?? '', /^Agenda & notes\s+Second line$/);

    const plain = await sync(textOnly, 'Calendar', [add('text-1', CAL('Subject', 'Plain'), CAL('StartTime', '20261209T110000Z'), CAL('EndTime', '20261209T120000Z'),
      B('Body', B('Type', 1), B('Data', 'Line one\nLine <two> & three')))], asked(1));
    const plainId = childText(plain.responses[0], 'AirSync:ServerId')!;
    const asHtml = child((await sync(both, 'Calendar', [], asked(2))).adds.get(plainId), 'AirSyncBase:Body');
    assert.equal(childText(asHtml, 'AirSyncBase:Type'), '2');
    assert.equal(childText(asHtml, 'AirSyncBase:Data'), '<div>Line one<br>\r\nLine &lt;two&gt; &amp; three</div>');
  });

  it('an Add sent again after a lost answer (same ClientId) is not added twice', async () => {
    const phone = await device('carol@contoso.test');
    const other = await device('carol@contoso.test');
    await sync(phone, 'Contacts');
    const key = phone.keys.get('Contacts')!;
    const first = await sync(phone, 'Contacts', [add('retry-1', C('FileAs', 'Once, Only'))]);
    phone.keys.set('Contacts', key); // the answer was lost: the same request again
    const again = await sync(phone, 'Contacts', [add('retry-1', C('FileAs', 'Once, Only'))]);
    assert.equal(childText(again.responses[0], 'AirSync:ServerId'), childText(first.responses[0], 'AirSync:ServerId'));
    assert.equal((await sync(other, 'Contacts')).adds.size, 1);
  });

  it('refuses what does not belong with Status 6 and stores nothing; another user\'s items are not found', async () => {
    const phone = await device('dave@contoso.test');
    const other = await device('dave@contoso.test');
    await sync(other, 'Contacts');
    const r = await sync(phone, 'Contacts', [
      add('mail-in-contacts', C('FileAs', 'X'), E('Subject', 'not a contact field')),
      add('empty'),
      add('calendar-in-contacts', CAL('Subject', 'a meeting')),
      A('Add', A('ClientId', 'wrong-class'), A('Class', 'Calendar'), A('ApplicationData', C('FileAs', 'Y'))),
    ]);
    assert.deepEqual(r.responses.map(statusOf), ['6', '6', '6', '6']);
    assert.ok(r.responses.every((x) => !child(x, 'AirSync:ServerId')));
    assert.equal((await sync(other, 'Contacts')).adds.size, 0, 'nothing was stored');
    // A calendar item holds MeetingResponse elements only as an attendee's proposed time.
    const att = (...extra: WbxmlElement[]) => CAL('Attendees', CAL('Attendee', CAL('Email', 'erin@fabrikam.test'), CAL('Name', 'Erin'), ...extra));
    const cal = await sync(phone, 'Calendar', [
      add('stray-status', CAL('Subject', 'x'), CAL('StartTime', '20261201T100000Z'), CAL('EndTime', '20261201T110000Z'), MR('Status', 1)),
      add('proposal-outside', CAL('Subject', 'x'), CAL('StartTime', '20261201T100000Z'), CAL('EndTime', '20261201T110000Z'), MR('ProposedStartTime', '20261201T120000Z')),
      add('proposal-inside', CAL('Subject', 'x'), CAL('StartTime', '20261201T100000Z'), CAL('EndTime', '20261201T110000Z'), att(MR('ProposedStartTime', '20261201T120000Z'))),
    ]);
    assert.deepEqual(cal.responses.map(statusOf), ['6', '6', '1']);

    const alice = await device('alice@contoso.test');
    const mine = await sync(alice, 'Contacts', [add('private', C('FileAs', 'Alice\'s secret contact'))]);
    const secret = childText(mine.responses[0], 'AirSync:ServerId')!;
    // dave names alice's item in his own Contacts folder, then in hers.
    const probe = await sync(phone, 'Contacts', [change(secret, C('FileAs', 'stolen')), A('Fetch', A('ServerId', secret))]);
    assert.deepEqual(probe.responses.map(statusOf), ['8', '8']);
    const foreign = await phone.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', alice.folders.get('Contacts')!)))));
    assert.equal(childText(child(child(foreign.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Status'), '12');
    assert.equal((await sync(alice, 'Contacts')).changes.size, 0, 'alice\'s contact is unchanged');
  });

  it('calendar, tasks and notes round-trip too; FilterType does not hide calendar items, GetItemEstimate counts them', async () => {
    const phone = await device('bob@contoso.test');
    const laptop = new EasClient({ ...phone.c.opts, deviceId: `PimDev${++counter}` });
    await laptop.provision();
    const second: Device = { c: laptop, folders: phone.folders, keys: new Map() };
    await sync(second, 'Calendar');
    const meeting = [CAL('Timezone', 'xP///wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=='),
      CAL('DtStamp', '20261201T090000Z'), CAL('StartTime', '20261201T100000Z'), CAL('EndTime', '20261201T110000Z'), CAL('Subject', 'Quarterly review'),
      CAL('UID', '040000008200E00074C5B7101A82E008'), CAL('Attendees', CAL('Attendee', CAL('Email', 'alice@contoso.test'), CAL('Name', 'Alice'))),
      CAL('BusyStatus', '2'), CAL('Sensitivity', '0'), B('Body', B('Type', '1'), B('Data', 'Agenda to follow'))];
    const r = await sync(phone, 'Calendar', [add('ev-1', ...meeting)]);
    assert.equal(statusOf(r.responses[0]!), '1');
    const filtered = [A('Options', A('FilterType', '4'), B('BodyPreference', B('Type', '1')))];
    const estimate = await laptop.send('GetItemEstimate', G('GetItemEstimate', G('Collections', G('Collection',
      A('SyncKey', second.keys.get('Calendar')!), G('CollectionId', phone.folders.get('Calendar')!), A('Options', A('FilterType', '4'))))));
    assert.equal(childText(child(child(estimate.body, 'GetItemEstimate:Response'), 'GetItemEstimate:Collection'), 'GetItemEstimate:Estimate'), '1');
    const got = await sync(second, 'Calendar', [], filtered);
    // The body as asked for (BodyPreference): its size and that it is whole; the rest exactly as sent.
    const asSent = meeting.map((e) => (e.tag === 'AirSyncBase:Body'
      ? B('Body', B('Type', '1'), B('EstimatedDataSize', '16'), B('Truncated', '0'), B('Data', 'Agenda to follow')) : e));
    assert.deepEqual([...got.adds.values()].map((d) => d.children), [asSent]);
    // A device that asks for 6 bytes gets 6, marked truncated; with AllOrNone, no Data at all.
    for (const [allOrNone, data] of [[false, 'Agenda'], [true, undefined]] as const) {
      const third: Device = { c: new EasClient({ ...phone.c.opts, deviceId: `PimDev${++counter}` }), folders: phone.folders, keys: new Map() };
      await third.c.provision();
      const cut = await sync(third, 'Calendar', [], [A('Options', B('BodyPreference', B('Type', '1'), B('TruncationSize', '6'), allOrNone && B('AllOrNone', '1')))]);
      const body = child([...cut.adds.values()][0], 'AirSyncBase:Body');
      assert.deepEqual([childText(body, 'AirSyncBase:EstimatedDataSize'), childText(body, 'AirSyncBase:Truncated'), childText(body, 'AirSyncBase:Data')], ['16', '1', data]);
    }

    const task = [T('Subject', 'File the expenses'), T('Importance', '1'), T('Complete', '0'), T('DueDate', '2026-12-05T00:00:00.000Z')];
    const note = [N('Subject', 'Door code'), N('MessageClass', 'IPM.StickyNote'), B('Body', B('Type', '1'), B('Data', '4711'))];
    assert.equal(statusOf((await sync(phone, 'Tasks', [add('t-1', ...task)])).responses[0]!), '1');
    assert.equal(statusOf((await sync(phone, 'Notes', [add('n-1', ...note)])).responses[0]!), '1');
    assert.deepEqual([...(await sync(second, 'Tasks')).adds.values()].map((d) => d.children), [task]);
    assert.deepEqual([...(await sync(second, 'Notes')).adds.values()].map((d) => d.children), [note]);
    // A task in a notes folder is not a note.
    assert.equal(statusOf((await sync(phone, 'Notes', [add('t-2', ...task)])).responses[0]!), '6');
  });

  it('ItemOperations fetches a contact; MoveItems moves it between contacts folders but never into mail', async () => {
    const d = await device('alice@contoso.test', '14.1');
    const r = await sync(d, 'Contacts', [add('mv-1', C('FileAs', 'Mover, Max'), C('Email1Address', 'max@example.test'))]);
    const itemId = childText(r.responses[0], 'AirSync:ServerId')!;
    const contacts = d.folders.get('Contacts')!;

    const io = await d.c.send('ItemOperations', IO('ItemOperations', IO('Fetch', IO('Store', 'Mailbox'), A('CollectionId', contacts), A('ServerId', itemId))));
    const fetch = child(io.body, 'ItemOperations:Response')!.children[0]!;
    assert.equal(childText(fetch, 'ItemOperations:Status'), '1');
    assert.equal(childText(fetch, 'AirSync:Class'), 'Contacts');
    assert.deepEqual(child(fetch, 'ItemOperations:Properties')!.children, [C('FileAs', 'Mover, Max'), C('Email1Address', 'max@example.test')]);

    // A contact is no message to reply to or forward.
    for (const cmd of ['SmartForward', 'SmartReply'] as const) {
      const mime = 'From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: fw\r\n\r\nsee below\r\n';
      const sent = await d.c.send(cmd, CM(cmd, CM('ClientId', `pim-${cmd}-${counter}`), CM('SaveInSentItems'), CM('Source', CM('FolderId', contacts), CM('ItemId', itemId)), CM('Mime', mime)));
      assert.equal(childText(sent.body, 'ComposeMail:Status'), '150', cmd);
    }

    // Mailbox Search finds mail only, even in the contacts folder named.
    const found = await d.c.send('Search', S('Search', S('Store', S('Name', 'Mailbox'), S('Query', S('And', A('CollectionId', contacts), S('FreeText', 'Mover'))),
      S('Options', S('Range', '0-9')))));
    const store = child(child(found.body, 'Search:Response'), 'Search:Store');
    assert.deepEqual([childText(store, 'Search:Status'), childText(store, 'Search:Total') ?? '0', childrenOf(store, 'Search:Result').filter((r) => r.children.length > 0).length], ['1', '0', 0]);

    const hierarchy = await d.c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const made = await d.c.send('FolderCreate', F('FolderCreate', F('SyncKey', childText(hierarchy.body, 'FolderHierarchy:SyncKey')!),
      F('ParentId', contacts), F('DisplayName', `Customers ${counter}`), F('Type', '14')));
    const customers = childText(made.body, 'FolderHierarchy:ServerId')!;
    const move = async (src: string, dst: string) => {
      const m = await d.c.send('MoveItems', M('MoveItems', M('Move', M('SrcMsgId', itemId), M('SrcFldId', src), M('DstFldId', dst))));
      return child(m.body, 'Move:Response')!;
    };
    assert.equal(childText(await move(contacts, d.folders.get('Inbox')!), 'Move:Status'), '2', 'not into a mail folder');
    const moved = await move(contacts, customers);
    assert.equal(childText(moved, 'Move:Status'), '3');
    const inCustomers: Device = { c: d.c, folders: new Map([['Customers', customers]]), keys: new Map() };
    const seen = await sync(inCustomers, 'Customers');
    assert.deepEqual([...seen.adds.values()].map((x) => childText(x, 'Contacts:FileAs')), ['Mover, Max']);
  });

  it('the appointments a user\'s devices synced are their free/busy in ResolveRecipients Availability', async () => {
    const carol = await device('carol@contoso.test');
    const at = (hhmm: string): string => `20300304T${hhmm}00Z`;
    const appointment = (subject: string, from: string, to: string, busy?: number): WbxmlElement[] =>
      [CAL('Subject', subject), CAL('StartTime', at(from)), CAL('EndTime', at(to)), busy !== undefined && CAL('BusyStatus', String(busy))].filter((x): x is WbxmlElement => x !== false);
    const r = await sync(carol, 'Calendar', [
      add('fb-1', ...appointment('Stand-up and planning', '0900', '1000')), // no BusyStatus: busy
      add('fb-2', ...appointment('Maybe lunch talk', '1030', '1100', 1)),
      add('fb-3', ...appointment('Dentist', '1100', '1200', 3)),
      add('fb-4', ...appointment('Review', '1130', '1230', 2)),
      add('fb-5', ...appointment('From the café', '1300', '1400', 4)),
    ]);
    assert.deepEqual(r.responses.map(statusOf), ['1', '1', '1', '1', '1']);
    const ids = r.responses.map((x) => childText(x, 'AirSync:ServerId')!);

    const alice = await device('alice@contoso.test');
    const availability = async (): Promise<string | undefined> => {
      const res = await alice.c.send('ResolveRecipients', RR('ResolveRecipients', RR('To', 'carol@contoso.test'),
        RR('Options', RR('Availability', RR('StartTime', '2030-03-04T09:00:00.000Z'), RR('EndTime', '2030-03-04T14:00:00.000Z')))));
      return childText(child(child(child(res.body, 'ResolveRecipients:Response'), 'ResolveRecipients:Recipient'), 'ResolveRecipients:Availability'), 'ResolveRecipients:MergedFreeBusy');
    };
    // Half hours from 09:00: busy, busy, free, tentative, out of office (over the overlapping busy one), then busy, free, free (working elsewhere), free.
    assert.equal(await availability(), '2201332000');

    await sync(carol, 'Calendar', [change(ids[0]!, ...appointment('Stand-up and planning', '0900', '1000', 0)), A('Delete', A('ServerId', ids[2]!))]);
    assert.equal(await availability(), '0001022000', 'a Change and a Delete move the free/busy with them');
  });

  it('a recurring appointment keeps its owner busy at every occurrence, at the same local time across a change of clocks', async () => {
    const dave = await device('dave@contoso.test');
    // TIME_ZONE_INFORMATION for Berlin: UTC+1, daylight +1 h from the last Sunday of March 02:00 to the last Sunday of October 03:00.
    const berlin = Buffer.alloc(172);
    berlin.writeInt32LE(-60, 0);
    [0, 10, 0, 5, 3, 0, 0, 0].forEach((v, i) => berlin.writeUInt16LE(v, 68 + 2 * i));
    [0, 3, 0, 5, 2, 0, 0, 0].forEach((v, i) => berlin.writeUInt16LE(v, 152 + 2 * i));
    berlin.writeInt32LE(-60, 168);
    // Every Monday 10:00-11:00 Berlin time from Monday 15 March 2032, five times: 15, 22 March (UTC+1), 29 March, 5, 12 April (UTC+2).
    const r = await sync(dave, 'Calendar', [add('weekly-1', CAL('Timezone', berlin.toString('base64')), CAL('Subject', 'Weekly'),
      CAL('StartTime', '20320315T090000Z'), CAL('EndTime', '20320315T100000Z'), CAL('BusyStatus', 2),
      CAL('Recurrence', CAL('Type', 1), CAL('Interval', 1), CAL('Occurrences', 5), CAL('DayOfWeek', 2)))]);
    assert.equal(statusOf(r.responses[0]!), '1');
    const alice = await device('alice@contoso.test');
    const hours = async (day: string): Promise<string | undefined> => {
      const res = await alice.c.send('ResolveRecipients', RR('ResolveRecipients', RR('To', 'dave@contoso.test'),
        RR('Options', RR('Availability', RR('StartTime', `${day}T06:00:00.000Z`), RR('EndTime', `${day}T12:00:00.000Z`)))));
      return childText(child(child(child(res.body, 'ResolveRecipients:Response'), 'ResolveRecipients:Recipient'), 'ResolveRecipients:Availability'), 'ResolveRecipients:MergedFreeBusy');
    };
    // Half hours from 06:00 UTC: 10:00 Berlin is 09:00 UTC in winter, 08:00 UTC in summer.
    assert.equal(await hours('2032-03-15'), '000000220000', 'the first occurrence');
    assert.equal(await hours('2032-03-22'), '000000220000', 'a week later, same hour');
    assert.equal(await hours('2032-03-29'), '000022000000', 'after the clocks went forward: an hour earlier in UTC');
    assert.equal(await hours('2032-04-12'), '000022000000', 'the fifth and last');
    assert.equal(await hours('2032-04-19'), '000000000000', 'none after the fifth');
    assert.equal(await hours('2032-03-16'), '000000000000', 'not on Tuesdays');
  });

  it('a Ping on the Contacts folder wakes when another device adds a contact', async () => {
    const watcher = await device('carol@contoso.test');
    const writer = await device('carol@contoso.test');
    await sync(watcher, 'Contacts');
    const held = watcher.c.send('Ping', P('Ping', P('HeartbeatInterval', '120'), P('Folders', P('Folder', P('Id', watcher.folders.get('Contacts')!), P('Class', 'Contacts')))));
    await new Promise((r) => setTimeout(r, 300));
    await sync(writer, 'Contacts', [add('ping-1', C('FileAs', 'Wake, Up'))]);
    const answer = await held;
    assert.equal(childText(answer.body, 'Ping:Status'), '2');
    assert.deepEqual(childrenOf(child(answer.body, 'Ping:Folders'), 'Ping:Folder').map((f) => f.text), [watcher.folders.get('Contacts')]);
  });
});

describe('end to end: contacts and calendar items from a fixture', function () {
  this.timeout(120_000);
  let server: ServerProcess;

  before(async () => {
    const fixtures = writeOrgFixture({
      domain: 'example.test',
      users: [{ address: 'ann@example.test', password: 'pw-ann', displayName: 'Ann' }, { address: 'ben@example.test', password: 'pw-ben', displayName: 'Ben' }],
    }, {
      ann: {
        Contacts: { 'jane.json': JSON.stringify({ FileAs: 'Doe, Jane', Email1Address: 'jane@example.org', Categories: ['Work'], Body: 'From the fixture' }) },
        'Contacts/Suppliers': { 'acme.json': JSON.stringify({ FileAs: 'Acme Ltd', CompanyName: 'Acme Ltd' }) },
        Calendar: { 'review.json': JSON.stringify({ Subject: 'Review', StartTime: '20300304T100000Z', EndTime: '20300304T110000Z', BusyStatus: 3 }) },
        Inbox: { 'hello.eml': 'From: ben@example.test\r\nTo: ann@example.test\r\nSubject: hello\r\n\r\nhi\r\n' },
      },
      ben: {
        Inbox: { 'invitation.eml': ['From: olga@elsewhere.test', 'To: ben@example.test', 'Subject: Fixture meeting', 'MIME-Version: 1.0',
          'Content-Type: text/calendar; charset=utf-8; method=REQUEST', '', 'BEGIN:VCALENDAR', 'METHOD:REQUEST', 'VERSION:2.0', 'BEGIN:VEVENT',
          'UID:fixture-meeting@elsewhere.test', 'DTSTAMP:20261128T120000Z', 'DTSTART:20300305T100000Z', 'DTEND:20300305T110000Z', 'SUMMARY:Fixture meeting',
          'ORGANIZER:mailto:olga@elsewhere.test', 'ATTENDEE;RSVP=TRUE:mailto:ben@example.test', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n') },
      },
    });
    server = await startServerProcess({ fixtures });
  });
  after(async () => {
    await server?.stop();
  });

  it('a device syncs the fixture\'s items, in their folders, and ResolveRecipients sees the appointment', async () => {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'ann@example.test', password: 'pw-ann', deviceId: 'FixturePim1', deviceType: 'iPhone', version: '14.1' });
    await c.provision();
    const fs = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
    const adds = childrenOf(child(fs.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add');
    const folder = (name: string) => adds.find((a) => childText(a, 'FolderHierarchy:DisplayName') === name)!;
    assert.equal(childText(folder('Suppliers'), 'FolderHierarchy:Type'), '14', 'a user-created contacts folder');
    assert.equal(childText(folder('Suppliers'), 'FolderHierarchy:ParentId'), childText(folder('Contacts'), 'FolderHierarchy:ServerId'));

    const itemsOf = async (name: string): Promise<WbxmlElement[]> => {
      const id = childText(folder(name), 'FolderHierarchy:ServerId')!;
      const r0 = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', id)))));
      const key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', id), A('GetChanges'), A('WindowSize', 50)))));
      return childrenOf(child(child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Commands'), 'AirSync:Add').map((a) => child(a, 'AirSync:ApplicationData')!);
    };
    assert.deepEqual((await itemsOf('Contacts')).map((d) => d.children), [[
      C('FileAs', 'Doe, Jane'), C('Email1Address', 'jane@example.org'), C('Categories', C('Category', 'Work')),
      B('Body', B('Type', '1'), B('Data', 'From the fixture'))]]);
    assert.deepEqual((await itemsOf('Suppliers')).map((d) => childText(d, 'Contacts:FileAs')), ['Acme Ltd']);
    assert.deepEqual((await itemsOf('Calendar')).map((d) => childText(d, 'Calendar:Subject')), ['Review']);

    const ben = new EasClient({ baseUrl: server.baseUrl, user: 'ben@example.test', password: 'pw-ben', deviceId: 'FixturePim2', version: '14.1' });
    await ben.provision();
    const res = await ben.send('ResolveRecipients', RR('ResolveRecipients', RR('To', 'ann@example.test'),
      RR('Options', RR('Availability', RR('StartTime', '2030-03-04T09:00:00.000Z'), RR('EndTime', '2030-03-04T12:00:00.000Z')))));
    assert.equal(childText(child(child(child(res.body, 'ResolveRecipients:Response'), 'ResolveRecipients:Recipient'), 'ResolveRecipients:Availability'), 'ResolveRecipients:MergedFreeBusy'), '003300');
  });

  it('a fixture\'s invitation is pending as delivered ones are: a tentative calendar item, answered from the mail', async () => {
    const ben = new EasClient({ baseUrl: server.baseUrl, user: 'ben@example.test', password: 'pw-ben', deviceId: 'FixturePim3', version: '14.1' });
    await ben.provision();
    const folders = await ben.folderIds();
    const adds = async (name: string): Promise<Array<[string, WbxmlElement]>> => {
      const id = folders.get(name)!;
      const r0 = await ben.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', id)))));
      const key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
      const r = await ben.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', id), A('GetChanges'), A('WindowSize', 50)))));
      return childrenOf(child(child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Commands'), 'AirSync:Add')
        .map((a) => [childText(a, 'AirSync:ServerId')!, child(a, 'AirSync:ApplicationData')!]);
    };
    const [[calId, item]] = await adds('Calendar') as [[string, WbxmlElement]];
    assert.deepEqual([childText(item, 'Calendar:Subject'), childText(item, 'Calendar:ResponseType'), childText(item, 'Calendar:BusyStatus')], ['Fixture meeting', '5', '1']);
    const [[mailId, mail]] = await adds('Inbox') as [[string, WbxmlElement]];
    assert.equal(childText(mail, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Request');
    const MR = ns('MeetingResponse');
    const r = await ben.send('MeetingResponse', MR('MeetingResponse', MR('Request', MR('UserResponse', 1), MR('CollectionId', folders.get('Inbox')!), MR('RequestId', mailId))));
    assert.equal(childText(child(r.body, 'MeetingResponse:Result'), 'MeetingResponse:Status'), '1');
    assert.equal(childText(child(r.body, 'MeetingResponse:Result'), 'MeetingResponse:CalendarId'), calId);
  });

  it('the admin API lists the items of a folder and serves each as the WBXML devices receive', async () => {
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const listed = await adminMessages(server.baseUrl, token, 'ann@example.test', 'Contacts');
    assert.deepEqual(listed.map((m) => [m.subject, m.messageClass]), [['Doe, Jane', 'IPM.Contact']]);
    const raw = await fetch(`${server.baseUrl}/admin/users/ann%40example.test/messages/${listed[0]!.id}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(raw.headers.get('content-type'), 'application/vnd.ms-sync.wbxml');
    assert.equal(childText(decodeWbxml(Buffer.from(await raw.arrayBuffer())), 'Contacts:FileAs'), 'Doe, Jane');
    const mail = (await adminMessages(server.baseUrl, token, 'ann@example.test', 'Inbox'))[0]!;
    const eml = await fetch(`${server.baseUrl}/admin/users/ann%40example.test/messages/${mail.id}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.match(eml.headers.get('content-type') ?? '', /^message\/rfc822/);
  });
});

describe('end to end: contacts of any shape round-trip, and ghosting merges as specified (property)', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  // Every leaf element of the Contacts and Contacts2 pages (containers and legacy rows aside).
  const CONTAINERS = new Set(['Contacts:Categories', 'Contacts:Children', 'Contacts:Category', 'Contacts:Child']);
  const LEAVES = allTags().filter((t) => (t.startsWith('Contacts:') || t.startsWith('Contacts2:')) && !isLegacyTag(t) && !CONTAINERS.has(t));
  const text = fc.string({ unit: fc.constantFrom(...'abcXYZ019 :-_.,@<>&"\'\n'.split(''), 'é', 'ß', '€', '中', '😀'), minLength: 1, maxLength: 20 });
  const contact = fc.uniqueArray(fc.constantFrom(...LEAVES), { minLength: 1, maxLength: 12 })
    .chain((tags) => fc.tuple(...tags.map((t) => text.map((v) => x(t, v)))));

  it('what one device adds and changes, another receives exactly; a Change keeps exactly the stored elements off the Supported list and not sent', async () => {
    let n = 0;
    const open = async (supported?: string[]): Promise<{ c: EasClient; contacts: string; key: string }> => {
      const c = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'demo', deviceId: `PimProp${++n}`, version: '14.1' });
      await c.provision();
      const contacts = (await c.folderIds()).get('Contacts')!;
      const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', contacts),
        supported && A('Supported', supported.map((t) => x(t)))))));
      return { c, contacts, key: childText(child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')! };
    };
    const step = async (d: { c: EasClient; contacts: string; key: string }, commands: WbxmlElement[] = []): Promise<WbxmlElement> => {
      const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', d.key), A('CollectionId', d.contacts), A('GetChanges'), A('WindowSize', 100),
        commands.length > 0 && A('Commands', commands)))));
      const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
      d.key = childText(col, 'AirSync:SyncKey')!;
      return col;
    };
    const writer = await open();
    const reader = await open();
    await fc.assert(fc.asyncProperty(contact, contact, fc.uniqueArray(fc.constantFrom(...LEAVES), { maxLength: 8 }), async (first, second, managed) => {
      const editor = await open(managed);
      const added = await step(writer, [A('Add', A('ClientId', `p${++n}`), A('ApplicationData', first))]);
      const id = childText(child(child(added, 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:ServerId')!;
      const got = await step(reader);
      const adds = childrenOf(child(got, 'AirSync:Commands'), 'AirSync:Add');
      assert.deepEqual(adds.map((a) => childText(a, 'AirSync:ServerId')), [id]);
      assert.deepEqual(child(adds[0], 'AirSync:ApplicationData')!.children, first);

      await step(editor); // the editor learns of the contact
      await step(editor, [A('Change', A('ServerId', id), A('ApplicationData', second))]);
      const sent = new Set(second.map((e) => e.tag));
      const kept = first.filter((e) => !(managed as string[]).includes(e.tag) && !sent.has(e.tag));
      const changed = childrenOf(child(await step(reader), 'AirSync:Commands'), 'AirSync:Change');
      assert.deepEqual(changed.map((c) => child(c, 'AirSync:ApplicationData')!.children), [[...second, ...kept]]);
      await step(writer, [A('Delete', A('ServerId', id))]);
      assert.deepEqual(childrenOf(child(await step(reader), 'AirSync:Commands'), 'AirSync:Delete').map((d) => childText(d, 'AirSync:ServerId')), [id]);
    }), { seed: 20261129, numRuns: 25 });
  });
});
