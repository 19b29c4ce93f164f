// Starts the real server as `npm start` would (a child process over a temporary data folder on free
// ports) and reads where it listens from its JSON log.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerProcess {
  httpPort: number;
  smtpPort: number;
  baseUrl: string;
  data: string;
  logs: Array<Record<string, unknown>>;
  child: ChildProcess;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function tempDir(prefix = 'easmime-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startServerProcess(opts: { data?: string; fixtures?: string; extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const data = opts.data ?? tempDir();
  const args = ['--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'main.ts'),
    '--data', data, '--http-port', '0', '--smtp-port', '0', '--log-format', 'json',
    ...(opts.fixtures ? ['--fixtures', opts.fixtures] : []), ...(opts.extraArgs ?? [])];
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const lines = readline.createInterface({ input: child.stdout! });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ports = await new Promise<{ httpPort: number; smtpPort: number }>((resolve, reject) => {
    let httpPort: number | undefined;
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s\n${stderr}`)), 60_000);
    lines.on('line', (line) => {
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      logs.push(rec);
      if (typeof rec.httpPort === 'number') httpPort = rec.httpPort;
      if (typeof rec.smtpPort === 'number' && httpPort !== undefined) {
        clearTimeout(timer);
        resolve({ httpPort, smtpPort: rec.smtpPort });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code} before listening\n${stderr}`)); });
  });
  return {
    ...ports, data, logs, child,
    baseUrl: `http://127.0.0.1:${ports.httpPort}`,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
