// The two forms of the EAS request line (MS-ASHTTP 2.2.1.1.1): the plain query
// `Cmd=Sync&User=...&DeviceId=...&DeviceType=...` and the base64-encoded binary query.

export const COMMAND_CODES: Readonly<Record<number, string>> = {
  0: 'Sync', 1: 'SendMail', 2: 'SmartForward', 3: 'SmartReply', 4: 'GetAttachment', 9: 'FolderSync',
  10: 'FolderCreate', 11: 'FolderDelete', 12: 'FolderUpdate', 13: 'MoveItems', 14: 'GetItemEstimate',
  15: 'MeetingResponse', 16: 'Search', 17: 'Settings', 18: 'Ping', 19: 'ItemOperations', 20: 'Provision',
  21: 'ResolveRecipients', 22: 'ValidateCert', 23: 'Find',
};

const PARAM_TAGS: Readonly<Record<number, string>> = {
  0: 'AttachmentName', 1: 'CollectionId', 2: 'CollectionName', 3: 'ItemId', 4: 'LongId', 5: 'ParentId',
  6: 'Occurrence', 7: 'Options', 8: 'User',
};

export interface EasQuery {
  form: 'plain' | 'base64';
  command: string;
  user?: string;
  deviceId: string;
  deviceType: string;
  /** Only in the base64 form (the plain form carries these as headers). */
  protocolVersion?: string;
  policyKey?: number;
  locale?: number;
  /** Command parameters: AttachmentName, CollectionId, ItemId, LongId, Occurrence, SaveInSent, AcceptMultiPart, ... */
  params: Record<string, string>;
}

export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

export const MAX_QUERY_LENGTH = 4096;
const DEVICE_ID = /^[A-Za-z0-9]{1,32}$/;
const KNOWN_VERSIONS: Readonly<Record<number, string>> = { 25: '2.5', 120: '12.0', 121: '12.1', 140: '14.0', 141: '14.1', 160: '16.0', 161: '16.1' };

/** Parses the raw query string (without '?'). Throws QueryError with a precise reason. */
export function parseQuery(raw: string): EasQuery {
  if (raw.length === 0) throw new QueryError('the request has no query string (expected Cmd=... or the base64 form)');
  if (raw.length > MAX_QUERY_LENGTH) throw new QueryError(`the query string is longer than ${MAX_QUERY_LENGTH} characters`);
  // Read the raw string ourselves: a framework's parser may turn '+' of the base64 form into a space.
  return /(^|&)Cmd=/i.test(raw) ? parsePlain(raw) : parseBase64(raw);
}

function parsePlain(raw: string): EasQuery {
  const params: Record<string, string> = {};
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    let value: string;
    try {
      value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      throw new QueryError(`query parameter ${name}: bad percent-encoding`);
    }
    const key = canonicalParam(name);
    if (key in params) throw new QueryError(`query parameter ${key} is given twice`);
    params[key] = value;
  }
  const command = params.Cmd;
  const deviceId = params.DeviceId;
  const deviceType = params.DeviceType;
  if (!command) throw new QueryError('query parameter Cmd is missing');
  if (!/^[A-Za-z]{1,32}$/.test(command)) throw new QueryError(`query parameter Cmd: "${command.slice(0, 40)}" is not a command name`);
  if (deviceId === undefined || deviceId === '') throw new QueryError('query parameter DeviceId is missing');
  if (!DEVICE_ID.test(deviceId)) throw new QueryError('query parameter DeviceId must be 1 to 32 letters and digits');
  if (deviceType === undefined || deviceType === '') throw new QueryError('query parameter DeviceType is missing');
  if (!/^[\x21-\x7e]{1,64}$/.test(deviceType)) throw new QueryError('query parameter DeviceType must be 1 to 64 visible ASCII characters');
  const { Cmd: _c, User: user, DeviceId: _d, DeviceType: _t, ...rest } = params;
  return { form: 'plain', command, user, deviceId, deviceType, params: rest };
}

const KNOWN_PLAIN = ['Cmd', 'User', 'DeviceId', 'DeviceType', 'AttachmentName', 'CollectionId', 'ItemId', 'LongId', 'Occurrence', 'SaveInSent'];
function canonicalParam(name: string): string {
  return KNOWN_PLAIN.find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
}

