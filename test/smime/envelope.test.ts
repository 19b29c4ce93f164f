// Reading envelopes without any private key: recipients as openssl, gpgsm and the RFC vectors name
// them, the content-encryption algorithm, and which of a set of certificates an envelope names
// (the relay check). Malformed input gets an EnvelopeError with a precise code, never anything else.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { EnvelopeError, envelopeRecipientsMatch, readEnvelope, type KeyAgreeRecipient, type KeyTransRecipient } from '../../smime/envelope.js';
import { certDer, CONTENT, demo, demoPair, ecPair, Gpgsm, openssl, opensslEncrypt, opensslPrint, tempDir, vector, VECTORS, vectorsAvailable } from './envelope-pki.js';

// Serials compare as the library writes them: hex of whole octets, leading zero octets dropped.
const serialOf = (certFile: string): string => openssl(['x509', '-in', certFile, '-noout', '-serial']).toString().trim().replace(/^serial=/, '').replace(/^(00)+(?=..)/, '').toLowerCase();
const skiOf = (certFile: string): string => {
  const text = openssl(['x509', '-in', certFile, '-noout', '-ext', 'subjectKeyIdentifier']).toString();
  return /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)![1]!.replace(/:/g, '').toLowerCase();
};

describe('smime/envelope: reading EnvelopedData and AuthEnvelopedData', function () {
  this.timeout(60_000);
  let dir: string;
  const bob = demoPair('bob-encryption');
  const alice2021 = demoPair('alice-encryption-2021');
  const alice2024 = demoPair('alice-encryption-2024');
  let ec: { cert: string; key: string };

  before(() => {
    dir = tempDir();
    ec = ecPair(dir, 'erwin', 'P-256');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists key transport recipients by issuer and serial number, and the content cipher (openssl defaults)', () => {
    const der = opensslEncrypt([alice2021.cert, bob.cert]);
    const env = readEnvelope(der);
    assert.equal(env.kind, 'enveloped');
    assert.equal(env.contentType, '1.2.840.113549.1.7.1');
    // openssl 3.0's default content cipher, as its own dump says.
    assert.match(opensslPrint(der), /algorithm: des-ede3-cbc/);
    assert.equal(env.contentEncryption.name, 'des-ede3-cbc');
    assert.ok(env.encryptedContent && env.encryptedContent.length >= CONTENT.length);
    const ktri = env.recipients as KeyTransRecipient[];
    assert.deepEqual(ktri.map((r) => r.type), ['ktri', 'ktri']);
    assert.deepEqual(ktri.map((r) => r.rid.kind === 'issuerSerial' && r.rid.serial), [serialOf(alice2021.cert), serialOf(bob.cert)]);
    for (const r of ktri) {
      assert.equal(r.rid.kind === 'issuerSerial' && r.rid.issuer, 'CN=Contoso Demo Issuing CA,O=Contoso Demo,C=US');
      assert.equal(r.algorithm.scheme, 'rsa-pkcs1');
      assert.equal(r.encryptedKey.length, 256, 'RSA-2048 ciphertext');
    }
  });

  it('reads AES content ciphers, RSA-OAEP parameters and subject key identifiers', () => {
    for (const [flag, name] of [['-aes128', 'aes-128-cbc'], ['-aes192', 'aes-192-cbc'], ['-aes256', 'aes-256-cbc']] as const) {
      assert.equal(readEnvelope(opensslEncrypt([bob.cert], [flag])).contentEncryption.name, name);
    }
    const oaep = readEnvelope(opensslEncrypt([{ cert: bob.cert, keyopt: ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha256'] }]));
    const alg = (oaep.recipients[0] as KeyTransRecipient).algorithm;
    assert.equal(alg.scheme, 'rsa-oaep');
    assert.ok(alg.scheme === 'rsa-oaep' && alg.hash === 'sha256' && alg.mgf1Hash === 'sha256' && alg.label.length === 0);
    const oaep1 = (readEnvelope(opensslEncrypt([{ cert: bob.cert, keyopt: ['rsa_padding_mode:oaep'] }])).recipients[0] as KeyTransRecipient).algorithm;
    assert.ok(oaep1.scheme === 'rsa-oaep' && oaep1.hash === 'sha1', 'OAEP defaults to SHA-1');

    const byKeyId = readEnvelope(opensslEncrypt([bob.cert], ['-keyid']));
    const rid = (byKeyId.recipients[0] as KeyTransRecipient).rid;
    assert.deepEqual(rid, { kind: 'keyId', keyId: skiOf(bob.cert) });
  });

  it('reads AuthEnvelopedData with AES-GCM: nonce, tag length, MAC', () => {
    const der = opensslEncrypt([bob.cert], ['-aes-256-gcm']);
    const env = readEnvelope(der);
    assert.equal(env.kind, 'auth-enveloped');
    assert.match(opensslPrint(der), /authEnvelopedData/);
    assert.ok(!('unsupported' in env.cipher) && env.cipher.mode === 'aead');
    assert.ok(env.cipher.mode === 'aead' && env.cipher.name === 'aes-256-gcm' && env.cipher.nonce.length === 12 && env.cipher.tagLength === 16);
    assert.equal(env.mac?.length, 16);
    assert.equal(env.encryptedContent?.length, CONTENT.length, 'GCM adds no padding');
  });

  it('reads key agreement recipients: ephemeral EC key, KDF digest, key wrap, recipient by issuer/serial or key id', () => {
    const p384 = ecPair(dir, 'pia', 'P-384');
    const der = opensslEncrypt([ec.cert, { cert: p384.cert, keyopt: ['ecdh_kdf_md:sha384'] }, bob.cert], ['-aes256']);
    const env = readEnvelope(der);
    // DER sorts the SET of recipient infos by encoding: look them up by type and curve.
    assert.deepEqual(env.recipients.map((r) => r.type).sort(), ['kari', 'kari', 'ktri']);
    const karis = env.recipients.filter((r): r is KeyAgreeRecipient => r.type === 'kari');
    const k256 = karis.find((k) => k.originator.kind === 'key' && k.originator.publicKey.length === 65);
    const k384 = karis.find((k) => k.originator.kind === 'key' && k.originator.publicKey.length === 97);
    for (const [k, curveBytes] of [[k256!, 65], [k384!, 97]] as const) {
      assert.equal(k.originator.kind, 'key');
      assert.ok(k.originator.kind === 'key' && k.originator.algorithm === '1.2.840.10045.2.1' && k.originator.publicKey.length === curveBytes);
      assert.equal(k.originator.kind === 'key' && k.originator.publicKey[0], 0x04, 'uncompressed point');
      assert.equal(k.recipients.length, 1);
      assert.equal(k.algorithm.scheme === 'ecdh' && k.algorithm.wrap.name, 'aes256-wrap');
    }
    assert.equal(k256!.algorithm.name, 'dhSinglePass-stdDH-sha1kdf');
    assert.equal(k384!.algorithm.name, 'dhSinglePass-stdDH-sha384kdf');
    assert.equal(k256!.recipients[0]!.rid.kind === 'issuerSerial' && k256!.recipients[0]!.rid.serial, serialOf(ec.cert));
    const byKeyId = readEnvelope(opensslEncrypt([{ cert: ec.cert, keyopt: ['ecdh_cofactor_mode:1'] }], ['-keyid', '-aes128']));
    const k = byKeyId.recipients[0] as KeyAgreeRecipient;
    assert.deepEqual(k.recipients[0]!.rid, { kind: 'keyId', keyId: skiOf(ec.cert) });
    assert.equal(k.algorithm.name, 'dhSinglePass-cofactorDH-sha1kdf');
  });

  it('envelopeRecipientsMatch says which certificates an envelope names, without any key', () => {
    const certs = [demo('users/carol-encryption.crt'), bob.cert, alice2021.cert, alice2024.cert, ec.cert].map(certDer);
    const garbage = Buffer.from('not a certificate');
    const m = envelopeRecipientsMatch(opensslEncrypt([alice2021.cert, bob.cert]), [...certs, garbage]);
    assert.deepEqual(m.named, [1, 2]);
    assert.deepEqual(m.unmatched, []);
    // By key identifier and by key agreement as well; a recipient not among the certificates is reported.
    const mixed = opensslEncrypt([alice2024.cert, ec.cert, demo('users/dave-signing.crt')], ['-keyid']);
    const m2 = envelopeRecipientsMatch(mixed, certs);
    assert.deepEqual(m2.named, [3, 4]);
    assert.equal(m2.unmatched.length, 1);
    assert.deepEqual(m2.unmatched[0], { kind: 'keyId', keyId: skiOf(demo('users/dave-signing.crt')) });
    // The same certificate twice is named twice; nothing given, nothing named.
    assert.deepEqual(envelopeRecipientsMatch(mixed, [certs[3]!, certs[3]!]).named, [0, 1]);
    assert.deepEqual(envelopeRecipientsMatch(mixed, []).named, []);
    // A parsed envelope works as well as bytes.
    assert.deepEqual(envelopeRecipientsMatch(readEnvelope(mixed), certs).named, [3, 4]);
  });

  it('reads gpgsm envelopes (BER, indefinite lengths, chunked content)', function () {
    const gpg = Gpgsm.create();
    if (!gpg) this.skip();
    try {
      const der = gpg!.encrypt(bob.cert, 'bob@contoso.test');
      assert.deepEqual([...der.subarray(0, 2)], [0x30, 0x80], 'gpgsm writes indefinite lengths');
      const env = readEnvelope(der);
      assert.equal(env.kind, 'enveloped');
      assert.equal((env.recipients[0] as KeyTransRecipient).rid.kind === 'issuerSerial' && ((env.recipients[0] as KeyTransRecipient).rid as { serial: string }).serial, serialOf(bob.cert));
      assert.match(opensslPrint(der), new RegExp(`algorithm: ${env.contentEncryption.name}`));
      assert.deepEqual(envelopeRecipientsMatch(der, [certDer(alice2024.cert), certDer(bob.cert)]).named, [1]);
    } finally {
      gpg!.dispose();
    }
  });

  describe('RFC 4134 and RFC 9216 vectors (read in place from ../shared/vectors)', () => {
    before(function () {
      if (!vectorsAvailable()) {
        console.log('    (pending: ../shared/vectors is absent; the vector tests need it)');
        this.skip();
      }
    });

    it('RFC 4134 5.1 (3DES) and 5.2 (RC2 with a KEK recipient next to the key transport one)', () => {
      const e1 = readEnvelope(vector('rfc4134/5.1.bin'));
      assert.equal(e1.contentEncryption.name, 'des-ede3-cbc');
      assert.equal((e1.recipients[0] as KeyTransRecipient).rid.kind === 'issuerSerial' && ((e1.recipients[0] as KeyTransRecipient).rid as { issuer: string }).issuer, 'CN=CarlRSA');
      const e2 = readEnvelope(vector('rfc4134/5.2.bin'));
      assert.deepEqual(e2.recipients.map((r) => r.type), ['ktri', 'kekri']);
      assert.equal(e2.contentEncryption.name, 'rc2-cbc (40-bit)');
      const bob = vector('rfc4134/BobRSASignByCarl.cer');
      const m = envelopeRecipientsMatch(vector('rfc4134/5.2.bin'), [vector('rfc4134/AliceRSASignByCarl.cer'), bob]);
      assert.deepEqual(m.named, [1]);
      assert.equal(m.otherRecipients, 1);
    });

    it('RFC 9216: X25519 key agreement next to RSA-OAEP, HKDF, ChaCha20-Poly1305', () => {
      const both = readEnvelope(vector('rfc9216/encryptedForBobAndDana.p7m'));
      assert.deepEqual(both.recipients.map((r) => r.type), ['ktri', 'kari']);
      const kari = both.recipients[1] as KeyAgreeRecipient;
      assert.ok(kari.originator.kind === 'key' && kari.originator.algorithm === '1.3.101.110' && kari.originator.publicKey.length === 32);
      assert.equal(kari.algorithm.name, 'dhSinglePass-stdDH-sha256kdf');
      const dana = certDer(path.join(VECTORS, 'rfc9216/lamps-dana.encrypt.crt'));
      const bobCert = certDer(path.join(VECTORS, 'rfc9216/lamps-bob.encrypt.crt'));
      assert.deepEqual(envelopeRecipientsMatch(vector('rfc9216/encryptedForBobAndDana.p7m'), [dana, bobCert]).named, [0, 1]);
      const hkdf = readEnvelope(vector('rfc9216/authEnvelopedForDanaX25519HKDF.p7m'));
      assert.equal(hkdf.kind, 'auth-enveloped');
      assert.equal((hkdf.recipients[0] as KeyAgreeRecipient).algorithm.name, 'dhSinglePass-stdDH-hkdf-sha256');
      assert.equal(readEnvelope(vector('rfc9216/authEnvelopedForBobChaCha20Poly1305.p7m')).contentEncryption.name, 'chacha20-poly1305');
      assert.deepEqual(readEnvelope(vector('rfc9216/encryptedKekri.p7m')).recipients.map((r) => r.type), ['kekri']);
    });
  });

  describe('malformed input', () => {
    const code = (input: Uint8Array): string => {
      try {
        readEnvelope(input);
      } catch (e) {
        assert.ok(e instanceof EnvelopeError, `expected an EnvelopeError, got ${String(e)}`);
        return `${e.code}: ${e.message}`;
      }
      return 'read';
    };

    it('empty, not DER, truncated, trailing bytes: not-cms', () => {
      const der = opensslEncrypt([bob.cert]);
      assert.match(code(Buffer.alloc(0)), /^not-cms: CMS object is empty$/);
      assert.match(code(Buffer.from('hello, this is text')), /^not-cms: not a CMS ContentInfo/);
      assert.match(code(der.subarray(0, der.length - 10)), /^not-cms: not a CMS ContentInfo \(element runs past its container\)$/);
      assert.match(code(Buffer.concat([der, Buffer.from([0, 0])])), /^not-cms: not a CMS ContentInfo \(2 trailing bytes\)$/);
    });

    it('signed data or plain data: not-enveloped', () => {
      const signed = openssl(['cms', '-sign', '-binary', '-outform', 'DER', '-signer', demo('users/alice-signing.crt'), '-inkey', demo('keys/alice-signing.key')], CONTENT);
      assert.match(code(signed), /^not-enveloped: CMS content type 1\.2\.840\.113549\.1\.7\.2 is neither envelopedData nor authEnvelopedData$/);
    });

    it('broken inner structure: malformed, naming the part', () => {
      const der = opensslEncrypt([bob.cert], ['-aes128']);
      // The recipientInfos SET (0x31) turned into a SEQUENCE.
      const setAt = der.indexOf(Buffer.from([0x31, 0x82]));
      const noSet = Buffer.from(der);
      noSet[setAt] = 0x30;
      assert.match(code(noSet), /^malformed: EnvelopedData is malformed: recipientInfos: expected tag 0x31, found 0x30$/);
      // The AES IV's OCTET STRING tag changed into another type of the same length.
      const ivAt = der.indexOf(Buffer.from('0609608648016503040102', 'hex')) + 11;
      assert.equal(der[ivAt], 0x04);
      const badIv = Buffer.from(der);
      badIv[ivAt] = 0x05;
      assert.match(code(badIv), /^malformed: EnvelopedData: aes-128-cbc parameters: expected the IV as an OCTET STRING$/);
    });

    it('more recipients than the limit: limit', () => {
      const der = opensslEncrypt([bob.cert, alice2021.cert, alice2024.cert]);
      assert.throws(() => readEnvelope(der, { maxRecipients: 2 }), (e: unknown) => e instanceof EnvelopeError && e.code === 'limit' && /more than 2 recipients/.test(e.message));
      assert.equal(readEnvelope(der, { maxRecipients: 3 }).recipients.length, 3);
    });

    it('any truncation or corruption gives an envelope or an EnvelopeError, nothing else', () => {
      const der = opensslEncrypt([bob.cert, ec.cert], ['-aes-128-gcm']);
      const bobDer = certDer(bob.cert);
      for (let n = 0; n < der.length; n++) code(der.subarray(0, n));
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
          const bad = Buffer.from(der);
          for (const [at, value] of edits) bad[at] = value;
          code(bad);
          try {
            envelopeRecipientsMatch(bad, [bobDer]);
          } catch (e) {
            assert.ok(e instanceof EnvelopeError);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
