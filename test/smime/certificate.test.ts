// Certificate facts read by smime/certificate.ts, compared with what openssl
// and node's X509Certificate (independent parsers) say about the same files.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  CertificateError,
  certificateFacts,
  certificatesFrom,
  parseCertificate,
  publicKeyOf,
  tryParseCertificate,
  validityAt,
} from '../../smime/certificate.js';
import { certDer, demo, openssl, TestPki, VECTORS } from './verify-pki.js';

const DEMO_CERTS = [
  'contoso-root-ca.crt',
  'contoso-issuing-ca.crt',
  'fabrikam-root-ca.crt',
  'users/alice-signing.crt',
  'users/alice-encryption-2021.crt',
  'users/alice-encryption-2024.crt',
  'users/bob-signing.crt',
  'users/bob-encryption.crt',
  'users/carol-signing.crt',
  'users/carol-encryption.crt',
  'users/dave-signing.crt',
  'external/erin-signing.crt',
  'external/erin-encryption.crt',
];

function opensslText(file: string): string {
  return openssl(['x509', '-in', file, '-noout', '-text', '-serial', '-fingerprint', '-sha256']).toString();
}

describe('smime/certificate', function () {
  this.timeout(30000);
  let pki: TestPki;
  before(function () {
    this.timeout(60000);
    pki = new TestPki('easmime-cert-');
  });
  after(() => pki?.cleanup());

  describe('demo certificates agree with openssl and node:crypto', () => {
    for (const rel of DEMO_CERTS) {
      it(rel, () => {
        const file = demo(rel);
        const der = certDer(file);
        const c = parseCertificate(der);
        const x = new crypto.X509Certificate(der);
        const text = opensslText(file);
        assert.equal(c.serial.toUpperCase(), x.serialNumber.replace(/^0+(?=.)/, ''));
        assert.equal(c.notBefore.getTime(), new Date(x.validFrom).getTime());
        assert.equal(c.notAfter.getTime(), new Date(x.validTo).getTime());
        assert.equal(c.fingerprint256, x.fingerprint256.replace(/:/g, '').toLowerCase());
        assert.equal(c.isCA, x.ca);
        // Node prints names one attribute per line, most general first; ours is RFC 4514.
        assert.deepEqual(c.subject.split(',').reverse(), x.subject.split('\n').map((l) => l.replace(/^E=/, 'emailAddress=')));
        assert.deepEqual(c.issuer.split(',').reverse(), x.issuer.split('\n').map((l) => l.replace(/^E=/, 'emailAddress=')));
        const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1]?.replace(/:/g, '').toLowerCase();
        assert.equal(c.subjectKeyIdentifier, ski);
        const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1]?.replace(/:/g, '').toLowerCase();
        assert.equal(c.authorityKeyIdentifier, aki);
        const email = /email:([^\s,]+)/.exec(text)?.[1];
        if (email) assert.deepEqual(c.addresses, [email.toLowerCase()]);
        else assert.deepEqual(c.addresses, []);
        assert.ok(publicKeyOf(c).equals(x.publicKey));
        const facts = certificateFacts(c);
        assert.deepEqual(JSON.parse(JSON.stringify(facts)), facts);
        assert.equal(facts.publicKey, 'rsa-2048');
        assert.equal(facts.signatureAlgorithm, 'sha256-with-rsa');
      });
    }

    it('key usage and extended key usage', () => {
      const signing = parseCertificate(certDer(demo('users/alice-signing.crt')));
      assert.deepEqual(signing.keyUsage, ['digitalSignature', 'nonRepudiation']);
      assert.deepEqual(certificateFacts(signing).extendedKeyUsage, ['emailProtection']);
      const enc = parseCertificate(certDer(demo('users/bob-encryption.crt')));
      assert.deepEqual(enc.keyUsage, ['keyEncipherment', 'dataEncipherment']);
      const ca = parseCertificate(certDer(demo('contoso-issuing-ca.crt')));
      assert.deepEqual(ca.keyUsage, ['keyCertSign', 'cRLSign']);
      assert.equal(ca.extKeyUsage, undefined);
      assert.equal(ca.pathLenConstraint, 0);
      assert.deepEqual(ca.crlDistributionPoints, ['http://127.0.0.1:8080/pki/contoso-root.crl']);
      assert.deepEqual(signing.crlDistributionPoints, ['http://127.0.0.1:8080/pki/contoso-issuing.crl']);
    });

    it('validity windows: alice-encryption-2021 expired in 2024', () => {
      const c = parseCertificate(certDer(demo('users/alice-encryption-2021.crt')));
      assert.equal(validityAt(c, new Date('2022-06-01T00:00:00Z')), 'ok');
      assert.equal(validityAt(c, new Date('2024-03-01T00:00:01Z')), 'expired');
      assert.equal(validityAt(c, new Date('2021-02-28T23:59:59Z')), 'not-yet-valid');
    });
  });

  describe('addresses', () => {
    it('subject emailAddress only, no subjectAltName', () => {
      const f = pki.file('subject-only.crt');
      openssl(['req', '-x509', '-key', pki.key('k'), '-subj', '/CN=Subject Only/emailAddress=Only.Subject@Example.COM', '-days', '1', '-out', f]);
      assert.deepEqual(parseCertificate(certDer(f)).addresses, ['only.subject@example.com']);
    });

    it('several rfc822Names, upper case, plus a different subject address; DNS names ignored', () => {
      const f = pki.file('many.crt');
      openssl(['req', '-x509', '-key', pki.key('k'), '-subj', '/CN=Many/emailAddress=third@example.com', '-days', '1',
        '-addext', 'subjectAltName=email:First@Example.com,DNS:host.example.com,email:second@example.com,email:first@example.com', '-out', f]);
      assert.deepEqual(parseCertificate(certDer(f)).addresses, ['first@example.com', 'second@example.com', 'third@example.com']);
    });

    it('UTF-8 names and names with characters RFC 4514 escapes', () => {
      const f = pki.file('utf8.crt');
      openssl(['req', '-x509', '-utf8', '-key', pki.key('k'), '-subj', '/O=Müller, Söhne \\+ Co/CN=Zoë "Z" Ünal', '-days', '1', '-out', f]);
      const c = parseCertificate(certDer(f));
      assert.equal(c.subject, 'CN=Zoë \\"Z\\" Ünal,O=Müller\\, Söhne \\+ Co');
    });

    it('an ECDSA certificate', () => {
      const f = pki.file('ec.crt');
      openssl(['req', '-x509', '-key', pki.key('ec', 'ec384'), '-subj', '/CN=EC', '-days', '1', '-out', f]);
      const facts = certificateFacts(parseCertificate(certDer(f)));
      assert.equal(facts.publicKey, 'ec secp384r1');
      assert.equal(facts.signatureAlgorithm, 'ecdsa-with-sha256');
    });
  });

  describe('parsing and caching', () => {
    it('the same bytes give the same parsed object, from any buffer', () => {
      const der = certDer(demo('users/bob-signing.crt'));
      const a = parseCertificate(der);
      const b = parseCertificate(Buffer.from(der));
      const c = parseCertificate(new Uint8Array(der));
      assert.equal(a, b);
      assert.equal(a, c);
      assert.ok(Object.isFrozen(a));
    });

    it('certificates that share a tail are told apart by their full bytes', () => {
      const der = certDer(demo('users/bob-signing.crt'));
      const twin = Buffer.from(der);
      twin[100] ^= 0xff; // a different TBS, same length and signature tail
      const parsed = tryParseCertificate(twin);
      if ('error' in parsed) return; // the flipped byte broke the structure: also fine
      assert.notEqual(parsed, parseCertificate(der));
      assert.notEqual(parsed.fingerprint256, parseCertificate(der).fingerprint256);
    });

    it('PEM bundles and DER', () => {
      const bundle = fs.readFileSync(demo('contoso-root-ca.crt'), 'latin1') + fs.readFileSync(demo('contoso-issuing-ca.crt'), 'latin1');
      const ders = certificatesFrom(bundle);
      assert.equal(ders.length, 2);
      assert.match(parseCertificate(ders[1]!).subject, /Issuing/);
      assert.equal(certificatesFrom(Buffer.from(bundle)).length, 2);
      assert.equal(certificatesFrom(certDer(demo('contoso-root-ca.crt'))).length, 1);
    });

    it('RFC 4134 certificates (DSA and 1024-bit RSA) parse', function () {
      // The vectors live in ../shared, beside the checkout; a lone clone has none to read.
      if (!fs.existsSync(`${VECTORS}/rfc4134`)) this.skip();
      for (const f of ['CarlRSASelf.cer', 'CarlDSSSelf.cer', 'AliceRSASignByCarl.cer', 'AliceDSSSignByCarlNoInherit.cer', 'DianeDSSSignByCarlInherit.cer']) {
        const p = `${VECTORS}/rfc4134/${f}`;
        const c = parseCertificate(fs.readFileSync(p));
        assert.ok(c.subject.startsWith('CN='), f);
      }
      const alice = parseCertificate(fs.readFileSync(`${VECTORS}/rfc4134/AliceRSASignByCarl.cer`));
      assert.deepEqual(alice.addresses, ['alicersa@example.com']);
      assert.equal(certificateFacts(alice).signatureAlgorithm, 'sha1-with-rsa');
    });

    it('critical extensions it does not process are recorded', () => {
      const f = pki.file('nc.crt');
      openssl(['req', '-x509', '-key', pki.key('k'), '-subj', '/CN=NC', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'nameConstraints=critical,permitted;email:.example.com', '-out', f]);
      assert.deepEqual(parseCertificate(certDer(f)).unhandledCritical, ['2.5.29.30']);
    });

    const bad: Array<[string, () => Uint8Array]> = [
      ['empty', () => new Uint8Array(0)],
      ['random', () => crypto.randomBytes(300)],
      ['truncated', () => certDer(demo('users/alice-signing.crt')).subarray(0, 700)],
      ['trailing bytes', () => Buffer.concat([certDer(demo('users/alice-signing.crt')), Buffer.from([0])])],
      ['a CRL', () => openssl(['crl', '-in', demo('contoso-issuing.crl'), '-outform', 'DER'])],
      ['huge length', () => Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x01])],
      ['deep nesting', () => Buffer.from(Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? 0x30 : 0x80)))],
      ['too big', () => Buffer.alloc(70 * 1024, 0x30)],
    ];
    for (const [name, make] of bad) {
      it(`refuses ${name} with CertificateError`, () => {
        assert.throws(() => parseCertificate(make()), CertificateError);
        const r = tryParseCertificate(make());
        assert.ok('error' in r && typeof r.error === 'string');
      });
    }
  });
});
