// Meeting invitations over real SMTP and HTTP+WBXML: an invitation as Outlook sends it becomes a
// meeting request mail (MessageClass, MeetingRequest) and a tentative calendar item; MeetingResponse
// answers it as Exchange does (calendar state, the mail to Deleted Items, CalendarId), 16.x clients
// have the server send the iCalendar REPLY, and a reply updates the organizer's own item.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { makeSigner, sendRaw } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const CAL = ns('Calendar');
const MR = ns('MeetingResponse');
const CM = ns('ComposeMail');

interface Device { c: EasClient; version: string; folders: Map<string, string>; keys: Map<string, string> }

interface SyncAnswer {
  status: string;
  adds: Map<string, WbxmlElement>;
  changes: Map<string, WbxmlElement>;
  deletes: string[];
  responses: WbxmlElement[];
}

/** The Outlook form of a UID: the meeting's GlobalObjectId in hex. */
const OUTLOOK_UID = '040000008200E00074C5B7101A82E00800000000B0C3D62A8D5FDB010000000000000000100000004F1E4D2C8A5B6C4B9D3E2F1A0B9C8D7E';

const BERLIN = [
  'BEGIN:VTIMEZONE', 'TZID:W. Europe Standard Time',
  'BEGIN:STANDARD', 'DTSTART:16010101T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10', 'END:STANDARD',
  'BEGIN:DAYLIGHT', 'DTSTART:16010101T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3', 'END:DAYLIGHT',
  'END:VTIMEZONE',
];

interface InviteOptions {
  method?: 'REQUEST' | 'CANCEL' | 'REPLY' | 'COUNTER';
  uid?: string;
  sequence?: number;
  /** Local time in W. Europe Standard Time, YYYYMMDDTHHMMSS. */
  start?: string;
  end?: string;
  summary?: string;
  location?: string;
  organizer?: { email: string; name: string };
  attendees?: Array<{ email: string; name: string; partstat?: string }>;
  /** Outlook's "do not allow new time proposals". */
  disallowCounter?: boolean;
  extra?: string[];
}

/** An iCalendar object as Outlook writes one (CRLF, VTIMEZONE, X-MICROSOFT properties). */
function ics(o: InviteOptions = {}): string {
  const organizer = o.organizer ?? { email: 'olivia@fabrikam.test', name: 'Olivia Organiser' };
  const attendees = o.attendees ?? [{ email: 'bob@contoso.test', name: 'Bob Berg' }];
  const method = o.method ?? 'REQUEST';
  return [
    'BEGIN:VCALENDAR', `METHOD:${method}`, 'PRODID:Microsoft Exchange Server 2010', 'VERSION:2.0', ...BERLIN,
    'BEGIN:VEVENT',
    `ORGANIZER;CN=${organizer.name}:mailto:${organizer.email}`,
    ...attendees.map((a) => `ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=${a.partstat ?? 'NEEDS-ACTION'};RSVP=TRUE;CN=${a.name}:mailto:${a.email}`),
    `SUMMARY;LANGUAGE=en-GB:${o.summary ?? 'Quarterly review'}`,
    `DTSTART;TZID=W. Europe Standard Time:${o.start ?? '20261203T100000'}`,
    `DTEND;TZID=W. Europe Standard Time:${o.end ?? '20261203T113000'}`,
    `UID:${o.uid ?? OUTLOOK_UID}`, 'CLASS:PUBLIC', 'PRIORITY:5', 'DTSTAMP:20261128T120000Z', 'TRANSP:OPAQUE',
    `STATUS:${method === 'CANCEL' ? 'CANCELLED' : 'CONFIRMED'}`, `SEQUENCE:${o.sequence ?? 0}`,
    `LOCATION;LANGUAGE=en-GB:${o.location ?? 'Room 4.12'}`,
    'X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE', 'X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY', 'X-MICROSOFT-CDO-IMPORTANCE:1', `X-MICROSOFT-DISALLOW-COUNTER:${o.disallowCounter ? 'TRUE' : 'FALSE'}`,
    ...(o.extra ?? []),
    'BEGIN:VALARM', 'DESCRIPTION:REMINDER', 'TRIGGER;RELATED=START:-PT15M', 'ACTION:DISPLAY', 'END:VALARM',
    'END:VEVENT', 'END:VCALENDAR', '',
  ].join('\r\n');
}

/** The body a mail client puts around the iCalendar: text beside it in multipart/alternative. */
function inviteEntity(calendar: string, method: string, text: string): string {
  const boundary = `alt-${Math.random().toString(36).slice(2)}`;
  return [
    `Content-Type: multipart/alternative; boundary="${boundary}"`, '', `--${boundary}`,
    'Content-Type: text/plain; charset="utf-8"', 'Content-Transfer-Encoding: 7bit', '', text, '',
    `--${boundary}`, `Content-Type: text/calendar; charset="utf-8"; method=${method}`, 'Content-Transfer-Encoding: base64', '',
    ...(Buffer.from(calendar, 'utf8').toString('base64').match(/.{1,76}/g) ?? []), '', `--${boundary}--`, '',
  ].join('\r\n');
}

function inviteMail(o: { from: string; to: string[]; subject: string; calendar: string; method?: string; text?: string }): Buffer {
  return Buffer.from([
    `From: ${o.from}`, `To: ${o.to.join(', ')}`, `Subject: ${o.subject}`, `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@fabrikam.test>`, 'MIME-Version: 1.0',
    inviteEntity(o.calendar, o.method ?? 'REQUEST', o.text ?? 'Let us go through the quarter.'),
  ].join('\r\n'));
}

