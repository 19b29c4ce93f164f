// The lean ingest parser against mailparser: for every message here, parseMessage (which takes
// the lean path where it can) must return exactly what the mailparser path returns, and for
// the ordinary shapes it must actually have taken the lean path.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import libmime from 'libmime';
import libqp from 'libqp';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { parseMessageDetailed, parseMessageWithMailparser, type ParseOptions } from '../../server/mail/parse.js';
import { mutateBytes } from '../support/mutate.js';

const NOW = new Date('2031-05-06T07:08:09.000Z');
// Fixed seeds keep runs reproducible; MAIL_PARSE_DIFF_RUNS and MAIL_PARSE_DIFF_SEED explore further.
const RUNS = Number(process.env.MAIL_PARSE_DIFF_RUNS) || 250;
const SEED_SHIFT = Number(process.env.MAIL_PARSE_DIFF_SEED) || 0;
const PATHS = { lean: 0, mailparser: 0 } as Record<string, number>;
const now = (): Date => NOW;
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** Both paths agree; returns which one parseMessage took. */
async function agree(raw: Buffer, label: string, opts: ParseOptions = {}): Promise<{ path: string; reason?: string }> {
  const lean = await parseMessageDetailed(raw, { now, ...opts });
  const reference = await parseMessageWithMailparser(raw, { now, ...opts });
  assert.deepEqual(lean.parsed, reference, `${label}: lean path (${lean.path}) differs from mailparser`);
  PATHS[lean.path]!++;
  if (process.env.MAIL_PARSE_DIFF_LOG && lean.fallbackReason) console.log(label, lean.fallbackReason);
  return { path: lean.path, ...(lean.fallbackReason ? { reason: lean.fallbackReason } : {}) };
}

/** Both paths agree, or both refuse the message with the same error. */
async function agreeOrRefuse(raw: Buffer, label: string, opts: ParseOptions): Promise<void> {
  const outcome = async (fn: () => Promise<unknown>): Promise<unknown> => fn().then(() => 'parsed', (err: unknown) => String(err));
  const refusedLean = await outcome(() => parseMessageDetailed(raw, { now, ...opts }));
  const refusedReference = await outcome(() => parseMessageWithMailparser(raw, { now, ...opts }));
  assert.equal(refusedLean, refusedReference, label);
  if (refusedLean === 'parsed') await agree(raw, label, opts);
}

/** Runs a property and checks that the lean path answered a fair share of it, so agreeing is not vacuous. */
async function mostlyLean(minShare: number, run: () => Promise<void>): Promise<void> {
  const before = { ...PATHS };
  await run();
  const lean = PATHS.lean! - before.lean!;
  const total = lean + PATHS.mailparser! - before.mailparser!;
  assert.ok(lean >= minShare * total, `only ${lean} of ${total} messages took the lean path`);
}

async function agreeOnLean(raw: Buffer, label: string, opts: ParseOptions = {}): Promise<void> {
  const taken = await agree(raw, label, opts);
  assert.equal(taken.path, 'lean', `${label}: expected the lean path, fell back: ${taken.reason}`);
}

