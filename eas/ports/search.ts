// What Search (Mailbox and GAL stores), Find and Ping need from the mail service beyond CoreBackend:
// a bounded query over the user's own mail, a look-up in the directory, and a message count for a
// folder a device never synced.
import type { Principal } from '../backend.js';

/** Text properties a FreeText term or a KQL "field:value" term can be limited to. */
export type TextField = 'subject' | 'from' | 'to' | 'cc' | 'body' | 'attachment';

/** Properties an EqualTo can compare. Text is compared case-insensitively; address fields also match one address of the list. */
export type EqualField = 'subject' | 'from' | 'to' | 'cc' | 'displayTo' | 'threadTopic' | 'messageClass' | 'read' | 'importance' | 'dateReceived';

export type MailCondition =
  | { kind: 'all' }
  | { kind: 'none' }
  | { kind: 'and'; all: MailCondition[] }
  | { kind: 'or'; any: MailCondition[] }
  /** Every term occurs (case-insensitively, as a substring) in the field, or in any text field. */
  | { kind: 'text'; terms: string[]; field?: TextField }
  | { kind: 'equals'; field: EqualField; value: string }
  /** Strictly after / strictly before. */
  | { kind: 'received'; after?: Date; before?: Date }
  /** Messages of one conversation (Email2:ConversationId). */
  | { kind: 'conversation'; id: Buffer };

export interface MailSearchRequest {
  /** Folders to search (the user's own, checked); undefined = every mail folder but Deleted Items and Junk Email. */
  folderIds?: number[];
  /** Include the subfolders of `folderIds`. */
  deep: boolean;
  where: MailCondition;
  /** Zero-based, inclusive: the hits to return (all matches are counted for the total). */
  start: number;
  end: number;
}

export interface MailHit {
  id: number;
  folderId: number;
  /** Display names of the Cc recipients, "; "-separated (addresses where there is no name). */
  displayCc: string;
  /** Display names of the Bcc recipients, like displayCc: only drafts and Sent Items copies keep any. */
  displayBcc: string;
  /** The message sits in a Drafts folder. */
  isDraft: boolean;
  /** At least one attachment that is not inline. */
  hasAttachments: boolean;
}

export type MailSearchOutcome =
  /** Hits newest first. */
  | { kind: 'ok'; total: number; hits: MailHit[] }
  /** A folder to search is not one of the user's (or no longer exists). */
  | { kind: 'no-folder'; folderId: number }
  /** The scan ran past the service's time limit (a setting of the service, not of the request). */
  | { kind: 'timed-out'; limitMs: number }
  /** The client went away or the server is stopping. */
  | { kind: 'aborted' };

export interface DirectoryEntry {
  kind: 'user' | 'group' | 'contact';
  displayName: string;
  emailAddress: string;
  alias?: string;
  company?: string;
}

export interface DirectoryPage {
  /** Every match, not only the page. */
  total: number;
  entries: DirectoryEntry[];
}

export interface SearchPort {
  searchMail(p: Principal, request: MailSearchRequest, signal: AbortSignal): Promise<MailSearchOutcome>;

  /**
   * Users, groups and external contacts whose display name (or a word of it), alias or address starts
   * with `query`, case-insensitively; ordered by display name. `start`/`end` are zero-based, inclusive.
   */
  searchDirectory(p: Principal, query: string, start: number, end: number): DirectoryPage;

  /** Messages in one of the user's folders; undefined when it is not the user's folder. */
  countMessages(p: Principal, folderId: number): number | undefined;
}
