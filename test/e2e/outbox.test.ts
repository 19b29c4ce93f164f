// The outbox end to end: a 16.1 organizer's meeting mail is queued with her calendar change and
// sent from the store. A smarthost (a real smtp-server) that answers 451 holds back only the external
// copy, which is tried again and goes once it accepts; a restart after kill -9 still sends what was
// queued; a 550 ends in a non-delivery report in her Inbox, as does a recipient the smarthost refuses
// alone (for SendMail too). The admin API shows and steers the queue.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { child, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const CAL = ns('Calendar');

type Answer = 'accept' | 'busy' | 'refuse';

/** A 16.1 device's calendar: one Sync command at a time, the collection's answer back. */
interface Organizer { calendar: (command: WbxmlElement) => Promise<WbxmlElement | undefined> }

/** An SMTP server that accepts, defers (451) or refuses (550) every message, as told; it keeps what it accepts. */
class TestSmarthost {
  answer: Answer = 'accept';
  /** Addresses refused at RCPT TO, with the reply code (550, 450), while the others are taken. */
  refuseRcpt = new Map<string, number>();
  received: Array<{ rcptTo: string[]; raw: string }> = [];
  tries = 0;

  private constructor(private readonly server: SMTPServer) {}

  get port(): number { return (this.server.server.address() as AddressInfo).port; }

  static async open(): Promise<TestSmarthost> {
    let host!: TestSmarthost;
    const server = new SMTPServer({
      logger: false, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], closeTimeout: 500,
      onRcptTo: (address, _session, cb) => {
        const code = host.refuseRcpt.get(address.address);
        if (code === 550) return cb(Object.assign(new Error(`5.1.1 <${address.address}>: mailbox unknown`), { responseCode: 550 }));
        if (code === 450) return cb(Object.assign(new Error(`4.2.1 <${address.address}>: mailbox busy, try later`), { responseCode: 450 }));
        cb();
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          host.tries++;
          if (host.answer === 'busy') return cb(Object.assign(new Error('4.3.2 try again later'), { responseCode: 451 }));
          if (host.answer === 'refuse') return cb(Object.assign(new Error('5.1.1 no such mailbox here'), { responseCode: 550 }));
          host.received.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
          cb(null);
        });
      },
    });
    host = new TestSmarthost(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return host;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 150): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`never: ${what}`);
}

