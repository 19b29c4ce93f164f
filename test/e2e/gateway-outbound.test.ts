// The encryption-recipient-availability check over real EAS: bob's device submits messages that
// openssl encrypted to chosen certificates; the gateway lets one through only when every recipient
// has an available, valid certificate that the envelope names, and otherwise sends nothing to anyone,
// answers with Status 116 (HTTP 500 before 14.0) and leaves bob a non-delivery report naming each
// recipient to remove and why.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { PROJECT_ROOT, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { signClear } from '../support/mail.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const A = ns('AirSync');
const F = ns('FolderHierarchy');
const CM = ns('ComposeMail');
const AB = ns('AirSyncBase');
const PKI = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki');
const cert = (name: string): string => path.join(PKI, 'users', `${name}.crt`);
const external = (name: string): string => path.join(PKI, 'external', `${name}.crt`);

/** A message encrypted by openssl to these certificate files, headers as a client writes them. */
function encrypted(o: { to: string; cc?: string; subject: string; recipients: string[]; inner?: Buffer }): Buffer {
  const dir = tempDir('easmime-out-');
  const inner = path.join(dir, 'inner.eml');
  fs.writeFileSync(inner, o.inner ?? Buffer.from(`Content-Type: text/plain; charset=utf-8\r\n\r\nSecret for ${o.to}.\r\n`));
  const out = execFileSync('openssl', ['cms', '-encrypt', '-in', inner, '-aes256', '-from', 'Bob Berg <bob@contoso.test>', '-to', o.to,
    '-subject', o.subject, ...o.recipients], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = out.toString('latin1').replace(/\r?\n/g, '\r\n');
  if (o.cc) text = text.replace(/^To: (.*)\r\n/m, `To: $1\r\nCc: ${o.cc}\r\n`);
  return Buffer.from(text, 'latin1');
}

interface Device { c: EasClient; folders: Map<string, string>; keys: Map<string, string>; version: string }
let counter = 0;
async function device(server: ServerProcess, user: string, version = '14.1'): Promise<Device> {
  const c = new EasClient({ baseUrl: server.baseUrl, user: `${user}@contoso.test`, password: 'demo', deviceId: `Out${++counter}v${version.replace('.', '')}`, version });
  await c.provision();
  const r = await c.send('FolderSync', F('FolderSync', F('SyncKey', '0')));
  const folders = new Map(childrenOf(child(r.body, 'FolderHierarchy:Changes'), 'FolderHierarchy:Add')
    .map((a) => [childText(a, 'FolderHierarchy:DisplayName')!, childText(a, 'FolderHierarchy:ServerId')!]));
  return { c, folders, keys: new Map(), version };
}

/** New items in a folder since the last pull, as the device sees them (MIME for S/MIME, as clients ask). */
async function pull(d: Device, folder: string): Promise<WbxmlElement[]> {
  const id = d.folders.get(folder)!;
  const legacy = Number(d.version) < 14;
  const sync = async (key: string): Promise<WbxmlElement> => {
    const r = await d.c.send('Sync', A('Sync', A('Collections', A('Collection', legacy && A('Class', 'Email'), A('SyncKey', key), A('CollectionId', id),
      key !== '0' && A('Options', A('MIMESupport', 2), AB('BodyPreference', AB('Type', 4)))))));
    return child(child(r.body, 'AirSync:Collections'), 'AirSync:Collection')!;
  };
  let key = d.keys.get(folder) ?? childText(await sync('0'), 'AirSync:SyncKey')!;
  const adds: WbxmlElement[] = [];
  for (let i = 0; i < 20; i++) {
    const col = await sync(key);
    assert.equal(childText(col, 'AirSync:Status'), '1');
    key = childText(col, 'AirSync:SyncKey')!;
    adds.push(...childrenOf(child(col, 'AirSync:Commands'), 'AirSync:Add'));
    if (!child(col, 'AirSync:MoreAvailable')) break;
  }
  d.keys.set(folder, key);
  return adds;
}
const subjectOf = (a: WbxmlElement): string | undefined => childText(child(a, 'AirSync:ApplicationData'), 'Email:Subject');

async function sendMail(d: Device, mime: Buffer, save = true): Promise<EasResponse> {
  if (Number(d.version) < 14) {
    return d.c.send('SendMail', mime, { params: save ? { SaveInSent: 'T' } : {}, contentType: 'message/rfc822' });
  }
  return d.c.send('SendMail', CM('SendMail', CM('ClientId', crypto.randomUUID()), save && CM('SaveInSentItems'), CM('Mime', mime)));
}

function refusedStatus(d: Device, r: EasResponse): void {
  if (Number(d.version) < 14) {
    assert.equal(r.status, 500, `HTTP ${r.status}`);
  } else {
    assert.equal(r.status, 200);
    assert.equal(childText(r.body, 'ComposeMail:Status'), '116', r.headers.get('x-easmime-reason') ?? '');
  }
}

async function admin(server: ServerProcess, route: string, init: RequestInit = {}): Promise<Response> {
  const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  return fetch(`${server.baseUrl}/admin${route}`, { ...init, headers: { authorization: `Bearer ${token}` } });
}
async function subjects(server: ServerProcess, user: string, folder: string): Promise<string[]> {
  return ((await (await admin(server, `/users/${user}/messages?folder=${encodeURIComponent(folder)}&limit=500`)).json()) as Array<{ subject: string }>).map((m) => m.subject);
}
async function capturedSubjects(server: ServerProcess): Promise<string[]> {
  return ((await (await admin(server, '/captured?limit=1000')).json()) as Array<{ subject: string }>).map((m) => m.subject);
}

/** The report bob got for this subject: the machine-readable list of recipients to remove, and the body. */
async function reportFor(server: ServerProcess, subject: string): Promise<{ remove: string; raw: string }> {
  const list = (await (await admin(server, '/users/bob/messages?folder=Inbox&limit=500')).json()) as Array<{ id: number; subject: string }>;
  const ndr = list.find((m) => m.subject === `Undeliverable: ${subject}`);
  assert.ok(ndr, `bob has a non-delivery report for "${subject}"`);
  const raw = await (await admin(server, `/users/bob/messages/${ndr.id}`)).text();
  return { remove: /^X-EasMime-Remove-Recipients: (.*)$/m.exec(raw)?.[1] ?? '', raw };
}

describe('end to end: the encryption-recipient-availability check', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  it('refuses alice + dave naming dave, delivers to no one; the same to alice alone reaches her device', async () => {
    const bob = await device(server, 'bob');
    const alice = await device(server, 'alice');
    await pull(alice, 'Inbox');
    await pull(bob, 'Inbox');
    const tag = crypto.randomBytes(3).toString('hex');

    const both = `to alice and dave ${tag}`;
    const r = await sendMail(bob, encrypted({ to: 'alice@contoso.test, dave@contoso.test', subject: both,
      recipients: [cert('alice-encryption-2024'), cert('bob-encryption')] }));
    refusedStatus(bob, r);
    assert.match(r.headers.get('x-easmime-reason') ?? '', /dave@contoso\.test \(no-certificate\)/);
    const report = await reportFor(server, both);
    assert.equal(report.remove, 'dave@contoso.test (no-certificate)', 'only dave is to be removed');
    assert.match(report.raw, /Content-Type: multipart\/report; report-type=delivery-status/);
    assert.match(report.raw, /Final-Recipient: rfc822; dave@contoso\.test\r\nAction: failed\r\nStatus: 5\.7\.1/);
    assert.ok(!(await subjects(server, 'alice', 'Inbox')).includes(both), 'alice got nothing');
    assert.ok(!(await subjects(server, 'dave', 'Inbox')).includes(both), 'dave got nothing');
    assert.ok(!(await subjects(server, 'bob', 'Sent Items')).includes(both), 'nothing in Sent Items');
    const bobSees = (await pull(bob, 'Inbox')).map(subjectOf);
    assert.ok(bobSees.includes(`Undeliverable: ${both}`), 'bob\'s device syncs the report');

    const one = `to alice ${tag}`;
    const mime = encrypted({ to: 'alice@contoso.test', subject: one, recipients: [cert('alice-encryption-2024'), cert('bob-encryption')] });
    const ok = await sendMail(bob, mime);
    assert.equal(ok.status, 200, ok.headers.get('x-easmime-reason') ?? '');
    assert.equal(ok.raw.length, 0);
    const got = (await pull(alice, 'Inbox')).find((a) => subjectOf(a) === one);
    assert.ok(got, 'alice\'s device syncs it');
    const appData = child(got, 'AirSync:ApplicationData');
    assert.equal(childText(appData, 'Email:MessageClass'), 'IPM.Note.SMIME');
    const body = childText(child(appData, 'AirSyncBase:Body'), 'AirSyncBase:Data') ?? '';
    assert.ok(body.includes('application/pkcs7-mime') || body.includes('application/x-pkcs7-mime'), 'the envelope arrives whole');
    assert.equal((await subjects(server, 'bob', 'Sent Items')).filter((s) => s === one).length, 1);
  });

  it('names every reason: revoked (carol), not-in-envelope (alice\'s current key left out), no-certificate (frank); erin passes and is captured', async () => {
    const bob = await device(server, 'bob');
    const tag = crypto.randomBytes(3).toString('hex');
    const subject = `many ${tag}`;
    const r = await sendMail(bob, encrypted({
      to: 'alice@contoso.test, carol@contoso.test, erin@fabrikam.test', cc: 'frank@fabrikam.test', subject,
      recipients: [cert('alice-encryption-2021'), cert('carol-encryption'), external('erin-encryption'), cert('bob-encryption')],
    }));
    refusedStatus(bob, r);
    const { remove, raw } = await reportFor(server, subject);
    assert.deepEqual(remove.split(', ').sort(), [
      'alice@contoso.test (not-in-envelope)', 'carol@contoso.test (revoked)', 'frank@fabrikam.test (no-certificate)',
    ]);
    assert.match(raw, /alice@contoso\.test: not-in-envelope .*expired/, 'the report says the key used for alice has expired');
    assert.ok(!(await capturedSubjects(server)).includes(subject), 'erin\'s copy did not leave either');

    const fine = `erin ${tag}`;
    const ok = await sendMail(bob, encrypted({ to: 'erin@fabrikam.test', subject: fine, recipients: [external('erin-encryption'), cert('bob-encryption')] }));
    assert.equal(ok.status, 200, ok.headers.get('x-easmime-reason') ?? '');
    assert.ok((await capturedSubjects(server)).includes(fine), 'the external copy is in the capture store');
  });

  it('expired: with alice\'s current certificate unpublished, only the expired one is available', async () => {
    const certs = (await (await admin(server, '/users/alice/certificates')).json()) as Array<{ id: number; purpose: string; serial: string; notAfter: string }>;
    const current = certs.filter((c) => c.purpose === 'encryption').sort((a, b) => b.notAfter.localeCompare(a.notAfter))[0]!;
    assert.equal((await admin(server, `/users/alice/certificates/${current.id}/published`, { method: 'PUT', body: 'false' })).status, 200);
    try {
      const bob = await device(server, 'bob');
      const subject = `expired ${crypto.randomBytes(3).toString('hex')}`;
      refusedStatus(bob, await sendMail(bob, encrypted({ to: 'alice@contoso.test', subject, recipients: [cert('alice-encryption-2021')] })));
      assert.equal((await reportFor(server, subject)).remove, 'alice@contoso.test (expired)');
    } finally {
      await admin(server, `/users/alice/certificates/${current.id}/published`, { method: 'PUT', body: 'true' });
    }
  });

  it('a group counts as its members: sales (alice, bob) passes only when the envelope names both', async () => {
    const bob = await device(server, 'bob');
    const tag = crypto.randomBytes(3).toString('hex');
    const partial = `sales partial ${tag}`;
    refusedStatus(bob, await sendMail(bob, encrypted({ to: 'sales@contoso.test', subject: partial, recipients: [cert('alice-encryption-2024')] })));
    assert.equal((await reportFor(server, partial)).remove, 'bob@contoso.test (not-in-envelope)');
    const whole = `sales whole ${tag}`;
    const ok = await sendMail(bob, encrypted({ to: 'sales@contoso.test', subject: whole, recipients: [cert('alice-encryption-2024'), cert('bob-encryption')] }));
    assert.equal(ok.status, 200, ok.headers.get('x-easmime-reason') ?? '');
    assert.ok((await subjects(server, 'alice', 'Inbox')).includes(whole));
  });

  it('signed then encrypted: the gateway opens the envelope with bob\'s own key and records the inner signature', async () => {
    const bob = await device(server, 'bob');
    const subject = `triple ${crypto.randomBytes(3).toString('hex')}`;
    const signed = signClear({ signer: { cert: cert('bob-signing'), key: path.join(PKI, 'keys', 'bob-signing.key') }, from: 'bob@contoso.test',
      to: 'alice@contoso.test', subject, text: 'Signed and sealed.' });
    const inner = signed.subarray(signed.indexOf('MIME-Version'));
    const ok = await sendMail(bob, encrypted({ to: 'alice@contoso.test', subject, inner, recipients: [cert('alice-encryption-2024'), cert('bob-encryption')] }));
    assert.equal(ok.status, 200, ok.headers.get('x-easmime-reason') ?? '');
    const list = (await (await admin(server, '/users/alice/messages?limit=500')).json()) as Array<{ id: number; subject: string; smime: { header: string; valid: boolean } }>;
    const m = list.find((x) => x.subject === subject);
    assert.ok(m?.smime);
    assert.equal(m.smime.valid, true, m.smime.header);
    assert.match(m.smime.header, /signer=bob@contoso\.test/);
  });

  it('12.1: the refusal is HTTP 500 with the reason, and the report arrives the same way', async () => {
    const bob = await device(server, 'bob', '12.1');
    const subject = `legacy ${crypto.randomBytes(3).toString('hex')}`;
    const r = await sendMail(bob, encrypted({ to: 'dave@contoso.test', subject, recipients: [cert('bob-encryption')] }));
    refusedStatus(bob, r);
    assert.match(r.headers.get('x-easmime-reason') ?? '', /dave@contoso\.test/);
    assert.equal((await reportFor(server, subject)).remove, 'dave@contoso.test (no-certificate)');
  });
});

