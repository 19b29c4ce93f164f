// Users, groups and external contacts: who exists, how they sign in, where mail for an address goes.
import crypto from 'node:crypto';
import type { Db } from './db.js';
import { verifyPassword } from './secrets.js';

export interface User {
  id: number;
  address: string;
  localPart: string;
  displayName: string;
}

interface UserRow { id: number; address: string; local_part: string; display_name: string; password_hash: string }

const toUser = (r: UserRow): User => ({ id: r.id, address: r.address, localPart: r.local_part, displayName: r.display_name });

export class Directory {
  // scrypt costs tens of milliseconds; devices send Basic credentials with every request, so a
  // successful check is remembered for a while under a keyed hash (the password itself is never kept).
  private readonly verified = new Map<string, { userId: number; until: number }>();
  private readonly cacheKey = crypto.randomBytes(32);
  private static readonly CACHE_MS = 5 * 60_000;
  private static readonly CACHE_MAX = 10_000;

  constructor(private readonly db: Db, private readonly domain: () => string) {}

  userById(id: number): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return r && toUser(r);
  }

  userByAddress(address: string): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE address = ?').get(address.trim().toLowerCase()) as UserRow | undefined;
    return r && toUser(r);
  }

  /** Resolves a sign-in name: full address, local part, or DOMAIN\\user as some clients send it. */
  userBySignInName(name: string): User | undefined {
    let n = name.trim().toLowerCase();
    const backslash = n.lastIndexOf('\\');
    if (backslash >= 0) n = n.slice(backslash + 1);
    if (n.includes('@')) return this.userByAddress(n);
    return this.userByAddress(`${n}@${this.domain()}`);
  }

  listUsers(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY address').all() as UserRow[]).map(toUser);
  }

  authenticate(name: string, password: string): User | undefined {
    const user = this.userBySignInName(name);
    if (!user) return undefined;
    const cacheId = crypto.createHmac('sha256', this.cacheKey).update(`${user.id}\0${password}`).digest('base64');
    const hit = this.verified.get(cacheId);
    const now = Date.now();
    if (hit && hit.until > now && hit.userId === user.id) return user;
    const row = this.db.prepare('SELECT password_hash FROM users WHERE id = ?').get(user.id) as { password_hash: string };
    if (!verifyPassword(password, row.password_hash)) return undefined;
    if (this.verified.size >= Directory.CACHE_MAX) this.verified.clear();
    this.verified.set(cacheId, { userId: user.id, until: now + Directory.CACHE_MS });
    return user;
  }

  /** Local users an address reaches: a user, or the members of a group. Empty when the address is not local. */
  expandLocal(address: string): User[] {
    const a = address.trim().toLowerCase();
    const user = this.userByAddress(a);
    if (user) return [user];
    const rows = this.db.prepare(
      `SELECT u.* FROM groups g JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id
       WHERE g.address = ? ORDER BY u.address`).all(a) as UserRow[];
    return rows.map(toUser);
  }

  /** Addresses of the groups a user belongs to. */
  groupsOf(userId: number): string[] {
    return (this.db.prepare(
      'SELECT g.address FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.address',
    ).all(userId) as Array<{ address: string }>).map((r) => r.address);
  }

  isLocalAddress(address: string): boolean {
    const a = address.trim().toLowerCase();
    return this.db.prepare('SELECT 1 FROM users WHERE address = ? UNION ALL SELECT 1 FROM groups WHERE address = ?').get(a, a) !== undefined;
  }
}
