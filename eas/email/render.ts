// An email as the ApplicationData of a Sync Add/Fetch or an ItemOperations Fetch, in the form of the
// client's protocol version (MS-ASEMAIL, MS-ASAIRS).
import type { EmailItem, EmailMeeting } from '../backend.js';
import { ns } from '../wbxml/ns.js';
import type { WbxmlElement } from '../wbxml/tree.js';
import { V120, V140, V141, V160, V161 } from '../version.js';
import type { BodyPreference, ItemOptions } from './options.js';
import { compactDate, recurrenceElements } from '../pim/items.js';
import { escapeHtml } from './html.js';

const E = ns('Email');
const E2 = ns('Email2');
const B = ns('AirSyncBase');
const T = ns('Tasks');
const MR = ns('MeetingResponse');

export function easDate(d: Date | number): string {
  return new Date(d).toISOString();
}

const SMIME_CLASSES = new Set(['ipm.note.smime', 'ipm.note.smime.multipartsigned']);
export const isSmimeClass = (messageClass: string): boolean => SMIME_CLASSES.has(messageClass.toLowerCase());

/** Cuts UTF-8 text to at most `bytes` bytes without splitting a character. */
export function truncateUtf8(text: string, bytes: number): { text: string; truncated: boolean } {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return { text, truncated: false };
  let end = bytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return { text: buf.toString('utf8', 0, end), truncated: true };
}

/**
 * MIME travels as an inline string, which must be UTF-8 without NUL. A message that is valid UTF-8
 * goes out byte for byte; anything else is read as Latin-1 so that no byte is silently dropped.
 */
export function mimeText(raw: Buffer): string {
  const asUtf8 = raw.toString('utf8');
  const roundTrips = Buffer.byteLength(asUtf8, 'utf8') === raw.length && !asUtf8.includes('\uFFFD');
  const text = roundTrips ? asUtf8 : raw.toString('latin1');
  return text.includes('\0') ? text.replace(/\0/g, '') : text;
}

export interface RenderInput {
  item: EmailItem;
  options: ItemOptions;
  version: number;
  /** Reads the raw message only when a MIME body is asked for. */
  raw: () => Buffer | undefined;
}

/** Which body to send: MIME when the client asked for it, else the richest type it accepts. */
function chooseBody(item: EmailItem, options: ItemOptions): { type: number; pref?: BodyPreference } {
  const prefs = options.bodyPreferences;
  const mimePref = prefs.find((p) => p.type === 4);
  if (mimePref) {
    const mimeWanted = options.mimeSupport === 2 || (options.mimeSupport === 1 && isSmimeClass(item.messageClass));
    // A client that names only MIME gets it whatever MIMESupport says: there is nothing else it accepts.
    if (mimeWanted || prefs.every((p) => p.type === 4)) return { type: 4, pref: mimePref };
  }
  const html = prefs.find((p) => p.type === 2);
  const text = prefs.find((p) => p.type === 1);
  if (html && item.html !== undefined) return { type: 2, pref: html };
  if (text) return { type: 1, pref: text };
  if (html) return { type: 2, pref: html };
  return { type: 1 };
}

function bodyContent(item: EmailItem, type: number, raw: () => Buffer | undefined): string {
  if (type === 4) return mimeText(raw() ?? Buffer.alloc(0));
  if (type === 2) return item.html ?? `<html><body><pre>${escapeHtml(item.text)}</pre></body></html>`;
  return item.text;
}

function airSyncBaseBody(input: RenderInput): WbxmlElement[] {
  const { item, options, version } = input;
  const { type, pref } = chooseBody(item, options);
  const full = bodyContent(item, type, input.raw);
  let limit = pref?.truncationSize;
  if (type === 4 && limit === undefined) limit = options.mimeTruncation;
  const preview = version >= V140 && pref?.preview !== undefined && pref.preview > 0 ? item.preview.slice(0, pref.preview) : undefined;
  return [bodyElement(type, full, limit, pref?.allOrNone === true, preview)];
}

