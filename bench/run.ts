// `npm run bench`: runs the named benchmarks (all by default, or those named on the command line),
// prints a table and writes .bench/results.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { printTable, progress, type Figure } from './harness.js';
import { wbxmlBenchmarks } from './wbxml.bench.js';
import { initialSyncBenchmark } from './sync.bench.js';

const BENCHMARKS: Record<string, () => Promise<Figure[]>> = {
  wbxml: wbxmlBenchmarks,
  sync: initialSyncBenchmark,
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const w of wanted) if (!BENCHMARKS[w]) throw new Error(`unknown benchmark ${w} (known: ${Object.keys(BENCHMARKS).join(', ')})`);
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHMARKS);
  const figures: Figure[] = [];
  for (const [i, name] of names.entries()) {
    progress(`(${i + 1}/${names.length}) ${name}`);
    figures.push(...await BENCHMARKS[name]!());
  }
  printTable(figures);
  const out = path.resolve('.bench', 'results.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, figures }, null, 2) + '\n');
  progress(`results written to ${out}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
