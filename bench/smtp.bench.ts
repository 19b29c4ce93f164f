// SMTP ingest of signed messages through the real server (a child process: SMTP, parse, S/MIME
// verification in the gateway, store), in messages per second, against a bare smtp-server child
// that reads and discards: same client, same connections, same messages.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { signClear } from '../test/support/mail.js';
import { progress, type Figure } from './harness.js';
import { demoPki } from './support/pki.js';
import { ROOT, startBenchServer } from './support/server.js';
import { SmtpClient } from '../test/support/smtp-client.js';

const MESSAGES = Number(process.env.BENCH_SMTP_MESSAGES ?? 1500);
const CONNECTIONS = Number(process.env.BENCH_SMTP_CONNECTIONS ?? 4);
const DISTINCT = 16;
// Enough for both servers' JIT to settle: a fresh smtp-server is twice as fast after a few hundred
// messages, and after 300 our server's compiler threads still took ~0.3 ms of CPU per message (from the
// client's core); after 3,000 they are quiet and both servers run at their steady rate.
const WARMUP = Number(process.env.BENCH_SMTP_WARMUP ?? 3000);

/** Sends every message over a fixed set of connections; messages per second from the first send to the last 250. */
async function ingest(port: number, messages: Buffer[], label: string): Promise<number> {
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => SmtpClient.connect(port)));
  try {
    const drive = async (count: number, onDone?: () => void): Promise<void> => {
      let next = 0;
      await Promise.all(clients.map(async (c) => {
        while (next < count) {
          const i = next++;
          await c.send('alice@contoso.test', ['bob@contoso.test'], messages[i % messages.length]!);
          onDone?.();
        }
      }));
    };
    await drive(WARMUP);
    let done = 0;
    const started = performance.now();
    await drive(MESSAGES, () => { if (++done % 200 === 0) progress(`smtp: ${label} ${done}/${MESSAGES}`); });
    return (MESSAGES * 1000) / (performance.now() - started);
  } finally {
    await Promise.all(clients.map((c) => c.quit()));
  }
}

async function startBare(): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'support', 'bare-smtp.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', (l) => resolve((JSON.parse(l) as { smtpPort: number }).smtpPort));
    void exited.then(() => reject(new Error('the bare SMTP server exited')));
  });
  return { port, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

export async function smtpIngestBenchmark(): Promise<Figure[]> {
  const pki = demoPki();
  progress(`smtp: signing ${DISTINCT} messages from alice with openssl`);
  const messages = Array.from({ length: DISTINCT }, (_, i) => signClear({
    signer: { cert: path.join(pki.dir, 'users', 'alice-signing.crt'), key: path.join(pki.dir, 'keys', 'alice-signing.key') },
    from: 'alice@contoso.test', to: 'bob@contoso.test', subject: `ingest ${i}`, text: `A signed message for the ingest benchmark, number ${i}.\n`.repeat(30),
  }));

  const server = await startBenchServer();
  let real: number;
  let verified = 0;
  let delivered = 0;
  try {
    progress(`smtp: ${MESSAGES} messages over ${CONNECTIONS} connections to the real server`);
    real = await ingest(server.smtpPort, messages, 'server');
    for (const rec of server.logs) {
      if (rec.msg !== 'delivered') continue;
      delivered++;
      if (typeof rec.verdict === 'string' && rec.verdict.startsWith('pass')) verified++;
    }
  } finally {
    await server.dispose();
  }
  // How well concurrent deliveries shared their commits (logged by the server as it stops).
  const stopped = server.logs.find((rec) => rec.msg === 'stopped');
  const perCommit = stopped && Number(stopped.deliveriesCommitted) / Number(stopped.deliveryCommits);
  const bare = await startBare();
  let baseline: number;
  try {
    progress(`smtp: the same to a bare smtp-server that discards`);
    baseline = await ingest(bare.port, messages, 'bare');
  } finally {
    await bare.stop();
  }
  const total = MESSAGES + WARMUP;
  return [{
    name: `SMTP ingest, signed, ${CONNECTIONS} connections`, value: real, unit: 'msgs/s', baseline, ratio: real / baseline,
    target: '>= 0.5 of bare smtp-server', pass: real / baseline >= 0.5,
    note: (verified === total ? `all ${total} verified (pass)` : `${verified} of ${delivered} delivered verified as pass (sent ${total})`)
      + (perCommit ? `, ${perCommit.toFixed(1)} messages per commit` : ''),
  }];
}