/**
 * MS-ASAIRS Body: the content cut to `limit` bytes (its full size and whether it was cut said), no
 * Data when cut under AllOrNone, and the Preview when one was asked for.
 */
export function bodyElement(type: number, full: string, limit: number | undefined, allOrNone: boolean, preview: string | undefined): WbxmlElement {
  const cut = limit === undefined ? { text: full, truncated: false } : truncateUtf8(full, limit);
  return B('Body',
    B('Type', type),
    B('EstimatedDataSize', Buffer.byteLength(full, 'utf8')),
    B('Truncated', cut.truncated ? 1 : 0),
    !(cut.truncated && allOrNone) && B('Data', cut.text),
    preview !== undefined && B('Preview', preview));
}

/** 2.5 bodies: Email:Body/BodyTruncated, or Email:MIMEData for MIME. */
function legacyBody(input: RenderInput): WbxmlElement[] {
  const { item, options } = input;
  const mime = options.mimeSupport === 2 || (options.mimeSupport === 1 && isSmimeClass(item.messageClass));
  if (mime) {
    const full = mimeText(input.raw() ?? Buffer.alloc(0));
    const cut = options.mimeTruncation === undefined ? { text: full, truncated: false } : truncateUtf8(full, options.mimeTruncation);
    return [E('MIMETruncated', cut.truncated ? 1 : 0), E('MIMESize', Buffer.byteLength(full, 'utf8')), E('MIMEData', cut.text)];
  }
  const limit = options.legacyTruncation;
  const cut = limit === undefined ? { text: item.text, truncated: false } : truncateUtf8(item.text, limit);
  const out = [E('BodyTruncated', cut.truncated ? 1 : 0)];
  if (cut.truncated) out.push(E('BodySize', Buffer.byteLength(item.text, 'utf8')));
  if (cut.text.length > 0) out.push(E('Body', cut.text));
  return out;
}

export function renderFlag(item: EmailItem): WbxmlElement {
  const f = item.flag;
  if (f.status === 0) return E('Flag');
  return E('Flag',
    E('Status', f.status),
    f.type !== undefined && E('FlagType', f.type),
    f.startDate !== undefined && [T('StartDate', easDate(f.startDate)), T('UtcStartDate', easDate(f.startDate))],
    f.dueDate !== undefined && [T('DueDate', easDate(f.dueDate)), T('UtcDueDate', easDate(f.dueDate))],
    f.completeTime !== undefined && [E('CompleteTime', easDate(f.completeTime)), T('DateCompleted', easDate(f.completeTime))],
  );
}

function attachments(item: EmailItem, version: number): WbxmlElement | undefined {
  if (item.attachments.length === 0) return undefined;
  if (version < V120) {
    return E('Attachments', item.attachments.map((a) => E('Attachment',
      E('AttMethod', 1), E('AttSize', a.size), E('DisplayName', a.fileName), E('AttName', `${item.folderId}:${item.id}:${a.index}`))));
  }
  return B('Attachments', item.attachments.map((a) => B('Attachment',
    B('DisplayName', a.fileName),
    B('FileReference', `${item.folderId}:${item.id}:${a.index}`),
    B('Method', a.contentType.toLowerCase() === 'message/rfc822' ? 5 : 1),
    B('EstimatedDataSize', a.size),
    a.contentId !== undefined && B('ContentId', a.contentId),
    a.isInline && B('IsInline', 1))));
}

/**
 * The event an invitation, update, cancellation or counter-proposal carries (MS-ASEMAIL
 * MeetingRequest), which lets a client show the meeting and offer Accept/Tentative/Decline
 * (MeetingResponse) without reading the iCalendar itself. Its Reminder counts seconds, where the calendar item's counts minutes.
 */
