// The real server as a child process for benchmarks that measure it from outside: its own core,
// its own heap, its RSS readable from /proc. Started by the tests' starter (test/support/server-process.ts)
// with a raised open-file limit when thousands of connections are to be held, a longer start-up
// allowance (large fixtures) and a bounded log.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openFileLimits, PROJECT_ROOT, startServerProcess, tempDir, type ServerProcess } from '../../test/support/server-process.js';

export { openFileLimits, tempDir };
export const ROOT = PROJECT_ROOT;

export interface BenchServer extends ServerProcess {
  /** stop(), then delete the data folder and the fixture folder it was started from. */
  dispose(): Promise<void>;
}

/** Resident set size of a process in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  return procStatusBytes(pid, 'VmRSS');
}

/** Peak resident set size so far (VmHWM), bytes. */
export function peakRssBytes(pid: number): number {
  return procStatusBytes(pid, 'VmHWM');
}

function procStatusBytes(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** BENCH_CPU_PROFILE=DIR: every server a benchmark starts writes a V8 CPU profile there when it stops (open it in Chrome DevTools). */
function profileFlags(): string[] {
  const dir = process.env.BENCH_CPU_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir)}`] : [];
}

export async function startBenchServer(opts: { fixtures?: string; data?: string; openFiles?: number; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<BenchServer> {
  const server = await startServerProcess({
    data: opts.data ?? tempDir('easmime-bench-'), fixtures: opts.fixtures, extraArgs: opts.args, env: opts.env, nodeFlags: profileFlags(), openFiles: opts.openFiles,
    startTimeoutMs: 300_000,
    // Per-message lines would grow without bound in long runs; keep what benchmarks read.
    keepLog: (rec) => rec.msg !== 'smtp' && rec.msg !== 'trace',
    maxLogs: 200_000,
  });
  return {
    ...server,
    dispose: async () => {
      await server.stop();
      fs.rmSync(server.data, { recursive: true, force: true });
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
