// `npm run load`: N simulated devices sync and Ping against the real server (a child process) while
// SMTP delivers, for a given time. Each device holds a Ping on its Inbox, syncs when woken, and now
// and then marks a message read. Every tenth message is a meeting invitation, which the user's first
// device accepts with MeetingResponse (the mail then leaves the Inbox for Deleted Items). At the end
// every device catches up and must hold exactly the messages its user was sent and did not answer,
// nothing lost, nothing twice, and each user's calendar exactly the meetings they were invited to,
// the answered ones accepted. Prints errors, latencies and the server's memory; writes
// .bench/load.json; exits 1 on any error. Meanwhile a few organizers' 16.1 devices book meetings
// with two colleagues each, which the server sends from its outbox: those invitations count like
// the SMTP ones, and each organizer's calendar must hold the meetings they booked.
//
//   npm run load -- [--devices 200] [--seconds 60] [--rate 20] [--devices-per-user 2] [--invite-every 10] [--organizers 5]
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ns } from '../eas/wbxml/ns.js';
import { compactDate } from '../eas/pim/items.js';
import { child, childrenOf, childText } from '../eas/wbxml/tree.js';
import { busyAgent, easRequest, enrol, heldAgent, percentile, sleep, type Device } from '../bench/support/eas-http.js';
import { inParallel } from '../test/support/parallel.js';
import { rssBytes, startBenchServer, writeOrganisation } from '../bench/support/server.js';
import { SmtpClient } from '../test/support/smtp-client.js';

const A = ns('AirSync');
const E = ns('Email');
const P = ns('Ping');
const MR = ns('MeetingResponse');
const CAL = ns('Calendar');
const DOMAIN = 'load.test';
/** How often each organizer books a meeting, on average. */
const BOOKING_INTERVAL_MS = 5000;

interface Options { devices: number; seconds: number; rate: number; devicesPerUser: number; smtpConnections: number; inviteEvery: number; organizers: number }

function readOptions(argv: string[]): Options {
  const o: Options = { devices: 200, seconds: 60, rate: 20, devicesPerUser: 2, smtpConnections: 2, inviteEvery: 10, organizers: 5 };
  const names: Record<string, keyof Options> = {
    '--devices': 'devices', '--seconds': 'seconds', '--rate': 'rate', '--devices-per-user': 'devicesPerUser', '--smtp-connections': 'smtpConnections', '--invite-every': 'inviteEvery',
    '--organizers': 'organizers',
  };
  for (let i = 0; i < argv.length; i++) {
    const key = Object.hasOwn(names, argv[i]!) ? names[argv[i]!] : undefined;
    const value = Number(argv[i + 1]);
    if (!key || !Number.isFinite(value) || value <= 0) throw new Error(`usage: load/run.ts [--devices N] [--seconds T] [--rate MSGS_PER_S] [--devices-per-user K] [--smtp-connections C] [--invite-every N] [--organizers K] (bad: ${argv[i]} ${argv[i + 1] ?? ''})`);
    o[key] = value;
    i++;
  }
  return o;
}

const say = (m: string): void => { process.stderr.write(`[load] ${m}\n`); };

