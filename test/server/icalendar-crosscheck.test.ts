// The meeting code reads and writes iCalendar with ical.js; here Python's icalendar package (Debian
// python3-icalendar), an independent implementation, reads the same texts: invitations as Outlook,
// Google and Apple write them must give the same UTC times, people and identity, and what the server
// writes (REQUEST, CANCEL, REPLY) must say to it what the server meant. Without the package the
// suite is skipped locally and fails in CI (.ci/run installs it).
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseInvitation } from '../../server/meetings/invitation.js';
import { composeCounter, composeReply, composeRequest } from '../../server/meetings/outgoing.js';
import type { EasRecurrence } from '../../server/meetings/recurrence.js';
import { timezoneBlob } from '../../server/meetings/timezone.js';
import { PROJECT_ROOT } from '../support/server-process.js';

/** Debian's interpreter: the package is installed for it, not for any other python3 on the PATH. */
const PYTHON = '/usr/bin/python3';
const READER = path.join(PROJECT_ROOT, 'test', 'support', 'icalendar-read.py');

function available(): boolean {
  return spawnSync(PYTHON, ['-c', 'import icalendar'], { stdio: 'ignore' }).status === 0;
}

interface Read {
  method: string; uid: string; sequence: number; start: string; end: string | null; summary: string; location: string;
  organizer: string | null; attendees: Array<[string, string, string]>; rrule: Record<string, string[]> | null;
}

function pythonReads(ics: string): Read {
  return JSON.parse(execFileSync(PYTHON, [READER], { input: ics, encoding: 'utf8' })) as Read;
}

const lines = (...l: string[]): string => l.join('\r\n') + '\r\n';
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

const OUTLOOK_ZONE = [
  'BEGIN:VTIMEZONE', 'TZID:W. Europe Standard Time',
  'BEGIN:STANDARD', 'DTSTART:16010101T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10', 'END:STANDARD',
  'BEGIN:DAYLIGHT', 'DTSTART:16010101T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3', 'END:DAYLIGHT',
  'END:VTIMEZONE',
];
const SYDNEY_ZONE = [
  'BEGIN:VTIMEZONE', 'TZID:Australia/Sydney', 'X-LIC-LOCATION:Australia/Sydney',
  'BEGIN:STANDARD', 'TZOFFSETFROM:+1100', 'TZOFFSETTO:+1000', 'TZNAME:AEST', 'DTSTART:19700405T030000', 'RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU', 'END:STANDARD',
  'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+1000', 'TZOFFSETTO:+1100', 'TZNAME:AEDT', 'DTSTART:19701004T020000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU', 'END:DAYLIGHT',
  'END:VTIMEZONE',
];
const LONDON_ZONE = [
  'BEGIN:VTIMEZONE', 'TZID:Europe/London', 'X-LIC-LOCATION:Europe/London',
  'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+0000', 'TZOFFSETTO:+0100', 'TZNAME:BST', 'DTSTART:19700329T010000', 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT',
  'BEGIN:STANDARD', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0000', 'TZNAME:GMT', 'DTSTART:19701025T020000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD',
  'END:VTIMEZONE',
];

function invitation(zone: string[], tzid: string | undefined, start: string, end: string, extra: string[] = []): string {
  const at = (name: string, value: string): string => (tzid ? `${name};TZID=${tzid}:${value}` : `${name}:${value}`);
  return lines('BEGIN:VCALENDAR', 'METHOD:REQUEST', 'PRODID:-//test//EN', 'VERSION:2.0', ...zone, 'BEGIN:VEVENT',
    'ORGANIZER;CN=Olivia:mailto:Olivia@Fabrikam.test', 'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Bob:mailto:bob@contoso.test',
    'ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:carol@contoso.test',
    `UID:x-${start}-${tzid ?? 'utc'}`, 'SEQUENCE:4', 'DTSTAMP:20261128T120000Z', 'SUMMARY:Review\\, with comma', 'LOCATION:Room 1',
    at('DTSTART', start), at('DTEND', end), ...extra, 'END:VEVENT', 'END:VCALENDAR');
}

