// Submission over real SQLite and real MIME (nodemailer composes, mailparser reads back): the quoted
// original of replies and forwards, the outer header fixes, where each copy goes, and the bounded
// stores behind it (captured mail, ClientIds).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { simpleParser } from 'mailparser';
import { Store } from '../../server/store/index.js';
import { FolderEvents } from '../../server/events.js';
import { MailFlow, SubmissionError } from '../../server/mailflow.js';
import { Outbox } from '../../server/outbound/outbox.js';
import { SubmissionService } from '../../server/services/submission.js';
import { CapturedMail } from '../../server/store/captured.js';
import { Submissions } from '../../server/store/submissions.js';
import { FolderType } from '../../server/store/mailbox.js';
import { hashPassword } from '../../server/store/secrets.js';
import { sentLine } from '../../server/mail/reply-forward.js';
import type { Principal } from '../../eas/backend.js';
import { makeSigner, signClear } from '../support/mail.js';
import { PROJECT_ROOT } from '../support/server-process.js';

type Att = { filename: string; content: Buffer; cid?: string; contentDisposition?: 'inline' | 'attachment' };
async function mail(o: { from?: string; to?: string; cc?: string; bcc?: string; subject: string; text?: string; html?: string; attachments?: Att[]; messageId?: string; date?: Date }): Promise<Buffer> {
  const node = new MailComposer({ ...o }).compile();
  // Devices send Bcc in the MIME they submit; nodemailer leaves it out unless told.
  (node as unknown as { keepBcc: boolean }).keepBcc = true;
  return node.build();
}

function setup(maxBytes = 1024 * 1024) {
  const store = Store.inMemory();
  store.setMeta('domain', 'contoso.test');
  const events = new FolderEvents();
  const log = (): void => undefined;
  const mailflow = new MailFlow(store, events, log, maxBytes);
  const service = new SubmissionService({ store, events, mailflow, log, serverKey: Buffer.alloc(32), outbox: new Outbox(store, mailflow, log) });
  const mk = (local: string, name: string): Principal => {
    const address = `${local}@contoso.test`;
    const userId = Number(store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)')
      .run(address, local, name, hashPassword('x')).lastInsertRowid);
    store.mailbox.createDefaultFolders(userId);
    return { userId, address, displayName: name };
  };
  const bob = mk('bob', 'Bob Berg');
  const alice = mk('alice', 'Alice Anders');
  const folder = (p: Principal, type: number): number => store.mailbox.folderByType(p.userId, type)!.id;
  const messagesIn = (p: Principal, type: number) => store.mailbox.summaries(p.userId, folder(p, type), 100);
  const rawOf = (p: Principal, id: number): Buffer => store.mailbox.raw(p.userId, id)!;
  return { store, mailflow, service, bob, alice, folder, messagesIn, rawOf, captured: new CapturedMail(store.db) };
}

