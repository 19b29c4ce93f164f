// The relay to a smarthost in each TLS mode and with AUTH, end to end: the real server started as
// `npm start` would, and a real smtp-server as the smarthost with certificates openssl made for
// 127.0.0.1. Every case looks at three sides: what the smarthost got (envelope, bytes, whether the
// session was TLS, who authenticated), what the sender was told (EAS SendMail over HTTP+WBXML and
// authenticated SMTP submission), and what the server logged.
//
// One server per mode keeps start-ups few: the smarthost sits behind a fixed front port that forwards
// each connection to whichever smtp-server the case started, so one `--smarthost` meets several
// behaviours in turn. The forwarding is plain TCP: TLS still runs end to end between the two.
import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose } from '../support/mail.js';
import { makeTlsPki, type TlsPair, type TlsPki } from '../support/tls-pki.js';
import { childText } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const CM = ns('ComposeMail');
const SENDER = 'bob@contoso.test';
const LOCAL = 'alice@contoso.test';
const EXTERNAL = 'erin@fabrikam.test';

/** How the smarthost behind the front port answers: TLS offered how and with which certificate, AUTH required or not. */
interface Behaviour { tls: 'none' | 'starttls' | 'implicit'; cert?: TlsPair; auth?: { user: string; password: string } }
interface Received { mailFrom: string; rcptTo: string[]; raw: Buffer; secure: boolean; user?: string }
interface AuthAttempt { method: string; username: string; password: string; secure: boolean }

class Smarthost {
  received: Received[] = [];
  auths: AuthAttempt[] = [];
  /** TLS sessions set up (STARTTLS upgrades and implicit handshakes that completed). */
  tlsSessions = 0;
  private backend: SMTPServer | undefined;
  private backendPort = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly front: net.Server) {}

  get port(): number { return (this.front.address() as AddressInfo).port; }

  static async open(): Promise<Smarthost> {
    const front = net.createServer();
    const host = new Smarthost(front);
    front.on('connection', (client) => host.forward(client));
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
    return host;
  }

  private forward(client: net.Socket): void {
    if (!this.backend) { client.destroy(); return; }
    const upstream = net.connect(this.backendPort, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      this.sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => { this.sockets.delete(a); b.destroy(); });
      a.pipe(b);
    }
  }

  /** Replaces the smtp-server behind the front port and forgets what the previous one saw. */
  async use(b: Behaviour): Promise<void> {
    await this.stopBackend();
    this.received = [];
    this.auths = [];
    this.tlsSessions = 0;
    const server = new SMTPServer({
      logger: false, closeTimeout: 500, secure: b.tls === 'implicit', ...(b.cert ?? {}),
      disabledCommands: [...(b.tls === 'none' ? ['STARTTLS'] : []), ...(b.auth ? [] : ['AUTH'])],
      // Logins in clear are accepted: whether one is tried is our relay's choice, and what the cases check.
      authMethods: ['PLAIN', 'LOGIN'], authOptional: !b.auth, allowInsecureAuth: true,
      onSecure: (_socket, _session, cb) => { this.tlsSessions++; cb(); },
      onAuth: (auth, session, cb) => {
        this.auths.push({ method: auth.method, username: auth.username ?? '', password: auth.password ?? '', secure: session.secure });
        if (b.auth && auth.username === b.auth.user && auth.password === b.auth.password) { cb(null, { user: auth.username }); return; }
        cb(Object.assign(new Error('5.7.8 authentication credentials invalid'), { responseCode: 535 }));
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          this.received.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcptTo: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks), secure: session.secure, ...(typeof session.user === 'string' ? { user: session.user } : {}),
          });
          cb(null);
        });
      },
    });
    // Failed handshakes are what some cases are about; without a listener they would throw.
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.backend = server;
    this.backendPort = (server.server.address() as AddressInfo).port;
  }

  private async stopBackend(): Promise<void> {
    const server = this.backend;
    this.backend = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await this.stopBackend();
    await new Promise<void>((resolve) => this.front.close(() => resolve()));
  }
}

/** The easmime server for one mode, with bob's device signed in and the log read from the whole run. */
interface Relay { server: ServerProcess; bob: EasClient; stderr: string[] }

