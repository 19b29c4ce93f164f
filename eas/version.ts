// Protocol versions as numbers (version x 10) so they compare naturally: 25, 120, 121, 140, 141, 160, 161.

export const SUPPORTED_VERSIONS = ['2.5', '12.0', '12.1', '14.0', '14.1', '16.0', '16.1'] as const;
export type VersionString = (typeof SUPPORTED_VERSIONS)[number];

export function parseVersion(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const s = v.trim();
  return (SUPPORTED_VERSIONS as readonly string[]).includes(s) ? Math.round(Number(s) * 10) : undefined;
}

export const V25 = 25, V120 = 120, V121 = 121, V140 = 140, V141 = 141, V160 = 160, V161 = 161;

/** The base64-encoded request line exists from 12.1 (MS-ASHTTP 2.2.1.1.1.1). */
export const BASE64_QUERY_SINCE = V121;

/**
 * Commands and the versions that have them (MS-ASCMD's per-command version tables): Settings and
 * ItemOperations came with 12.0, GetAttachment ended with 12.1 (ItemOperations replaced it), Find
 * is 16.1's alone. A command outside its range is refused with Status 138 (14.0+) or HTTP 400.
 */
export const COMMANDS: Readonly<Record<string, { min: number; max?: number }>> = {
  Sync: { min: V25 }, SendMail: { min: V25 }, SmartForward: { min: V25 }, SmartReply: { min: V25 },
  GetAttachment: { min: V25, max: V121 }, FolderSync: { min: V25 }, FolderCreate: { min: V25 },
  FolderDelete: { min: V25 }, FolderUpdate: { min: V25 }, MoveItems: { min: V25 }, GetItemEstimate: { min: V25 },
  MeetingResponse: { min: V25 }, Search: { min: V25 }, Settings: { min: V120 }, Ping: { min: V25 },
  ItemOperations: { min: V120 }, Provision: { min: V25 }, ResolveRecipients: { min: V25 }, ValidateCert: { min: V25 },
  Find: { min: V161 },
};

/** The namespace of each command's top-level element. */
export const COMMAND_NAMESPACE: Readonly<Record<string, string>> = {
  Sync: 'AirSync', SendMail: 'ComposeMail', SmartForward: 'ComposeMail', SmartReply: 'ComposeMail',
  FolderSync: 'FolderHierarchy', FolderCreate: 'FolderHierarchy', FolderDelete: 'FolderHierarchy',
  FolderUpdate: 'FolderHierarchy', MoveItems: 'Move', GetItemEstimate: 'GetItemEstimate',
  MeetingResponse: 'MeetingResponse', Search: 'Search', Settings: 'Settings', Ping: 'Ping',
  ItemOperations: 'ItemOperations', Provision: 'Provision', ResolveRecipients: 'ResolveRecipients',
  ValidateCert: 'ValidateCert', Find: 'Find',
};
