// The start-up contract: flags, each with an environment variable, and their defaults.
// Users script against these names; change them only with a note in the README.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Config {
  fixtures: string;
  data: string;
  host: string;
  httpPort: number;
  /** EAS and Autodiscover over TLS too, on this port (with httpsCert and httpsKey); undefined: HTTP only. */
  httpsPort?: number;
  httpsCert?: string;
  httpsKey?: string;
  smtpPort: number;
  smtpHostname: string;
  maxMessageBytes: number;
  maxRequestBytes: number;
  logFormat: 'text' | 'json';
  /** info, or debug for every accepted SMTP command too. */
  logLevel: 'info' | 'debug';
  trace: boolean;
  smtpTlsCert?: string;
  smtpTlsKey?: string;
  smtpRequireAuth: boolean;
  /** Where mail for external recipients is relayed; without it, external mail goes to the capture store. */
  smarthost?: { host: string; port: number };
  smarthostTls: SmarthostTls;
  /** Fetch CRLs from certificates' distribution points (http/https) when the organisation holds none. */
  fetchCrls: boolean;
  /** Worker threads that parse and verify incoming mail; undefined or 0: none, the main thread does it. */
  ingestWorkers?: number;
  /** How long a mailbox Search or Find may scan before answering "timed out" (ms). */
  searchTimeoutMs: number;
  /** How long a client may take to send one HTTP request, headers and body (ms; 0: no limit). Held answers are not affected. */
  requestTimeoutMs: number;
  smarthostUser?: string;
  smarthostPassword?: string;
  /** Let AUTH at the smarthost go without TLS (test relays); otherwise credentials travel only inside TLS. */
  smarthostPlaintextAuth: boolean;
}

/** How the relay to the smarthost uses TLS (see server/outbound/smarthost.ts). */
export type SmarthostTls = 'none' | 'opportunistic' | 'starttls' | 'implicit';
const SMARTHOST_TLS: readonly SmarthostTls[] = ['none', 'opportunistic', 'starttls', 'implicit'];

// server/config.ts runs from the sources (tsx) or as dist/server/config.js (npm run build): the
// project root is whichever of the two parents holds package.json.
const projectRoot = ((): string => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '..'), path.resolve(here, '..', '..')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'package.json'))) ?? candidates[0]!;
})();

interface FlagSpec { flag: string; env: string; key: keyof Config; kind: 'path' | 'port' | 'string' | 'bytes' | 'bool' | 'format' | 'level' | 'count' | 'hostport' | 'tls' | 'ms'; help: string }