async function startRelay(smarthost: Smarthost, mode: string, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<Relay> {
  const server = await startServerProcess({ extraArgs: ['--smarthost', `127.0.0.1:${smarthost.port}`, '--smarthost-tls', mode, ...extraArgs], env });
  const stderr: string[] = [];
  server.child.stderr!.on('data', (c: Buffer) => { stderr.push(c.toString()); });
  const bob = new EasClient({ baseUrl: server.baseUrl, user: SENDER, password: 'demo', deviceId: `Relay${mode}${crypto.randomBytes(3).toString('hex')}`, version: '14.1' });
  await bob.provision();
  return { server, bob, stderr };
}

/** A message that needs no change on the way (From is the sender, Date and Message-ID present, no Bcc), so what leaves is byte for byte what was sent. */
async function message(subject: string): Promise<Buffer> {
  return compose({ from: `"Bob Berg" <${SENDER}>`, to: [LOCAL, EXTERNAL], subject, text: `sent to the smarthost: ${subject}` });
}

async function easSend(relay: Relay, mime: Buffer): Promise<EasResponse> {
  return relay.bob.send('SendMail', CM('SendMail', CM('ClientId', crypto.randomUUID()), CM('SaveInSentItems'), CM('Mime', mime)));
}

/** Authenticated SMTP submission; resolves with the final reply code. */
async function smtpSend(relay: Relay, mime: Buffer): Promise<number> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: relay.server.smtpPort, secure: false, ignoreTLS: true, auth: { user: SENDER, pass: 'demo' } });
  try {
    const info = await transport.sendMail({ envelope: { from: SENDER, to: [LOCAL, EXTERNAL] }, raw: mime });
    return Number(info.response.slice(0, 3));
  } catch (e) {
    const code = (e as { responseCode?: number }).responseCode;
    if (typeof code !== 'number') throw e;
    return code;
  } finally {
    transport.close();
  }
}

async function admin(server: ServerProcess, route: string): Promise<Response> {
  const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  return fetch(`${server.baseUrl}/admin${route}`, { headers: { Authorization: `Bearer ${token}` } });
}

async function stored(server: ServerProcess, user: string, folder: string, subject: string): Promise<number> {
  const r = await admin(server, `/users/${user}/messages?folder=${encodeURIComponent(folder)}&limit=500`);
  assert.equal(r.status, 200);
  return (await r.json() as Array<{ subject: string }>).filter((m) => m.subject === subject).length;
}

/** The log records about the relay written since `mark`; waits a little for the child's stdout to be read. */
async function relayLog(server: ServerProcess, mark: number, count: number): Promise<Array<Record<string, unknown>>> {
  const pick = (): Array<Record<string, unknown>> => server.logs.slice(mark).filter((r) => r.msg === 'relayed' || r.msg === 'relay failed');
  for (let i = 0; i < 100 && pick().length < count; i++) await new Promise((r) => setTimeout(r, 20));
  return pick();
}

const tag = (): string => crypto.randomBytes(4).toString('hex');

/** One EAS SendMail that must reach the smarthost once, over TLS or not, as `user` or anonymously. */
async function expectRelayed(relay: Relay, smarthost: Smarthost, want: { secure: boolean; user?: string }): Promise<Received> {
  const mark = relay.server.logs.length;
  const subject = `relay ${tag()}`;
  const mime = await message(subject);
  const r = await easSend(relay, mime);
  assert.equal(r.status, 200, `HTTP ${r.status}: ${r.headers.get('x-easmime-reason')}`);
  assert.equal(r.raw.length, 0, `SendMail succeeded (an empty 200), got reason ${r.headers.get('x-easmime-reason')}`);

  assert.equal(smarthost.received.length, 1, 'one SMTP transaction at the smarthost');
  const got = smarthost.received[0]!;
  assert.equal(got.mailFrom, SENDER);
  assert.deepEqual(got.rcptTo, [EXTERNAL], 'only the external recipient');
  assert.ok(got.raw.equals(mime), 'the message arrives byte for byte');
  assert.equal(got.secure, want.secure, want.secure ? 'the session was TLS' : 'the session was in clear');
  assert.equal(got.user, want.user);

  const log = await relayLog(relay.server, mark, 1);
  assert.deepEqual(log.map((l) => l.msg), ['relayed']);
  assert.equal(log[0]!.smarthost, `127.0.0.1:${smarthost.port}`);
  assert.equal(log[0]!.to, EXTERNAL);
  assert.equal(await stored(relay.server, LOCAL, 'Inbox', subject), 1);
  assert.equal(await stored(relay.server, SENDER, 'Sent Items', subject), 1);
  return got;
}

/**
 * The relay fails: the device gets 120 with the reason, an SMTP submitter 451 (temporary) or 554
 * (permanent), the smarthost takes nothing, `relay failed` is logged once per try, and no copy is
 * kept anywhere (the local recipient's Inbox, the sender's Sent Items).
 */
