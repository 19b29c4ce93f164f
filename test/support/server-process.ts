// Starts the real server as `npm start` would (a child process over a temporary data folder on free
// ports) and reads where it listens from its JSON log. Tests, benchmarks and the load scenario all
// start it here.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerProcess {
  pid: number;
  httpPort: number;
  /** When started with --https-port. */
  httpsPort?: number;
  smtpPort: number;
  baseUrl: string;
  data: string;
  logs: Array<Record<string, unknown>>;
  child: ChildProcess;
  /** SIGTERM and wait for exit (SIGKILL after 15 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface ServerProcessOptions {
  data?: string;
  fixtures?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Flags for node itself, before the script (--cpu-prof, for one: NODE_OPTIONS refuses it). */
  nodeFlags?: string[];
  /** Run the compiled server (dist/server/main.js, from npm run build) instead of the sources under tsx. */
  compiled?: boolean;
  /** Raise the child's open-file limit to this (or the hard limit) when its soft limit is lower. */
  openFiles?: number;
  /** How long start-up may take. Default 60 s. */
  startTimeoutMs?: number;
  /** Which log records to keep in `logs` (default: all). */
  keepLog?: (record: Record<string, unknown>) => boolean;
  /** At most this many records are kept; the oldest half goes when it is reached. Default: no bound. */
  maxLogs?: number;
}

export function tempDir(prefix = 'easmime-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The soft and hard limits on open files of a process, from /proc (Linux). */
export function openFileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line!.slice('Max open files'.length).trim().split(/\s+/);
    const n = (s: string | undefined): number => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(soft), hard: n(hard) };
  } catch {
    return undefined;
  }
}

export async function startServerProcess(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  const data = opts.data ?? tempDir();
  const entry = opts.compiled ? [path.join(PROJECT_ROOT, 'dist', 'server', 'main.js')] : ['--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'main.ts')];
  const nodeArgs = [...(opts.nodeFlags ?? []), ...entry,
    '--data', data, '--http-port', '0', '--smtp-port', '0', '--log-format', 'json',
    ...(opts.fixtures ? ['--fixtures', opts.fixtures] : []), ...(opts.extraArgs ?? [])];
  const spawnOpts = { cwd: PROJECT_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
  const limits = openFileLimits();
  const child = opts.openFiles && limits && limits.soft < opts.openFiles && limits.soft < limits.hard
    // exec keeps the pid, so /proc/PID is the server's own.
    ? spawn('/bin/sh', ['-c', `ulimit -n ${Math.min(opts.openFiles, limits.hard)} && exec "$0" "$@"`, process.execPath, ...nodeArgs], spawnOpts)
    : spawn(process.execPath, nodeArgs, spawnOpts);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-20_000); });
  const lines = readline.createInterface({ input: child.stdout });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  const ports = await new Promise<{ httpPort: number; httpsPort?: number; smtpPort: number }>((resolve, reject) => {
    let httpPort: number | undefined;
    let httpsPort: number | undefined;
    const timer = setTimeout(() => reject(new Error(`server did not start within ${startTimeoutMs / 1000} s\n${stderr}`)), startTimeoutMs);
    lines.on('line', (line) => {
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      if (!opts.keepLog || opts.keepLog(rec)) logs.push(rec);
      if (opts.maxLogs && logs.length >= opts.maxLogs) logs.splice(0, logs.length >> 1);
      if (typeof rec.httpPort === 'number') httpPort = rec.httpPort;
      if (typeof rec.httpsPort === 'number') httpsPort = rec.httpsPort;
      if (typeof rec.smtpPort === 'number' && httpPort !== undefined) {
        clearTimeout(timer);
        resolve({ httpPort, ...(httpsPort !== undefined ? { httpsPort } : {}), smtpPort: rec.smtpPort });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code} before listening\n${stderr}`)); });
  });
  return {
    ...ports, data, logs, child, pid: child.pid!,
    baseUrl: `http://127.0.0.1:${ports.httpPort}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(force);
      return code;
    },
  };
}
