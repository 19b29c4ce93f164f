// The public vectors of RFC 4134 (Examples of S/MIME Messages) and RFC 9216
// (S/MIME Example Keys and Certificates), read in place from ../shared/vectors.
// What passes, what is reported as unsupported (DSA, Ed25519), and that
// nothing throws.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TrustStore } from '../../smime/trust.js';
import { verifyCms, verifySmime } from '../../smime/verify.js';
import type { SmimeVerdict } from '../../smime/verdict.js';
import { openssl, VECTORS, wrapOpaque } from './verify-pki.js';

const r4134 = (f: string) => path.join(VECTORS, 'rfc4134', f);
const r9216 = (f: string) => path.join(VECTORS, 'rfc9216', f);
const read = (f: string) => fs.readFileSync(f);

function enveloped(der: Buffer, type = 'enveloped-data'): Buffer {
  const b64 = (der.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  return Buffer.from(`From: sender@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=${type}; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`);
}

function roundTrips(v: SmimeVerdict): void {
  assert.deepEqual(JSON.parse(JSON.stringify(v)), v);
}

describe('smime/verify: RFC 4134 and RFC 9216 vectors', function () {
  this.timeout(30000);
  before(function () {
    if (!fs.existsSync(r4134('4.2.bin')) || !fs.existsSync(r9216('signedByAliceRSA.p7m'))) this.skip();
  });

  describe('RFC 4134', () => {
    const carl = () => TrustStore.from({ roots: [read(r4134('CarlRSASelf.cer')), read(r4134('CarlDSSSelf.cer'))] });
    const content = () => read(r4134('ExContent.bin'));

    for (const f of ['4.2.bin', '4.5.bin']) {
      it(`${f}: RSA (SHA-1, 1024-bit) verifies, with weak-algorithm and revocation-unknown warnings`, async () => {
        const v = await verifyCms(read(r4134(f)), { trust: carl() });
        roundTrips(v);
        assert.equal(v.kind, 'opaque-signed');
        assert.equal(v.valid, true, v.summary);
        assert.deepEqual(v.reasons, ['weak-algorithm', 'revocation-unknown']);
        const s = v.signers[0]!;
        assert.equal(s.subject, 'CN=AliceRSA');
        assert.deepEqual(s.algorithm, { digest: 'sha1', signature: 'rsa-pkcs1' });
        assert.equal(s.checks.signature.status, 'pass');
        assert.equal(s.checks.digest.status, 'skipped', 'no signed attributes');
        assert.deepEqual(s.chain.map((c) => c.subject), ['CN=AliceRSA', 'CN=CarlRSA']);
        assert.deepEqual(s.addresses, ['alicersa@example.com']);
      });
    }

    it('4.2.bin as an application/pkcs7-mime message, with From checked', async () => {
      const v = await verifySmime(wrapOpaque(read(r4134('4.2.bin')), 'From: AliceRSA@example.com\r\n'), { trust: carl() });
      assert.equal(v.kind, 'opaque-signed');
      assert.equal(v.valid, true, v.summary);
      assert.equal(v.signers[0]!.checks.signerMatchesFrom.status, 'pass');
    });

    it('4.2.bin against Carl\'s CRLs: they are signed with MD5, so they are no evidence either way', async () => {
      const withCrl = (crl: string) => TrustStore.from({ roots: [read(r4134('CarlRSASelf.cer'))], crls: [read(r4134(crl))] });
      for (const crl of ['CarlRSACRLEmpty.crl', 'CarlRSACRLForAll.crl']) {
        const v = await verifyCms(read(r4134('4.2.bin')), { trust: withCrl(crl) });
        assert.equal(v.signers[0]!.checks.revocation.status, 'unknown', crl);
        assert.match(v.signers[0]!.checks.revocation.detail, /md5-with-rsa/);
        assert.ok(!v.reasons.includes('revoked'), 'an unverifiable CRL cannot revoke either');
      }
    });

    it('4.2.bin under a strict SHA-1 policy is invalid', async () => {
      const v = await verifyCms(read(r4134('4.2.bin')), { trust: carl(), allowSha1: false });
      assert.equal(v.valid, false);
      assert.ok(v.problems.some((p) => p.reason === 'weak-algorithm' && p.severity === 'error'));
    });

    for (const f of ['4.1.bin', '4.4.bin', '4.6.bin', '4.7.bin', '4.10.bin']) {
      it(`${f}: DSA is reported as unsupported-algorithm`, async () => {
        const v = await verifyCms(read(r4134(f)), { trust: carl() });
        roundTrips(v);
        assert.equal(v.valid, false);
        assert.ok(v.reasons.includes('unsupported-algorithm'), JSON.stringify(v.reasons));
        assert.ok(!v.reasons.includes('malformed'), JSON.stringify(v.problems));
        for (const s of v.signers) assert.equal(s.checks.signature.status, 'unknown');
        assert.ok(v.signers.every((s) => s.subject !== null), 'every signer certificate found (4.7 names it by subject key identifier)');
      });
    }

    it('4.7.bin: the signer identified by subject key identifier is found', async () => {
      const v = await verifyCms(read(r4134('4.7.bin')), { trust: carl() });
      assert.ok(v.signers[0]!.signerId.subjectKeyIdentifier);
      assert.equal(v.signers[0]!.subject, 'CN=AliceDSS');
    });

    it('4.3.bin (detached DSA) over ExContent.bin: unsupported, not malformed', async () => {
      const v = await verifyCms(read(r4134('4.3.bin')), { trust: carl(), content: content() });
      assert.equal(v.kind, 'clear-signed');
      assert.ok(v.reasons.includes('unsupported-algorithm'));
      assert.ok(!v.reasons.includes('malformed'));
    });

    it('4.11.bin: certificates and CRLs only', async () => {
      const v = await verifyCms(read(r4134('4.11.bin')), { trust: carl(), content: content() });
      assert.deepEqual(v.reasons, ['no-signers']);
      const m = await verifySmime(wrapOpaque(read(r4134('4.11.bin'))), { trust: carl() });
      assert.equal(m.kind, 'certs-only');
      assert.equal(m.signed, false);
    });

    for (const f of ['4.8.eml', '4.9.eml']) {
      it(`${f}: S/MIME message signed with DSA`, async () => {
        const v = await verifySmime(read(r4134(f)), { trust: carl() });
        roundTrips(v);
        assert.equal(v.signed, true);
        assert.equal(v.valid, false);
        assert.ok(v.reasons.includes('unsupported-algorithm'));
      });
    }

    it('5.3.eml: enveloped; opened by a decrypt hook (openssl with Bob\'s key) to the sample content', async () => {
      const v = await verifySmime(read(r4134('5.3.eml')), { trust: carl() });
      assert.equal(v.kind, 'enveloped');
      assert.deepEqual(v.reasons, ['encrypted']);
      const opened = await verifySmime(read(r4134('5.3.eml')), {
        trust: carl(),
        decrypt: (req) => openssl(['cms', '-decrypt', '-inform', 'DER', '-inkey', r4134('BobPrivRSAEncrypt.pri'), '-keyform', 'DER'], req.cms!),
      });
      assert.deepEqual(opened.layers, [{ kind: 'enveloped', status: 'decrypted' }]);
      assert.equal(opened.signed, false);
      assert.deepEqual(opened.reasons, []);
    });

    it('5.1.bin and 5.2.bin as messages: enveloped, not signed', async () => {
      for (const f of ['5.1.bin', '5.2.bin']) {
        const v = await verifySmime(enveloped(read(r4134(f))), { trust: carl() });
        assert.equal(v.kind, 'enveloped', f);
        assert.deepEqual(v.reasons, ['encrypted']);
      }
    });
  });

  describe('RFC 9216', () => {
    const lamps = () => TrustStore.from({ roots: [read(r9216('lamps-rsa-ca.pem'))] });

    for (const [f, sig] of [['signedByAliceRSA.p7m', 'rsa-pkcs1'], ['signedByAliceRSAPSS.p7m', 'rsa-pss']] as const) {
      it(`${f}: verifies against the LAMPS RSA CA (${sig})`, async () => {
        const v = await verifySmime(wrapOpaque(read(r9216(f)), 'From: Alice Lovelace <alice@smime.example>\r\n'), { trust: lamps() });
        roundTrips(v);
        assert.equal(v.valid, true, v.summary);
        assert.deepEqual(v.reasons, ['revocation-unknown'], 'the vectors come without CRLs');
        const s = v.signers[0]!;
        assert.equal(s.algorithm.signature, sig);
        assert.deepEqual(s.addresses, ['alice@smime.example']);
        assert.equal(s.checks.signerMatchesFrom.status, 'pass');
        assert.equal(s.checks.keyUsage.status, 'pass');
        assert.equal(s.checks.extendedKeyUsage.status, 'pass');
      });
    }

    it('signedByCarlosEd25519.p7m: Ed25519 is unsupported-algorithm', async () => {
      const v = await verifyCms(read(r9216('signedByCarlosEd25519.p7m')), { trust: lamps() });
      roundTrips(v);
      assert.equal(v.valid, false);
      assert.ok(v.reasons.includes('unsupported-algorithm'));
      assert.equal(v.signers[0]!.algorithm.signature, 'ed25519');
      assert.equal(v.signers[0]!.checks.signature.status, 'unknown');
    });

    it('signedByCarlosDetached.p7m: Ed25519 detached, unsupported', async () => {
      const v = await verifyCms(read(r9216('signedByCarlosDetached.p7m')), { trust: lamps(), content: Buffer.from('This is some sample content.') });
      assert.ok(v.reasons.includes('unsupported-algorithm'));
      assert.ok(!v.reasons.includes('malformed'));
    });

    it('signedByAliceAndCarlosNoCerts.p7m: signers found only through caller certificates; Alice verifies, Carlos is unsupported', async () => {
      const der = read(r9216('signedByAliceAndCarlosNoCerts.p7m'));
      const bare = await verifyCms(der, { trust: lamps() });
      assert.equal(bare.signers.length, 2);
      assert.ok(bare.reasons.includes('signer-certificate-missing'));
      const pem = (f: string) => openssl(['x509', '-in', r9216(f), '-outform', 'DER']);
      const opts = { trust: lamps(), signerCertificates: [pem('lamps-alice.crt'), pem('lamps-carlos.crt')] };
      const v = await verifyCms(der, opts);
      const alice = v.signers.find((s) => s.addresses.includes('alice@smime.example'))!;
      const carlos = v.signers.find((s) => s !== alice)!;
      assert.equal(alice.valid, true);
      assert.equal(carlos.valid, false);
      assert.ok(carlos.reasons.includes('unsupported-algorithm'));
      assert.equal(v.valid, false, 'every signer must be valid by default');
      const any = await verifyCms(der, { ...opts, signerPolicy: 'any' });
      assert.equal(any.valid, true);
    });

    it('encryptedForBobRSAOaep.p7m: enveloped; the hook (openssl with Bob\'s key) opens it', async () => {
      const msg = enveloped(read(r9216('encryptedForBobRSAOaep.p7m')));
      const v = await verifySmime(msg, { trust: lamps() });
      assert.deepEqual(v.reasons, ['encrypted']);
      const opened = await verifySmime(msg, {
        trust: lamps(),
        decrypt: (req) => openssl(['cms', '-decrypt', '-inform', 'DER', '-inkey', r9216('lamps-bob.decrypt.p8.pem')], req.cms!),
      });
      assert.equal(opened.layers[0]!.status, 'decrypted');
    });

    for (const f of ['authEnvelopedForBobChaCha20Poly1305.p7m', 'authEnvelopedForDanaX25519HKDF.p7m', 'encryptedForBobAndDana.p7m', 'encryptedKekri.p7m']) {
      it(`${f}: reported as encrypted, never malformed`, async () => {
        const auth = f.startsWith('auth');
        const v = await verifySmime(enveloped(read(r9216(f)), auth ? 'authEnveloped-data' : 'enveloped-data'), { trust: lamps() });
        assert.equal(v.kind, auth ? 'auth-enveloped' : 'enveloped');
        assert.deepEqual(v.reasons, ['encrypted']);
      });
    }
  });
});