describe('end to end: policy on submission', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  before(async () => {
    const dir = tempDir('easmime-require-signed-');
    fs.cpSync(path.join(PROJECT_ROOT, 'fixtures', 'demo'), dir, { recursive: true });
    const org = JSON.parse(fs.readFileSync(path.join(dir, 'organisation.json'), 'utf8')) as Record<string, unknown>;
    org.policy = { mode: 'require-signed' };
    fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify(org));
    server = await startServerProcess({ fixtures: dir });
  });
  after(async () => { await server?.stop(); });

  it('require-signed refuses bob\'s unsigned SendMail with 116 and a report, and sends his signed one', async () => {
    const bob = await device(server, 'bob');
    const plain = Buffer.from('From: bob@contoso.test\r\nTo: alice@contoso.test\r\nSubject: unsigned out\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello\r\n');
    refusedStatus(bob, await sendMail(bob, plain));
    const { raw } = await reportFor(server, 'unsigned out');
    assert.match(raw, /X-EasMime-Refusal: signing-required/);
    const signed = signClear({ signer: { cert: cert('bob-signing'), key: path.join(PKI, 'keys', 'bob-signing.key') }, from: 'bob@contoso.test',
      to: 'alice@contoso.test', subject: 'signed out', text: 'hello' });
    const ok = await sendMail(bob, signed);
    assert.equal(ok.status, 200, ok.headers.get('x-easmime-reason') ?? '');
    const alice = await subjects(server, 'alice', 'Inbox');
    assert.ok(alice.includes('signed out'));
    assert.ok(!alice.includes('unsigned out'));
  });
});
