// Thunderbird's EAS client, EAS-4-TbSync (Debian's webext-eas4tbsync), run in Node against the server.
// Its own code builds every request, sends it and reads every answer: the WBXML codec
// (wbxmltools.js), the XML-to-object reader (xmltools.js), the requests and status handling
// (network.js) and the account and folder flows (sync.js). What it expects of Thunderbird is given
// here as the platform would give it: an XMLHttpRequest over real HTTP with a browser's rules
// (forbidden headers dropped, strings sent as UTF-8, text answers read as UTF-8), a DOMParser
// (@xmldom/xmldom), and in-memory account, folder and password stores in TbSync's shapes.
// Nothing of the client's logic is replaced. The package is fetched by
// test/support/fetch-eas4tbsync.sh (downloaded, not installed: it would pull in Thunderbird).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import vm from 'node:vm';
import { DOMParser } from '@xmldom/xmldom';
import { PROJECT_ROOT } from './server-process.js';

/** Where the extension's files are: EASMIME_TBSYNC_DIR, or .cache/eas4tbsync as the fetch script leaves them. */
export function tbsyncDir(): string | undefined {
  const dir = process.env.EASMIME_TBSYNC_DIR ?? path.join(PROJECT_ROOT, '.cache', 'eas4tbsync');
  return fs.existsSync(path.join(dir, 'content', 'includes', 'network.js')) ? dir : undefined;
}

/** The extension's own version (manifest.json). */
export function tbsyncVersion(dir: string): string {
  return (JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { version: string }).version;
}

/** What TbSync's status objects carry (TbSync.StatusData). */
export interface TbSyncStatus {
  type: string;
  message: string;
  details: string;
}

/** An error thrown by the client's code: eas.sync.finish() results carry a statusData. */
export function tbsyncFailure(e: unknown): string {
  const s = (e as { statusData?: TbSyncStatus }).statusData;
  return s ? `${s.type}: ${s.message}${s.details ? ` (${s.details.slice(0, 2000)})` : ''}` : String(e instanceof Error ? e.stack : e);
}

const STATUS = { SUCCESS: 'success', ERROR: 'error', WARNING: 'warning', INFO: 'info', ACCOUNT_RERUN: 'account_rerun', FOLDER_RERUN: 'folder_rerun' } as const;

/** Headers a page's script may not set: the browser computes or refuses them (fetch spec's forbidden request headers). */
const FORBIDDEN_HEADERS = new Set(['accept-charset', 'accept-encoding', 'connection', 'content-length', 'cookie', 'date', 'expect', 'host', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'via']);

/** One HTTP exchange as the client saw it, for assertions and for failure messages. */
export interface Exchange {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  requestBody: Buffer;
  status: number;
  responseHeaders: http.IncomingHttpHeaders;
  responseBody: Buffer;
}

/** XMLHttpRequest with the parts TbSync uses, over node:http and node:https (trusting `ca`, as the platform's store would). */
function xhrClass(exchanges: Exchange[], ca: string | undefined) {
  return class XMLHttpRequest {
    mozBackgroundRequest = false;
    timeout = 0;
    readyState = 0;
    status = 0;
    responseText = '';
    responseURL = '';
    channel: { URI: { spec: string } } = { URI: { spec: '' } };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    ontimeout: (() => void) | null = null;
    private method = 'GET';
    private url = '';
    private headers: Record<string, string> = {};
    private response: http.IncomingHttpHeaders = {};

    open(method: string, url: string): void {
      this.method = method;
      this.url = url;
      this.readyState = 1;
    }

    overrideMimeType(): void {
      // Answers are read as UTF-8 text whatever they say they are, as Firefox does with text/plain.
    }

    setRequestHeader(name: string, value: unknown): void {
      if (FORBIDDEN_HEADERS.has(name.toLowerCase())) return;
      this.headers[name] = String(value);
    }

    getResponseHeader(name: string): string | null {
      const v = this.response[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    }

    send(body?: Uint8Array | string | null): void {
      const bytes = body === undefined || body === null ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
      const secure = this.url.startsWith('https:');
      const req = (secure ? https : http).request(this.url, {
        method: this.method,
        headers: { ...this.headers, ...(bytes.length > 0 || this.method === 'POST' ? { 'Content-Length': String(bytes.length) } : {}) },
        timeout: this.timeout || undefined,
        ...(secure && ca ? { ca } : {}),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const responseBody = Buffer.concat(chunks);
          exchanges.push({ method: this.method, url: this.url, requestHeaders: { ...this.headers }, requestBody: bytes, status: res.statusCode ?? 0, responseHeaders: res.headers, responseBody });
          this.status = res.statusCode ?? 0;
          this.response = res.headers;
          this.responseText = new TextDecoder('utf-8').decode(responseBody);
          this.responseURL = this.url;
          this.channel = { URI: { spec: this.url } };
          this.readyState = 4;
          this.onload?.();
        });
        res.on('error', () => this.onerror?.());
      });
      req.on('timeout', () => {
        req.destroy();
        this.ontimeout?.();
      });
      req.on('error', () => {
        if (this.readyState !== 4) this.onerror?.();
      });
      req.end(bytes);
    }
  };
}

