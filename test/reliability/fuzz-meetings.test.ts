// Fuzzing meeting mail through the real server (fast-check, fixed seed): Outlook-style invitations,
// updates, cancellations, replies and counter-proposals, their iCalendar mutated line by line
// (dropped, doubled, cut, swapped), delivered over SMTP to a user whose calendar already holds the
// series. Every message must be accepted and delivered whole (an unreadable calendar part leaves an
// ordinary message), every MeetingResponse to it answered with Status 1 or 2 alone, and the
// calendar must stay readable by Sync.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { EasClient } from '../support/eas-client.js';
import { sendRaw } from '../support/mail.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { ns } from '../../eas/wbxml/ns.js';
import { child, childrenOf, childText } from '../../eas/wbxml/tree.js';

const A = ns('AirSync');
const MR = ns('MeetingResponse');

const ZONE = ['BEGIN:VTIMEZONE', 'TZID:W. Europe Standard Time',
  'BEGIN:STANDARD', 'DTSTART:16010101T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10', 'END:STANDARD',
  'BEGIN:DAYLIGHT', 'DTSTART:16010101T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3', 'END:DAYLIGHT',
  'END:VTIMEZONE'];

function calendar(method: string, extra: string[]): string[] {
  return ['BEGIN:VCALENDAR', `METHOD:${method}`, 'VERSION:2.0', ...ZONE, 'BEGIN:VEVENT', 'UID:fuzz-series@fabrikam.test', 'SEQUENCE:1',
    'ORGANIZER;CN=Olivia:mailto:olivia@fabrikam.test', 'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Carol:mailto:carol@contoso.test',
    'DTSTAMP:20261128T120000Z', 'DTSTART;TZID=W. Europe Standard Time:20310106T100000', 'DTEND;TZID=W. Europe Standard Time:20310106T110000',
    'SUMMARY:Fuzzed', 'LOCATION:Room', ...extra, 'BEGIN:VALARM', 'TRIGGER:-PT15M', 'ACTION:DISPLAY', 'END:VALARM', 'END:VEVENT', 'END:VCALENDAR'];
}

const SAMPLES: string[][] = [
  calendar('REQUEST', ['RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10', 'EXDATE;TZID=W. Europe Standard Time:20310113T100000']),
  calendar('REQUEST', ['RECURRENCE-ID;TZID=W. Europe Standard Time:20310120T100000']),
  calendar('CANCEL', ['RECURRENCE-ID;TZID=W. Europe Standard Time:20310127T100000', 'STATUS:CANCELLED']),
  calendar('CANCEL', ['STATUS:CANCELLED']),
  calendar('REPLY', []),
  calendar('COUNTER', ['X-MS-OLK-ORIGINALSTART;TZID=W. Europe Standard Time:20310106T090000', 'X-MS-OLK-ORIGINALEND;TZID=W. Europe Standard Time:20310106T100000',
    'RECURRENCE-ID;TZID=W. Europe Standard Time:20310113T100000']),
];

function mail(lines: string[], n: number): Buffer {
  const body = Buffer.from(lines.join('\r\n'), 'utf8').toString('base64').match(/.{1,76}/g) ?? [];
  return Buffer.from(['From: olivia@fabrikam.test', 'To: carol@contoso.test', `Subject: fuzz ${n}`, `Message-ID: <fuzz-meeting-${n}@fabrikam.test>`,
    'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b"', '', '--b', 'Content-Type: text/plain', '', `Fuzz ${n}.`, '--b',
    'Content-Type: text/calendar; charset=utf-8; method=REQUEST', 'Content-Transfer-Encoding: base64', '', ...body, '--b--', ''].join('\r\n'));
}

describe('reliability: fuzzed meeting mail through the real server', function () {
  this.timeout(240_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  it('mutated invitations, updates and cancellations are delivered whole; MeetingResponse answers 1 or 2; the calendar stays readable', async () => {
    const carol = new EasClient({ baseUrl: server.baseUrl, user: 'carol@contoso.test', password: 'demo', deviceId: 'FuzzMeet', version: '14.1' });
    await carol.provision();
    const folders = await carol.folderIds();
    const keys = new Map<string, string>();
    const sync = async (folder: string): Promise<WbxmlElementList> => {
      const id = folders.get(folder)!;
      if (!keys.has(folder)) {
        const r0 = await carol.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', id)))));
        keys.set(folder, childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!);
      }
      const r = await carol.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', keys.get(folder)!), A('CollectionId', id), A('WindowSize', 512)))));
      assert.equal(r.status, 200);
      const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
      assert.equal(childText(col, 'AirSync:Status'), '1', `${folder} Sync`);
      keys.set(folder, childText(col, 'AirSync:SyncKey')!);
      return childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add');
    };
    await sync('Inbox');
    await sync('Calendar');
    // The series first, unmutated: later mutants update, cancel or answer against it.
    await sendRaw(server.smtpPort, { from: 'olivia@fabrikam.test', to: ['carol@contoso.test'] }, mail(SAMPLES[0]!, 0));
    let n = 0;
    const op = fc.tuple(fc.constantFrom('drop', 'dup', 'cut', 'swap'), fc.nat(), fc.nat());
    await fc.assert(fc.asyncProperty(fc.nat({ max: SAMPLES.length - 1 }), fc.array(op, { maxLength: 4 }), fc.constantFrom(1, 2, 3), async (which, ops, answer) => {
      const lines = [...SAMPLES[which]!];
      for (const [kind, i, j] of ops) {
        const at = i % lines.length;
        if (kind === 'drop') lines.splice(at, 1);
        else if (kind === 'dup') lines.splice(at, 0, lines[at]!);
        else if (kind === 'cut') lines[at] = lines[at]!.slice(0, j % (lines[at]!.length + 1));
        else lines.splice(at, 1, lines[j % lines.length]!);
        if (!lines.length) lines.push('');
      }
      const id = ++n;
      await sendRaw(server.smtpPort, { from: 'olivia@fabrikam.test', to: ['carol@contoso.test'] }, mail(lines, id));
      const adds = await sync('Inbox');
      const mine = adds.find((a) => childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject') === `fuzz ${id}`);
      assert.ok(mine, `fuzz ${id} delivered`);
      const r = await carol.send('MeetingResponse', MR('MeetingResponse', MR('Request', MR('UserResponse', answer),
        MR('CollectionId', folders.get('Inbox')!), MR('RequestId', childText(mine, 'AirSync:ServerId')!))));
      assert.equal(r.status, 200, `HTTP ${r.status} ${r.headers.get('x-easmime-reason')}`);
      assert.match(childText(child(r.body, 'MeetingResponse:Result'), 'MeetingResponse:Status') ?? '', /^[12]$/);
      await sync('Calendar');
    }), { seed: 4242, numRuns: 60 });
    assert.equal(server.logs.filter((l) => l.msg === 'command failed').length, 0, 'no command threw');
  });
});

type WbxmlElementList = ReturnType<typeof childrenOf>;
