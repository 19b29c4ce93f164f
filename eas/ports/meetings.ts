// What MeetingResponse needs: the answer to an invitation recorded on the user's calendar and,
// when the client asks the server to (16.x SendResponse), sent to the organizer.
import type { Principal } from '../backend.js';

export type MeetingAnswer = 'accepted' | 'tentative' | 'declined';

export interface MeetingResponseRequest {
  answer: MeetingAnswer;
  /** The invitation mail, or (14.1+) the calendar item, being answered. */
  folderId: number;
  itemId: number;
  /**
   * 16.x SendResponse: the server sends the answer to the organizer, with this text and (16.1) a new
   * time proposed, whose end defaults to the meeting's length. Absent: the client sends it, or no one does.
   */
  sendResponse?: { text: string; proposal?: { start: number; end?: number } };
  /** One occurrence of a series calendar item (InstanceId), by its original start; absent: the whole meeting. */
  instance?: number;
}

export type MeetingResponseOutcome =
  | { kind: 'answered'; calendarItem?: { folderId: number; itemId: number } }
  /** Not an invitation this user can answer (MeetingResponse Status 2). */
  | { kind: 'invalid'; reason: string }
  /** The mailbox could not record it now (Status 3: the client may retry). */
  | { kind: 'mailbox-error'; reason: string }
  /** Recorded, but the answer could not be sent to the organizer (Status 4: the client may retry, which records it again and sends). */
  | { kind: 'send-failed'; reason: string };

export interface MeetingPort {
  respond(p: Principal, req: MeetingResponseRequest): Promise<MeetingResponseOutcome>;
}
