import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as asn1js from 'asn1js';
import {
  classifyMime,
  classifyMimeDetailed,
  classifyParsed,
  messageClassFor,
  sniffCms,
  type SmimeKind,
} from '../../smime/classify.js';
import { findHeaderEnd, parseHeaderFields, parseStructuredValue, splitMultipart } from '../../smime/mime-split.js';

const VECTORS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/vectors');

function msg(headers: string, body: string | Buffer = ''): Buffer {
  return Buffer.concat([Buffer.from(headers.replace(/\n/g, '\r\n') + '\r\n\r\n', 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

function b64lines(der: Buffer): string {
  return (der.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';
}

function wrap(der: Buffer, contentType: string, extra = ''): Buffer {
  return msg(`MIME-Version: 1.0\nContent-Type: ${contentType}\nContent-Transfer-Encoding: base64${extra}`, b64lines(der));
}

/** A CompressedData ContentInfo (openssl here is built without zlib, so made by hand). */
function compressedDataDer(): Buffer {
  const ci = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.16.1.9' }),
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [
          new asn1js.Sequence({
            value: [
              new asn1js.Integer({ value: 0 }),
              new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.16.3.8' })] }),
              new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' })] }),
            ],
          }),
        ],
      }),
    ],
  });
  return Buffer.from(ci.toBER());
}

