import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { MailParseError, parseMessage } from '../../server/mail/parse.js';
import { codePageFor } from '../../server/mail/charset.js';
import { threadTopic } from '../../server/mail/headers.js';
import { roughHtmlToText } from '../../server/mail/text.js';
import { previewOf } from '../../eas/email/preview.js';

const NOW = new Date('2030-01-02T03:04:05.000Z');
const now = () => NOW;

function msg(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}

async function compose(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer(mail).compile().build();
}

describe('server/mail/parse', function () {
  it('extracts the EAS fields of an ordinary message', async () => {
    const raw = msg([
      'From: "Alice Example" <Alice@Example.com>',
      'To: "Bob \\"the\\" Builder" <bob@example.com>, carol@example.com,',
      '  undisclosed:;, Team: dave@example.com, "Eve" <EVE@example.com>;',
      'Cc: Frank <frank@example.org>',
      'Bcc: grace@example.net',
      'Reply-To: a1@example.com, "Reply Two" <a2@example.com>',
      'Subject: Re: AW: Fwd: Quarterly   numbers',
      'Date: Tue, 02 Jan 2024 03:04:05 +0000',
      'Message-ID: <m1@example.com>',
      'In-Reply-To: <m0@example.com>',
      'References: <r1@example.com> <m0@example.com>',
      'Thread-Index: AQHZ0123456789abcdefghijklmn==',
      'Content-Type: text/plain; charset=utf-8',
    ], 'Hello   Bob,\r\n\r\n  the   numbers are in.\r\n');
    const before = crypto.createHash('sha256').update(raw).digest('hex');
    const p = await parseMessage(raw, { now });
    assert.equal(crypto.createHash('sha256').update(raw).digest('hex'), before, 'raw untouched');
    assert.equal(p.subject, 'Re: AW: Fwd: Quarterly   numbers');
    assert.equal(p.threadTopic, 'Quarterly   numbers');
    assert.equal(p.from, '"Alice Example" <Alice@Example.com>');
    assert.equal(p.to, '"Bob \\"the\\" Builder" <bob@example.com>, carol@example.com, dave@example.com, "Eve" <EVE@example.com>');
    assert.equal(p.cc, '"Frank" <frank@example.org>');
    assert.equal(p.replyTo, 'a1@example.com; "Reply Two" <a2@example.com>');
    assert.equal(p.displayTo, 'Bob "the" Builder; carol@example.com; dave@example.com; Eve');
    assert.equal(p.displayCc, 'Frank');
    assert.deepEqual(p.toAddresses, ['bob@example.com', 'carol@example.com', 'dave@example.com', 'eve@example.com']);
    assert.deepEqual(p.ccAddresses, ['frank@example.org']);
    assert.deepEqual(p.bccAddresses, ['grace@example.net']);
    assert.equal(p.date.toISOString(), '2024-01-02T03:04:05.000Z');
    assert.equal(p.dateFromHeader, true);
    assert.equal(p.importance, 1);
    assert.equal(p.messageClass, 'IPM.Note');
    assert.equal(p.smimeKind, 'none');
    assert.equal(p.internetCpid, 65001);
    assert.equal(p.charset, 'utf-8');
    assert.equal(p.text, 'Hello   Bob,\n\n  the   numbers are in.\n', 'mailparser gives LF line ends');
    assert.equal(p.html, undefined);
    assert.equal(p.preview, 'Hello Bob, the numbers are in.');
    assert.equal(p.messageId, '<m1@example.com>');
    assert.equal(p.inReplyTo, '<m0@example.com>');
    assert.deepEqual(p.references, ['<r1@example.com>', '<m0@example.com>']);
    assert.equal(p.threadIndex, 'AQHZ0123456789abcdefghijklmn==');
    assert.deepEqual(p.attachments, []);
    assert.equal(p.hasAttachments, false);
    assert.equal(p.size, raw.length);
    assert.deepEqual(p.warnings, []);
  });

  it('maps the main text part charset to a code page', async () => {
    const cases: Array<[string | undefined, number, string, string]> = [
      ['utf-8', 65001, 'quoted-printable', 'caf=C3=A9'],
      ['UTF8', 65001, '8bit', 'plain'],
      ['us-ascii', 20127, '7bit', 'plain'],
      ['"iso-8859-1"', 28591, 'quoted-printable', 'caf=E9'],
      ['ISO-8859-15', 28605, '7bit', 'x'],
      ['windows-1252', 1252, 'quoted-printable', 'caf=E9 =80'],
      ['koi8-r', 20866, '7bit', 'x'],
      ['Shift_JIS', 932, '7bit', 'x'],
      ['x-unheard-of', 65001, '7bit', 'x'],
      [undefined, 65001, '7bit', 'x'],
    ];
    for (const [charset, cpid, cte, body] of cases) {
      const ct = charset === undefined ? 'text/plain' : `text/plain; charset=${charset}`;
      const p = await parseMessage(msg(['Subject: c', `Content-Type: ${ct}`, `Content-Transfer-Encoding: ${cte}`], body + '\r\n'), { now });
      assert.equal(p.internetCpid, cpid, String(charset));
      if (cpid === 28591 || cpid === 1252) assert.match(p.text, /^café/);
    }
    assert.equal(codePageFor('constructor'), 65001);
    assert.equal(codePageFor('GB2312'), 936);
  });

  it('takes the charset from the text/plain alternative, and from HTML when that is all there is', async () => {
    const alt = msg(['Content-Type: multipart/alternative; boundary="alt"'], [
      '--alt', 'Content-Type: text/html; charset=utf-8', '', '<p>x</p>',
      '--alt', 'Content-Type: text/plain; charset=iso-8859-2', '', 'x',
      '--alt--', '',
    ].join('\r\n'));
    assert.equal((await parseMessage(alt)).internetCpid, 28592);
    const htmlOnly = msg(['Content-Type: text/html; charset=windows-1251'], '<p>x</p>');
    const p = await parseMessage(htmlOnly);
    assert.equal(p.internetCpid, 1251);
    assert.equal(p.html, '<p>x</p>');
    assert.equal(p.text.trim(), 'x');
    const attachmentOnly = msg(['Content-Type: multipart/mixed; boundary=b'], '--b\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nx\r\n--b--\r\n');
    assert.equal((await parseMessage(attachmentOnly)).internetCpid, 65001);
  });

  it('reads importance from Importance, X-Priority, X-MSMail-Priority and Priority', async () => {
    const cases: Array<[string[], number]> = [
      [['Importance: High'], 2],
      [['Importance: low'], 0],
      [['Importance: Normal', 'X-Priority: 1'], 1],
      [['Importance: whatever', 'X-Priority: 1 (Highest)'], 2],
      [['X-Priority: 2'], 2],
      [['X-Priority: 3 (Normal)'], 1],
      [['X-Priority: 5 (Lowest)'], 0],
      [['X-MSMail-Priority: Low'], 0],
      [['Priority: urgent'], 2],
      [['Priority: non-urgent'], 0],
      [['X-Priority: 9'], 1],
      [[], 1],
    ];
    for (const [headers, importance] of cases) {
      assert.equal((await parseMessage(msg(['Subject: i', ...headers], 'x'))).importance, importance, headers.join(' | '));
    }
  });

  it('strips reply and forward prefixes for ThreadTopic', () => {
    assert.equal(threadTopic('Re: hello'), 'hello');
    assert.equal(threadTopic('RE: Fwd: FW: re: hello'), 'hello');
    assert.equal(threadTopic('AW: WG: Angebot'), 'Angebot');
    assert.equal(threadTopic('Re[2]: Re(3): x'), 'x');
    assert.equal(threadTopic('SV: VS: x'), 'x');
    assert.equal(threadTopic('Regarding: Re'), 'Regarding: Re');
    assert.equal(threadTopic('Re:'), '');
    assert.equal(threadTopic('Fwd'), 'Fwd');
  });

  it('falls back on now for a missing or invalid Date', async () => {
    for (const date of [undefined, 'garbage', '1', 'Mon, 99 Foo 2024 99:99:99 +0000', 'Tue, 01 Jan 1900 00:00:00 +0000']) {
      const p = await parseMessage(msg(['Subject: d', ...(date ? [`Date: ${date}`] : [])], 'x'), { now });
      assert.equal(p.date.getTime(), NOW.getTime(), String(date));
      assert.equal(p.dateFromHeader, false);
    }
    const old = await parseMessage(msg(['Date: Tue, 31 Oct 2000 12:00:52 -0600 (Central Standard Time)'], 'x'), { now });
    assert.equal(old.date.toISOString(), '2000-10-31T18:00:52.000Z');
  });

  it('lists attachments (metadata only), inline images and keeps cid: links', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const raw = await compose({
      from: 'a@example.com',
      to: 'b@example.com',
      subject: 'Fwd: pictures',
      text: 'see attached',
      html: '<p>logo: <img src="cid:logo@example"></p>',
      attachments: [
        { filename: 'logo.png', content: png, cid: 'logo@example' },
        { filename: 'report.pdf', content: Buffer.alloc(12345, 1), contentType: 'application/pdf' },
        { content: 'no name here', contentType: 'text/csv' },
        { filename: 'ünï.txt', content: 'unicode name' },
      ],
    });
    const p = await parseMessage(raw);
    assert.equal(p.html, '<p>logo: <img src="cid:logo@example"></p>');
    assert.equal(p.text, 'see attached');
    assert.equal(p.attachments.length, 4);
    const [logo, pdf, csv, uni] = p.attachments;
    assert.deepEqual(logo, { index: 0, partId: logo!.partId, fileName: 'logo.png', contentType: 'image/png', size: png.length, contentId: 'logo@example', isInline: true });
    assert.equal(pdf!.fileName, 'report.pdf');
    assert.equal(pdf!.size, 12345);
    assert.equal(pdf!.isInline, false);
    assert.equal(pdf!.contentId, undefined);
    assert.match(csv!.fileName, /^attachment-3\.\w+$/);
    assert.equal(uni!.fileName, 'ünï.txt');
    assert.equal(p.hasAttachments, true);
    assert.deepEqual(p.attachments.map((a) => a.index), [0, 1, 2, 3]);
  });

  it('keeps a message whose structure mailparser refuses, with header fields and a warning', async () => {
    const parts = Array.from({ length: 30 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('') + '--b--\r\n';
    const raw = msg(['Subject: Re: too many parts', 'From: x@example.com', 'Content-Type: multipart/mixed; boundary=b'], parts);
    const p = await parseMessage(raw, { maxParts: 10, now });
    assert.equal(p.subject, 'Re: too many parts');
    assert.equal(p.from, 'x@example.com');
    assert.equal(p.text, '');
    assert.ok(p.warnings.some((w) => w.startsWith('mailparser:')), p.warnings.join('; '));
  });

  it('stops mailparser at timeoutMs and keeps the header fields', async () => {
    // Parts without a blank line are all header lines to mailparser: slow, but not refused.
    const parts = ('--b\r\n' + 'x\n'.repeat(10000) + '\r\n').repeat(500) + '--b--\r\n';
    const raw = msg(['Subject: slow one', 'Importance: high', 'Content-Type: multipart/mixed; boundary=b'], parts);
    const started = Date.now();
    const p = await parseMessage(raw, { timeoutMs: 300, now });
    assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
    assert.ok(p.warnings.includes('mailparser: gave up after 300 ms'), p.warnings.join('; '));
    assert.equal(p.subject, 'slow one');
    assert.equal(p.importance, 2);
    assert.equal(p.text, '');
  });

  it('converts HTML too long for mailparser roughly and says so', async () => {
    const html = '<html><head><style>p{}</style></head><body>' + '<p>word &amp; more</p>'.repeat(200) + '<script>alert(1)</script></body></html>';
    const p = await parseMessage(msg(['Content-Type: text/html; charset=utf-8'], html), { maxHtmlToTextBytes: 1000 });
    assert.ok(p.warnings.some((w) => /HTML/.test(w)));
    assert.match(p.preview, /^word & more word & more/);
    assert.doesNotMatch(p.text, /alert|p\{\}/);
    assert.equal(roughHtmlToText('a<br>b &#x41;&#66; &bogus; <!-- c -->d'), 'a b AB &bogus; d');
  });

  it('collapses whitespace in the preview and cuts at 255 characters', () => {
    assert.equal(previewOf('  a \r\n\t b  '), 'a b');
    const long = 'é'.repeat(300);
    assert.equal(previewOf(long), 'é'.repeat(255));
    assert.equal(Array.from(previewOf('😀 '.repeat(200))).length, 255);
    assert.equal(previewOf('x'.repeat(10), 4), 'xxxx');
  });

  it('enforces its limits with MailParseError', async () => {
    await assert.rejects(parseMessage(Buffer.alloc(101, 0x61), { maxBytes: 100 }), (e: unknown) => e instanceof MailParseError && e.code === 'too-large' && /101 bytes/.test(e.message));
    const bigHeader = Buffer.from('Subject: ' + 'x'.repeat(3000) + '\r\n\r\nbody');
    await assert.rejects(parseMessage(bigHeader, { maxHeaderBytes: 1000 }), (e: unknown) => e instanceof MailParseError && e.code === 'header-too-large');
    const many = msg(Array.from({ length: 50 }, (_, i) => `X-H${i}: v`), 'x');
    await assert.rejects(parseMessage(many, { maxHeaderFields: 20 }), (e: unknown) => e instanceof MailParseError && e.code === 'too-many-headers');
    await assert.rejects(parseMessage('not a buffer' as unknown as Buffer), (e: unknown) => e instanceof MailParseError && e.code === 'invalid-input');
    // Defaults: 25 MiB passes the size check.
    assert.equal((await parseMessage(many)).subject, '');
  });

  it('yields defaults for garbage instead of throwing', async () => {
    for (const raw of [Buffer.alloc(0), Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0, 58]), Buffer.from('\r\n\r\n'), Buffer.from(':::\r\n\r\n'), crypto.randomBytes(5000)]) {
      const p = await parseMessage(raw, { now });
      assert.equal(p.messageClass, 'IPM.Note');
      assert.equal(p.date.getTime(), NOW.getTime());
      assert.equal(typeof p.text, 'string');
      assert.equal(p.importance, 1);
    }
  });

  describe('S/MIME', function () {
    let dir: string;
    const made: Record<string, Buffer> = {};
    before(async function () {
      this.timeout(30000);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-parse-smime-'));
      const p = (n: string) => path.join(dir, n);
      const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=alice/emailAddress=alice@example.com', '-keyout', p('key.pem'), '-out', p('cert.pem')]);
      // The signed entity: a multipart with text, HTML and an attachment, as a client would sign it.
      const inner = await compose({ text: 'Signed hello\r\nsecond line', html: '<b>Signed hello</b>', attachments: [{ filename: 'a.txt', content: 'attached' }] });
      const innerEntity = inner.subarray(inner.indexOf('Content-Type'));
      fs.writeFileSync(p('inner.eml'), innerEntity);
      const hdr = ['-from', 'alice@example.com', '-to', 'bob@example.com', '-subject', 'Secure'];
      run(['cms', '-sign', '-in', p('inner.eml'), '-signer', p('cert.pem'), '-inkey', p('key.pem'), ...hdr, '-out', p('clear.eml')]);
      run(['cms', '-sign', '-nodetach', '-in', p('inner.eml'), '-signer', p('cert.pem'), '-inkey', p('key.pem'), ...hdr, '-out', p('opaque.eml')]);
      run(['cms', '-encrypt', '-in', p('inner.eml'), ...hdr, '-out', p('enveloped.eml'), p('cert.pem')]);
      for (const n of ['clear', 'opaque', 'enveloped']) made[n] = fs.readFileSync(p(`${n}.eml`));
    });
    after(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('clear-signed: body and attachments from the signed content, signature part left out', async () => {
      const p = await parseMessage(made.clear!);
      assert.equal(p.smimeKind, 'clear-signed');
      assert.equal(p.messageClass, 'IPM.Note.SMIME.MultipartSigned');
      assert.equal(p.subject, 'Secure');
      assert.equal(p.from, 'alice@example.com');
      assert.match(p.text, /^Signed hello\s+second line/);
      assert.equal(p.html, '<b>Signed hello</b>');
      assert.equal(p.preview, 'Signed hello second line');
      assert.deepEqual(p.attachments.map((a) => a.fileName), ['a.txt']);
      assert.ok(!p.attachments.some((a) => /pkcs7/.test(a.contentType)));
    });

    it('opaque-signed and enveloped: no body, no preview, no attachments', async () => {
      for (const [name, kind] of [['opaque', 'opaque-signed'], ['enveloped', 'enveloped']] as const) {
        const p = await parseMessage(made[name]!);
        assert.equal(p.smimeKind, kind);
        assert.equal(p.messageClass, 'IPM.Note.SMIME');
        assert.equal(p.subject, 'Secure');
        assert.deepEqual(p.toAddresses, ['bob@example.com']);
        assert.equal(p.text, '');
        assert.equal(p.html, undefined);
        assert.equal(p.preview, '');
        assert.deepEqual(p.attachments, []);
        assert.equal(p.internetCpid, 65001);
      }
    });

    it('RFC 4134 sample messages', async function () {
      const vectors = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../shared/vectors/rfc4134');
      if (!fs.existsSync(vectors)) this.skip();
      const signed = await parseMessage(fs.readFileSync(path.join(vectors, '4.8.eml')));
      assert.equal(signed.smimeKind, 'clear-signed');
      assert.equal(signed.text.trim(), 'This is some sample content.');
      assert.equal(signed.messageId, '<020906002550300.249@examples.com>');
      const enveloped = await parseMessage(fs.readFileSync(path.join(vectors, '5.3.eml')));
      assert.equal(enveloped.smimeKind, 'enveloped');
      assert.equal(enveloped.from, 'User1', 'a name-only From is kept as given');
      assert.deepEqual(enveloped.toAddresses, [], 'no address in "To: User2"');
      assert.equal(enveloped.date.toISOString(), '2000-10-31T18:00:52.000Z');
    });
  });
});
