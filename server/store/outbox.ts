// The outbox table: messages the server owes the mail flow on a user's behalf, in the order they
// were queued. A lane is one user's mail about one thing (a meeting, by UID) to local mailboxes, or
// to the outbound route; each lane keeps its order (a meeting's cancellation never reaches anyone
// before its invitation), so only its oldest entry is ever due, while a smarthost that is down holds
// back nothing local and a meeting that cannot go out holds back no other.
import type { Db } from './db.js';

export type OutboxLane = 'local' | 'external';

/** A queued message: what is needed to compose it when it is sent (server/outbound/outbox.ts). */
export interface QueuedMessage {
  /** The header recipients (To). */
  to: Array<{ email: string; name?: string }>;
  /** The envelope recipients of this lane. */
  rcptTo: string[];
  subject: string;
  text: string;
  /** The iCalendar part (a meeting message) and its METHOD. */
  calendar?: { method: string; content: string };
  /** Fixed when queued, so that every lane's copy is the same message. */
  messageId: string;
  date: number;
  /** Whether this copy is the one kept in the user's Sent Items. */
  saveInSent: boolean;
}

export interface OutboxEntry {
  id: number;
  userId: number;
  lane: OutboxLane;
  thread: string;
  createdAt: number;
  nextAttemptAt: number;
  attempts: number;
  message: QueuedMessage;
  lastError?: string;
}

interface Row {
  id: number; user_id: number; lane: string; thread: string; created_at: number; next_attempt_at: number; attempts: number; message: string; last_error: string | null;
}

const toEntry = (r: Row): OutboxEntry => ({
  id: r.id, userId: r.user_id, lane: r.lane === 'external' ? 'external' : 'local', thread: r.thread, createdAt: r.created_at, nextAttemptAt: r.next_attempt_at,
  attempts: r.attempts, message: JSON.parse(r.message) as QueuedMessage, ...(r.last_error !== null ? { lastError: r.last_error } : {}),
});

/** The oldest entry of each lane: the only ones that may go next. */
const HEADS = 'SELECT * FROM outbox o WHERE id = (SELECT MIN(id) FROM outbox WHERE user_id = o.user_id AND lane = o.lane AND thread = o.thread)';

export class OutboxTable {
  constructor(private readonly db: Db) {}

  add(userId: number, lane: OutboxLane, thread: string, message: QueuedMessage, now = Date.now()): number {
    return Number(this.db.prepare('INSERT INTO outbox (user_id, lane, thread, created_at, next_attempt_at, message) VALUES (?, ?, ?, ?, ?, ?)')
      .run(userId, lane, thread, now, now, JSON.stringify(message)).lastInsertRowid);
  }

  /** The entries that may be sent now, oldest first. */
  due(now: number, limit: number): OutboxEntry[] {
    return (this.db.prepare(`${HEADS} AND next_attempt_at <= ? ORDER BY id LIMIT ?`).all(now, limit) as Row[]).map(toEntry);
  }

  /** When the next entry becomes due; undefined when the outbox is empty. */
  nextDue(): number | undefined {
    const row = this.db.prepare(`SELECT MIN(next_attempt_at) AS at FROM (${HEADS})`).get() as { at: number | null };
    return row.at ?? undefined;
  }

  list(limit: number, offset = 0): OutboxEntry[] {
    return (this.db.prepare('SELECT * FROM outbox ORDER BY id LIMIT ? OFFSET ?').all(limit, offset) as Row[]).map(toEntry);
  }

  countFor(userId: number): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE user_id = ?').get(userId) as { n: number }).n;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }

  remove(id: number): boolean {
    return this.db.prepare('DELETE FROM outbox WHERE id = ?').run(id).changes === 1;
  }

  /** Every queued copy of one message of the user (its other lanes and parts); how many there were. */
  removeMessage(userId: number, messageId: string): number {
    return this.db.prepare("DELETE FROM outbox WHERE user_id = ? AND json_extract(message, '$.messageId') = ?").run(userId, messageId).changes;
  }

  /**
   * An attempt that reached some recipients: the entry stays, in its place, for the others (no
   * longer the Sent Items copy), counted as a failed attempt and tried again at `at`.
   */
  narrow(id: number, rcptTo: readonly string[], at: number, error: string): void {
    this.db.prepare(`UPDATE outbox SET message = json_set(message, '$.rcptTo', json(?), '$.saveInSent', json('false')),
      attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?`).run(JSON.stringify(rcptTo), at, error.slice(0, 1000), id);
  }

  /** A failed attempt: counted, its reason kept, tried again at `at`. */
  deferred(id: number, at: number, error: string): void {
    this.db.prepare('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?').run(at, error.slice(0, 1000), id);
  }

  /** Every entry due now (an operator's "retry"); how many entries there are. */
  retryAll(now = Date.now()): number {
    this.db.prepare('UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ?').run(now, now);
    return this.count();
  }
}
