// The iCalendar REPLY (RFC 5546) an attendee's answer is sent as: written by ical.js, then refolded
// because ical.js's folding does not keep to RFC 5545's line limit.
import ICAL from 'ical.js';
import { clean, CONTROLS, type Component, type Property } from './ical-values.js';
import type { Invitation } from './invitation.js';

const REPLY_PREFIX = { accepted: 'Accepted: ', tentative: 'Tentative: ', declined: 'Declined: ' } as const;

/** What a reply repeats of the invitation: an Invitation, or what the server kept of one. */
export type ReplySource = Pick<Invitation, 'uid' | 'sequence' | 'start' | 'end' | 'allDay' | 'recurrenceId' | 'summary' | 'organizer'>
  & { attendees: ReadonlyArray<{ email: string; name?: string }> };

export function composeReply(inv: ReplySource, attendee: { email: string; name?: string }, partstat: 'accepted' | 'tentative' | 'declined', comment?: string): string {
  const cal = new ICAL.Component(['vcalendar', [], []]);
  cal.addPropertyWithValue('prodid', '-//easmime//EN');
  cal.addPropertyWithValue('version', '2.0');
  cal.addPropertyWithValue('method', 'REPLY');
  const ev = new ICAL.Component('vevent');
  cal.addSubcomponent(ev);
  const at = (ms: number): InstanceType<typeof ICAL.Time> => {
    const d = new Date(ms);
    return inv.allDay
      ? ICAL.Time.fromData({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), isDate: true })
      : ICAL.Time.fromJSDate(d, true);
  };
  ev.addPropertyWithValue('uid', inv.uid);
  ev.addPropertyWithValue('sequence', inv.sequence);
  ev.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(), true));
  ev.addPropertyWithValue('dtstart', at(inv.start));
  ev.addPropertyWithValue('dtend', at(inv.end));
  if (inv.recurrenceId !== undefined) ev.addPropertyWithValue('recurrence-id', at(inv.recurrenceId));
  ev.addPropertyWithValue('summary', REPLY_PREFIX[partstat] + clean(inv.summary));
  if (inv.organizer) addressProperty(ev, 'organizer', inv.organizer.email, inv.organizer.name);
  const email = attendee.email.trim().toLowerCase();
  const name = attendee.name ?? inv.attendees.find((a) => a.email === email)?.name;
  addressProperty(ev, 'attendee', email, name).setParameter('partstat', partstat.toUpperCase());
  if (comment) ev.addPropertyWithValue('comment', comment.replace(/\r\n?/g, '\n').replace(CONTROLS, ''));
  return fold(cal.toString());
}

function addressProperty(ev: Component, name: string, email: string, cn: string | undefined): Property {
  const p = ev.addPropertyWithValue(name, `mailto:${clean(email)}`);
  const n = cn === undefined ? '' : clean(cn).trim();
  if (n) p.setParameter('cn', n);
  return p;
}

/**
 * RFC 5545 3.1: lines of at most 75 octets, continuation lines starting with a space, never inside
 * a UTF-8 sequence, each line ending in CRLF. ical.js folds continuation lines at 76, so refold.
 */
function fold(text: string): string {
  return text.replace(/\r\n[ \t]/g, '').split('\r\n').map((line) => {
    let out = '';
    let octets = 0;
    for (const ch of line) {
      const n = Buffer.byteLength(ch, 'utf8');
      if (octets + n > 75) {
        out += '\r\n ';
        octets = 1;
      }
      out += ch;
      octets += n;
    }
    return out;
  }).join('\r\n') + '\r\n';
}