function meetingRequest(m: EmailMeeting, version: number): WbxmlElement {
  const r = m.recurrence;
  const organizer = m.organizer ? (m.organizer.name ? `"${m.organizer.name.replace(/["\\]/g, '')}" <${m.organizer.email}>` : m.organizer.email) : undefined;
  const instanceType = m.recurrenceId !== undefined ? 3 : r ? 1 : 0;
  return E('MeetingRequest',
    E('AllDayEvent', m.allDay ? 1 : 0),
    E('StartTime', easDate(m.start)),
    E('DtStamp', easDate(m.dtstamp)),
    E('EndTime', easDate(m.end)),
    E('InstanceType', instanceType),
    // 16.0 moved Location to AirSyncBase, as a container.
    m.location !== '' && (version >= V160 ? B('Location', B('DisplayName', m.location)) : E('Location', m.location)),
    organizer !== undefined && E('Organizer', organizer),
    m.recurrenceId !== undefined && E('RecurrenceId', easDate(m.recurrenceId)),
    m.reminderMinutes !== undefined && E('Reminder', m.reminderMinutes * 60),
    E('ResponseRequested', m.responseRequested ? 1 : 0),
    r && E('Recurrences', E('Recurrence', recurrenceElements((name, value) => E(name as Parameters<typeof E>[0], value), r))),
    E('Sensitivity', m.sensitivity),
    E('BusyStatus', m.busyStatus),
    E('TimeZone', m.timezone),
    E('GlobalObjId', m.globalObjId),
    version >= V140 && m.disallowNewTimeProposal && E('DisallowNewTimeProposal', 1),
    // 1: a first invitation, 2: a full update (Exchange's values; cancellations and counter-proposals carry 0).
    version >= V141 && E2('MeetingMessageType', m.method === 'CANCEL' || m.method === 'COUNTER' ? 0 : m.sequence > 0 ? 2 : 1),
    // A counter-proposal's new time (MS-ASCMD 2.2.3.140-141), which 16.1 clients offer the organizer to take.
    version >= V161 && m.proposedStart !== undefined && MR('ProposedStartTime', compactDate(m.proposedStart)),
    version >= V161 && m.proposedEnd !== undefined && MR('ProposedEndTime', compactDate(m.proposedEnd)),
  );
}

/** The full ApplicationData children of an email. */
export function renderEmail(input: RenderInput): WbxmlElement[] {
  const { item, version } = input;
  const out: Array<WbxmlElement | undefined | false> = [
    E('To', item.to),
    item.cc !== '' && E('Cc', item.cc),
    E('From', item.from),
    E('Subject', item.subject),
    item.replyTo !== '' && E('ReplyTo', item.replyTo),
    E('DateReceived', easDate(item.receivedAt)),
    E('DisplayTo', item.displayTo),
    E('ThreadTopic', item.threadTopic),
    E('Importance', item.importance),
    E('Read', item.read ? 1 : 0),
    attachments(item, version),
    ...(version >= V120 ? airSyncBaseBody(input) : legacyBody(input)),
    E('MessageClass', item.messageClass),
    item.meeting && item.meeting.method !== 'REPLY' && meetingRequest(item.meeting, version),
    E('InternetCPID', item.cpid),
  ];
  if (version >= V120) {
    out.push(E('ContentClass', 'urn:content-classes:message'), renderFlag(item));
  }
  if (version >= V140) out.push(E('Categories'));
  if (version >= V120) out.push(B('NativeBodyType', item.html !== undefined ? 2 : 1));
  if (version >= V140) {
    out.push(E2('ConversationId', item.conversationId), E2('ConversationIndex', item.conversationIndex));
    if (item.receivedAsBcc) out.push(E2('ReceivedAsBcc', 1));
  }
  return out.filter((e): e is WbxmlElement => e !== undefined && e !== false);
}

/** A server-side Change: only the properties a client can change, Read and Flag. */
export function renderEmailChange(item: EmailItem, version: number): WbxmlElement[] {
  return [E('Read', item.read ? 1 : 0), ...(version >= V120 ? [renderFlag(item)] : [])];
}
