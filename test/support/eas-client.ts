// A minimal EAS client for tests: real HTTP requests carrying WBXML, both query forms, Basic auth.
import { decodeWbxml, encodeWbxml } from '../../eas/wbxml/index.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';
import { encodeBase64Query } from '../../eas/http/query.js';

export interface EasResponse {
  status: number;
  headers: Headers;
  raw: Buffer;
  body?: WbxmlElement;
}

export interface ClientOptions {
  baseUrl: string;
  user: string;
  password: string;
  deviceId: string;
  deviceType?: string;
  version?: string;
}

const P = ns('Provision');

export class EasClient {
  policyKey?: number;
  version: string;
  constructor(readonly opts: ClientOptions) {
    this.version = opts.version ?? '14.1';
  }

  authHeader(user = this.opts.user, password = this.opts.password): string {
    return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  }

  /** OPTIONS with this client's credentials, as a device asks which versions and commands there are. */
  options(): Promise<Response> {
    return fetch(`${this.opts.baseUrl}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS', headers: { Authorization: this.authHeader() } });
  }

  async send(command: string, body?: WbxmlElement | Buffer, o: { base64?: boolean; policyKey?: number | null; headers?: Record<string, string>; params?: Record<string, string>; rawQuery?: string; contentType?: string } = {}): Promise<EasResponse> {
    const deviceType = this.opts.deviceType ?? 'TestDevice';
    const policyKey = o.policyKey === null ? undefined : (o.policyKey ?? this.policyKey);
    let query: string;
    const headers: Record<string, string> = { Authorization: this.authHeader(), 'User-Agent': 'easmime-test/1.0', ...o.headers };
    if (o.rawQuery !== undefined) {
      query = o.rawQuery;
      headers['MS-ASProtocolVersion'] ??= this.version;
    } else if (o.base64) {
      query = encodeBase64Query({ version: this.version, command, deviceId: this.opts.deviceId, deviceType, policyKey, params: o.params });
    } else {
      const params = new URLSearchParams({ Cmd: command, User: this.opts.user, DeviceId: this.opts.deviceId, DeviceType: deviceType, ...o.params });
      query = params.toString();
      headers['MS-ASProtocolVersion'] = this.version;
      if (policyKey !== undefined) headers['X-MS-PolicyKey'] = String(policyKey);
    }
    let payload: Buffer | undefined;
    if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : encodeWbxml(body);
      headers['Content-Type'] = o.contentType ?? 'application/vnd.ms-sync.wbxml';
    }
    const res = await fetch(`${this.opts.baseUrl}/Microsoft-Server-ActiveSync?${query}`, { method: "POST", headers, body: payload ? new Blob([new Uint8Array(payload)]) : undefined });
    const raw = Buffer.from(await res.arrayBuffer());
    const isWbxml = (res.headers.get('content-type') ?? '').startsWith('application/vnd.ms-sync.wbxml');
    return { status: res.status, headers: res.headers, raw, body: isWbxml && raw.length > 0 ? decodeWbxml(raw) : undefined };
  }

  /** FolderSync from key 0 (Status 1 or it throws): each folder's ServerId by display name. */
  async folderIds(): Promise<Map<string, string>> {
    const r = await this.send('FolderSync', ns('FolderHierarchy')('FolderSync', ns('FolderHierarchy')('SyncKey', '0')));
    if (childText(r.body, 'FolderHierarchy:Status') !== '1') throw new Error(`FolderSync failed: HTTP ${r.status}, Status ${childText(r.body, 'FolderHierarchy:Status')}`);
    return new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
      .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
  }

  /** Both Provision phases; keeps the permanent policy key. */
  async provision(deviceInfo = true): Promise<number> {
    const first = await this.send('Provision', P('Provision',
      deviceInfo && Number(this.version) >= 14.1 ? ns('Settings')('DeviceInformation', ns('Settings')('Set', ns('Settings')('Model', 'TestPhone'), ns('Settings')('OS', 'TestOS 1'))) : undefined,
      P('Policies', P('Policy', P('PolicyType', Number(this.version) >= 12 ? 'MS-EAS-Provisioning-WBXML' : 'MS-WAP-Provisioning-XML')))), { policyKey: null });
    if (first.status !== 200 || !first.body) throw new Error(`Provision phase 1 failed: HTTP ${first.status}`);
    const policy = child(child(first.body, 'Provision:Policies'), 'Provision:Policy');
    const temp = childText(policy, 'Provision:PolicyKey');
    if (!temp) throw new Error('Provision phase 1 gave no policy key');
    const second = await this.send('Provision', P('Provision', P('Policies', P('Policy',
      P('PolicyType', childText(policy, 'Provision:PolicyType') ?? ''), P('PolicyKey', temp), P('Status', 1)))), { policyKey: Number(temp) });
    const key = childText(child(child(second.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:PolicyKey');
    if (!key) throw new Error('Provision phase 2 gave no policy key');
    this.policyKey = Number(key);
    return this.policyKey;
  }
}
