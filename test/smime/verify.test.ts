// verifySmime against messages signed by the openssl CLI with the demo PKI
// and with throwaway CAs made in the test: every verdict reason, every signer
// algorithm, the MIME variants real clients send, nested layers.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { TrustStore } from '../../smime/trust.js';
import { DEFAULT_VERIFY_LIMITS, extractAddress, verifySmime, type VerifyOptions } from '../../smime/verify.js';
import { verdictHeader, type SmimeReason, type SmimeVerdict } from '../../smime/verdict.js';
import { crlf, demo, demoSigner, lf, openssl, signMessage, stamp, TestPki, type Signer } from './verify-pki.js';

const DEMO_ROOTS = [demo('contoso-root-ca.crt'), demo('fabrikam-root-ca.crt')];
const DEMO_CRLS = [demo('contoso-issuing.crl'), demo('contoso-root.crl'), demo('fabrikam-root.crl')];

function demoStore(o: { intermediates?: boolean; crls?: boolean } = {}): TrustStore {
  return TrustStore.from({
    roots: DEMO_ROOTS.map((f) => fs.readFileSync(f)),
    intermediates: o.intermediates === false ? [] : [fs.readFileSync(demo('contoso-issuing-ca.crt'))],
    crls: o.crls === false ? [] : DEMO_CRLS.map((f) => fs.readFileSync(f)),
  });
}

/** The verdict must survive storage as JSON unchanged. */
function roundTrips(v: SmimeVerdict): void {
  assert.deepEqual(JSON.parse(JSON.stringify(v)), v);
}

function errors(v: SmimeVerdict): SmimeReason[] {
  return [...new Set(v.problems.filter((p) => p.severity === 'error').map((p) => p.reason))];
}

function flipInBody(msg: Buffer, needle: string): Buffer {
  const at = msg.indexOf(needle);
  assert.ok(at > 0, `"${needle}" not found in the message`);
  const out = Buffer.from(msg);
  out[at] = out[at] === 0x48 ? 0x4a : 0x48; // H <-> J
  return out;
}

