// Parsing and verifying on worker threads gives what the main thread would: the same parsed
// message, the verdict the gateway would reach against the same trust material (and a new one
// once that material changes), no verdict where private keys would be needed, and parse limits
// reported as the same MailParseError.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MailParseError, parseMessage } from '../../server/mail/parse.js';
import { WorkerIngest, inProcessIngest } from '../../server/ingest/pipeline.js';
import { Store } from '../../server/store/index.js';
import { PROJECT_ROOT, tempDir } from '../support/server-process.js';
import { compose, signClear } from '../support/mail.js';

const PKI = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki');
const alice = { cert: path.join(PKI, 'users', 'alice-signing.crt'), key: path.join(PKI, 'keys', 'alice-signing.key') };
const der = (file: string): Buffer => {
  const pem = fs.readFileSync(file, 'latin1');
  const b64 = /-----BEGIN [^-]+-----([\s\S]*?)-----END/.exec(pem);
  return b64 ? Buffer.from(b64[1]!.replace(/\s+/g, ''), 'base64') : fs.readFileSync(file);
};

describe('ingest pipeline on worker threads', function () {
  this.timeout(60_000);
  let store: Store;
  let ingest: WorkerIngest;

  beforeEach(() => {
    store = Store.inMemory();
    ingest = new WorkerIngest(store, { workers: 2, verify: true });
  });
  afterEach(async () => {
    await ingest.close();
    store.close();
  });

  it('parses exactly as the main thread does', async () => {
    const messages = [
      await compose({ from: '"Ann Lee" <ann@fabrikam.test>', to: ['bob@contoso.test', 'carol@contoso.test'], subject: 'Grüße', text: 'plain body', html: '<p>html <b>body</b></p>' }),
      await compose({ from: 'ann@fabrikam.test', to: 'bob@contoso.test', subject: 'with a file', text: 'see attached', attachments: [{ filename: 'notes.txt', content: 'hello file' }] }),
      signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'signed', text: 'signed body' }),
    ];
    for (const raw of messages) {
      const { parsed } = await ingest.prepare(raw, { maxBytes: 1 << 20 });
      const local = await parseMessage(raw, { maxBytes: 1 << 20 });
      assert.deepEqual({ ...parsed, date: parsed.dateFromHeader ? parsed.date : null }, { ...local, date: local.dateFromHeader ? local.date : null });
    }
  });

  it('verifies against the trust material of the moment, and again after it changes', async () => {
    const raw = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'signed', text: 'signed body' });
    const before = await ingest.prepare(raw, { maxBytes: 1 << 20 });
    assert.ok(before.verdict, 'a signed message gets a verdict from the worker');
    assert.equal(before.verdict.valid, false, 'no root is trusted yet');
    assert.ok(before.verdict.reasons.includes('untrusted-root'), before.verdict.reasons.join(','));
    store.certificates.addTrustAnchor('root', der(path.join(PKI, 'contoso-root-ca.crt')), 'test');
    store.certificates.addTrustAnchor('intermediate', der(path.join(PKI, 'contoso-issuing-ca.crt')), 'test');
    const after = await ingest.prepare(raw, { maxBytes: 1 << 20 });
    assert.equal(after.verdict?.signed, true);
    assert.ok(!after.verdict.reasons.includes('untrusted-root'), after.verdict.reasons.join(','));
    assert.deepEqual(after.verdict.signers[0]?.addresses, ['alice@contoso.test']);
  });

  it('leaves the verdict to the main thread when an envelope would have to be opened', async () => {
    const dir = tempDir('easmime-ingest-');
    fs.writeFileSync(path.join(dir, 'in.txt'), 'Content-Type: text/plain\r\n\r\nsecret\r\n');
    const raw = execFileSync('openssl', ['smime', '-encrypt', '-aes256', '-in', path.join(dir, 'in.txt'), '-from', 'ann@fabrikam.test',
      '-to', 'alice@contoso.test', '-subject', 'sealed', path.join(PKI, 'users', 'alice-signing.crt')]);
    const r = await ingest.prepare(raw, { maxBytes: 1 << 20 });
    assert.equal(r.parsed.smimeKind, 'enveloped');
    assert.equal(r.verdict, undefined);
  });

  it('does not verify when not asked, nor plain mail', async () => {
    const plain = await ingest.prepare(await compose({ from: 'a@b.test', to: 'c@d.test', subject: 'x', text: 'x' }), { maxBytes: 1 << 20 });
    assert.equal(plain.verdict, undefined);
    const unverified = new WorkerIngest(store, { workers: 1, verify: false });
    try {
      const raw = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 's', text: 's' });
      assert.equal((await unverified.prepare(raw, { maxBytes: 1 << 20 })).verdict, undefined);
    } finally {
      await unverified.close();
    }
  });

  it('reports a broken limit as the MailParseError the main thread would throw', async () => {
    const raw = Buffer.from(`Subject: big\r\n\r\n${'x'.repeat(4000)}\r\n`);
    for (const pipeline of [ingest, inProcessIngest]) {
      await assert.rejects(pipeline.prepare(raw, { maxBytes: 1024 }), (e: unknown) => e instanceof MailParseError && e.code === 'too-large');
    }
  });

  it('keeps the caller\'s buffer intact (the worker gets a copy)', async () => {
    const raw = await compose({ from: 'a@b.test', to: 'c@d.test', subject: 'keep', text: 'keep me' });
    const copy = Buffer.from(raw);
    await ingest.prepare(raw, { maxBytes: 1 << 20 });
    assert.ok(raw.equals(copy));
  });
});
