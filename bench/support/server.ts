// The real server as a child process for benchmarks that measure it from outside: its own core,
// its own heap, its RSS readable from /proc. Started the way `npm start` starts it, with a raised
// open-file limit when thousands of connections are to be held.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BenchServer {
  pid: number;
  httpPort: number;
  smtpPort: number;
  baseUrl: string;
  data: string;
  logs: Array<Record<string, unknown>>;
  child: ChildProcess;
  /** SIGTERM, wait for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** stop(), then delete the data folder and the fixture folder it was started from. */
  dispose(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The soft and hard limits on open files of this process, from /proc (Linux). */
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

/** Resident set size of a process in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Peak resident set size so far (VmHWM), bytes. */
export function peakRssBytes(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for process ${pid}`);
  return Number(m[1]) * 1024;
}

export async function startBenchServer(opts: { fixtures?: string; data?: string; openFiles?: number; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<BenchServer> {
  const data = opts.data ?? tempDir('easmime-bench-');
  const nodeArgs = ['--import', 'tsx', path.join(ROOT, 'server', 'main.ts'),
    '--data', data, '--http-port', '0', '--smtp-port', '0', '--log-format', 'json',
    ...(opts.fixtures ? ['--fixtures', opts.fixtures] : []), ...(opts.args ?? [])];
  let child: ChildProcess;
  const limits = openFileLimits();
  if (opts.openFiles && limits && limits.soft < opts.openFiles && limits.soft < limits.hard) {
    // As many as asked for, or as the hard limit allows; exec keeps the pid, so /proc/PID is the server's own.
    child = spawn('/bin/sh', ['-c', `ulimit -n ${Math.min(opts.openFiles, limits.hard)} && exec "$0" "$@"`, process.execPath, ...nodeArgs],
      { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    child = spawn(process.execPath, nodeArgs, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-20_000); });
  const lines = readline.createInterface({ input: child.stdout! });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ports = await new Promise<{ httpPort: number; smtpPort: number }>((resolve, reject) => {
    let httpPort: number | undefined;
    const timer = setTimeout(() => reject(new Error(`server did not start within 300 s\n${stderr}`)), 300_000);
    lines.on('line', (line) => {
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      // Per-message lines would grow without bound in long runs; keep what benchmarks read.
      if (rec.msg !== 'smtp' && rec.msg !== 'trace') logs.push(rec);
      if (logs.length > 200_000) logs.splice(0, 100_000);
      if (typeof rec.httpPort === 'number') httpPort = rec.httpPort;
      if (typeof rec.smtpPort === 'number' && httpPort !== undefined) {
        clearTimeout(timer);
        resolve({ httpPort, smtpPort: rec.smtpPort });
      }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`server exited before listening\n${stderr}`)); });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(force);
  };
  return {
    ...ports, data, logs, child, pid: child.pid!,
    baseUrl: `http://127.0.0.1:${ports.httpPort}`,
    stop,
    dispose: async () => {
      await stop();
      fs.rmSync(data, { recursive: true, force: true });
      if (opts.fixtures?.startsWith(os.tmpdir())) fs.rmSync(opts.fixtures, { recursive: true, force: true });
    },
  };
}

/** Writes an organisation.json and empty mailboxes/ into a new fixture folder. */
export function writeOrganisation(org: Record<string, unknown>, prefix = 'easmime-bench-fixture-'): string {
  const dir = tempDir(prefix);
  fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify(org, null, 1));
  fs.mkdirSync(path.join(dir, 'mailboxes'));
  return dir;
}
