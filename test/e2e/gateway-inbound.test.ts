// The S/MIME gateway on the SMTP path, through the real server: messages signed and encrypted by
// openssl enter over real SMTP; the verdict each one gets is read back through the admin API and
// the logs; policy modes (organisation-wide and per group) refuse what they must, and the device
// policy a user's devices receive says the same thing.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServerProcess, tempDir, PROJECT_ROOT, type ServerProcess } from '../support/server-process.js';
import { compose, makeSigner, sendRaw, signClear } from '../support/mail.js';
import { EasClient } from '../support/eas-client.js';
import { child } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';

const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'demo');
const pki = (rel: string): string => path.join(DEMO, 'pki', rel);
const alice = { cert: pki('users/alice-signing.crt'), key: pki('keys/alice-signing.key') };

interface Listed { id: number; subject: string; messageClass: string; smime: null | { header: string; valid: boolean; signed: boolean; reasons: string[] } }

async function admin<T>(server: ServerProcess, route: string): Promise<{ status: number; body: T }> {
  const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  const r = await fetch(`${server.baseUrl}/admin${route}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: (await r.json()) as T };
}

async function inbox(server: ServerProcess, user: string): Promise<Listed[]> {
  const r = await admin<Listed[]>(server, `/users/${user}/messages?folder=Inbox&limit=500`);
  assert.equal(r.status, 200);
  return r.body;
}

async function bySubject(server: ServerProcess, user: string, subject: string): Promise<Listed> {
  const found = (await inbox(server, user)).find((m) => m.subject === subject);
  assert.ok(found, `${subject} is in ${user}'s Inbox`);
  return found;
}

/** Sends over SMTP; resolves to the SMTP reply code (250 on success). */
async function smtp(server: ServerProcess, from: string, to: string[], raw: Buffer): Promise<number> {
  try {
    await sendRaw(server.smtpPort, { from, to }, raw);
    return 250;
  } catch (e) {
    return (e as { responseCode?: number }).responseCode ?? -1;
  }
}

/** openssl cms -encrypt to these certificate files; a whole message with headers. */
function encrypt(opts: { from: string; to: string; subject: string; text: string; recipients: string[] }): Buffer {
  const dir = tempDir('easmime-enc-');
  const inner = path.join(dir, 'inner.txt');
  fs.writeFileSync(inner, `Content-Type: text/plain; charset=utf-8\r\n\r\n${opts.text}\r\n`);
  const out = execFileSync('openssl', ['cms', '-encrypt', '-in', inner, '-aes256', '-from', opts.from, '-to', opts.to, '-subject', opts.subject,
    ...opts.recipients], { stdio: ['ignore', 'pipe', 'pipe'] });
  return Buffer.from(out.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

function tamper(raw: Buffer, from: string, to: string): Buffer {
  const s = raw.toString('latin1');
  assert.ok(s.includes(from));
  return Buffer.from(s.replace(from, to), 'latin1');
}

/** A copy of the demo organisation with another policy. */
function demoWithPolicy(policy: Record<string, unknown>): string {
  const dir = tempDir('easmime-policy-fixture-');
  fs.cpSync(DEMO, dir, { recursive: true });
  const org = JSON.parse(fs.readFileSync(path.join(dir, 'organisation.json'), 'utf8')) as Record<string, unknown>;
  org.policy = policy;
  fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify(org, null, 1));
  return dir;
}

describe('end to end: S/MIME gateway on SMTP ingress', function () {
  this.timeout(120_000);

  describe('tag mode (the demo organisation): every message gets its verdict', () => {
    let server: ServerProcess;
    before(async () => { server = await startServerProcess(); });
    after(async () => { await server?.stop(); });

    it('a valid signature from alice passes, with the signer and the chain', async () => {
      const raw = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'gw valid', text: 'Signed by Alice.' });
      assert.equal(await smtp(server, 'alice@contoso.test', ['bob@contoso.test'], raw), 250);
      const m = await bySubject(server, 'bob', 'gw valid');
      assert.equal(m.messageClass, 'IPM.Note.SMIME.MultipartSigned');
      assert.ok(m.smime, 'a verdict is stored');
      assert.equal(m.smime.valid, true, m.smime.header);
      assert.match(m.smime.header, /^pass; kind=clear-signed; signer=alice@contoso\.test/);

      const full = await admin<{ verdict: { signers: Array<{ chain: Array<{ subject: string }>; addresses: string[] }> } }>(server, `/users/bob/messages/${m.id}/verdict`);
      assert.equal(full.status, 200);
      const chain = full.body.verdict.signers[0]!.chain.map((c) => c.subject);
      assert.ok(chain.some((s) => /Contoso.*Root/i.test(s)), `chain reaches the root: ${chain.join(' | ')}`);
      assert.ok(server.logs.some((l) => l.msg === 'delivered' && typeof l.verdict === 'string' && String(l.verdict).startsWith('pass')), 'the log line carries the verdict');
    });

    it('names the reason for each failure: tampered, signer-mismatch, untrusted-root', async () => {
      const signed = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'gw tampered', text: 'Pay 100 euros.' });
      assert.equal(await smtp(server, 'alice@contoso.test', ['bob@contoso.test'], tamper(signed, 'Pay 100 euros.', 'Pay 900 euros.')), 250, 'tag mode delivers');
      const t = await bySubject(server, 'bob', 'gw tampered');
      assert.equal(t.smime?.valid, false);
      assert.ok(t.smime?.reasons.includes('tampered'), t.smime?.header);

      const spoof = signClear({ signer: alice, from: 'carol@contoso.test', to: 'bob@contoso.test', subject: 'gw mismatch', text: 'Claims to be Carol.' });
      assert.equal(await smtp(server, 'carol@contoso.test', ['bob@contoso.test'], spoof), 250);
      const s = await bySubject(server, 'bob', 'gw mismatch');
      assert.deepEqual(s.smime?.reasons.includes('signer-mismatch'), true, s.smime?.header);

      const stranger = makeSigner('mallory@contoso.test');
      const self = signClear({ signer: stranger, from: 'mallory@contoso.test', to: 'bob@contoso.test', subject: 'gw untrusted', text: 'Self-signed.' });
      assert.equal(await smtp(server, 'mallory@contoso.test', ['bob@contoso.test'], self), 250);
      const u = await bySubject(server, 'bob', 'gw untrusted');
      assert.ok(u.smime?.reasons.includes('untrusted-root'), u.smime?.header);
    });

    it('plain mail has no verdict; the verdict route answers null for it and 404 for another user\'s message', async () => {
      const raw = await compose({ from: 'someone@elsewhere.test', to: 'bob@contoso.test', subject: 'gw plain', text: 'no S/MIME' });
      assert.equal(await smtp(server, 'someone@elsewhere.test', ['bob@contoso.test'], raw), 250);
      const m = await bySubject(server, 'bob', 'gw plain');
      assert.equal(m.smime, null);
      assert.deepEqual((await admin<{ verdict: unknown }>(server, `/users/bob/messages/${m.id}/verdict`)).body.verdict, null);
      assert.equal((await admin(server, `/users/carol/messages/${m.id}/verdict`)).status, 404, 'ids are per user');
      assert.equal((await admin(server, '/users/bob/messages?limit=0')).status, 400);
      assert.equal((await admin(server, '/users/bob/messages?folder=Nowhere')).status, 404);
    });

    it('an encrypted message to alice is stored whole, marked as encrypted, with the envelope not held against it', async () => {
      const raw = encrypt({ from: 'erin@fabrikam.test', to: 'alice@contoso.test', subject: 'gw encrypted', text: 'secret', recipients: [pki('users/alice-encryption-2024.crt')] });
      assert.equal(await smtp(server, 'erin@fabrikam.test', ['alice@contoso.test'], raw), 250);
      const m = await bySubject(server, 'alice', 'gw encrypted');
      assert.equal(m.messageClass, 'IPM.Note.SMIME');
      assert.ok(m.smime, 'encrypted mail gets a verdict too');
      assert.equal(m.smime.signed, false);
    });
  });

  describe('policy: the organisation tags, the sales group requires signing', () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess({ fixtures: demoWithPolicy({
        mode: 'tag', groups: { 'sales@contoso.test': { mode: 'require-signed' } },
        signedAlgorithm: 1, encryptionAlgorithm: 2, algorithmNegotiation: 2, allowSoftCerts: false,
      }) });
    });
    after(async () => { await server?.stop(); });

    it('refuses unsigned and invalid mail to a sales member with 550, delivers valid signed mail, and leaves others alone', async () => {
      const plain = await compose({ from: 'x@elsewhere.test', to: 'alice@contoso.test', subject: 'policy plain', text: 'unsigned' });
      assert.equal(await smtp(server, 'x@elsewhere.test', ['alice@contoso.test'], plain), 550);
      const bad = tamper(signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'policy bad', text: 'original text' }), 'original text', 'altered text!');
      assert.equal(await smtp(server, 'alice@contoso.test', ['bob@contoso.test'], bad), 550);
      // Refused for one recipient means refused for all: carol (not in sales) gets nothing either.
      assert.equal(await smtp(server, 'x@elsewhere.test', ['carol@contoso.test', 'alice@contoso.test'], plain), 550);
      assert.equal((await inbox(server, 'carol')).some((m) => m.subject === 'policy plain'), false);

      const good = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'policy good', text: 'fine' });
      assert.equal(await smtp(server, 'alice@contoso.test', ['bob@contoso.test'], good), 250);
      assert.equal((await bySubject(server, 'bob', 'policy good')).smime?.valid, true);
      assert.equal(await smtp(server, 'x@elsewhere.test', ['carol@contoso.test'], plain), 250, 'carol is only tagged');
      assert.equal((await inbox(server, 'alice')).some((m) => m.subject.startsWith('policy ')), false, 'nothing refused reached alice');
      assert.ok(server.logs.some((l) => l.msg === 'refused by the S/MIME gateway' && l.code === 'signing-required'));
    });

    it('tells each user\'s devices the policy the gateway enforces for them', async () => {
      const P = ns('Provision');
      const policyOf = async (user: string): Promise<Map<string, string>> => {
        const c = new EasClient({ baseUrl: server.baseUrl, user: `${user}@contoso.test`, password: 'demo', deviceId: `Pol${user}`, version: '14.1' });
        const S = ns('Settings');
        const r = await c.send('Provision', P('Provision', S('DeviceInformation', S('Set', S('Model', 'PolicyPhone'))),
          P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML')))), { policyKey: null });
        const doc = child(child(child(child(r.body, 'Provision:Policies'), 'Provision:Policy'), 'Provision:Data'), 'Provision:EASProvisionDoc');
        assert.ok(doc, 'a provisioning document');
        return new Map(doc.children.map((e) => [e.tag.replace(/^Provision:/, ''), e.text ?? '']));
      };
      const a = await policyOf('alice');
      const c = await policyOf('carol');
      assert.equal(a.get('RequireSignedSMIMEMessages'), '1');
      assert.equal(c.get('RequireSignedSMIMEMessages'), '0');
      assert.equal(a.get('RequireEncryptedSMIMEMessages'), '0');
      for (const p of [a, c]) {
        assert.equal(p.get('RequireSignedSMIMEAlgorithm'), '1');
        assert.equal(p.get('RequireEncryptionSMIMEAlgorithm'), '2');
        assert.equal(p.get('AllowSMIMEEncryptionAlgorithmNegotiation'), '2');
        assert.equal(p.get('AllowSMIMESoftCerts'), '0');
      }
    });
  });

  describe('policy: the organisation requires encryption', () => {
    let server: ServerProcess;
    before(async () => { server = await startServerProcess({ fixtures: demoWithPolicy({ mode: 'require-encrypted' }) }); });
    after(async () => { await server?.stop(); });

    it('refuses clear mail, signed or not, and takes encrypted mail', async () => {
      const plain = await compose({ from: 'x@elsewhere.test', to: 'bob@contoso.test', subject: 'enc plain', text: 'clear' });
      assert.equal(await smtp(server, 'x@elsewhere.test', ['bob@contoso.test'], plain), 550);
      const signed = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'enc signed', text: 'signed only' });
      assert.equal(await smtp(server, 'alice@contoso.test', ['bob@contoso.test'], signed), 550);
      const sealed = encrypt({ from: 'x@elsewhere.test', to: 'bob@contoso.test', subject: 'enc sealed', text: 'secret', recipients: [pki('users/bob-encryption.crt')] });
      assert.equal(await smtp(server, 'x@elsewhere.test', ['bob@contoso.test'], sealed), 250);
      const subjects = (await inbox(server, 'bob')).map((m) => m.subject);
      assert.ok(subjects.includes('enc sealed'));
      assert.ok(!subjects.includes('enc plain') && !subjects.includes('enc signed'));
    });
  });

  it('refuses to start on a fixture with a policy it does not understand, naming the problem', async () => {
    const dir = demoWithPolicy({ mode: 'require-everything' });
    await assert.rejects(startServerProcess({ fixtures: dir }), /policy.*require-everything/s);
  });
});
