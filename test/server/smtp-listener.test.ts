import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { startSmtpListener, type SmtpEnvelope, type SmtpListener, type SmtpListenerOptions, type SmtpLogEvent } from '../../server/smtp/listener.js';

// ---- a raw SMTP client, for protocol errors nodemailer would not produce ----

interface Reply {
  code: number;
  text: string;
  lines: string[];
}

class RawClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private constructor(private socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number): Promise<{ client: RawClient; greeting: Reply }> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawClient(socket);
    return { client, greeting: await client.readReply() };
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('error', () => undefined);
  }

  async readReply(timeoutMs = 5000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buffer.split('\r\n');
      for (let i = 0; i < lines.length - 1; i++) {
        if (/^\d{3} /.test(lines[i]!) || /^\d{3}$/.test(lines[i]!)) {
          const taken = lines.slice(0, i + 1);
          this.buffer = lines.slice(i + 1).join('\r\n');
          return { code: Number(taken[i]!.slice(0, 3)), text: taken[i]!.slice(4), lines: taken };
        }
      }
      if (Date.now() > deadline) throw new Error(`no reply; buffer=${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async cmd(line: string): Promise<Reply> {
    this.write(line + '\r\n');
    return this.readReply();
  }

  async startTls(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    this.socket = secure;
    this.attach(secure);
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- fixture -----------------------------------------------------------------

const USERS = new Map([['alice@example.com', 'alice-secret'], ['bob@example.com', 'bob-secret']]);
const PASSWORD_MARK = 'alice-secret';

interface Harness {
  listener: SmtpListener;
  delivered: SmtpEnvelope[];
  events: SmtpLogEvent[];
  failWith?: unknown;
}

async function harness(overrides: Partial<SmtpListenerOptions> = {}): Promise<Harness> {
  const h = { delivered: [], events: [] } as unknown as Harness;
  h.listener = await startSmtpListener({
    host: '127.0.0.1',
    port: 0,
    isLocalRecipient: (a) => USERS.has(a) || a === 'team@example.com',
    isLocalDomain: async (d) => d === 'example.com',
    authenticate: async (user, password) => (USERS.get(user.toLowerCase()) === password ? user.toLowerCase() : null),
    deliver: async (env) => {
      if (h.failWith !== undefined) throw h.failWith;
      h.delivered.push(env);
    },
    log: (e) => h.events.push(e),
    closeTimeoutMs: 2000,
    ...overrides,
  });
  return h;
}

function transport(port: number, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, ...extra } as nodemailer.TransportOptions);
}

async function compose(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer(mail).compile().build();
}

async function sendRaw(port: number, raw: Buffer, from: string, to: string[], extra: Record<string, unknown> = {}) {
  return transport(port, extra).sendMail({ envelope: { from, to }, raw });
}

function responseCode(err: unknown): number | undefined {
  return (err as { responseCode?: number }).responseCode;
}

describe('SMTP listener', function () {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.listener.close();
  });
  beforeEach(() => {
    h.delivered.length = 0;
    h.events.length = 0;
    h.failWith = undefined;
  });

  it('listens on a free port when asked for port 0 and greets with the hostname', async () => {
    assert.ok(h.listener.port > 0);
    const { client, greeting } = await RawClient.connect(h.listener.port);
    assert.equal(greeting.code, 220);
    assert.match(greeting.text, /^easmime\.local ESMTP/);
    const ehlo = await client.cmd('EHLO client.test');
    assert.equal(ehlo.code, 250);
    const caps = ehlo.lines.map((l) => l.slice(4));
    assert.ok(caps.includes(`SIZE ${25 * 1024 * 1024}`), caps.join('|'));
    assert.ok(caps.includes('ENHANCEDSTATUSCODES'));
    assert.ok(caps.some((c) => /^AUTH\b.*PLAIN/.test(c)));
    assert.ok(!caps.includes('STARTTLS'), 'no STARTTLS without a certificate');
    client.close();
  });

  it('delivers a plain message byte-exact', async () => {
    const raw = await compose({ from: 'Carol <carol@elsewhere.test>', to: 'alice@example.com', subject: 'plain', text: 'Hello Alice\r\nsecond line\r\n' });
    assert.equal(raw.subarray(-2).toString(), '\r\n');
    await sendRaw(h.listener.port, raw, 'carol@elsewhere.test', ['alice@example.com']);
    assert.equal(h.delivered.length, 1);
    const env = h.delivered[0]!;
    assert.ok(env.raw.equals(raw), 'raw differs');
    assert.equal(env.mailFrom, 'carol@elsewhere.test');
    assert.deepEqual(env.rcptTo, ['alice@example.com']);
    assert.equal(env.remoteAddress, '127.0.0.1');
    assert.equal(env.authenticatedUser, undefined);
    assert.equal(env.secure, false);
  });

  it('delivers a multipart message with binary-ish attachments byte-exact', async () => {
    const raw = await compose({
      from: 'carol@elsewhere.test',
      to: 'alice@example.com, bob@example.com',
      subject: 'multipart ünïcödé',
      text: 'text part',
      html: '<p>html <img src="cid:logo@x"></p>',
      attachments: [
        { filename: 'data.bin', content: Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256)) },
        { filename: 'logo.png', content: Buffer.from('89504e470d0a1a0a', 'hex'), cid: 'logo@x' },
        { filename: 'notes.txt', content: '.starts with a dot\n..two dots\n.\nend\n' },
      ],
    });
    await sendRaw(h.listener.port, raw, 'carol@elsewhere.test', ['alice@example.com', 'BOB@example.com', 'alice@example.com']);
    const env = h.delivered[0]!;
    assert.ok(env.raw.equals(raw));
    assert.deepEqual(env.rcptTo, ['alice@example.com', 'bob@example.com']);
  });

  it('a message without a final CRLF gains the one SMTP needs before the dot', async () => {
    const raw = Buffer.from('Subject: no eol\r\n\r\nlast line');
    await sendRaw(h.listener.port, raw, 'x@elsewhere.test', ['bob@example.com']);
    assert.ok(h.delivered[0]!.raw.equals(Buffer.concat([raw, Buffer.from('\r\n')])));
  });

  it('undoes dot-stuffing exactly (nodemailer and a hand-stuffed raw session)', async () => {
    const body = ['Subject: dots', '', '.', '..', '...leading', '. space', 'a.b', '.', 'last', ''].join('\r\n');
    const raw = Buffer.from(body);
    await sendRaw(h.listener.port, raw, 'x@elsewhere.test', ['bob@example.com']);
    assert.ok(h.delivered[0]!.raw.equals(raw), JSON.stringify(h.delivered[0]!.raw.toString()));

    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    assert.equal((await client.cmd('MAIL FROM:<x@elsewhere.test>')).code, 250);
    assert.equal((await client.cmd('RCPT TO:<bob@example.com>')).code, 250);
    assert.equal((await client.cmd('DATA')).code, 354);
    const stuffed = body.split('\r\n').map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n');
    const done = await client.cmd(stuffed + '.');
    assert.equal(done.code, 250);
    assert.match(done.text, /^2\.6\.0 /);
    assert.ok(h.delivered[1]!.raw.equals(raw));
    client.close();
  });

  it('passes bare LF and 8-bit bytes through unchanged', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<> BODY=8BITMIME');
    await client.cmd('RCPT TO:<alice@example.com>');
    await client.cmd('DATA');
    const payload = Buffer.concat([Buffer.from('Subject: lf\nX: y\n\nline\nbytes: '), Buffer.from([0xe9, 0xff, 0x00, 0x80]), Buffer.from('\r\n')]);
    client.write(Buffer.concat([payload, Buffer.from('.\r\n')]));
    assert.equal((await client.readReply()).code, 250);
    assert.ok(h.delivered[0]!.raw.equals(payload));
    assert.equal(h.delivered[0]!.mailFrom, '', 'null sender');
    client.close();
  });

  it('refuses an unknown local recipient with 550 5.1.1 naming the address', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<x@elsewhere.test>');
    const r = await client.cmd('RCPT TO:<Nobody@Example.com>');
    assert.equal(r.code, 550);
    assert.match(r.text, /^5\.1\.1 <Nobody@Example\.com>/);
    assert.equal((await client.cmd('RCPT TO:<team@example.com>')).code, 250, 'later recipients still accepted');
    client.close();
    await assert.rejects(sendRaw(h.listener.port, Buffer.from('Subject: x\r\n\r\nx\r\n'), 'x@elsewhere.test', ['ghost@example.com']), (e: unknown) => responseCode(e) === 550);
    assert.equal(h.delivered.length, 0);
  });

  it('refuses relaying for unauthenticated sessions with 550 5.7.1', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<alice@example.com>');
    const r = await client.cmd('RCPT TO:<someone@elsewhere.test>');
    assert.equal(r.code, 550);
    assert.match(r.text, /^5\.7\.1 <someone@elsewhere\.test>: Relay access denied$/);
    client.close();
  });

  it('accepts relaying once authenticated and tells deliver() who the user is', async () => {
    const raw = Buffer.from('From: alice@example.com\r\nSubject: out\r\n\r\nhi\r\n');
    await sendRaw(h.listener.port, raw, 'alice@example.com', ['someone@elsewhere.test', 'bob@example.com'], {
      auth: { user: 'Alice@example.com', pass: 'alice-secret' },
    });
    const env = h.delivered[0]!;
    assert.deepEqual(env.rcptTo, ['someone@elsewhere.test', 'bob@example.com']);
    assert.equal(env.authenticatedUser, 'alice@example.com');
    assert.ok(env.raw.equals(raw));
    const rcpt = h.events.find((e) => e.type === 'rcpt' && e.address === 'someone@elsewhere.test');
    assert.ok(rcpt && rcpt.type === 'rcpt' && rcpt.relay === true);
  });

  it('rejects a wrong password with 535 5.7.8 (nodemailer and raw AUTH PLAIN/LOGIN)', async () => {
    await assert.rejects(
      sendRaw(h.listener.port, Buffer.from('Subject: x\r\n\r\nx\r\n'), 'alice@example.com', ['bob@example.com'], { auth: { user: 'alice@example.com', pass: 'wrong' } }),
      (e: unknown) => responseCode(e) === 535,
    );
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    const plain = await client.cmd('AUTH PLAIN ' + Buffer.from('\0alice@example.com\0nope').toString('base64'));
    assert.equal(plain.code, 535);
    assert.match(plain.text, /^5\.7\.8 /);
    assert.equal((await client.cmd('AUTH LOGIN')).code, 334);
    assert.equal((await client.cmd(Buffer.from('alice@example.com').toString('base64'))).code, 334);
    assert.equal((await client.cmd(Buffer.from('alice-secret').toString('base64'))).code, 235);
    client.close();
  });

  it('logs every transaction and never a password', async () => {
    await sendRaw(h.listener.port, Buffer.from('Subject: logged\r\n\r\nx\r\n'), 'alice@example.com', ['bob@example.com'], {
      auth: { user: 'alice@example.com', pass: PASSWORD_MARK },
    });
    await assert.rejects(sendRaw(h.listener.port, Buffer.from('x\r\n'), 'a@b.c', ['bob@example.com'], { auth: { user: 'bob@example.com', pass: 'bad-' + PASSWORD_MARK } }));
    // The close events arrive after the client has its reply.
    await new Promise((r) => setTimeout(r, 100));
    const types = h.events.map((e) => e.type);
    for (const t of ['connect', 'auth', 'mail-from', 'rcpt', 'message', 'close']) assert.ok(types.includes(t as SmtpLogEvent['type']), t);
    const message = h.events.find((e) => e.type === 'message');
    assert.ok(message && message.type === 'message');
    assert.equal(message.accepted, true);
    assert.equal(message.authenticatedUser, 'alice@example.com');
    assert.deepEqual(message.rcptTo, ['bob@example.com']);
    assert.match(message.reply, /^250 2\.6\.0/);
    const failedAuth = h.events.find((e) => e.type === 'auth' && !e.ok);
    assert.ok(failedAuth && failedAuth.type === 'auth' && failedAuth.username === 'bob@example.com');
    const text = JSON.stringify(h.events);
    assert.ok(!text.includes(PASSWORD_MARK), 'a password leaked into the log');
    assert.ok(!text.includes(Buffer.from(PASSWORD_MARK).toString('base64').slice(0, 12)), 'a base64 password leaked into the log');
  });

  it('answers garbage commands with 500/501/503 and keeps the session usable', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    const early = await client.cmd('MAIL FROM:<a@b.c>');
    assert.equal(early.code, 503, 'MAIL before EHLO');
    await client.cmd('EHLO t');
    const unknown = await client.cmd('FROBNICATE now');
    assert.ok(unknown.code === 500 || unknown.code === 502, String(unknown.code));
    assert.equal((await client.cmd('MAIL FROM:not-an-address')).code, 501);
    assert.equal((await client.cmd('MAIL FROM:<a b@c>')).code, 501);
    assert.equal((await client.cmd('RCPT TO:<bob@example.com>')).code, 503, 'RCPT before MAIL');
    assert.equal((await client.cmd('DATA')).code, 503, 'DATA before RCPT');
    assert.equal((await client.cmd('MAIL FROM:<a@b.c> SIZE=abc')).code, 501);
    assert.equal((await client.cmd('MAIL FROM:<a@b.c>')).code, 250);
    assert.equal((await client.cmd('RCPT TO:<@@>')).code, 501);
    assert.equal((await client.cmd('RCPT TO:<bob@example.com>')).code, 250);
    assert.equal((await client.cmd('DATA')).code, 354);
    assert.equal((await client.cmd('Subject: after garbage\r\n\r\nok\r\n.')).code, 250);
    assert.equal((await client.cmd('QUIT')).code, 221);
    client.close();
    assert.equal(h.delivered.length, 1);
  });

  it('turns a deliver() failure into 451 4.3.0, or the error responseCode', async () => {
    const raw = Buffer.from('Subject: fail\r\n\r\nx\r\n');
    const attempt = async () => {
      const { client } = await RawClient.connect(h.listener.port);
      await client.cmd('EHLO t');
      await client.cmd('MAIL FROM:<x@elsewhere.test>');
      await client.cmd('RCPT TO:<alice@example.com>');
      await client.cmd('DATA');
      const r = await client.cmd(raw.toString() + '.');
      client.close();
      return r;
    };
    h.failWith = new Error('store is\r\nread-only');
    let r = await attempt();
    assert.equal(r.code, 451);
    assert.equal(r.text, '4.3.0 store is read-only');

    h.failWith = Object.assign(new Error('mailbox policy says no'), { responseCode: 550 });
    r = await attempt();
    assert.equal(r.code, 550);
    assert.equal(r.text, '5.0.0 mailbox policy says no');

    h.failWith = Object.assign(new Error('5.7.1 unsigned mail refused'), { responseCode: 554 });
    r = await attempt();
    assert.equal(r.code, 554);
    assert.equal(r.text, '5.7.1 unsigned mail refused');

    h.failWith = Object.assign(new Error('bogus code'), { responseCode: 250 });
    r = await attempt();
    assert.equal(r.code, 451, 'a success code from a failure is not trusted');

    h.failWith = 'not even an Error';
    r = await attempt();
    assert.equal(r.code, 451);

    h.failWith = Object.assign(new Error('quota'), { responseCode: 552 });
    await assert.rejects(sendRaw(h.listener.port, raw, 'x@elsewhere.test', ['alice@example.com']), (e: unknown) => responseCode(e) === 552);
    assert.equal(h.delivered.length, 0);
  });
});

describe('SMTP listener limits', function () {
  let h: Harness;
  before(async () => {
    h = await harness({ maxMessageBytes: 1000, maxRecipients: 3 });
  });
  after(async () => {
    await h.listener.close();
  });

  it('refuses MAIL FROM with SIZE over the limit with 552 5.3.4', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    const ehlo = await client.cmd('EHLO t');
    assert.ok(ehlo.lines.some((l) => l.endsWith('SIZE 1000')));
    const r = await client.cmd('MAIL FROM:<x@elsewhere.test> SIZE=1001');
    assert.equal(r.code, 552);
    assert.match(r.text, /^5\.3\.4 /);
    assert.equal((await client.cmd('MAIL FROM:<x@elsewhere.test> SIZE=1000')).code, 250);
    client.close();
  });

  it('refuses a message that grows over the limit during DATA with 552 5.3.4, then carries on', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<x@elsewhere.test>');
    await client.cmd('RCPT TO:<alice@example.com>');
    await client.cmd('DATA');
    const r = await client.cmd('Subject: big\r\n\r\n' + 'x'.repeat(78).concat('\r\n').repeat(100) + '.');
    assert.equal(r.code, 552);
    assert.match(r.text, /^5\.3\.4 /);
    assert.equal(h.delivered.length, 0);
    await client.cmd('MAIL FROM:<x@elsewhere.test>');
    await client.cmd('RCPT TO:<alice@example.com>');
    await client.cmd('DATA');
    assert.equal((await client.cmd('Subject: small\r\n\r\nok\r\n.')).code, 250);
    assert.equal(h.delivered.length, 1);
    client.close();
    const message = h.events.find((e) => e.type === 'message' && !e.accepted);
    assert.ok(message && message.type === 'message' && message.bytes > 1000);
  });

  it('nodemailer sees 552 for an oversize message', async () => {
    await assert.rejects(
      sendRaw(h.listener.port, Buffer.from('Subject: big\r\n\r\n' + 'y'.repeat(2000) + '\r\n'), 'x@elsewhere.test', ['alice@example.com']),
      (e: unknown) => responseCode(e) === 552,
    );
  });

  it('answers 452 4.5.3 past maxRecipients; repeating an accepted one is not counted', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<x@elsewhere.test>');
    assert.equal((await client.cmd('RCPT TO:<alice@example.com>')).code, 250);
    assert.equal((await client.cmd('RCPT TO:<bob@example.com>')).code, 250);
    assert.equal((await client.cmd('RCPT TO:<team@example.com>')).code, 250);
    assert.equal((await client.cmd('RCPT TO:<ALICE@example.com>')).code, 250);
    const r = await client.cmd('RCPT TO:<postmaster@example.com>');
    assert.equal(r.code, 452);
    assert.match(r.text, /^4\.5\.3 /);
    client.close();
  });
});

describe('SMTP listener with requireAuth', function () {
  let h: Harness;
  before(async () => {
    h = await harness({ requireAuth: true });
  });
  after(async () => {
    await h.listener.close();
  });

  it('answers MAIL FROM without AUTH with 530 5.7.0', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    const r = await client.cmd('MAIL FROM:<alice@example.com>');
    assert.equal(r.code, 530);
    assert.match(r.text, /^5\.7\.0 /);
    client.close();
  });

  it('accepts after AUTH', async () => {
    await sendRaw(h.listener.port, Buffer.from('Subject: a\r\n\r\nb\r\n'), 'alice@example.com', ['bob@example.com'], { auth: { user: 'alice@example.com', pass: 'alice-secret' } });
    assert.equal(h.delivered.length, 1);
  });

  it('refuses to start without an authenticate function', async () => {
    await assert.rejects(startSmtpListener({ port: 0, requireAuth: true, isLocalRecipient: () => true, deliver: async () => undefined }), TypeError);
  });
});

describe('SMTP listener with STARTTLS', function () {
  let h: Harness;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-smtp-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=easmime.local',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    h = await harness({ tls: { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) } });
  });
  after(async () => {
    await h?.listener.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('offers STARTTLS and refuses AUTH in clear', async () => {
    const { client } = await RawClient.connect(h.listener.port);
    const ehlo = await client.cmd('EHLO t');
    assert.ok(ehlo.lines.some((l) => l.endsWith('STARTTLS')));
    const auth = await client.cmd('AUTH PLAIN ' + Buffer.from('\0alice@example.com\0alice-secret').toString('base64'));
    assert.equal(auth.code, 538);
    assert.equal((await client.cmd('STARTTLS')).code, 220);
    await client.startTls();
    await client.cmd('EHLO t');
    assert.equal((await client.cmd('AUTH PLAIN ' + Buffer.from('\0alice@example.com\0alice-secret').toString('base64'))).code, 235);
    client.close();
  });

  it('delivers over STARTTLS with nodemailer and marks the envelope secure', async () => {
    const raw = Buffer.from('Subject: tls\r\n\r\nsecret stuff\r\n');
    await sendRaw(h.listener.port, raw, 'alice@example.com', ['someone@elsewhere.test'], {
      ignoreTLS: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'alice@example.com', pass: 'alice-secret' },
    });
    const env = h.delivered[0]!;
    assert.equal(env.secure, true);
    assert.equal(env.authenticatedUser, 'alice@example.com');
    assert.ok(env.raw.equals(raw));
  });
});

describe('SMTP listener close()', function () {
  it('ends idle sessions with 421 at once and stops accepting', async () => {
    const h = await harness({ closeTimeoutMs: 5000 });
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    const started = Date.now();
    await h.listener.close();
    assert.ok(Date.now() - started < 4000, 'close() did not wait out the 5 s close timeout for the idle session');
    const r = await client.readReply();
    assert.equal(r.code, 421);
    client.close();
    await assert.rejects(
      new Promise((resolve, reject) => net.connect(h.listener.port, '127.0.0.1').once('connect', resolve).once('error', reject)),
    );
    assert.equal(h.listener.close(), h.listener.close(), 'idempotent');
  });

  it('counts the messages whose DATA is being read, until deliver() has them or the client is gone', async () => {
    let atDeliver: number | undefined;
    const h = await harness({ deliver: async () => { atDeliver = h.listener.receiving; } });
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (const deadline = Date.now() + 5000; !ok();) {
        if (Date.now() > deadline) throw new Error(`never: ${what} (receiving=${h.listener.receiving})`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const open = async (): Promise<RawClient> => {
      const { client } = await RawClient.connect(h.listener.port);
      await client.cmd('EHLO t');
      await client.cmd('MAIL FROM:<x@elsewhere.test>');
      await client.cmd('RCPT TO:<alice@example.com>');
      assert.equal((await client.cmd('DATA')).code, 354);
      client.write('Subject: slow\r\n\r\nfirst half\r\n');
      return client;
    };
    try {
      assert.equal(h.listener.receiving, 0);
      const first = await open();
      const second = await open();
      await until('two in DATA', () => h.listener.receiving === 2);
      assert.equal((await first.cmd('second half\r\n.')).code, 250);
      assert.equal(atDeliver, 1, 'the delivered message no longer counts; the other still does');
      second.close();
      await until('the dropped one no longer counts', () => h.listener.receiving === 0);
      first.close();
    } finally {
      await h.listener.close();
    }
  });

  it('lets a message being received finish before resolving', async () => {
    const h = await harness({ closeTimeoutMs: 5000 });
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<x@elsewhere.test>');
    await client.cmd('RCPT TO:<alice@example.com>');
    assert.equal((await client.cmd('DATA')).code, 354);
    client.write('Subject: in flight\r\n\r\nfirst half\r\n');
    await new Promise((r) => setTimeout(r, 50));
    let closed = false;
    const closing = h.listener.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, false, 'close() waits for the transaction');
    const done = await client.cmd('second half\r\n.');
    assert.equal(done.code, 250);
    assert.equal(h.delivered.length, 1);
    assert.equal((await client.cmd('NOOP')).code, 421, 'no new commands after the transaction');
    await closing;
    client.close();
  });

  it('cuts a transaction that outlives closeTimeoutMs with 421', async () => {
    const h = await harness({ closeTimeoutMs: 200 });
    const { client } = await RawClient.connect(h.listener.port);
    await client.cmd('EHLO t');
    await client.cmd('MAIL FROM:<x@elsewhere.test>');
    await client.cmd('RCPT TO:<alice@example.com>');
    await client.cmd('DATA');
    client.write('Subject: never ends\r\n\r\n');
    const started = Date.now();
    await h.listener.close();
    assert.ok(Date.now() - started < 10_000, 'the transaction was cut, not waited for');
    assert.equal((await client.readReply()).code, 421);
    assert.equal(h.delivered.length, 0);
    client.close();
  });
});