describe('end to end: meeting invitations and MeetingResponse', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let counter = 0;
  let uidCounter = 0;

  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
  });

  const freshUid = (): string => `meeting-${Date.now()}-${++uidCounter}@fabrikam.test`;

  async function device(user: string, version = '14.1'): Promise<Device> {
    const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `MeetDev${++counter}`, deviceType: 'iPhone', version });
    await c.provision();
    return { c, version, folders: await c.folderIds(), keys: new Map() };
  }

  async function sync(d: Device, folder: string, commands: WbxmlElement[] = []): Promise<SyncAnswer> {
    const id = d.folders.get(folder)!;
    if (!d.keys.has(folder)) {
      const primed = await d.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', id)))));
      d.keys.set(folder, childText(child(child(primed.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!);
    }
    const options = d.version === '2.5' ? [] : [A('Options', B('BodyPreference', B('Type', 1)))];
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection',
      A('SyncKey', d.keys.get(folder)!), A('CollectionId', id), A('GetChanges'), A('WindowSize', 100), ...options,
      commands.length > 0 && A('Commands', commands)))));
    assert.equal(r.status, 200);
    const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
    d.keys.set(folder, childText(col, 'AirSync:SyncKey')!);
    const cmds = child(col, 'AirSync:Commands');
    const byId = (tag: string) => new Map(childrenOf(cmds, tag).map((e) => [childText(e, 'AirSync:ServerId')!, child(e, 'AirSync:ApplicationData')!]));
    return {
      status: childText(col, 'AirSync:Status')!, adds: byId('AirSync:Add'), changes: byId('AirSync:Change'),
      deletes: childrenOf(cmds, 'AirSync:Delete').map((e) => childText(e, 'AirSync:ServerId')!),
      responses: child(col, 'AirSync:Responses')?.children ?? [],
    };
  }

  /** The one item added to the folder whose subject (Email or Calendar) is `subject`. */
  function added(answer: SyncAnswer, subject: string): [string, WbxmlElement] {
    const found = [...answer.adds].filter(([, data]) => (childText(data, 'Email:Subject') ?? childText(data, 'Calendar:Subject')) === subject);
    assert.equal(found.length, 1, `one item "${subject}" expected among ${[...answer.adds.values()].map((d) => childText(d, 'Email:Subject') ?? childText(d, 'Calendar:Subject')).join(' | ')}`);
    return found[0]!;
  }

  async function respond(d: Device, requests: Array<{ answer: number | string; folder?: string; requestId?: string; extra?: WbxmlElement[] }>): Promise<WbxmlElement[]> {
    const r = await d.c.send('MeetingResponse', MR('MeetingResponse', requests.map((q) => MR('Request',
      MR('UserResponse', q.answer), q.folder !== undefined && MR('CollectionId', q.folder), q.requestId !== undefined && MR('RequestId', q.requestId),
      ...(q.extra ?? [])))));
    assert.equal(r.status, 200, `HTTP ${r.status}: ${r.headers.get('x-easmime-reason')}`);
    assert.equal(r.body?.tag, 'MeetingResponse:MeetingResponse');
    return childrenOf(r.body, 'MeetingResponse:Result');
  }

  const smtp = (raw: Buffer, to: string[], from = 'olivia@fabrikam.test'): Promise<void> => sendRaw(server.smtpPort, { from, to }, raw);

  it('an Outlook invitation becomes a meeting request with its event and a tentative calendar item; Accept books it, returns its CalendarId and moves the mail to Deleted Items', async () => {
    const bob = await device('bob@contoso.test');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    await sync(bob, 'Deleted Items');
    await smtp(inviteMail({ from: '"Olivia Organiser" <olivia@fabrikam.test>', to: ['bob@contoso.test'], subject: 'Quarterly review', calendar: ics() }), ['bob@contoso.test']);

    const [mailId, mail] = added(await sync(bob, 'Inbox'), 'Quarterly review');
    assert.equal(childText(mail, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Request');
    const mr = child(mail, 'Email:MeetingRequest');
    assert.ok(mr, 'the mail carries MeetingRequest');
    // 10:00 in Berlin on 3 December is 09:00 UTC (standard time).
    assert.equal(childText(mr, 'Email:StartTime'), '2026-12-03T09:00:00.000Z');
    assert.equal(childText(mr, 'Email:EndTime'), '2026-12-03T10:30:00.000Z');
    assert.equal(childText(mr, 'Email:DtStamp'), '2026-11-28T12:00:00.000Z');
    assert.equal(childText(mr, 'Email:AllDayEvent'), '0');
    assert.equal(childText(mr, 'Email:InstanceType'), '0');
    assert.equal(childText(mr, 'Email:Location'), 'Room 4.12');
    assert.equal(childText(mr, 'Email:Organizer'), '"Olivia Organiser" <olivia@fabrikam.test>');
    assert.equal(childText(mr, 'Email:Reminder'), String(15 * 60), 'MeetingRequest counts the reminder in seconds');
    assert.equal(childText(mr, 'Email:ResponseRequested'), '1');
    assert.equal(childText(mr, 'Email:BusyStatus'), '2');
    assert.equal(childText(mr, 'Email:Sensitivity'), '0');
    assert.equal(childText(mr, 'Email2:MeetingMessageType'), '1');
    // Outlook's UID is the GlobalObjId in hex.
    assert.equal(childText(mr, 'Email:GlobalObjId'), Buffer.from(OUTLOOK_UID, 'hex').toString('base64'));
    const tz = Buffer.from(childText(mr, 'Email:TimeZone')!, 'base64');
    assert.equal(tz.length, 172);
    assert.equal(tz.readInt32LE(0), -60, 'W. Europe standard time is UTC+1: bias -60 minutes');
    assert.equal(tz.readInt32LE(168), -60, 'daylight saving adds an hour');
    assert.equal(tz.readUInt16LE(68 + 2), 10, 'standard time starts in October');
    assert.equal(tz.readUInt16LE(152 + 2), 3, 'daylight time starts in March');

    const calendar = await sync(bob, 'Calendar');
    const [calId, item] = added(calendar, 'Quarterly review');
    assert.equal(childText(item, 'Calendar:UID'), OUTLOOK_UID);
    assert.equal(childText(item, 'Calendar:StartTime'), '20261203T090000Z');
    assert.equal(childText(item, 'Calendar:EndTime'), '20261203T103000Z');
    assert.equal(childText(item, 'Calendar:BusyStatus'), '1', 'unanswered: tentative');
    assert.equal(childText(item, 'Calendar:ResponseType'), '5', 'not responded');
    assert.equal(childText(item, 'Calendar:MeetingStatus'), '3', 'a meeting received');
    assert.equal(childText(item, 'Calendar:OrganizerEmail'), 'olivia@fabrikam.test');
    assert.equal(childText(item, 'Calendar:OrganizerName'), 'Olivia Organiser');
    assert.equal(childText(item, 'Calendar:Reminder'), '15');
    const attendees = childrenOf(child(item, 'Calendar:Attendees'), 'Calendar:Attendee');
    assert.deepEqual(attendees.map((a) => [childText(a, 'Calendar:Email'), childText(a, 'Calendar:Name'), childText(a, 'Calendar:AttendeeType')]),
      [['bob@contoso.test', 'Bob Berg', '1']]);
    assert.equal(childText(child(item, 'AirSyncBase:Body'), 'AirSyncBase:Data'), 'Let us go through the quarter.');

    const [result] = await respond(bob, [{ answer: 1, folder: bob.folders.get('Inbox'), requestId: mailId }]);
    assert.equal(childText(result, 'MeetingResponse:Status'), '1');
    assert.equal(childText(result, 'MeetingResponse:RequestId'), mailId);
    assert.equal(childText(result, 'MeetingResponse:CalendarId'), calId, 'CalendarId names the item the invitation placed');

    const after = await sync(bob, 'Calendar');
    const changed = after.changes.get(calId);
    assert.ok(changed, 'the calendar item changed');
    assert.equal(childText(changed, 'Calendar:ResponseType'), '3', 'accepted');
    assert.equal(childText(changed, 'Calendar:BusyStatus'), '2', 'busy, as the organizer asked');
    assert.equal(childText(changed, 'Calendar:Reminder'), '15', 'the rest of the item stays');
    assert.deepEqual((await sync(bob, 'Inbox')).deletes, [mailId], 'the invitation leaves the Inbox');
    const [, moved] = added(await sync(bob, 'Deleted Items'), 'Quarterly review');
    assert.equal(childText(moved, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Request');
  });

  it('every protocol version gets the MeetingRequest in its own form', async () => {
    const uid = freshUid();
    for (const version of ['2.5', '12.1', '14.0', '16.1']) {
      const carol = await device('carol@contoso.test', version);
      await sync(carol, 'Inbox');
      const subject = `Versions ${version}`;
      await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['carol@contoso.test'], subject, calendar: ics({ uid, summary: subject }) }), ['carol@contoso.test']);
      const [, mail] = added(await sync(carol, 'Inbox'), subject);
      const mr = child(mail, 'Email:MeetingRequest');
      assert.ok(mr, `${version}: MeetingRequest present`);
      assert.equal(childText(mr, 'Email:StartTime'), '2026-12-03T09:00:00.000Z');
      assert.equal(child(mr, 'Email2:MeetingMessageType') !== undefined, version === '16.1', `${version}: MeetingMessageType is 14.1+`);
      if (version === '16.1') {
        assert.equal(child(mr, 'Email:Location'), undefined);
        assert.equal(childText(child(mr, 'AirSyncBase:Location'), 'AirSyncBase:DisplayName'), 'Room 4.12', '16.x: AirSyncBase Location');
      } else {
        assert.equal(childText(mr, 'Email:Location'), 'Room 4.12');
      }
    }
  });

  it('an update with a higher SEQUENCE moves the meeting and asks again; a cancellation marks it canceled and cannot be answered', async () => {
    const bob = await device('bob@contoso.test');
    const uid = freshUid();
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Planning', calendar: ics({ uid, summary: 'Planning' }) }), ['bob@contoso.test']);
    const [mailId] = added(await sync(bob, 'Inbox'), 'Planning');
    const [calId] = added(await sync(bob, 'Calendar'), 'Planning');
    const [accepted] = await respond(bob, [{ answer: 1, folder: bob.folders.get('Inbox'), requestId: mailId }]);
    assert.equal(childText(accepted, 'MeetingResponse:CalendarId'), calId);
    await sync(bob, 'Calendar');

    // A resend of the same sequence keeps the answer; a new one (moved by a day) asks again.
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Planning', calendar: ics({ uid, summary: 'Planning', location: 'Room 2' }) }), ['bob@contoso.test']);
    let change = (await sync(bob, 'Calendar')).changes.get(calId);
    assert.equal(childText(change, 'Calendar:Location'), 'Room 2');
    assert.equal(childText(change, 'Calendar:ResponseType'), '3', 'same sequence: still accepted');
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Planning (moved)',
      calendar: ics({ uid, summary: 'Planning', sequence: 1, start: '20261204T100000', end: '20261204T110000' }) }), ['bob@contoso.test']);
    const [updateId, update] = added(await sync(bob, 'Inbox'), 'Planning (moved)');
    assert.equal(childText(child(update, 'Email:MeetingRequest'), 'Email2:MeetingMessageType'), '2', 'a full update');
    change = (await sync(bob, 'Calendar')).changes.get(calId);
    assert.ok(change, 'the same calendar item is updated, not a second one added');
    assert.equal(childText(change, 'Calendar:StartTime'), '20261204T090000Z');
    assert.equal(childText(change, 'Calendar:ResponseType'), '5', 'a new sequence asks again');
    assert.equal(childText(change, 'Calendar:BusyStatus'), '1');

    // An older sequence arriving late changes nothing.
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Planning (late)', calendar: ics({ uid, summary: 'Planning', sequence: 0 }) }), ['bob@contoso.test']);
    await sync(bob, 'Inbox');
    assert.equal((await sync(bob, 'Calendar')).changes.size, 0, 'an outdated invitation does not move the meeting back');

    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Canceled: Planning', method: 'CANCEL',
      calendar: ics({ uid, summary: 'Planning', sequence: 2, method: 'CANCEL' }) }), ['bob@contoso.test']);
    const [cancelId, cancel] = added(await sync(bob, 'Inbox'), 'Canceled: Planning');
    assert.equal(childText(cancel, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Canceled');
    assert.ok(child(cancel, 'Email:MeetingRequest'), 'a cancellation carries the event too');
    change = (await sync(bob, 'Calendar')).changes.get(calId);
    assert.equal(childText(change, 'Calendar:MeetingStatus'), '7', 'canceled, received');
    assert.equal(childText(change, 'Calendar:BusyStatus'), '0', 'a canceled meeting keeps no one busy');
    assert.equal(childText(change, 'Calendar:Subject'), 'Canceled: Planning');

    const [refused] = await respond(bob, [{ answer: 1, folder: bob.folders.get('Inbox'), requestId: cancelId }]);
    assert.equal(childText(refused, 'MeetingResponse:Status'), '2');
    assert.equal(child(refused, 'MeetingResponse:CalendarId'), undefined);
    assert.ok(updateId);
  });

  it('Decline takes the meeting off the calendar and names no CalendarId; Tentative from the calendar item (14.1) keeps it tentative', async () => {
    const carol = await device('carol@contoso.test');
    const [one, two] = [freshUid(), freshUid()];
    await sync(carol, 'Inbox');
    await sync(carol, 'Calendar');
    const to = ['carol@contoso.test'];
    const attendees = [{ email: 'carol@contoso.test', name: 'Carol Chen' }];
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to, subject: 'Decline me', calendar: ics({ uid: one, summary: 'Decline me', attendees }) }), to);
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to, subject: 'Maybe', calendar: ics({ uid: two, summary: 'Maybe', attendees }) }), to);
    const inbox = await sync(carol, 'Inbox');
    const [declineMail] = added(inbox, 'Decline me');
    const cal = await sync(carol, 'Calendar');
    const [declineCal] = added(cal, 'Decline me');
    const [maybeCal] = added(cal, 'Maybe');

    const [declined, tentative] = await respond(carol, [
      { answer: 3, folder: carol.folders.get('Inbox'), requestId: declineMail },
      { answer: 2, folder: carol.folders.get('Calendar'), requestId: maybeCal },
    ]);
    assert.equal(childText(declined, 'MeetingResponse:Status'), '1');
    assert.equal(child(declined, 'MeetingResponse:CalendarId'), undefined, 'declined: no calendar item');
    assert.equal(childText(tentative, 'MeetingResponse:Status'), '1');
    assert.equal(childText(tentative, 'MeetingResponse:CalendarId'), maybeCal);
    const after = await sync(carol, 'Calendar');
    assert.deepEqual(after.deletes, [declineCal]);
    assert.equal(childText(after.changes.get(maybeCal), 'Calendar:ResponseType'), '2');
    assert.equal(childText(after.changes.get(maybeCal), 'Calendar:BusyStatus'), '1');
  });

  it('16.1 SendResponse: the server sends the iCalendar REPLY, and the organizer\'s own calendar item records the answer', async () => {
    // Alice's device speaks 14.1, so it mails the invitation itself (a 16.x one would leave that to the server).
    const alice = await device('alice@contoso.test', '14.1');
    const bob = await device('bob@contoso.test', '16.1');
    const uid = freshUid();
    await sync(alice, 'Calendar');
    await sync(alice, 'Inbox');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    // Alice's device books the meeting in her calendar, then sends the invitation itself.
    const booked = await sync(alice, 'Calendar', [A('Add', A('ClientId', 'm-1'), A('ApplicationData',
      CAL('Timezone', Buffer.alloc(172).toString('base64')), CAL('AllDayEvent', 0), CAL('BusyStatus', 2),
      CAL('DtStamp', '20261128T120000Z'), CAL('EndTime', '20261210T150000Z'), CAL('Subject', 'Design review'), CAL('StartTime', '20261210T140000Z'),
      CAL('UID', uid), CAL('MeetingStatus', 1),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'bob@contoso.test'), CAL('Name', 'Bob Berg'), CAL('AttendeeType', 1)))))]);
    const aliceItem = childText(booked.responses[0], 'AirSync:ServerId')!;
    assert.equal(childText(booked.responses[0], 'AirSync:Status'), '1');
    const invite = inviteMail({ from: 'Alice Andersen <alice@contoso.test>', to: ['bob@contoso.test'], subject: 'Design review',
      calendar: ics({ uid, summary: 'Design review', organizer: { email: 'alice@contoso.test', name: 'Alice Andersen' }, start: '20261210T150000', end: '20261210T160000' }) });
    const sent = await alice.c.send('SendMail', CM('SendMail', CM('ClientId', `invite-${uidCounter}-${Date.now()}`), CM('SaveInSentItems'), CM('Mime', invite.toString('utf8'))));
    assert.equal(sent.status, 200, `${sent.headers.get('x-easmime-reason')}`);
    assert.equal(sent.raw.length, 0, `SendMail succeeded: ${JSON.stringify(sent.body)} ${sent.headers.get('x-easmime-reason')}`);
    assert.equal((await sync(alice, 'Calendar')).adds.size, 0, 'the organizer gets no attendee copy of her own meeting');
    const [, sentCopy] = await arrival(alice, 'Sent Items', 'Design review');
    assert.equal(childText(sentCopy, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Request');
    assert.equal(child(sentCopy, 'Email:MeetingRequest'), undefined, 'MeetingRequest is for attendees, not the organizer\'s copy');

    const [mailId] = added(await sync(bob, 'Inbox'), 'Design review');
    const [calId] = added(await sync(bob, 'Calendar'), 'Design review');
    const [result] = await respond(bob, [{ answer: 1, folder: bob.folders.get('Inbox'), requestId: mailId,
      extra: [MR('SendResponse', B('Body', B('Type', 1), B('Data', 'See you there.')))] }]);
    assert.equal(childText(result, 'MeetingResponse:Status'), '1');
    assert.equal(childText(result, 'MeetingResponse:CalendarId'), calId);

    const [, reply] = added(await sync(alice, 'Inbox'), 'Accepted: Design review');
    assert.equal(childText(reply, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Resp.Pos');
    assert.equal(child(reply, 'Email:MeetingRequest'), undefined, 'a reply carries no MeetingRequest');
    assert.match(childText(reply, 'Email:From') ?? '', /bob@contoso\.test/);
    const aliceChange = (await sync(alice, 'Calendar')).changes.get(aliceItem);
    assert.ok(aliceChange, 'the organizer\'s item changed');
    const bobThere = childrenOf(child(aliceChange, 'Calendar:Attendees'), 'Calendar:Attendee').find((a) => childText(a, 'Calendar:Email') === 'bob@contoso.test');
    assert.equal(childText(bobThere, 'Calendar:AttendeeStatus'), '3', 'Bob accepted');
    assert.equal(childText(aliceChange, 'Calendar:Subject'), 'Design review', 'the rest of her item stays');
  });

  /** Syncs the folder until `subject` has arrived (mail the server sends in the background), gathering every Add seen. */
  async function arrival(d: Device, folder: string, subject: string, seen: SyncAnswer['adds'] = new Map()): Promise<[string, WbxmlElement]> {
    for (let i = 0; i < 100; i++) {
      for (const [id, data] of (await sync(d, folder)).adds) seen.set(id, data);
      const found = [...seen].find(([, data]) => (childText(data, 'Email:Subject') ?? childText(data, 'Calendar:Subject')) === subject);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`"${subject}" never reached ${folder}`);
  }

  it('16.1 organizer: the server sends the invitation, its update and its cancellation; a 14.1 device\'s meeting sends nothing (it mails its own)', async () => {
    const alice = await device('alice@contoso.test', '16.1');
    const alice14 = await device('alice@contoso.test', '14.1');
    const bob = await device('bob@contoso.test', '14.1');
    await sync(alice, 'Calendar');
    await sync(alice14, 'Calendar');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    const meeting = (subject: string, extra: WbxmlElement[]) => [
      CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('DtStamp', '20261128T120000Z'), CAL('Subject', subject), CAL('MeetingStatus', 1),
      CAL('Attendees',
        CAL('Attendee', CAL('Email', 'bob@contoso.test'), CAL('Name', 'Bob Berg'), CAL('AttendeeType', 1)),
        CAL('Attendee', CAL('Email', 'olivia@fabrikam.test'), CAL('Name', 'Olivia Organiser'), CAL('AttendeeType', 2))),
      ...extra,
    ];
    const oldUid = freshUid();
    const old = await sync(alice14, 'Calendar', [A('Add', A('ClientId', 'old-1'), A('ApplicationData', ...meeting('Mailed by the device',
      [CAL('StartTime', '20261214T100000Z'), CAL('EndTime', '20261214T110000Z'), CAL('UID', oldUid)])))]);
    assert.equal(childText(old.responses[0], 'AirSync:Status'), '1');

    const added = await sync(alice, 'Calendar', [A('Add', A('ClientId', 'new-1'), A('ApplicationData', ...meeting('Roadmap', [
      CAL('StartTime', '20261215T100000Z'), CAL('EndTime', '20261215T110000Z'), CAL('Reminder', 10), CAL('ClientUid', 'device-made-1'),
      B('Location', B('DisplayName', 'Room 7')), B('Body', B('Type', 1), B('Data', 'Agenda: the roadmap.'))])))]);
    const aliceItem = childText(added.responses[0], 'AirSync:ServerId')!;
    assert.equal(childText(added.responses[0], 'AirSync:Status'), '1');

    const inbox: SyncAnswer['adds'] = new Map();
    const [, invite] = await arrival(bob, 'Inbox', 'Roadmap', inbox);
    assert.equal(childText(invite, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Request');
    const mr = child(invite, 'Email:MeetingRequest');
    assert.equal(childText(mr, 'Email:StartTime'), '2026-12-15T10:00:00.000Z');
    assert.equal(childText(mr, 'Email:Location'), 'Room 7');
    assert.equal(childText(mr, 'Email:Reminder'), '600');
    assert.match(childText(mr, 'Email:Organizer') ?? '', /alice@contoso\.test/);
    const [bobItem, placed] = await arrival(bob, 'Calendar', 'Roadmap');
    assert.equal(childText(placed, 'Calendar:ResponseType'), '5');
    assert.equal(childText(placed, 'Calendar:OrganizerEmail'), 'alice@contoso.test');
    // The server named the meeting; the organizer's device learns the UID at its next Sync.
    const named = (await sync(alice, 'Calendar')).changes.get(aliceItem);
    const uid = childText(named, 'Calendar:UID');
    assert.ok(uid, 'the organizer\'s item gets the UID the invitation carries');
    assert.equal(childText(placed, 'Calendar:UID'), uid);
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    /** The calendar parts of the mail captured for olivia with this subject, oldest first, once there are `count`. */
    const capturedTo = async (subject: string, count = 1): Promise<string[]> => {
      for (let i = 0; i < 100; i++) {
        const list = await (await fetch(`${server.baseUrl}/admin/captured?to=olivia%40fabrikam.test`, { headers: { Authorization: `Bearer ${token}` } })).json() as Array<{ id: number; subject: string }>;
        const hits = list.filter((m) => m.subject === subject).sort((a, b) => a.id - b.id);
        if (hits.length >= count) {
          return Promise.all(hits.map(async (h) => calendarPart(Buffer.from(await (await fetch(`${server.baseUrl}/admin/captured/${h.id}`,
            { headers: { Authorization: `Bearer ${token}` } })).arrayBuffer()).toString('utf8')).replace(/\r\n[ \t]/g, '')));
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`fewer than ${count} captured "${subject}"`);
    };
    const [external] = await capturedTo('Roadmap') as [string];
    assert.match(external, /^METHOD:REQUEST\r$/m);
    assert.match(external, /^DTSTART:20261215T100000Z\r$/m);
    assert.match(external, /^ORGANIZER;CN=Alice[^:]*:mailto:alice@contoso\.test\r$/m);
    assert.match(external, /^ATTENDEE;[^\r]*ROLE=OPT-PARTICIPANT[^\r]*:mailto:olivia@fabrikam\.test\r$/m);
    assert.match(external, /^SEQUENCE:0\r$/m);
    assert.match(external, /^DESCRIPTION:Agenda: the roadmap\.\r$/m);

    // 16.x sends what changed; the rest is kept (every calendar element is ghosted). A new time is an update.
    const moved = await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), A('ApplicationData', CAL('StartTime', '20261216T100000Z'), CAL('EndTime', '20261216T110000Z')))]);
    assert.equal(moved.responses.length, 0, 'the Change succeeded');
    const kept = await alice.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', alice.keys.get('Calendar')!), A('CollectionId', alice.folders.get('Calendar')!),
      A('Commands', A('Fetch', A('ServerId', aliceItem)))))));
    const fetched = child(child(child(child(child(kept.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Responses'), 'AirSync:Fetch'), 'AirSync:ApplicationData');
    assert.equal(childText(fetched, 'Calendar:Subject'), 'Roadmap', 'ghosted: the subject stays');
    assert.equal(childrenOf(child(fetched, 'Calendar:Attendees'), 'Calendar:Attendee').length, 2, 'ghosted: the attendees stay');
    assert.equal(childText(fetched, 'Calendar:StartTime'), '20261216T100000Z');
    for (let i = 0; i < 100; i++) {
      const change = (await sync(bob, 'Calendar')).changes.get(bobItem);
      if (change) {
        assert.equal(childText(change, 'Calendar:StartTime'), '20261216T100000Z');
        assert.equal(childText(change, 'Calendar:ResponseType'), '5');
        break;
      }
      assert.ok(i < 99, 'the update reached bob\'s calendar');
      await new Promise((r) => setTimeout(r, 100));
    }
    const [, update] = await capturedTo('Roadmap', 2) as [string, string];
    assert.match(update, /^SEQUENCE:1\r$/m, 'an update counts up');
    assert.match(update, /^DTSTART:20261216T100000Z\r$/m);

    // A new reminder is the organizer's own business: no mail. Deleting the meeting cancels it.
    await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), A('ApplicationData', CAL('Reminder', 30)))]);
    await sync(alice, 'Calendar', [A('Delete', A('ServerId', aliceItem))]);
    await arrival(bob, 'Inbox', 'Canceled: Roadmap', inbox);
    const subjects = [...inbox.values()].map((d) => childText(d, 'Email:Subject'));
    // (One Sync may bring the update and the cancellation together, newest first.)
    assert.deepEqual(subjects.filter((t) => t?.includes('Roadmap')).sort(), ['Canceled: Roadmap', 'Roadmap', 'Roadmap'], 'invitation, one update, the cancellation; nothing for the reminder');
    for (let i = 0; i < 100; i++) {
      const change = (await sync(bob, 'Calendar')).changes.get(bobItem);
      if (change) { assert.equal(childText(change, 'Calendar:MeetingStatus'), '7'); break; }
      assert.ok(i < 99, 'the cancellation reached bob\'s calendar');
      await new Promise((r) => setTimeout(r, 100));
    }
    const [external2] = await capturedTo('Canceled: Roadmap') as [string];
    assert.match(external2, /^METHOD:CANCEL\r$/m);
    assert.match(external2, /^SEQUENCE:2\r$/m);

    assert.equal(server.logs.filter((l) => l.msg === 'meeting mail queued' && l.uid === oldUid).length, 0, 'a 14.1 device mails its own invitations');
    assert.equal(server.logs.filter((l) => l.msg === 'meeting mail queued' && l.uid === uid).length, 3);
  });

  it('16.1 organizer, one occurrence (InstanceId): a Change moves it and a Delete cancels it, for her and her attendees, the series untouched', async () => {
    const alice = await device('alice@contoso.test', '16.1');
    const bob = await device('bob@contoso.test', '14.1');
    await sync(alice, 'Calendar');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    // Thursdays 08:00-09:00 UTC from 2 January 2031, three times.
    const made = await sync(alice, 'Calendar', [A('Add', A('ClientId', 'series-16'), A('ApplicationData',
      CAL('Timezone', Buffer.alloc(172).toString('base64')), CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('Subject', 'Weekly sync'),
      CAL('StartTime', '20310102T080000Z'), CAL('EndTime', '20310102T090000Z'), CAL('MeetingStatus', 1), CAL('ClientUid', 'series-16-uid'),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'bob@contoso.test'), CAL('Name', 'Bob Berg'), CAL('AttendeeType', 1))),
      CAL('Recurrence', CAL('Type', 1), CAL('Interval', 1), CAL('Occurrences', 3), CAL('DayOfWeek', 16))))]);
    const aliceItem = childText(made.responses[0], 'AirSync:ServerId')!;
    const inbox: SyncAnswer['adds'] = new Map();
    await arrival(bob, 'Inbox', 'Weekly sync', inbox);
    const [bobItem] = await arrival(bob, 'Calendar', 'Weekly sync');

    // The second occurrence moves two hours later, and gets its own subject.
    const moved = await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), B('InstanceId', '2031-01-09T08:00:00.000Z'), A('ApplicationData',
      CAL('StartTime', '20310109T100000Z'), CAL('EndTime', '20310109T110000Z'), CAL('Subject', 'Weekly sync (late)')))]);
    assert.equal(moved.responses.length, 0, 'the Change succeeded');
    const nowhere = await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), B('InstanceId', '2031-01-10T08:00:00.000Z'), A('ApplicationData', CAL('Subject', 'x')))]);
    assert.equal(childText(nowhere.responses[0], 'AirSync:Status'), '8', 'no occurrence on a Friday');
    const [, update] = await arrival(bob, 'Inbox', 'Weekly sync (late)', inbox);
    const mr = child(update, 'Email:MeetingRequest');
    assert.equal(childText(mr, 'Email:RecurrenceId'), '2031-01-09T08:00:00.000Z');
    assert.equal(childText(mr, 'Email:InstanceType'), '3', 'an exception of a series');
    let change: WbxmlElement | undefined;
    for (let i = 0; i < 100 && !change; i++) {
      change = (await sync(bob, 'Calendar')).changes.get(bobItem);
      if (!change) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(change, 'bob\'s series changed');
    assert.equal(childText(change, 'Calendar:Subject'), 'Weekly sync', 'the series keeps its subject');
    assert.equal(childText(change, 'Calendar:StartTime'), '20310102T080000Z', 'and its start');
    const exceptionsOf = (data: WbxmlElement | undefined) => childrenOf(child(data, 'Calendar:Exceptions'), 'Calendar:Exception');
    assert.deepEqual(exceptionsOf(change).map((e) => [childText(e, 'Calendar:ExceptionStartTime'), childText(e, 'Calendar:StartTime'), childText(e, 'Calendar:Subject')]),
      [['20310109T080000Z', '20310109T100000Z', 'Weekly sync (late)']]);

    // The third is deleted on her device: the series stays on hers, bob's loses that occurrence.
    const del = await sync(alice, 'Calendar', [A('Delete', A('ServerId', aliceItem), B('InstanceId', '2031-01-16T08:00:00.000Z'))]);
    assert.equal(del.responses.length, 0, 'the Delete succeeded');
    const hers = await alice.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', alice.keys.get('Calendar')!), A('CollectionId', alice.folders.get('Calendar')!),
      A('Commands', A('Fetch', A('ServerId', aliceItem)))))));
    const herItem = child(child(child(child(child(hers.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Responses'), 'AirSync:Fetch'), 'AirSync:ApplicationData');
    assert.ok(herItem, 'the series is still there');
    assert.deepEqual(exceptionsOf(herItem).map((e) => [childText(e, 'AirSyncBase:InstanceId'), childText(e, 'Calendar:Deleted') ?? '']),
      [['2031-01-09T08:00:00.000Z', ''], ['2031-01-16T08:00:00.000Z', '1']]);
    await arrival(bob, 'Inbox', 'Canceled: Weekly sync', inbox);
    change = undefined;
    for (let i = 0; i < 100; i++) {
      const c = (await sync(bob, 'Calendar')).changes.get(bobItem);
      if (c && exceptionsOf(c).length === 2) { change = c; break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(change, 'the cancellation reached bob\'s series');
    assert.equal(childText(change, 'Calendar:MeetingStatus'), '3', 'the series is not canceled');
    assert.deepEqual(exceptionsOf(change).map((e) => [childText(e, 'Calendar:ExceptionStartTime'), childText(e, 'Calendar:Deleted') ?? '']),
      [['20310109T080000Z', ''], ['20310116T080000Z', '1']]);

    // A new start for the series deletes its exceptions (MS-ASCAL), on her item.
    await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), A('ApplicationData', CAL('StartTime', '20310102T070000Z'), CAL('EndTime', '20310102T080000Z')))]);
    const refetched = await alice.c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', alice.keys.get('Calendar')!), A('CollectionId', alice.folders.get('Calendar')!),
      A('Commands', A('Fetch', A('ServerId', aliceItem)))))));
    const series = child(child(child(child(child(refetched.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Responses'), 'AirSync:Fetch'), 'AirSync:ApplicationData');
    assert.equal(child(series, 'Calendar:Exceptions'), undefined);
    assert.equal(childText(series, 'Calendar:Subject'), 'Weekly sync');
  });

  it('an external organizer\'s answer is relayed as a METHOD:REPLY iCalendar with the attendee\'s PARTSTAT', async () => {
    const bob = await device('bob@contoso.test', '16.0');
    const uid = freshUid();
    await sync(bob, 'Inbox');
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Vendor call', calendar: ics({ uid, summary: 'Vendor call' }) }), ['bob@contoso.test']);
    const [mailId] = added(await sync(bob, 'Inbox'), 'Vendor call');
    const [result] = await respond(bob, [{ answer: 3, folder: bob.folders.get('Inbox'), requestId: mailId, extra: [MR('SendResponse')] }]);
    assert.equal(childText(result, 'MeetingResponse:Status'), '1');
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const list = await (await fetch(`${server.baseUrl}/admin/captured?to=olivia%40fabrikam.test`, { headers: { Authorization: `Bearer ${token}` } })).json() as Array<{ id: number; subject: string }>;
    const mine = list.filter((m) => m.subject === 'Declined: Vendor call');
    assert.equal(mine.length, 1);
    const raw = Buffer.from(await (await fetch(`${server.baseUrl}/admin/captured/${mine[0]!.id}`, { headers: { Authorization: `Bearer ${token}` } })).arrayBuffer()).toString('utf8');
    assert.match(raw, /Content-Type: text\/calendar; charset=utf-8; method=REPLY/i);
    const calendar = calendarPart(raw);
    assert.match(calendar, /^METHOD:REPLY\r$/m);
    assert.match(calendar, new RegExp(`^UID:${uid.replace(/[.]/g, '\\.')}\\r$`, 'm'));
    assert.match(calendar.replace(/\r\n[ \t]/g, ''), /^ATTENDEE;[^\r]*PARTSTAT=DECLINED[^\r]*:mailto:bob@contoso\.test\r$/im);
  });

  it('16.1 counter-proposal: the organizer gets "New Time Proposed" with the new time, her item records it on the attendee (16.1 only), and a later plain answer withdraws it', async () => {
    const alice = await device('alice@contoso.test', '16.1');
    const alice14 = await device('alice@contoso.test', '14.1');
    const bob = await device('bob@contoso.test', '16.1');
    for (const d of [alice, alice14]) {
      await sync(d, 'Calendar');
      await sync(d, 'Inbox');
    }
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    const added16 = await sync(alice, 'Calendar', [A('Add', A('ClientId', 'counter-1'), A('ApplicationData',
      CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('DtStamp', '20261128T120000Z'), CAL('Subject', 'Budget talk'), CAL('MeetingStatus', 1),
      CAL('StartTime', '20261216T100000Z'), CAL('EndTime', '20261216T110000Z'), CAL('ClientUid', 'counter-device-1'),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'bob@contoso.test'), CAL('Name', 'Bob Berg'), CAL('AttendeeType', 1)))))]);
    const aliceItem = childText(added16.responses[0], 'AirSync:ServerId')!;
    const [mailId] = await arrival(bob, 'Inbox', 'Budget talk');
    const [calId] = await arrival(bob, 'Calendar', 'Budget talk');
    await sync(alice14, 'Calendar');

    const inbox = bob.folders.get('Inbox')!;
    const propose = (start: string | undefined, end: string | undefined, answer = 2) => respond(bob, [{ answer, folder: inbox, requestId: mailId,
      extra: [MR('SendResponse', B('Body', B('Type', 1), B('Data', 'Could we meet in the afternoon?')),
        start !== undefined && MR('ProposedStartTime', start), end !== undefined && MR('ProposedEndTime', end))] }]);
    // What cannot be a proposal is refused before anything is recorded.
    for (const [start, end] of [[undefined, '20261216T150000Z'], ['20261216T150000Z', '20261216T140000Z'], ['tomorrow', undefined]] as const) {
      const [refused] = await propose(start, end);
      assert.equal(childText(refused, 'MeetingResponse:Status'), '2', `${start} - ${end}`);
    }
    assert.equal((await sync(bob, 'Calendar')).changes.size, 0, 'a refused proposal records no answer');

    const [result] = await propose('20261216T140000Z', '20261216T153000Z');
    assert.equal(childText(result, 'MeetingResponse:Status'), '1');
    assert.equal(childText(result, 'MeetingResponse:CalendarId'), calId);
    const bobItem = (await sync(bob, 'Calendar')).changes.get(calId);
    assert.equal(childText(bobItem, 'Calendar:ResponseType'), '2', 'Bob\'s own answer, tentative, is on his calendar');

    const seen16: SyncAnswer['adds'] = new Map();
    const [, counter] = await arrival(alice, 'Inbox', 'New Time Proposed: Budget talk', seen16);
    assert.equal(childText(counter, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Resp.Tent');
    const mr = child(counter, 'Email:MeetingRequest');
    assert.equal(childText(mr, 'Email:StartTime'), '2026-12-16T10:00:00.000Z', 'the meeting\'s time as it is');
    assert.equal(childText(mr, 'MeetingResponse:ProposedStartTime'), '20261216T140000Z');
    assert.equal(childText(mr, 'MeetingResponse:ProposedEndTime'), '20261216T153000Z');
    assert.equal(childText(mr, 'Email2:MeetingMessageType'), '0');
    const aliceChange = (await sync(alice, 'Calendar')).changes.get(aliceItem);
    const bobOnAlice = childrenOf(child(aliceChange, 'Calendar:Attendees'), 'Calendar:Attendee').find((a) => childText(a, 'Calendar:Email') === 'bob@contoso.test');
    assert.equal(childText(bobOnAlice, 'Calendar:AttendeeStatus'), '2');
    assert.equal(childText(bobOnAlice, 'MeetingResponse:ProposedStartTime'), '20261216T140000Z');
    assert.equal(childText(bobOnAlice, 'MeetingResponse:ProposedEndTime'), '20261216T153000Z');
    assert.equal(childText(aliceChange, 'Calendar:StartTime'), '20261216T100000Z', 'a proposal does not move the meeting');

    // 14.1 has no proposal elements: the same mail and item without them.
    const [, counter14] = await arrival(alice14, 'Inbox', 'New Time Proposed: Budget talk');
    assert.equal(childText(child(counter14, 'Email:MeetingRequest'), 'Email:StartTime'), '2026-12-16T10:00:00.000Z');
    assert.equal(child(child(counter14, 'Email:MeetingRequest'), 'MeetingResponse:ProposedStartTime'), undefined);
    const bobOn14 = childrenOf(child((await sync(alice14, 'Calendar')).changes.get(aliceItem), 'Calendar:Attendees'), 'Calendar:Attendee')
      .find((a) => childText(a, 'Calendar:Email') === 'bob@contoso.test');
    assert.equal(childText(bobOn14, 'Calendar:AttendeeStatus'), '2');
    assert.equal(child(bobOn14, 'MeetingResponse:ProposedStartTime'), undefined);

    // The COUNTER as it travelled, read from Alice's copy of the mail.
    const fetched = await alice.c.send('ItemOperations', ns('ItemOperations')('ItemOperations', ns('ItemOperations')('Fetch',
      ns('ItemOperations')('Store', 'Mailbox'), A('CollectionId', alice.folders.get('Inbox')!), A('ServerId', [...seen16].find(([, d]) => childText(d, 'Email:Subject') === 'New Time Proposed: Budget talk')![0]),
      ns('ItemOperations')('Options', B('BodyPreference', B('Type', 4))))));
    const mime = childText(child(child(child(child(fetched.body, 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Properties'), 'AirSyncBase:Body'), 'AirSyncBase:Data')!;
    const calendar = calendarPart(mime.replace(/\r?\n/g, '\r\n')).replace(/\r\n[ \t]/g, '');
    assert.match(calendar, /^METHOD:COUNTER\r$/m);
    assert.match(calendar, /^DTSTART:20261216T140000Z\r$/m);
    assert.match(calendar, /^DTEND:20261216T153000Z\r$/m);
    assert.match(calendar, /^X-MS-OLK-ORIGINALSTART:20261216T100000Z\r$/m);
    assert.match(calendar, /^ATTENDEE;[^\r]*PARTSTAT=TENTATIVE[^\r]*:mailto:bob@contoso\.test\r$/im);
    assert.match(calendar, /^COMMENT:Could we meet in the afternoon\?\r$/m);

    // Bob accepts after all, from his calendar item: the plain answer replaces the proposal.
    const [accepted] = await respond(bob, [{ answer: 1, folder: bob.folders.get('Calendar'), requestId: calId, extra: [MR('SendResponse')] }]);
    assert.equal(childText(accepted, 'MeetingResponse:Status'), '1');
    await arrival(alice, 'Inbox', 'Accepted: Budget talk', seen16);
    const withdrawn = childrenOf(child((await sync(alice, 'Calendar')).changes.get(aliceItem), 'Calendar:Attendees'), 'Calendar:Attendee')
      .find((a) => childText(a, 'Calendar:Email') === 'bob@contoso.test');
    assert.equal(childText(withdrawn, 'Calendar:AttendeeStatus'), '3');
    assert.equal(child(withdrawn, 'MeetingResponse:ProposedStartTime'), undefined, 'the proposal is withdrawn');

    // Bob proposes again; Alice takes the proposal by moving the meeting: the proposal is answered and
    // goes from her item, and Bob gets the update.
    const [again] = await respond(bob, [{ answer: 2, folder: bob.folders.get('Calendar'), requestId: calId,
      extra: [MR('SendResponse', MR('ProposedStartTime', '20261216T150000Z'), MR('ProposedEndTime', '20261216T160000Z'))] }]);
    assert.equal(childText(again, 'MeetingResponse:Status'), '1');
    await arrival(alice, 'Inbox', 'New Time Proposed: Budget talk', seen16);
    let proposed: WbxmlElement | undefined;
    for (let i = 0; i < 50 && !proposed; i++) {
      const c = (await sync(alice, 'Calendar')).changes.get(aliceItem);
      proposed = childrenOf(child(c, 'Calendar:Attendees'), 'Calendar:Attendee').find((a) => childText(a, 'MeetingResponse:ProposedStartTime') === '20261216T150000Z');
      if (!proposed) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(proposed, 'the second proposal is on her item');
    await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), A('ApplicationData', CAL('StartTime', '20261216T150000Z'), CAL('EndTime', '20261216T160000Z')))]);
    const taken = (await sync(alice, 'Calendar')).changes.get(aliceItem);
    assert.equal(childText(taken, 'Calendar:StartTime'), '20261216T150000Z');
    const bobAfter = childrenOf(child(taken, 'Calendar:Attendees'), 'Calendar:Attendee').find((a) => childText(a, 'Calendar:Email') === 'bob@contoso.test');
    assert.equal(child(bobAfter, 'MeetingResponse:ProposedStartTime'), undefined, 'a new time answers the proposal');
    let moved: WbxmlElement | undefined;
    for (let i = 0; i < 50 && !moved; i++) {
      moved = (await sync(bob, 'Calendar')).changes.get(calId);
      if (!moved) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(childText(moved, 'Calendar:StartTime'), '20261216T150000Z', 'the update reached Bob');
  });

  it('an answer about one occurrence is recorded on that occurrence of the organizer\'s series (its own Attendees, 14.0+), the series\' answer untouched; a later series update does not resend it', async () => {
    const alice = await device('alice@contoso.test', '16.1');
    const alice12 = await device('alice@contoso.test', '12.1');
    const bob = await device('bob@contoso.test', '16.1');
    await sync(alice, 'Calendar');
    await sync(alice12, 'Calendar');
    await sync(alice, 'Inbox');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    // Mondays 09:00-09:30 UTC from 6 January 2031, four times.
    const made = await sync(alice, 'Calendar', [A('Add', A('ClientId', 'occ-answers'), A('ApplicationData',
      CAL('Timezone', Buffer.alloc(172).toString('base64')), CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('Subject', 'Standup'),
      CAL('StartTime', '20310106T090000Z'), CAL('EndTime', '20310106T093000Z'), CAL('MeetingStatus', 1), CAL('ClientUid', 'occ-answers-uid'),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'bob@contoso.test'), CAL('Name', 'Bob Berg'), CAL('AttendeeType', 1))),
      CAL('Recurrence', CAL('Type', 1), CAL('Interval', 1), CAL('Occurrences', 4), CAL('DayOfWeek', 2))))]);
    const aliceItem = childText(made.responses[0], 'AirSync:ServerId')!;
    await arrival(bob, 'Inbox', 'Standup');
    const [bobItem] = await arrival(bob, 'Calendar', 'Standup');
    await sync(alice12, 'Calendar');

    const onOccurrence = async (instance: string, answer: number, extra: WbxmlElement[]) => {
      const [r] = await respond(bob, [{ answer, folder: bob.folders.get('Calendar'), requestId: bobItem, extra: [MR('InstanceId', instance), MR('SendResponse', ...extra)] }]);
      assert.equal(childText(r, 'MeetingResponse:Status'), '1');
    };
    await onOccurrence('2031-01-13T09:00:00.000Z', 3, []);
    await arrival(alice, 'Inbox', 'Declined: Standup');
    await onOccurrence('2031-01-20T09:00:00.000Z', 2, [MR('ProposedStartTime', '20310120T110000Z')]);
    await arrival(alice, 'Inbox', 'New Time Proposed: Standup');

    let item: WbxmlElement | undefined;
    for (let i = 0; i < 50; i++) {
      const c = (await sync(alice, 'Calendar')).changes.get(aliceItem);
      if (c) item = c;
      if (item && childrenOf(child(item, 'Calendar:Exceptions'), 'Calendar:Exception').length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const bobIn = (list: WbxmlElement | undefined) => childrenOf(list, 'Calendar:Attendee').find((a) => childText(a, 'Calendar:Email') === 'bob@contoso.test');
    assert.equal(childText(bobIn(child(item, 'Calendar:Attendees')), 'Calendar:AttendeeStatus'), undefined, 'the series has no answer from bob');
    const exceptions = childrenOf(child(item, 'Calendar:Exceptions'), 'Calendar:Exception');
    assert.deepEqual(exceptions.map((e) => [childText(e, 'AirSyncBase:InstanceId'), childText(e, 'Calendar:StartTime'), childText(e, 'Calendar:Deleted') ?? '',
      childText(bobIn(child(e, 'Calendar:Attendees')), 'Calendar:AttendeeStatus'),
      childText(bobIn(child(e, 'Calendar:Attendees')), 'MeetingResponse:ProposedStartTime') ?? '']), [
      ['2031-01-13T09:00:00.000Z', '20310113T090000Z', '', '4', ''],
      ['2031-01-20T09:00:00.000Z', '20310120T090000Z', '', '2', '20310120T110000Z'],
    ], 'each answer on its own occurrence, which still takes place for the organizer');
    // 12.1 has no attendees on an occurrence: its exceptions come without them.
    const older = (await sync(alice12, 'Calendar')).changes.get(aliceItem);
    const olderExceptions = childrenOf(child(older, 'Calendar:Exceptions'), 'Calendar:Exception');
    assert.equal(olderExceptions.length, 2);
    assert.ok(olderExceptions.every((e) => child(e, 'Calendar:Attendees') === undefined));

    // Alice renames the series: the update sends no VEVENT for the occurrences that only hold answers.
    await sync(alice, 'Calendar', [A('Change', A('ServerId', aliceItem), A('ApplicationData', CAL('Subject', 'Standup (new room)')))]);
    const [updateId] = await arrival(bob, 'Inbox', 'Standup (new room)');
    const fetched = await bob.c.send('ItemOperations', ns('ItemOperations')('ItemOperations', ns('ItemOperations')('Fetch',
      ns('ItemOperations')('Store', 'Mailbox'), A('CollectionId', bob.folders.get('Inbox')!), A('ServerId', updateId),
      ns('ItemOperations')('Options', B('BodyPreference', B('Type', 4))))));
    const mime = childText(child(child(child(child(fetched.body, 'ItemOperations:Response'), 'ItemOperations:Fetch'), 'ItemOperations:Properties'), 'AirSyncBase:Body'), 'AirSyncBase:Data')!;
    const calendar = calendarPart(mime.replace(/\r?\n/g, '\r\n'));
    assert.equal(calendar.match(/^BEGIN:VEVENT\r$/gm)?.length, 1, 'one VEVENT: the series');
  });

  it('counter-proposals over SMTP: an external attendee\'s Outlook COUNTER is recorded, a forged one is not, and a meeting that disallows proposals refuses them', async () => {
    const alice = await device('alice@contoso.test', '16.1');
    const bob = await device('bob@contoso.test', '16.1');
    await sync(alice, 'Calendar');
    await sync(alice, 'Inbox');
    await sync(bob, 'Inbox');
    const uid = freshUid();
    const booked = await sync(alice, 'Calendar', [A('Add', A('ClientId', 'ext-counter-1'), A('ApplicationData',
      CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('DtStamp', '20261128T120000Z'), CAL('Subject', 'Supplier visit'), CAL('MeetingStatus', 1),
      CAL('StartTime', '20261217T090000Z'), CAL('EndTime', '20261217T100000Z'), CAL('UID', uid),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'olivia@fabrikam.test'), CAL('Name', 'Olivia Organiser'), CAL('AttendeeType', 1)))))]);
    const aliceItem = childText(booked.responses[0], 'AirSync:ServerId')!;
    const counterFrom = (from: string, who: string) => inviteMail({ from, to: ['alice@contoso.test'], subject: 'New Time Proposed: Supplier visit', method: 'COUNTER',
      calendar: ics({ method: 'COUNTER', uid, summary: 'Supplier visit', organizer: { email: 'alice@contoso.test', name: 'Alice Andersen' },
        // A COUNTER may list other attendees; the one who sent it is the one who answers.
        attendees: [{ email: 'bob@contoso.test', name: 'Bob Berg', partstat: 'ACCEPTED' }, { email: who, name: 'Olivia Organiser', partstat: 'DECLINED' }],
        start: '20261217T140000', end: '20261217T150000',
        extra: ['X-MS-OLK-ORIGINALSTART;TZID=W. Europe Standard Time:20261217T100000', 'X-MS-OLK-ORIGINALEND;TZID=W. Europe Standard Time:20261217T110000'] }) });
    // From someone who is not the attendee named: delivered as mail, recorded nowhere.
    await smtp(counterFrom('mallory@fabrikam.test', 'olivia@fabrikam.test'), ['alice@contoso.test'], 'mallory@fabrikam.test');
    await smtp(counterFrom('olivia@fabrikam.test', 'olivia@fabrikam.test'), ['alice@contoso.test']);
    const inbox = await sync(alice, 'Inbox');
    const counters = [...inbox.adds.values()].filter((d) => childText(d, 'Email:Subject') === 'New Time Proposed: Supplier visit');
    assert.equal(counters.length, 2);
    for (const c of counters) {
      if (!/olivia@/.test(childText(c, 'Email:From') ?? '')) {
        // Mallory's names none of its attendees as its sender: an ordinary message.
        assert.equal(childText(c, 'Email:MessageClass'), 'IPM.Note');
        assert.equal(child(c, 'Email:MeetingRequest'), undefined);
        continue;
      }
      // The class follows the answer of the attendee who sent it.
      assert.equal(childText(c, 'Email:MessageClass'), 'IPM.Schedule.Meeting.Resp.Neg');
      const mr = child(c, 'Email:MeetingRequest');
      assert.equal(childText(mr, 'Email:StartTime'), '2026-12-17T09:00:00.000Z', 'Outlook\'s original start, read in its zone');
      assert.equal(childText(mr, 'MeetingResponse:ProposedStartTime'), '20261217T130000Z');
    }
    const change = (await sync(alice, 'Calendar')).changes.get(aliceItem);
    const olivia = childrenOf(child(change, 'Calendar:Attendees'), 'Calendar:Attendee').find((a) => childText(a, 'Calendar:Email') === 'olivia@fabrikam.test');
    assert.equal(childText(olivia, 'Calendar:AttendeeStatus'), '4');
    assert.equal(childText(olivia, 'MeetingResponse:ProposedStartTime'), '20261217T130000Z');
    assert.equal(childText(olivia, 'MeetingResponse:ProposedEndTime'), '20261217T140000Z');
    const log = server.logs.filter((r) => r.msg === 'delivered' && typeof r.calendar === 'string' && r.calendar.startsWith('alice@contoso.test:'));
    assert.ok(server.logs.some((r) => r.msg === 'calendar part not read' && /COUNTER from someone who is none of the attendees/.test(String(r.reason))), 'the forged one is logged as such');
    assert.ok(log.some((r) => r.calendar === 'alice@contoso.test:proposal-recorded'));

    // An external organizer who disallows proposals: Bob's proposal is refused, his plain answer is not.
    const closed = freshUid();
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Fixed slot',
      calendar: ics({ uid: closed, summary: 'Fixed slot', disallowCounter: true }) }), ['bob@contoso.test']);
    const [fixedMail] = await arrival(bob, 'Inbox', 'Fixed slot');
    const answer = (extra: WbxmlElement[]) => respond(bob, [{ answer: 2, folder: bob.folders.get('Inbox'), requestId: fixedMail, extra }]);
    const [refused] = await answer([MR('SendResponse', MR('ProposedStartTime', '20261203T150000Z'))]);
    assert.equal(childText(refused, 'MeetingResponse:Status'), '2');
    const [plain] = await answer([MR('SendResponse')]);
    assert.equal(childText(plain, 'MeetingResponse:Status'), '1');

    // Bob's proposal to an external organizer leaves as Outlook's COUNTER, its end keeping the meeting's length.
    const open = freshUid();
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Open slot', calendar: ics({ uid: open, summary: 'Open slot' }) }), ['bob@contoso.test']);
    const [openMail] = await arrival(bob, 'Inbox', 'Open slot');
    const [proposed] = await respond(bob, [{ answer: 3, folder: bob.folders.get('Inbox'), requestId: openMail, extra: [MR('SendResponse', MR('ProposedStartTime', '20261204T080000Z'))] }]);
    assert.equal(childText(proposed, 'MeetingResponse:Status'), '1');
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const list = await (await fetch(`${server.baseUrl}/admin/captured?to=olivia%40fabrikam.test`, { headers: { Authorization: `Bearer ${token}` } })).json() as Array<{ id: number; subject: string }>;
    const mine = list.filter((m) => m.subject === 'New Time Proposed: Open slot');
    assert.equal(mine.length, 1);
    const raw = Buffer.from(await (await fetch(`${server.baseUrl}/admin/captured/${mine[0]!.id}`, { headers: { Authorization: `Bearer ${token}` } })).arrayBuffer()).toString('utf8');
    assert.match(raw, /Content-Type: text\/calendar; charset=utf-8; method=COUNTER/i);
    const calendar = calendarPart(raw).replace(/\r\n[ \t]/g, '');
    assert.match(calendar, /^DTSTART:20261204T080000Z\r$/m);
    assert.match(calendar, /^DTEND:20261204T093000Z\r$/m, 'the 90-minute meeting keeps its length');
    assert.match(calendar, /^X-MS-OLK-ORIGINALSTART:20261203T090000Z\r$/m);
    assert.match(calendar, /^ATTENDEE;[^\r]*PARTSTAT=DECLINED[^\r]*:mailto:bob@contoso\.test\r$/im);
  });

  it('a series arrives with its moved occurrence; cancelling one occurrence removes only it, in the calendar and in free/busy; 16.x names exceptions by InstanceId', async () => {
    const bob = await device('bob@contoso.test');
    const bob16 = await device('bob@contoso.test', '16.1');
    const alice = await device('alice@contoso.test');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    await sync(bob16, 'Calendar');
    const uid = freshUid();
    // Wednesdays 10:00-11:00 Berlin from 8 January 2031, four times; the second moved to 14:00.
    const moved = ['BEGIN:VEVENT', 'ORGANIZER;CN=Olivia Organiser:mailto:olivia@fabrikam.test', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@contoso.test',
      `UID:${uid}`, 'RECURRENCE-ID;TZID=W. Europe Standard Time:20310115T100000', 'SEQUENCE:0', 'DTSTAMP:20261128T120000Z', 'SUMMARY:Series (moved)', 'LOCATION:Room 9',
      'DTSTART;TZID=W. Europe Standard Time:20310115T140000', 'DTEND;TZID=W. Europe Standard Time:20310115T150000', 'END:VEVENT'];
    const series = ics({ uid, summary: 'Series', start: '20310108T100000', end: '20310108T110000', extra: ['RRULE:FREQ=WEEKLY;COUNT=4'] })
      .replace('END:VCALENDAR', [...moved, 'END:VCALENDAR'].join('\r\n'));
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Series', calendar: series }), ['bob@contoso.test']);
    added(await sync(bob, 'Inbox'), 'Series');
    const [calId, item] = added(await sync(bob, 'Calendar'), 'Series');
    assert.deepEqual([childText(child(item, 'Calendar:Recurrence'), 'Calendar:Type'), childText(child(item, 'Calendar:Recurrence'), 'Calendar:Occurrences')], ['1', '4']);
    const exceptions = (data: WbxmlElement | undefined): WbxmlElement[] => childrenOf(child(data, 'Calendar:Exceptions'), 'Calendar:Exception');
    assert.deepEqual(exceptions(item).map((e) => [childText(e, 'Calendar:ExceptionStartTime'), childText(e, 'Calendar:StartTime'), childText(e, 'Calendar:Subject')]),
      [['20310115T090000Z', '20310115T130000Z', 'Series (moved)']]);
    const on16 = (await sync(bob16, 'Calendar')).adds.get(calId)!;
    assert.deepEqual(exceptions(on16).map((e) => [childText(e, 'AirSyncBase:InstanceId'), child(e, 'Calendar:ExceptionStartTime')]),
      [['2031-01-15T09:00:00.000Z', undefined]], '16.x: InstanceId, not ExceptionStartTime');
    assert.equal(childText(exceptions(item)[0], 'Calendar:Location'), 'Room 9');
    assert.deepEqual([child(exceptions(on16)[0], 'Calendar:Location'), childText(child(exceptions(on16)[0], 'AirSyncBase:Location'), 'AirSyncBase:DisplayName')],
      [undefined, 'Room 9'], '16.x: the exception\'s location in its form too');

    // Olivia cancels the third occurrence alone.
    const one = ics({ uid, method: 'CANCEL', summary: 'Series', sequence: 1, start: '20310122T100000', end: '20310122T110000',
      extra: ['RECURRENCE-ID;TZID=W. Europe Standard Time:20310122T100000'] });
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Canceled: Series (22 January)', method: 'CANCEL', calendar: one }), ['bob@contoso.test']);
    added(await sync(bob, 'Inbox'), 'Canceled: Series (22 January)');
    const after = (await sync(bob, 'Calendar')).changes.get(calId)!;
    assert.equal(childText(after, 'Calendar:MeetingStatus'), '3', 'the series is not canceled');
    assert.equal(childText(after, 'Calendar:Subject'), 'Series');
    assert.deepEqual(exceptions(after).map((e) => [childText(e, 'Calendar:ExceptionStartTime'), childText(e, 'Calendar:Deleted') ?? '']),
      [['20310115T090000Z', ''], ['20310122T090000Z', '1']]);

    const day = async (date: string): Promise<string | undefined> => {
      const res = await alice.c.send('ResolveRecipients', ns('ResolveRecipients')('ResolveRecipients', ns('ResolveRecipients')('To', 'bob@contoso.test'),
        ns('ResolveRecipients')('Options', ns('ResolveRecipients')('Availability', ns('ResolveRecipients')('StartTime', `${date}T08:00:00.000Z`),
          ns('ResolveRecipients')('EndTime', `${date}T15:00:00.000Z`)))));
      return childText(child(child(child(res.body, 'ResolveRecipients:Response'), 'ResolveRecipients:Recipient'), 'ResolveRecipients:Availability'), 'ResolveRecipients:MergedFreeBusy');
    };
    // Half hours from 08:00 UTC; unanswered, so tentative (1).
    assert.equal(await day('2031-01-08'), '00110000000000', 'the first, at 09:00 UTC');
    assert.equal(await day('2031-01-15'), '00000000001100', 'the second, moved to 13:00 UTC');
    assert.equal(await day('2031-01-22'), '00000000000000', 'the third, canceled');
    assert.equal(await day('2031-01-29'), '00110000000000', 'the fourth');
    // Accepting the series (from the calendar item) makes every occurrence busy, the moved one too.
    const [accepted] = await respond(bob, [{ answer: 1, folder: bob.folders.get('Calendar'), requestId: calId }]);
    assert.equal(childText(accepted, 'MeetingResponse:Status'), '1');
    assert.equal(await day('2031-01-08'), '00220000000000');
    assert.equal(await day('2031-01-15'), '00000000002200');
    assert.equal(await day('2031-01-22'), '00000000000000');

    // One occurrence at a time (14.1 InstanceId, on the calendar item): decline the fourth, make the moved second tentative.
    const instance = (at: string) => [MR('InstanceId', at)];
    const [declined, tentative, none, gone] = await respond(bob, [
      { answer: 3, folder: bob.folders.get('Calendar'), requestId: calId, extra: instance('2031-01-29T09:00:00.000Z') },
      { answer: 2, folder: bob.folders.get('Calendar'), requestId: calId, extra: instance('2031-01-15T09:00:00.000Z') },
      { answer: 1, folder: bob.folders.get('Calendar'), requestId: calId, extra: instance('2031-01-16T09:00:00.000Z') }, // no such occurrence
      { answer: 1, folder: bob.folders.get('Calendar'), requestId: calId, extra: instance('2031-01-22T09:00:00.000Z') }, // canceled
    ]);
    assert.deepEqual([declined, tentative, none, gone].map((r) => childText(r, 'MeetingResponse:Status')), ['1', '1', '2', '2']);
    assert.equal(child(declined, 'MeetingResponse:CalendarId'), undefined);
    assert.equal(childText(declined, 'MeetingResponse:InstanceId'), '2031-01-29T09:00:00.000Z');
    assert.equal(childText(tentative, 'MeetingResponse:CalendarId'), calId);
    assert.equal(await day('2031-01-29'), '00000000000000', 'the declined occurrence is free');
    assert.equal(await day('2031-01-15'), '00000000001100', 'the moved one is tentative');
    assert.equal(await day('2031-01-08'), '00220000000000', 'the others stay accepted');
    const answered = (await sync(bob, 'Calendar')).changes.get(calId)!;
    assert.equal(childText(answered, 'Calendar:ResponseType'), '3', 'the series stays accepted');
    assert.deepEqual(exceptions(answered).map((e) => [childText(e, 'Calendar:ExceptionStartTime'), childText(e, 'Calendar:Deleted') ?? '', childText(e, 'Calendar:ResponseType') ?? '']),
      [['20310115T090000Z', '', '2'], ['20310122T090000Z', '1', ''], ['20310129T090000Z', '1', '']]);

    // An invitation to the first occurrence alone, declined from the mail: that occurrence goes, the series stays.
    const firstOnly = ics({ uid, summary: 'Series (first, later)', sequence: 2, start: '20310108T120000', end: '20310108T130000',
      extra: ['RECURRENCE-ID;TZID=W. Europe Standard Time:20310108T100000'] });
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Series (first, later)', calendar: firstOnly }), ['bob@contoso.test']);
    const [occurrenceMail] = added(await sync(bob, 'Inbox'), 'Series (first, later)');
    await sync(bob, 'Calendar');
    const [declinedOne] = await respond(bob, [{ answer: 3, folder: bob.folders.get('Inbox'), requestId: occurrenceMail }]);
    assert.equal(childText(declinedOne, 'MeetingResponse:Status'), '1');
    const afterDecline = await sync(bob, 'Calendar');
    assert.deepEqual(afterDecline.deletes, [], 'the series is not deleted');
    assert.equal(childText(exceptions(afterDecline.changes.get(calId)).find((e) => childText(e, 'Calendar:ExceptionStartTime') === '20310108T090000Z'), 'Calendar:Deleted'), '1');
    assert.equal(await day('2031-01-08'), '00000000000000');
    assert.equal(await day('2031-01-29'), '00000000000000', 'the fourth stays declined');
  });

  it('only its organizer changes a placed meeting; mail never changes a user\'s own appointment; a reply counts only from an invited attendee', async () => {
    const bob = await device('bob@contoso.test');
    const alice = await device('alice@contoso.test');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    await sync(alice, 'Calendar');
    const uid = freshUid();
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Budget', calendar: ics({ uid, summary: 'Budget' }) }), ['bob@contoso.test']);
    await sync(bob, 'Inbox');
    const [calId] = added(await sync(bob, 'Calendar'), 'Budget');
    /** What the delivery of the message with this Message-ID did to the calendar (its log line). */
    const outcome = (subject: string): unknown => server.logs.find((l) => l.msg === 'delivered' && l.messageId === `<${subject}@fabrikam.test>`)?.calendar;
    const forged = (subject: string, from: string, calendar: string, method = 'REQUEST'): Buffer => Buffer.from(inviteMail({ from, to: ['bob@contoso.test'], subject, calendar, method })
      .toString('utf8').replace(/^Message-ID: .*$/m, `Message-ID: <${subject}@fabrikam.test>`));

    // Mallory, who knows the UID, sends a newer invitation of her own, then a cancellation in Olivia's name.
    await smtp(forged('hijack', 'mallory@fabrikam.test', ics({ uid, summary: 'Moved to my place', sequence: 5, organizer: { email: 'mallory@fabrikam.test', name: 'Mallory' } })),
      ['bob@contoso.test'], 'mallory@fabrikam.test');
    await smtp(forged('forged-cancel', 'mallory@fabrikam.test', ics({ uid, method: 'CANCEL', sequence: 6 }), 'CANCEL'), ['bob@contoso.test'], 'mallory@fabrikam.test');
    assert.equal(outcome('hijack'), 'bob@contoso.test:not-the-organizer');
    assert.equal(outcome('forged-cancel'), 'bob@contoso.test:not-the-organizer');
    assert.equal((await sync(bob, 'Calendar')).changes.has(calId), false, 'the meeting is as Olivia sent it');

    // Bob's own appointment cannot be taken over by an invitation that names its UID.
    const own = await sync(bob, 'Calendar', [A('Add', A('ClientId', `own-${uid}`), A('ApplicationData', CAL('Subject', 'Dentist'),
      CAL('StartTime', '20261210T080000Z'), CAL('EndTime', '20261210T090000Z'), CAL('UID', `own-${uid}`)))]);
    const ownId = childText(own.responses[0], 'AirSync:ServerId')!;
    await smtp(forged('take-over', 'olivia@fabrikam.test', ics({ uid: `own-${uid}`, summary: 'Mine now' })), ['bob@contoso.test']);
    assert.equal(outcome('take-over'), 'bob@contoso.test:not-the-organizer');
    assert.equal((await sync(bob, 'Calendar')).changes.has(ownId), false);
    // Nor by declining that invitation.
    const [takeOverMail] = added(await sync(bob, 'Inbox'), 'take-over');
    const [declined] = await respond(bob, [{ answer: 3, folder: bob.folders.get('Inbox'), requestId: takeOverMail }]);
    assert.equal(childText(declined, 'MeetingResponse:Status'), '2');
    assert.equal((await sync(bob, 'Calendar')).deletes.length, 0, 'his appointment stays');

    // Alice organizes; a reply from someone she did not invite, or in an attendee's name from another address, changes nothing.
    const made = await sync(alice, 'Calendar', [A('Add', A('ClientId', `org-${uid}`), A('ApplicationData', CAL('Subject', 'Planning'),
      CAL('StartTime', '20261211T080000Z'), CAL('EndTime', '20261211T090000Z'), CAL('UID', `org-${uid}`), CAL('MeetingStatus', 1),
      CAL('Attendees', CAL('Attendee', CAL('Email', 'bob@contoso.test'), CAL('Name', 'Bob'), CAL('AttendeeType', 1)))))]);
    const aliceItem = childText(made.responses[0], 'AirSync:ServerId')!;
    const reply = (who: string): string => ics({ uid: `org-${uid}`, method: 'REPLY', organizer: { email: 'alice@contoso.test', name: 'Alice' },
      attendees: [{ email: who, name: who, partstat: 'ACCEPTED' }] });
    const toAlice = (subject: string, from: string, calendar: string): Buffer => Buffer.from(inviteMail({ from, to: ['alice@contoso.test'], subject, calendar, method: 'REPLY' })
      .toString('utf8').replace(/^Message-ID: .*$/m, `Message-ID: <${subject}@fabrikam.test>`));
    await smtp(toAlice('stranger', 'mallory@fabrikam.test', reply('mallory@fabrikam.test')), ['alice@contoso.test'], 'mallory@fabrikam.test');
    await smtp(toAlice('in-bobs-name', 'mallory@fabrikam.test', reply('bob@contoso.test')), ['alice@contoso.test'], 'mallory@fabrikam.test');
    assert.equal(outcome('stranger'), 'alice@contoso.test:not-an-attendee');
    // A reply in someone else's name is no reply at all: an ordinary message, its calendar part not read.
    assert.equal(outcome('in-bobs-name'), undefined);
    assert.ok(server.logs.some((l) => l.msg === 'calendar part not read' && l.messageId === '<in-bobs-name@fabrikam.test>' && /none of the attendees/.test(String(l.reason))));
    assert.equal((await sync(alice, 'Calendar')).changes.has(aliceItem), false, 'her meeting lists no answer');
  });

  it('refuses what is not an invitation the user can answer, each Request on its own', async () => {
    const bob = await device('bob@contoso.test');
    const carol = await device('carol@contoso.test');
    await sync(bob, 'Inbox');
    await sync(carol, 'Inbox');
    const uid = freshUid();
    await smtp(inviteMail({ from: 'olivia@fabrikam.test', to: ['carol@contoso.test'], subject: 'Carol only', calendar: ics({ uid, summary: 'Carol only' }) }), ['carol@contoso.test']);
    await smtp(Buffer.from('From: olivia@fabrikam.test\r\nTo: bob@contoso.test\r\nSubject: Just mail\r\n\r\nNo meeting here.\r\n'), ['bob@contoso.test']);
    const [carolMail] = added(await sync(carol, 'Inbox'), 'Carol only');
    const [plain] = added(await sync(bob, 'Inbox'), 'Just mail');
    const inbox = bob.folders.get('Inbox')!;
    const results = await respond(bob, [
      { answer: 1, folder: inbox, requestId: plain },
      { answer: 1, folder: carol.folders.get('Inbox'), requestId: carolMail }, // another user's invitation
      { answer: 1, folder: inbox, requestId: `${inbox}:999999999` },
      { answer: 9, folder: inbox, requestId: plain },
      { answer: 1, folder: bob.folders.get('Calendar'), requestId: plain }, // CollectionId disagrees with the ServerId
      { answer: 1, folder: inbox, requestId: 'not-an-id' },
    ]);
    assert.deepEqual(results.map((r) => childText(r, 'MeetingResponse:Status')), ['2', '2', '2', '2', '2', '2']);
    assert.ok(results.every((r) => child(r, 'MeetingResponse:CalendarId') === undefined));
    // A UserResponse that names a property of every object is no answer either.
    const [weird] = await respond(carol, [{ answer: 'constructor', folder: carol.folders.get('Inbox'), requestId: carolMail }]);
    assert.equal(childText(weird, 'MeetingResponse:Status'), '2');
    // Carol's invitation is untouched by Bob's attempt.
    const [ok] = await respond(carol, [{ answer: 1, folder: carol.folders.get('Inbox'), requestId: carolMail, extra: [MR('InstanceId', '2026-12-03T09:00:00.000Z')] }]);
    assert.equal(childText(ok, 'MeetingResponse:Status'), '2', 'an occurrence is named on the calendar item, not on the mail');
    const [fine] = await respond(carol, [{ answer: 1, folder: carol.folders.get('Inbox'), requestId: carolMail }]);
    assert.equal(childText(fine, 'MeetingResponse:Status'), '1');

    const empty = await bob.c.send('MeetingResponse', MR('MeetingResponse'));
    assert.equal(empty.status, 200);
    assert.equal(childText(empty.body, 'MeetingResponse:Status'), '103', 'a MeetingResponse without Request is malformed');
  });

  it('an unreadable calendar part leaves an ordinary message, delivered in full, and no calendar item', async () => {
    const bob = await device('bob@contoso.test');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    const broken = ics({ summary: 'Broken' }).replace(/^METHOD:REQUEST\r\n/m, '').replace(/^DTSTART[^\r]*\r\n/m, '');
    const brokenMail = inviteMail({ from: 'olivia@fabrikam.test', to: ['bob@contoso.test'], subject: 'Broken invitation', calendar: broken });
    const messageId = /^Message-ID: (.*)$/m.exec(brokenMail.toString('utf8'))![1]!.trim();
    await smtp(brokenMail, ['bob@contoso.test']);
    const [, mail] = added(await sync(bob, 'Inbox'), 'Broken invitation');
    assert.equal(childText(mail, 'Email:MessageClass'), 'IPM.Note');
    assert.equal(child(mail, 'Email:MeetingRequest'), undefined);
    assert.equal(childText(child(mail, 'AirSyncBase:Body'), 'AirSyncBase:Data'), 'Let us go through the quarter.\n');
    assert.equal((await sync(bob, 'Calendar')).adds.size, 0);
    const line = server.logs.find((l) => l.msg === 'calendar part not read' && l.messageId === messageId);
    assert.ok(line, 'the server says why');
    assert.match(String(line.reason), /METHOD/);
  });

  it('a signed invitation (openssl) keeps its S/MIME class for the client to verify, and still places the meeting', async () => {
    const bob = await device('bob@contoso.test');
    await sync(bob, 'Inbox');
    await sync(bob, 'Calendar');
    const uid = freshUid();
    const signer = makeSigner('olivia@fabrikam.test');
    const dir = tempDir('easmime-invite-');
    const inner = path.join(dir, 'inner.txt');
    fs.writeFileSync(inner, inviteEntity(ics({ uid, summary: 'Signed meeting' }), 'REQUEST', 'Signed agenda.'));
    const out = execFileSync('openssl', ['smime', '-sign', '-in', inner, '-signer', signer.cert, '-inkey', signer.key, '-from', 'olivia@fabrikam.test',
      '-to', 'bob@contoso.test', '-subject', 'Signed meeting', '-md', 'sha256', '-crlfeol'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await smtp(Buffer.from(out.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), ['bob@contoso.test']);
    const [, mail] = added(await sync(bob, 'Inbox'), 'Signed meeting');
    assert.equal(childText(mail, 'Email:MessageClass'), 'IPM.Note.SMIME.MultipartSigned');
    assert.equal(childText(child(mail, 'Email:MeetingRequest'), 'Email:StartTime'), '2026-12-03T09:00:00.000Z');
    const [, item] = added(await sync(bob, 'Calendar'), 'Signed meeting');
    assert.equal(childText(item, 'Calendar:UID'), uid);
  });
});

/** The decoded text/calendar part of a message nodemailer composed (base64 or quoted-printable or 7bit). */
function calendarPart(raw: string): string {
  const at = raw.search(/Content-Type: text\/calendar/i);
  assert.ok(at >= 0, 'a text/calendar part');
  const part = raw.slice(at);
  const headerEnd = part.indexOf('\r\n\r\n');
  const headers = part.slice(0, headerEnd);
  const body = part.slice(headerEnd + 4).split(/\r\n--/)[0]!;
  if (/Content-Transfer-Encoding: base64/i.test(headers)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/Content-Transfer-Encoding: quoted-printable/i.test(headers)) {
    return body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
  return body;
}

