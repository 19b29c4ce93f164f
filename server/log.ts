// One logger for the process: text lines for people, JSON lines for machines. Never given secrets.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogEvent = Record<string, unknown> & { level?: LogLevel; msg: string };
/** flush() puts every pending line on its way now: replies call it first, so a line is out before the reply it describes. */
export type Logger = ((event: LogEvent) => void) & { flush?: () => void };
export type LineWriter = ((line: string) => void) & { flush?: () => void };

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LoggerOptions {
  /** Lines below this level are dropped. Default info. */
  level?: LogLevel;
  write?: LineWriter;
}

export function createLogger(format: 'text' | 'json', opts: LoggerOptions | LineWriter = {}): Logger {
  const { level: threshold = 'info', write = stdoutLines() } = typeof opts === 'function' ? { write: opts } : opts;
  const min = RANK[threshold];
  const logger: Logger = (event) => {
    const level = event.level ?? 'info';
    if ((RANK[level] ?? RANK.info) < min) return;
    const time = new Date().toISOString();
    if (format === 'json') { write(JSON.stringify({ time, level, ...event })); return; }
    const { level: _level, msg, ...rest } = event;
    const fields = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s|"/.test(v) ? v : JSON.stringify(v)}`)
      .join(' ');
    write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${fields ? ' ' + fields : ''}`);
  };
  if (write.flush) logger.flush = write.flush;
  return logger;
}

/**
 * Standard output, at most one write per turn of the event loop (a pipe write is a system call,
 * and every message and request logs several lines), and before any reply when the code sending
 * it calls flush(). What is pending when the process exits (a fatal error included) is written
 * synchronously on the way out, so no line is lost.
 */
export function stdoutLines(stream: NodeJS.WritableStream = process.stdout): LineWriter {
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('\n') + '\n';
    pending = [];
    // Synchronous for files, pipes and terminals on Linux, so the exit flush completes too.
    stream.write(text);
  };
  process.once('exit', flush);
  const writer: LineWriter = (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  writer.flush = flush;
  return writer;
}
