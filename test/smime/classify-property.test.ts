import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { classifyMime, classifyMimeDetailed, messageClassFor, sniffCms, type SmimeKind } from '../../smime/classify.js';
import { parseStructuredValue, splitMultipart } from '../../smime/mime-split.js';
import { mutateBytes, type ByteMutation } from '../support/mutate.js';

const KINDS = new Set<SmimeKind>(['clear-signed', 'opaque-signed', 'enveloped', 'auth-enveloped', 'certs-only', 'compressed', 'none']);
const VECTORS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/vectors');

/** Seeds worth mutating: real S/MIME structures where available, crafted ones otherwise. */
function seeds(): Buffer[] {
  const out = [
    Buffer.from('Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQE=\r\n--b--\r\n'),
    Buffer.from('Content-Type: application/x-pkcs7-mime; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBHgYJKoZIhvcNAQcDoIIBDzCCAQsCAQAxgcAwgb0CAQAwJjASMRAwDgYDVQQDEwdDYXJsUlNB\r\n'),
  ];
  const files = [['rfc4134', '4.9.eml'], ['rfc4134', '5.3.eml'], ['rfc4134', '4.8.eml']];
  for (const f of files) {
    const p = path.join(VECTORS, ...f);
    if (fs.existsSync(p)) out.push(fs.readFileSync(p));
  }
  for (const f of ['4.5.bin', '4.11.bin', '5.1.bin']) {
    const p = path.join(VECTORS, 'rfc4134', f);
    if (fs.existsSync(p)) {
      const der = fs.readFileSync(p);
      out.push(Buffer.concat([Buffer.from('Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: binary\r\n\r\n'), der]));
    }
  }
  return out;
}


const mutationArb = fc.array(
  fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'insert', 'delete', 'truncate') as fc.Arbitrary<ByteMutation['op']>, byte: fc.integer({ min: 0, max: 255 }) }),
  { maxLength: 8 },
);

const TOKENS = [
  'Content-Type: ', 'content-type:', 'application/pkcs7-mime', 'application/x-pkcs7-mime', 'multipart/signed', 'application/octet-stream',
  '; ', ';', 'smime-type=', 'signed-data', 'enveloped-data', 'authEnveloped-data', 'certs-only', 'compressed-data', 'protocol=',
  '"application/pkcs7-signature"', 'boundary=', 'b', '--b', '--b--', 'name=', 'smime.p7m', 'name*0*=', "utf-8''", '%2', '"', '\\', '(', ')',
  '\r\n', '\n', ' ', '\t', 'Content-Transfer-Encoding: base64', 'binary', 'MIIB', 'MIAG', 'CSqGSIb3DQEHA', 'oIIB', '=', '-----BEGIN PKCS7-----',
];
const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((t) => Buffer.from(t.join(''), 'latin1'));

function checkClassify(raw: Buffer): void {
  const d = classifyMimeDetailed(raw);
  assert.ok(KINDS.has(d.kind), d.kind);
  // The catch-all is a safety net; reaching it means a parsing bug.
  assert.notEqual(d.malformed, 'unexpected failure while classifying');
  assert.equal(classifyMime(raw), d.kind);
  assert.equal(typeof messageClassFor(d.kind), 'string');
}

describe('smime/classify properties', function () {
  this.timeout(60000);
  const params = { seed: 20240102, numRuns: 400 };

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => checkClassify(Buffer.from(bytes))), params);
  });

  it('never throws on mutated S/MIME messages', () => {
    const all = seeds();
    fc.assert(fc.property(fc.nat({ max: all.length - 1 }), mutationArb, (i, muts) => checkClassify(mutateBytes(all[i]!, muts))), params);
  });

  it('never throws on header-grammar soup', () => {
    fc.assert(fc.property(tokenSoup, (raw) => {
      checkClassify(raw);
      const v = parseStructuredValue(raw.toString('latin1'));
      assert.equal(typeof v.value, 'string');
      const split = splitMultipart(raw, 'b');
      for (const p of split.parts) assert.ok(p.start <= p.end && p.end <= raw.length);
    }), params);
  });

  it('sniffCms never throws on random DER-ish bytes', () => {
    const derish = fc.uint8Array({ maxLength: 512 }).map((b) => Uint8Array.from([0x30, 0x80, 0x06, 0x09, ...b]));
    fc.assert(fc.property(derish, (der) => {
      const r = sniffCms(der);
      assert.equal(typeof r.ok, 'boolean');
    }), params);
  });
});
