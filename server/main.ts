// `npm start`: reads the start-up contract (flags and environment), starts the server, and stops
// it cleanly on SIGTERM or SIGINT.
import { ConfigError, loadConfig, usage } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './app.js';
import { FixtureError } from './fixtures/load.js';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`easmime: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (config === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const log = createLogger(config.logFormat, { level: config.logLevel });
  // Listening before start-up returns: a signal that comes in between must stop the server, not
  // kill the process with Node's default handler.
  let stopSignal: string | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: string): void => {
    if (stopSignal) return;
    stopSignal = signal;
    wake?.();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  let server;
  try {
    server = await startServer(config, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`easmime: ${e.message}\n`);
      return 2;
    }
    if (e instanceof FixtureError) {
      process.stderr.write(`easmime: the fixtures in ${config.fixtures} cannot be loaded:\n${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') {
      process.stderr.write(`easmime: ${err.message}: another process uses the port (choose others with --http-port / --https-port / --smtp-port)\n`);
      return 1;
    }
    process.stderr.write(`easmime: start-up failed: ${err.stack ?? String(e)}\n`);
    return 1;
  }
  if (!stopSignal) await new Promise<void>((resolve) => { wake = resolve; });
  log({ msg: `received ${stopSignal}, stopping` });
  const force = setTimeout(() => {
    process.stderr.write('easmime: shutdown took longer than 10 s, exiting\n');
    process.exit(1);
  }, 10_000);
  force.unref();
  await server.close();
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`easmime: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
