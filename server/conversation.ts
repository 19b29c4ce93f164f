// ConversationId and ConversationIndex for EAS 14.0+ (MS-ASCON, email2:*), set the way Exchange sets
// them so clients can thread:
// - a message carrying Outlook's Thread-Index keeps it: the GUID is the ConversationId, the 5-byte
//   time header and the 5-byte response levels are the ConversationIndex;
// - a reply to a message already in the mailbox joins its parent's conversation with one more
//   response level (the time since the conversation began);
// - otherwise the thread's first Message-ID (References, In-Reply-To) names the conversation, so a
//   reply still groups with its original when the original is not stored here.
import crypto from 'node:crypto';

const FILETIME_EPOCH_OFFSET_MS = 11644473600000n;
const MAX_LEVELS = 50;

export interface Conversation {
  conversationId: Buffer;
  conversationIndex: Buffer;
}

export interface ThreadHeaders {
  threadIndex?: string;
  messageId?: string;
  inReplyTo?: string;
  references?: string[];
  threadTopic: string;
  date: Date;
}

function filetime(date: Date): bigint {
  return (BigInt(date.getTime()) + FILETIME_EPOCH_OFFSET_MS) * 10000n;
}

/** The 5-byte header: the 40 high bits of the FILETIME, big-endian (MS-OXOMSG PidTagConversationIndex). */
export function indexHeader(date: Date): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(filetime(date));
  return Buffer.from(b.subarray(0, 5));
}

/** The FILETIME an index header stands for (its dropped low 24 bits as zero). */
function headerTime(header: Buffer): bigint {
  const b = Buffer.alloc(8);
  header.copy(b, 0, 0, 5);
  return b.readBigUInt64BE();
}

/**
 * One response level: DC bit, 31 bits of the time since the header, 4 random bits and a 4-bit
 * sequence count. DC=0 keeps bits 48..18 of the delta; DC=1 (deltas past 2^49) keeps bits 53..23.
 */
export function responseLevel(header: Buffer, at: Date): Buffer {
  let delta = filetime(at) - headerTime(header);
  if (delta < 0n) delta = 0n;
  const dc = delta >= 1n << 49n;
  const bits = dc ? (delta >> 23n) & 0x7fffffffn : (delta >> 18n) & 0x7fffffffn;
  const word = ((dc ? 1n : 0n) << 31n) | bits;
  const out = Buffer.alloc(5);
  out.writeUInt32BE(Number(word), 0);
  out[4] = (crypto.randomInt(16) << 4) & 0xf0;
  return out;
}

/** Outlook's Thread-Index, when it is well formed: it then decides the conversation by itself. */
function fromThreadIndex(threadIndex: string | undefined): Conversation | undefined {
  if (!threadIndex) return undefined;
  const ti = Buffer.from(threadIndex.replace(/\s+/g, ''), 'base64');
  if (ti.length >= 22 && (ti.length - 22) % 5 === 0 && ti.length <= 22 + 5 * MAX_LEVELS) {
    return { conversationId: Buffer.from(ti.subarray(6, 22)), conversationIndex: Buffer.concat([ti.subarray(1, 6), ti.subarray(22)]) };
  }
  return undefined;
}

/** Whether the parent stored in the mailbox matters: only without a usable Thread-Index. */
export function needsParent(h: Pick<ThreadHeaders, 'threadIndex' | 'inReplyTo'>): boolean {
  return h.inReplyTo !== undefined && fromThreadIndex(h.threadIndex) === undefined;
}

/** The conversation of a message, given its parent's when the parent is in the mailbox. */
export function conversationFor(h: ThreadHeaders, parent?: Conversation): Conversation {
  const indexed = fromThreadIndex(h.threadIndex);
  if (indexed) return indexed;
  if (parent && parent.conversationIndex.length >= 5 && parent.conversationIndex.length < 5 * MAX_LEVELS) {
    return {
      conversationId: parent.conversationId,
      conversationIndex: Buffer.concat([parent.conversationIndex, responseLevel(parent.conversationIndex.subarray(0, 5), h.date)]),
    };
  }
  const root = h.references?.[0] ?? h.inReplyTo ?? h.messageId ?? `${h.threadTopic}\0${h.date.toISOString()}`;
  const conversationId = crypto.createHash('md5').update(normaliseId(root)).digest();
  const header = indexHeader(h.date);
  const depth = Math.min(h.references?.length ?? (h.inReplyTo ? 1 : 0), MAX_LEVELS);
  const levels = Array.from({ length: depth }, () => responseLevel(header, h.date));
  return { conversationId, conversationIndex: Buffer.concat([header, ...levels]) };
}

/** Message-IDs compare without angle brackets and case-insensitively. */
export function normaliseId(id: string): string {
  return id.trim().replace(/^<|>$/g, '').toLowerCase();
}