function compose(mail: Mail.Options & { keepBcc?: boolean }): Promise<Buffer> {
  const node = new MailComposer({ date: new Date('2024-03-04T05:06:07Z'), messageId: '<fixed@example.test>', ...mail }).compile();
  if (mail.keepBcc) node.keepBcc = true;
  return node.build();
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const LONG_TEXT = 'The quarterly figures are in. '.repeat(40) + '\nZweite Zeile mit Umlauten: äöü ß, and a long word ' + 'x'.repeat(120) + '\n';

/** Ordinary shapes, as mail clients and this server's own composer produce them. */
const COMPOSED: Array<[string, Mail.Options & { keepBcc?: boolean }]> = [
  ['plain ASCII text', { from: 'a@example.test', to: 'b@example.test', subject: 'hello', text: 'Hello Bob,\n\nsee you.\n' }],
  ['UTF-8 text, quoted-printable', { from: 'a@example.test', to: 'b@example.test', subject: 'Grüße', text: LONG_TEXT, textEncoding: 'quoted-printable' }],
  ['UTF-8 text, base64', { from: 'a@example.test', to: 'b@example.test', subject: 'b64', text: LONG_TEXT, textEncoding: 'base64' }],
  ['HTML only', { from: 'a@example.test', to: 'b@example.test', subject: 'html', html: '<html><head><style>p{color:red}</style></head><body><h1>Title</h1><p>Para &amp; more <b>bold</b></p><ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table></body></html>' }],
  ['alternative', { from: '"Alice Anders" <alice@example.test>', to: 'Bob <bob@example.test>, carol@example.test', cc: 'dave@example.test', subject: 'Quarterly numbers – update', text: LONG_TEXT, html: `<p>${LONG_TEXT}</p>` }],
  ['alternative with attachments', {
    from: 'a@example.test', to: 'b@example.test', subject: 'report', text: 'see attached', html: '<p>see <i>attached</i></p>',
    attachments: [
      { filename: 'report.pdf', content: Buffer.alloc(5000, 1), contentType: 'application/pdf' },
      { filename: 'notes.txt', content: 'plain text attachment\r\nline 2' },
      { content: 'no name here', contentType: 'text/csv' },
      { filename: 'ünïcödé näme with spaces and a rather long name to force continuations.bin', content: Buffer.from([0, 1, 2, 3]) },
      { filename: 'data.bin', content: Buffer.alloc(300, 7), contentType: 'application/octet-stream' },
      { filename: 'qp.txt', content: 'quoted ü\r\n', contentTransferEncoding: 'quoted-printable' },
    ],
  }],
  ['related inline image', { from: 'a@example.test', to: 'b@example.test', subject: 'pic', text: 'logo', html: '<p>logo: <img src="cid:logo@example"></p>', attachments: [{ filename: 'logo.png', content: PNG, cid: 'logo@example' }] }],
  ['HTML only with inline image', { from: 'a@example.test', to: 'b@example.test', subject: 'pic', html: '<p><img src="cid:l2"></p>', attachments: [{ filename: 'l.png', content: PNG, cid: 'l2' }] }],
  ['inline image without a related part', {
    from: 'a@example.test', to: 'b@example.test', subject: 'pic', text: 'x',
    attachments: [{ filename: 'i.png', content: PNG, contentDisposition: 'inline', headers: { 'Content-ID': '<i@x>' } }],
  }],
  ['forwarded message as attachment', {
    from: 'a@example.test', to: 'b@example.test', subject: 'Fwd: inner', text: 'forwarding',
    attachments: [{ filename: 'inner.eml', contentType: 'message/rfc822', contentDisposition: 'attachment', content: 'From: x@example.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\ninner body\r\n--inner--\r\n' }],
  }],
  ['encoded words in names and subject', {
    from: '"Jürgen Müller" <jm@example.test>', to: ['"Ærøskøbing, Ltd." <ae@example.test>', '"山田 太郎" <yamada@example.test>'],
    cc: '"Ελένη" <eleni@example.test>', replyTo: '"Réponse" <re@example.test>', subject: 'Ünïcödé 日本語 subject that is quite long so that it gets folded over several encoded words',
    text: 'x',
  }],
  ['Bcc, Reply-To, References, priority, Thread-Index', {
    from: 'a@example.test', to: 'b@example.test', bcc: ['hidden@example.test', '"Hidden Two" <h2@example.test>'], keepBcc: true, replyTo: ['r1@example.test', 'r2@example.test'],
    subject: 'Re: AW: thread', inReplyTo: '<m0@example.test>', references: ['<r1@example.test>', '<m0@example.test>'],
    headers: { Importance: 'high', 'X-Priority': '1 (Highest)', 'Thread-Index': 'AQHZ0123456789abcdefghijklmn==' }, text: 'x',
  }],
  ['group in To', { from: 'a@example.test', to: 'Team: x@example.test, "Y" <y@example.test>;, solo@example.test', subject: 'g', text: 'x' }],
  ['long folded subject', { from: 'a@example.test', to: 'b@example.test', subject: 'word '.repeat(80).trim(), text: 'x' }],
  ['calendar alternative', { from: 'a@example.test', to: 'b@example.test', subject: 'meet', text: 'invite', icalEvent: { method: 'REQUEST', content: 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n' } }],
  ['attachment only', { from: 'a@example.test', to: 'b@example.test', subject: 'file', attachments: [{ filename: 'only.pdf', content: Buffer.alloc(100, 3) }] }],
  ['100 KB attachment', { from: 'a@example.test', to: 'b@example.test', subject: 'big', text: 'big one', attachments: [{ filename: 'big.bin', content: Buffer.alloc(100 * 1024, 9) }] }],
  ['empty text', { from: 'a@example.test', to: 'b@example.test', subject: 'empty', text: '' }],
];

/** Composed, then edited where MailComposer has no option for the shape. */
const EDITED: Array<[string, Mail.Options, (s: string) => string]> = [
  ['missing Date', { from: 'a@example.test', to: 'b@example.test', subject: 'nodate', text: 'x' }, (s) => s.replace(/^Date: .*\r\n/m, '')],
  ['invalid Date', { from: 'a@example.test', to: 'b@example.test', subject: 'baddate', text: 'x' }, (s) => s.replace(/^Date: .*\r\n/m, 'Date: not a date\r\n')],
  ['LF line ends', { from: 'a@example.test', to: 'b@example.test', subject: 'lf', text: 'one\ntwo', html: '<p>one</p>' }, (s) => s.replace(/\r\n/g, '\n')],
  ['raw UTF-8 header', { from: 'a@example.test', to: 'b@example.test', subject: 'placeholder', text: 'x' }, (s) => s.replace('Subject: placeholder', 'Subject: Grüße aus Köln')],
  ['X-Priority only', { from: 'a@example.test', to: 'b@example.test', subject: 'p', text: 'x' }, (s) => s.replace('Subject: p', 'X-Priority: 5 (Lowest)\r\nSubject: p')],
];

// iconv-lite cannot encode ISO-2022-JP; encoding-japanese (what libmime decodes it with) can.
const japanese = createRequire(import.meta.url)('encoding-japanese') as {
  stringToCode(s: string): number[];
  convert(codes: number[], opts: { to: string; from: string }): number[];
};

function encodeText(text: string, charset: string): Buffer {
  if (/^iso-?2022-?jp$/i.test(charset)) return Buffer.from(japanese.convert(japanese.stringToCode(text), { to: 'JIS', from: 'UNICODE' }));
  return iconv.encode(text, charset);
}

/** Shaped the way common clients write mail (header and structure conventions, not their text). */
const CLIENT_SHAPED: Array<[string, string]> = [
  ['Outlook: related HTML with an image, Thread-Index, TNEF-free', [
    'From: "Anders, Alice" <alice@contoso.test>', 'To: "Berg, Bob" <bob@contoso.test>', 'Subject: RE: Budget',
    'Thread-Topic: Budget', 'Thread-Index: AQHZabcdEFGHijklMNOPqrstUVWXyz==', 'Date: Tue, 2 Jan 2024 10:11:12 +0000',
    'Message-ID: <DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.outlook.com>', 'References: <a@x> <b@x>', 'In-Reply-To: <b@x>',
    'Accept-Language: en-US', 'Content-Language: en-US', 'X-MS-Has-Attach: yes', 'X-MS-TNEF-Correlator:',
    'Content-Type: multipart/related;', '	boundary="_004_DB9PR01MB1234_"; type="multipart/alternative"', 'MIME-Version: 1.0', '',
    '--_004_DB9PR01MB1234_', 'Content-Type: multipart/alternative;', '	boundary="_000_DB9PR01MB1234_"', '',
    '--_000_DB9PR01MB1234_', 'Content-Type: text/plain; charset="us-ascii"', 'Content-Transfer-Encoding: quoted-printable', '',
    'Hi Bob,=20', '', 'the numbers are attached.=', ' Regards', '',
    '--_000_DB9PR01MB1234_', 'Content-Type: text/html; charset="us-ascii"', 'Content-Transfer-Encoding: quoted-printable', '',
    '<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dus-ascii"></head><body><p>Hi Bob,<img src=3D"cid:image001.png@01DA0000.00000000"></p></body></html>',
    '', '--_000_DB9PR01MB1234_--', '',
    '--_004_DB9PR01MB1234_', 'Content-Type: image/png; name="image001.png"', 'Content-Description: image001.png',
    'Content-Disposition: inline; filename="image001.png"; size=12;', '	creation-date="Tue, 02 Jan 2024 10:11:12 GMT";', '	modification-date="Tue, 02 Jan 2024 10:11:12 GMT"',
    'Content-ID: <image001.png@01DA0000.00000000>', 'Content-Transfer-Encoding: base64', '', 'iVBORw0KGgoAAAAN', '',
    '--_004_DB9PR01MB1234_--', '',
  ].join('\r\n')],
  ['Gmail: alternative, UTF-8 base64 and quoted-printable', [
    'MIME-Version: 1.0', 'From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.test>', 'Date: Wed, 3 Jan 2024 09:00:00 +0100',
    'Message-ID: <CAF=abc+123@mail.gmail.com>', 'Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=', 'To: bob@contoso.test, carol@contoso.test',
    'Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f60718"', '',
    '--000000000000a1b2c3d4e5f60718', 'Content-Type: text/plain; charset="UTF-8"', 'Content-Transfer-Encoding: base64', '',
    Buffer.from('Grüße aus Köln,\r\nJürgen\r\n').toString('base64'), '',
    '--000000000000a1b2c3d4e5f60718', 'Content-Type: text/html; charset="UTF-8"', 'Content-Transfer-Encoding: quoted-printable', '',
    '<div dir=3D"ltr">Gr=C3=BC=C3=9Fe aus K=C3=B6ln,<div>J=C3=BCrgen</div></div>', '',
    '--000000000000a1b2c3d4e5f60718--', '',
  ].join('\r\n')],
  ['Apple Mail: mixed with an inline image between text parts', [
    'From: Carol Castro <carol@contoso.test>', 'Content-Type: multipart/mixed;', '	boundary="Apple-Mail=_0A1B2C3D-4E5F-6789-ABCD-EF0123456789"',
    'Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))', 'Subject: Photo', 'Date: Thu, 4 Jan 2024 12:00:00 +0100', 'To: Bob Berg <bob@contoso.test>',
    'Message-Id: <0A1B2C3D@contoso.test>', '',
    '--Apple-Mail=_0A1B2C3D-4E5F-6789-ABCD-EF0123456789', 'Content-Transfer-Encoding: 7bit', 'Content-Type: text/plain;', '	charset=us-ascii', '', 'Here it is:', '',
    '--Apple-Mail=_0A1B2C3D-4E5F-6789-ABCD-EF0123456789', 'Content-Disposition: inline;', '	filename=photo.jpg', 'Content-Type: image/jpeg;', '	x-unix-mode=0644;', '	name="photo.jpg"',
    'Content-Transfer-Encoding: base64', '', '/9j/4AAQSkZJRgABAQ==', '',
    '--Apple-Mail=_0A1B2C3D-4E5F-6789-ABCD-EF0123456789', 'Content-Transfer-Encoding: 7bit', 'Content-Type: text/plain;', '	charset=us-ascii', '', '', 'Carol', '',
    '--Apple-Mail=_0A1B2C3D-4E5F-6789-ABCD-EF0123456789--', '',
  ].join('\r\n')],
  ['Thunderbird: format=flowed with delsp, RFC 2231 file name', [
    'Message-ID: <5f1e2d3c-tb@contoso.test>', 'Date: Fri, 5 Jan 2024 08:00:00 +0100', 'MIME-Version: 1.0', 'User-Agent: Mozilla Thunderbird',
    'Content-Language: de-DE', 'To: bob@contoso.test', 'From: Dave Dunn <dave@contoso.test>', 'Subject: Protokoll',
    'Content-Type: multipart/mixed; boundary="------------0123456789abcdefABCDEF01"', '',
    'This is a multi-part message in MIME format.',
    '--------------0123456789abcdefABCDEF01', 'Content-Type: text/plain; charset=UTF-8; format=flowed; delsp=yes', 'Content-Transfer-Encoding: 8bit', '',
    Buffer.from('Hallo Bob, hier ist das Proto ', 'utf8').toString('latin1'), Buffer.from('koll der Sitzung mit Überlänge.', 'utf8').toString('latin1'), '', '> zitiert ', '> weiter', '', '-- ', 'Dave', '',
    '--------------0123456789abcdefABCDEF01', 'Content-Type: application/pdf; name*=UTF-8\'\'Protokoll%20%C3%BCber%20alles.pdf',
    'Content-Disposition: attachment; filename*=UTF-8\'\'Protokoll%20%C3%BCber%20alles.pdf', 'Content-Transfer-Encoding: base64', '', 'JVBERi0xLjQK', '',
    '--------------0123456789abcdefABCDEF01--', '',
  ].join('\r\n')],
  ['delivery report', [
    'From: MAILER-DAEMON@contoso.test', 'To: alice@contoso.test', 'Subject: Undelivered Mail Returned to Sender', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn=="', '',
    '--dsn==', 'Content-Type: text/plain; charset=us-ascii', '', 'Your message could not be delivered.', '',
    '--dsn==', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; contoso.test', '', 'Final-Recipient: rfc822; nobody@contoso.test', 'Action: failed', 'Status: 5.1.1', '',
    '--dsn==', 'Content-Type: text/rfc822-headers', '', 'From: alice@contoso.test', 'Subject: hello', '',
    '--dsn==--', '',
  ].join('\r\n')],
  ['single-part HTML in windows-1252', [
    'From: news@example.test', 'To: bob@contoso.test', 'Subject: Newsletter', 'Content-Type: text/html; charset=windows-1252', 'Content-Transfer-Encoding: quoted-printable', '',
    '<html><body><h2>News =96 January</h2><p>Caf=E9 =93open=94</p><ul><li>one</li><li>two</li></ul></body></html>', '',
  ].join('\r\n')],
];

/** Hand-made messages in the charsets and shapes other clients send. */
function charsetMessage(charset: string, text: string, cte: 'quoted-printable' | 'base64' | '8bit'): Buffer {
  const bytes = encodeText(text, charset);
  const body = cte === 'base64' ? bytes.toString('base64').replace(/.{76}/g, '$&\r\n') : cte === 'quoted-printable' ? libqp.wrap(libqp.encode(bytes), 76) : bytes.toString('latin1');
  const subject = libmime.encodeWords(text.slice(0, 20), 'B', 40);
  return Buffer.from([
    'From: =?' + charset + '?B?' + encodeText('Ünï', charset).toString('base64') + '?= <u@example.test>',
    'To: b@example.test',
    `Subject: ${subject}`,
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset="${charset}"`,
    `Content-Transfer-Encoding: ${cte}`,
    '',
    body,
    '',
  ].join('\r\n'), 'latin1');
}

const CHARSET_CASES: Array<[string, string]> = [
  ['iso-8859-1', 'Grüße, café, naïve façade — no: ¿qué?'],
  ['windows-1252', 'Smart “quotes” and the € sign – dash'],
  ['koi8-r', 'Привет, мир! Съешь же ещё этих мягких французских булок'],
  ['iso-2022-jp', 'こんにちは、世界。日本語のメールです。'],
  ['shift_jis', 'シフトJISのテキスト、カタカナとひらがな'],
  ['euc-kr', '안녕하세요 세계'],
  ['gb2312', '你好，世界'],
  ['iso-8859-2', 'Zażółć gęślą jaźń'],
];

describe('server/mail/parse: lean parser against mailparser', function () {
  this.timeout(120_000 * Math.max(1, RUNS / 250));
  after(() => {
    if (process.env.MAIL_PARSE_DIFF_LOG) console.log('paths taken', PATHS);
  });

  it('agrees on composed messages of every ordinary shape, on the lean path', async () => {
    for (const [label, mail] of COMPOSED) await agreeOnLean(await compose(mail), label);
    for (const [label, mail, edit] of EDITED) await agreeOnLean(Buffer.from(edit((await compose(mail)).toString('latin1')), 'latin1'), label);
  });

  it('agrees on mail shaped as common clients write it, on the lean path', async () => {
    for (const [label, text] of CLIENT_SHAPED) await agreeOnLean(Buffer.from(text, 'latin1'), label);
  });

  it('agrees on the charsets mail is written in, on the lean path', async () => {
    for (const [charset, text] of CHARSET_CASES) {
      for (const cte of ['quoted-printable', 'base64', '8bit'] as const) await agreeOnLean(charsetMessage(charset, text, cte), `${charset} ${cte}`);
    }
  });

  it('agrees on long texts in multi-byte charsets, decoded across mailparser\'s chunks', async () => {
    const texts: Array<[string, string]> = [
      ['gb18030', '中文文本，包括𠀀扩展字符和标点。'],
      ['shift_jis', 'シフトJISの長いテキストです。'],
      ['utf-16', 'UTF-16 text with a BOM: ünïcödé 😀 '],
      ['big5', '繁體中文的長文本。'],
      ['iso-2022-jp', '長い日本語のメールです。'],
    ];
    for (const [charset, sample] of texts) {
      const text = sample.repeat(Math.ceil(150_000 / sample.length)).slice(0, 150_000);
      for (const cte of ['base64', '8bit'] as const) await agreeOnLean(charsetMessage(charset, text, cte), `long ${charset} ${cte}`);
    }
  });

  it('agrees under tight limits', async () => {
    const html = await compose({ from: 'a@example.test', to: 'b@example.test', subject: 'h', html: '<p>' + 'word '.repeat(100) + '</p>' });
    await agreeOnLean(html, 'HTML over the conversion limit', { maxHtmlToTextBytes: 100 });
    const mixed = await compose(COMPOSED.find(([label]) => label === 'alternative with attachments')![1]);
    for (const maxParts of [1, 2, 5, 8, 9, 10, 11, 12, 20]) await agreeOrRefuse(mixed, `maxParts ${maxParts}`, { maxParts });
    for (const maxHeaderBytes of [300, 600, 1000, 1500, 3000]) await agreeOrRefuse(mixed, `maxHeaderBytes ${maxHeaderBytes}`, { maxHeaderBytes });
    for (const maxHeaderFields of [3, 8, 20]) await agreeOrRefuse(mixed, `maxHeaderFields ${maxHeaderFields}`, { maxHeaderFields });
    await agreeOrRefuse(mixed, 'maxBytes', { maxBytes: 1000 });
  });

  it('agrees where the lean parser hands over to mailparser', async () => {
    // nodemailer's default for message/rfc822 is an inline part, which mailparser parses as a nested message.
    const inline = await compose({ from: 'a@example.test', to: 'b@example.test', subject: 'fwd', text: 'x', attachments: [{ filename: 'f.eml', contentType: 'message/rfc822', content: 'From: q@example.test\r\nSubject: inner\r\n\r\ninner body\r\n' }] });
    assert.equal((await agree(inline, 'inline message/rfc822')).path, 'mailparser');
    const uu = Buffer.from('Subject: uu\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n#86)C\r\n`\r\nend\r\n');
    assert.equal((await agree(uu, 'uuencode')).path, 'mailparser');
    const tooDeep = Buffer.from('Content-Type: text/html\r\n\r\n' + '<div>'.repeat(1200) + 'x');
    assert.equal((await agree(tooDeep, 'deep HTML')).path, 'mailparser');
    const refused = Buffer.from('Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' + '--b\r\nContent-Type: text/plain\r\n\r\npart\r\n'.repeat(30) + '--b--\r\n');
    assert.equal((await agree(refused, 'too many parts', { maxParts: 10 })).path, 'mailparser');
  });

  describe('S/MIME made by openssl', function () {
    let dir = '';
    const made = new Map<string, Buffer>();
    before(async function () {
      this.timeout(60_000);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-lean-smime-'));
      const p = (n: string): string => path.join(dir, n);
      const run = (args: string[]): Buffer => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=alice/emailAddress=alice@example.test', '-keyout', p('key.pem'), '-out', p('cert.pem')]);
      fs.writeFileSync(p('text.txt'), 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSigned hello,\r\nsecond line.\r\n');
      const inner = await compose({ text: 'Signed multipart', html: '<b>Signed multipart</b>', attachments: [{ filename: 'a.txt', content: 'attached' }, { filename: 'p.png', content: PNG }] });
      fs.writeFileSync(p('multi.txt'), inner.subarray(inner.indexOf('Content-Type')));
      const hdr = ['-from', 'alice@example.test', '-to', 'bob@example.test', '-subject', 'Secure'];
      const crlf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
      for (const input of ['text', 'multi']) {
        made.set(`clear-signed ${input}`, crlf(run(['smime', '-sign', '-in', p(`${input}.txt`), '-signer', p('cert.pem'), '-inkey', p('key.pem'), ...hdr, '-md', 'sha256', '-crlfeol'])));
        made.set(`clear-signed ${input}, LF`, run(['smime', '-sign', '-in', p(`${input}.txt`), '-signer', p('cert.pem'), '-inkey', p('key.pem'), ...hdr]));
        made.set(`opaque-signed ${input}`, crlf(run(['smime', '-sign', '-nodetach', '-in', p(`${input}.txt`), '-signer', p('cert.pem'), '-inkey', p('key.pem'), ...hdr])));
        made.set(`encrypted ${input}`, crlf(run(['smime', '-encrypt', '-aes256', '-in', p(`${input}.txt`), ...hdr, p('cert.pem')])));
      }
    });
    after(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('agrees on clear-signed, opaque-signed and encrypted messages, on the lean path', async () => {
      assert.equal(made.size, 8);
      for (const [label, raw] of made) await agreeOnLean(raw, label);
    });
  });

  it('agrees on the .eml files of the fixtures and the shared vectors', async () => {
    const files = [...findEml(path.join(ROOT, 'fixtures')), ...findEml(path.join(ROOT, '../shared/vectors'))];
    assert.ok(files.length >= 5, 'the demo fixtures hold .eml files');
    for (const file of files) await agreeOnLean(fs.readFileSync(file), path.relative(ROOT, file));
  });

  it('agrees on generated MIME trees, on the lean path', async () => {
    await fc.assert(fc.asyncProperty(messageArb(false), async (m) => agreeOnLean(render(m), 'generated')), { seed: 20240601 + SEED_SHIFT, numRuns: RUNS });
  });

  it('agrees on generated MIME trees with unusual constructs, whichever path answers', async () => {
    await mostlyLean(0.3, () => fc.assert(fc.asyncProperty(messageArb(true), async (m) => {
      await agree(render(m), 'generated, unusual');
    }), { seed: 777 + SEED_SHIFT, numRuns: RUNS }));
  });

  it('agrees on messages that span the 64 KiB chunks mailparser reads, whichever path answers', async () => {
    await mostlyLean(0.3, () => fc.assert(fc.asyncProperty(messageArb(true), fc.integer({ min: 60_000, max: 140_000 }), fc.boolean(), async (m, size, first) => {
      const filler: Leaf = { kind: 'leaf', headers: ['Content-Type: text/plain; charset=us-ascii'], body: ('filler line\n').repeat(Math.ceil(size / 12)).slice(0, size) };
      const root: Multi = { kind: 'multi', headers: ['Content-Type: multipart/mixed; boundary="filler=="'], boundary: 'filler==', preamble: '', epilogue: '', closed: true, padding: '', lookalike: '', children: first ? [filler, m.root] : [m.root, filler] };
      await agree(render({ ...m, root }), 'large');
    }), { seed: 99 + SEED_SHIFT, numRuns: Math.ceil(RUNS / 5) }));
  });

  it('agrees where a part boundary falls on a 64 KiB chunk boundary', async () => {
    // Sweeps the end of a filler part across the first chunk boundary, followed by a part with
    // no content, one whose content is a line break, one with a line of text.
    for (const eol of ['\r\n', '\n']) {
      for (const tail of ['', eol, 'x', eol + eol]) {
        const head = ['From: a@example.test', 'Subject: sweep', 'Content-Type: multipart/mixed; boundary="sweep"', '', '--sweep', 'Content-Type: text/plain', '', ''].join(eol);
        const after = `${eol}--sweep${eol}Content-Type: text/plain${eol}${eol}${tail}${eol}--sweep${eol}Content-Type: text/plain${eol}${eol}last${eol}--sweep--${eol}`;
        for (let delta = -72; delta <= 8; delta++) {
          const filler = 'f'.repeat(65536 - head.length + delta);
          await agree(Buffer.from(head + filler + after, 'latin1'), `sweep ${JSON.stringify(tail)} ${delta}`);
        }
      }
    }
  });

  it('agrees on damaged messages, whichever path answers', async () => {
    const mutation = fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'insert', 'delete', 'crlf'), byte: fc.constantFrom(0x0a, 0x0d, 0x2d, 0x3a, 0x20, 0x3d, 0x22, 0x3b, 0x41, 0xc3, 0x00) });
    await mostlyLean(0.15, () => fc.assert(fc.asyncProperty(messageArb(true), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (m, muts) => {
      await agree(mutateBytes(render(m), muts), 'damaged');
    }), { seed: 4242 + SEED_SHIFT, numRuns: RUNS }));
  });
});

function* findEml(dir: string): Generator<string> {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* findEml(full);
    else if (entry.name.endsWith('.eml')) yield full;
  }
}

// ---- generated MIME trees --------------------------------------------------------------

interface Leaf {
  kind: 'leaf';
  headers: string[];
  body: string;
}
interface Multi {
  kind: 'multi';
  headers: string[];
  boundary: string;
  preamble: string;
  epilogue: string;
  closed: boolean;
  /** Whitespace after each delimiter (RFC 2046 allows it). */
  padding: string;
  /** A line in the preamble that starts with the delimiter but is content, or a stray close delimiter. */
  lookalike: '' | 'content' | 'close';
  children: Entity[];
}
type Entity = Leaf | Multi;
interface Message {
  top: string[];
  root: Entity;
  eol: '\r\n' | '\n';
}

function renderEntity(e: Entity, eol: string): string {
  const head = e.headers.map((h) => h + eol).join('') + eol;
  if (e.kind === 'leaf') return head + e.body;
  let out = head + e.preamble;
  if (e.lookalike === 'content') out += `--${e.boundary}x and more${eol}-- ${e.boundary}${eol}`;
  if (e.lookalike === 'close') out += `--${e.boundary}--${eol}`;
  for (const child of e.children) out += `--${e.boundary}${e.padding}${eol}` + renderEntity(child, eol) + eol;
  if (e.closed) out += `--${e.boundary}--${e.padding}${eol}` + e.epilogue;
  return out;
}

function render(m: Message): Buffer {
  const root = renderEntity(m.root, m.eol);
  return Buffer.from(m.top.map((h) => h + m.eol).join('') + root, 'latin1');
}


const WORDS = ['hello', 'Grüße', 'naïve', '日本', 'Привет', '€', 'line', 'x'.repeat(90), 'a=b', '=?utf-8?q?not?=', 'http://example.test/a?b=c', '<b>', '&amp;', '--', 'From '];
const textArb = fc.array(fc.oneof(fc.constantFrom(...WORDS), fc.constantFrom(' ', ' ', '\n', '\n\n', '\t', '  ')), { maxLength: 40 }).map((parts) => parts.join(''));
const CHARSETS = ['utf-8', 'UTF-8', 'us-ascii', 'iso-8859-1', 'windows-1252', 'koi8-r', 'iso-8859-15', 'shift_jis', 'iso-2022-jp', 'big5', 'x-unknown-charset', 'utf-7', '',
  'utf-16', 'utf-16le', 'gb18030', 'euc-jp', 'iso-8859-8-i', 'ks_c_5601-1987', 'windows-1251', 'latin1', 'cp1252', 'unicode-1-1-utf-8'];

function encodeBody(text: string, charset: string, cte: string, eol: string): string {
  const known = charset && iconv.encodingExists(charset) && !/utf-?7/i.test(charset);
  const bytes = known ? iconv.encode(text, charset) : Buffer.from(text, 'utf8');
  const lines = (s: string): string => s.replace(/\r?\n/g, eol);
  if (cte === 'base64') return bytes.toString('base64').replace(/.{76}/g, `$&${eol}`);
  if (cte === 'quoted-printable') return lines(libqp.wrap(libqp.encode(bytes), 76));
  return lines(bytes.toString('latin1'));
}

const nameArb = fc.oneof(
  fc.constantFrom('report.pdf', 'notes.txt', 'image.png', 'archive.tar.gz', 'no-extension', 'Invoice(1).pdf', 'a b.doc'),
  fc.constantFrom('Ünïcödé.txt', '日本語.pdf', 'résumé.docx').map((n) => ({ encoded: n })),
  // Raw 8-bit names, as UTF-8 bytes and as latin1 bytes (a message is latin1 text here).
  fc.constantFrom(Buffer.from('résumé.pdf').toString('latin1'), 'caf\u00e9.txt'),
);

function nameParams(name: string | { encoded: string }, style: number): [string, string] {
  if (typeof name === 'string') return [`; name="${name}"`, `; filename="${name}"`];
  if (style % 3 === 0) return [`; name="${libmime.encodeWord(name.encoded, 'Q')}"`, `; filename="${libmime.encodeWord(name.encoded, 'B')}"`];
  const params = libmime.buildHeaderParam('filename', name.encoded, 20);
  return ['', '; ' + params.map((p) => `${p.key}=${p.key.endsWith('*') ? p.value : `"${p.value}"`}`).join('; ')];
}

function leafArb(unusual: boolean): fc.Arbitrary<Leaf> {
  const types = ['text/plain', 'text/plain', 'text/html', 'image/png', 'application/pdf', 'application/octet-stream', 'message/delivery-status', 'text/calendar', 'message/rfc822', 'text/rfc822-headers'];
  const ctes = ['', '7bit', '8bit', 'quoted-printable', 'base64', 'QUOTED-PRINTABLE', 'Base64', 'binary'];
  const dispositions = ['', 'inline', 'attachment', 'INLINE', 'Attachment'];
  return fc.record({
    type: fc.constantFrom(...types, ...(unusual ? ['', 'TEXT/PLAIN', 'text'] : [])),
    charset: fc.constantFrom(...CHARSETS),
    cte: fc.constantFrom(...ctes, ...(unusual ? ['x-uuencode', 'base64 (comment)', '"base64"'] : [])),
    disposition: fc.constantFrom(...dispositions, ...(unusual ? ['weird', '=?utf-8?q?inline?='] : [])),
    name: fc.option(nameArb, { nil: undefined }),
    nameStyle: fc.nat(5),
    cid: fc.option(fc.constantFrom('<img1@x>', 'img2@x', '<>', ' <sp@x> '), { nil: undefined }),
    flowed: fc.constantFrom(0, 0, 1, 2),
    text: textArb,
    binary: fc.uint8Array({ maxLength: 300 }),
    extra: fc.constantFrom(0, 0, 0, 1, 2, 3),
    mess: unusual ? fc.constantFrom('', '', 'junk', 'midpad', 'qp') : fc.constant(''),
  }).map((o): Leaf => {
    const headers: string[] = [];
    const [nameParam, fileParam] = o.name === undefined ? ['', ''] : nameParams(o.name, o.nameStyle);
    const isText = o.type.toLowerCase().startsWith('text') || o.type.startsWith('message/delivery');
    const charsetParam = isText && o.charset ? `; charset=${o.extra === 1 ? `"${o.charset}"` : o.charset}` : '';
    const flowedParam = o.flowed ? `; format=flowed${o.flowed === 2 ? '; delsp=yes' : ''}` : '';
    if (o.type) headers.push(`Content-Type: ${o.type}${charsetParam}${flowedParam}${nameParam}${o.extra === 2 ? ' (a comment)' : ''}`);
    if (o.cte) headers.push(`Content-Transfer-Encoding: ${o.cte}`);
    // mailparser descends into an inline message/rfc822; the lean parser leaves that to it.
    const disposition = !unusual && o.type === 'message/rfc822' && /inline/i.test(o.disposition) ? 'attachment' : o.disposition;
    if (disposition || fileParam) headers.push(`Content-Disposition: ${disposition || 'attachment'}${fileParam}`);
    if (o.cid) headers.push(`Content-ID: ${o.cid}`);
    if (o.extra === 3) headers.push('Content-Description:', ' folded description');
    const cte = /base64/i.test(o.cte) && !o.cte.includes('"') ? 'base64' : /quoted/i.test(o.cte) ? 'quoted-printable' : '8bit';
    let body: string;
    if (isText) body = encodeBody(o.text, o.charset, cte, '\n');
    else if (o.type === 'message/rfc822') body = `Subject: inner\nFrom: in@example.test\n\n${o.text}`;
    else body = cte === 'base64' ? Buffer.from(o.binary).toString('base64').replace(/.{76}/g, '$&\n') : cte === 'quoted-printable' ? libqp.wrap(libqp.encode(Buffer.from(o.binary)), 76) : Buffer.from(o.binary).toString('latin1').replace(/\r?\n--/g, '\n__');
    return { kind: 'leaf', headers, body: messUp(body, cte, o.mess) };
  });
}

/** Bodies as sloppy encoders write them: junk in base64, padding mid-way, bad QP escapes. */
function messUp(body: string, cte: string, how: string): string {
  if (!how) return body;
  const mid = body.length >> 1;
  if (cte === 'base64' && how === 'junk') return body.slice(0, mid) + ' -_!\u00e9.' + body.slice(mid);
  if (cte === 'base64' && how === 'midpad') return body.slice(0, mid) + '==\nQUJD' + body.slice(mid);
  if (how === 'qp') return body.slice(0, mid) + '=ZZ =\n=4 trailing  \n' + body.slice(mid);
  return body;
}

function boundaryArb(): fc.Arbitrary<string> {
  return fc.oneof(fc.constantFrom('b1', 'simple', '----=_Part_0_123.456', '--_NmP-abc-Part_1', 'with space', "'()+_,-./:=?"), fc.stringMatching(/^[A-Za-z0-9]{8,30}$/));
}

function entityArb(unusual: boolean): fc.Arbitrary<Entity> {
  const { tree } = fc.letrec<{ tree: Entity; multi: Multi }>((tie) => ({
    tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb(unusual), tie('multi')),
    multi: fc.record({
      subtype: fc.constantFrom('mixed', 'alternative', 'related', 'signed', 'report', ...(unusual ? ['digest', ''] : [])),
      boundary: boundaryArb(),
      quoteBoundary: fc.boolean(),
      preamble: fc.constantFrom('', '', 'This is a multi-part message in MIME format.\n'),
      epilogue: fc.constantFrom('', '', 'epilogue text\n', unusual ? '--stray\n' : ''),
      closed: unusual ? fc.boolean() : fc.constant(true),
      padding: fc.constantFrom('', '', ' ', '\t ', ' '.repeat(40)),
      lookalike: fc.constantFrom<Multi['lookalike']>('', '', 'content', ...(unusual ? ['close' as const] : [])),
      children: fc.array(tie('tree'), { minLength: unusual ? 0 : 1, maxLength: 4 }),
    }).map((o): Multi => ({
      kind: 'multi',
      headers: [`Content-Type: multipart/${o.subtype};${o.quoteBoundary ? ' ' : '\n\t'}boundary=${o.quoteBoundary || /[ '()+,/:=?]/.test(o.boundary) ? `"${o.boundary}"` : o.boundary}`],
      boundary: o.boundary,
      preamble: o.preamble,
      epilogue: o.epilogue,
      closed: o.closed,
      padding: o.padding,
      lookalike: o.lookalike,
      children: o.children,
    })),
  }));
  // Nested multiparts need boundaries of their own that do not prefix each other.
  return tree.map((root) => {
    let n = 0;
    const fix = (e: Entity): void => {
      if (e.kind !== 'multi') return;
      e.boundary = `${e.boundary}=${n++}=`;
      e.headers = [e.headers[0]!.replace(/boundary=.*$/s, `boundary="${e.boundary}"`), ...e.headers.slice(1)];
      e.children.forEach(fix);
    };
    fix(root);
    return root;
  });
}