async function expectNotRelayed(relay: Relay, smarthost: Smarthost, want: { permanent: boolean; error: RegExp }): Promise<Array<Record<string, unknown>>> {
  const mark = relay.server.logs.length;
  const subject = `refused ${tag()}`;
  const r = await easSend(relay, await message(subject));
  assert.equal(r.status, 200);
  assert.equal(r.body?.tag, 'ComposeMail:SendMail');
  assert.equal(childText(r.body, 'ComposeMail:Status'), '120', `SendMail: ${r.headers.get('x-easmime-reason')}`);
  assert.match(r.headers.get('x-easmime-reason')!, new RegExp(`smarthost 127\\.0\\.0\\.1:${smarthost.port} did not take the message`));

  const smtpSubject = `${subject} smtp`;
  assert.equal(await smtpSend(relay, await message(smtpSubject)), want.permanent ? 554 : 451);

  assert.deepEqual(smarthost.received, [], 'the smarthost got nothing');
  const log = await relayLog(relay.server, mark, 2);
  assert.deepEqual(log.map((l) => l.msg), ['relay failed', 'relay failed']);
  for (const l of log) {
    assert.equal(l.level, 'warn');
    assert.equal(l.to, EXTERNAL);
    assert.match(String(l.error), want.error);
  }
  for (const s of [subject, smtpSubject]) {
    assert.equal(await stored(relay.server, LOCAL, 'Inbox', s), 0, 'the local recipient gets nothing');
    assert.equal(await stored(relay.server, SENDER, 'Sent Items', s), 0, 'no Sent Items copy');
  }
  return log;
}

