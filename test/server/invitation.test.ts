// Meeting invitations read from iCalendar as Outlook/Exchange, Google and Apple send them; replies
// composed for them; the EAS time zone blob and GlobalObjId laid out byte by byte.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { globalObjId } from '../../server/meetings/global-obj-id.js';
import { InvitationError, MAX_ICALENDAR_BYTES, parseInvitation, type Invitation } from '../../server/meetings/invitation.js';
import { composeCounter, composeReply, composeRequest } from '../../server/meetings/outgoing.js';
import type { EasRecurrence } from '../../server/meetings/recurrence.js';
import { timezoneBlob } from '../../server/meetings/timezone.js';

const ics = (...lines: string[]): string => lines.join('\r\n') + '\r\n';
const utc = (s: string): number => Date.parse(s);

const OUTLOOK_UID = '040000008200E00074C5B7101A82E00800000000D0A5C5B1E26BDC01000000000000000010000000F4A0E4D2C2E6A1489B3B8F2F0A2A7A5B';

const WEST_EUROPE = [
  'BEGIN:VTIMEZONE',
  'TZID:W. Europe Standard Time',
  'BEGIN:STANDARD',
  'DTSTART:16010101T030000',
  'TZOFFSETFROM:+0200',
  'TZOFFSETTO:+0100',
  'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10',
  'END:STANDARD',
  'BEGIN:DAYLIGHT',
  'DTSTART:16010101T020000',
  'TZOFFSETFROM:+0100',
  'TZOFFSETTO:+0200',
  'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3',
  'END:DAYLIGHT',
  'END:VTIMEZONE',
];

const outlook = (start = '20261210T100000', end = '20261210T113000', extra: string[] = []): string => ics(
  'BEGIN:VCALENDAR',
  'METHOD:REQUEST',
  'PRODID:Microsoft Exchange Server 2010',
  'VERSION:2.0',
  ...WEST_EUROPE,
  'BEGIN:VEVENT',
  'ORGANIZER;CN=Anna Schmidt:mailto:anna.schmidt@contoso.example',
  'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Bob Meier:MAILTO:Bob.Meier@Fabrikam.example',
  'ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN="Carla Ruiz":mailto:carla@fabrikam.example',
  'ATTENDEE;CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE;CN=Raum 4.12:mailto:room412@contoso.example',
  'DESCRIPTION;LANGUAGE=de-DE:Agenda:\\n1. Zahlen\\n2. Plan\\n',
  `UID:${OUTLOOK_UID}`,
  'SUMMARY;LANGUAGE=de-DE:Quartalsplanung',
  `DTSTART;TZID=W. Europe Standard Time:${start}`,
  `DTEND;TZID=W. Europe Standard Time:${end}`,
  'CLASS:PRIVATE',
  'PRIORITY:5',
  'DTSTAMP:20261101T080000Z',
  'TRANSP:OPAQUE',
  'STATUS:CONFIRMED',
  'SEQUENCE:3',
  'LOCATION;LANGUAGE=de-DE:Raum 4.12',
  'X-MICROSOFT-CDO-APPT-SEQUENCE:3',
  'X-MICROSOFT-CDO-OWNERAPPTID:2120000000',
  'X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE',
  'X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY',
  'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE',
  'X-MICROSOFT-CDO-IMPORTANCE:1',
  'X-MICROSOFT-CDO-INSTTYPE:0',
  'X-MICROSOFT-DISALLOW-COUNTER:TRUE',
  ...extra,
  'BEGIN:VALARM',
  'DESCRIPTION:REMINDER',
  'TRIGGER;RELATED=START:-PT15M',
  'ACTION:DISPLAY',
  'END:VALARM',
  'END:VEVENT',
  'END:VCALENDAR',
);

const GOOGLE = ics(
  'BEGIN:VCALENDAR',
  'PRODID:-//Google Inc//Google Calendar 70.9054//EN',
  'VERSION:2.0',
  'CALSCALE:GREGORIAN',
  'METHOD:REQUEST',
  'BEGIN:VTIMEZONE',
  'TZID:Europe/London',
  'X-LIC-LOCATION:Europe/London',
  'BEGIN:DAYLIGHT',
  'TZOFFSETFROM:+0000',
  'TZOFFSETTO:+0100',
  'TZNAME:BST',
  'DTSTART:19700329T010000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU',
  'END:DAYLIGHT',
  'BEGIN:STANDARD',
  'TZOFFSETFROM:+0100',
  'TZOFFSETTO:+0000',
  'TZNAME:GMT',
  'DTSTART:19701025T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU',
  'END:STANDARD',
  'END:VTIMEZONE',
  'BEGIN:VEVENT',
  'DTSTART;TZID=Europe/London:20260714T143000',
  'DTEND;TZID=Europe/London:20260714T153000',
  'RRULE:FREQ=WEEKLY;WKST=MO;COUNT=10;BYDAY=TU,TH',
  'DTSTAMP:20260701T120000Z',
  'ORGANIZER;CN=Dana Lee:mailto:dana.lee@gmail.example',
  'UID:5k3v0q2b1c9d8e7f6a5b4c3d2e@google.com',
  'ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE',
  ' ;CN=Dana Lee;X-NUM-GUESTS=0:mailto:dana.lee@gmail.example',
  'ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=',
  ' TRUE;CN=erik@easmime.test;X-NUM-GUESTS=0:mailto:erik@easmime.test',
  'X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij',
  'CREATED:20260701T115900Z',
  'DESCRIPTION:Weekly sync\\, topics:\\n- budget\\; hiring\\n- C:\\\\shared\\\\plan',
  '  .xlsx',
  'LAST-MODIFIED:20260701T120000Z',
  'LOCATION:Room "Thames"\\, 2nd floor',
  'SEQUENCE:0',
  'STATUS:CONFIRMED',
  'SUMMARY:Weekly sync with a title long enough that Google folds it over two l',
  ' ines',
  'TRANSP:OPAQUE',
  'BEGIN:VALARM',
  'ACTION:DISPLAY',
  'DESCRIPTION:This is an event reminder',
  'TRIGGER:-P0DT0H10M0S',
  'END:VALARM',
  'END:VEVENT',
  'END:VCALENDAR',
);

const NEW_YORK = [
  'BEGIN:VTIMEZONE',
  'TZID:America/New_York',
  'BEGIN:DAYLIGHT',
  'TZOFFSETFROM:-0500',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU',
  'DTSTART:20070311T020000',
  'TZNAME:EDT',
  'TZOFFSETTO:-0400',
  'END:DAYLIGHT',
  'BEGIN:STANDARD',
  'TZOFFSETFROM:-0400',
  'RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU',
  'DTSTART:20071104T020000',
  'TZNAME:EST',
  'TZOFFSETTO:-0500',
  'END:STANDARD',
  'END:VTIMEZONE',
];

const APPLE = ics(
  'BEGIN:VCALENDAR',
  'METHOD:REQUEST',
  'VERSION:2.0',
  'PRODID:-//Apple Inc.//macOS 15.1//EN',
  'CALSCALE:GREGORIAN',
  ...NEW_YORK,
  'BEGIN:VEVENT',
  'TRANSP:TRANSPARENT',
  'DTEND;TZID=America/New_York:20261103T100000',
  'UID:6F0B8E2A-3C4D-4E5F-9A1B-2C3D4E5F6A7B',
  'DTSTAMP:20261020T151500Z',
  'LOCATION:',
  'DESCRIPTION:',
  'SEQUENCE:1',
  'SUMMARY:Board review',
  'DTSTART;TZID=America/New_York:20261103T090000',
  'CREATED:20261020T151400Z',
  'RRULE:FREQ=MONTHLY;UNTIL=20270601T035959Z;BYDAY=1TU',
  'ORGANIZER;CN="Frank Ng";EMAIL="frank@icloud.example":mailto:frank@icloud.example',
  'ATTENDEE;CN="Frank Ng";CUTYPE=INDIVIDUAL;EMAIL="frank@icloud.example";PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:frank@icloud.example',
  'ATTENDEE;CN="Gina Park";CUTYPE=INDIVIDUAL;EMAIL="Gina.Park@Example.test";PARTSTAT=NEEDS-ACTION;RSVP=TRUE:urn:uuid:1B2C3D4E-5F60-4172-8394-A5B6C7D8E9F0',
  'BEGIN:VALARM',
  'X-WR-ALARMUID:0E1D2C3B-4A59-4687-9564-738291A0B1C2',
  'TRIGGER;VALUE=DATE-TIME:19760401T005545Z',
  'ACTION:NONE',
  'END:VALARM',
  'BEGIN:VALARM',
  'TRIGGER:-PT1H',
  'ACTION:DISPLAY',
  'END:VALARM',
  'END:VEVENT',
  'END:VCALENDAR',
);

/** A minimal REQUEST around the given VEVENT lines. */
const event = (lines: string[], method = 'REQUEST', before: string[] = []): string => ics(
  'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', `METHOD:${method}`, ...before,
  'BEGIN:VEVENT', 'UID:evt-1@easmime.test', 'DTSTAMP:20260101T000000Z', ...lines, 'END:VEVENT',
  'END:VCALENDAR',
);
const timed = (rrule: string, start = 'DTSTART:20260105T090000Z'): Invitation => parseInvitation(event([start, 'DTEND:20260105T100000Z', rrule]));