const addressArb = fc.constantFrom(
  'a@example.test', '"Alice A." <alice@example.test>', 'Bob <bob@example.test>', '=?utf-8?q?J=C3=BCrgen?= <j@example.test>',
  'Group: g1@example.test, g2@example.test;', 'undisclosed-recipients:;', '"Quote \\" inside" <q@example.test>', 'x@xn--mnchen-3ya.test',
  'name only', '<bare@example.test>', '"=?utf-8?b?w6l0w6k=?=" <ete@example.test>', 'Łukasz <l@example.test>',
);

const ORDINARY_EXTRA_HEADERS = [
  'Reply-To: "Desk" <desk@example.test>, other@example.test',
  'Bcc: hidden@example.test',
  'In-Reply-To: <parent@example.test>',
  'Subject: second subject is ignored',
  'X-Mailer: generator 1.0',
  'Received: from a.example.test by b.example.test; Tue, 2 Jan 2024 03:04:05 +0000',
  'To: second-to@example.test',
  'Cc:',
  'Content-ID: <root@x>',
];
const ODD_HEADERS = [
  ...ORDINARY_EXTRA_HEADERS,
  'Subject:',
  'Subject : spaced name',
  'X-Raw: caf\u00e9 \u00ff',
  'Subject: raw UTF-8 \u00c3\u00a9t\u00c3\u00a9',
  'Message-ID:',
  'Message-ID: <first@example.test>',
  'From:',
  'To: "unterminated <x@example.test>',
  'References: <a@x>',
  'In-Reply-To: =?utf-8?q?<enc@x>?=',
  'Content-Type: text/plain',
  'MIME-Version: 1.0 (with a comment)',
];