/** A meeting invitation as Outlook would send it, for message `id`. */
function invitation(id: number, to: string): Buffer {
  const start = compactDate(Date.UTC(2031, 0, 1) + id * 3_600_000);
  const end = compactDate(Date.UTC(2031, 0, 1) + id * 3_600_000 + 1_800_000);
  const ics = ['BEGIN:VCALENDAR', 'METHOD:REQUEST', 'VERSION:2.0', 'BEGIN:VEVENT', `UID:load-meeting-${id}@elsewhere.test`, 'SEQUENCE:0',
    'DTSTAMP:20261128T120000Z', `DTSTART:${start}`, `DTEND:${end}`, `SUMMARY:Load meeting ${id}`, 'ORGANIZER;CN=Sender:mailto:sender@elsewhere.test',
    `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${to}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  return Buffer.from([`From: sender@elsewhere.test`, `To: ${to}`, `Subject: Load meeting ${id}`, `Message-ID: <load-${id}@elsewhere.test>`,
    'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'Please come.', '--b',
    'Content-Type: text/calendar; charset=utf-8; method=REQUEST', '', ics, '--b--', ''].join('\r\n'));
}

class Tally {
  readonly errors = new Map<string, number>();
  readonly latencies = new Map<string, number[]>();
  readonly counts = new Map<string, number>();
  error(kind: string, detail?: string): void {
    const n = (this.errors.get(kind) ?? 0) + 1;
    this.errors.set(kind, n);
    if (n <= 3) say(`error: ${kind}${detail ? `: ${detail}` : ''}`);
  }
  time(kind: string, ms: number): void {
    let l = this.latencies.get(kind);
    if (!l) this.latencies.set(kind, l = []);
    l.push(ms);
  }
  count(kind: string, n = 1): void { this.counts.set(kind, (this.counts.get(kind) ?? 0) + n); }
  totalErrors(): number { return [...this.errors.values()].reduce((a, b) => a + b, 0); }
}

interface SimDevice extends Device {
  inbox: string;
  key: string;
  held: Set<string>;
  /** Deliveries to this device's user it had been told about when its last Sync started. */
  seenDeliveries: number;
  calendar: string;
  /** Invitations seen and not yet answered (the user's first device answers them). */
  invitations: string[];
}

async function main(): Promise<number> {
  const o = readOptions(process.argv.slice(2));
  const users = Math.ceil(o.devices / o.devicesPerUser);
  const tally = new Tally();
  const fixtures = writeOrganisation({ name: 'Load scenario', domain: DOMAIN, users: Array.from({ length: users }, (_, i) => ({ address: `user${i}@${DOMAIN}`, password: 'load' })) });
  say(`starting the server: ${users} users`);
  const server = await startBenchServer({ fixtures, openFiles: o.devices * 2 + 4096 });
  const memory: number[] = [];
  const sampler = setInterval(() => { try { memory.push(rssBytes(server.pid)); } catch { /* exiting */ } }, 1000);
  const deliveries: number[][] = Array.from({ length: users }, () => []);
  const accepted = new Array<number>(users).fill(0);
  /** Invitations each user was sent (accepted by SMTP), and those their first device answered. */
  const invited = new Array<number>(users).fill(0);
  const answered = new Array<number>(users).fill(0);
  /** Meetings each organizer's device booked (they are in the organizer's calendar too). */
  const organized = new Array<number>(users).fill(0);
  const stopAll = new AbortController();
  // Every held Ping listens for the end of the run.
  setMaxListeners(0, stopAll.signal);
  try {
    say(`enrolling ${o.devices} devices`);
    const devices = await inParallel(o.devices, 16, async (i): Promise<SimDevice> => {
      const d: Device = { user: `user${i % users}@${DOMAIN}`, password: 'load', deviceId: `Load${i}`, version: '16.1', folders: new Map() };
      await enrol(server.httpPort, d);
      return { ...d, inbox: d.folders.get('Inbox')!, calendar: d.folders.get('Calendar')!, key: '0', held: new Set(), seenDeliveries: 0, invitations: [] };
    });
    // Organizers book meetings on a device of their own, which holds no Ping.
    const organizers = users >= 3 ? await inParallel(Math.min(o.organizers, users), 8, async (k) => {
      const d: Device = { user: `user${k}@${DOMAIN}`, password: 'load', deviceId: `Organizer${k}`, version: '16.1', folders: new Map() };
      await enrol(server.httpPort, d);
      const calendar = d.folders.get('Calendar')!;
      const r = await easRequest(server.httpPort, d, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', calendar)))), { agent: busyAgent });
      return { ...d, calendar, key: childText(child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')! };
    }) : [];
    memory.push(rssBytes(server.pid));

    /** One Sync round to the end of MoreAvailable; Adds and Deletes applied to the device's set. */
    const syncToEnd = async (d: SimDevice, userIndex: number, markRead: boolean): Promise<void> => {
      d.seenDeliveries = deliveries[userIndex]!.length;
      for (;;) {
        const started = performance.now();
        const change = markRead && d.held.size > 0 ? [...d.held][Math.floor(Math.random() * d.held.size)]! : undefined;
        markRead = false;
        const r = await easRequest(server.httpPort, d, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', d.key), A('CollectionId', d.inbox),
          d.key !== '0' && A('WindowSize', 100),
          change !== undefined && A('Commands', A('Change', A('ServerId', change), A('ApplicationData', E('Read', 1))))))), { agent: busyAgent });
        tally.time('Sync', performance.now() - started);
        tally.count('Sync requests');
        const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
        const status = childText(col, 'AirSync:Status');
        if (r.status !== 200 || status !== '1') {
          tally.error(`Sync HTTP ${r.status} Status ${status ?? '-'}`, r.reason);
          d.key = '0';
          d.held.clear();
          continue;
        }
        d.key = childText(col, 'AirSync:SyncKey')!;
        for (const add of childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add')) {
          const id = childText(add, 'AirSync:ServerId')!;
          if (d.held.has(id)) tally.error('item added twice', `${d.deviceId} ${id}`);
          d.held.add(id);
          tally.count('items received');
          if (childText(child(add, 'AirSync:ApplicationData'), 'Email:MessageClass') === 'IPM.Schedule.Meeting.Request') d.invitations.push(id);
        }
        for (const del of childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Delete')) d.held.delete(childText(del, 'AirSync:ServerId')!);
        if (!child(col, 'AirSync:MoreAvailable')) return;
      }
    };

    /** The user's first device accepts the invitations it has seen, one MeetingResponse for all of them. */
    const answerInvitations = async (d: SimDevice, userIndex: number): Promise<void> => {
      const ids = d.invitations.splice(0);
      if (ids.length === 0) return;
      const started = performance.now();
      const r = await easRequest(server.httpPort, d, 'MeetingResponse', MR('MeetingResponse', ids.map((id) =>
        MR('Request', MR('UserResponse', 1), MR('CollectionId', d.inbox), MR('RequestId', id)))), { agent: busyAgent });
      tally.time('MeetingResponse', performance.now() - started);
      const results = childrenOf(r.body, 'MeetingResponse:Result');
      for (const [k, id] of ids.entries()) {
        const result = results[k];
        if (r.status !== 200 || childText(result, 'MeetingResponse:Status') !== '1' || !childText(result, 'MeetingResponse:CalendarId')) {
          tally.error(`MeetingResponse HTTP ${r.status} Status ${childText(result, 'MeetingResponse:Status') ?? '-'}`, `${d.deviceId} ${id} ${r.reason ?? ''}`);
          continue;
        }
        answered[userIndex]!++;
        tally.count('meetings accepted');
      }
    };

    /** The user's calendar read from the start: how many meetings, how many accepted. */
    const calendarOf = async (d: SimDevice): Promise<{ items: number; accepted: number }> => {
      let key = '0';
      let items = 0;
      let acceptedItems = 0;
      for (;;) {
        const r = await easRequest(server.httpPort, d, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', d.calendar),
          key !== '0' && A('WindowSize', 100)))), { agent: busyAgent });
        const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
        if (r.status !== 200 || childText(col, 'AirSync:Status') !== '1') {
          tally.error('calendar Sync failed', `${d.deviceId} HTTP ${r.status} Status ${childText(col, 'AirSync:Status') ?? '-'}`);
          return { items, accepted: acceptedItems };
        }
        const primed = key === '0';
        key = childText(col, 'AirSync:SyncKey')!;
        for (const add of childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add')) {
          items++;
          if (childText(child(add, 'AirSync:ApplicationData'), 'Calendar:ResponseType') === '3') acceptedItems++;
        }
        if (!primed && !child(col, 'AirSync:MoreAvailable')) return { items, accepted: acceptedItems };
      }
    };

    /** Waits until the server has sent every meeting mail it queued (the admin API's outbox count). */
    const outboxDrained = async (): Promise<void> => {
      const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
      for (let i = 0; i < 600; i++) {
        const r = await fetch(`http://127.0.0.1:${server.httpPort}/admin/outbox?limit=1`, { headers: { Authorization: `Bearer ${token}` } });
        await r.arrayBuffer();
        if (r.headers.get('x-total-count') === '0') return;
        await sleep(100);
      }
      tally.error('outbox not drained', 'meeting mail still queued 60 s after the run');
    };

    const deadline = Date.now() + o.seconds * 1000;
    say(`running for ${o.seconds} s: ${o.devices} devices, SMTP at ${o.rate} messages/s over ${o.smtpConnections} connections`);
    const deviceLoop = async (d: SimDevice, i: number): Promise<void> => {
      const userIndex = i % users;
      await syncToEnd(d, userIndex, false);
      let rounds = 0;
      while (Date.now() < deadline && !stopAll.signal.aborted) {
        let r;
        try {
          r = await easRequest(server.httpPort, d, 'Ping', P('Ping', P('HeartbeatInterval', '60'), P('Folders', P('Folder', P('Id', d.inbox), P('Class', 'Email')))),
            { agent: heldAgent, policyKey: null, signal: stopAll.signal });
        } catch (e) {
          if (stopAll.signal.aborted) return;
          tally.error('Ping failed', (e as Error).message);
          continue;
        }
        tally.count('Pings');
        const status = childText(r.body, 'Ping:Status');
        if (status === '2') {
          const pending = deliveries[userIndex]!;
          if (pending.length > d.seenDeliveries) tally.time('wake-up after SMTP', Date.now() - pending[d.seenDeliveries]!);
          await syncToEnd(d, userIndex, ++rounds % 5 === 0);
          if (i < users) await answerInvitations(d, userIndex);
        } else if (status !== '1') {
          tally.error(`Ping HTTP ${r.status} Status ${status ?? '-'}`, r.reason);
          await sleep(1000);
        }
      }
    };
    const smtpLoop = async (): Promise<void> => {
      const clients = await Promise.all(Array.from({ length: o.smtpConnections }, () => SmtpClient.connect(server.smtpPort)));
      const interval = 1000 / o.rate;
      let n = 0;
      const t0 = Date.now();
      await Promise.all(clients.map(async (c, ci) => {
        for (let k = ci; Date.now() < deadline; k += clients.length) {
          const due = t0 + k * interval;
          if (due > Date.now()) await sleep(due - Date.now());
          if (Date.now() >= deadline) break;
          const u = Math.floor(Math.random() * users);
          const id = n++;
          const sentAt = Date.now();
          deliveries[u]!.push(sentAt);
          const invite = id % o.inviteEvery === o.inviteEvery - 1;
          try {
            await c.send('sender@elsewhere.test', [`user${u}@${DOMAIN}`], invite ? invitation(id, `user${u}@${DOMAIN}`) : Buffer.from(
              `From: sender@elsewhere.test\r\nTo: user${u}@${DOMAIN}\r\nSubject: load ${id}\r\nMessage-ID: <load-${id}@elsewhere.test>\r\nContent-Type: text/plain\r\n\r\n${'Load test message.\r\n'.repeat(10)}`));
            accepted[u]!++;
            if (invite) invited[u]!++;
            tally.time('SMTP', Date.now() - sentAt);
            tally.count('messages delivered');
          } catch (e) {
            tally.error('SMTP refused', (e as Error).message);
          }
        }
      }));
      await Promise.all(clients.map((c) => c.quit()));
    };
    /** An organizer books a meeting with two colleagues now and then; the server sends the invitations from its outbox. */
    const organizerLoop = async (od: (typeof organizers)[number], k: number): Promise<void> => {
      for (let n = 0; ; n++) {
        await sleep(Math.random() * 2 * BOOKING_INTERVAL_MS);
        if (Date.now() >= deadline) return;
        const first = (k + 1 + Math.floor(Math.random() * (users - 1))) % users;
        let second = (k + 1 + Math.floor(Math.random() * (users - 1))) % users;
        if (second === first) second = (first + 1) % users === k ? (first + 2) % users : (first + 1) % users;
        const at = Date.UTC(2032, 0, 1) + (k * 100_000 + n) * 3_600_000;
        const started = performance.now();
        const r = await easRequest(server.httpPort, od, 'Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', od.key), A('CollectionId', od.calendar),
          A('Commands', A('Add', A('ClientId', `book-${k}-${n}`), A('ApplicationData',
            CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('Subject', `Booked ${k}-${n}`), CAL('MeetingStatus', 1), CAL('ClientUid', `load-booked-${k}-${n}`),
            CAL('StartTime', compactDate(at)), CAL('EndTime', compactDate(at + 1_800_000)),
            CAL('Attendees', [first, second].map((u) => CAL('Attendee', CAL('Email', `user${u}@${DOMAIN}`), CAL('Name', `User ${u}`), CAL('AttendeeType', 1)))))))))), { agent: busyAgent });
        tally.time('organizer Sync Add', performance.now() - started);
        const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
        const added = childText(child(child(col, 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:Status');
        if (r.status !== 200 || childText(col, 'AirSync:Status') !== '1' || added !== '1') {
          tally.error(`organizer Sync HTTP ${r.status} Status ${childText(col, 'AirSync:Status') ?? '-'} Add ${added ?? '-'}`, r.reason);
          return;
        }
        od.key = childText(col, 'AirSync:SyncKey')!;
        organized[k]!++;
        for (const u of [first, second]) {
          accepted[u]!++;
          invited[u]!++;
        }
        tally.count('meetings booked');
      }
    };
    const progressTimer = setInterval(() => {
      say(`${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s left: ${tally.counts.get('messages delivered') ?? 0} delivered, ${tally.counts.get('Sync requests') ?? 0} Syncs, ${tally.totalErrors()} errors, RSS ${((memory[memory.length - 1] ?? 0) / 2 ** 20).toFixed(0)} MiB`);
    }, 10_000);
    const smtpDone = smtpLoop();
    const loops = devices.map((d, i) => deviceLoop(d, i).catch((e: unknown) => tally.error('device loop failed', (e as Error).message)));
    const bookings = organizers.map((od, k) => organizerLoop(od, k).catch((e: unknown) => tally.error('organizer loop failed', (e as Error).message)));
    await smtpDone;
    await Promise.all(bookings);
    await outboxDrained();
    // Deliveries are over: end the held Pings and let every device catch up once more.
    await sleep(500);
    stopAll.abort();
    await Promise.all(loops);
    clearInterval(progressTimer);
    say('final catch-up: every device must hold exactly what its user was sent and did not answer');
    // The first devices answer what they saw last, then everyone catches up.
    await inParallel(users, 16, async (i) => {
      await syncToEnd(devices[i]!, i, false);
      await answerInvitations(devices[i]!, i);
    });
    await inParallel(devices.length, 16, async (i) => {
      const d = devices[i]!;
      await syncToEnd(d, i % users, false);
      const expected = accepted[i % users]! - answered[i % users]!;
      if (d.held.size !== expected) tally.error(d.held.size < expected ? 'messages missing on a device' : 'extra messages on a device', `${d.deviceId}: ${d.held.size} of ${expected}`);
    });
    say('every calendar must hold exactly its user\'s meetings (invited and booked), the answered ones accepted');
    await inParallel(users, 16, async (i) => {
      const cal = await calendarOf(devices[i]!);
      const expected = invited[i]! + organized[i]!;
      if (cal.items !== expected) tally.error('calendar items differ from invitations and bookings', `user${i}: ${cal.items} of ${expected}`);
      if (cal.accepted !== answered[i]) tally.error('accepted meetings differ from answers', `user${i}: ${cal.accepted} of ${answered[i]}`);
    });
    memory.push(rssBytes(server.pid));
  } finally {
    clearInterval(sampler);
    await server.dispose();
  }

  const rows: Array<[string, string]> = [
    ['devices', String(o.devices)], ['users', String(users)], ['seconds', String(o.seconds)],
    ...[...tally.counts].map(([k, v]): [string, string] => [k, String(v)]),
    ...[...tally.latencies].map(([k, l]): [string, string] => {
      l.sort((a, b) => a - b);
      return [`${k} latency p50 / p99 / max`, `${percentile(l, 50).toFixed(1)} / ${percentile(l, 99).toFixed(1)} / ${l[l.length - 1]!.toFixed(1)} ms (${l.length})`];
    }),
    ['server RSS start / max / end', `${(memory[0]! / 2 ** 20).toFixed(0)} / ${(Math.max(...memory) / 2 ** 20).toFixed(0)} / ${(memory[memory.length - 1]! / 2 ** 20).toFixed(0)} MiB`],
    ['errors', String(tally.totalErrors())],
    ...[...tally.errors].map(([k, v]): [string, string] => [`  ${k}`, String(v)]),
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
  const out = path.resolve('.bench', 'load.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), options: o,
    counts: Object.fromEntries(tally.counts), errors: Object.fromEntries(tally.errors),
    latencies: Object.fromEntries([...tally.latencies].map(([k, l]) => [k, { n: l.length, p50: percentile(l, 50), p99: percentile(l, 99), max: l[l.length - 1] }])),
    rss: { start: memory[0], max: Math.max(...memory), end: memory[memory.length - 1] } }, null, 2) + '\n');
  say(`results written to ${out}`);
  return tally.totalErrors() === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`load: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
