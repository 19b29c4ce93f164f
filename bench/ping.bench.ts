// Ping: 10,000 held Pings against the real server (a child process). Memory per held Ping from the
// server's RSS before and after they are taken in, and wake-up latency (p50/p99) from an SMTP
// delivery to the Ping's answer while the crowd is held.
import os from 'node:os';
import { ns } from '../eas/wbxml/ns.js';
import { childText, type WbxmlElement } from '../eas/wbxml/tree.js';
import { progress, type Figure } from './harness.js';
import { easRequest, enrol, heldAgent, percentile, sleep, type Device, type EasReply } from './support/eas-http.js';
import { inParallel } from '../test/support/parallel.js';
import { rssBytes, startBenchServer, writeOrganisation } from './support/server.js';
import { SmtpClient } from '../test/support/smtp-client.js';

const P = ns('Ping');
const DEVICES = Number(process.env.BENCH_PING_DEVICES ?? 10_000);
const SAMPLES = Number(process.env.BENCH_PING_SAMPLES ?? 200);
const DEVICES_PER_USER = 50;
const DOMAIN = 'ping.bench';

function pingBody(inbox: string): WbxmlElement {
  return P('Ping', P('HeartbeatInterval', '3540'), P('Folders', P('Folder', P('Id', inbox), P('Class', 'Email'))));
}

/** RSS sampled a few times over a short while; the median, so one allocation burst does not count. */
async function steadyRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssBytes(pid));
    await sleep(200);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

export async function pingBenchmark(): Promise<Figure[]> {
  const crowdUsers = Math.ceil(DEVICES / DEVICES_PER_USER);
  const users = [
    ...Array.from({ length: crowdUsers }, (_, i) => ({ address: `crowd${i}@${DOMAIN}`, password: 'bench' })),
    ...Array.from({ length: SAMPLES }, (_, i) => ({ address: `probe${i}@${DOMAIN}`, password: 'bench' })),
  ];
  const fixtures = writeOrganisation({ name: 'Ping benchmark', domain: DOMAIN, users });
  const server = await startBenchServer({ fixtures, openFiles: DEVICES + SAMPLES + 1024 });
  let smtp: SmtpClient | undefined;
  try {
    progress(`ping: enrolling ${DEVICES} devices (Provision, FolderSync) over ${crowdUsers} users`);
    let enrolled = 0;
    const crowd = await inParallel(DEVICES, 16, async (i) => {
      const d: Device = { user: `crowd${i % crowdUsers}@${DOMAIN}`, password: 'bench', deviceId: `Crowd${i}`, version: '14.1', folders: new Map() };
      await enrol(server.httpPort, d);
      if (++enrolled % 1000 === 0) progress(`ping: enrolled ${enrolled}/${DEVICES}`);
      return d;
    });
    const probes = await inParallel(SAMPLES, 8, async (i) => {
      const d: Device = { user: `probe${i}@${DOMAIN}`, password: 'bench', deviceId: `Probe${i}`, version: '14.1', folders: new Map() };
      await enrol(server.httpPort, d);
      return d;
    });

    await sleep(1000);
    const before = await steadyRss(server.pid);
    progress(`ping: server RSS ${(before / 2 ** 20).toFixed(1)} MiB; holding ${DEVICES} Pings`);
    let settled = 0;
    let failed = 0;
    const held: Array<Promise<EasReply | undefined>> = [];
    // In bursts below the listen backlog, so no connection is refused while the server catches up.
    for (let i = 0; i < crowd.length; i += 250) {
      for (const d of crowd.slice(i, i + 250)) {
        held.push(easRequest(server.httpPort, d, 'Ping', pingBody(d.folders.get('Inbox')!), { agent: heldAgent, policyKey: null })
          .then((r) => { settled++; return r; }, () => { failed++; return undefined; }));
      }
      await sleep(40);
      if ((i + 250) % 2500 === 0) progress(`ping: sent ${i + 250}/${DEVICES}`);
    }
    // A request that answers after all of them were sent shows the server reached the end of the queue.
    const checker: Device = { ...probes[0]!, deviceId: 'PingChecker' };
    await easRequest(server.httpPort, checker, 'Ping', undefined, { policyKey: null });
    await sleep(2000);
    if (settled > 0 || failed > 0) throw new Error(`${settled} held Pings answered early and ${failed} failed`);
    const after = await steadyRss(server.pid);
    const perPing = (after - before) / DEVICES;
    progress(`ping: server RSS ${(after / 2 ** 20).toFixed(1)} MiB with ${DEVICES} held: ${(perPing / 1024).toFixed(1)} KiB each`);

    progress(`ping: wake-up latency, ${SAMPLES} deliveries while the crowd is held`);
    smtp = await SmtpClient.connect(server.smtpPort);
    const wake: number[] = [];
    const after250: number[] = [];
    for (const [i, d] of probes.entries()) {
      const started = { at: 0 };
      const answer = easRequest(server.httpPort, d, 'Ping', pingBody(d.folders.get('Inbox')!), { agent: heldAgent, policyKey: null })
        .then((r) => ({ r, at: performance.now() }));
      await sleep(30);
      started.at = performance.now();
      await smtp.send('sender@elsewhere.test', [d.user], Buffer.from(`From: sender@elsewhere.test\r\nTo: ${d.user}\r\nSubject: wake ${i}\r\nMessage-ID: <wake-${i}@elsewhere.test>\r\n\r\nWake up.\r\n`));
      const accepted = performance.now();
      const { r, at } = await answer;
      if (childText(r.body, 'Ping:Status') !== '2') throw new Error(`probe Ping ${i} answered HTTP ${r.status} Status ${childText(r.body, 'Ping:Status')}`);
      wake.push(at - started.at);
      after250.push(Math.max(0, at - accepted));
      if ((i + 1) % 50 === 0) progress(`ping: ${i + 1}/${SAMPLES} deliveries`);
    }
    if (settled > 0 || failed > 0) throw new Error(`${settled} crowd Pings answered for deliveries that were not theirs, ${failed} failed`);
    wake.sort((a, b) => a - b);
    after250.sort((a, b) => a - b);
    const load = os.loadavg()[0]!.toFixed(2);
    const p99 = percentile(wake, 99);
    return [
      { name: `Ping: memory per held Ping (${DEVICES} held)`, value: perPing / 1024, unit: 'KiB', target: '< 20 KiB', pass: perPing < 20 * 1024,
        note: `server RSS ${(before / 2 ** 20).toFixed(0)} -> ${(after / 2 ** 20).toFixed(0)} MiB` },
      { name: 'Ping: wake-up after SMTP, p50', value: percentile(wake, 50), unit: 'ms', note: `from sending the message to the Ping's answer; ${(percentile(after250, 50)).toFixed(1)} ms after the 250` },
      { name: 'Ping: wake-up after SMTP, p99', value: p99, unit: 'ms', target: '< 50 ms (idle machine)', pass: p99 < 50, note: `load average ${load} at the end` },
    ];
  } finally {
    await smtp?.quit();
    progress('ping: stopping the server');
    await server.dispose();
  }
}
