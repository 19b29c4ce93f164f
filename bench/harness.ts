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

export function printTable(figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.name,
    `${f.value.toFixed(f.value < 10 ? 2 : 0)} ${f.unit}`,
    f.baseline === undefined ? '' : `${f.baseline.toFixed(f.baseline < 10 ? 2 : 0)} ${f.unit}`,
    f.ratio === undefined ? '' : f.ratio.toFixed(2),
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'BELOW',
  ]);
  const head = ['benchmark', 'value', 'baseline', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
}
