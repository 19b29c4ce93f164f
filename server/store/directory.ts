// Users, groups and external contacts: who exists, how they sign in, where mail for an address goes.
import crypto from 'node:crypto';
import type { Db } from './db.js';
import { unusablePasswordHash, verifyPassword } from './secrets.js';
import { VersionedCache, type TableVersions } from './table-versions.js';

export interface User {
  id: number;
  address: string;
  localPart: string;
  displayName: string;
}

interface UserRow { id: number; address: string; local_part: string; display_name: string; password_hash: string }

const toUser = (r: UserRow): User => ({ id: r.id, address: r.address, localPart: r.local_part, displayName: r.display_name });

/** A directory entry as name look-ups see it. */
export interface DirectoryName {
  kind: 'user' | 'group' | 'contact';
  address: string;
  /** Local part of users and groups (contacts live in other domains: none). */
  alias?: string;
  displayName: string;
}

interface EntryRow { kind: DirectoryName['kind']; address: string; alias: string | null; display_name: string }

const toEntry = (r: EntryRow): DirectoryName => ({ kind: r.kind, address: r.address, alias: r.alias ?? undefined, displayName: r.display_name });

const ENTRY_SELECT = `SELECT * FROM (
  SELECT 'user' AS kind, address, local_part AS alias, display_name FROM users
  UNION ALL SELECT 'group', address, local_part, display_name FROM groups
  UNION ALL SELECT 'contact', address, NULL, display_name FROM external_contacts)`;

export class Directory {
  // scrypt costs tens of milliseconds; devices send Basic credentials with every request, so a
  // successful check is remembered for a while under a keyed hash (the password itself is never kept).
  private readonly verified = new Map<string, { userId: number; until: number }>();
  private readonly cacheKey = crypto.randomBytes(32);
  private readonly checking = new Map<string, Promise<boolean>>();
  private static readonly CACHE_MS = 5 * 60_000;
  private static readonly CACHE_MAX = 10_000;

  // Every message looks its recipients up several times (RCPT, delivery, gateway policy); the
  // directory changes rarely, so answers are kept until a directory table changes.
  private readonly byAddress: VersionedCache<string, User | undefined>;
  private readonly expansions: VersionedCache<string, readonly User[]>;
  private readonly groupsOfUser: VersionedCache<number, readonly string[]>;
  private readonly localAddresses: VersionedCache<string, boolean>;

  constructor(private readonly db: Db, private readonly domain: () => string, versions: TableVersions) {
    const tables = ['users', 'groups', 'group_members'] as const;
    this.byAddress = new VersionedCache(versions, [...tables]);
    this.expansions = new VersionedCache(versions, [...tables]);
    this.groupsOfUser = new VersionedCache(versions, [...tables]);
    this.localAddresses = new VersionedCache(versions, [...tables]);
  }

  userById(id: number): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return r && toUser(r);
  }

  userByAddress(address: string): User | undefined {
    return this.byAddress.get(address.trim().toLowerCase(), (a) => {
      const r = this.db.prepare('SELECT * FROM users WHERE address = ?').get(a) as UserRow | undefined;
      return r && Object.freeze(toUser(r));
    });
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

  async authenticate(name: string, password: string): Promise<User | undefined> {
    const user = this.userBySignInName(name);
    if (!user) {
      await verifyPassword(password, await unusablePasswordHash());
      return undefined;
    }
    const cacheId = crypto.createHmac('sha256', this.cacheKey).update(`${user.id}\0${password}`).digest('base64');
    const hit = this.verified.get(cacheId);
    if (hit && hit.until > Date.now() && hit.userId === user.id) return user;
    // A device that reconnects sends several requests with the same credentials at once: one check serves them all.
    let check = this.checking.get(cacheId);
    if (!check) {
      const row = this.db.prepare('SELECT password_hash FROM users WHERE id = ?').get(user.id) as { password_hash: string };
      check = verifyPassword(password, row.password_hash).finally(() => this.checking.delete(cacheId));
      this.checking.set(cacheId, check);
    }
    if (!(await check)) return undefined;
    if (this.verified.size >= Directory.CACHE_MAX) this.verified.clear();
    this.verified.set(cacheId, { userId: user.id, until: Date.now() + Directory.CACHE_MS });
    return user;
  }

  /** Local users an address reaches: a user, or the members of a group. Empty when the address is not local. */
  expandLocal(address: string): readonly User[] {
    return this.expansions.get(address.trim().toLowerCase(), (a) => {
      const user = this.userByAddress(a);
      if (user) return Object.freeze([user]);
      const rows = this.db.prepare(
        `SELECT u.* FROM groups g JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id
         WHERE g.address = ? ORDER BY u.address`).all(a) as UserRow[];
      return Object.freeze(rows.map((r) => Object.freeze(toUser(r))));
    });
  }

  /** Addresses of the groups a user belongs to. */
  groupsOf(userId: number): readonly string[] {
    return this.groupsOfUser.get(userId, (id) => Object.freeze((this.db.prepare(
      'SELECT g.address FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.address',
    ).all(id) as Array<{ address: string }>).map((r) => r.address)));
  }

  /** The user, group or external contact with this address. */
  entryByAddress(address: string): DirectoryName | undefined {
    const a = address.trim().toLowerCase();
    const r = this.db.prepare(`${ENTRY_SELECT} WHERE address = ?`).get(a) as EntryRow | undefined;
    return r && toEntry(r);
  }

  /**
   * Users, groups and external contacts whose address or display name contains `fragment`
   * (case-insensitively for ASCII, as SQLite's LIKE compares), at most `limit`, in no particular
   * order: the candidates a name look-up then filters.
   */
  entriesContaining(fragment: string, limit: number): DirectoryName[] {
    const pattern = `%${fragment.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = this.db.prepare(`${ENTRY_SELECT} WHERE address LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\' LIMIT ?`)
      .all(pattern, pattern, Math.max(0, Math.floor(limit))) as EntryRow[];
    return rows.map(toEntry);
  }

  /** The first `limit` members of a group, ordered by address; empty when there is no such group. */
  groupMembers(groupAddress: string, limit: number): User[] {
    const rows = this.db.prepare(
      `SELECT u.* FROM groups g JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id
       WHERE g.address = ? ORDER BY u.address LIMIT ?`).all(groupAddress.trim().toLowerCase(), Math.max(0, Math.floor(limit))) as UserRow[];
    return rows.map(toUser);
  }

  /** How many members a group has (0 when there is no such group). */
  groupSize(groupAddress: string): number {
    const r = this.db.prepare('SELECT count(*) AS n FROM groups g JOIN group_members m ON m.group_id = g.id WHERE g.address = ?')
      .get(groupAddress.trim().toLowerCase()) as { n: number };
    return r.n;
  }

  isLocalAddress(address: string): boolean {
    return this.localAddresses.get(address.trim().toLowerCase(), (a) =>
      this.db.prepare('SELECT 1 FROM users WHERE address = ? UNION ALL SELECT 1 FROM groups WHERE address = ?').get(a, a) !== undefined);
  }
}
