import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MailParseError, parseMessage } from '../../server/mail/parse.js';
import { mutateBytes } from '../support/mutate.js';

const SEEDS = [
  'From: "A" <a@example.com>\r\nTo: b@example.com, Group: c@example.com;\r\nSubject: =?utf-8?q?Re=3A_h=C3=A9?=\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>caf&eacute;</p>\r\n--x--\r\n',
  'Subject: s\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--b\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQE=\r\n--b--\r\n',
  'Subject: e\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBHgYJKoZIhvcNAQcDoIIBDzCCAQsCAQAxgcAwgb0CAQAwJjASMRAwDgYDVQQDEwdDYXJsUlNB\r\n',
  'Subject: r\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<img src="cid:i">\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <i>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n',
].map((s) => Buffer.from(s, 'latin1'));

const mutation = fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'insert', 'delete', 'truncate'), byte: fc.integer({ min: 0, max: 255 }) });


async function check(raw: Buffer, maxBytes?: number): Promise<void> {
  try {
    const p = await parseMessage(raw, { maxBytes, timeoutMs: 5000 });
    assert.equal(typeof p.subject, 'string');
    assert.equal(typeof p.text, 'string');
    assert.ok(p.date instanceof Date && !Number.isNaN(p.date.getTime()));
    assert.ok([0, 1, 2].includes(p.importance));
    assert.ok(Number.isInteger(p.internetCpid));
    assert.ok(Array.from(p.preview).length <= 255);
    assert.ok(Array.isArray(p.attachments) && Array.isArray(p.toAddresses));
  } catch (err) {
    if (!(err instanceof MailParseError)) throw err;
  }
}

describe('server/mail/parse properties', function () {
  this.timeout(120000);
  const params = { seed: 424242, numRuns: 150 };

  it('never throws anything but MailParseError on random bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.option(fc.integer({ min: 1, max: 4000 })), async (bytes, max) => check(Buffer.from(bytes), max ?? undefined)), params);
  });

  it('never throws anything but MailParseError on mutated messages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: SEEDS.length - 1 }), fc.array(mutation, { maxLength: 10 }), async (i, muts) => check(mutateBytes(SEEDS[i]!, muts))),
      params,
    );
  });
});
