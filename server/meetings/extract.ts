// Finding the invitation in a mail: its first text/calendar part (Outlook, Google and Apple put it
// in multipart/alternative beside the text; some send it as an .ics attachment). Only mail that has
// such a part is parsed a second time, so ordinary mail costs nothing more.
import type { ParsedMessage } from '../mail/types.js';
import { reparseStored } from '../mail/reparse.js';
import { InvitationError, MAX_ICALENDAR_BYTES, parseInvitation, type Invitation } from './invitation.js';

const CALENDAR_TYPES = new Set(['text/calendar', 'application/ics']);

export type MailMeeting =
  | { invitation: Invitation }
  | { error: string };

/** The meeting a parsed mail carries; undefined when it carries none (or the server cannot read it: encrypted, opaque-signed). */
export async function meetingOf(raw: Buffer, parsed: ParsedMessage): Promise<MailMeeting | undefined> {
  if (!parsed.attachments.some((a) => CALENDAR_TYPES.has(a.contentType))) return undefined;
  let mail;
  try {
    mail = await reparseStored(raw);
  } catch (e) {
    return { error: `the message could not be read again for its calendar part: ${e instanceof Error ? e.message : String(e)}` };
  }
  const part = mail.attachments.find((a) => CALENDAR_TYPES.has(a.contentType.toLowerCase()));
  if (!part) return { error: 'the calendar part was not found when the message was read again' };
  if (part.content.length > MAX_ICALENDAR_BYTES) return { error: `the calendar part takes ${part.content.length} bytes, more than ${MAX_ICALENDAR_BYTES}` };
  try {
    return { invitation: parseInvitation(part.content.toString('utf8')) };
  } catch (e) {
    if (e instanceof InvitationError) return { error: e.message };
    throw e;
  }
}

/** Exchange's message class for a meeting message (a reply's by the attendee's answer). */
export function meetingMessageClass(inv: Invitation): string {
  if (inv.method === 'REQUEST') return 'IPM.Schedule.Meeting.Request';
  if (inv.method === 'CANCEL') return 'IPM.Schedule.Meeting.Canceled';
  const answer = inv.attendees[0]?.partstat;
  if (answer === 'accepted') return 'IPM.Schedule.Meeting.Resp.Pos';
  if (answer === 'declined') return 'IPM.Schedule.Meeting.Resp.Neg';
  return 'IPM.Schedule.Meeting.Resp.Tent';
}