/** The blob's fields by their MS TIME_ZONE_INFORMATION offsets. */
const blob = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  assert.equal(b.length, 172);
  const name = (at: number): string => b.subarray(at, at + 64).toString('utf16le').replace(/\0+$/, '');
  const date = (at: number): number[] => Array.from({ length: 8 }, (_, i) => b.readUInt16LE(at + 2 * i));
  return {
    bias: b.readInt32LE(0), standardName: name(4), standardDate: date(68), standardBias: b.readInt32LE(84),
    daylightName: name(88), daylightDate: date(152), daylightBias: b.readInt32LE(168),
  };
};
const ZERO_DATE = [0, 0, 0, 0, 0, 0, 0, 0];

const rejects = (text: string, message: RegExp): void => {
  assert.throws(() => parseInvitation(text), (e: unknown) => e instanceof InvitationError && message.test(e.message), String(message));
};

describe('meeting invitations (iCalendar)', () => {
  describe('Outlook / Exchange', () => {
    it('reads the request: people, text, busy status, class, reminder, counter-proposals', () => {
      const inv = parseInvitation(outlook());
      assert.equal(inv.method, 'REQUEST');
      assert.equal(inv.uid, OUTLOOK_UID);
      assert.equal(inv.sequence, 3);
      assert.equal(inv.dtstamp, utc('2026-11-01T08:00:00Z'));
      assert.equal(inv.summary, 'Quartalsplanung');
      assert.equal(inv.location, 'Raum 4.12');
      assert.equal(inv.description, 'Agenda:\n1. Zahlen\n2. Plan\n');
      assert.deepEqual(inv.organizer, { email: 'anna.schmidt@contoso.example', name: 'Anna Schmidt' });
      assert.deepEqual(inv.attendees, [
        { email: 'bob.meier@fabrikam.example', name: 'Bob Meier', type: 'required', partstat: 'needs-action', rsvp: true },
        { email: 'carla@fabrikam.example', name: 'Carla Ruiz', type: 'optional', partstat: 'needs-action', rsvp: true },
        { email: 'room412@contoso.example', name: 'Raum 4.12', type: 'resource', partstat: 'accepted', rsvp: false },
      ]);
      assert.equal(inv.busyStatus, 2, 'X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY (what an accepted meeting shows) wins over BUSYSTATUS:TENTATIVE');
      assert.equal(inv.sensitivity, 2);
      assert.equal(inv.reminderMinutes, 15);
      assert.equal(inv.responseRequested, true);
      assert.equal(inv.disallowNewTimeProposal, true);
      assert.equal(inv.allDay, false);
      assert.equal(inv.recurrence, undefined);
      assert.equal(inv.recurrenceId, undefined);
      assert.deepEqual(inv.warnings, []);
    });

    it('10:00 in "W. Europe Standard Time" is 09:00Z in December and 08:00Z in July', () => {
      const winter = parseInvitation(outlook('20261210T100000', '20261210T113000'));
      assert.equal(winter.start, utc('2026-12-10T09:00:00Z'));
      assert.equal(winter.end, utc('2026-12-10T10:30:00Z'));
      const summer = parseInvitation(outlook('20260709T100000', '20260709T113000'));
      assert.equal(summer.start, utc('2026-07-09T08:00:00Z'));
      assert.equal(summer.end, utc('2026-07-09T09:30:00Z'));
      // The night the clocks go back: 02:30 is read as summer time, 03:30 as winter time.
      assert.equal(parseInvitation(outlook('20261025T013000', '20261025T033000')).end, utc('2026-10-25T02:30:00Z'));
    });

    it('the time zone blob carries the VTIMEZONE rules at their byte offsets', () => {
      const inv = parseInvitation(outlook());
      const raw = Buffer.from(inv.timezone, 'base64');
      assert.equal(raw.readInt32LE(0), -60);
      assert.equal(raw.subarray(4, 4 + 46).toString('utf16le'), 'W. Europe Standard Time');
      assert.equal(raw.readUInt16LE(4 + 46), 0, 'NUL-padded');
      assert.deepEqual(blob(inv.timezone), {
        bias: -60,
        standardName: 'W. Europe Standard Time', standardDate: [0, 10, 0, 5, 3, 0, 0, 0], standardBias: 0,
        daylightName: 'W. Europe Standard Time', daylightDate: [0, 3, 0, 5, 2, 0, 0, 0], daylightBias: -60,
      });
    });

    it('GlobalObjId of an Outlook UID is that UID decoded from hex', () => {
      const goid = Buffer.from(globalObjId(OUTLOOK_UID), 'base64');
      assert.equal(goid.toString('hex').toUpperCase(), OUTLOOK_UID);
      assert.equal(goid.length, 56);
      assert.equal(goid.readUInt32LE(36), 16, 'the size field of the structure Outlook wrote');
      // Case of the hex does not matter.
      assert.equal(globalObjId(OUTLOOK_UID.toLowerCase()), globalObjId(OUTLOOK_UID));
    });

    it('takes the master of a series, its changed occurrences as its exceptions', () => {
      const text = ics(
        'BEGIN:VCALENDAR', 'METHOD:REQUEST', ...WEST_EUROPE,
        'BEGIN:VEVENT', 'UID:series-1', 'RECURRENCE-ID;TZID=W. Europe Standard Time:20260112T100000',
        'DTSTART;TZID=W. Europe Standard Time:20260112T140000', 'DTEND;TZID=W. Europe Standard Time:20260112T150000', 'SUMMARY:moved', 'END:VEVENT',
        'BEGIN:VEVENT', 'UID:series-1', 'RRULE:FREQ=WEEKLY;BYDAY=MO',
        'DTSTART;TZID=W. Europe Standard Time:20260105T100000', 'DTEND;TZID=W. Europe Standard Time:20260105T110000', 'SUMMARY:weekly', 'END:VEVENT',
        'END:VCALENDAR',
      );
      const inv = parseInvitation(text);
      assert.equal(inv.summary, 'weekly');
      assert.equal(inv.start, utc('2026-01-05T09:00:00Z'));
      assert.deepEqual(inv.recurrence, { type: 1, interval: 1, dayOfWeek: 2 });
      assert.equal(inv.recurrenceId, undefined);
      assert.deepEqual(inv.exceptions, [{
        originalStart: utc('2026-01-12T09:00:00Z'), deleted: false, start: utc('2026-01-12T13:00:00Z'), end: utc('2026-01-12T14:00:00Z'), summary: 'moved', busyStatus: 2,
      }]);
      assert.deepEqual(inv.warnings, []);
    });

    it('a cancelled occurrence and EXDATEs (a list, in the series\' zone) remove occurrences; a VEVENT of another UID is left out, saying so', () => {
      const inv = parseInvitation(ics(
        'BEGIN:VCALENDAR', 'METHOD:REQUEST', ...WEST_EUROPE,
        'BEGIN:VEVENT', 'UID:series-3', 'RRULE:FREQ=WEEKLY;BYDAY=MO', 'EXDATE;TZID=W. Europe Standard Time:20260119T100000,20260202T100000',
        'DTSTART;TZID=W. Europe Standard Time:20260105T100000', 'DTEND;TZID=W. Europe Standard Time:20260105T110000', 'SUMMARY:weekly', 'END:VEVENT',
        'BEGIN:VEVENT', 'UID:series-3', 'RECURRENCE-ID:20260126T090000Z', 'STATUS:CANCELLED', 'DTSTART:20260126T090000Z', 'END:VEVENT',
        'BEGIN:VEVENT', 'UID:someone-else', 'DTSTART:20260126T090000Z', 'END:VEVENT',
        'END:VCALENDAR',
      ));
      assert.deepEqual(inv.exceptions, [
        { originalStart: utc('2026-01-19T09:00:00Z'), deleted: true },
        { originalStart: utc('2026-01-26T09:00:00Z'), deleted: true },
        { originalStart: utc('2026-02-02T09:00:00Z'), deleted: true },
      ]);
      assert.deepEqual(inv.warnings, ['1 other VEVENT(s) left out: EAS takes one event per message']);
    });

    it('with only exceptions, takes the first', () => {
      const exception = (day: string): string[] => ['BEGIN:VEVENT', 'UID:series-2', `RECURRENCE-ID:202601${day}T090000Z`, `DTSTART:202601${day}T130000Z`, 'END:VEVENT'];
      const inv = parseInvitation(ics('BEGIN:VCALENDAR', 'METHOD:CANCEL', ...exception('12'), ...exception('19'), 'END:VCALENDAR'));
      assert.equal(inv.recurrenceId, utc('2026-01-12T09:00:00Z'));
      assert.equal(inv.start, utc('2026-01-12T13:00:00Z'));
      assert.equal(inv.warnings.length, 1);
    });

    it('busy status, sensitivity and reminder values', () => {
      const read = (...lines: string[]): Invitation => parseInvitation(event(['DTSTART:20260105T090000Z', ...lines]));
      assert.deepEqual(['FREE', 'TENTATIVE', 'BUSY', 'OOF', 'WORKINGELSEWHERE'].map((v) => read(`X-MICROSOFT-CDO-BUSYSTATUS:${v}`, 'TRANSP:TRANSPARENT').busyStatus), [0, 1, 2, 3, 4]);
      assert.equal(read('TRANSP:TRANSPARENT').busyStatus, 0);
      assert.equal(read('X-MICROSOFT-CDO-BUSYSTATUS:SOMETIMES').busyStatus, 2);
      assert.equal(read().busyStatus, 2);
      assert.deepEqual(['PUBLIC', 'PRIVATE', 'CONFIDENTIAL', 'X-SECRET'].map((c) => read(`CLASS:${c}`).sensitivity), [0, 2, 3, 0]);
      const alarm = (trigger: string): string[] => ['BEGIN:VALARM', 'ACTION:DISPLAY', trigger, 'END:VALARM'];
      assert.equal(read(...alarm('TRIGGER;RELATED=END:-PT5M'), ...alarm('TRIGGER:PT5M'), ...alarm('TRIGGER:-P1DT2H')).reminderMinutes, 1560);
      assert.equal(read(...alarm('TRIGGER:PT0S')).reminderMinutes, 0);
      assert.equal(read(...alarm('TRIGGER:PT10M')).reminderMinutes, undefined);
      assert.equal(read(...alarm('TRIGGER:soon'), ...alarm('TRIGGER:-PT2M')).reminderMinutes, 2, 'an unreadable TRIGGER is skipped');
      assert.equal(read('X-MICROSOFT-DISALLOW-COUNTER:true').disallowNewTimeProposal, true);
      assert.equal(read('X-MICROSOFT-DISALLOW-COUNTER:FALSE').disallowNewTimeProposal, false);
    });

    it('an update for one occurrence carries its RECURRENCE-ID', () => {
      const inv = parseInvitation(outlook('20260112T140000', '20260112T150000', ['RECURRENCE-ID;TZID=W. Europe Standard Time:20260112T100000']));
      assert.equal(inv.recurrenceId, utc('2026-01-12T09:00:00Z'));
      assert.equal(inv.start, utc('2026-01-12T13:00:00Z'));
      const reply = composeReply(inv, { email: 'bob.meier@fabrikam.example' }, 'tentative');
      assert.match(reply, /\r\nRECURRENCE-ID:20260112T090000Z\r\n/);
      assert.equal(parseInvitation(reply).recurrenceId, utc('2026-01-12T09:00:00Z'));
    });
  });

  describe('Google Calendar', () => {
    it('reads folded lines, escaped text, attendees and the London zone', () => {
      const inv = parseInvitation(GOOGLE);
      assert.equal(inv.uid, '5k3v0q2b1c9d8e7f6a5b4c3d2e@google.com');
      assert.equal(inv.summary, 'Weekly sync with a title long enough that Google folds it over two lines');
      assert.equal(inv.description, 'Weekly sync, topics:\n- budget; hiring\n- C:\\shared\\plan .xlsx');
      assert.equal(inv.location, 'Room "Thames", 2nd floor');
      assert.equal(inv.start, utc('2026-07-14T13:30:00Z'));
      assert.equal(inv.end, utc('2026-07-14T14:30:00Z'));
      assert.deepEqual(inv.attendees, [
        { email: 'dana.lee@gmail.example', name: 'Dana Lee', type: 'required', partstat: 'accepted', rsvp: true },
        { email: 'erik@easmime.test', name: 'erik@easmime.test', type: 'required', partstat: 'needs-action', rsvp: true },
      ]);
      assert.equal(inv.busyStatus, 2);
      assert.equal(inv.sensitivity, 0);
      assert.equal(inv.reminderMinutes, 10);
      assert.equal(inv.disallowNewTimeProposal, false);
      assert.deepEqual(inv.recurrence, { type: 1, interval: 1, dayOfWeek: 4 | 16, occurrences: 10 });
      assert.deepEqual(blob(inv.timezone), {
        bias: 0,
        standardName: 'GMT', standardDate: [0, 10, 0, 5, 2, 0, 0, 0], standardBias: 0,
        daylightName: 'BST', daylightDate: [0, 3, 0, 5, 1, 0, 0, 0], daylightBias: -60,
      });
      assert.deepEqual(inv.warnings, []);
    });
  });

  describe('Apple Calendar', () => {
    it('reads the IANA-named zone, EMAIL for urn:uuid attendees, and the nth-weekday series', () => {
      const inv = parseInvitation(APPLE);
      // 3 November 2026 is two days after the clocks went back: EST, UTC-5.
      assert.equal(inv.start, utc('2026-11-03T14:00:00Z'));
      assert.equal(inv.end, utc('2026-11-03T15:00:00Z'));
      assert.equal(inv.sequence, 1);
      assert.equal(inv.location, '');
      assert.equal(inv.description, '');
      assert.equal(inv.busyStatus, 0, 'TRANSP:TRANSPARENT');
      assert.deepEqual(inv.organizer, { email: 'frank@icloud.example', name: 'Frank Ng' });
      assert.deepEqual(inv.attendees, [
        { email: 'frank@icloud.example', name: 'Frank Ng', type: 'required', partstat: 'accepted', rsvp: false },
        { email: 'gina.park@example.test', name: 'Gina Park', type: 'required', partstat: 'needs-action', rsvp: true },
      ]);
      assert.equal(inv.reminderMinutes, 60, 'the absolute TRIGGER is skipped');
      assert.deepEqual(inv.recurrence, { type: 3, interval: 1, dayOfWeek: 4, weekOfMonth: 1, until: utc('2027-06-01T03:59:59Z') });
      assert.deepEqual(blob(inv.timezone), {
        bias: 300,
        standardName: 'EST', standardDate: [0, 11, 0, 1, 2, 0, 0, 0], standardBias: 0,
        daylightName: 'EDT', daylightDate: [0, 3, 0, 2, 2, 0, 0, 0], daylightBias: -60,
      });
      assert.deepEqual(inv.warnings, []);
    });

    it('GlobalObjId of a third-party UID wraps it as vCal-Uid data', () => {
      const uid = '6F0B8E2A-3C4D-4E5F-9A1B-2C3D4E5F6A7B';
      const goid = Buffer.from(globalObjId(uid), 'base64');
      assert.equal(goid.subarray(0, 16).toString('hex'), '040000008200e00074c5b7101a82e008');
      assert.ok(goid.subarray(16, 36).equals(Buffer.alloc(20)), 'instance date, creation time and reserved bytes are zero');
      const data = Buffer.concat([Buffer.from('vCal-Uid'), Buffer.from([1, 0, 0, 0]), Buffer.from(uid), Buffer.from([0])]);
      assert.equal(goid.readUInt32LE(36), data.length);
      assert.equal(goid.readUInt32LE(36), 8 + 4 + 36 + 1);
      assert.ok(goid.subarray(40).equals(data));
      assert.equal(goid.length, 40 + 49);
      // Non-ASCII UIDs are taken as UTF-8; hex that is not a GOID is just a UID.
      assert.equal(Buffer.from(globalObjId('é'), 'base64').readUInt32LE(36), 8 + 4 + 2 + 1);
      assert.equal(Buffer.from(globalObjId('0400'), 'base64').subarray(40, 48).toString(), 'vCal-Uid');
      assert.equal(Buffer.from(globalObjId(`${OUTLOOK_UID}0`), 'base64').subarray(40, 48).toString(), 'vCal-Uid', 'odd-length hex');
    });
  });

  describe('times', () => {
    it('an all-day event starts at 00:00Z of its date; without DTEND it lasts the day', () => {
      const inv = parseInvitation(event(['DTSTART;VALUE=DATE:20261224', 'DTEND;VALUE=DATE:20261227', 'RRULE:FREQ=YEARLY;UNTIL=20301224']));
      assert.equal(inv.allDay, true);
      assert.equal(inv.start, utc('2026-12-24T00:00:00Z'));
      assert.equal(inv.end, utc('2026-12-27T00:00:00Z'));
      assert.deepEqual(inv.recurrence, { type: 5, interval: 1, dayOfMonth: 24, monthOfYear: 12, until: utc('2030-12-24T00:00:00Z') });
      assert.deepEqual(blob(inv.timezone), {
        bias: 0, standardName: 'UTC', standardDate: ZERO_DATE, standardBias: 0, daylightName: 'UTC', daylightDate: ZERO_DATE, daylightBias: 0,
      });
      const single = parseInvitation(event(['DTSTART;VALUE=DATE:20260301']));
      assert.equal(single.allDay, true);
      assert.equal(single.end - single.start, 86_400_000);
      // A DATE written without VALUE=DATE is still a date.
      assert.equal(parseInvitation(event(['DTSTART:20260301'])).allDay, true);
    });

    it('DURATION when there is no DTEND; a timed event without either takes no time', () => {
      assert.equal(parseInvitation(event(['DTSTART:20260301T100000Z', 'DURATION:PT1H30M'])).end, utc('2026-03-01T11:30:00Z'));
      const zero = parseInvitation(event(['DTSTART:20260301T100000Z']));
      assert.equal(zero.end, zero.start);
      const backwards = parseInvitation(event(['DTSTART:20260301T100000Z', 'DTEND:20260301T090000Z']));
      assert.equal(backwards.end, backwards.start);
      assert.deepEqual(backwards.warnings, ['the event ends before it starts; read as ending at its start']);
    });

    it('a TZID without VTIMEZONE that Intl knows is read in that IANA zone, with its rules in the blob', () => {
      const winter = parseInvitation(event(['DTSTART;TZID=America/Los_Angeles:20261210T100000', 'DTEND;TZID=America/Los_Angeles:20261210T110000']));
      assert.equal(winter.start, utc('2026-12-10T18:00:00Z'));
      assert.equal(winter.end, utc('2026-12-10T19:00:00Z'));
      const summer = parseInvitation(event(['DTSTART;TZID=America/Los_Angeles:20260710T100000']));
      assert.equal(summer.start, utc('2026-07-10T17:00:00Z'));
      assert.deepEqual(summer.warnings, []);
      assert.deepEqual(blob(winter.timezone), {
        bias: 480,
        standardName: 'America/Los_Angeles', standardDate: [0, 11, 0, 1, 2, 0, 0, 0], standardBias: 0,
        daylightName: 'America/Los_Angeles', daylightDate: [0, 3, 0, 2, 2, 0, 0, 0], daylightBias: -60,
      });
      const berlin = parseInvitation(event(['DTSTART;TZID=Europe/Berlin:20261210T100000']));
      assert.equal(berlin.start, utc('2026-12-10T09:00:00Z'));
      assert.deepEqual(blob(berlin.timezone), {
        bias: -60,
        standardName: 'Europe/Berlin', standardDate: [0, 10, 0, 5, 3, 0, 0, 0], standardBias: 0,
        daylightName: 'Europe/Berlin', daylightDate: [0, 3, 0, 5, 2, 0, 0, 0], daylightBias: -60,
      });
      // A zone without daylight saving: its bias, no dates.
      const tokyo = parseInvitation(event(['DTSTART;TZID=Asia/Tokyo:20260710T100000']));
      assert.equal(tokyo.start, utc('2026-07-10T01:00:00Z'));
      assert.deepEqual(blob(tokyo.timezone), {
        bias: -540, standardName: 'Asia/Tokyo', standardDate: ZERO_DATE, standardBias: 0, daylightName: 'Asia/Tokyo', daylightDate: ZERO_DATE, daylightBias: 0,
      });
    });

    it('a TZID neither defined nor IANA is read as UTC, with a warning', () => {
      const inv = parseInvitation(event(['DTSTART;TZID=W. Europe Standard Time:20261210T100000']));
      assert.equal(inv.start, utc('2026-12-10T10:00:00Z'));
      assert.deepEqual(inv.warnings, ['TZID "W. Europe Standard Time" has no VTIMEZONE and is not an IANA time zone; read as UTC']);
      assert.equal(blob(inv.timezone).standardName, 'UTC');
      const mars = parseInvitation(event(['DTSTART;TZID=Mars/Olympus_Mons:20261210T100000', 'DTEND;TZID=Mars/Olympus_Mons:20261210T110000']));
      assert.equal(mars.end, utc('2026-12-10T11:00:00Z'));
      assert.equal(mars.warnings.length, 1, 'one warning per TZID');
    });

    it('a floating time is read as UTC, with a warning', () => {
      const inv = parseInvitation(event(['DTSTART:20261210T100000', 'DTEND:20261210T110000']));
      assert.equal(inv.start, utc('2026-12-10T10:00:00Z'));
      assert.deepEqual(inv.warnings, ['DTSTART is a floating time (no TZID); read as UTC', 'DTEND is a floating time (no TZID); read as UTC']);
    });

    it('a VTIMEZONE with rules ical.js should not expand is replaced by the IANA zone or UTC', () => {
      const daily = (tzid: string): string[] => [
        'BEGIN:VTIMEZONE', `TZID:${tzid}`, 'BEGIN:STANDARD', 'DTSTART:00010101T000000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0100',
        'RRULE:FREQ=DAILY', 'END:STANDARD', 'END:VTIMEZONE',
      ];
      const started = Date.now();
      const iana = parseInvitation(event(['DTSTART;TZID=Europe/Berlin:20260710T100000'], 'REQUEST', daily('Europe/Berlin')));
      assert.equal(iana.start, utc('2026-07-10T08:00:00Z'));
      assert.deepEqual(iana.warnings, ['VTIMEZONE "Europe/Berlin": STANDARD RRULE FREQ=DAILY is not yearly; read with the IANA zone of that name']);
      const other = parseInvitation(event(['DTSTART;TZID=Custom:20260710T100000'], 'REQUEST', daily('Custom')));
      assert.equal(other.start, utc('2026-07-10T10:00:00Z'));
      assert.deepEqual(other.warnings, ['VTIMEZONE "Custom": STANDARD RRULE FREQ=DAILY is not yearly; read as UTC']);
      // ical.js would expand any sub-component with the properties of an observance.
      const sneaky = [
        'BEGIN:VTIMEZONE', 'TZID:Sneaky', 'BEGIN:X-OBSERVANCE', 'DTSTART:00010101T000000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0100',
        'RRULE:FREQ=SECONDLY', 'END:X-OBSERVANCE', 'END:VTIMEZONE',
      ];
      assert.deepEqual(parseInvitation(event(['DTSTART;TZID=Sneaky:20260710T100000'], 'REQUEST', sneaky)).warnings, ['VTIMEZONE "Sneaky": unexpected X-OBSERVANCE; read as UTC']);
      const spinning = [
        'BEGIN:VTIMEZONE', 'TZID:Spin', 'BEGIN:STANDARD', 'DTSTART:16010101T000000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0100',
        'RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', 'END:STANDARD', 'END:VTIMEZONE',
      ];
      assert.match(parseInvitation(event(['DTSTART;TZID=Spin:20260710T100000'], 'REQUEST', spinning)).warnings[0]!, /^VTIMEZONE "Spin": STANDARD RRULE FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30 is not "nth weekday" or a fixed day of its month; read as UTC$/);
      assert.ok(Date.now() - started < 1000);
    });

    it('a VTIMEZONE whose rules would cost too many years to expand is read as UTC', () => {
      const ancient = [
        'BEGIN:VTIMEZONE', 'TZID:Old', 'BEGIN:STANDARD', 'DTSTART:00010101T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100',
        'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD', 'BEGIN:DAYLIGHT', 'DTSTART:00010101T020000', 'TZOFFSETFROM:+0100',
        'TZOFFSETTO:+0200', 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT', 'END:VTIMEZONE',
      ];
      const started = Date.now();
      const inv = parseInvitation(event(['DTSTART;TZID=Old:99990710T100000'], 'REQUEST', ancient));
      assert.ok(Date.now() - started < 1000);
      assert.equal(inv.start, utc('9999-07-10T10:00:00Z'));
      assert.match(inv.warnings.join('|'), /VTIMEZONE "Old" would need \d+ years of rules expanded for DTSTART; read as UTC/);
    });

    it('a zone that ended daylight saving keeps only its standard offset in the blob', () => {
      const moscow = [
        'BEGIN:VTIMEZONE', 'TZID:Europe/Moscow',
        'BEGIN:DAYLIGHT', 'DTSTART:19930328T020000', 'TZOFFSETFROM:+0300', 'TZOFFSETTO:+0400', 'TZNAME:MSD',
        'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;UNTIL=20100327T230000Z', 'END:DAYLIGHT',
        'BEGIN:STANDARD', 'DTSTART:19961027T030000', 'TZOFFSETFROM:+0400', 'TZOFFSETTO:+0300', 'TZNAME:MSK',
        'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20101030T230000Z', 'END:STANDARD',
        'BEGIN:STANDARD', 'DTSTART:20141026T020000', 'TZOFFSETFROM:+0400', 'TZOFFSETTO:+0300', 'TZNAME:MSK', 'END:STANDARD',
        'END:VTIMEZONE',
      ];
      const inv = parseInvitation(event(['DTSTART;TZID=Europe/Moscow:20260710T100000'], 'REQUEST', moscow));
      assert.equal(inv.start, utc('2026-07-10T07:00:00Z'));
      assert.deepEqual(blob(inv.timezone), {
        bias: -180, standardName: 'MSK', standardDate: ZERO_DATE, standardBias: 0, daylightName: 'MSD', daylightDate: ZERO_DATE, daylightBias: 0,
      });
      assert.deepEqual(inv.warnings, []);
    });

    it('DTSTAMP defaults to the parse time', () => {
      const before = Date.now();
      const inv = parseInvitation(ics('BEGIN:VCALENDAR', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:x', 'DTSTART:20260101T100000Z', 'END:VEVENT', 'END:VCALENDAR'));
      assert.ok(inv.dtstamp >= before && inv.dtstamp <= Date.now());
    });
  });

  describe('recurrence', () => {
    // 5 January 2026 is a Monday.
    it('daily, weekly and weekday-daily rules', () => {
      assert.deepEqual(timed('RRULE:FREQ=DAILY;INTERVAL=2;COUNT=5').recurrence, { type: 0, interval: 2, occurrences: 5 });
      assert.deepEqual(timed('RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR').recurrence, { type: 1, interval: 1, dayOfWeek: 62 });
      assert.deepEqual(timed('RRULE:FREQ=WEEKLY;INTERVAL=3').recurrence, { type: 1, interval: 3, dayOfWeek: 2 }, "the start's weekday");
      assert.deepEqual(timed('RRULE:FREQ=WEEKLY;BYDAY=SU,SA;UNTIL=20260331T235959Z').recurrence, { type: 1, interval: 1, dayOfWeek: 65, until: utc('2026-03-31T23:59:59Z') });
    });

    it('monthly on a day, on the nth weekday, on the last weekday', () => {
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY').recurrence, { type: 2, interval: 1, dayOfMonth: 5 });
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY;BYMONTHDAY=15;INTERVAL=2').recurrence, { type: 2, interval: 2, dayOfMonth: 15 });
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY;BYDAY=2WE').recurrence, { type: 3, interval: 1, dayOfWeek: 8, weekOfMonth: 2 });
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY;BYDAY=-1FR').recurrence, { type: 3, interval: 1, dayOfWeek: 32, weekOfMonth: 5 });
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY;BYDAY=TH;BYSETPOS=3').recurrence, { type: 3, interval: 1, dayOfWeek: 16, weekOfMonth: 3 });
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1').recurrence, { type: 3, interval: 1, dayOfWeek: 62, weekOfMonth: 5 });
      assert.deepEqual(timed('RRULE:FREQ=MONTHLY;BYMONTHDAY=-1').recurrence, { type: 3, interval: 1, dayOfWeek: 127, weekOfMonth: 5 });
    });

    it('yearly on a date and on the nth weekday of a month', () => {
      assert.deepEqual(timed('RRULE:FREQ=YEARLY').recurrence, { type: 5, interval: 1, dayOfMonth: 5, monthOfYear: 1 });
      assert.deepEqual(timed('RRULE:FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=17;COUNT=3').recurrence, { type: 5, interval: 1, dayOfMonth: 17, monthOfYear: 5, occurrences: 3 });
      assert.deepEqual(timed('RRULE:FREQ=YEARLY;BYDAY=-1FR;BYMONTH=11').recurrence, { type: 6, interval: 1, dayOfWeek: 32, weekOfMonth: 5, monthOfYear: 11 });
      assert.deepEqual(timed('RRULE:FREQ=YEARLY;BYDAY=1MO').recurrence, { type: 6, interval: 1, dayOfWeek: 2, weekOfMonth: 1, monthOfYear: 1 });
    });

    it("the start's weekday and day are local, not UTC", () => {
      // 00:30 on Tuesday 6 January in Berlin is still Monday in UTC.
      const inv = parseInvitation(event(['DTSTART;TZID=Europe/Berlin:20260106T003000', 'RRULE:FREQ=WEEKLY']));
      assert.equal(inv.start, utc('2026-01-05T23:30:00Z'));
      assert.deepEqual(inv.recurrence, { type: 1, interval: 1, dayOfWeek: 4 });
    });

    it('UNTIL as a date ends an all-day series on that date and a timed one at the end of that local day', () => {
      assert.equal(timed('RRULE:FREQ=DAILY;UNTIL=20260110').recurrence?.until, utc('2026-01-10T23:59:59Z'));
      const berlin = parseInvitation(event(['DTSTART;TZID=Europe/Berlin:20260105T100000', 'RRULE:FREQ=DAILY;UNTIL=20260110']));
      assert.equal(berlin.recurrence?.until, utc('2026-01-10T22:59:59Z'));
      const floatingUntil = parseInvitation(event(['DTSTART;TZID=Europe/Berlin:20260105T100000', 'RRULE:FREQ=DAILY;UNTIL=20260110T100000']));
      assert.equal(floatingUntil.recurrence?.until, utc('2026-01-10T09:00:00Z'));
    });

    it('what EAS cannot express is left out with a warning naming the rule', () => {
      const cases: Array<[string, RegExp]> = [
        ['RRULE:FREQ=HOURLY;INTERVAL=2', /^RRULE FREQ=HOURLY;INTERVAL=2: FREQ=HOURLY; EAS cannot express it, recurrence left out$/],
        ['RRULE:FREQ=MINUTELY', /^RRULE FREQ=MINUTELY: /],
        ['RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15', /^RRULE FREQ=MONTHLY;BYMONTHDAY=1,15: several BYMONTHDAY values/],
        ['RRULE:FREQ=MONTHLY;BYDAY=MO,FR;BYSETPOS=1,-1', /several BYSETPOS values/],
        ['RRULE:FREQ=YEARLY;BYWEEKNO=20', /BYWEEKNO is not supported/],
        ['RRULE:FREQ=YEARLY;BYYEARDAY=100', /BYYEARDAY is not supported/],
        ['RRULE:FREQ=MONTHLY;BYDAY=-2MO', /BYDAY -2/],
        ['RRULE:FREQ=MONTHLY;BYDAY=1MO,3MO', /BYDAY needs one numbered day/],
        ['RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13', /BYDAY with BYMONTHDAY/],
        ['RRULE:FREQ=YEARLY;BYMONTH=1,7', /several BYMONTH values/],
      ];
      for (const [rule, warning] of cases) {
        const inv = timed(rule);
        assert.equal(inv.recurrence, undefined, rule);
        assert.equal(inv.warnings.length, 1, rule);
        assert.match(inv.warnings[0]!, warning, rule);
      }
      const two = parseInvitation(event(['DTSTART:20260105T090000Z', 'RRULE:FREQ=WEEKLY;BYDAY=MO', 'RRULE:FREQ=MONTHLY;BYDAY=1FR']));
      assert.equal(two.recurrence, undefined);
      assert.deepEqual(two.warnings, ['RRULE FREQ=WEEKLY;BYDAY=MO and FREQ=MONTHLY;BYDAY=1FR: EAS holds one rule; recurrence left out']);
    });

    it('EXDATE becomes an exception; RDATE is left out with a warning, the rule kept', () => {
      const inv = parseInvitation(event(['DTSTART:20260105T090000Z', 'RRULE:FREQ=WEEKLY', 'EXDATE:20260112T090000Z', 'RDATE:20260114T090000Z']));
      assert.deepEqual(inv.recurrence, { type: 1, interval: 1, dayOfWeek: 2 });
      assert.deepEqual(inv.exceptions, [{ originalStart: utc('2026-01-12T09:00:00Z'), deleted: true }]);
      assert.deepEqual(inv.warnings, ['RDATE left out: EAS keeps extra occurrences as separate items']);
    });
  });

  describe('cancellations and replies', () => {
    it('a CANCEL keeps what the event says', () => {
      const inv = parseInvitation(ics(
        'BEGIN:VCALENDAR', 'METHOD:CANCEL', 'PRODID:Microsoft Exchange Server 2010', 'VERSION:2.0', ...WEST_EUROPE,
        'BEGIN:VEVENT', 'ORGANIZER;CN=Anna Schmidt:mailto:anna.schmidt@contoso.example',
        'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Bob Meier:mailto:bob.meier@fabrikam.example',
        'SUMMARY;LANGUAGE=de-DE:Abgesagt: Quartalsplanung', `UID:${OUTLOOK_UID}`,
        'DTSTART;TZID=W. Europe Standard Time:20261210T100000', 'DTEND;TZID=W. Europe Standard Time:20261210T113000',
        'CLASS:PUBLIC', 'PRIORITY:1', 'DTSTAMP:20261105T090000Z', 'TRANSP:TRANSPARENT', 'STATUS:CANCELLED', 'SEQUENCE:4',
        'X-MICROSOFT-CDO-BUSYSTATUS:FREE', 'END:VEVENT', 'END:VCALENDAR',
      ));
      assert.equal(inv.method, 'CANCEL');
      assert.equal(inv.sequence, 4);
      assert.equal(inv.busyStatus, 0);
      assert.equal(inv.start, utc('2026-12-10T09:00:00Z'));
      assert.equal(inv.summary, 'Abgesagt: Quartalsplanung');
      assert.equal(inv.reminderMinutes, undefined);
    });

    it('reads a text with a byte order mark and bare LF line ends', () => {
      const inv = parseInvitation(`\uFEFF${event(['DTSTART:20260105T090000Z', 'SUMMARY:lf'])}`.replace(/\r\n/g, '\n'));
      assert.equal(inv.summary, 'lf');
      assert.equal(inv.start, utc('2026-01-05T09:00:00Z'));
    });

    it('a REPLY names the answering attendee; it needs no DTSTART', () => {
      const inv = parseInvitation(ics(
        'BEGIN:VCALENDAR', 'METHOD:REPLY', 'PRODID:-//Google Inc//Google Calendar 70.9054//EN', 'VERSION:2.0',
        'BEGIN:VEVENT', 'UID:5k3v0q2b1c9d8e7f6a5b4c3d2e@google.com', 'DTSTAMP:20260702T080000Z', 'SEQUENCE:0',
        'ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED;CN=Erik:mailto:erik@easmime.test',
        'ORGANIZER;CN=Dana Lee:mailto:dana.lee@gmail.example', 'COMMENT:Sorry\\, on leave', 'END:VEVENT', 'END:VCALENDAR',
      ));
      assert.equal(inv.method, 'REPLY');
      assert.deepEqual(inv.attendees, [{ email: 'erik@easmime.test', name: 'Erik', type: 'required', partstat: 'declined', rsvp: false }]);
      assert.equal(inv.responseRequested, false);
      assert.equal(inv.start, 0);
      assert.equal(inv.end, 0);
      assert.deepEqual(inv.warnings, ['REPLY without DTSTART: start and end are 0']);
    });

    it('an unknown PARTSTAT is needs-action; no attendee or none with RSVP=TRUE asks for no response', () => {
      const inv = parseInvitation(event(['DTSTART:20260105T090000Z', 'ATTENDEE;PARTSTAT=X-MAYBE;RSVP=FALSE:mailto:a@b.test', 'ATTENDEE:mailto:c@d.test']));
      assert.deepEqual(inv.attendees.map((a) => [a.partstat, a.rsvp]), [['needs-action', false], ['needs-action', false]]);
      assert.equal(inv.responseRequested, false);
      assert.equal(parseInvitation(event(['DTSTART:20260105T090000Z'])).responseRequested, false);
    });

    it('composes a reply that reads back as that attendee\'s answer', () => {
      const inv = parseInvitation(outlook());
      const before = Date.now();
      const text = composeReply(inv, { email: 'Bob.Meier@Fabrikam.example' }, 'accepted', 'Gern; bis dann,\r\nBob');
      const lines = text.split('\r\n');
      assert.equal(lines.pop(), '', 'every line ends in CRLF');
      assert.ok(!/[^\r]\n/.test(text), 'no bare LF');
      for (const l of lines) assert.ok(Buffer.byteLength(l) <= 75, l);
      const unfolded = text.replace(/\r\n /g, '');
      assert.match(unfolded, /^BEGIN:VCALENDAR\r\nPRODID:-\/\/easmime\/\/EN\r\nVERSION:2\.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n/);
      assert.match(unfolded, /\r\nDTSTART:20261210T090000Z\r\nDTEND:20261210T103000Z\r\n/);
      assert.match(unfolded, /\r\nSUMMARY:Accepted: Quartalsplanung\r\n/);
      assert.match(unfolded, /\r\nORGANIZER;CN=Anna Schmidt:mailto:anna\.schmidt@contoso\.example\r\n/);
      assert.match(unfolded, /\r\nATTENDEE;CN=Bob Meier;PARTSTAT=ACCEPTED:mailto:bob\.meier@fabrikam\.example\r\n/);
      assert.match(unfolded, /\r\nCOMMENT:Gern\\; bis dann\\,\\nBob\r\n/);
      assert.equal(unfolded.match(/\r\nATTENDEE/g)?.length, 1);
      assert.ok(!/RECURRENCE-ID/.test(unfolded));

      const back = parseInvitation(text);
      assert.equal(back.method, 'REPLY');
      assert.equal(back.uid, inv.uid);
      assert.equal(back.sequence, 3);
      assert.equal(back.start, inv.start);
      assert.equal(back.end, inv.end);
      assert.deepEqual(back.attendees, [{ email: 'bob.meier@fabrikam.example', name: 'Bob Meier', type: 'required', partstat: 'accepted', rsvp: false }]);
      assert.deepEqual(back.organizer, inv.organizer);
      assert.ok(back.dtstamp >= Math.floor(before / 1000) * 1000 && back.dtstamp <= Date.now());
      assert.deepEqual(back.warnings, []);
    });

    it('a COUNTER proposes its DTSTART/DTEND; Outlook\'s original times, in their zone, are the meeting\'s own', () => {
      const inv = parseInvitation(event([
        'DTSTART;TZID=W. Europe Standard Time:20261210T140000', 'DTEND;TZID=W. Europe Standard Time:20261210T150000',
        'X-MS-OLK-ORIGINALSTART;TZID=W. Europe Standard Time:20261210T100000', 'X-MS-OLK-ORIGINALEND;TZID=W. Europe Standard Time:20261210T113000',
        'ATTENDEE;PARTSTAT=TENTATIVE;CN=Bob:mailto:bob@fabrikam.example', 'ORGANIZER:mailto:anna@contoso.example',
      ], 'COUNTER', WEST_EUROPE));
      assert.equal(inv.method, 'COUNTER');
      assert.equal(inv.start, utc('2026-12-10T13:00:00Z'));
      assert.equal(inv.end, utc('2026-12-10T14:00:00Z'));
      assert.equal(inv.originalStart, utc('2026-12-10T09:00:00Z'));
      assert.equal(inv.originalEnd, utc('2026-12-10T10:30:00Z'));
      assert.equal(inv.attendees[0]?.partstat, 'tentative');
      // Without them (RFC 5546 does not have them) there is only the proposal.
      const bare = parseInvitation(event(['DTSTART:20261210T130000Z', 'DTEND:20261210T140000Z'], 'COUNTER'));
      assert.equal(bare.originalStart, undefined);
      assert.equal(bare.start, utc('2026-12-10T13:00:00Z'));
      // Unreadable ones, or one ending before it starts, are left out with a warning: the proposal stands.
      const unreadable = parseInvitation(event(['DTSTART:20261210T130000Z', 'X-MS-OLK-ORIGINALSTART:soon', 'X-MS-OLK-ORIGINALEND:20261210T100000Z'], 'COUNTER'));
      assert.equal(unreadable.originalStart, undefined);
      assert.equal(unreadable.start, utc('2026-12-10T13:00:00Z'));
      assert.deepEqual(unreadable.warnings, ['X-MS-OLK-ORIGINALSTART: "soon" is not a date or date-time; left out']);
      const backwards = parseInvitation(event(['DTSTART:20261210T130000Z', 'X-MS-OLK-ORIGINALSTART:20261210T110000Z', 'X-MS-OLK-ORIGINALEND:20261210T100000Z'], 'COUNTER'));
      assert.equal(backwards.originalStart, undefined);
      assert.match(backwards.warnings.join(';'), /ORIGINALEND is before/);
      // A COUNTER is about a time: it needs DTSTART.
      assert.throws(() => parseInvitation(event(['DTEND:20261210T140000Z'], 'COUNTER')), /COUNTER without DTSTART/);
    });

    it('composes a counter-proposal that reads back as the proposal, with the meeting\'s own time kept', () => {
      const inv = parseInvitation(outlook());
      const text = composeCounter({ ...inv, recurrenceId: inv.start }, { email: 'Bob.Meier@Fabrikam.example', name: 'Bob Meier' }, 'declined',
        { start: utc('2026-12-11T08:00:00Z'), end: utc('2026-12-11T09:30:00Z') }, 'Friday?');
      for (const l of text.split('\r\n')) assert.ok(Buffer.byteLength(l) <= 75, l);
      const unfolded = text.replace(/\r\n /g, '');
      assert.match(unfolded, /\r\nMETHOD:COUNTER\r\n/);
      assert.match(unfolded, /\r\nSUMMARY:Quartalsplanung\r\n/);
      assert.match(unfolded, /\r\nRECURRENCE-ID:20261210T090000Z\r\n/);
      const back = parseInvitation(text);
      assert.equal(back.method, 'COUNTER');
      assert.equal(back.uid, inv.uid);
      assert.equal(back.start, utc('2026-12-11T08:00:00Z'));
      assert.equal(back.end, utc('2026-12-11T09:30:00Z'));
      assert.equal(back.originalStart, inv.start);
      assert.equal(back.originalEnd, inv.end);
      assert.equal(back.recurrenceId, inv.start);
      assert.deepEqual(back.attendees, [{ email: 'bob.meier@fabrikam.example', name: 'Bob Meier', type: 'required', partstat: 'declined', rsvp: false }]);
      assert.deepEqual(back.warnings, []);
    });

    it('a counter-proposal for an occurrence of an all-day series proposes date-times and names the occurrence by its date', () => {
      const inv = parseInvitation(event(['DTSTART;VALUE=DATE:20261224', 'DTEND;VALUE=DATE:20261225', 'RRULE:FREQ=YEARLY']));
      const text = composeCounter({ ...inv, recurrenceId: inv.start }, { email: 'x@y.test' }, 'tentative',
        { start: utc('2026-12-24T14:00:00Z'), end: utc('2026-12-24T16:00:00Z') });
      assert.match(text, /\r\nDTSTART:20261224T140000Z\r\nDTEND:20261224T160000Z\r\n/);
      assert.match(text, /\r\nRECURRENCE-ID;VALUE=DATE:20261224\r\n/);
      const back = parseInvitation(text);
      assert.equal(back.recurrenceId, utc('2026-12-24T00:00:00Z'));
      assert.equal(back.start, utc('2026-12-24T14:00:00Z'));
    });

    it('replies to all-day events with dates, folding long lines between characters', () => {
      const inv = parseInvitation(event(['DTSTART;VALUE=DATE:20261224', 'DTEND;VALUE=DATE:20261225', `SUMMARY:${'Weihnachtsfeier für alle Kolleginnen und Kollegen '.repeat(4)}`]));
      const text = composeReply(inv, { email: 'x@y.test', name: 'Zoë Ünal' }, 'declined');
      for (const l of text.split('\r\n')) assert.ok(Buffer.byteLength(l) <= 75, l);
      assert.ok(!text.includes('\uFFFD'));
      assert.match(text, /\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261225\r\n/);
      const back = parseInvitation(text);
      assert.equal(back.allDay, true);
      assert.equal(back.start, inv.start);
      assert.equal(back.summary, `Declined: ${inv.summary}`);
      assert.deepEqual(back.attendees.map((a) => [a.email, a.name, a.partstat]), [['x@y.test', 'Zoë Ünal', 'declined']]);
      assert.equal(back.organizer, undefined);
      assert.equal(parseInvitation(composeReply(inv, { email: 'x@y.test' }, 'tentative')).attendees[0]!.partstat, 'tentative');
    });
  });

  describe('text', () => {
    it('removes control characters other than newline and tab, and cuts at 64 KiB between characters', () => {
      const inv = parseInvitation(event(['DTSTART:20260105T090000Z', 'SUMMARY:a\u0007b\tc\u007fd', `DESCRIPTION:${'€'.repeat(30_000)}`]));
      assert.equal(inv.summary, 'ab\tcd');
      assert.equal(Buffer.byteLength(inv.description), 65_535, '21845 whole euro signs');
      assert.equal(inv.description, '€'.repeat(21_845));
      assert.deepEqual(inv.warnings, ['DESCRIPTION cut to 65536 bytes']);
    });

    it('an ATTENDEE without an address is left out with a warning', () => {
      const inv = parseInvitation(event(['DTSTART:20260105T090000Z', 'ATTENDEE;CN=Nobody:urn:uuid:0000', 'ATTENDEE:MAILTO:Ok@Example.test']));
      assert.deepEqual(inv.attendees.map((a) => a.email), ['ok@example.test']);
      assert.deepEqual(inv.warnings, ['ATTENDEE "urn:uuid:0000" has no e-mail address; left out']);
    });
  });

  describe('the time zone blob', () => {
    it('lays out TIME_ZONE_INFORMATION little-endian', () => {
      const raw = Buffer.from(timezoneBlob({
        bias: 300, standardName: 'A name far longer than thirty-one characters', daylightName: 'D',
        standardDate: { month: 11, dayOfWeek: 0, week: 1, hour: 2, minute: 0 },
        daylightDate: { month: 3, dayOfWeek: 6, week: 5, hour: 23, minute: 59 }, daylightBias: -60,
      }), 'base64');
      assert.equal(raw.length, 172);
      assert.equal(raw.readInt32LE(0), 300);
      assert.equal(raw.subarray(4, 66).toString('utf16le'), 'A name far longer than thirty-o');
      assert.equal(raw.readUInt16LE(66), 0, 'the 32nd WCHAR is the NUL');
      assert.deepEqual([68, 70, 72, 74, 76, 78, 80, 82].map((o) => raw.readUInt16LE(o)), [0, 11, 0, 1, 2, 0, 0, 0]);
      assert.equal(raw.readInt32LE(84), 0);
      assert.equal(raw.subarray(88, 90).toString('utf16le'), 'D');
      assert.ok(raw.subarray(90, 152).equals(Buffer.alloc(62)));
      assert.deepEqual([152, 154, 156, 158, 160, 162, 164, 166].map((o) => raw.readUInt16LE(o)), [0, 3, 6, 5, 23, 59, 0, 0]);
      assert.equal(raw.readInt32LE(168), -60);
    });
  });

  describe('errors', () => {
    it('refuses what is too big before parsing it', () => {
      rejects('X'.repeat(MAX_ICALENDAR_BYTES + 1), /is 262145 bytes, over the limit of 262144/);
      // Counted in UTF-8 bytes, not characters.
      rejects('é'.repeat(MAX_ICALENDAR_BYTES / 2 + 1), /is 262146 bytes, over the limit/);
    });

    it('refuses unparseable text, with ical.js\'s reason', () => {
      rejects('hello', /^unparseable iCalendar: invalid line \(no token ";" or ":"\) "hello"$/);
      rejects('BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n', /^unparseable iCalendar: .*component began but did not end/);
      rejects(event(['DTSTART:20260105T090000Z', 'RRULE:FREQ=MONTHLY;BYDAY=0MO']), /^unparseable iCalendar: invalid BYDAY value "0MO"/);
      rejects(`${event(['DTSTART:20260105T090000Z'])}X-TRAILER:1\r\n`, /^unparseable iCalendar: a line outside any BEGIN\/END component$/);
      rejects(`X-LEADER:1\r\n${event(['DTSTART:20260105T090000Z'])}`, /^unparseable iCalendar: a line outside any BEGIN\/END component$/);
    });

    it('names the missing or wrong part', () => {
      rejects('', /^no VCALENDAR component$/);
      rejects('BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n', /^no VCALENDAR component$/);
      rejects('BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n', /^METHOD is missing$/);
      rejects(event(['DTSTART:20260101T000000Z'], 'PUBLISH'), /^METHOD "PUBLISH" is not REQUEST, CANCEL, REPLY or COUNTER$/);
      rejects(event(['DTSTART:20260101T000000Z'], 'DECLINECOUNTER'), /^METHOD "DECLINECOUNTER" is not/);
      rejects('BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VTODO\r\nUID:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n', /^no VEVENT component$/);
      rejects('BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n', /^VEVENT has no UID$/);
      rejects(event([]), /^REQUEST without DTSTART$/);
      rejects(event([], 'CANCEL'), /^CANCEL without DTSTART$/);
      rejects(event(['DTSTART:20261310T100000Z']), /^DTSTART: "20261310T100000Z" is not a date or date-time$/);
      rejects(event(['DTSTART:20260230']), /^DTSTART: "20260230" is not a date or date-time$/);
      rejects(event(['DTSTART:soon']), /^DTSTART: ".*" is not a date or date-time$/);
      rejects(event(['DTSTART:20260101T000000Z', 'DURATION:about an hour']), /^DURATION: invalid duration value/);
      rejects(event(['DTSTART:20260101T000000Z', 'RRULE:FREQ=DAILY;UNTIL=20270601T0359']), /^RRULE: invalid date-time value: "2027-06-01T03:59:"$/);
    });

    it('bounds attendees, components, nesting and properties', () => {
      const attendees = (n: number): string[] => Array.from({ length: n }, (_, i) => `ATTENDEE:mailto:a${i}@x.test`);
      assert.equal(parseInvitation(event(['DTSTART:20260101T000000Z', ...attendees(1000)])).attendees.length, 1000);
      rejects(event(['DTSTART:20260101T000000Z', ...attendees(1001)]), /^1001 ATTENDEE properties, over the limit of 1000$/);
      const vevent = ['BEGIN:VEVENT', 'UID:x', 'DTSTART:20260101T000000Z', 'END:VEVENT'];
      rejects(ics('BEGIN:VCALENDAR', 'METHOD:REQUEST', ...Array.from({ length: 101 }, () => vevent).flat(), 'END:VCALENDAR'), /^more than 100 VEVENT components$/);
      const vtz = ['BEGIN:VTIMEZONE', 'TZID:z', 'END:VTIMEZONE'];
      rejects(event(['DTSTART:20260101T000000Z'], 'REQUEST', Array.from({ length: 51 }, () => vtz).flat()), /^more than 50 VTIMEZONE components$/);
      rejects(event(['DTSTART:20260101T000000Z', ...Array(8).fill('BEGIN:X-NEST'), ...Array(8).fill('END:X-NEST')]), /^components nested deeper than 8$/);
      const alarms = Array.from({ length: 1000 }, () => ['BEGIN:VALARM', 'END:VALARM']).flat();
      rejects(event(['DTSTART:20260101T000000Z', ...alarms]), /^more than 1000 components$/);
      rejects(event(['DTSTART:20260101T000000Z', ...Array(20_001).fill('X-A:1')]), /^more than 20000 properties$/);
    });

    it('a deeply nested text is refused quickly, not by overflowing the stack', () => {
      const started = Date.now();
      rejects(`BEGIN:VCALENDAR\r\n${'BEGIN:X\r\n'.repeat(15_000)}${'END:X\r\n'.repeat(15_000)}END:VCALENDAR\r\n`, /nested deeper than 8/);
      assert.ok(Date.now() - started < 2000);
    });
  });

  describe('robustness', () => {
    const samples = [outlook(), GOOGLE, APPLE, event(['DTSTART;VALUE=DATE:20261224', 'RRULE:FREQ=YEARLY'])];
    /** Either an Invitation that holds together, or an InvitationError; quickly. */
    const check = (text: string): void => {
      const started = Date.now();
      let inv: Invitation | undefined;
      try {
        inv = parseInvitation(text);
      } catch (e) {
        assert.ok(e instanceof InvitationError, `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      }
      assert.ok(Date.now() - started < 2000, 'parsing took over 2 s');
      if (!inv) return;
      assert.ok(['REQUEST', 'CANCEL', 'REPLY'].includes(inv.method));
      assert.ok(inv.uid.length > 0);
      assert.ok(Number.isFinite(inv.start) && Number.isFinite(inv.end) && inv.end >= inv.start);
      assert.equal(Buffer.from(inv.timezone, 'base64').length, 172);
      for (const a of inv.attendees) assert.equal(a.email, a.email.toLowerCase());
    };

    it('arbitrary strings: an Invitation or an InvitationError', () => {
      fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), check), { seed: 4242, numRuns: 300 });
      const token = fc.constantFrom(
        'BEGIN:VCALENDAR', 'END:VCALENDAR', 'BEGIN:VEVENT', 'END:VEVENT', 'BEGIN:VTIMEZONE', 'END:VTIMEZONE', 'BEGIN:STANDARD', 'END:STANDARD',
        'METHOD:REQUEST', 'METHOD:CANCEL', 'UID:u', 'DTSTART:20260101T100000Z', 'DTSTART;TZID=X:20260101T100000', 'DTSTART;VALUE=DATE:20260101',
        'TZID:X', 'TZOFFSETTO:+0100', 'TZOFFSETFROM:+0200', 'DTSTART:16010101T030000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU',
        'RRULE:FREQ=MONTHLY;BYDAY=2TU', 'DURATION:PT1H', 'ATTENDEE;RSVP=TRUE:mailto:A@B', 'BEGIN:VALARM', 'TRIGGER:-PT5M', 'END:VALARM', ' folded', ':', ';',
      );
      fc.assert(fc.property(fc.array(token, { maxLength: 40 }), (lines) => check(lines.join('\r\n'))), { seed: 4242, numRuns: 300 });
    });

    it('mutated real invitations: lines dropped, duplicated, cut; the text truncated', () => {
      const op = fc.tuple(fc.constantFrom('drop', 'dup', 'cut', 'swap'), fc.nat(), fc.nat());
      const truncate = fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(), weight: 1 });
      fc.assert(fc.property(fc.constantFrom(...samples), fc.array(op, { maxLength: 6 }), truncate, (sample, ops, truncateAt) => {
        const lines = sample.split('\r\n');
        for (const [kind, i, j] of ops) {
          const at = i % lines.length;
          const line = lines[at]!;
          if (kind === 'drop') lines.splice(at, 1);
          else if (kind === 'dup') lines.splice(at, 0, line);
          else if (kind === 'cut') lines[at] = line.slice(0, j % (line.length + 1));
          else lines.splice(at, 1, lines[j % lines.length]!);
          if (!lines.length) lines.push('');
        }
        const text = lines.join('\r\n');
        check(truncateAt === null ? text : text.slice(0, truncateAt % (text.length + 1)));
      }), { seed: 4242, numRuns: 300 });
    });
  });

  describe('the invitations the server writes for 16.x organizers', () => {
    const base = {
      uid: 'organized-1@contoso.test', sequence: 3, start: utc('2026-12-15T10:00:00Z'), end: utc('2026-12-15T11:30:00Z'), allDay: false,
      summary: 'Roadmap; Q1, \\ review', location: 'Room 7', organizer: { email: 'alice@contoso.test', name: 'Alice Andersen' },
      attendees: [
        { email: 'bob@contoso.test', name: 'Bob Berg', type: 'required' as const },
        { email: 'room7@contoso.test', type: 'resource' as const },
        { email: 'olivia@fabrikam.test', name: 'Olivia', type: 'optional' as const },
      ],
      busyStatus: 2, sensitivity: 2, reminderMinutes: 10, responseRequested: true,
    };

    it('a REQUEST reads back as what was meant: times, people and their roles, busy status, class, reminder, sequence', () => {
      const inv = parseInvitation(composeRequest(base, 'REQUEST', 'Agenda:\n1. Plans'));
      assert.equal(inv.method, 'REQUEST');
      assert.equal(inv.uid, base.uid);
      assert.equal(inv.sequence, 3);
      assert.equal(inv.start, base.start);
      assert.equal(inv.end, base.end);
      assert.equal(inv.summary, base.summary);
      assert.equal(inv.location, 'Room 7');
      assert.equal(inv.description, 'Agenda:\n1. Plans');
      assert.deepEqual(inv.organizer, base.organizer);
      assert.deepEqual(inv.attendees, [
        { email: 'bob@contoso.test', name: 'Bob Berg', type: 'required', partstat: 'needs-action', rsvp: true },
        { email: 'room7@contoso.test', type: 'resource', partstat: 'needs-action', rsvp: true },
        { email: 'olivia@fabrikam.test', name: 'Olivia', type: 'optional', partstat: 'needs-action', rsvp: true },
      ]);
      assert.equal(inv.busyStatus, 2);
      assert.equal(inv.sensitivity, 2);
      assert.equal(inv.reminderMinutes, 10);
      assert.deepEqual(inv.warnings, []);
      for (const line of composeRequest(base, 'REQUEST', 'x'.repeat(300)).split('\r\n')) assert.ok(Buffer.byteLength(line) <= 75, 'folded at 75 octets');
    });

    it('a CANCEL says canceled and frees the time; an all-day meeting goes out as dates', () => {
      const cancel = composeRequest(base, 'CANCEL', '', [base.attendees[0]!]);
      assert.match(cancel, /^STATUS:CANCELLED\r$/m);
      assert.match(cancel, /^X-MICROSOFT-CDO-BUSYSTATUS:FREE\r$/m);
      const inv = parseInvitation(cancel);
      assert.equal(inv.method, 'CANCEL');
      assert.deepEqual(inv.attendees.map((a) => a.email), ['bob@contoso.test']);
      assert.equal(inv.reminderMinutes, undefined, 'a cancellation sets no alarm');
      const day = parseInvitation(composeRequest({ ...base, allDay: true, start: utc('2026-12-24T00:00:00Z'), end: utc('2026-12-25T00:00:00Z') }, 'REQUEST', ''));
      assert.equal(day.allDay, true);
      assert.equal(day.start, utc('2026-12-24T00:00:00Z'));
      assert.equal(day.end, utc('2026-12-25T00:00:00Z'));
    });

    it('a series in a zone with daylight saving goes out in that zone, so it stays at its local hour; read back, the same zone', () => {
      const berlin = timezoneBlob({
        bias: -60, standardName: 'W. Europe Standard Time', daylightName: 'W. Europe Daylight Time', daylightBias: -60,
        standardDate: { month: 10, dayOfWeek: 0, week: 5, hour: 3, minute: 0 }, daylightDate: { month: 3, dayOfWeek: 0, week: 5, hour: 2, minute: 0 },
      });
      const text = composeRequest({ ...base, timezone: berlin, recurrence: { type: 1, interval: 1, dayOfWeek: 4 } }, 'REQUEST', '');
      assert.match(text, /^BEGIN:VTIMEZONE\r$/m);
      assert.match(text, /^DTSTART;TZID=W\. Europe Standard Time:20261215T110000\r$/m, '10:00 UTC in December is 11:00 in Berlin');
      assert.ok(text.indexOf('BEGIN:VTIMEZONE') < text.indexOf('BEGIN:VEVENT'), 'the zone before the event');
      const inv = parseInvitation(text);
      assert.equal(inv.start, base.start);
      assert.equal(inv.end, base.end);
      assert.equal(inv.timezone, berlin, 'the same TIME_ZONE_INFORMATION comes back');
      assert.deepEqual(inv.warnings, []);
      // Without a recurrence, or in a zone without daylight saving, UTC says it all.
      assert.doesNotMatch(composeRequest({ ...base, timezone: berlin }, 'REQUEST', ''), /VTIMEZONE/);
    });

    it('a series goes out with its exceptions (EXDATE, and a VEVENT per changed occurrence) and reads back with them', () => {
      const exceptions = [
        { originalStart: utc('2026-12-22T10:00:00Z'), deleted: true },
        { originalStart: utc('2026-12-29T10:00:00Z'), deleted: false, start: utc('2026-12-30T15:00:00Z'), end: utc('2026-12-30T16:00:00Z'), summary: 'Moved', location: 'Room 2' },
      ];
      const inv = parseInvitation(composeRequest({ ...base, recurrence: { type: 1, interval: 1, dayOfWeek: 4, occurrences: 6 }, exceptions }, 'REQUEST', ''));
      assert.deepEqual(inv.exceptions, [
        { originalStart: utc('2026-12-22T10:00:00Z'), deleted: true },
        { originalStart: utc('2026-12-29T10:00:00Z'), deleted: false, start: utc('2026-12-30T15:00:00Z'), end: utc('2026-12-30T16:00:00Z'), summary: 'Moved', location: 'Room 2', busyStatus: 2 },
      ]);
      assert.deepEqual(inv.warnings, []);
      assert.doesNotMatch(composeRequest({ ...base, recurrence: { type: 1, interval: 1, dayOfWeek: 4 }, exceptions }, 'CANCEL', ''), /EXDATE|RECURRENCE-ID/, 'a cancellation of the series names none');
    });

    it('any recurrence EAS holds survives being written as an RRULE and read back', () => {
      // The start is a Tuesday, 15 December 2026: a rule without its own day takes the start's.
      const recurrence: fc.Arbitrary<EasRecurrence> = fc.oneof(
        fc.record({ type: fc.constant(0 as const), interval: fc.integer({ min: 1, max: 30 }) }),
        fc.record({ type: fc.constant(1 as const), interval: fc.integer({ min: 1, max: 8 }), dayOfWeek: fc.integer({ min: 1, max: 127 }) }),
        fc.record({ type: fc.constant(2 as const), interval: fc.integer({ min: 1, max: 12 }), dayOfMonth: fc.integer({ min: 1, max: 31 }) }),
        fc.record({ type: fc.constant(3 as const), interval: fc.integer({ min: 1, max: 12 }), dayOfWeek: fc.integer({ min: 0, max: 6 }).map((d) => 1 << d), weekOfMonth: fc.integer({ min: 1, max: 5 }) }),
        fc.record({ type: fc.constant(5 as const), interval: fc.constant(1), dayOfMonth: fc.integer({ min: 1, max: 28 }), monthOfYear: fc.integer({ min: 1, max: 12 }) }),
        fc.record({ type: fc.constant(6 as const), interval: fc.constant(1), dayOfWeek: fc.integer({ min: 0, max: 6 }).map((d) => 1 << d), weekOfMonth: fc.integer({ min: 1, max: 5 }), monthOfYear: fc.integer({ min: 1, max: 12 }) }),
      );
      const end = fc.oneof(fc.constant({}), fc.integer({ min: 1, max: 500 }).map((n) => ({ occurrences: n })),
        fc.integer({ min: 1, max: 2000 }).map((days) => ({ until: utc('2026-12-15T10:00:00Z') + days * 86_400_000 })));
      fc.assert(fc.property(recurrence, end, (r, stop) => {
        const want = { ...r, ...stop };
        const back = parseInvitation(composeRequest({ ...base, recurrence: want }, 'REQUEST', '')).recurrence;
        assert.deepEqual(back, want);
      }), { seed: 4242, numRuns: 300 });
    });
  });
});
