// What SendMail, SmartReply and SmartForward need from the mail service: one call that sends a
// message the device composed, and an outcome the command turns into a status (14.0+) or an HTTP
// code (2.5/12.x).
import type { Principal } from '../backend.js';

export type SubmissionCommand = 'SendMail' | 'SmartReply' | 'SmartForward';

/** The message a reply or forward is about. */
export interface SourceItem {
  itemId: number;
  /** When given (ItemId with FolderId, or the 12.x CollectionId), the item must be in this folder. A LongId names none: it outlives moves. */
  folderId?: number;
}

export interface SubmitRequest {
  command: SubmissionCommand;
  /** The RFC 5322 message the client sent. */
  mime: Buffer;
  /** 14.0+: the client's id for this message; a repeat within the remembered window is not sent again. */
  clientId?: string;
  saveInSent: boolean;
  /** SmartReply/SmartForward: the client's MIME is the whole message; do not add the original. */
  replaceMime: boolean;
  /** SmartReply/SmartForward only. */
  source?: SourceItem;
}

/** Why sending a finished message failed: shared by SendMail and friends and by 16.x draft Send. */
export type SendFailure =
  | 'no-recipients'
  | 'too-large'
  | 'invalid-mime'
  /** A recipient in the organisation's own domain does not exist. */
  | 'recipient-unresolved'
  /** The S/MIME gateway refused the message. */
  | 'refused'
  | 'too-many-recipients'
  /** The smarthost refused it, or storing failed. */
  | 'submission-failed';

export type SubmitFailure =
  /** The ClientId was used recently by this user (MessagePreviouslySent). */
  | 'duplicate-client-id'
  /** The source item of a reply or forward does not exist (or is not in the named folder). */
  | 'source-not-found'
  | SendFailure;

export type SubmitOutcome =
  | { kind: 'sent'; messageId?: string }
  | { kind: 'failed'; failure: SubmitFailure; reason: string };

export interface SubmissionPort {
  submit(p: Principal, request: SubmitRequest): Promise<SubmitOutcome>;
}
