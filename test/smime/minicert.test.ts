// Mini-certificates (the CertificateRetrieval 3 blob) checked against openssl: the recipient
// identifier openssl writes into a CMS envelope for the full certificate must be byte-identical
// to the one a device builds from the mini-certificate, the public key must be the certificate's
// (a key wrapped with it opens with the private key, in openssl), and openssl's own DER parser
// must read the blob.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { children, content, encode, readRoot, TAG, bytes } from '../../smime/der.js';
import { decodeMiniCertificates, describes, encodeMiniCertificates, MiniCertificateError, type MiniCertificate } from '../../smime/minicert.js';
import { certDer, demo, openssl, TestPki } from './verify-pki.js';

/** The rid of the first RecipientInfo of a DER ContentInfo(EnvelopedData) that openssl made. */
function firstRecipientId(cms: Buffer): Buffer {
  const [, wrapped] = children(cms, readRoot(cms));
  const enveloped = children(cms, wrapped!)[0]!;
  const fields = children(cms, enveloped);
  // version, [0] originatorInfo?, recipientInfos SET
  const recipientInfos = fields.find((f) => f.tag === TAG.SET)!;
  const ktri = children(cms, recipientInfos)[0]!;
  return bytes(cms, children(cms, ktri)[1]!);
}

function envelopeFor(pki: TestPki, certFile: string, keyid = false): Buffer {
  const msg = pki.file('message.txt');
  fs.writeFileSync(msg, 'Content-Type: text/plain\r\n\r\nfor a recipient\r\n');
  return openssl(['cms', '-encrypt', '-aes256', ...(keyid ? ['-keyid'] : []), '-recip', certFile, '-in', msg, '-outform', 'DER']);
}

function single(der: Buffer): MiniCertificate {
  const list = decodeMiniCertificates(encodeMiniCertificates([der]));
  assert.equal(list.length, 1);
  return list[0]!;
}