/** A TbSync account with its folders, kept as TbSync's database would (properties with defaults). */
export class AccountData {
  readonly accountID = '1';
  readonly folders: FolderData[] = [];
  private readonly props: Record<string, unknown>;
  constructor(private readonly defaults: Record<string, unknown>) {
    this.props = { ...defaults };
  }
  getAccountProperty(name: string, fallback?: unknown): unknown {
    return name in this.props ? this.props[name] : fallback;
  }
  setAccountProperty(name: string, value: unknown): void {
    this.props[name] = value;
  }
  resetAccountProperty(name: string): void {
    this.props[name] = this.defaults[name];
  }
  isConnected(): boolean {
    return false;
  }
  getFolder(prop: string, value: unknown): FolderData | null {
    return this.folders.find((f) => f.getFolderProperty(prop) === value) ?? null;
  }
  getFolderFromCache(): null {
    return null;
  }
  createNewFolder(): FolderData {
    const f = new FolderData(this);
    this.folders.push(f);
    return f;
  }
}

export class FolderData {
  private readonly props: Record<string, unknown> = { type: '', synckey: '', target: '', targetColor: '', targetName: '', parentID: '0', serverID: '', downloadonly: false, lastsynctime: 0 };
  removed?: string;
  constructor(readonly accountData: AccountData) {}
  getFolderProperty(name: string): unknown {
    return this.props[name];
  }
  setFolderProperty(name: string, value: unknown): void {
    this.props[name] = value;
  }
  remove(reason = ''): void {
    this.removed = reason || 'removed';
  }
}

/** TbSync's per-run state (syncData): the account, the folder being synced, the state name, progress. */
export class SyncData {
  state = 'idle';
  currentFolderData: FolderData | null = null;
  type: string | null = null;
  synckey = '';
  request = '';
  response = '';
  eventLogInfo = {};
  progressData = { reset: () => undefined };
  constructor(readonly accountData: AccountData) {}
  getSyncState(): { state: string } {
    return { state: this.state };
  }
  setSyncState(state: string): void {
    this.state = state;
  }
}

/** The client's modules, loaded into one context, as the extension's provider loads them into `eas`. */
export interface TbSyncEas {
  network: {
    getServerOptions(s: SyncData): Promise<void>;
    getPolicykey(s: SyncData): Promise<void>;
    getSynckey(s: SyncData): Promise<void>;
    getItemEstimate(s: SyncData): Promise<void>;
    getUserInfo(s: SyncData): Promise<void>;
    getSearchResults(a: AccountData, query: string): Promise<string | undefined>;
    getServerConnectionViaAutodiscoverRequest(method: string, connection: { accountname: string; url: string; user: string }, password: string, maxtimeout: number): Promise<{ url: string; error: unknown; server: string; user: string }>;
    stripAutodiscoverUrl(url: string): string;
    getServerConnectionViaAutodiscoverV2JsonRequest(accountname: string, user: string, url: string, maxtimeout: number): Promise<{ url: string; error: unknown; server: string }>;
    getDataFromResponse(wbxml: string, allowEmpty?: boolean): Record<string, unknown> | null;
    sendRequest(wbxml: string, command: string, s: SyncData, allowSoftFail?: boolean): Promise<string>;
  };
  sync: {
    folderList(s: SyncData): Promise<void>;
    requestRemoteChanges(s: SyncData): Promise<void>;
  };
  wbxmltools: {
    convert2xml(wbxml: string): string | false;
    createWBXML(): { switchpage(n: string): void; otag(n: string): void; atag(n: string, v?: string): void; ctag(): void; getBytes(): string };
    codepages: Array<Record<number, string>>;
    namespaces: string[];
  };
  xmltools: { getDataFromXMLString(xml: string): Record<string, unknown> | null; getWbxmlDataField(d: unknown, path: string): unknown; nodeAsArray(n: unknown): unknown[] };
}

export interface TbSyncClient {
  eas: TbSyncEas;
  /** Every HTTP exchange, in order. */
  exchanges: Exchange[];
  /** TbSync's own log lines (TbSync.dump) and event-log entries: what a user would see in its log. */
  log: string[];
  /** Errors the client reported to the console (Components.utils.reportError). */
  reported: unknown[];
  /** A new account for `user` on `host` (host:port), with TbSync's defaults but for `https` (default off). */
  newAccount(user: string, password: string, host: string, https?: boolean): AccountData;
}

const MODULES = ['wbxmltools', 'xmltools', 'network', 'sync'] as const;

