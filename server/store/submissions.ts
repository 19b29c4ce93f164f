// ClientIds of EAS submissions (MS-ASCMD ClientId): a device that lost the answer to a SendMail
// sends it again with the same ClientId, and must get MessagePreviouslySent instead of a second copy.
// A ClientId is reserved before the message goes anywhere (so two requests racing cannot both pass)
// and released when the submission fails (so the device may retry it). Remembered for a while and
// bounded per user.
import type { Db } from './db.js';

export const CLIENT_ID_LIMITS = { keepMs: 30 * 24 * 3600_000, maxPerUser: 10_000 };

export class Submissions {
  constructor(private readonly db: Db, private readonly limits = CLIENT_ID_LIMITS) {}

  /** True when the ClientId was free and is now taken; false when the user used it recently. */
  reserve(userId: number, clientId: string, now = Date.now()): boolean {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM submissions WHERE user_id = ? AND created_at < ?').run(userId, now - this.limits.keepMs);
      const taken = this.db.prepare('INSERT OR IGNORE INTO submissions (user_id, client_id, created_at) VALUES (?, ?, ?)').run(userId, clientId, now).changes === 1;
      if (taken) {
        this.db.prepare(`DELETE FROM submissions WHERE user_id = ? AND created_at <= (
            SELECT created_at FROM submissions WHERE user_id = ? ORDER BY created_at DESC LIMIT 1 OFFSET ?) AND client_id <> ?`)
          .run(userId, userId, this.limits.maxPerUser, clientId);
      }
      return taken;
    })();
  }

  release(userId: number, clientId: string): void {
    this.db.prepare('DELETE FROM submissions WHERE user_id = ? AND client_id = ?').run(userId, clientId);
  }
}
