// A tiny benchmark harness: run a function for a while, report operations per second, and print
// progress so long runs are visibly alive. Figures are judged as ratios to a baseline measured in
// the same run, never as absolute times.

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Runs fn repeatedly for about `ms` milliseconds (after a warm-up); returns operations per second. */
export async function opsPerSecond(fn: () => unknown | Promise<unknown>, ms = 1500): Promise<number> {
  const warmUntil = performance.now() + Math.min(300, ms / 4);
  while (performance.now() < warmUntil) await fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await fn();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/**
 * Measures two functions in alternating rounds, so that a neighbour's burst of load on a shared
 * machine hits both alike; returns the median rate of each and the median of the per-round ratios.
 */
export async function compareInterleaved(fn: () => unknown | Promise<unknown>, baseline: () => unknown | Promise<unknown>,
  o: { rounds?: number; ms?: number } = {}): Promise<{ value: number; baseline: number; ratio: number }> {
  const rounds = o.rounds ?? 7;
  const ms = o.ms ?? 500;
  const values: number[] = [];
  const bases: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const v = await opsPerSecond(fn, ms);
    const b = await opsPerSecond(baseline, ms);
    values.push(v);
    bases.push(b);
    ratios.push(v / b);
  }
  const median = (l: number[]): number => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)]!;
  return { value: median(values), baseline: median(bases), ratio: median(ratios) };
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined) return '';
  if (!Number.isFinite(v)) return 'n/a';
  return `${v.toFixed(Math.abs(v) < 10 ? 2 : 0)} ${unit}`;
}

export function printTable(figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.name,
    fmt(f.value, f.unit),
    fmt(f.baseline, f.unit),
    f.ratio === undefined || !Number.isFinite(f.ratio) ? '' : f.ratio.toFixed(2),
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'BELOW',
    f.note ?? '',
  ]);
  const head = ['benchmark', 'value', 'baseline', 'ratio', 'target', '', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
}