describe('end to end: smarthost TLS modes and AUTH', function () {
  this.timeout(60_000);
  let pki: TlsPki;
  let smarthost: Smarthost;
  const relays: Relay[] = [];

  before(async () => {
    pki = makeTlsPki('easmime-smarthost-pki-');
    smarthost = await Smarthost.open();
  });
  after(async () => {
    await Promise.all(relays.map((r) => r.server.stop()));
    await smarthost?.close();
  });
  const start = async (...args: Parameters<typeof startRelay>): Promise<Relay> => {
    const r = await startRelay(...args);
    relays.push(r);
    return r;
  };

  it('opportunistic: STARTTLS when offered, whatever the certificate; in clear when not offered', async () => {
    // No NODE_EXTRA_CA_CERTS: nothing the smarthost shows is trusted, and it does not matter here.
    const relay = await start(smarthost, 'opportunistic');
    await smarthost.use({ tls: 'starttls', cert: pki.untrusted });
    await expectRelayed(relay, smarthost, { secure: true });
    assert.equal(smarthost.tlsSessions, 1);

    await smarthost.use({ tls: 'none' });
    await expectRelayed(relay, smarthost, { secure: false });
    assert.equal(smarthost.tlsSessions, 0);
  });

  it('starttls: relayed over TLS to a trusted certificate; an untrusted one, a wrong name or no STARTTLS is a temporary failure', async () => {
    const relay = await start(smarthost, 'starttls', { NODE_EXTRA_CA_CERTS: pki.caPem });
    await smarthost.use({ tls: 'starttls', cert: pki.trusted });
    await expectRelayed(relay, smarthost, { secure: true });

    await smarthost.use({ tls: 'starttls', cert: pki.untrusted });
    await expectNotRelayed(relay, smarthost, { permanent: false, error: /certificate/i });
    assert.equal(smarthost.tlsSessions, 0, 'no TLS session was set up');

    await smarthost.use({ tls: 'starttls', cert: pki.wrongName });
    await expectNotRelayed(relay, smarthost, { permanent: false, error: /127\.0\.0\.1|altnames/i });

    await smarthost.use({ tls: 'none' });
    await expectNotRelayed(relay, smarthost, { permanent: false, error: /STARTTLS/ });
  });

  it('starttls without NODE_EXTRA_CA_CERTS: the test CA is not trusted and nothing leaves', async () => {
    const relay = await start(smarthost, 'starttls');
    await smarthost.use({ tls: 'starttls', cert: pki.trusted });
    await expectNotRelayed(relay, smarthost, { permanent: false, error: /certificate/i });
  });

  it('implicit: TLS from the first byte to a trusted certificate; an untrusted one is refused', async () => {
    const relay = await start(smarthost, 'implicit', { NODE_EXTRA_CA_CERTS: pki.caPem });
    await smarthost.use({ tls: 'implicit', cert: pki.trusted });
    await expectRelayed(relay, smarthost, { secure: true });
    assert.equal(smarthost.tlsSessions, 1);

    await smarthost.use({ tls: 'implicit', cert: pki.untrusted });
    await expectNotRelayed(relay, smarthost, { permanent: false, error: /certificate/i });
  });

  it('none: relayed in clear although STARTTLS is offered', async () => {
    const relay = await start(smarthost, 'none', { NODE_EXTRA_CA_CERTS: pki.caPem });
    await smarthost.use({ tls: 'starttls', cert: pki.trusted });
    await expectRelayed(relay, smarthost, { secure: false });
    assert.equal(smarthost.tlsSessions, 0, 'never upgraded');
  });

  it('AUTH with opportunistic TLS: the login goes only inside STARTTLS; a smarthost without it gets neither login nor mail, unless --smarthost-plaintext-auth', async () => {
    const password = `pw-${crypto.randomBytes(12).toString('hex')}`;
    const relay = await start(smarthost, 'opportunistic', { EASMIME_SMARTHOST_PASSWORD: password }, ['--smarthost-user', 'relay']);
    // Opportunistic checks no certificate, with or without a login.
    await smarthost.use({ tls: 'starttls', cert: pki.untrusted, auth: { user: 'relay', password } });
    await expectRelayed(relay, smarthost, { secure: true, user: 'relay' });
    assert.deepEqual(smarthost.auths.map((a) => a.secure), [true]);

    await smarthost.use({ tls: 'none', auth: { user: 'relay', password } });
    await expectNotRelayed(relay, smarthost, { permanent: false, error: /STARTTLS[\s\S]*only over TLS; --smarthost-plaintext-auth allows it/ });
    assert.equal(smarthost.auths.length, 0, 'no login was tried in clear');

    const testRelay = await start(smarthost, 'opportunistic', { EASMIME_SMARTHOST_PASSWORD: password }, ['--smarthost-user', 'relay', '--smarthost-plaintext-auth']);
    await smarthost.use({ tls: 'none', auth: { user: 'relay', password } });
    await expectRelayed(testRelay, smarthost, { secure: false, user: 'relay' });
    assert.deepEqual(smarthost.auths.map((a) => ({ username: a.username, secure: a.secure })), [{ username: 'relay', secure: false }]);
  });

  it('--smarthost-tls none with a user and no --smarthost-plaintext-auth: the server does not start, saying why', async () => {
    await assert.rejects(start(smarthost, 'none', { EASMIME_SMARTHOST_PASSWORD: 'pw' }, ['--smarthost-user', 'relay']),
      /exited with \d+ before listening[\s\S]*would send the password in clear/);
  });

  it('AUTH: the smarthost sees the user and password over TLS; a refused login (535) is a permanent failure; the password is never logged', async () => {
    const password = `pw-${crypto.randomBytes(12).toString('hex')}`;
    const relay = await start(smarthost, 'starttls', { NODE_EXTRA_CA_CERTS: pki.caPem, EASMIME_SMARTHOST_PASSWORD: password }, ['--smarthost-user', 'relay']);
    assert.ok(!relay.server.child.spawnargs.some((a) => a.includes(password)), 'the password is not on the command line');

    await smarthost.use({ tls: 'starttls', cert: pki.trusted, auth: { user: 'relay', password } });
    await expectRelayed(relay, smarthost, { secure: true, user: 'relay' });
    assert.equal(smarthost.auths.length, 1);
    const { method, ...login } = smarthost.auths[0]!;
    assert.ok(['PLAIN', 'LOGIN'].includes(method), method);
    assert.deepEqual(login, { username: 'relay', password, secure: true });

    await smarthost.use({ tls: 'starttls', cert: pki.trusted, auth: { user: 'relay', password: 'not-the-one-configured' } });
    const log = await expectNotRelayed(relay, smarthost, { permanent: true, error: /535/ });
    assert.ok(log.every((l) => l.code === 535), 'the smarthost\'s code is logged');
    assert.equal(smarthost.auths.length, 2, 'one login per try');
    assert.ok(smarthost.auths.every((a) => a.username === 'relay' && a.password === password && a.secure));

    // Every form the password could take on the wire: as is, AUTH LOGIN's base64, AUTH PLAIN's base64.
    const forms = [password, Buffer.from(password).toString('base64'), Buffer.from(`\0relay\0${password}`).toString('base64')];
    const everything = relay.server.logs.map((l) => JSON.stringify(l)).join('\n') + relay.stderr.join('');
    assert.ok(relay.server.logs.length > 0);
    for (const f of forms) assert.ok(!everything.includes(f), `the log holds no form of the password (${f === password ? 'plain' : 'base64'})`);
  });
});
