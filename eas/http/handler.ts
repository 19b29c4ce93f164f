// The EAS endpoint, free of any HTTP framework: a request in (method, raw query, headers, body),
// a response out. server/ mounts it in koa.
import type { EasBackend, Principal } from '../backend.js';
import { decodeWbxml, encodeWbxml, WbxmlError } from '../wbxml/index.js';
import { x, type WbxmlElement } from '../wbxml/tree.js';
import { toXml } from '../wbxml/xml.js';
import { BASE64_QUERY_SINCE, COMMANDS, COMMAND_NAMESPACE, parseVersion, SUPPORTED_VERSIONS, V140 } from '../version.js';
import { parseQuery, QueryError } from './query.js';
import { CommandFailure, type CommandCache, type CommandContext, type CommandHandler, type CommandResult } from '../commands/context.js';
import { COMMAND_HANDLERS } from '../commands/index.js';
import { CollectionLocks } from '../commands/collectionlocks.js';
import { HeldRequests } from '../commands/held.js';

export interface EasHttpRequest {
  method: string;
  /** The query string exactly as received, without '?'. */
  rawQuery: string;
  headers: Record<string, string | undefined>;
  body: Buffer;
  signal: AbortSignal;
  remoteAddress?: string;
}

export interface EasHttpResponse {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface EasHandlerOptions {
  serverName?: string;
  maxWbxmlBytes?: number;
  log?: (event: Record<string, unknown>) => void;
  /** Decoded requests and responses as XML, for tracing (off by default: bodies hold mail). */
  trace?: (record: { user: string; deviceId: string; command: string; request?: string; response?: string }) => void;
  /** Longest a Sync waits for another Sync of the same device and collection to finish (default 30 s). */
  syncLockWaitMs?: number;
}

/**
 * A Sync that works on a collection waits for the device's previous Sync of it: up to 30 s (a draft
 * sent through a slow smarthost takes that long at most), and at most 4 requests deep. Beyond either
 * bound the server is busy for that device: 111, or HTTP 503 before 14.0, with Retry-After.
 */
export const SYNC_LOCK_WAIT_MS = 30_000;
export const SYNC_LOCK_MAX_WAITERS = 4;

const WBXML_TYPE = 'application/vnd.ms-sync.wbxml';
const POLICY_EXEMPT = new Set(['Provision', 'Ping']);
/** 2.5/12.x answer with HTTP codes where 14.0+ puts a common status in the body (MS-ASCMD 2.2.2). */
const LEGACY_HTTP_FOR_STATUS: Readonly<Record<number, number>> = {
  101: 400, 102: 400, 103: 400, 106: 400, 110: 500, 111: 503, 112: 403, 113: 507, 125: 403, 126: 403,
  132: 403, 137: 501, 138: 400, 140: 449, 141: 449, 142: 449, 143: 449, 144: 449, 147: 400,
};

/**
 * The commands this server answers, for MS-ASProtocolCommands. Only implemented ones are listed (the
 * 2.5-era GetHierarchy, CreateCollection, DeleteCollection and MoveCollection are not): a client that
 * tried one would get 501. OPTIONS names no version, so the list spans all versions (Find is 16.1's).
 */
export function advertisedCommands(): string {
  return Object.keys(COMMANDS).filter((c) => COMMAND_HANDLERS[c] !== undefined).join(',');
}

export function createEasHandler(backend: EasBackend, options: EasHandlerOptions = {}): (req: EasHttpRequest) => Promise<EasHttpResponse> {
  const serverName = options.serverName ?? '15.20.0000.000';
  const log = options.log ?? (() => undefined);
  const cache: CommandCache = {
    lastSync: new Map(),
    syncLocks: new CollectionLocks({ waitMs: options.syncLockWaitMs ?? SYNC_LOCK_WAIT_MS, maxWaiters: SYNC_LOCK_MAX_WAITERS }),
    held: new HeldRequests(),
  };
  const common = (): Record<string, string> => ({ 'MS-Server-ActiveSync': serverName, 'Cache-Control': 'private' });
  const versionHeaders = (): Record<string, string> => ({
    'MS-ASProtocolVersions': SUPPORTED_VERSIONS.join(','),
    'MS-ASProtocolCommands': advertisedCommands(),
  });
  const text = (status: number, message: string, extra: Record<string, string> = {}): EasHttpResponse => ({
    status,
    headers: { ...common(), 'Content-Type': 'text/plain; charset=utf-8', 'X-EasMime-Reason': headerSafe(message), ...extra },
    body: Buffer.from(message + '\n'),
  });

  async function authenticate(req: EasHttpRequest): Promise<Principal | EasHttpResponse> {
    const challenge = { 'WWW-Authenticate': 'Basic realm="easmime"' };
    const auth = req.headers.authorization;
    if (!auth) return text(401, 'authentication required', challenge);
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
    if (!m) return text(401, 'only Basic authentication is supported', challenge);
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return text(401, 'malformed Basic credentials', challenge);
    const principal = await backend.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1));
    if (!principal) return text(401, 'wrong user name or password', challenge);
    return principal;
  }

  return async function handle(req: EasHttpRequest): Promise<EasHttpResponse> {
    const started = Date.now();
    const method = req.method.toUpperCase();
    if (method === 'OPTIONS') {
      const who = await authenticate(req);
      if (!('userId' in who)) return who;
      return { status: 200, headers: { ...common(), ...versionHeaders(), Allow: 'OPTIONS,POST', Public: 'OPTIONS,POST' } };
    }
    if (method === 'GET') {
      const who = await authenticate(req);
      if (!('userId' in who)) return who;
      return text(200, 'easmime Exchange ActiveSync endpoint: clients POST WBXML commands here.');
    }
    if (method !== 'POST') return text(405, `method ${method} is not supported here`, { Allow: 'OPTIONS,POST' });

    let query;
    try {
      query = parseQuery(req.rawQuery);
    } catch (e) {
      if (e instanceof QueryError) return text(400, `bad request query: ${e.message}`);
      throw e;
    }
    const who = await authenticate(req);
    if (!('userId' in who)) return who;
    const principal = who;

    const versionText = query.protocolVersion ?? req.headers['ms-asprotocolversion'];
    if (!versionText) return text(400, 'the MS-ASProtocolVersion header is missing');
    const version = parseVersion(versionText);
    if (!version) return text(400, `protocol version ${versionText.slice(0, 20)} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`, versionHeaders());
    // MS-ASHTTP: the base64 request line came with 12.1; older clients only send the plain one.
    if (query.form === 'base64' && version < BASE64_QUERY_SINCE) {
      return text(400, `the base64 query form does not exist in protocol version ${versionText}: send Cmd=... with MS-ASProtocolVersion`, versionHeaders());
    }

    const command = query.command;
    const spec = COMMANDS[command];
    if (!spec) return text(501, `unknown command ${command.slice(0, 40)} (this server knows ${advertisedCommands()})`);
    const handler: CommandHandler | undefined = COMMAND_HANDLERS[command];
    if (version < spec.min || (spec.max !== undefined && version > spec.max)) {
      return fail(command, version, 138, `${command} does not exist in protocol version ${versionText}`);
    }
    if (!handler) return fail(command, version, 137, `${command} is not implemented by this server yet`);

    const device = backend.device(principal, query.deviceId, query.deviceType, req.headers['user-agent']);

    if (!POLICY_EXEMPT.has(command)) {
      const keyText = query.form === 'base64' ? (query.policyKey === undefined ? undefined : String(query.policyKey)) : req.headers['x-ms-policykey'];
      const sentKey = keyText === undefined || keyText.trim() === '' ? 0 : Number(keyText);
      if (device.wipeState === 'requested' || device.wipeState === 'account-requested') {
        if (version < V140 && keyText === undefined) return { status: 403, headers: common() };
        return fail(command, version, 140, 'a remote wipe is pending: the device must Provision');
      }
      if (device.policyKey === undefined || !Number.isInteger(sentKey) || sentKey === 0) {
        return fail(command, version, 142, 'the device is not provisioned: send Provision first');
      }
      if (sentKey !== device.policyKey) return fail(command, version, 144, 'the policy key is not current: Provision again');
    }

    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    let request: WbxmlElement | undefined;
    const wantsWbxml = !(version < V140 && ['SendMail', 'SmartReply', 'SmartForward'].includes(command));
    if (req.body.length > 0 && wantsWbxml) {
      if (contentType && !contentType.startsWith('application/vnd.ms-sync')) {
        return fail(command, version, 101, `the body's Content-Type ${contentType.slice(0, 60)} is not application/vnd.ms-sync.wbxml`);
      }
      try {
        request = decodeWbxml(req.body, { maxBytes: options.maxWbxmlBytes });
      } catch (e) {
        if (e instanceof WbxmlError) return fail(command, version, 102, `malformed WBXML: ${e.message}`);
        throw e;
      }
      const expected = `${COMMAND_NAMESPACE[command]}:${command}`;
      if (request.tag !== expected) return fail(command, version, 103, `the request's root element is ${request.tag}, expected ${expected}`);
    }

    const ctx: CommandContext = {
      backend, principal, device, version, query, headers: req.headers, request, rawBody: req.body,
      signal: req.signal, cache, log,
    };
    let result: CommandResult;
    try {
      result = await handler(ctx);
    } catch (e) {
      if (e instanceof CommandFailure) return fail(command, version, e.status, e.message, e.headers);
      log({ level: 'error', msg: 'command failed', command, user: principal.address, deviceId: query.deviceId, error: e instanceof Error ? e.stack : String(e) });
      return fail(command, version, 110, 'internal server error');
    }
    const response = toHttp(result);
    if (command === 'FolderSync' && request && (request.children.find((c) => c.tag === 'FolderHierarchy:SyncKey')?.text ?? '') === '0') {
      Object.assign(response.headers, versionHeaders());
    }
    log({ level: 'info', msg: 'eas', user: principal.address, deviceId: query.deviceId, command, version: versionText, status: response.status, ms: Date.now() - started });
    if (options.trace) {
      options.trace({
        user: principal.address, deviceId: query.deviceId, command,
        request: request ? toXml(request) : undefined,
        response: result.kind === 'wbxml' ? toXml(result.body) : undefined,
      });
    }
    return response;
  };

  function toHttp(result: CommandResult): EasHttpResponse {
    switch (result.kind) {
      case 'wbxml':
        return { status: 200, headers: { ...common(), 'Content-Type': WBXML_TYPE, ...result.headers }, body: encodeWbxml(result.body) };
      case 'empty':
        return { status: 200, headers: { ...common(), ...result.headers } };
      case 'http': {
        const body = typeof result.body === 'string' ? Buffer.from(result.body) : result.body;
        return { status: result.status, headers: { ...common(), ...result.headers }, body };
      }
    }
  }

  /** A command-level failure in the form of the client's version. */
  function fail(command: string, version: number, status: number, message: string, extra: Record<string, string> = {}): EasHttpResponse {
    log({ level: 'warn', msg: 'eas failure', command, status, reason: message });
    if (version >= V140 && COMMAND_NAMESPACE[command]) {
      const ns = COMMAND_NAMESPACE[command]!;
      const body = encodeWbxml(x(`${ns}:${command}`, x(`${ns}:Status`, status)));
      return { status: 200, headers: { ...common(), ...extra, 'Content-Type': WBXML_TYPE, 'X-EasMime-Reason': headerSafe(message) }, body };
    }
    const http = LEGACY_HTTP_FOR_STATUS[status] ?? (status >= 100 ? 500 : 400);
    return { status: http, headers: { ...common(), ...extra, 'X-EasMime-Reason': headerSafe(message) } };
  }
}

function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