function parseBase64(raw: string): EasQuery {
  let text = raw;
  try {
    text = decodeURIComponent(raw);
  } catch {
    throw new QueryError('the base64 query has bad percent-encoding');
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1) {
    throw new QueryError('the query is neither a plain query (Cmd=...) nor valid base64');
  }
  const b = Buffer.from(text, 'base64');
  let pos = 0;
  const need = (n: number, what: string): void => {
    if (pos + n > b.length) throw new QueryError(`the base64 query ends inside ${what} (byte ${pos} of ${b.length})`);
  };
  need(1, 'the protocol version');
  const versionByte = b[pos++]!;
  const protocolVersion = KNOWN_VERSIONS[versionByte];
  if (!protocolVersion) throw new QueryError(`the base64 query names protocol version byte ${versionByte}, which is not a known EAS version`);
  need(1, 'the command code');
  const code = b[pos++]!;
  const command = COMMAND_CODES[code];
  if (!command) throw new QueryError(`the base64 query has unknown command code ${code}`);
  need(2, 'the locale');
  const locale = b.readUInt16LE(pos);
  pos += 2;
  need(1, 'the device id length');
  const idLen = b[pos++]!;
  if (idLen === 0) throw new QueryError('the base64 query has an empty device id');
  need(idLen, 'the device id');
  const idBytes = b.subarray(pos, pos + idLen);
  pos += idLen;
  // Some clients put a binary GUID here: printable ids are kept as they are, anything else is hex.
  const asText = idBytes.toString('latin1');
  const deviceId = DEVICE_ID.test(asText) ? asText : idBytes.toString('hex');
  if (deviceId.length > 64) throw new QueryError('the base64 query has a device id longer than 32 bytes');
  need(1, 'the policy key length');
  const pkLen = b[pos++]!;
  let policyKey: number | undefined;
  if (pkLen === 4) {
    need(4, 'the policy key');
    policyKey = b.readUInt32LE(pos);
    pos += 4;
  } else if (pkLen !== 0) {
    throw new QueryError(`the base64 query has a policy key of ${pkLen} bytes (0 or 4 expected)`);
  }
  need(1, 'the device type length');
  const typeLen = b[pos++]!;
  need(typeLen, 'the device type');
  const deviceType = b.subarray(pos, pos + typeLen).toString('latin1');
  pos += typeLen;
  if (!/^[\x21-\x7e]{1,64}$/.test(deviceType)) throw new QueryError('the base64 query has an empty or non-printable device type');
  const params: Record<string, string> = {};
  let user: string | undefined;
  while (pos < b.length) {
    need(2, 'a command parameter');
    const tag = b[pos++]!;
    const len = b[pos++]!;
    need(len, 'a command parameter value');
    const value = b.subarray(pos, pos + len);
    pos += len;
    const name = PARAM_TAGS[tag];
    if (!name) throw new QueryError(`the base64 query has unknown parameter tag ${tag}`);
    if (name === 'Options') {
      const bits = value[0] ?? 0;
      if (bits & 0x01) params.SaveInSent = 'T';
      if (bits & 0x02) params.AcceptMultiPart = 'T';
    } else if (name === 'User') {
      user = value.toString('utf8');
    } else {
      params[name] = value.toString('utf8');
    }
  }
  return { form: 'base64', command, user, deviceId, deviceType, protocolVersion, policyKey, locale, params };
}

/** Builds a base64 query (for tests and tools). */
export function encodeBase64Query(q: { version: string; command: string; deviceId: string; deviceType: string; policyKey?: number; locale?: number; params?: Record<string, string>; user?: string }): string {
  const versionByte = Number(Object.entries(KNOWN_VERSIONS).find(([, v]) => v === q.version)?.[0]);
  const code = Number(Object.entries(COMMAND_CODES).find(([, c]) => c === q.command)?.[0]);
  if (!Number.isFinite(versionByte) || !Number.isFinite(code)) throw new Error('unknown version or command');
  const parts: Buffer[] = [Buffer.from([versionByte, code])];
  const locale = Buffer.alloc(2);
  locale.writeUInt16LE(q.locale ?? 0x0409);
  parts.push(locale, Buffer.from([q.deviceId.length]), Buffer.from(q.deviceId, 'latin1'));
  if (q.policyKey === undefined) parts.push(Buffer.from([0]));
  else {
    const pk = Buffer.alloc(5);
    pk[0] = 4;
    pk.writeUInt32LE(q.policyKey, 1);
    parts.push(pk);
  }
  parts.push(Buffer.from([q.deviceType.length]), Buffer.from(q.deviceType, 'latin1'));
  const tagOf = (name: string): number => Number(Object.entries(PARAM_TAGS).find(([, n]) => n === name)?.[0]);
  let options = 0;
  for (const [name, value] of Object.entries(q.params ?? {})) {
    if (name === 'SaveInSent') { if (value === 'T') options |= 1; continue; }
    if (name === 'AcceptMultiPart') { if (value === 'T') options |= 2; continue; }
    const v = Buffer.from(value, 'utf8');
    parts.push(Buffer.from([tagOf(name), v.length]), v);
  }
  if (options) parts.push(Buffer.from([7, 1, options]));
  if (q.user) {
    const v = Buffer.from(q.user, 'utf8');
    parts.push(Buffer.from([8, v.length]), v);
  }
  return Buffer.concat(parts).toString('base64');
}
