// Attendees' answers on an organizer's calendar item (server/meetings/calendar.ts): a reply sets
// the attendee's status, a counter-proposal adds the time proposed (unless the item disallows
// proposals; without an answer it keeps the earlier one), an answer about one occurrence goes on
// that occurrence's own Attendees, bounded by MS-ASCAL's 256 Exceptions.
import { strict as assert } from 'node:assert';
import { withAttendeeAnswer, withOccurrenceAttendeeAnswer, type AttendeeAnswer } from '../../server/meetings/calendar.js';
import { decodePimData, encodePimData } from '../../eas/pim/items.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const CAL = ns('Calendar');
const HOUR = 3_600_000;
const MONDAY = Date.parse('2031-01-06T09:00:00Z');
const PROPOSAL = { start: Date.parse('2031-01-06T14:00:00Z'), end: Date.parse('2031-01-06T15:00:00Z') };

function organizerItem(extra: WbxmlElement[] = [], exceptions = 0): Buffer {
  const attendee = (email: string, status?: number) => CAL('Attendee', CAL('Email', email), CAL('Name', email), status !== undefined && CAL('AttendeeStatus', status), CAL('AttendeeType', 1));
  return encodePimData('Calendar', A('ApplicationData',
    CAL('Subject', 'Standup'), CAL('StartTime', '20310106T090000Z'), CAL('EndTime', '20310106T100000Z'), CAL('MeetingStatus', 1),
    CAL('Attendees', attendee('bob@contoso.test', 3), attendee('carol@contoso.test')),
    CAL('Recurrence', CAL('Type', 0), CAL('Interval', 1)),
    exceptions > 0 && CAL('Exceptions', Array.from({ length: exceptions }, (_, i) => CAL('Exception', CAL('Deleted', 1),
      CAL('ExceptionStartTime', new Date(MONDAY + (i + 1) * 24 * HOUR).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''))))),
    ...extra)).content;
}

function recorded(r: AttendeeAnswer): WbxmlElement {
  assert.equal(r.kind, 'recorded');
  return decodePimData((r as Extract<AttendeeAnswer, { kind: 'recorded' }>).item.content);
}

const entry = (list: WbxmlElement | undefined, email: string) => childrenOf(list, 'Calendar:Attendee').find((a) => childText(a, 'Calendar:Email') === email);