describe('iCalendar against an independent implementation (Python icalendar)', function () {
  this.timeout(60_000);
  before(function () {
    if (!available()) {
      if (process.env.CI) throw new Error(`${PYTHON} cannot import icalendar: apt-get install python3-icalendar`);
      this.skip();
    }
  });

  const samples: Array<[string, string]> = [
    ['Outlook, standard time', invitation(OUTLOOK_ZONE, 'W. Europe Standard Time', '20261203T100000', '20261203T113000')],
    ['Outlook, summer time', invitation(OUTLOOK_ZONE, 'W. Europe Standard Time', '20260715T100000', '20260715T110000')],
    ['Outlook, the night clocks go back', invitation(OUTLOOK_ZONE, 'W. Europe Standard Time', '20261025T013000', '20261025T043000')],
    ['Google, London in summer', invitation(LONDON_ZONE, 'Europe/London', '20260601T090000', '20260601T093000')],
    ['Apple, Sydney (daylight time in December)', invitation(SYDNEY_ZONE, 'Australia/Sydney', '20261210T090000', '20261210T100000')],
    ['an IANA TZID with no VTIMEZONE', invitation([], 'America/New_York', '20261110T150000', '20261110T160000')],
    ['UTC times', invitation([], undefined, '20261201T080000Z', '20261201T090000Z')],
    ['an all-day event', lines('BEGIN:VCALENDAR', 'METHOD:REQUEST', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:all-day-1', 'DTSTAMP:20261128T120000Z',
      'DTSTART;VALUE=DATE:20261224', 'DTEND;VALUE=DATE:20261226', 'SUMMARY:Holidays', 'ORGANIZER:mailto:o@fabrikam.test',
      'ATTENDEE;PARTSTAT=TENTATIVE:mailto:bob@contoso.test', 'END:VEVENT', 'END:VCALENDAR')],
  ];

  for (const [name, text] of samples) {
    it(`reads ${name} as Python does`, () => {
      const ours = parseInvitation(text);
      const theirs = pythonReads(text);
      assert.equal(ours.method, theirs.method);
      assert.equal(ours.uid, theirs.uid);
      assert.equal(ours.sequence, theirs.sequence);
      assert.equal(ours.summary, theirs.summary);
      assert.equal(ours.location, theirs.location);
      assert.equal(ours.organizer?.email, theirs.organizer);
      assert.deepEqual(ours.attendees.map((a) => [a.email, a.partstat.toUpperCase()]), theirs.attendees.map(([e, p]) => [e, p || 'NEEDS-ACTION']));
      if (ours.allDay) {
        assert.equal(new Date(ours.start).toISOString().slice(0, 10), theirs.start);
        assert.equal(new Date(ours.end).toISOString().slice(0, 10), theirs.end);
      } else {
        assert.equal(iso(ours.start), theirs.start, 'start in UTC');
        assert.equal(iso(ours.end), theirs.end, 'end in UTC');
      }
    });
  }

  const meeting = {
    uid: 'organized-7@contoso.test', sequence: 2, start: Date.parse('2026-12-15T10:00:00Z'), end: Date.parse('2026-12-15T11:30:00Z'), allDay: false,
    summary: 'Roadmap; Q1, review', location: 'Room 7', organizer: { email: 'alice@contoso.test', name: 'Alice Andersen' },
    attendees: [{ email: 'bob@contoso.test', name: 'Bob Berg', type: 'required' as const }, { email: 'olivia@fabrikam.test', type: 'optional' as const }],
    busyStatus: 2, sensitivity: 0, reminderMinutes: 15, responseRequested: true,
  };

  const rules: Array<[EasRecurrence, Record<string, string[]>]> = [
    [{ type: 0, interval: 2, occurrences: 10 }, { FREQ: ['DAILY'], INTERVAL: ['2'], COUNT: ['10'] }],
    [{ type: 1, interval: 1, dayOfWeek: 2 | 8 | 32 }, { FREQ: ['WEEKLY'], BYDAY: ['MO', 'WE', 'FR'] }],
    [{ type: 2, interval: 3, dayOfMonth: 15, until: Date.parse('2027-12-31T23:59:59Z') }, { FREQ: ['MONTHLY'], INTERVAL: ['3'], BYMONTHDAY: ['15'], UNTIL: ['20271231T235959Z'] }],
    [{ type: 3, interval: 1, dayOfWeek: 4, weekOfMonth: 5 }, { FREQ: ['MONTHLY'], BYDAY: ['-1TU'] }],
    [{ type: 6, interval: 1, dayOfWeek: 2, weekOfMonth: 2, monthOfYear: 3 }, { FREQ: ['YEARLY'], BYMONTH: ['3'], BYDAY: ['2MO'] }],
  ];
  for (const [recurrence, expected] of rules) {
    it(`writes a REQUEST Python reads as meant, recurring ${JSON.stringify(expected)}`, () => {
      const theirs = pythonReads(composeRequest({ ...meeting, recurrence }, 'REQUEST', 'Agenda'));
      assert.equal(theirs.method, 'REQUEST');
      assert.equal(theirs.uid, meeting.uid);
      assert.equal(theirs.sequence, 2);
      assert.equal(theirs.start, '2026-12-15T10:00:00Z');
      assert.equal(theirs.end, '2026-12-15T11:30:00Z');
      assert.equal(theirs.summary, meeting.summary);
      assert.equal(theirs.location, 'Room 7');
      assert.equal(theirs.organizer, 'alice@contoso.test');
      assert.deepEqual(theirs.attendees, [['bob@contoso.test', 'NEEDS-ACTION', 'REQ-PARTICIPANT'], ['olivia@fabrikam.test', 'NEEDS-ACTION', 'OPT-PARTICIPANT']]);
      assert.deepEqual(theirs.rrule, expected);
    });
  }

  it('writes a series in its own zone (VTIMEZONE from TIME_ZONE_INFORMATION) that Python places at the same instants', () => {
    const sydney = timezoneBlob({
      bias: -600, standardName: 'AUS Eastern Standard Time', daylightName: 'AUS Eastern Daylight Time', daylightBias: -60,
      standardDate: { month: 4, dayOfWeek: 0, week: 1, hour: 3, minute: 0 }, daylightDate: { month: 10, dayOfWeek: 0, week: 1, hour: 2, minute: 0 },
    });
    const theirs = pythonReads(composeRequest({ ...meeting, timezone: sydney, recurrence: { type: 1, interval: 1, dayOfWeek: 4 } }, 'REQUEST', ''));
    assert.equal(theirs.start, '2026-12-15T10:00:00Z');
    assert.equal(theirs.end, '2026-12-15T11:30:00Z');
    assert.deepEqual(theirs.rrule, { FREQ: ['WEEKLY'], BYDAY: ['TU'] });
  });

  it('writes a CANCEL and a REPLY Python reads as meant', () => {
    const cancel = pythonReads(composeRequest({ ...meeting, sequence: 3 }, 'CANCEL', '', [meeting.attendees[1]!]));
    assert.equal(cancel.method, 'CANCEL');
    assert.equal(cancel.sequence, 3);
    assert.deepEqual(cancel.attendees.map(([e]) => e), ['olivia@fabrikam.test']);
    const reply = pythonReads(composeReply(meeting, { email: 'Bob@Contoso.test', name: 'Bob Berg' }, 'declined', 'Away that week'));
    assert.equal(reply.method, 'REPLY');
    assert.equal(reply.uid, meeting.uid);
    assert.equal(reply.summary, 'Declined: Roadmap; Q1, review');
    assert.deepEqual(reply.attendees, [['bob@contoso.test', 'DECLINED', '']]);
    assert.equal(reply.organizer, 'alice@contoso.test');
  });

  it('writes a COUNTER Python reads as the proposed time, from the attendee, to the organizer', () => {
    const counter = pythonReads(composeCounter(meeting, { email: 'bob@contoso.test' }, 'tentative',
      { start: Date.parse('2026-12-16T14:00:00Z'), end: Date.parse('2026-12-16T15:30:00Z') }, 'Afternoon?'));
    assert.equal(counter.method, 'COUNTER');
    assert.equal(counter.uid, meeting.uid);
    assert.equal(counter.start, '2026-12-16T14:00:00Z');
    assert.equal(counter.end, '2026-12-16T15:30:00Z');
    assert.deepEqual(counter.attendees, [['bob@contoso.test', 'TENTATIVE', '']]);
    assert.equal(counter.organizer, 'alice@contoso.test');
  });
});
