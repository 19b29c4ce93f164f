// Device partnerships: one row per (user, DeviceId), holding the provisioning state.
import type { Db } from './db.js';
import type { DeviceInformation, DeviceRecord, WipeState } from '../../eas/backend.js';

interface DeviceRow {
  id: number; device_id: string; device_type: string; policy_key: number | null;
  pending_policy_key: number | null; wipe_state: WipeState;
}

const toDevice = (r: DeviceRow): DeviceRecord => ({
  pk: r.id, deviceId: r.device_id, deviceType: r.device_type,
  policyKey: r.policy_key ?? undefined, pendingPolicyKey: r.pending_policy_key ?? undefined, wipeState: r.wipe_state,
});

export class Devices {
  constructor(private readonly db: Db) {}

  /** The partnership for this user and DeviceId, created on first sight. */
  touch(userId: number, deviceId: string, deviceType: string, userAgent: string | undefined): DeviceRecord {
    const now = Date.now();
    this.db.prepare(`INSERT INTO devices (user_id, device_id, device_type, user_agent, first_seen, last_seen)
      VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (user_id, device_id) DO UPDATE SET last_seen = excluded.last_seen,
        user_agent = coalesce(excluded.user_agent, devices.user_agent)`).run(userId, deviceId, deviceType, userAgent ?? null, now, now);
    const row = this.db.prepare('SELECT * FROM devices WHERE user_id = ? AND device_id = ?').get(userId, deviceId) as DeviceRow;
    return toDevice(row);
  }

  setPolicyKeys(pk: number, keys: { policyKey?: number | null; pendingPolicyKey?: number | null; policyStatus?: number }): void {
    if (keys.policyKey !== undefined) this.db.prepare('UPDATE devices SET policy_key = ? WHERE id = ?').run(keys.policyKey, pk);
    if (keys.pendingPolicyKey !== undefined) this.db.prepare('UPDATE devices SET pending_policy_key = ? WHERE id = ?').run(keys.pendingPolicyKey, pk);
    if (keys.policyStatus !== undefined) this.db.prepare('UPDATE devices SET policy_status = ? WHERE id = ?').run(keys.policyStatus, pk);
  }

  setWipeState(pk: number, state: WipeState): void {
    this.db.prepare('UPDATE devices SET wipe_state = ? WHERE id = ?').run(state, pk);
  }

  setInformation(pk: number, info: DeviceInformation): void {
    this.db.prepare('UPDATE devices SET info = ? WHERE id = ?').run(JSON.stringify(info), pk);
  }

  /** Asks a device to wipe itself (or only the account) at its next request. */
  requestWipe(userId: number, deviceId: string, accountOnly: boolean): boolean {
    return this.db.prepare('UPDATE devices SET wipe_state = ? WHERE user_id = ? AND device_id = ?')
      .run(accountOnly ? 'account-requested' : 'requested', userId, deviceId).changes === 1;
  }

  list(userId: number): Array<DeviceRecord & { info?: DeviceInformation; lastSeen: Date }> {
    const rows = this.db.prepare('SELECT * FROM devices WHERE user_id = ? ORDER BY id').all(userId) as Array<DeviceRow & { info: string | null; last_seen: number }>;
    return rows.map((r) => ({ ...toDevice(r), info: r.info ? JSON.parse(r.info) as DeviceInformation : undefined, lastSeen: new Date(r.last_seen) }));
  }
}
