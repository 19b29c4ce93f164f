// One logger for the process: text lines for people, JSON lines for machines. Never given secrets.

export type LogEvent = Record<string, unknown> & { level?: string; msg: string };
export type Logger = (event: LogEvent) => void;

export function createLogger(format: 'text' | 'json', write: (line: string) => void = (l) => process.stdout.write(l + '\n')): Logger {
  return (event) => {
    const time = new Date().toISOString();
    if (format === 'json') { write(JSON.stringify({ time, level: 'info', ...event })); return; }
    const { level = 'info', msg, ...rest } = event;
    const fields = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s|"/.test(v) ? v : JSON.stringify(v)}`)
      .join(' ');
    write(`${time} ${String(level).toUpperCase().padEnd(5)} ${msg}${fields ? ' ' + fields : ''}`);
  };
}
