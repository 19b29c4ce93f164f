// ConversationId and ConversationIndex for EAS 14.0+ (MS-ASEMAIL email2:*). Messages of one thread
// share the ConversationId: Outlook's Thread-Index names the thread where present; otherwise the
// thread's first Message-ID (from References/In-Reply-To) does, so replies group with their original.
import crypto from 'node:crypto';

const FILETIME_EPOCH_OFFSET = 11644473600000n; // ms between 1601-01-01 and 1970-01-01

/** The 5 high-order bytes of a FILETIME, as Outlook's conversation index header stores them. */
function filetimeHigh5(date: Date): Buffer {
  const ft = (BigInt(date.getTime()) + FILETIME_EPOCH_OFFSET) * 10000n;
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(ft);
  return b.subarray(0, 5);
}

export interface ThreadHeaders {
  threadIndex?: string;
  messageId?: string;
  inReplyTo?: string;
  references?: string[];
  threadTopic: string;
  date: Date;
}

export function conversationFor(h: ThreadHeaders): { conversationId: Buffer; conversationIndex: Buffer } {
  if (h.threadIndex) {
    const ti = Buffer.from(h.threadIndex.replace(/\s+/g, ''), 'base64');
    if (ti.length >= 22 && (ti.length - 22) % 5 === 0) {
      // Thread-Index: 1 reserved byte, 5 bytes of time, a 16-byte GUID, then 5 bytes per reply.
      return { conversationId: Buffer.from(ti.subarray(6, 22)), conversationIndex: Buffer.concat([ti.subarray(1, 6), ti.subarray(22)]) };
    }
  }
  const root = h.references?.[0] ?? h.inReplyTo ?? h.messageId ?? `${h.threadTopic}\0${h.date.toISOString()}`;
  const conversationId = crypto.createHash('md5').update(root.trim().toLowerCase()).digest();
  const depth = h.references?.length ?? (h.inReplyTo ? 1 : 0);
  const index = [filetimeHigh5(h.date)];
  for (let i = 0; i < Math.min(depth, 50); i++) index.push(Buffer.from([0, 0, 0, 0, 0]));
  return { conversationId, conversationIndex: Buffer.concat(index) };
}