describe('smime/minicert', function () {
  this.timeout(60_000);
  let pki: TestPki;
  const aliceFile = demo('users/alice-encryption-2024.crt');
  let alice: Buffer;

  before(() => {
    pki = new TestPki('easmime-minicert-');
    alice = certDer(aliceFile);
  });
  after(() => pki?.cleanup());

  it('carries the issuer and serial exactly as openssl names the recipient of an envelope', () => {
    const mini = single(alice);
    const rid = firstRecipientId(envelopeFor(pki, aliceFile));
    assert.deepEqual(encode(TAG.SEQUENCE, Buffer.concat([mini.issuer, mini.serialNumber])), rid);
    const serial = openssl(['x509', '-in', aliceFile, '-noout', '-serial']).toString().trim().replace(/^serial=/, '').toLowerCase();
    assert.equal(mini.serial, serial.replace(/^(00)+(?=.)/, ''));
  });

  it('carries the subject key identifier openssl uses with -keyid', () => {
    const mini = single(alice);
    const rid = firstRecipientId(envelopeFor(pki, aliceFile, true));
    assert.equal(rid[0], 0x80, 'openssl wrote a [0] subjectKeyIdentifier');
    assert.deepEqual(content(rid, readRoot(rid)), mini.subjectKeyIdentifier);
    const text = openssl(['x509', '-in', aliceFile, '-noout', '-ext', 'subjectKeyIdentifier']).toString();
    assert.equal(mini.subjectKeyIdentifier!.toString('hex'), /\n\s*([0-9A-F:]+)\s*$/i.exec(text)![1]!.replace(/:/g, '').toLowerCase());
  });

  it('carries the public key, the end date, the addresses and the hash of the full certificate', () => {
    const mini = single(alice);
    const spki = openssl(['pkey', '-pubin', '-outform', 'DER'], openssl(['x509', '-in', aliceFile, '-noout', '-pubkey']));
    assert.deepEqual(mini.subjectPublicKeyInfo, spki);
    const end = openssl(['x509', '-in', aliceFile, '-noout', '-enddate']).toString().trim().replace(/^notAfter=/, '');
    assert.equal(mini.notAfter.getTime(), new Date(end).getTime());
    assert.deepEqual(mini.emailAddresses, [openssl(['x509', '-in', aliceFile, '-noout', '-email']).toString().trim()]);
    assert.deepEqual(mini.certificateHash, openssl(['dgst', '-sha256', '-binary'], alice));
    assert.equal(describes(mini, alice), true);
  });

  it('holds a key that a device can wrap a content key with, and openssl unwraps with the private key', () => {
    const mini = single(alice);
    const cek = crypto.randomBytes(32);
    const wrapped = crypto.publicEncrypt({ key: crypto.createPublicKey({ key: mini.subjectPublicKeyInfo, format: 'der', type: 'spki' }), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    const unwrapped = openssl(['pkeyutl', '-decrypt', '-inkey', demo('keys/alice-encryption-2024.key'), '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256'], wrapped);
    assert.deepEqual(unwrapped, cek);
  });

  it('is DER that openssl reads: one SEQUENCE per certificate, in order', () => {
    const bob = certDer(demo('users/bob-encryption.crt'));
    const erin = certDer(demo('external/erin-encryption.crt'));
    const blob = encodeMiniCertificates([alice, bob, erin]);
    const file = pki.file('blob.der');
    fs.writeFileSync(file, blob);
    const parsed = openssl(['asn1parse', '-inform', 'DER', '-in', file]).toString().split('\n');
    const entries = parsed.filter((l) => /\bd=1\b.*cons: SEQUENCE/.test(l));
    assert.equal(entries.length, 3);
    const list = decodeMiniCertificates(blob);
    assert.deepEqual(list.map((m) => describes(m, alice)), [true, false, false]);
    assert.deepEqual(list.map((m) => describes(m, bob)), [false, true, false]);
    assert.deepEqual(list.map((m) => describes(m, erin)), [false, false, true]);
    assert.ok(blob.length < alice.length + bob.length + erin.length, 'smaller than the certificates');
  });

  it('copies a serial with a leading zero octet and leaves out what the certificate lacks', () => {
    // A version 1 certificate: no extensions (no subject key identifier), no e-mail address.
    // RSA: openssl names an RSA recipient by issuer and serial (an EC one gets key agreement).
    const key = pki.key('plain', 'rsa');
    const csr = pki.file('plain.csr');
    openssl(['req', '-new', '-key', key, '-subj', '/CN=Plain', '-out', csr]);
    const file = pki.file('plain.crt');
    openssl(['x509', '-req', '-in', csr, '-signkey', key, '-days', '30', '-set_serial', '0x8000000000000001', '-out', file]);
    const der = certDer(file);
    const mini = single(der);
    assert.equal(mini.serial, '8000000000000001');
    assert.deepEqual(mini.serialNumber, Buffer.from('0209008000000000000001', 'hex'));
    assert.equal(mini.subjectKeyIdentifier, undefined);
    assert.deepEqual(mini.emailAddresses, []);
    const rid = firstRecipientId(envelopeFor(pki, file));
    assert.deepEqual(encode(TAG.SEQUENCE, Buffer.concat([mini.issuer, mini.serialNumber])), rid);
  });

  describe('refuses what is not a mini-certificate blob', () => {
    const refuses = (blob: Buffer, pattern: RegExp): void => {
      assert.throws(() => decodeMiniCertificates(blob), (e: unknown) => e instanceof MiniCertificateError && pattern.test(e.message));
    };
    let good: Buffer;
    let entry: Buffer[];
    before(() => {
      good = encodeMiniCertificates([alice]);
      const outer = readRoot(good);
      const first = children(good, outer)[0]!;
      entry = children(good, first).map((n) => bytes(good, n));
    });
    const rebuild = (fields: Buffer[]): Buffer => encode(TAG.SEQUENCE, encode(TAG.SEQUENCE, Buffer.concat(fields)));

    it('no certificates to encode', () => assert.throws(() => encodeMiniCertificates([]), MiniCertificateError));
    it('not DER', () => refuses(Buffer.from('not a blob'), /not a mini-certificate blob/));
    it('trailing bytes', () => refuses(Buffer.concat([good, Buffer.from([0])]), /trailing/));
    it('cut short', () => refuses(good.subarray(0, good.length - 1), /not a mini-certificate blob/));
    it('an empty list', () => refuses(encode(TAG.SEQUENCE, Buffer.alloc(0)), /no mini-certificate/));
    it('an unknown version', () => refuses(rebuild([encode(TAG.INTEGER, Buffer.from([2])), ...entry.slice(1)]), /unknown version/));
    it('a hash of the wrong length', () => refuses(rebuild([...entry.slice(0, 5), encode(TAG.OCTET_STRING, Buffer.alloc(20))]), /SHA-256/));
    it('optional fields out of order', () => refuses(rebuild([...entry.slice(0, 6), entry[7]!, entry[6]!]), /out of order/));
    it('a field it does not know', () => refuses(rebuild([...entry.slice(0, 7), encode(0x82, Buffer.from([1]))]), /unknown field/));
    it('a missing field', () => refuses(rebuild(entry.slice(0, 5)), /fields/));
    it('a notAfter that is not in DER form', () => refuses(rebuild([...entry.slice(0, 4), encode(TAG.GENERALIZED_TIME, Buffer.from('20300101000000.5Z')), ...entry.slice(5)]), /YYYYMMDDHHMMSSZ/));
  });
});
