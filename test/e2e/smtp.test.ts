// SMTP ingress through the real server: acceptance policy, STARTTLS and AUTH, size limit, byte-exact storage.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw } from '../support/mail.js';
import { EasClient } from '../support/eas-client.js';
import { child, childrenOf, childText } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const B = ns('AirSyncBase');
const F = ns('FolderHierarchy');

function adminGet(server: ServerProcess, p: string): Promise<Response> {
  const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  return fetch(`${server.baseUrl}${p}`, { headers: { Authorization: `Bearer ${token}` } });
}

describe('end to end: SMTP ingress', function () {
  this.timeout(90_000);

  describe('open listener', () => {
    let server: ServerProcess;
    before(async () => { server = await startServerProcess({ extraArgs: ['--max-message-bytes', '20000'] }); });
    after(async () => { await server?.stop(); });

    it('refuses unknown local recipients with 550 5.1.1 and relaying with 550 5.7.1', async () => {
      const raw = await compose({ from: 'erin@fabrikam.test', to: 'nobody@contoso.test', subject: 'x', text: 'x' });
      await assert.rejects(sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['nobody@contoso.test'] }, raw), (e: Error & { responseCode?: number; response?: string }) => e.responseCode === 550 && /5\.1\.1/.test(e.response ?? ''));
      await assert.rejects(sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['someone@elsewhere.test'] }, raw), (e: Error & { responseCode?: number; response?: string }) => e.responseCode === 550 && /5\.7\.1/.test(e.response ?? ''));
    });

    it('refuses an oversize message with 552 and stores nothing', async () => {
      const big = await compose({ from: 'erin@fabrikam.test', to: 'dave@contoso.test', subject: 'big', text: 'x'.repeat(30_000) });
      await assert.rejects(sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['dave@contoso.test'] }, big), (e: Error & { responseCode?: number }) => e.responseCode === 552);
      assert.ok(!server.logs.some((l) => l.msg === 'delivered' && l.to === 'dave@contoso.test' && l.bytes === big.length));
    });

    it('a group delivers to every member, each copy byte for byte', async () => {
      const raw = await compose({ from: 'erin@fabrikam.test', to: 'sales@contoso.test', subject: 'to the team', text: 'hello sales\r\n' });
      await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['sales@contoso.test'] }, raw);
      const delivered = server.logs.filter((l) => l.msg === 'delivered' && l.bytes === raw.length).at(-1);
      assert.equal(delivered?.to, 'alice@contoso.test,bob@contoso.test');
      for (const user of ['alice', 'bob']) {
        const c = new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: `Group${user}`, version: '14.1' });
        await c.provision();
        const h = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
        const inbox = childText(childrenOf(child(h.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add').find((a) => childText(a, 'FolderHierarchy:Type') === '2'), 'FolderHierarchy:ServerId')!;
        const r0 = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', '0'), A('CollectionId', inbox)))));
        const key = childText(child(child(r0.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:SyncKey')!;
        const r = await c.send('Sync', A('Sync', A('Collections', A('Collection', A('SyncKey', key), A('CollectionId', inbox),
          A('Options', A('FilterType', 1), A('MIMESupport', 2), B('BodyPreference', B('Type', 4)))))));
        const adds = childrenOf(child(child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection'), 'AirSync:Commands'), 'AirSync:Add');
        const add = adds.find((a) => childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject') === 'to the team');
        const data = childText(child(child(add, 'AirSync:ApplicationData'), 'AirSyncBase:Body'), 'AirSyncBase:Data');
        assert.ok(data !== undefined && Buffer.from(data, 'utf8').equals(raw), `${user}'s copy is byte-identical`);
      }
    });
  });

  describe('STARTTLS and required AUTH', () => {
    let server: ServerProcess;
    before(async () => {
      const dir = tempDir('easmime-tls-');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost'], { stdio: 'pipe' });
      server = await startServerProcess({ extraArgs: ['--smtp-tls-cert', path.join(dir, 'cert.pem'), '--smtp-tls-key', path.join(dir, 'key.pem'), '--smtp-require-auth'] });
    });
    after(async () => { await server?.stop(); });

    it('refuses mail without AUTH, accepts it over STARTTLS with a user\'s password', async () => {
      const raw = await compose({ from: 'bob@contoso.test', to: 'alice@contoso.test', subject: 'over tls', text: 'secure\r\n' });
      const anon = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
      await assert.rejects(anon.sendMail({ envelope: { from: 'bob@contoso.test', to: ['alice@contoso.test'] }, raw }), (e: Error & { responseCode?: number }) => e.responseCode === 530);
      const wrong = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'bob', pass: 'nope' } });
      await assert.rejects(wrong.sendMail({ envelope: { from: 'bob@contoso.test', to: ['alice@contoso.test'] }, raw }), (e: Error & { responseCode?: number }) => e.responseCode === 535);
      const authed = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'bob@contoso.test', pass: 'demo' } });
      const info = await authed.sendMail({ envelope: { from: 'bob@contoso.test', to: ['alice@contoso.test'] }, raw });
      assert.match(info.response, /^250/);
      const users = await (await adminGet(server, '/admin/users')).json() as unknown[];
      assert.equal(users.length, 4);
      assert.ok(!JSON.stringify(server.logs).includes('"demo"'), 'the password is not logged');
    });
  });

  it('--smtp-tls-cert without --smtp-tls-key is refused at start-up', async () => {
    await assert.rejects(startServerProcess({ extraArgs: ['--smtp-tls-cert', '/nonexistent.pem'] }), /go together/);
  });
});