describe('submission over SQLite', () => {
  it('SendMail: local copy, captured external copy, one Sent Items copy marked read; Bcc only in Sent Items; From made the sender', async () => {
    const s = setup();
    const mime = await mail({ from: 'mallory@evil.test', to: 'Alice <alice@contoso.test>, erin@fabrikam.test', bcc: 'frank@fabrikam.test', subject: 'plans', text: 'see you' });
    const outcome = await s.service.submit(s.bob, { command: 'SendMail', mime, clientId: 'c1', saveInSent: true, replaceMime: false });
    assert.equal(outcome.kind, 'sent');

    const [inAlice] = s.messagesIn(s.alice, FolderType.Inbox);
    assert.equal(inAlice?.subject, 'plans');
    const delivered = s.rawOf(s.alice, inAlice!.id).toString('latin1');
    assert.doesNotMatch(delivered, /^bcc:/im);
    assert.match(delivered, /^From: "Bob Berg" <bob@contoso\.test>\r$/m);
    assert.doesNotMatch(delivered, /mallory/);

    const captures = s.captured.list({ limit: 10 });
    assert.equal(captures.length, 1);
    assert.deepEqual(captures[0]!.rcptTo.sort(), ['erin@fabrikam.test', 'frank@fabrikam.test']);
    assert.equal(captures[0]!.submittedBy, 'bob@contoso.test');
    assert.ok(s.captured.raw(captures[0]!.id)!.equals(s.rawOf(s.alice, inAlice!.id)), 'the external copy is the delivered one');

    const sent = s.messagesIn(s.bob, FolderType.SentItems);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.read, true);
    assert.match(s.rawOf(s.bob, sent[0]!.id).toString('latin1'), /^Bcc: frank@fabrikam\.test\r$/m);
    assert.equal(s.messagesIn(s.bob, FolderType.Inbox).length, 0);
  });

  it('keeps a message byte for byte when From is the sender and Date and Message-ID are there', async () => {
    const s = setup();
    const mime = await mail({ from: '"B. Berg" <BOB@contoso.test>', to: 'alice@contoso.test', subject: 'as is', text: 'x', messageId: '<m1@contoso.test>', date: new Date() });
    await s.service.submit(s.bob, { command: 'SendMail', mime, saveInSent: false, replaceMime: false });
    const [m] = s.messagesIn(s.alice, FolderType.Inbox);
    assert.ok(s.rawOf(s.alice, m!.id).equals(mime));
    assert.equal(s.messagesIn(s.bob, FolderType.SentItems).length, 0, 'no Sent Items copy unless asked');
  });

  it('adds Date and Message-ID to a bare LF-only message, in its own line ends', async () => {
    const s = setup();
    const mime = Buffer.from('To: alice@contoso.test\nSubject: bare\n\nline one\nline two\n');
    await s.service.submit(s.bob, { command: 'SendMail', mime, saveInSent: false, replaceMime: false });
    const raw = s.rawOf(s.alice, s.messagesIn(s.alice, FolderType.Inbox)[0]!.id).toString('latin1');
    assert.match(raw, /^Message-ID: <[0-9a-f]{32}@contoso\.test>\n/m);
    assert.match(raw, /^Date: .+ \+0000\n/m);
    assert.match(raw, /^From: "Bob Berg" <bob@contoso\.test>\n/m);
    assert.ok(raw.endsWith('\n\nline one\nline two\n'), 'the body is untouched');
    assert.ok(!raw.includes('\r'));
  });

  it('refuses with the failure that names the problem, and keeps nothing', async () => {
    const s = setup(64 * 1024);
    const cases: Array<[Buffer, string]> = [
      [await mail({ subject: 'nobody', text: 'x' }), 'no-recipients'],
      [await mail({ to: 'nobody@contoso.test, erin@fabrikam.test', subject: 'unknown', text: 'x' }), 'recipient-unresolved'],
      [await mail({ to: 'alice@contoso.test', subject: 'big', text: 'x', attachments: [{ filename: 'a.bin', content: crypto.randomBytes(70_000) }] }), 'too-large'],
      [await mail({ to: Array.from({ length: 501 }, (_, i) => `r${i}@fabrikam.test`).join(', '), subject: 'many', text: 'x' }), 'too-many-recipients'],
    ];
    for (const [mime, failure] of cases) {
      const outcome = await s.service.submit(s.bob, { command: 'SendMail', mime, clientId: `id-${failure}`, saveInSent: true, replaceMime: false });
      assert.deepEqual(outcome.kind === 'failed' && outcome.failure, failure);
    }
    assert.equal(s.messagesIn(s.alice, FolderType.Inbox).length, 0);
    assert.equal(s.messagesIn(s.bob, FolderType.SentItems).length, 0);
    assert.equal(s.captured.count(), 0);
    // A failed submission gives its ClientId back: the device may try again with it.
    const retry = await s.service.submit(s.bob, { command: 'SendMail', mime: await mail({ to: 'alice@contoso.test', subject: 'retry', text: 'x' }), clientId: 'id-no-recipients', saveInSent: false, replaceMime: false });
    assert.equal(retry.kind, 'sent');
  });

  it('a ClientId used once is refused the second time and nothing is sent again', async () => {
    const s = setup();
    const mime = await mail({ to: 'alice@contoso.test', subject: 'once', text: 'x' });
    assert.equal((await s.service.submit(s.bob, { command: 'SendMail', mime, clientId: 'same', saveInSent: true, replaceMime: false })).kind, 'sent');
    const again = await s.service.submit(s.bob, { command: 'SendMail', mime, clientId: 'same', saveInSent: true, replaceMime: false });
    assert.equal(again.kind === 'failed' && again.failure, 'duplicate-client-id');
    assert.equal(s.messagesIn(s.alice, FolderType.Inbox).length, 1);
    assert.equal(s.messagesIn(s.bob, FolderType.SentItems).length, 1);
    // ClientIds are per user.
    assert.equal((await s.service.submit(s.alice, { command: 'SendMail', mime: await mail({ to: 'bob@contoso.test', subject: 'x', text: 'x' }), clientId: 'same', saveInSent: false, replaceMime: false })).kind, 'sent');
  });

  describe('reply and forward', () => {
    const photo = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), crypto.randomBytes(500)]);
    const report = crypto.randomBytes(2000);
    async function withOriginal() {
      const s = setup();
      const original = await mail({
        from: 'Erin Example <erin@fabrikam.test>', to: 'bob@contoso.test', cc: 'alice@contoso.test', subject: 'Q3 figures',
        text: 'The figures are attached.', html: '<html><body><p>The figures are <b>attached</b>.</p><img src="cid:photo@x"></body></html>',
        messageId: '<orig@fabrikam.test>', date: new Date('2026-03-04T15:06:00Z'),
        attachments: [{ filename: 'report.bin', content: report }, { filename: 'photo.png', content: photo, cid: 'photo@x', contentDisposition: 'inline' }],
      });
      await s.mailflow.deliver(original, { mailFrom: 'erin@fabrikam.test', rcptTo: ['bob@contoso.test'], origin: 'smtp' });
      const [m] = s.messagesIn(s.bob, FolderType.Inbox);
      return { s, itemId: m!.id, folderId: s.folder(s.bob, FolderType.Inbox) };
    }

    it('a reply quotes the original below the new text, keeps only its inline image, and threads', async () => {
      const { s, itemId, folderId } = await withOriginal();
      const mime = await mail({ to: 'alice@contoso.test', subject: 'RE: Q3 figures', text: 'Thanks, looks good.' });
      const outcome = await s.service.submit(s.bob, { command: 'SmartReply', mime, saveInSent: true, replaceMime: false, source: { itemId, folderId } });
      assert.equal(outcome.kind, 'sent');
      const raw = s.rawOf(s.alice, s.messagesIn(s.alice, FolderType.Inbox)[0]!.id);
      const parsed = await simpleParser(raw);
      assert.equal(parsed.inReplyTo, '<orig@fabrikam.test>');
      assert.match(String(parsed.headers.get('references')), /<orig@fabrikam\.test>/);
      const text = parsed.text!;
      assert.ok(text.startsWith('Thanks, looks good.'), 'the new text comes first');
      const quote = text.indexOf('________________________________');
      assert.ok(quote > 0);
      assert.match(text.slice(quote), /From: Erin Example <erin@fabrikam\.test>\r?\nSent: Wednesday, March 4, 2026 3:06 PM \(UTC\)\r?\nTo: bob@contoso\.test\r?\nCc: alice@contoso\.test\r?\nSubject: Q3 figures\r?\n\r?\nThe figures are attached\./);
      assert.match(parsed.html as string, /Thanks, looks good\.[\s\S]*<b>From:<\/b> Erin Example &lt;erin@fabrikam\.test&gt;[\s\S]*The figures are <b>attached<\/b>/);
      assert.deepEqual(parsed.attachments.map((a) => a.filename), ['photo.png'], 'a reply carries the picture its quote shows, not the attachment');
      assert.ok(parsed.attachments[0]!.content.equals(photo));
    });

    it('a forward carries every attachment of the original, byte for byte', async () => {
      const { s, itemId } = await withOriginal();
      const own = crypto.randomBytes(300);
      const mime = await mail({ to: 'alice@contoso.test', subject: 'FW: Q3 figures', text: 'FYI', attachments: [{ filename: 'mine.bin', content: own }] });
      assert.equal((await s.service.submit(s.bob, { command: 'SmartForward', mime, saveInSent: false, replaceMime: false, source: { itemId } })).kind, 'sent');
      const parsed = await simpleParser(s.rawOf(s.alice, s.messagesIn(s.alice, FolderType.Inbox)[0]!.id));
      const byName = new Map(parsed.attachments.map((a) => [a.filename, a.content]));
      assert.ok(byName.get('mine.bin')?.equals(own));
      assert.ok(byName.get('report.bin')?.equals(report));
      assert.ok(byName.get('photo.png')?.equals(photo));
      assert.equal(parsed.inReplyTo, undefined, 'a forward is not a reply');
      assert.match(parsed.text!, /^FYI\r?\n\r?\n_{32}\r?\nFrom: Erin Example/);
    });

    it('ReplaceMime and S/MIME messages are sent as the client made them', async () => {
      const { s, itemId } = await withOriginal();
      const mime = await mail({ to: 'alice@contoso.test', subject: 'RE: inline edit', text: 'my own quote\n> old', messageId: '<r1@contoso.test>', date: new Date(), from: 'bob@contoso.test' });
      await s.service.submit(s.bob, { command: 'SmartReply', mime, saveInSent: false, replaceMime: true, source: { itemId } });
      const replaced = s.rawOf(s.alice, s.messagesIn(s.alice, FolderType.Inbox)[0]!.id);
      assert.ok(replaced.subarray(replaced.indexOf('\r\n\r\n')).equals(mime.subarray(mime.indexOf('\r\n\r\n'))), 'the body is the client\'s');
      assert.match(replaced.toString(), /^In-Reply-To: <orig@fabrikam\.test>\r$/m);

      const signer = makeSigner('bob@contoso.test');
      const signed = signClear({ signer, from: 'bob@contoso.test', to: 'alice@contoso.test', subject: 'FW: signed', text: 'signed forward' });
      await s.service.submit(s.bob, { command: 'SmartForward', mime: signed, saveInSent: false, replaceMime: false, source: { itemId } });
      const fwd = s.messagesIn(s.alice, FolderType.Inbox).find((m) => m.subject === 'FW: signed')!;
      const raw = s.rawOf(s.alice, fwd.id);
      const bodyAt = (b: Buffer): Buffer => b.subarray(b.indexOf('\r\n\r\n'));
      assert.ok(bodyAt(raw).equals(bodyAt(signed)), 'the signed body is untouched: nothing appended');
      assert.equal(fwd.smimeKind, 'clear-signed');
    });

    it('an encrypted original cannot be quoted: a reply names it, a forward attaches it whole', async () => {
      const s = setup();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-enc-'));
      fs.writeFileSync(path.join(dir, 'in.txt'), 'Content-Type: text/plain\r\n\r\nsecret text\r\n');
      const cert = path.join(PROJECT_ROOT, 'fixtures/demo/pki/users/bob-encryption.crt');
      const out = execFileSync('openssl', ['smime', '-encrypt', '-aes256', '-in', path.join(dir, 'in.txt'), '-from', 'erin@fabrikam.test', '-to', 'bob@contoso.test', '-subject', 'sealed', cert]);
      const original = Buffer.from(out.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
      await s.mailflow.deliver(original, { mailFrom: 'erin@fabrikam.test', rcptTo: ['bob@contoso.test'], origin: 'smtp' });
      const itemId = s.messagesIn(s.bob, FolderType.Inbox)[0]!.id;
      await s.service.submit(s.bob, { command: 'SmartReply', mime: await mail({ to: 'alice@contoso.test', subject: 'RE: sealed', text: 'got it' }), saveInSent: false, replaceMime: false, source: { itemId } });
      await s.service.submit(s.bob, { command: 'SmartForward', mime: await mail({ to: 'alice@contoso.test', subject: 'FW: sealed', text: 'see attached' }), saveInSent: false, replaceMime: false, source: { itemId } });
      const inbox = s.messagesIn(s.alice, FolderType.Inbox);
      const reply = await simpleParser(s.rawOf(s.alice, inbox.find((m) => m.subject === 'RE: sealed')!.id));
      assert.match(reply.text!, /^got it\r?\n\r?\n_{32}\r?\nFrom: erin@fabrikam\.test\r?\n[\s\S]*Subject: sealed\s*$/);
      assert.equal(reply.attachments.length, 0);
      const fwd = await simpleParser(s.rawOf(s.alice, inbox.find((m) => m.subject === 'FW: sealed')!.id));
      assert.equal(fwd.attachments.length, 1);
      assert.equal(fwd.attachments[0]!.contentType, 'message/rfc822');
      assert.ok(fwd.attachments[0]!.content.equals(original), 'the encrypted original, whole');
    });

    it('an unknown or misplaced source item is not found', async () => {
      const { s, itemId, folderId } = await withOriginal();
      const mime = await mail({ to: 'alice@contoso.test', subject: 'RE', text: 'x' });
      for (const source of [{ itemId: itemId + 1000 }, { itemId, folderId: folderId + 1 }]) {
        const o = await s.service.submit(s.bob, { command: 'SmartReply', mime, saveInSent: false, replaceMime: false, source });
        assert.equal(o.kind === 'failed' && o.failure, 'source-not-found');
      }
      // Another user's message is not found either.
      const o = await s.service.submit(s.alice, { command: 'SmartForward', mime, saveInSent: false, replaceMime: false, source: { itemId } });
      assert.equal(o.kind === 'failed' && o.failure, 'source-not-found');
    });
  });

  it('the SMTP form takes RCPT TO as the recipients and keeps From as sent', async () => {
    const s = setup();
    const mime = await mail({ from: 'list@contoso.test', to: 'someone@fabrikam.test', subject: 'smtp', text: 'x', messageId: '<s@x>', date: new Date() });
    const r = await s.mailflow.submit(mime, { sender: { id: s.bob.userId, address: s.bob.address, displayName: s.bob.displayName }, origin: 'smtp', rcptTo: ['alice@contoso.test'], saveInSent: true, rewriteFrom: false });
    assert.deepEqual([...r.delivered.keys()], ['alice@contoso.test']);
    assert.deepEqual(r.external, []);
    assert.ok(s.rawOf(s.alice, r.delivered.get('alice@contoso.test')!).equals(mime));
    assert.ok(r.sentItemId !== undefined);
    await assert.rejects(s.mailflow.submit(mime, { sender: { id: s.bob.userId, address: s.bob.address, displayName: s.bob.displayName }, origin: 'smtp', rcptTo: [], saveInSent: true, rewriteFrom: false }),
      (e: unknown) => e instanceof SubmissionError && e.failure === 'no-recipients' && e.responseCode === 554);
  });

  it('sentLine writes the time in English, in UTC, on a 12-hour clock', () => {
    assert.equal(sentLine(new Date('2026-11-29T00:05:00Z')), 'Sunday, November 29, 2026 12:05 AM (UTC)');
    assert.equal(sentLine(new Date('2026-11-29T12:59:00Z')), 'Sunday, November 29, 2026 12:59 PM (UTC)');
  });
});