describe('smime/classify', function () {
  let dir: string;
  const made: Record<string, Buffer> = {};
  let certsOnlyDer: Buffer;

  before(function () {
    this.timeout(30000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-classify-'));
    const p = (n: string) => path.join(dir, n);
    const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=alice/emailAddress=alice@example.com', '-keyout', p('key.pem'), '-out', p('cert.pem')]);
    fs.writeFileSync(p('in.txt'), 'Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n');
    run(['cms', '-sign', '-in', p('in.txt'), '-signer', p('cert.pem'), '-inkey', p('key.pem'), '-subject', 'clear', '-out', p('clear.eml')]);
    run(['cms', '-sign', '-nodetach', '-in', p('in.txt'), '-signer', p('cert.pem'), '-inkey', p('key.pem'), '-subject', 'opaque', '-out', p('opaque.eml')]);
    run(['cms', '-encrypt', '-in', p('in.txt'), '-subject', 'enc', '-out', p('enveloped.eml'), p('cert.pem')]);
    run(['cms', '-encrypt', '-aes-256-gcm', '-in', p('in.txt'), '-subject', 'aenc', '-out', p('auth.eml'), p('cert.pem')]);
    run(['crl2pkcs7', '-nocrl', '-certfile', p('cert.pem'), '-outform', 'DER', '-out', p('certs.p7c')]);
    for (const n of ['clear', 'opaque', 'enveloped', 'auth']) made[n] = fs.readFileSync(p(`${n}.eml`));
    certsOnlyDer = fs.readFileSync(p('certs.p7c'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('messages made by openssl cms', () => {
    const cases: Array<[string, SmimeKind, string]> = [
      ['clear', 'clear-signed', 'IPM.Note.SMIME.MultipartSigned'],
      ['opaque', 'opaque-signed', 'IPM.Note.SMIME'],
      ['enveloped', 'enveloped', 'IPM.Note.SMIME'],
      ['auth', 'auth-enveloped', 'IPM.Note.SMIME'],
    ];
    for (const [name, kind, cls] of cases) {
      it(`${name} -> ${kind} / ${cls}`, () => {
        const d = classifyMimeDetailed(made[name]!);
        assert.equal(d.kind, kind);
        assert.equal(d.malformed, undefined);
        assert.equal(messageClassFor(d.kind), cls);
      });
    }

    it('sniffs the body when smime-type is missing', () => {
      for (const [name, kind] of [['opaque', 'opaque-signed'], ['enveloped', 'enveloped'], ['auth', 'auth-enveloped']] as const) {
        const stripped = Buffer.from(made[name]!.toString('latin1').replace(/smime-type=[^;\r\n]+;?\s*/i, ''), 'latin1');
        assert.doesNotMatch(stripped.toString('latin1'), /smime-type/i);
        const d = classifyMimeDetailed(stripped);
        assert.equal(d.kind, kind, name);
        assert.equal(d.source, 'sniff');
      }
    });

    it('sniffs application/octet-stream named *.p7m', () => {
      const enveloped = made.enveloped!.toString('latin1').replace(/Content-Type: [^\r\n]+/, 'Content-Type: application/octet-stream; name="SMIME.P7M"');
      assert.equal(classifyMime(Buffer.from(enveloped, 'latin1')), 'enveloped');
      const viaDisposition = made.opaque!.toString('latin1').replace(/Content-Type: [^\r\n]+/, 'Content-Type: application/octet-stream');
      assert.equal(classifyMime(Buffer.from(viaDisposition, 'latin1')), 'opaque-signed', 'filename from Content-Disposition');
    });

    it('reports a contradicting smime-type and believes the body', () => {
      const lying = made.enveloped!.toString('latin1').replace('smime-type=enveloped-data', 'smime-type=signed-data');
      const d = classifyMimeDetailed(Buffer.from(lying, 'latin1'));
      assert.equal(d.kind, 'enveloped');
      assert.match(d.malformed ?? '', /signed/);
    });
  });

  describe('header parsing', () => {
    const der = () => made.enveloped!.subarray(findHeaderEnd(made.enveloped!)!.bodyStart);
    it('x-pkcs7 names, case, folding, quoting, comments and RFC 2231', () => {
      const body = der().toString('latin1');
      const variants = [
        'Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data',
        'content-type: APPLICATION/PKCS7-MIME; SMIME-TYPE="Enveloped-Data"; name=smime.p7m',
        'Content-Type: application/pkcs7-mime;\n\tname="smime.p7m";\n smime-type=enveloped-data',
        'Content-Type: application/pkcs7-mime (encrypted); smime-type=enveloped-data (really)',
        'CONTENT-TYPE:application/pkcs7-mime;smime-type=enveloped-data',
        "Content-Type: application/octet-stream; name*=UTF-8''smime%2Ep7m",
        'Content-Type: application/octet-stream; name*0="smi"; name*1="me.p7m"',
      ];
      for (const ct of variants) {
        const m = msg(`Subject: x\n${ct}\nContent-Transfer-Encoding: base64`, body);
        assert.equal(classifyMime(m), 'enveloped', ct);
      }
    });

    it('multipart/signed with either signature protocol, quoted or not', () => {
      for (const proto of ['"application/pkcs7-signature"', 'application/x-pkcs7-signature', '"Application/X-PKCS7-Signature"']) {
        assert.equal(classifyMime(msg(`Content-Type: multipart/signed; protocol=${proto}; micalg=sha-256; boundary=b`, '--b\r\n\r\nx\r\n--b--\r\n')), 'clear-signed');
      }
      assert.equal(classifyMime(msg('Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary=b', '--b\r\n\r\nx\r\n--b--\r\n')), 'none');
    });

    it('multipart/signed without protocol falls back on the signature part', () => {
      const body = '--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/x-pkcs7-signature; name=smime.p7s\r\n\r\nAAAA\r\n--b--\r\n';
      const d = classifyMimeDetailed(msg('Content-Type: multipart/signed; boundary=b', body));
      assert.equal(d.kind, 'clear-signed');
      assert.match(d.malformed ?? '', /protocol/);
      assert.equal(classifyMime(msg('Content-Type: multipart/signed; boundary=b', '--b\r\n\r\nx\r\n--b\r\nContent-Type: text/plain\r\n\r\ny\r\n--b--')), 'none');
    });

    it('ordinary mail is none / IPM.Note', () => {
      for (const m of [
        msg('Subject: hi', 'plain'),
        msg('Content-Type: multipart/mixed; boundary=x', '--x\r\n\r\nhi\r\n--x--'),
        msg('Content-Type: application/pkcs7-signature', 'AAAA'),
        msg('Content-Type: application/octet-stream; name=file.bin', b64lines(der())),
        Buffer.from('no headers at all'),
        Buffer.alloc(0),
      ]) {
        assert.equal(classifyMime(m), 'none');
      }
      assert.equal(messageClassFor('none'), 'IPM.Note');
      assert.equal(messageClassFor('certs-only'), 'IPM.Note');
      assert.equal(messageClassFor('compressed'), 'IPM.Note.SMIME');
    });

    it('certs-only: declared, sniffed, and mislabelled as signed-data', () => {
      assert.equal(classifyMime(wrap(certsOnlyDer, 'application/pkcs7-mime; smime-type=certs-only; name=smime.p7c')), 'certs-only');
      assert.equal(classifyMime(wrap(certsOnlyDer, 'application/pkcs7-mime; name=smime.p7c')), 'certs-only');
      const d = classifyMimeDetailed(wrap(certsOnlyDer, 'application/x-pkcs7-mime; smime-type=signed-data'));
      assert.equal(d.kind, 'certs-only');
      assert.equal(d.malformed, undefined);
      // A PEM armoured bag, as `openssl crl2pkcs7` prints it.
      const pem = `-----BEGIN PKCS7-----\r\n${b64lines(certsOnlyDer)}-----END PKCS7-----\r\n`;
      assert.equal(classifyMime(msg('Content-Type: application/pkcs7-mime\nContent-Transfer-Encoding: base64', pem)), 'certs-only');
    });

    it('certs-only bag larger than the sniff window is decided from digestAlgorithms', () => {
      // Grow the certificate bag past the sniff window by repeating the certificate.
      const node = asn1js.fromBER(Uint8Array.from(certsOnlyDer)).result as asn1js.Sequence;
      const sd = ((node.valueBlock.value[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
      const certs = sd[3] as asn1js.Constructed;
      const one = certs.valueBlock.value[0]!;
      certs.valueBlock.value = Array.from({ length: 60 }, () => one);
      const grown = Buffer.from(node.toBER());
      assert.ok(grown.length * 4 / 3 > 3 * 16 * 1024, String(grown.length));
      assert.equal(classifyMime(wrap(grown, 'application/pkcs7-mime')), 'certs-only');
    });

    it('compressed-data, declared and sniffed; binary DER bodies', () => {
      const der = compressedDataDer();
      assert.equal(classifyMime(wrap(der, 'application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z')), 'compressed');
      assert.equal(classifyMime(wrap(der, 'application/pkcs7-mime; name=smime.p7z')), 'compressed');
      assert.equal(classifyMime(msg('Content-Type: application/pkcs7-mime\nContent-Transfer-Encoding: binary', der)), 'compressed');
    });

    it('declared type with an unreadable body keeps the declaration and flags it', () => {
      const d = classifyMimeDetailed(msg('Content-Type: application/pkcs7-mime; smime-type=enveloped-data', 'this is not base64 DER!!'));
      assert.equal(d.kind, 'enveloped');
      assert.ok(d.malformed);
      const e = classifyMimeDetailed(msg('Content-Type: application/pkcs7-mime', 'garbage'));
      assert.equal(e.kind, 'none');
      assert.ok(e.malformed);
      const f = classifyMimeDetailed(msg('Content-Type: application/octet-stream; name=x.p7m', 'garbage'));
      assert.equal(f.kind, 'none');
      assert.ok(f.malformed);
    });

    it('refuses a header block over the limit without scanning on', () => {
      const huge = Buffer.concat([Buffer.from('X-Big: '), Buffer.alloc(2 * 1024 * 1024, 0x61)]);
      const d = classifyMimeDetailed(huge);
      assert.equal(d.kind, 'none');
      assert.match(d.malformed ?? '', /limit/);
    });

    it('sniffs only the head of a huge body', () => {
      const b64 = made.enveloped!.subarray(findHeaderEnd(made.enveloped!)!.bodyStart);
      const huge = msg('Content-Type: application/pkcs7-mime\nContent-Transfer-Encoding: base64', Buffer.concat([b64, Buffer.alloc(20 * 1024 * 1024, 0x41)]));
      const started = process.hrtime.bigint();
      const kind = classifyMime(huge);
      assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 250);
      assert.equal(kind, 'enveloped');
    });

    it('classifyParsed takes pre-split headers', () => {
      const hb = findHeaderEnd(made.auth!)!;
      const { fields } = parseHeaderFields(made.auth!.toString('latin1', 0, hb.headerEnd));
      assert.equal(classifyParsed(fields, made.auth!.subarray(hb.bodyStart)).kind, 'auth-enveloped');
    });
  });

  describe('public vectors (read in place)', function () {
    before(function () {
      if (!fs.existsSync(VECTORS)) this.skip();
    });
    const v = (...p: string[]) => fs.readFileSync(path.join(VECTORS, ...p));

    it('RFC 4134 S/MIME messages', () => {
      assert.equal(classifyMime(v('rfc4134', '4.8.eml')), 'clear-signed');
      assert.equal(classifyMime(v('rfc4134', '4.9.eml')), 'opaque-signed');
      assert.equal(classifyMime(v('rfc4134', '5.3.eml')), 'enveloped');
    });

    it('RFC 4134 CMS objects wrapped in a MIME header, with and without smime-type', () => {
      const expected: Record<string, SmimeKind> = {
        '4.1.bin': 'opaque-signed', '4.2.bin': 'opaque-signed', '4.3.bin': 'opaque-signed', '4.4.bin': 'opaque-signed',
        '4.5.bin': 'opaque-signed', '4.6.bin': 'opaque-signed', '4.7.bin': 'opaque-signed', '4.10.bin': 'opaque-signed',
        // RFC 4134 4.11 is "SignedData with certificates only": no digest algorithms, no signers.
        '4.11.bin': 'certs-only', '5.1.bin': 'enveloped', '5.2.bin': 'enveloped',
        '3.1.bin': 'none', '3.2.bin': 'none', '6.0.bin': 'none', '7.1.bin': 'none', '7.2.bin': 'none',
      };
      for (const [file, kind] of Object.entries(expected)) {
        const der = v('rfc4134', file);
        assert.equal(classifyMime(wrap(der, 'application/pkcs7-mime; name=smime.p7m')), kind, file);
        assert.equal(classifyMime(wrap(der, 'application/octet-stream; name=smime.p7m')), kind, file + ' as octet-stream');
        assert.equal(classifyMime(msg('Content-Type: application/x-pkcs7-mime\nContent-Transfer-Encoding: binary', der)), kind, file + ' binary');
      }
      const digested = classifyMimeDetailed(wrap(v('rfc4134', '6.0.bin'), 'application/pkcs7-mime'));
      assert.equal(digested.cmsContentType, '1.2.840.113549.1.7.5');
      assert.ok(digested.malformed);
    });

    it('RFC 9216 samples wrapped in a MIME header', () => {
      const expected: Record<string, SmimeKind> = {
        'signedByAliceRSA.p7m': 'opaque-signed',
        'signedByAliceRSAPSS.p7m': 'opaque-signed',
        'signedByCarlosEd25519.p7m': 'opaque-signed',
        'signedByCarlosDetached.p7m': 'opaque-signed',
        'signedByAliceAndCarlosNoCerts.p7m': 'opaque-signed',
        'encryptedForBobRSAOaep.p7m': 'enveloped',
        'encryptedForBobAndDana.p7m': 'enveloped',
        'encryptedKekri.p7m': 'enveloped',
        'authEnvelopedForBobChaCha20Poly1305.p7m': 'auth-enveloped',
        'authEnvelopedForDanaX25519HKDF.p7m': 'auth-enveloped',
      };
      for (const [file, kind] of Object.entries(expected)) {
        const der = v('rfc9216', file);
        const d = classifyMimeDetailed(wrap(der, 'application/pkcs7-mime; name=smime.p7m'));
        assert.equal(d.kind, kind, file);
        assert.equal(d.source, 'sniff');
        assert.equal(classifyMime(wrap(der, `application/pkcs7-mime; smime-type=${kind === 'auth-enveloped' ? 'authEnveloped-data' : kind === 'enveloped' ? 'enveloped-data' : 'signed-data'}`)), kind);
      }
    });

    it('sniffCms reads BER indefinite lengths (RFC 4134 4.5)', () => {
      const r = sniffCms(v('rfc4134', '4.5.bin'));
      assert.ok(r.ok && r.oid === '1.2.840.113549.1.7.2' && !r.noSigners);
    });
  });

  describe('mime-split', () => {
    it('parses structured values', () => {
      const s = parseStructuredValue('Multipart/Signed; Boundary="a;b\\"c"; protocol=application/x-pkcs7-signature (comment); x="(not a comment)"');
      assert.equal(s.value, 'multipart/signed');
      assert.equal(s.params.get('boundary'), 'a;b"c');
      assert.equal(s.params.get('protocol'), 'application/x-pkcs7-signature');
      assert.equal(s.params.get('x'), '(not a comment)');
      assert.equal(parseStructuredValue("attachment; filename*=iso-8859-1'en'caf%E9.txt").params.get('filename'), 'café.txt');
      assert.equal(parseStructuredValue('a/b; __proto__=x').params.get('__proto__'), 'x');
    });

    it('splits multipart bodies byte-exactly, CRLF before a delimiter belonging to it', () => {
      const body = Buffer.from('preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--bx not a delimiter\r\n--b  \r\n\r\ntwo\n--b--\r\nepilogue');
      const r = splitMultipart(body, 'b');
      assert.equal(r.closed, true);
      assert.deepEqual(r.parts.map((p) => body.subarray(p.start, p.end).toString()), ['A: 1\r\n\r\none\r\n--bx not a delimiter', '\r\ntwo']);
      const open = splitMultipart(Buffer.from('--b\r\nx'), 'b');
      assert.equal(open.closed, false);
      assert.equal(open.parts.length, 1);
    });

    it('unfolds headers and skips junk lines', () => {
      const { fields } = parseHeaderFields('From nobody\r\nSubject: a\r\n  b\r\n\tc\r\nnot a header\r\nX-Y : z\r\n');
      assert.deepEqual(fields, [{ name: 'subject', value: 'a  b\tc' }, { name: 'x-y', value: 'z' }]);
    });
  });
});
