// A lean EAS client for load: node:http with explicit agents, so thousands of requests can be held
// open at once without fetch's per-request machinery, plus the device set-up every device needs
// (Provision in two phases, FolderSync).
import http from 'node:http';
import { decodeWbxml, encodeWbxml } from '../../eas/wbxml/index.js';
import { ns } from '../../eas/wbxml/ns.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';

const P = ns('Provision');
const F = ns('FolderHierarchy');
const Se = ns('Settings');

export interface EasReply {
  status: number;
  reason?: string;
  raw: Buffer;
  body?: WbxmlElement;
}

export interface Device {
  user: string;
  password: string;
  deviceId: string;
  version: string;
  policyKey?: number;
  folders: Map<string, string>;
  hierarchyKey?: string;
}

/** Keep-alive connections for ordinary request/response traffic. */
export const busyAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
/** One connection per request, unlimited: for requests the server holds open (Ping, held Sync). */
export const heldAgent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

export function easRequest(port: number, d: Device, command: string, body: WbxmlElement | undefined,
  o: { agent?: http.Agent; policyKey?: number | null; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<EasReply> {
  const payload = body ? encodeWbxml(body) : undefined;
  const query = new URLSearchParams({ Cmd: command, User: d.user, DeviceId: d.deviceId, DeviceType: 'BenchDevice' }).toString();
  const headers: Record<string, string> = {
    Authorization: 'Basic ' + Buffer.from(`${d.user}:${d.password}`).toString('base64'),
    'MS-ASProtocolVersion': d.version,
    'User-Agent': 'easmime-bench/1.0',
  };
  const key = o.policyKey === null ? undefined : (o.policyKey ?? d.policyKey);
  if (key !== undefined) headers['X-MS-PolicyKey'] = String(key);
  if (payload) {
    headers['Content-Type'] = 'application/vnd.ms-sync.wbxml';
    headers['Content-Length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/Microsoft-Server-ActiveSync?${query}`, headers, agent: o.agent ?? busyAgent, signal: o.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        let decoded: WbxmlElement | undefined;
        try {
          decoded = (res.headers['content-type'] ?? '').startsWith('application/vnd.ms-sync.wbxml') && raw.length > 0 ? decodeWbxml(raw) : undefined;
        } catch (e) {
          reject(e);
          return;
        }
        const reason = res.headers['x-easmime-reason'];
        resolve({ status: res.statusCode ?? 0, reason: typeof reason === 'string' ? reason : undefined, raw, body: decoded });
      });
    });
    if (o.timeoutMs) req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`${command} timed out after ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Provision (both phases) and FolderSync from 0: what a device does before it may Ping. */
export async function enrol(port: number, d: Device): Promise<void> {
  const info = Number(d.version) >= 14.1 && Se('DeviceInformation', Se('Set', Se('Model', 'BenchPhone'), Se('OS', 'BenchOS 1')));
  const first = await easRequest(port, d, 'Provision', P('Provision', info, P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))), { policyKey: null });
  const policy = child(child(first.body, 'Provision:Policies'), 'Provision:Policy');
  const temp = childText(policy, 'Provision:PolicyKey');
  if (first.status !== 200 || !temp) throw new Error(`Provision of ${d.user}/${d.deviceId}: HTTP ${first.status} Status ${childText(first.body, 'Provision:Status')} ${first.reason ?? ''}`);
  const second = await easRequest(port, d, 'Provision', P('Provision', P('Policies', P('Policy',
    P('PolicyType', 'MS-EAS-Provisioning-WBXML'), P('PolicyKey', temp), P('Status', 1)))), { policyKey: Number(temp) });
  const key = childText(child(child(second.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:PolicyKey');
  if (!key) throw new Error(`Provision phase 2 of ${d.user}/${d.deviceId}: HTTP ${second.status} ${second.reason ?? ''}`);
  d.policyKey = Number(key);
  const fs = await easRequest(port, d, 'FolderSync', F('FolderSync', F('SyncKey', '0')));
  if (childText(fs.body, 'FolderHierarchy:Status') !== '1') throw new Error(`FolderSync of ${d.user}/${d.deviceId}: HTTP ${fs.status} ${fs.reason ?? ''}`);
  d.hierarchyKey = childText(fs.body, 'FolderHierarchy:SyncKey');
  for (const a of childrenOf(child(fs.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')) {
    d.folders.set(childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!);
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