describe('bounded stores', () => {
  it('captured mail keeps the newest within the count and byte limits', () => {
    const store = Store.inMemory();
    const captured = new CapturedMail(store.db, { maxMessages: 5, maxBytes: 1000 });
    const put = (n: number, size: number): number => captured.insert({ mailFrom: 'a@x', rcptTo: [`r${n}@y.test`], raw: Buffer.alloc(size, 65), origin: 'eas', subject: `s${n}` });
    const ids = Array.from({ length: 8 }, (_, i) => put(i, 10));
    assert.deepEqual(captured.list({ limit: 100 }).map((c) => c.id), ids.slice(3).reverse());
    const big = put(100, 600);
    const bigger = put(101, 395);
    // 395 + 600 fit in 1000 bytes; the 10-byte ones before them no longer do.
    assert.deepEqual(captured.list({ limit: 100 }).map((c) => c.id), [bigger, big]);
    assert.deepEqual(captured.list({ limit: 100, to: 'R100@y.test' }).map((c) => c.id), [big]);
    assert.equal(captured.clear(), 2);
  });

  it('ClientIds are reserved once per user, released on request, forgotten after the window and beyond the count', () => {
    const store = Store.inMemory();
    for (const u of ['a', 'b']) store.db.prepare('INSERT INTO users (address, local_part, display_name, password_hash) VALUES (?,?,?,?)').run(`${u}@x.test`, u, u, 'x');
    const ids = new Submissions(store.db, { keepMs: 1000, maxPerUser: 3 });
    assert.equal(ids.reserve(1, 'c', 10_000), true);
    assert.equal(ids.reserve(1, 'c', 10_001), false);
    assert.equal(ids.reserve(2, 'c', 10_001), true, 'per user');
    ids.release(1, 'c');
    assert.equal(ids.reserve(1, 'c', 10_002), true);
    assert.equal(ids.reserve(1, 'c', 11_003), true, 'forgotten after the window');
    for (const [i, id] of ['d', 'e', 'f', 'g'].entries()) assert.equal(ids.reserve(1, id, 11_010 + i), true);
    assert.equal(ids.reserve(1, 'c', 11_020), true, 'the oldest went when the count was passed');
    assert.equal(ids.reserve(1, 'g', 11_021), false);
  });
});
