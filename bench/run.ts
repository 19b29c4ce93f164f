// `npm run bench`: runs the named benchmarks (all by default, or those named on the command line),
// prints a table and writes .bench/results.json. A benchmark that fails is reported in the table
// and makes the exit code 1; the others still run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { printTable, progress, type Figure } from './harness.js';
import { wbxmlBenchmarks } from './wbxml.bench.js';
import { initialSyncBenchmark } from './sync.bench.js';
import { pingBenchmark } from './ping.bench.js';
import { smtpIngestBenchmark } from './smtp.bench.js';
import { smimeVerifyBenchmark } from './smime.bench.js';
import { resolveRecipientsBenchmark } from './resolve.bench.js';
import { largeOrganisationBenchmark } from './memory.bench.js';
import { openFileLimits } from './support/server.js';

const BENCHMARKS: Record<string, () => Promise<Figure[]>> = {
  wbxml: wbxmlBenchmarks,
  sync: initialSyncBenchmark,
  ping: pingBenchmark,
  smtp: smtpIngestBenchmark,
  smime: smimeVerifyBenchmark,
  resolve: resolveRecipientsBenchmark,
  memory: largeOrganisationBenchmark,
};

/** The ping benchmark holds one socket per device in this process too. */
function openFilesNeeded(names: string[]): number {
  return names.includes('ping') ? Number(process.env.BENCH_PING_DEVICES ?? 10_000) + Number(process.env.BENCH_PING_SAMPLES ?? 200) + 1024 : 0;
}

/** Runs this very command again under a shell that raises the open-file limit; undefined when not needed or not possible. */
async function rerunWithMoreFiles(needed: number): Promise<number | undefined> {
  const limits = openFileLimits();
  if (!limits || limits.soft >= needed || process.env.EASMIME_BENCH_REEXEC) return undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, EASMIME_BENCH_REEXEC: '1' };
  let raiseTo = needed;
  if (limits.hard < needed) {
    // Fewer devices rather than no run; the figure's name says how many were held.
    const devices = Math.max(100, limits.hard - (needed - Number(process.env.BENCH_PING_DEVICES ?? 10_000)));
    progress(`the hard open-file limit is ${limits.hard}: the ping benchmark holds ${devices} Pings instead`);
    env.BENCH_PING_DEVICES = String(devices);
    raiseTo = limits.hard;
  }
  progress(`raising the open-file limit from ${limits.soft} to ${raiseTo}`);
  const args = [...process.execArgv, ...process.argv.slice(1)];
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${raiseTo} && exec "$0" "$@"`, process.execPath, ...args], { stdio: 'inherit', env });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const w of wanted) if (!BENCHMARKS[w]) throw new Error(`unknown benchmark ${w} (known: ${Object.keys(BENCHMARKS).join(', ')})`);
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHMARKS);
  const rerun = await rerunWithMoreFiles(openFilesNeeded(names));
  if (rerun !== undefined) {
    process.exitCode = rerun;
    return;
  }
  const figures: Figure[] = [];
  for (const [i, name] of names.entries()) {
    progress(`(${i + 1}/${names.length}) ${name}`);
    const started = performance.now();
    try {
      figures.push(...await BENCHMARKS[name]!());
    } catch (e) {
      process.exitCode = 1;
      progress(`${name} failed: ${e instanceof Error ? e.stack : String(e)}`);
      figures.push({ name, value: Number.NaN, unit: '', pass: false, note: `failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` });
    }
    progress(`${name} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  printTable(figures);
  const out = path.resolve('.bench', 'results.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), figures }, null, 2) + '\n');
  progress(`results written to ${out}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