describe('attendees\' answers on the organizer\'s item', () => {
  it('a reply sets the status in schema order; a counter-proposal adds the time; a later reply withdraws it', () => {
    const countered = recorded(withAttendeeAnswer(organizerItem(), { email: 'carol@contoso.test' }, 'tentative', PROPOSAL));
    const carol = entry(child(countered, 'Calendar:Attendees'), 'carol@contoso.test')!;
    assert.deepEqual(carol.children.map((c) => [c.tag, c.text]), [
      ['Calendar:Email', 'carol@contoso.test'], ['Calendar:Name', 'carol@contoso.test'], ['Calendar:AttendeeStatus', '2'], ['Calendar:AttendeeType', '1'],
      ['MeetingResponse:ProposedStartTime', '20310106T140000Z'], ['MeetingResponse:ProposedEndTime', '20310106T150000Z'],
    ]);
    const again = recorded(withAttendeeAnswer(encodePimData('Calendar', countered).content, { email: 'carol@contoso.test' }, 'accepted'));
    assert.deepEqual(entry(child(again, 'Calendar:Attendees'), 'carol@contoso.test')!.children.map((c) => c.tag),
      ['Calendar:Email', 'Calendar:Name', 'Calendar:AttendeeStatus', 'Calendar:AttendeeType']);
    assert.equal(withAttendeeAnswer(organizerItem(), { email: 'mallory@fabrikam.test' }, 'accepted').kind, 'not-an-attendee');
  });

  it('a counter-proposal without an answer keeps the earlier one; an item that disallows proposals takes the answer alone', () => {
    const bob = entry(child(recorded(withAttendeeAnswer(organizerItem(), { email: 'bob@contoso.test' }, 'needs-action', PROPOSAL)), 'Calendar:Attendees'), 'bob@contoso.test');
    assert.equal(childText(bob, 'Calendar:AttendeeStatus'), '3', 'bob had accepted');
    assert.equal(childText(bob, 'MeetingResponse:ProposedStartTime'), '20310106T140000Z');
    const closed = withAttendeeAnswer(organizerItem([CAL('DisallowNewTimeProposal', 1)]), { email: 'carol@contoso.test' }, 'declined', PROPOSAL);
    assert.equal(closed.kind === 'recorded' && closed.proposal, false);
    const carol = entry(child(recorded(closed), 'Calendar:Attendees'), 'carol@contoso.test');
    assert.equal(childText(carol, 'Calendar:AttendeeStatus'), '4');
    assert.equal(child(carol, 'MeetingResponse:ProposedStartTime'), undefined);
  });

  it('an answer about one occurrence goes on that occurrence\'s own list; the series keeps its answers', () => {
    const tuesday = MONDAY + 24 * HOUR;
    const data = recorded(withOccurrenceAttendeeAnswer(organizerItem(), tuesday, HOUR, { email: 'bob@contoso.test' }, 'declined'));
    assert.equal(childText(entry(child(data, 'Calendar:Attendees'), 'bob@contoso.test'), 'Calendar:AttendeeStatus'), '3');
    const [exception] = childrenOf(child(data, 'Calendar:Exceptions'), 'Calendar:Exception');
    assert.equal(childText(exception, 'Calendar:ExceptionStartTime'), '20310107T090000Z');
    assert.equal(childText(exception, 'Calendar:StartTime'), '20310107T090000Z');
    const own = child(exception, 'Calendar:Attendees');
    assert.equal(childText(entry(own, 'bob@contoso.test'), 'Calendar:AttendeeStatus'), '4');
    assert.ok(entry(own, 'carol@contoso.test'), 'the whole list, as MS-ASCAL has an exception\'s Attendees replace the series\'');
  });

  it('the series\' own answer makes no exception; mail puts no one back on an occurrence\'s own list; 256 exceptions are the most', () => {
    assert.equal(withOccurrenceAttendeeAnswer(organizerItem(), MONDAY + 24 * HOUR, HOUR, { email: 'bob@contoso.test' }, 'accepted').kind, 'unchanged');
    const copied = recorded(withOccurrenceAttendeeAnswer(organizerItem(), MONDAY + 24 * HOUR, HOUR, { email: 'bob@contoso.test' }, 'declined'));
    // Carol is taken off that occurrence's own list (as an organizer's device may), but stays on the series.
    const own = child(childrenOf(child(copied, 'Calendar:Exceptions'), 'Calendar:Exception')[0], 'Calendar:Attendees')!;
    own.children = own.children.filter((a) => childText(a, 'Calendar:Email') !== 'carol@contoso.test');
    const again = withOccurrenceAttendeeAnswer(encodePimData('Calendar', copied).content, MONDAY + 24 * HOUR, HOUR, { email: 'carol@contoso.test' }, 'accepted');
    assert.equal(again.kind, 'not-an-attendee');
    // A counter-proposal without an answer, to an item that disallows proposals, changes no answer either.
    const closed = organizerItem([CAL('DisallowNewTimeProposal', 1)]);
    const bob = entry(child(recorded(withAttendeeAnswer(closed, { email: 'bob@contoso.test' }, 'needs-action', PROPOSAL)), 'Calendar:Attendees'), 'bob@contoso.test');
    assert.equal(childText(bob, 'Calendar:AttendeeStatus'), '3');
    assert.equal(child(bob, 'MeetingResponse:ProposedStartTime'), undefined);

    const full = organizerItem([], 256);
    assert.equal(withOccurrenceAttendeeAnswer(full, MONDAY + 300 * 24 * HOUR, HOUR, { email: 'carol@contoso.test' }, 'declined').kind, 'too-many-exceptions');
    assert.equal(withOccurrenceAttendeeAnswer(organizerItem([], 255), MONDAY + 300 * 24 * HOUR, HOUR, { email: 'carol@contoso.test' }, 'declined').kind, 'recorded');
  });
});
