// Finding the invitation in a mail: its first text/calendar part (Outlook, Google and Apple put it
// in multipart/alternative beside the text; some send it as an .ics attachment), whose text the
// ingest parse keeps, so a meeting costs no second parse of the message.
import { CALENDAR_TYPES, MAX_CALENDAR_PART_BYTES } from '../mail/mail-content.js';
import type { ParsedMessage } from '../mail/types.js';
import { InvitationError, parseInvitation, type Invitation } from './invitation.js';

export type MailMeeting =
  | { invitation: Invitation }
  | { error: string };

/** The meeting a parsed mail carries; undefined when it carries none (or the server cannot read it: encrypted, opaque-signed). */
export function meetingOf(parsed: ParsedMessage): MailMeeting | undefined {
  if (!parsed.attachments.some((a) => CALENDAR_TYPES.has(a.contentType))) return undefined;
  if (parsed.calendar === undefined) return { error: `the calendar part is larger than ${MAX_CALENDAR_PART_BYTES} bytes` };
  try {
    return { invitation: parseInvitation(parsed.calendar) };
  } catch (e) {
    if (e instanceof InvitationError) return { error: e.message };
    throw e;
  }
}

/**
 * Exchange's message class for a meeting message: a reply's or counter-proposal's by the answer of
 * the attendee who sent it (`from`, the mail's From addresses; the mail flow reads no reply from
 * anyone else).
 */
export function meetingMessageClass(inv: Invitation, from: readonly string[]): string {
  if (inv.method === 'REQUEST') return 'IPM.Schedule.Meeting.Request';
  if (inv.method === 'CANCEL') return 'IPM.Schedule.Meeting.Canceled';
  const answer = inv.attendees.find((a) => from.includes(a.email))?.partstat;
  if (answer === 'accepted') return 'IPM.Schedule.Meeting.Resp.Pos';
  if (answer === 'declined') return 'IPM.Schedule.Meeting.Resp.Neg';
  return 'IPM.Schedule.Meeting.Resp.Tent';
}