/** @param opts.ca PEM of a CA the client trusts for HTTPS (a test CA, as a user would install it in Thunderbird) */
export function loadTbSync(dir: string, opts: { ca?: string } = {}): TbSyncClient {
  const exchanges: Exchange[] = [];
  const log: string[] = [];
  const reported: unknown[] = [];
  const passwords = new Map<string, string>();
  const XHR = xhrClass(exchanges, opts.ca);

  class StatusData {
    static readonly SUCCESS = STATUS.SUCCESS;
    static readonly ERROR = STATUS.ERROR;
    static readonly WARNING = STATUS.WARNING;
    static readonly INFO = STATUS.INFO;
    static readonly ACCOUNT_RERUN = STATUS.ACCOUNT_RERUN;
    static readonly FOLDER_RERUN = STATUS.FOLDER_RERUN;
    constructor(readonly type: string = STATUS.SUCCESS, readonly message = '', readonly details = '') {}
  }
  const TbSync = {
    StatusData,
    EventLogInfo: class { constructor(readonly provider: string) {} },
    dump: (what: string, text = '') => log.push(`${what}: ${text}`),
    prefs: { getIntPref: () => 0 },
    eventlog: { add: (type: string, _info: unknown, message: string, details = '') => log.push(`[${type}] ${message} ${details}`) },
    getString: (key: string) => key,
    tools: {
      // TbSync's b64encode is btoa over the UTF-8 bytes.
      b64encode: (s: string) => Buffer.from(s, 'utf8').toString('base64'),
      sleep: (ms: number) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
    },
    network: { createTCPErrorFromFailedXHR: () => 'networkerror' },
    passwordManager: {
      getLoginInfo: (host: string, _realm: string, user: string) => passwords.get(`${host}\u0000${user}`) ?? '',
      asyncPasswordPrompt: async () => null, // a user who cancels the prompt
    },
  };
  const prefs: Record<string, unknown> = { timeout: 30_000, maxitems: 50, msTodoCompat: false, 'clientID.type': 'TbSync', 'clientID.useragent': 'Thunderbird ActiveSync', 'oauth.clientID': '' };
  const context = vm.createContext({
    console: { log: (...a: unknown[]) => log.push(a.map(String).join(' ')), error: (...a: unknown[]) => log.push(a.map(String).join(' ')) },
    TextEncoder, TextDecoder, setTimeout, clearTimeout, DOMParser,
    ChromeUtils: {
      import: () => ({ TbSync, OAuth2: undefined, MailServices: {}, XPCOMUtils: { defineLazyModuleGetters: () => undefined } }),
    },
    Services: {
      io: { newURI: (spec: string) => { const u = new URL(spec); return { spec, scheme: u.protocol.replace(':', ''), hostPort: u.host }; } },
      appinfo: { OS: 'Linux', platformVersion: '128.0' },
      vc: { compare: () => 1 },
      scriptSecurityManager: { createContentPrincipal: () => ({}) },
      clearData: { deleteDataFromOriginAttributesPattern: () => undefined },
    },
    Components: {
      utils: { Sandbox: () => ({ XMLHttpRequest: XHR }), reportError: (e: unknown) => reported.push(e) },
    },
  });
  for (const m of MODULES) {
    const file = path.join(dir, 'content', 'includes', `${m}.js`);
    vm.runInContext(fs.readFileSync(file, 'utf8'), context, { filename: file });
  }
  const g = context as Record<string, unknown>;
  const wbxmltools = g.wbxmltools as { buildCodepages2(): void };
  wbxmltools.buildCodepages2();
  const eas = {
    network: g.network, sync: g.sync, wbxmltools, xmltools: g.xmltools,
    flags: Object.freeze({ allowEmptyResponse: true }),
    Base: { getConnectionTimeout: () => prefs.timeout },
    prefs: { getCharPref: (n: string) => prefs[n], getIntPref: (n: string) => prefs[n], getBoolPref: (n: string) => prefs[n] },
    openWindows: {},
  };
  g.eas = eas;

  return {
    eas: eas as unknown as TbSyncEas,
    exchanges,
    log,
    reported,
    newAccount(user, password, host, secure = false) {
      const account = new AccountData({
        // A new device per account, as TbSync makes one (MZTB and 28 hex digits).
        policykey: '0', foldersynckey: '0', deviceId: `MZTB${crypto.randomBytes(14).toString('hex')}`, asversionselected: 'auto', asversion: '',
        host, user, servertype: 'custom', seperator: '10', https: secure, provision: false, displayoverride: false, lastEasOptionsUpdate: '0',
        allowedEasVersions: '', allowedEasCommands: '', useragent: prefs['clientID.useragent'], devicetype: prefs['clientID.type'], synclimit: '7',
        accountname: `TbSync ${user}`,
      });
      passwords.set(`TbSync#${account.accountID}\u0000${user}`, password);
      return account;
    },
  };
}