export const FLAGS: readonly FlagSpec[] = [
  { flag: '--fixtures', env: 'EASMIME_FIXTURES', key: 'fixtures', kind: 'path', help: 'fixture folder loaded into an empty data folder (default: fixtures/demo)' },
  { flag: '--data', env: 'EASMIME_DATA', key: 'data', kind: 'path', help: 'data folder holding the SQLite store (default: ./data)' },
  { flag: '--host', env: 'EASMIME_HOST', key: 'host', kind: 'string', help: 'address to listen on (default: 127.0.0.1)' },
  { flag: '--http-port', env: 'EASMIME_HTTP_PORT', key: 'httpPort', kind: 'port', help: 'EAS/HTTP port, 0 for any free port (default: 8080)' },
  { flag: '--https-port', env: 'EASMIME_HTTPS_PORT', key: 'httpsPort', kind: 'port', help: 'EAS/HTTPS port (with --https-cert and --https-key), 0 for any free port (default: none, HTTP only)' },
  { flag: '--https-cert', env: 'EASMIME_HTTPS_CERT', key: 'httpsCert', kind: 'path', help: 'PEM certificate chain for HTTPS, the server certificate first' },
  { flag: '--https-key', env: 'EASMIME_HTTPS_KEY', key: 'httpsKey', kind: 'path', help: 'PEM private key for HTTPS' },
  { flag: '--smtp-port', env: 'EASMIME_SMTP_PORT', key: 'smtpPort', kind: 'port', help: 'SMTP port, 0 for any free port (default: 2525)' },
  { flag: '--smtp-hostname', env: 'EASMIME_SMTP_HOSTNAME', key: 'smtpHostname', kind: 'string', help: 'name in the SMTP greeting (default: easmime.local)' },
  { flag: '--max-message-bytes', env: 'EASMIME_MAX_MESSAGE_BYTES', key: 'maxMessageBytes', kind: 'bytes', help: 'largest message accepted (default: 26214400)' },
  { flag: '--max-request-bytes', env: 'EASMIME_MAX_REQUEST_BYTES', key: 'maxRequestBytes', kind: 'bytes', help: 'largest EAS request body (default: 52428800)' },
  { flag: '--smtp-tls-cert', env: 'EASMIME_SMTP_TLS_CERT', key: 'smtpTlsCert', kind: 'path', help: 'PEM certificate for SMTP STARTTLS (with --smtp-tls-key; default: no STARTTLS)' },
  { flag: '--smtp-tls-key', env: 'EASMIME_SMTP_TLS_KEY', key: 'smtpTlsKey', kind: 'path', help: 'PEM private key for SMTP STARTTLS' },
  { flag: '--smtp-require-auth', env: 'EASMIME_SMTP_REQUIRE_AUTH', key: 'smtpRequireAuth', kind: 'bool', help: 'refuse MAIL FROM before AUTH (default: AUTH optional)' },
  { flag: '--smarthost', env: 'EASMIME_SMARTHOST', key: 'smarthost', kind: 'hostport', help: 'relay mail for external recipients to this SMTP server, HOST:PORT (default: none, keep it in the capture store)' },
  { flag: '--smarthost-tls', env: 'EASMIME_SMARTHOST_TLS', key: 'smarthostTls', kind: 'tls', help: 'none, opportunistic, starttls or implicit (default: opportunistic)' },
  { flag: '--smarthost-user', env: 'EASMIME_SMARTHOST_USER', key: 'smarthostUser', kind: 'string', help: 'user name for AUTH at the smarthost (default: no AUTH)' },
  { flag: '--smarthost-password', env: 'EASMIME_SMARTHOST_PASSWORD', key: 'smarthostPassword', kind: 'string', help: 'password for AUTH at the smarthost (prefer the environment variable)' },
  { flag: '--smarthost-plaintext-auth', env: 'EASMIME_SMARTHOST_PLAINTEXT_AUTH', key: 'smarthostPlaintextAuth', kind: 'bool', help: 'allow AUTH at the smarthost without TLS, for test relays (default: credentials only over TLS)' },
  { flag: '--fetch-crls', env: 'EASMIME_FETCH_CRLS', key: 'fetchCrls', kind: 'bool', help: 'fetch CRLs from distribution points over HTTP when the organisation holds none (default: off)' },
  { flag: '--request-timeout-ms', env: 'EASMIME_REQUEST_TIMEOUT_MS', key: 'requestTimeoutMs', kind: 'ms', help: 'longest time a client may take to send one HTTP request, headers and body, in milliseconds, 0-600000 with 0 for no limit (default: 600000); held Ping and Sync answers are not affected' },
  { flag: '--search-timeout-ms', env: 'EASMIME_SEARCH_TIMEOUT_MS', key: 'searchTimeoutMs', kind: 'ms', help: 'longest mailbox Search/Find scan in milliseconds, 0-600000 (default: 10000)' },
  { flag: '--ingest-workers', env: 'EASMIME_INGEST_WORKERS', key: 'ingestWorkers', kind: 'count', help: 'worker threads that parse and verify incoming mail, 0-16 (default: 0, the main thread does it)' },
  { flag: '--log-format', env: 'EASMIME_LOG_FORMAT', key: 'logFormat', kind: 'format', help: 'text or json (default: text)' },
  { flag: '--log-level', env: 'EASMIME_LOG_LEVEL', key: 'logLevel', kind: 'level', help: 'info or debug (debug adds every accepted SMTP MAIL FROM and RCPT TO; default: info)' },
  { flag: '--trace', env: 'EASMIME_TRACE', key: 'trace', kind: 'bool', help: 'log every EAS request and response decoded as XML (holds mail content)' },
];

export class ConfigError extends Error {}

export function defaultConfig(): Config {
  return {
    fixtures: path.join(projectRoot, 'fixtures', 'demo'),
    data: path.resolve('data'),
    host: '127.0.0.1',
    httpPort: 8080,
    smtpPort: 2525,
    smtpHostname: 'easmime.local',
    maxMessageBytes: 25 * 1024 * 1024,
    maxRequestBytes: 50 * 1024 * 1024,
    logFormat: 'text',
    logLevel: 'info',
    trace: false,
    smtpRequireAuth: false,
    smarthostTls: 'opportunistic',
    smarthostPlaintextAuth: false,
    fetchCrls: false,
    searchTimeoutMs: 10_000,
    requestTimeoutMs: 600_000,
  };
}

