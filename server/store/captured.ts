// The capture store: mail for external recipients when no smarthost is configured. Tests and
// operators read it through the admin API instead of a real outside world. Bounded by count and by
// bytes: the oldest captures make room for new ones.
import type { Db } from './db.js';

export interface CapturedSummary {
  id: number;
  createdAt: Date;
  mailFrom: string;
  rcptTo: string[];
  origin: string;
  submittedBy?: string;
  subject: string;
  messageId?: string;
  size: number;
}

export interface NewCapture {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
  origin: string;
  submittedBy?: string;
  subject: string;
  messageId?: string;
}

export const CAPTURE_LIMITS = { maxMessages: 10_000, maxBytes: 512 * 1024 * 1024 };

interface Row {
  id: number; created_at: number; mail_from: string; rcpt_to: string; origin: string; submitted_by: string | null;
  subject: string; message_id: string | null; size: number;
}

const SUMMARY_COLUMNS = 'id, created_at, mail_from, rcpt_to, origin, submitted_by, subject, message_id, size';

function toSummary(r: Row): CapturedSummary {
  return {
    id: r.id, createdAt: new Date(r.created_at), mailFrom: r.mail_from, rcptTo: JSON.parse(r.rcpt_to) as string[], origin: r.origin,
    ...(r.submitted_by ? { submittedBy: r.submitted_by } : {}), subject: r.subject,
    ...(r.message_id ? { messageId: r.message_id } : {}), size: r.size,
  };
}

export class CapturedMail {
  constructor(private readonly db: Db, private readonly limits = CAPTURE_LIMITS) {}

  /** Stores one capture and drops the oldest beyond the limits. Runs inside the caller's transaction when there is one. */
  insert(c: NewCapture): number {
    return this.db.transaction(() => {
      const id = Number(this.db.prepare(`INSERT INTO captured_mail (created_at, mail_from, rcpt_to, raw, origin, submitted_by, subject, message_id, size)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(Date.now(), c.mailFrom, JSON.stringify(c.rcptTo), c.raw, c.origin, c.submittedBy ?? null,
        c.subject, c.messageId ?? null, c.raw.length).lastInsertRowid);
      this.prune();
      return id;
    })();
  }

  private prune(): void {
    this.db.prepare('DELETE FROM captured_mail WHERE id <= (SELECT id FROM captured_mail ORDER BY id DESC LIMIT 1 OFFSET ?)').run(this.limits.maxMessages);
    // Newest first, the running total passes the byte limit at some row: that one and everything older goes.
    this.db.prepare(`DELETE FROM captured_mail WHERE id <= (
        SELECT id FROM (SELECT id, sum(size) OVER (ORDER BY id DESC) AS total FROM captured_mail) WHERE total > ? ORDER BY id DESC LIMIT 1)`)
      .run(this.limits.maxBytes);
  }

  /** Newest first; `to` keeps only captures addressed to that address. */
  list(opts: { limit: number; offset?: number; to?: string }): CapturedSummary[] {
    const rows = opts.to === undefined
      ? this.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM captured_mail ORDER BY id DESC LIMIT ? OFFSET ?`).all(opts.limit, opts.offset ?? 0)
      : this.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM captured_mail c
          WHERE EXISTS (SELECT 1 FROM json_each(c.rcpt_to) WHERE value = ?) ORDER BY id DESC LIMIT ? OFFSET ?`)
        .all(opts.to.trim().toLowerCase(), opts.limit, opts.offset ?? 0);
    return (rows as Row[]).map(toSummary);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM captured_mail').get() as { n: number }).n;
  }

  summary(id: number): CapturedSummary | undefined {
    const r = this.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM captured_mail WHERE id = ?`).get(id) as Row | undefined;
    return r && toSummary(r);
  }

  raw(id: number): Buffer | undefined {
    return (this.db.prepare('SELECT raw FROM captured_mail WHERE id = ?').get(id) as { raw: Buffer } | undefined)?.raw;
  }

  delete(id: number): boolean {
    return this.db.prepare('DELETE FROM captured_mail WHERE id = ?').run(id).changes === 1;
  }

  clear(): number {
    return this.db.prepare('DELETE FROM captured_mail').run().changes;
  }
}