function messageArb(unusual: boolean): fc.Arbitrary<Message> {
  return fc.record({
    from: addressArb,
    to: fc.array(addressArb, { maxLength: 3 }),
    cc: fc.option(fc.array(addressArb, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    subject: fc.oneof(textArb.map((t) => t.replace(/\s+/g, ' ').trim()), fc.constantFrom('=?utf-8?B?w4TDlsOc?= =?utf-8?B?IMOkw7bDvA==?=', '=?iso-8859-1?q?caf=E9?= ok', 'Re: =?koi8-r?b?8NLJ18XU?=')),
    messageId: fc.constantFrom(undefined, '<id1@example.test>', 'id2@example.test', ''),
    references: fc.constantFrom(undefined, '<r1@x> <r2@x>', 'r3@x\n\t<r4@x>', ''),
    root: entityArb(unusual),
    eol: fc.constantFrom('\r\n' as const, '\n' as const),
    fold: fc.boolean(),
    odd: unusual ? fc.subarray(ODD_HEADERS) : fc.subarray(ORDINARY_EXTRA_HEADERS),
  }).map((o): Message => {
    const top = [...o.odd, `From: ${o.from}`];
    if (o.to.length) top.push(`To: ${o.fold ? o.to.join(',\n ') : o.to.join(', ')}`);
    if (o.cc) top.push(`Cc: ${o.cc.join(', ')}`);
    top.push(`Subject: ${libmime.encodeWords(o.subject, 'Q', 52)}`);
    if (o.messageId !== undefined) top.push(`Message-ID: ${o.messageId}`);
    if (o.references !== undefined) top.push(`References: ${o.references}`);
    top.push('MIME-Version: 1.0');
    const fixLines = (s: string): string => s.replace(/\r?\n/g, o.eol);
    const convert = (e: Entity): Entity => e.kind === 'leaf'
      ? { ...e, headers: e.headers.flatMap((h) => fixLines(h).split(o.eol)), body: fixLines(e.body) }
      : { ...e, headers: e.headers.flatMap((h) => fixLines(h).split(o.eol)), preamble: fixLines(e.preamble), epilogue: fixLines(e.epilogue), children: e.children.map(convert) };
    return { top: top.flatMap((h) => fixLines(h).split(o.eol)), root: convert(o.root), eol: o.eol };
  });
}