describe('smime/verify: verifySmime', function () {
  this.timeout(60000);
  let pki: TestPki;
  let store: TrustStore;
  let tstore: TrustStore; // the throwaway PKI, with its CRL
  const alice = demoSigner('alice-signing');
  const bob = demoSigner('bob-signing');
  let t: Record<string, Signer>;
  let tCrl: string;

  before(function () {
    this.timeout(120000);
    pki = new TestPki('easmime-verify-');
    store = demoStore();
    pki.root('troot', '/O=Verify Test/CN=Verify Test Root');
    pki.intermediate('troot', 'tissuing', '/O=Verify Test/CN=Verify Test Issuing');
    pki.root('evilroot', '/O=Verify Test/CN=Untrusted Root', pki.key('shared-rsa'));
    t = {
      good: pki.person('tissuing', 'good', 'good@verify.test'),
      ec256: pki.person('tissuing', 'ec256', 'ec256@verify.test', { keyType: 'ec256' }),
      ec384: pki.person('tissuing', 'ec384', 'ec384@verify.test', { keyType: 'ec384' }),
      expired: pki.person('tissuing', 'expired', 'old@verify.test', { start: stamp(-400), end: stamp(-10) }),
      future: pki.person('tissuing', 'future', 'future@verify.test', { start: stamp(30), end: stamp(400) }),
      kenc: pki.person('tissuing', 'kenc', 'kenc@verify.test', { ku: 'keyEncipherment' }),
      serverAuth: pki.person('tissuing', 'serverauth', 'tls@verify.test', { eku: 'serverAuth' }),
      revoked: pki.person('tissuing', 'revoked', 'revoked@verify.test'),
      untrusted: pki.person('evilroot', 'untrusted', 'good@verify.test'),
    };
    pki.revoke('tissuing', t.revoked!.cert);
    tCrl = pki.crl('tissuing');
    const rootCrl = pki.crl('troot');
    tstore = TrustStore.from({
      roots: [fs.readFileSync(pki.file('troot.crt'))],
      intermediates: [fs.readFileSync(pki.file('tissuing.crt'))],
      crls: [fs.readFileSync(tCrl), fs.readFileSync(rootCrl)],
    });
  });
  after(() => pki?.cleanup());

  const sign = (o: Parameters<typeof signMessage>[1]) => signMessage(pki.dir, o);

  describe('valid signatures', () => {
    it('openssl cms clear-signed by alice (demo PKI): every check passes', async () => {
      const msg = sign({ signers: [alice], from: 'Alice Anders <alice@contoso.test>', to: 'bob@contoso.test' });
      const v = await verifySmime(msg, { trust: store });
      roundTrips(v);
      assert.equal(v.kind, 'clear-signed');
      assert.equal(v.signed, true);
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.reasons, []);
      assert.equal(v.from, 'alice@contoso.test');
      assert.equal(v.signers.length, 1);
      const s = v.signers[0]!;
      assert.equal(s.valid, true);
      assert.equal(s.serial, '2001');
      assert.match(s.subject!, /CN=Alice Anders/);
      assert.match(s.issuer!, /CN=Contoso Demo Issuing CA/);
      assert.deepEqual(s.addresses, ['alice@contoso.test']);
      assert.deepEqual(s.algorithm, { digest: 'sha256', signature: 'rsa-pkcs1' });
      assert.ok(s.signingTime && Math.abs(Date.parse(s.signingTime) - Date.now()) < 600_000, 'signing time read');
      assert.deepEqual(s.chain.map((c) => c.serial), ['2001', '1002', '1001']);
      const fp = openssl(['x509', '-in', alice.cert, '-noout', '-fingerprint', '-sha256']).toString().split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
      assert.equal(s.chain[0]!.fingerprint256, fp);
      for (const [name, check] of Object.entries(s.checks)) assert.equal(check.status, 'pass', `${name}: ${check.detail}`);
      assert.equal(verdictHeader(v), 'pass; kind=clear-signed; signer=alice@contoso.test');
      assert.match(v.summary, /^valid signature by alice@contoso.test/);
    });

    it('openssl smime -sign: application/x-pkcs7-signature, quoted micalg', async () => {
      const msg = sign({ signers: [alice], tool: 'smime', from: 'alice@contoso.test' });
      assert.match(msg.toString('latin1'), /protocol="application\/x-pkcs7-signature"/);
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.kind, 'clear-signed');
      assert.equal(v.valid, true, v.summary);
    });

    it('unquoted micalg and unquoted protocol', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      const text = msg.toString('latin1').replace('micalg="sha-256"', 'micalg=sha-256').replace('protocol="application/pkcs7-signature"', 'protocol=application/pkcs7-signature');
      assert.match(text, /protocol=application\/pkcs7-signature; micalg=sha-256;/);
      const v = await verifySmime(Buffer.from(text, 'latin1'), { trust: store });
      assert.equal(v.valid, true, v.summary);
    });

    it('x-pkcs7-signature with unquoted micalg from openssl cms', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      const text = msg.toString('latin1').replace(/application\/pkcs7-signature/g, 'application/x-pkcs7-signature').replace('micalg="sha-256"', 'micalg=SHA-256');
      const v = await verifySmime(Buffer.from(text, 'latin1'), { trust: store });
      assert.equal(v.kind, 'clear-signed');
      assert.equal(v.valid, true, v.summary);
    });

    it('line ends: all CRLF and all LF (a Unix mail store) both verify', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      for (const variant of [crlf(msg), lf(msg)]) {
        const v = await verifySmime(variant, { trust: store });
        assert.equal(v.valid, true, v.summary);
        assert.equal(v.signers[0]!.checks.digest.status, 'pass');
      }
    });

    it('content signed with bare LF (-binary) verifies as received', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test', content: 'Content-Type: text/plain\n\nline one\nline two\n', binary: true });
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.valid, true, v.summary);
      assert.match(v.signers[0]!.checks.digest.detail, /as received/);
    });

    it('opaque signed-data (-nodetach)', async () => {
      const msg = sign({ signers: [alice], opaque: true, from: 'alice@contoso.test' });
      const v = await verifySmime(msg, { trust: store });
      roundTrips(v);
      assert.equal(v.kind, 'opaque-signed');
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.layers, [{ kind: 'opaque-signed', status: 'verified' }]);
    });

    it('old application/x-pkcs7-mime name for opaque signed-data', async () => {
      const msg = sign({ signers: [alice], opaque: true, from: 'alice@contoso.test', tool: 'smime' });
      assert.match(msg.toString('latin1'), /application\/x-pkcs7-mime/);
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.kind, 'opaque-signed');
      assert.equal(v.valid, true, v.summary);
    });

    for (const md of ['sha256', 'sha384', 'sha512']) {
      it(`digest ${md}`, async () => {
        const v = await verifySmime(sign({ signers: [alice], md, from: 'alice@contoso.test' }), { trust: store });
        assert.equal(v.valid, true, v.summary);
        assert.equal(v.signers[0]!.algorithm.digest, md);
      });
    }

    it('RSA-PSS (-keyopt rsa_padding_mode:pss)', async () => {
      const v = await verifySmime(sign({ signers: [alice], pss: true, md: 'sha384', from: 'alice@contoso.test' }), { trust: store });
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.signers[0]!.algorithm, { digest: 'sha384', signature: 'rsa-pss' });
    });

    it('ECDSA P-256 and P-384 (throwaway CA)', async () => {
      for (const [name, curve] of [['ec256', 'P-256'], ['ec384', 'P-384']] as const) {
        const v = await verifySmime(sign({ signers: [t[name]!], from: `${name}@verify.test`, md: curve === 'P-384' ? 'sha384' : 'sha256' }), { trust: tstore });
        assert.equal(v.valid, true, `${name}: ${v.summary}`);
        assert.equal(v.signers[0]!.algorithm.signature, `ecdsa-${curve}`);
        assert.equal(v.signers[0]!.chain.length, 3);
      }
    });
  });

  describe('reasons', () => {
    it('tampered: a byte of the signed body changed', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      const v = await verifySmime(flipInBody(msg, 'Hello from the test'), { trust: store });
      roundTrips(v);
      assert.equal(v.signed, true);
      assert.equal(v.valid, false);
      assert.deepEqual(v.reasons, ['tampered']);
      assert.equal(v.signers[0]!.checks.digest.status, 'fail');
      assert.equal(v.signers[0]!.checks.signature.status, 'pass', 'the signed attributes themselves are intact');
      assert.match(verdictHeader(v), /^fail; kind=clear-signed; signer=alice@contoso.test; reasons=tampered$/);
    });

    it('tampered: opaque content changed inside the CMS', async () => {
      const msg = sign({ signers: [alice], opaque: true, from: 'alice@contoso.test', content: 'Content-Type: text/plain\r\n\r\nHHHH pay 100 HHHH\r\n' });
      const body = msg.subarray(msg.indexOf('\n\n') + 2).toString('latin1');
      const der = Buffer.from(body, 'base64');
      const at = der.indexOf('pay 100');
      der[at + 4] = '9'.charCodeAt(0);
      const rebuilt = Buffer.concat([msg.subarray(0, msg.indexOf('\n\n') + 2), Buffer.from(der.toString('base64') + '\n')]);
      const v = await verifySmime(rebuilt, { trust: store });
      assert.equal(v.kind, 'opaque-signed');
      assert.deepEqual(v.reasons, ['tampered']);
    });

    it('tampered: signature value changed', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      const text = msg.toString('latin1');
      const sigStart = text.lastIndexOf('filename="smime.p7s"');
      // The last base64 line before the closing boundary holds the end of the signature value.
      const end = text.indexOf('\n\n------', sigStart);
      const chars = text.split('');
      const k = end - 10;
      chars[k] = chars[k] === 'A' ? 'B' : 'A';
      const v = await verifySmime(Buffer.from(chars.join(''), 'latin1'), { trust: store });
      assert.equal(v.valid, false);
      assert.deepEqual(v.reasons, ['tampered']);
      assert.equal(v.signers[0]!.checks.signature.status, 'fail');
    });

    it('untrusted-root: a CA the store does not know; and a self-signed signer', async () => {
      const v = await verifySmime(sign({ signers: [t.untrusted!], from: 'good@verify.test' }), { trust: tstore });
      roundTrips(v);
      assert.equal(v.valid, false);
      assert.deepEqual(errors(v), ['untrusted-root']);
      assert.equal(v.signers[0]!.checks.chain.status, 'fail');
      assert.equal(v.signers[0]!.checks.signature.status, 'pass');
      assert.equal(v.signers[0]!.checks.revocation.status, 'skipped');

      const self = pki.file('selfsigned.crt');
      openssl(['req', '-x509', '-key', pki.key('shared-rsa'), '-subj', '/CN=Self/emailAddress=self@verify.test', '-days', '2', '-addext', 'subjectAltName=email:self@verify.test', '-out', self]);
      const v2 = await verifySmime(sign({ signers: [{ cert: self, key: pki.key('shared-rsa') }], from: 'self@verify.test' }), { trust: tstore });
      assert.deepEqual(errors(v2), ['untrusted-root']);
      assert.match(v2.signers[0]!.checks.chain.detail, /self-signed/);
    });

    it('expired: past validity (and valid at signing but expired at the verification time)', async () => {
      const v = await verifySmime(sign({ signers: [t.expired!], from: 'old@verify.test' }), { trust: tstore });
      assert.equal(v.valid, false);
      assert.deepEqual(errors(v), ['expired']);
      assert.equal(v.signers[0]!.checks.validityNow.status, 'fail');
      assert.equal(v.signers[0]!.checks.validityAtSigning.status, 'fail');
      assert.equal(v.problems.filter((p) => p.reason === 'expired').length, 1, 'one certificate, one problem');

      const later = new Date(Date.now() + 20 * 365 * 86400_000);
      const v2 = await verifySmime(sign({ signers: [t.good!], from: 'good@verify.test' }), { trust: tstore, at: later });
      assert.equal(v2.signers[0]!.checks.validityAtSigning.status, 'pass');
      assert.equal(v2.signers[0]!.checks.validityNow.status, 'fail');
      assert.ok(errors(v2).includes('expired'));
      assert.equal(v2.checkedAt, later.toISOString());
    });

    it('not-yet-valid', async () => {
      const v = await verifySmime(sign({ signers: [t.future!], from: 'future@verify.test' }), { trust: tstore });
      assert.deepEqual(errors(v), ['not-yet-valid']);
    });

    it('revoked: a signing certificate in the CA\'s CRL', async () => {
      const v = await verifySmime(sign({ signers: [t.revoked!], from: 'revoked@verify.test' }), { trust: tstore });
      roundTrips(v);
      assert.equal(v.valid, false);
      assert.deepEqual(errors(v), ['revoked']);
      assert.equal(v.signers[0]!.checks.revocation.status, 'fail');
      assert.match(v.signers[0]!.checks.revocation.detail, /keyCompromise/);
      const p = v.problems.find((x) => x.reason === 'revoked')!;
      assert.equal(p.chainIndex, 0);
      assert.equal(p.signer, 0);
    });

    it('revocation-unknown: no CRL for the issuing CA is a warning by default, an error by policy', async () => {
      const noCrl = TrustStore.from({ roots: [fs.readFileSync(pki.file('troot.crt'))], intermediates: [fs.readFileSync(pki.file('tissuing.crt'))] });
      const msg = sign({ signers: [t.revoked!], from: 'revoked@verify.test' });
      const v = await verifySmime(msg, { trust: noCrl });
      assert.equal(v.valid, true, 'not failing open silently, but not failing either');
      assert.deepEqual(v.reasons, ['revocation-unknown']);
      assert.equal(v.signers[0]!.checks.revocation.status, 'unknown');
      assert.equal(v.problems.filter((p) => p.reason === 'revocation-unknown').length, 2, 'leaf and intermediate');
      const strict = await verifySmime(msg, { trust: noCrl, revocationUnknown: 'fail' });
      assert.equal(strict.valid, false);
      assert.deepEqual(errors(strict), ['revocation-unknown']);
      const off = await verifySmime(msg, { trust: noCrl, checkCrl: false });
      assert.equal(off.valid, true);
      assert.equal(off.signers[0]!.checks.revocation.status, 'skipped');
    });

    it('wrong-key-usage: a keyEncipherment-only certificate, and an EKU without emailProtection', async () => {
      const v = await verifySmime(sign({ signers: [t.kenc!], from: 'kenc@verify.test' }), { trust: tstore });
      assert.deepEqual(errors(v), ['wrong-key-usage']);
      assert.equal(v.signers[0]!.checks.keyUsage.status, 'fail');
      assert.equal(v.signers[0]!.checks.extendedKeyUsage.status, 'pass');
      const v2 = await verifySmime(sign({ signers: [t.serverAuth!], from: 'tls@verify.test' }), { trust: tstore });
      assert.deepEqual(errors(v2), ['wrong-key-usage']);
      assert.equal(v2.signers[0]!.checks.extendedKeyUsage.status, 'fail');
      // openssl's own S/MIME purpose check agrees.
      assert.throws(() => openssl(['verify', '-purpose', 'smimesign', '-CAfile', pki.file('troot.crt'), '-untrusted', pki.file('tissuing.crt'), t.kenc!.cert]));
    });

    it('signer-mismatch: From differs from the certificate; the from option overrides; null skips', async () => {
      const msg = sign({ signers: [alice], from: 'Bob <bob@contoso.test>' });
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.valid, false);
      assert.deepEqual(errors(v), ['signer-mismatch']);
      assert.match(v.signers[0]!.checks.signerMatchesFrom.detail, /bob@contoso.test.*alice@contoso.test/);
      const v2 = await verifySmime(msg, { trust: store, from: 'ALICE@Contoso.Test' });
      assert.equal(v2.valid, true, 'case-insensitive');
      const v3 = await verifySmime(msg, { trust: store, from: null });
      assert.equal(v3.valid, true);
      assert.equal(v3.signers[0]!.checks.signerMatchesFrom.status, 'skipped');
    });

    it('signer-mismatch: a quoted display name cannot smuggle an address', async () => {
      const msg = sign({ signers: [alice], from: '"<alice@contoso.test>" <mallory@evil.test>' });
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.from, 'mallory@evil.test');
      assert.deepEqual(errors(v), ['signer-mismatch']);
    });

    it('weak-algorithm: SHA-1 is a warning, or an error when policy refuses it', async () => {
      const msg = sign({ signers: [alice], md: 'sha1', from: 'alice@contoso.test' });
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.reasons, ['weak-algorithm']);
      assert.equal(v.problems[0]!.severity, 'warning');
      assert.match(v.summary, /warnings: weak-algorithm/);
      const strict = await verifySmime(msg, { trust: store, allowSha1: false });
      assert.equal(strict.valid, false);
      assert.deepEqual(errors(strict), ['weak-algorithm']);
    });

    it('no-signers: a signature part without SignerInfo', async () => {
      const bag = openssl(['crl2pkcs7', '-nocrl', '-certfile', alice.cert, '-outform', 'DER']);
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      const text = msg.toString('latin1');
      const b64Start = text.indexOf('\n\n', text.lastIndexOf('filename="smime.p7s"')) + 2;
      const b64End = text.indexOf('\n\n', b64Start);
      const swapped = text.slice(0, b64Start) + bag.toString('base64').replace(/.{64}/g, '$&\n') + text.slice(b64End);
      const v = await verifySmime(Buffer.from(swapped, 'latin1'), { trust: store });
      assert.equal(v.signed, true);
      assert.equal(v.valid, false);
      assert.deepEqual(v.reasons, ['no-signers']);
    });

    it('signer-certificate-missing: no certificate in the message; found through the options or the store', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test', extra: ['-nocerts'] });
      const v = await verifySmime(msg, { trust: store });
      assert.deepEqual(errors(v), ['signer-certificate-missing']);
      assert.equal(v.signers[0]!.subject, null);
      assert.equal(v.signers[0]!.signerId.serial, '2001');
      const v2 = await verifySmime(msg, { trust: store, signerCertificates: [openssl(['x509', '-in', alice.cert, '-outform', 'DER'])] });
      assert.equal(v2.valid, true, v2.summary);
      const withKnown = TrustStore.from({
        roots: DEMO_ROOTS.map((f) => fs.readFileSync(f)),
        intermediates: [fs.readFileSync(demo('contoso-issuing-ca.crt'))],
        crls: DEMO_CRLS.map((f) => fs.readFileSync(f)),
        certificates: [fs.readFileSync(alice.cert)],
      });
      const v3 = await verifySmime(msg, { trust: withKnown });
      assert.equal(v3.valid, true, v3.summary);
    });
  });

  describe('several signers', () => {
    it('two good signers with different addresses: one matches From, the other is only a warning', async () => {
      const v = await verifySmime(sign({ signers: [alice, bob], from: 'alice@contoso.test' }), { trust: store });
      roundTrips(v);
      assert.equal(v.signers.length, 2);
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.reasons, ['signer-mismatch']);
      assert.equal(v.problems[0]!.severity, 'warning');
      assert.deepEqual(v.signers.map((s) => s.addresses[0]).sort(), ['alice@contoso.test', 'bob@contoso.test']);
    });

    it('one good, one untrusted: invalid by default, valid under signerPolicy any', async () => {
      const msg = sign({ signers: [t.good!, t.untrusted!], from: 'good@verify.test' });
      const v = await verifySmime(msg, { trust: tstore });
      assert.equal(v.valid, false);
      // SignerInfos are a DER SET: their order is the encoding's, not the command line's.
      const good = v.signers.find((s) => s.subject?.includes('CN=good,'))!;
      const bad = v.signers.find((s) => s.subject?.includes('CN=untrusted,'))!;
      assert.equal(good.valid, true);
      assert.deepEqual(good.reasons, []);
      assert.equal(bad.valid, false);
      assert.deepEqual(bad.reasons, ['untrusted-root']);
      const any = await verifySmime(msg, { trust: tstore, signerPolicy: 'any' });
      assert.equal(any.valid, true);
      assert.ok(any.reasons.includes('untrusted-root'), 'the bad signer is still reported');
    });

    it('more signers than the limit is malformed; the first ones are still checked', async () => {
      const msg = sign({ signers: [alice, bob], from: 'alice@contoso.test' });
      const v = await verifySmime(msg, { trust: store, limits: { maxSigners: 1 } });
      assert.equal(v.valid, false);
      assert.equal(v.signers.length, 1);
      assert.ok(v.reasons.includes('malformed'));
      assert.match(v.problems.find((p) => p.reason === 'malformed')!.detail, /2 signers exceed the limit of 1/);
    });
  });

  describe('intermediates', () => {
    it('from the message (store without the intermediate)', async () => {
      const rootOnly = TrustStore.from({ roots: [fs.readFileSync(pki.file('troot.crt'))], crls: [fs.readFileSync(tCrl)] });
      const withChain = sign({ signers: [t.good!], from: 'good@verify.test', certfile: pki.file('tissuing.crt') });
      const v = await verifySmime(withChain, { trust: rootOnly });
      assert.equal(v.valid, true, v.summary);
      assert.equal(v.signers[0]!.chain.length, 3);
      const without = sign({ signers: [t.good!], from: 'good@verify.test' });
      const v2 = await verifySmime(without, { trust: rootOnly });
      assert.deepEqual(errors(v2), ['untrusted-root']);
      assert.match(v2.signers[0]!.checks.chain.detail, /Verify Test Issuing/);
    });

    it('from the store (message carries the signer only)', async () => {
      const v = await verifySmime(sign({ signers: [t.good!], from: 'good@verify.test' }), { trust: tstore });
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.signers[0]!.chain.map((c) => /CN=[^,]+/.exec(c.subject)![0]), ['CN=good', 'CN=Verify Test Issuing', 'CN=Verify Test Root']);
    });

    it('a message bag with an unrelated CA and an encryption certificate first (the pkijs leaf-order trap)', async () => {
      const bag = pki.file('bag.pem');
      fs.writeFileSync(bag, [fs.readFileSync(demo('users/alice-encryption-2024.crt')), fs.readFileSync(demo('contoso-issuing-ca.crt')), fs.readFileSync(demo('fabrikam-root-ca.crt'))].join(''));
      const v = await verifySmime(sign({ signers: [alice], from: 'alice@contoso.test', certfile: bag }), { trust: store });
      assert.equal(v.valid, true, v.summary);
      assert.equal(v.signers[0]!.serial, '2001', 'the signer is the SignerInfo\'s certificate, not the last of the bag');
    });

    it('a path longer than maxChainLength is not trusted', async () => {
      const v = await verifySmime(sign({ signers: [t.good!], from: 'good@verify.test' }), { trust: tstore, limits: { maxChainLength: 2 } });
      assert.deepEqual(errors(v), ['untrusted-root']);
      assert.match(v.signers[0]!.checks.chain.detail, /longer than 2/);
    });
  });

  describe('layers', () => {
    it('enveloped: reported as encrypted, not opened without a key', async () => {
      const input = pki.file('plain.txt');
      fs.writeFileSync(input, 'Content-Type: text/plain\r\n\r\nsecret\r\n');
      const msg = openssl(['cms', '-encrypt', '-in', input, '-aes-256-cbc', '-from', 'alice@contoso.test', '-subject', 'enc', demo('users/bob-encryption.crt')]);
      const v = await verifySmime(msg, { trust: store });
      roundTrips(v);
      assert.equal(v.kind, 'enveloped');
      assert.equal(v.signed, false);
      assert.equal(v.valid, false);
      assert.deepEqual(v.reasons, ['encrypted']);
      assert.deepEqual(v.layers.map((l) => [l.kind, l.status]), [['enveloped', 'not-opened']]);
      assert.equal(v.summary, 'encrypted: content not verified');
    });

    it('signed then encrypted: the decrypt hook opens it and the inner signature is verified', async () => {
      const signed = sign({ signers: [alice], from: 'alice@contoso.test' });
      const signedFile = pki.file('signed.eml');
      fs.writeFileSync(signedFile, signed);
      const enc = openssl(['cms', '-encrypt', '-in', signedFile, '-aes-256-cbc', '-from', 'alice@contoso.test', '-subject', 'sig+enc', demo('users/bob-encryption.crt')]);
      const hook: VerifyOptions['decrypt'] = (req) => {
        assert.equal(req.kind, 'enveloped');
        assert.ok(req.cms && req.cms[0] === 0x30);
        const f = pki.file('enc-in.eml');
        fs.writeFileSync(f, req.entity);
        return openssl(['cms', '-decrypt', '-in', f, '-inkey', demo('keys/bob-encryption.key'), '-recip', demo('users/bob-encryption.crt')]);
      };
      const v = await verifySmime(enc, { trust: store, decrypt: hook });
      roundTrips(v);
      assert.equal(v.kind, 'enveloped');
      assert.equal(v.valid, true, v.summary);
      assert.deepEqual(v.layers.map((l) => [l.kind, l.status]), [['enveloped', 'decrypted'], ['clear-signed', 'verified']]);
      assert.equal(v.signers[0]!.layer, 1);
      // A hook without the key: reported, not thrown.
      const v2 = await verifySmime(enc, { trust: store, decrypt: () => null });
      assert.deepEqual(v2.reasons, ['encrypted']);
      const v3 = await verifySmime(enc, { trust: store, decrypt: () => { throw new Error('no such key'); } });
      assert.deepEqual(v3.reasons, ['encrypted']);
      assert.match(v3.layers[0]!.detail!, /no such key/);
    });

    it('triple-wrapped (signed, encrypted, signed): outer verified, inner reported as encrypted; with the hook all layers', async () => {
      const inner = sign({ signers: [alice], from: 'alice@contoso.test' });
      const innerFile = pki.file('inner.eml');
      fs.writeFileSync(innerFile, inner);
      const enc = openssl(['cms', '-encrypt', '-in', innerFile, '-aes-128-cbc', demo('users/bob-encryption.crt')]);
      const encFile = pki.file('enc.eml');
      fs.writeFileSync(encFile, enc);
      const outer = openssl(['cms', '-sign', '-in', encFile, '-signer', bob.cert, '-inkey', bob.key, '-from', 'alice@contoso.test', '-subject', 'triple']);
      const v = await verifySmime(outer, { trust: store });
      roundTrips(v);
      assert.equal(v.kind, 'clear-signed');
      assert.deepEqual(v.layers.map((l) => [l.kind, l.status]), [['clear-signed', 'verified'], ['enveloped', 'not-opened']]);
      assert.ok(v.reasons.includes('encrypted'));
      assert.equal(v.signers.length, 1);
      const v2 = await verifySmime(outer, {
        trust: store,
        decrypt: (req) => {
          const f = pki.file('triple-in.eml');
          fs.writeFileSync(f, req.entity);
          return openssl(['cms', '-decrypt', '-in', f, '-inkey', demo('keys/bob-encryption.key')]);
        },
      });
      assert.deepEqual(v2.layers.map((l) => [l.kind, l.status]), [['clear-signed', 'verified'], ['enveloped', 'decrypted'], ['clear-signed', 'verified']]);
      assert.equal(v2.signers.length, 2);
      assert.deepEqual(v2.signers.map((s) => [s.layer, s.addresses[0], s.checks.signature.status]), [[0, 'bob@contoso.test', 'pass'], [2, 'alice@contoso.test', 'pass']]);
      assert.equal(v2.valid, true, v2.summary);
    });

    it('opaque inside clear-signed: both layers verified', async () => {
      const opaque = sign({ signers: [alice], opaque: true, from: 'alice@contoso.test' });
      const f = pki.file('opaque.eml');
      fs.writeFileSync(f, opaque.toString('latin1').replace(/^(From|To|Subject):[^\n]*\n/gm, ''));
      const outer = openssl(['cms', '-sign', '-in', f, '-signer', alice.cert, '-inkey', alice.key, '-from', 'alice@contoso.test', '-subject', 'nested']);
      const v = await verifySmime(outer, { trust: store });
      assert.deepEqual(v.layers.map((l) => l.kind), ['clear-signed', 'opaque-signed']);
      assert.equal(v.signers.length, 2);
      assert.equal(v.valid, true, v.summary);
    });

    it('nesting deeper than the limit is malformed', async () => {
      let msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      for (let i = 0; i < 2; i++) {
        const f = pki.file(`nest-${i}.eml`);
        fs.writeFileSync(f, msg.toString('latin1').replace(/^(From|To|Subject|MIME-Version):[^\n]*\n/gm, ''));
        msg = openssl(['cms', '-sign', '-in', f, '-signer', alice.cert, '-inkey', alice.key, '-from', 'alice@contoso.test', '-subject', 'n']);
      }
      const ok = await verifySmime(msg, { trust: store });
      assert.equal(ok.layers.length, 3);
      assert.equal(ok.valid, true, ok.summary);
      const deep = await verifySmime(msg, { trust: store, limits: { maxDepth: 2 } });
      assert.equal(deep.valid, false);
      assert.match(deep.problems.find((p) => p.reason === 'malformed')!.detail, /deeper than 2/);
    });

    it('certs-only and plain messages are not signed', async () => {
      const bag = openssl(['crl2pkcs7', '-nocrl', '-certfile', alice.cert, '-outform', 'DER']);
      const msg = Buffer.from(`From: a@b\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only; name=smime.p7c\r\nContent-Transfer-Encoding: base64\r\n\r\n${bag.toString('base64')}\r\n`);
      const v = await verifySmime(msg, { trust: store });
      assert.equal(v.kind, 'certs-only');
      assert.equal(v.signed, false);
      assert.deepEqual(v.reasons, []);
      const plain = await verifySmime(Buffer.from('From: a@b\r\nSubject: hi\r\n\r\nhello\r\n'), { trust: store });
      assert.deepEqual([plain.kind, plain.signed, plain.valid, plain.reasons, plain.summary], ['none', false, false, [], 'not signed']);
      assert.equal(verdictHeader(plain), 'none');
    });

    it('compressed-data (zlib) is opened and the signature inside verified', async () => {
      const zlib = await import('node:zlib');
      const signed = sign({ signers: [alice], from: 'alice@contoso.test' });
      const inner = signed.toString('latin1').replace(/^(From|To|Subject|MIME-Version):[^\n]*\n/gm, '');
      const compressed = zlib.deflateSync(Buffer.from(inner, 'latin1'));
      // CompressedData built by hand (openssl here has no zlib): the DER is small and fixed.
      const enc = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), lenOf(body.length), body]);
      const lenOf = (n: number) => (n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]));
      const oid = (hex: string) => enc(0x06, Buffer.from(hex, 'hex'));
      const cd = enc(0x30, Buffer.concat([
        enc(0x02, Buffer.from([0])),
        enc(0x30, oid('2a864886f70d0109100308')),
        enc(0x30, Buffer.concat([oid('2a864886f70d010701'), enc(0xa0, enc(0x04, compressed))])),
      ]));
      const ci = enc(0x30, Buffer.concat([oid('2a864886f70d0109100109'), enc(0xa0, cd)]));
      const msg = Buffer.from(`From: alice@contoso.test\r\nContent-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\r\nContent-Transfer-Encoding: base64\r\n\r\n${ci.toString('base64')}\r\n`);
      const v = await verifySmime(msg, { trust: store });
      assert.deepEqual(v.layers.map((l) => [l.kind, l.status]), [['compressed', 'decompressed'], ['clear-signed', 'verified']]);
      assert.equal(v.valid, true, v.summary);
      const tiny = await verifySmime(msg, { trust: store, limits: { maxDecompressedBytes: 100 } });
      assert.deepEqual(tiny.reasons, ['malformed']);
    });
  });

  describe('malformed input never throws', () => {
    const cases: Array<[string, () => Buffer | unknown]> = [
      ['garbage signature part', () => Buffer.from(signMessage(pki.dir, { signers: [demoSigner('alice-signing')] }).toString('latin1').replace(/filename="smime.p7s"\n\n[A-Za-z0-9+/=\n]+/, 'filename="smime.p7s"\n\nTm90IGEgc2lnbmF0dXJl\n'), 'latin1')],
      ['truncated base64', () => {
        const text = signMessage(pki.dir, { signers: [demoSigner('alice-signing')] }).toString('latin1');
        const start = text.indexOf('\n\n', text.lastIndexOf('smime.p7s')) + 2;
        return Buffer.from(text.slice(0, start + 300) + '\n\n------x--\n', 'latin1');
      }],
      ['multipart/signed with one part', () => Buffer.from('Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n')],
      ['multipart/signed without boundary', () => Buffer.from('Content-Type: multipart/signed; protocol="application/pkcs7-signature"\r\n\r\nhi\r\n')],
      ['pkcs7-mime with garbage', () => Buffer.from('Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!not base64!!!!\r\n')],
      ['empty input', () => Buffer.alloc(0)],
      ['not a buffer', () => 'a string' as unknown],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const v = await verifySmime(make() as Buffer, { trust: store });
        roundTrips(v);
        assert.equal(v.valid, false);
        if (name !== 'empty input') assert.ok(v.reasons.includes('malformed'), `${name}: ${JSON.stringify(v.problems)}`);
      });
    }

    it('absurd size: refused before any parsing', async () => {
      const msg = sign({ signers: [alice], from: 'alice@contoso.test' });
      const v = await verifySmime(msg, { trust: store, limits: { maxMessageBytes: 100 } });
      assert.deepEqual(v.reasons, ['malformed']);
      assert.match(v.problems[0]!.detail, /exceeds the limit of 100/);
      assert.equal(DEFAULT_VERIFY_LIMITS.maxSigners, 16);
      assert.equal(DEFAULT_VERIFY_LIMITS.maxChainLength, 8);
      assert.equal(DEFAULT_VERIFY_LIMITS.maxCertificates, 64);
    });

    it('more certificates than the limit is malformed', async () => {
      const v = await verifySmime(sign({ signers: [alice], from: 'alice@contoso.test', certfile: demo('users/bob-signing.crt') }), { trust: store, limits: { maxCertificates: 1 } });
      assert.ok(v.reasons.includes('malformed'));
      assert.equal(v.valid, false);
    });
  });

  describe('extractAddress', () => {
    const cases: Array<[string, string | null]> = [
      ['alice@contoso.test', 'alice@contoso.test'],
      ['Alice <ALICE@Contoso.Test>', 'alice@contoso.test'],
      ['"Anders, Alice" <alice@contoso.test>', 'alice@contoso.test'],
      ['"x@evil.test" <alice@contoso.test>', 'alice@contoso.test'],
      ['alice@contoso.test (Alice Anders)', 'alice@contoso.test'],
      ['(comment <x@evil.test>) alice@contoso.test', 'alice@contoso.test'],
      ['=?utf-8?q?Alice?= <alice@contoso.test>', 'alice@contoso.test'],
      ['undisclosed', null],
    ];
    for (const [input, want] of cases) it(JSON.stringify(input), () => assert.equal(extractAddress(input), want));
  });

  it('the checks of gpgsm-style messages live in verify-gpgsm.test.ts; openssl agrees with our valid verdicts', () => {
    // Independent cross-check: openssl verifies the demo signature with the same roots.
    const msg = signMessage(pki.dir, { signers: [alice], from: 'alice@contoso.test' });
    const f = pki.file('cross.eml');
    fs.writeFileSync(f, msg);
    const ca = pki.file('demo-ca.pem');
    fs.writeFileSync(ca, fs.readFileSync(demo('contoso-root-ca.crt')).toString() + fs.readFileSync(demo('contoso-issuing-ca.crt')).toString());
    execFileSync('openssl', ['cms', '-verify', '-in', f, '-CAfile', ca, '-out', '/dev/null'], { stdio: 'pipe' });
  });
});
