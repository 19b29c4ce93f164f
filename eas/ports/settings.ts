// What Settings (Oof, DevicePassword) and Ping's memory need from the mail service. UserInformation
// comes from the Principal and DeviceInformation goes through CoreBackend.setDeviceInformation.
import type { DeviceRecord, Principal } from '../backend.js';

/** 0 disabled, 1 on until turned off, 2 on between StartTime and EndTime. */
export type OofState = 0 | 1 | 2;
export type OofAudience = 'internal' | 'externalKnown' | 'externalUnknown';
export type OofBodyType = 'Text' | 'HTML';

export interface OofMessage {
  audience: OofAudience;
  enabled: boolean;
  /** The reply as the user wrote it, in `bodyType`. */
  reply?: string;
  bodyType?: OofBodyType;
}

export interface OofSettings {
  state: OofState;
  start?: Date;
  end?: Date;
  /** At most one per audience. */
  messages: OofMessage[];
}

/**
 * An Oof Set: only what the request carries changes. Without a state the state stays; without times
 * the times stay; audiences it does not name keep their message.
 */
export interface OofChange {
  state?: OofState;
  start?: Date;
  end?: Date;
  messages: OofMessage[];
}

/**
 * What a device's last full Ping asked for, so that an empty Ping (or one naming only the interval or
 * only the folders) can reuse the rest, also after a restart.
 */
export interface PingMemory {
  /** HeartbeatInterval in seconds. */
  interval: number;
  folders: Array<{ id: string; class: string }>;
  /**
   * The FilterType of each folder's last Sync (by folder id) as seen in the device's Sync requests:
   * changes are counted against the window the device syncs, or mail outside it would look new forever.
   */
  filters: Record<string, number>;
}

export interface SettingsPort {
  oof(p: Principal): OofSettings;
  setOof(p: Principal, change: OofChange): OofSettings;

  /** Stores the device's recovery password (sealed at rest); an empty password removes it. */
  setDevicePassword(p: Principal, device: DeviceRecord, password: string): void;

  pingMemory(p: Principal, device: DeviceRecord): PingMemory | undefined;
  savePingMemory(p: Principal, device: DeviceRecord, memory: PingMemory): void;
}