describe('end to end: the outbox (a 16.1 organizer\'s meeting mail through a smarthost that fails)', function () {
  this.timeout(180_000);
  let smarthost: TestSmarthost;
  let server: ServerProcess;
  const data = tempDir('easmime-outbox-');
  const start = (): Promise<ServerProcess> => startServerProcess({ data, extraArgs: ['--smarthost', `127.0.0.1:${smarthost.port}`, '--smarthost-tls', 'none'] });

  before(async () => {
    smarthost = await TestSmarthost.open();
    server = await start();
  });
  after(async () => {
    await server?.stop();
    await smarthost?.close();
    fs.rmSync(data, { recursive: true, force: true });
  });

  const token = (): string => fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
  const admin = (route: string, method = 'GET', auth = true): Promise<Response> =>
    fetch(`${server.baseUrl}/admin/${route}`, { method, headers: auth ? { Authorization: `Bearer ${token()}` } : {} });
  const queue = async (): Promise<Array<{ id: number; lane: string; rcptTo: string[]; attempts: number; lastError: string | null; subject: string }>> =>
    await (await admin('outbox')).json() as Array<{ id: number; lane: string; rcptTo: string[]; attempts: number; lastError: string | null; subject: string }>;
  const messages = async (user: string, folder: string): Promise<Array<{ subject: string; id: number }>> =>
    await (await admin(`users/${user}/messages?folder=${encodeURIComponent(folder)}`)).json() as Array<{ subject: string; id: number }>;

  /** Alice's 16.1 device, her Calendar primed; `calendar` sends one command and returns the collection's answer. */
  async function organizer(): Promise<Organizer> {
    const c = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'demo', deviceId: `Outbox${Date.now()}`, version: '16.1' });
    await c.provision();
    const folder = (await c.folderIds()).get('Calendar')!;
    const r0 = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', folder)))));
    let key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
    return {
      calendar: async (command) => {
        const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', folder), A('Commands', command)))));
        assert.equal(r.status, 200);
        const col = child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection');
        assert.equal(childText(col, 'AirSync:Status'), '1');
        key = childText(col, 'AirSync:SyncKey')!;
        return col;
      },
    };
  }

  let booked = 0;
  /** Adds a one-hour meeting at 10:00 UTC on `day` (YYYYMMDD) to the organizer's calendar; the collection's answer. */
  const book = (alice: Organizer, subject: string, day: string, attendees: Array<[string, string]>): Promise<WbxmlElement | undefined> => {
    const n = ++booked;
    return alice.calendar(A('Add', A('ClientId', `outbox-${n}`), A('ApplicationData',
      CAL('AllDayEvent', 0), CAL('BusyStatus', 2), CAL('Subject', subject), CAL('MeetingStatus', 1), CAL('ClientUid', `outbox-uid-${n}`),
      CAL('StartTime', `${day}T100000Z`), CAL('EndTime', `${day}T110000Z`),
      CAL('Attendees', attendees.map(([email, name]) => CAL('Attendee', CAL('Email', email), CAL('Name', name), CAL('AttendeeType', 1)))))));
  };

  it('451: the local attendee gets the invitation at once, the external copy waits, is listed with its reason, and goes once on retry; Sent Items keeps one copy', async () => {
    smarthost.answer = 'busy';
    const alice = await organizer();
    const added = await book(alice, 'Supplier review', '20261218', [['bob@contoso.test', 'Bob Berg'], ['erin@fabrikam.test', 'Erin External']]);
    assert.equal(childText(child(child(added, 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:Status'), '1');

    await until('bob has the invitation', async () => (await messages('bob@contoso.test', 'Inbox')).find((m) => m.subject === 'Supplier review'));
    const [waiting] = await until('the external copy waits with its reason', async () => {
      const q = await queue();
      return q.length === 1 && q[0]!.attempts >= 1 ? q : undefined;
    });
    assert.equal(waiting!.lane, 'external');
    assert.deepEqual(waiting!.rcptTo, ['erin@fabrikam.test']);
    assert.match(waiting!.lastError ?? '', /451/);
    assert.equal(smarthost.received.length, 0);
    assert.ok(server.logs.some((l) => l.msg === 'outbox deferred' && l.id === waiting!.id), 'the deferral is logged');

    smarthost.answer = 'accept';
    const retried = await admin('outbox/retry', 'POST');
    assert.equal(retried.status, 200);
    assert.deepEqual(await retried.json(), { entries: 1 });
    const got = await until('the smarthost has it', async () => (smarthost.received.length > 0 ? smarthost.received : undefined));
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.rcptTo, ['erin@fabrikam.test']);
    assert.match(got[0]!.raw, /method=REQUEST/i);
    assert.match(got[0]!.raw, /^To: Bob Berg <bob@contoso\.test>, Erin External <erin@fabrikam\.test>\r?$/m, 'every attendee in To, as sent');
    await until('the queue is empty', async () => ((await queue()).length === 0 ? true : undefined));
    const sent = (await messages('alice@contoso.test', 'Sent Items')).filter((m) => m.subject === 'Supplier review');
    assert.equal(sent.length, 1, 'one Sent Items copy for the two lanes');
    const bobs = (await messages('bob@contoso.test', 'Inbox')).filter((m) => m.subject === 'Supplier review');
    assert.equal(bobs.length, 1, 'bob got it once');
  });

  it('what is queued survives kill -9: after the restart it goes without being asked, in order', async () => {
    smarthost.answer = 'busy';
    smarthost.received = [];
    const alice = await organizer();
    const added = await book(alice, 'Crash drill', '20261219', [['erin@fabrikam.test', 'Erin External']]);
    const id = childText(child(child(added, 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:ServerId')!;
    // The update is queued behind the invitation, which the smarthost keeps refusing for now.
    await alice.calendar(A('Change', A('ServerId', id), A('ApplicationData', CAL('StartTime', '20261219T140000Z'), CAL('EndTime', '20261219T150000Z'))));
    await until('both wait', async () => ((await queue()).filter((e) => e.subject === 'Crash drill').length === 2 ? true : undefined));

    server.child.kill('SIGKILL');
    await new Promise<void>((resolve) => (server.child.exitCode !== null ? resolve() : server.child.once('exit', () => resolve())));
    smarthost.answer = 'accept';
    server = await start();
    const got = await until('both reached the smarthost', async () => (smarthost.received.length >= 2 ? smarthost.received : undefined));
    assert.equal(got.length, 2);
    assert.match(got[0]!.raw, /SEQUENCE:0/, 'the invitation first');
    assert.match(got[1]!.raw, /SEQUENCE:1/, 'then its update');
    assert.match(got[1]!.raw, /DTSTART:20261219T140000Z/);
    assert.ok(server.logs.some((l) => l.msg === 'outbox has queued mail'), 'the restart says what it found');
    await until('the queue is empty', async () => ((await queue()).length === 0 ? true : undefined));
  });

  it('a later message about a meeting waits for the earlier one still deferred; another meeting\'s mail does not wait', async () => {
    smarthost.answer = 'busy';
    smarthost.received = [];
    const alice = await organizer();
    const added = await book(alice, 'Held back', '20261222', [['erin@fabrikam.test', 'Erin External']]);
    const id = childText(child(child(added, 'AirSync:Responses'), 'AirSync:Add'), 'AirSync:ServerId')!;
    await until('the invitation is deferred', async () => ((await queue()).some((e) => e.subject === 'Held back' && e.attempts >= 1) ? true : undefined));
    smarthost.answer = 'accept';
    // Its update is due at once, but behind the invitation, which is not due for a minute.
    await alice.calendar(A('Change', A('ServerId', id), A('ApplicationData', CAL('StartTime', '20261222T150000Z'), CAL('EndTime', '20261222T160000Z'))));
    await book(alice, 'Goes ahead', '20261223', [['erin@fabrikam.test', 'Erin External']]);
    await until('the other meeting went', async () => (smarthost.received.some((r) => /Subject: Goes ahead/.test(r.raw)) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(smarthost.received.filter((r) => /Subject: Held back/.test(r.raw)), [], 'nothing of the held-back meeting went');
    assert.equal((await queue()).filter((e) => e.subject === 'Held back').length, 2);

    await admin('outbox/retry', 'POST');
    const held = await until('both went', async () => {
      const got = smarthost.received.filter((r) => /Subject: Held back/.test(r.raw));
      return got.length === 2 ? got : undefined;
    });
    assert.match(held[0]!.raw, /SEQUENCE:0/);
    assert.match(held[1]!.raw, /SEQUENCE:1/);
  });

  it('550: the organizer gets a non-delivery report naming the recipient and the answer, and nothing stays queued', async () => {
    smarthost.answer = 'refuse';
    const alice = await organizer();
    await book(alice, 'Nowhere meeting', '20261220', [['nobody@fabrikam.test', 'Nobody']]);
    const report = await until('the report is in her Inbox', async () => (await messages('alice@contoso.test', 'Inbox')).find((m) => m.subject === 'Undeliverable: Nowhere meeting'));
    const raw = await (await admin(`users/alice@contoso.test/messages/${report.id}`)).text();
    assert.match(raw, /^Content-Type: multipart\/report; report-type=delivery-status/m);
    assert.match(raw, /^Final-Recipient: rfc822; nobody@fabrikam\.test\r$/m);
    assert.match(raw, /^Status: 5\.0\.0\r$/m);
    assert.match(raw, /^Diagnostic-Code: smtp; 554 .*550/m);
    assert.match(raw, /^X-EasMime-Outbox: \d+\r$/m);
    assert.deepEqual(await queue(), []);
    assert.ok(server.logs.some((l) => l.msg === 'outbox gave up'));
    smarthost.answer = 'accept';
  });

  it('a recipient the smarthost refuses at RCPT while it takes the others: the sender gets a report naming it (SendMail and the outbox alike)', async () => {
    smarthost.answer = 'accept';
    smarthost.received = [];
    smarthost.refuseRcpt = new Map([['gone@fabrikam.test', 550]]);
    try {
      const c = new EasClient({ baseUrl: server.baseUrl, user: 'alice@contoso.test', password: 'demo', deviceId: `Refused${Date.now()}`, version: '14.1' });
      await c.provision();
      const mime = ['From: alice@contoso.test', 'To: erin@fabrikam.test, gone@fabrikam.test', 'Subject: Partly refused', 'MIME-Version: 1.0', '', 'Hello both.', ''].join('\r\n');
      const sent = await c.send('SendMail', ns('ComposeMail')('SendMail', ns('ComposeMail')('ClientId', `refused-${Date.now()}`), ns('ComposeMail')('Mime', mime)));
      assert.equal(sent.status, 200);
      assert.equal(sent.raw.length, 0, 'SendMail succeeded: the message went to erin');
      assert.deepEqual(smarthost.received.map((r) => r.rcptTo), [['erin@fabrikam.test']]);
      const report = await until('the report', async () => (await messages('alice@contoso.test', 'Inbox')).find((m) => m.subject === 'Undeliverable: Partly refused'));
      const raw = await (await admin(`users/alice@contoso.test/messages/${report.id}`)).text();
      assert.match(raw, /^Final-Recipient: rfc822; gone@fabrikam\.test\r$/m);
      assert.match(raw, /^Status: 5\.1\.1\r$/m, 'the smarthost\'s enhanced status');
      assert.match(raw, /^Diagnostic-Code: smtp; 550 5\.1\.1 <gone@fabrikam\.test>: mailbox unknown\r$/m);
      assert.doesNotMatch(raw, /Final-Recipient: rfc822; erin@/);

      // The outbox's meeting mail: the same report, and nothing left queued for the refused one.
      const alice = await organizer();
      await book(alice, 'Half there', '20261224', [['erin@fabrikam.test', 'Erin External'], ['gone@fabrikam.test', 'Gone']]);
      await until('its report', async () => (await messages('alice@contoso.test', 'Inbox')).find((m) => m.subject === 'Undeliverable: Half there'));
      assert.deepEqual(await queue(), []);

      // Put off (450) rather than refused: the entry stays for that recipient alone, in its place, and goes on retry.
      smarthost.refuseRcpt = new Map([['busy@fabrikam.test', 450]]);
      smarthost.received = [];
      await book(alice, 'Later for one', '20261226', [['erin@fabrikam.test', 'Erin External'], ['busy@fabrikam.test', 'Busy']]);
      const [waiting] = await until('the rest waits', async () => {
        const q = (await queue()).filter((e) => e.subject === 'Later for one' && e.attempts === 1);
        return q.length === 1 ? q : undefined;
      });
      assert.deepEqual(waiting!.rcptTo, ['busy@fabrikam.test']);
      assert.match(waiting!.lastError ?? '', /4\.2\.1/);
      assert.deepEqual(smarthost.received.map((r) => r.rcptTo), [['erin@fabrikam.test']]);
      smarthost.refuseRcpt = new Map();
      await admin('outbox/retry', 'POST');
      await until('it went', async () => (smarthost.received.length === 2 ? true : undefined));
      assert.deepEqual(smarthost.received[1]!.rcptTo, ['busy@fabrikam.test']);
      assert.equal((await messages('alice@contoso.test', 'Sent Items')).filter((m) => m.subject === 'Later for one').length, 1);
      assert.equal((await messages('alice@contoso.test', 'Inbox')).filter((m) => m.subject === 'Undeliverable: Later for one').length, 0, 'no report for what went in the end');
    } finally {
      smarthost.refuseRcpt = new Map();
    }
  });

  it('an unknown address of the organisation\'s own domain is reported alone; the local attendees get the invitation', async () => {
    const alice = await organizer();
    await book(alice, 'With a ghost', '20261227', [['bob@contoso.test', 'Bob Berg'], ['ghost@contoso.test', 'Ghost']]);
    await until('bob has it', async () => (await messages('bob@contoso.test', 'Inbox')).find((m) => m.subject === 'With a ghost'));
    const report = await until('the report', async () => (await messages('alice@contoso.test', 'Inbox')).find((m) => m.subject === 'Undeliverable: With a ghost'));
    const raw = await (await admin(`users/alice@contoso.test/messages/${report.id}`)).text();
    assert.match(raw, /^Final-Recipient: rfc822; ghost@contoso\.test\r$/m);
    assert.doesNotMatch(raw, /Final-Recipient: rfc822; bob@/);
    assert.equal((await messages('alice@contoso.test', 'Sent Items')).filter((m) => m.subject === 'With a ghost').length, 1);
    await until('the queue is empty', async () => ((await queue()).length === 0 ? true : undefined));
  });

  it('the admin routes: token required, bad limits and methods refused, one entry dropped by id', async () => {
    assert.equal((await admin('outbox', 'GET', false)).status, 401);
    assert.equal((await admin('outbox?limit=0')).status, 400);
    assert.equal((await admin('outbox?offset=-1')).status, 400);
    assert.equal((await admin('outbox', 'POST')).status, 405);
    assert.equal((await admin('outbox/retry')).status, 405);
    assert.equal((await admin('outbox/999999', 'DELETE')).status, 404);
    assert.equal((await admin('outbox/x', 'DELETE')).status, 404);

    smarthost.answer = 'busy';
    const alice = await organizer();
    await book(alice, 'Dropped', '20261221', [['erin@fabrikam.test', 'Erin External']]);
    const [entry] = await until('it waits', async () => {
      const q = (await queue()).filter((e) => e.subject === 'Dropped' && e.attempts >= 1);
      return q.length === 1 ? q : undefined;
    });
    assert.equal((await admin(`outbox/${entry!.id}`, 'DELETE')).status, 204);
    assert.deepEqual(await queue(), []);
    smarthost.answer = 'accept';
    const tries = smarthost.tries;
    assert.deepEqual(await (await admin('outbox/retry', 'POST')).json(), { entries: 0 });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(smarthost.tries, tries, 'a dropped entry is not sent');
  });
});