function convert(spec: FlagSpec, value: string, source: string): Config[keyof Config] {
  switch (spec.kind) {
    case 'path':
      if (value === '') throw new ConfigError(`${source}: a path is required`);
      return path.resolve(value);
    case 'string':
      if (value === '') throw new ConfigError(`${source}: a value is required`);
      return value;
    case 'port': {
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new ConfigError(`${source}: "${value}" is not a port number (0-65535)`);
      return Number(value);
    }
    case 'bytes': {
      if (!/^\d{1,12}$/.test(value) || Number(value) < 1024) throw new ConfigError(`${source}: "${value}" is not a size in bytes (at least 1024)`);
      return Number(value);
    }
    case 'ms': {
      if (!/^\d{1,6}$/.test(value) || Number(value) > 600_000) throw new ConfigError(`${source}: "${value}" is not a number of milliseconds (0-600000)`);
      return Number(value);
    }
    case 'bool':
      if (!['1', '0', 'true', 'false', 'yes', 'no', ''].includes(value.toLowerCase())) throw new ConfigError(`${source}: "${value}" is not true or false`);
      return ['1', 'true', 'yes', ''].includes(value.toLowerCase());
    case 'format':
      if (value !== 'text' && value !== 'json') throw new ConfigError(`${source}: "${value}" is not text or json`);
      return value;
    case 'count':
      if (!/^\d{1,2}$/.test(value) || Number(value) > 16) throw new ConfigError(`${source}: "${value}" is not a number from 0 to 16`);
      return Number(value);
    case 'level':
      if (value !== 'info' && value !== 'debug') throw new ConfigError(`${source}: "${value}" is not info or debug`);
      return value;
    case 'hostport': {
      // HOST:PORT, an IPv6 host in brackets: [::1]:25.
      const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
      const port = m ? Number(m[3]) : NaN;
      if (!m || port < 1 || port > 65535) throw new ConfigError(`${source}: "${value}" is not HOST:PORT (a host name or address, a port 1-65535)`);
      return { host: (m[1] ?? m[2])!, port };
    }
    case 'tls':
      if (!(SMARTHOST_TLS as readonly string[]).includes(value)) throw new ConfigError(`${source}: "${value}" is not one of ${SMARTHOST_TLS.join(', ')}`);
      return value as SmarthostTls;
  }
}

export function usage(): string {
  const lines = FLAGS.map((f) => `  ${(f.flag + (f.kind === 'bool' ? '' : ' VALUE')).padEnd(28)} ${f.help}\n  ${''.padEnd(28)} (environment: ${f.env})`);
  return `Usage: npm start -- [options]\n\nOptions:\n${lines.join('\n')}\n  --help                       show this text\n`;
}

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config | 'help' {
  const config = defaultConfig();
  const set = (key: keyof Config, v: Config[keyof Config]): void => { (config as unknown as Record<string, unknown>)[key] = v; };
  for (const spec of FLAGS) {
    const v = env[spec.env];
    if (v !== undefined) set(spec.key, convert(spec, v, spec.env));
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new ConfigError(`unknown option ${arg} (see --help)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError(`${name} needs a value`);
      value = next;
      i++;
    }
    set(spec.key, convert(spec, value, name));
  }
  const https = [config.httpsPort !== undefined, config.httpsCert !== undefined, config.httpsKey !== undefined];
  if (https.some(Boolean) && !https.every(Boolean)) {
    throw new ConfigError('--https-port, --https-cert and --https-key go together');
  }
  if ((config.smtpTlsCert === undefined) !== (config.smtpTlsKey === undefined)) {
    throw new ConfigError('--smtp-tls-cert and --smtp-tls-key go together');
  }
  if (config.smarthostPassword !== undefined && config.smarthostUser === undefined) {
    throw new ConfigError('--smarthost-password needs --smarthost-user');
  }
  if (config.smarthostUser !== undefined && config.smarthost === undefined) {
    throw new ConfigError('--smarthost-user needs --smarthost');
  }
  if (config.smarthostPlaintextAuth && config.smarthostUser === undefined) {
    throw new ConfigError('--smarthost-plaintext-auth needs --smarthost-user');
  }
  if (config.smarthostUser !== undefined && config.smarthostTls === 'none' && !config.smarthostPlaintextAuth) {
    throw new ConfigError('--smarthost-user with --smarthost-tls none would send the password in clear; use TLS, or add --smarthost-plaintext-auth for a test relay');
  }
  return config;
}
