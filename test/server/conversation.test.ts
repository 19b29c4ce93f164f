// Conversation ids and indexes as MS-ASCON/MS-OXOMSG lay them out.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { conversationFor, indexHeader, responseLevel } from '../../server/conversation.js';

describe('conversations', () => {
  const date = new Date('2026-11-02T09:00:00Z');

  it('a header is the 40 high bits of the FILETIME', () => {
    // 2026-11-02T09:00:00Z as FILETIME, computed independently: seconds since 1601 x 10^7.
    const ft = (BigInt(Date.parse('2026-11-02T09:00:00Z') / 1000) + 11644473600n) * 10_000_000n;
    assert.equal(indexHeader(date).toString('hex'), (ft >> 24n).toString(16).padStart(10, '0'));
  });

  it('keeps Outlook\'s Thread-Index: GUID as id, time and levels as index', () => {
    const guid = crypto.randomBytes(16);
    const ti = Buffer.concat([Buffer.from([1]), indexHeader(date), guid, Buffer.from([0, 0, 1, 2, 3])]);
    const c = conversationFor({ threadIndex: ti.toString('base64'), threadTopic: 't', date });
    assert.ok(c.conversationId.equals(guid));
    assert.equal(c.conversationIndex.length, 10);
    assert.ok(c.conversationIndex.subarray(0, 5).equals(indexHeader(date)));
  });

  it('a reply joins its parent with one more response level carrying the time since', () => {
    const parent = conversationFor({ messageId: '<a@x>', threadTopic: 't', date });
    const later = new Date(date.getTime() + 3_600_000);
    const reply = conversationFor({ messageId: '<b@x>', inReplyTo: '<a@x>', references: ['<a@x>'], threadTopic: 't', date: later }, parent);
    assert.ok(reply.conversationId.equals(parent.conversationId));
    assert.equal(reply.conversationIndex.length, 10);
    const word = reply.conversationIndex.readUInt32BE(5);
    assert.equal(word >>> 31, 0, 'DC bit clear for a short delta');
    // The delta is taken from the header's time (its low 24 bits dropped): one hour plus those bits, bits 48..18.
    const ft = (BigInt(date.getTime()) + 11644473600000n) * 10000n;
    const delta = 36_000_000_000n + (ft & 0xffffffn);
    assert.equal(word & 0x7fffffff, Number((delta >> 18n) & 0x7fffffffn));
  });

  it('without Thread-Index or a stored parent, the thread root\'s Message-ID names the conversation', () => {
    const original = conversationFor({ messageId: '<Root@Example.test>', threadTopic: 'x', date });
    const reply = conversationFor({ messageId: '<r@x>', inReplyTo: '<root@example.test>', references: ['root@example.test'], threadTopic: 'x', date });
    assert.ok(reply.conversationId.equals(original.conversationId));
    assert.equal(reply.conversationIndex.length, 10);
    const other = conversationFor({ messageId: '<other@x>', threadTopic: 'x', date });
    assert.ok(!other.conversationId.equals(original.conversationId));
  });

  it('a response level sets DC for deltas beyond 2^49 x 100 ns', () => {
    const level = responseLevel(indexHeader(date), new Date(date.getTime() + 3 * 365 * 86_400_000));
    assert.equal(level.readUInt32BE(0) >>> 31, 1);
  });
});
