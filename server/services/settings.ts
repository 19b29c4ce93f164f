// The SettingsPort over the store: Oof, the device recovery password and Ping's memory, each a JSON
// value in user_settings under a name of its own.
import type { DeviceRecord, Principal } from '../../eas/backend.js';
import type {
  OofAudience, OofBodyType, OofChange, OofMessage, OofSettings, OofState, PingMemory, SettingsPort,
} from '../../eas/ports/settings.js';
import { seal } from '../store/secrets.js';
import type { ServiceDeps } from './deps.js';

const OOF = 'oof';
const devicePasswordName = (device: DeviceRecord): string => `device-password:${device.pk}`;
const pingName = (device: DeviceRecord): string => `ping:${device.pk}`;

const AUDIENCES: readonly OofAudience[] = ['internal', 'externalKnown', 'externalUnknown'];

interface StoredOof {
  state: OofState;
  start?: number;
  end?: number;
  messages: Array<{ audience: OofAudience; enabled: boolean; reply?: string; bodyType?: OofBodyType }>;
}

export class SettingsService implements SettingsPort {
  constructor(private readonly deps: ServiceDeps) {}

  private get db() { return this.deps.store.db; }

  private read(userId: number, name: string): unknown {
    const row = this.db.prepare('SELECT value FROM user_settings WHERE user_id = ? AND name = ?').get(userId, name) as { value: string } | undefined;
    if (!row) return undefined;
    try {
      return JSON.parse(row.value) as unknown;
    } catch {
      // A damaged value is treated as never set rather than failing every request that reads it.
      this.deps.log({ level: 'warn', msg: 'unreadable user setting', userId, name });
      return undefined;
    }
  }

  private write(userId: number, name: string, value: unknown): void {
    this.db.prepare(`INSERT INTO user_settings (user_id, name, value) VALUES (?, ?, ?)
        ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value`).run(userId, name, JSON.stringify(value));
  }

  private remove(userId: number, name: string): void {
    this.db.prepare('DELETE FROM user_settings WHERE user_id = ? AND name = ?').run(userId, name);
  }

  oof(p: Principal): OofSettings {
    const stored = this.read(p.userId, OOF) as StoredOof | undefined;
    if (!stored || ![0, 1, 2].includes(stored.state)) return { state: 0, messages: [] };
    return {
      state: stored.state,
      start: typeof stored.start === 'number' ? new Date(stored.start) : undefined,
      end: typeof stored.end === 'number' ? new Date(stored.end) : undefined,
      messages: (Array.isArray(stored.messages) ? stored.messages : [])
        .filter((m) => AUDIENCES.includes(m.audience))
        .map((m): OofMessage => ({ audience: m.audience, enabled: m.enabled === true, reply: m.reply, bodyType: m.bodyType })),
    };
  }

  setOof(p: Principal, change: OofChange): OofSettings {
    return this.db.transaction(() => {
      const current = this.oof(p);
      const byAudience = new Map(current.messages.map((m) => [m.audience, m]));
      for (const m of change.messages) byAudience.set(m.audience, m);
      const next: OofSettings = {
        state: change.state ?? current.state,
        // A Set without times keeps the ones set before, as Exchange does.
        start: change.start ?? current.start,
        end: change.end ?? current.end,
        messages: AUDIENCES.flatMap((a) => byAudience.get(a) ?? []),
      };
      const stored: StoredOof = {
        state: next.state, start: next.start?.getTime(), end: next.end?.getTime(),
        messages: next.messages.map((m) => ({ audience: m.audience, enabled: m.enabled, reply: m.reply, bodyType: m.bodyType })),
      };
      this.write(p.userId, OOF, stored);
      return next;
    })();
  }

  setDevicePassword(p: Principal, device: DeviceRecord, password: string): void {
    if (password === '') {
      this.remove(p.userId, devicePasswordName(device));
      return;
    }
    // Sealed like private keys: a copied database alone does not reveal it.
    const sealed = seal(this.deps.serverKey, Buffer.from(password, 'utf8')).toString('base64');
    this.write(p.userId, devicePasswordName(device), { sealed, setAt: new Date().toISOString() });
  }

  pingMemory(p: Principal, device: DeviceRecord): PingMemory | undefined {
    const v = this.read(p.userId, pingName(device)) as Partial<PingMemory> | undefined;
    if (!v || typeof v.interval !== 'number' || !Array.isArray(v.folders)) return undefined;
    const folders = v.folders.filter((f): f is { id: string; class: string } =>
      typeof f === 'object' && f !== null && typeof f.id === 'string' && typeof f.class === 'string');
    const filters: Record<string, number> = {};
    for (const [k, n] of Object.entries(v.filters ?? {})) if (typeof n === 'number') filters[k] = n;
    return { interval: v.interval, folders, filters };
  }

  savePingMemory(p: Principal, device: DeviceRecord, memory: PingMemory): void {
    this.write(p.userId, pingName(device), memory);
  }
}
