// TrustStore and validateCertificate (EAS ValidateCert, the
// encryption-recipient-availability check) with the demo PKI and throwaway
// CAs made by openssl in the test.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { parseCertificate } from '../../smime/certificate.js';
import { TrustStore, TrustStoreError, validateCertificate, type CertificateValidation } from '../../smime/trust.js';
import { certDer, demo, openssl, stamp, TestPki } from './verify-pki.js';

const read = (f: string) => fs.readFileSync(f);

function demoStore(o: { crls?: boolean; intermediates?: boolean; fabrikam?: boolean } = {}): TrustStore {
  return TrustStore.from({
    roots: [read(demo('contoso-root-ca.crt')), ...(o.fabrikam === false ? [] : [read(demo('fabrikam-root-ca.crt'))])],
    intermediates: o.intermediates === false ? [] : [read(demo('contoso-issuing-ca.crt'))],
    crls: o.crls === false ? [] : [read(demo('contoso-issuing.crl')), read(demo('contoso-root.crl')), read(demo('fabrikam-root.crl'))],
  });
}

function errors(r: CertificateValidation): string[] {
  return [...new Set(r.problems.filter((p) => p.severity === 'error').map((p) => p.reason))];
}

const NOW = new Date('2026-06-01T00:00:00Z');

describe('smime/trust', function () {
  this.timeout(60000);
  let store: TrustStore;
  let pki: TestPki;

  before(function () {
    this.timeout(120000);
    store = demoStore();
    pki = new TestPki('easmime-trust-');
  });
  after(() => pki?.cleanup());

  describe('validateCertificate with the demo PKI', () => {
    it('alice-signing for signing: valid, full path, not revoked', async () => {
      const r = await validateCertificate(read(demo('users/alice-signing.crt')), { trust: store, purpose: 'signing', checkCrl: true, at: NOW });
      assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
      assert.equal(r.valid, true);
      assert.deepEqual(r.reasons, []);
      assert.deepEqual(r.chain.map((c) => c.serial), ['2001', '1002', '1001']);
      for (const [k, c] of Object.entries(r.checks)) assert.ok(c.status === 'pass' || (k === 'address' && c.status === 'skipped'), `${k}: ${c.detail}`);
      assert.deepEqual(r.certificate!.addresses, ['alice@contoso.test']);
    });

    it('a signing certificate is not an encryption certificate', async () => {
      const r = await validateCertificate(read(demo('users/alice-signing.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: NOW });
      assert.equal(r.valid, false);
      assert.deepEqual(errors(r), ['wrong-key-usage']);
      assert.match(r.checks.keyUsage.detail, /keyEncipherment or keyAgreement/);
    });

    it('bob-encryption for encryption: valid; for signing: wrong-key-usage', async () => {
      const enc = await validateCertificate(read(demo('users/bob-encryption.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: NOW, address: 'Bob@Contoso.test' });
      assert.equal(enc.valid, true);
      assert.equal(enc.checks.address.status, 'pass');
      const sig = await validateCertificate(read(demo('users/bob-encryption.crt')), { trust: store, purpose: 'signing', checkCrl: true, at: NOW });
      assert.deepEqual(errors(sig), ['wrong-key-usage']);
    });

    it('carol-encryption is revoked by contoso-issuing.crl (keyCompromise, 2025-06-01)', async () => {
      const r = await validateCertificate(read(demo('users/carol-encryption.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: NOW });
      assert.equal(r.valid, false);
      assert.deepEqual(errors(r), ['revoked']);
      assert.equal(r.checks.revocation.status, 'fail');
      assert.match(r.checks.revocation.detail, /2025-06-01.*keyCompromise/);
      assert.equal(r.problems.find((p) => p.reason === 'revoked')!.chainIndex, 0);
      // Before the revocation date it was good.
      const before = await validateCertificate(read(demo('users/carol-encryption.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: new Date('2025-05-01T00:00:00Z') });
      assert.equal(before.valid, true);
      // carol's signing certificate is not revoked.
      const signing = await validateCertificate(read(demo('users/carol-signing.crt')), { trust: store, purpose: 'signing', checkCrl: true, at: NOW });
      assert.equal(signing.valid, true);
    });

    it('alice-encryption-2021 is expired now and was valid in 2022', async () => {
      const r = await validateCertificate(read(demo('users/alice-encryption-2021.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: NOW });
      assert.deepEqual(errors(r), ['expired']);
      assert.equal(r.checks.validity.status, 'fail');
      const then = await validateCertificate(read(demo('users/alice-encryption-2021.crt')), { trust: store, purpose: 'encryption', checkCrl: false, at: new Date('2022-01-01T00:00:00Z') });
      assert.equal(then.valid, true);
      assert.equal(then.checks.revocation.status, 'skipped');
    });

    it('erin (Fabrikam, an external contact) chains to the Fabrikam root; the address must match', async () => {
      const ok = await validateCertificate(read(demo('external/erin-encryption.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: NOW, address: 'erin@fabrikam.test' });
      assert.equal(ok.valid, true);
      assert.equal(ok.chain.length, 2);
      const wrong = await validateCertificate(read(demo('external/erin-encryption.crt')), { trust: store, purpose: 'encryption', checkCrl: true, at: NOW, address: 'alice@contoso.test' });
      assert.deepEqual(errors(wrong), ['address-mismatch']);
      assert.equal(wrong.checks.address.status, 'fail');
      const noFabrikam = await validateCertificate(read(demo('external/erin-encryption.crt')), { trust: demoStore({ fabrikam: false }), purpose: 'encryption', checkCrl: true, at: NOW });
      assert.deepEqual(errors(noFabrikam), ['untrusted-root']);
    });

    it('no CRLs: revocation-unknown is a warning by default, an error on request', async () => {
      const noCrl = demoStore({ crls: false });
      const r = await validateCertificate(read(demo('users/carol-encryption.crt')), { trust: noCrl, purpose: 'encryption', checkCrl: true, at: NOW });
      assert.equal(r.valid, true);
      assert.deepEqual(r.reasons, ['revocation-unknown']);
      assert.equal(r.checks.revocation.status, 'unknown');
      assert.match(r.checks.revocation.detail, /no CRL from CN=Contoso Demo Issuing CA/);
      const strict = await validateCertificate(read(demo('users/carol-encryption.crt')), { trust: noCrl, purpose: 'encryption', checkCrl: true, at: NOW, revocationUnknown: 'fail' });
      assert.equal(strict.valid, false);
    });

    it('intermediates given by the caller (an EAS request) complete the path', async () => {
      const rootOnly = demoStore({ intermediates: false });
      const without = await validateCertificate(read(demo('users/bob-signing.crt')), { trust: rootOnly, purpose: 'signing', checkCrl: true, at: NOW });
      assert.deepEqual(errors(without), ['untrusted-root']);
      const withIt = await validateCertificate(read(demo('users/bob-signing.crt')), { trust: rootOnly, purpose: 'signing', checkCrl: true, at: NOW, intermediates: [read(demo('contoso-issuing-ca.crt'))] });
      assert.equal(withIt.valid, true);
    });

    it('DER and PEM input; unreadable input is malformed, never a throw', async () => {
      const der = certDer(demo('users/dave-signing.crt'));
      assert.equal((await validateCertificate(der, { trust: store, purpose: 'signing', checkCrl: true, at: NOW })).valid, true);
      assert.equal((await validateCertificate(der.toString('base64'), { trust: store, purpose: 'signing', checkCrl: true, at: NOW })).valid, true, 'base64 DER, as EAS carries it');
      for (const bad of [Buffer.alloc(0), Buffer.from('garbage'), der.subarray(0, 100), fs.readFileSync(demo('contoso-root-ca.crt'), 'latin1') + fs.readFileSync(demo('contoso-issuing-ca.crt'), 'latin1')]) {
        const r = await validateCertificate(bad, { trust: store, purpose: 'signing', checkCrl: true, at: NOW });
        assert.equal(r.valid, false);
        assert.deepEqual(r.reasons, ['malformed']);
        assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
      }
    });

    it('a trust anchor validated directly has no revocation to check', async () => {
      const r = await validateCertificate(read(demo('contoso-root-ca.crt')), { trust: store, purpose: 'signing', checkCrl: true, at: NOW });
      assert.equal(r.checks.chain.status, 'pass');
      assert.equal(r.checks.revocation.status, 'skipped');
      assert.deepEqual(errors(r), ['wrong-key-usage'], 'a CA key is not a signing key');
    });
  });

  describe('path building and constraints (throwaway CAs)', () => {
    let tstore: TrustStore;
    before(function () {
      this.timeout(120000);
      pki.root('root', '/O=Trust Test/CN=Trust Test Root');
      pki.intermediate('root', 'sub', '/O=Trust Test/CN=Trust Test Sub', undefined, ['basicConstraints = critical,CA:TRUE,pathlen:0']);
      tstore = TrustStore.from({ roots: [read(pki.file('root.crt'))], intermediates: [read(pki.file('sub.crt'))], crls: [read(pki.crl('root')), read(pki.crl('sub'))] });
    });

    it('a certificate issued by a non-CA is chain-invalid', async () => {
      const leaf = pki.person('sub', 'notaca', 'notaca@trust.test');
      const victim = pki.file('victim.crt');
      openssl(['req', '-new', '-key', pki.key('shared-rsa'), '-subj', '/CN=victim/emailAddress=victim@trust.test', '-out', pki.file('victim.csr')]);
      fs.writeFileSync(pki.file('victim.ext'), '[ext]\nkeyUsage=critical,digitalSignature\nsubjectAltName=email:victim@trust.test\n');
      openssl(['x509', '-req', '-in', pki.file('victim.csr'), '-CA', leaf.cert, '-CAkey', leaf.key, '-CAcreateserial', '-days', '2', '-extfile', pki.file('victim.ext'), '-extensions', 'ext', '-out', victim]);
      const r = await validateCertificate(read(victim), { trust: tstore, purpose: 'signing', checkCrl: false, intermediates: [read(leaf.cert)] });
      assert.deepEqual(errors(r), ['chain-invalid']);
      assert.match(r.checks.chain.detail, /not a CA/);
    });

    it('pathlen:0 forbids a CA below the sub CA', async () => {
      const subsub = pki.intermediate('sub', 'subsub', '/O=Trust Test/CN=Trust Test SubSub');
      const leaf = pki.person('subsub', 'deep', 'deep@trust.test');
      const r = await validateCertificate(read(leaf.cert), { trust: tstore, purpose: 'signing', checkCrl: false, intermediates: [read(subsub.cert)] });
      assert.deepEqual(errors(r), ['chain-invalid']);
      assert.match(r.checks.chain.detail, /allows 0 CA\(s\) below it, found 1/);
    });

    it('a forged CRL (same issuer name, another key) is ignored', async () => {
      const leaf = pki.person('sub', 'forgedtarget', 'target@trust.test');
      // A rogue CA with the very same name as the sub CA revokes the leaf.
      pki.root('rogue', '/O=Trust Test/CN=Trust Test Sub');
      fs.writeFileSync(pki.file('db-rogue/index.txt'), '');
      const rogueCrlTarget = leaf.cert;
      // openssl ca -revoke needs the certificate in the rogue database: add it by hand.
      const serial = openssl(['x509', '-in', rogueCrlTarget, '-noout', '-serial']).toString().trim().split('=')[1]!;
      const subject = openssl(['x509', '-in', rogueCrlTarget, '-noout', '-subject', '-nameopt', 'compat']).toString().trim().replace(/^subject=/, '');
      fs.writeFileSync(pki.file('db-rogue/index.txt'), `R\t${stamp(100).slice(2)}\t${stamp(-1).slice(2)},keyCompromise\t${serial}\tunknown\t${subject}\n`);
      const forged = pki.crl('rogue');
      const withForged = TrustStore.from({ roots: [read(pki.file('root.crt'))], intermediates: [read(pki.file('sub.crt'))], crls: [read(forged)] });
      const r = await validateCertificate(read(leaf.cert), { trust: withForged, purpose: 'signing', checkCrl: true });
      assert.ok(!r.reasons.includes('revoked'), JSON.stringify(r.problems));
      assert.equal(r.checks.revocation.status, 'unknown');
      assert.match(r.checks.revocation.detail, /signature does not verify|authority key identifier differs/);
    });

    it('an expired CRL leaves the status unknown', async () => {
      const leaf = pki.person('sub', 'stale', 'stale@trust.test');
      const shortCrl = pki.crl('sub', { hours: 1 });
      const s = TrustStore.from({ roots: [read(pki.file('root.crt'))], intermediates: [read(pki.file('sub.crt'))], crls: [read(shortCrl), read(pki.crl('root'))] });
      const now = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'signing', checkCrl: true });
      assert.equal(now.checks.revocation.status, 'pass');
      const later = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'signing', checkCrl: true, at: new Date(Date.now() + 3 * 3600_000) });
      assert.equal(later.checks.revocation.status, 'unknown');
      assert.match(later.checks.revocation.detail, /expired on/);
    });

    it('a revoked intermediate revokes the path', async () => {
      const mid = pki.intermediate('root', 'mid', '/O=Trust Test/CN=Trust Test Mid');
      const leaf = pki.person('mid', 'undermid', 'undermid@trust.test');
      pki.revoke('root', mid.cert, 'cACompromise');
      const s = TrustStore.from({ roots: [read(pki.file('root.crt'))], intermediates: [read(mid.cert)], crls: [read(pki.crl('root')), read(pki.crl('mid'))] });
      const r = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'signing', checkCrl: true });
      assert.deepEqual(errors(r), ['revoked']);
      assert.equal(r.problems.find((p) => p.reason === 'revoked')!.chainIndex, 1);
      assert.match(r.checks.revocation.detail, /cACompromise/);
    });

    it('several issuer candidates: the one whose key signed the certificate wins', async () => {
      // A second CA with the sub CA's name but another key, listed first.
      const impostor = pki.root('impostor', '/O=Trust Test/CN=Trust Test Sub');
      const leaf = pki.person('sub', 'rightissuer', 'right@trust.test');
      const s = TrustStore.from({ roots: [read(pki.file('root.crt')), read(impostor.cert)], intermediates: [read(pki.file('sub.crt'))] });
      const r = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'signing', checkCrl: false });
      assert.equal(r.valid, true, JSON.stringify(r.problems));
      assert.equal(r.chain.length, 3);
    });

    it('validated paths are cached (and the cache does not change answers)', async () => {
      const leaf = pki.person('sub', 'cached', 'cached@trust.test');
      const s = TrustStore.from({ roots: [read(pki.file('root.crt'))], intermediates: [read(pki.file('sub.crt'))] });
      const first = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'signing', checkCrl: false });
      const before = s.stats();
      const second = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'signing', checkCrl: false });
      assert.deepEqual(second, first);
      assert.equal(s.stats().pathHits, before.pathHits + 1);
      const enc = await validateCertificate(read(leaf.cert), { trust: s, purpose: 'encryption', checkCrl: false });
      assert.deepEqual(errors(enc), ['wrong-key-usage'], 'purpose is not part of the cached path');
    });
  });

  describe('TrustStore.from', () => {
    it('accepts PEM bundles and DER; it is immutable', () => {
      const bundle = fs.readFileSync(demo('contoso-root-ca.crt'), 'latin1') + fs.readFileSync(demo('fabrikam-root-ca.crt'), 'latin1');
      const s = TrustStore.from({ roots: [bundle], intermediates: [certDer(demo('contoso-issuing-ca.crt'))], crls: [read(demo('contoso-issuing.crl')), openssl(['crl', '-in', demo('contoso-root.crl'), '-outform', 'DER'])] });
      assert.equal(s.roots.length, 2);
      assert.equal(s.intermediates.length, 1);
      assert.equal(s.crls.length, 2);
      assert.ok(Object.isFrozen(s));
      assert.ok(Object.isFrozen(s.roots));
      assert.throws(() => (s.roots as unknown as unknown[]).push(1));
      assert.ok(s.isAnchor(parseCertificate(certDer(demo('contoso-root-ca.crt')))));
      assert.ok(!s.isAnchor(parseCertificate(certDer(demo('contoso-issuing-ca.crt')))));
    });

    it('refuses unreadable input, listing every problem', () => {
      try {
        TrustStore.from({ roots: [Buffer.from('nope'), read(demo('contoso-root-ca.crt'))], crls: ['-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', read(demo('contoso-root-ca.crt'))] });
        assert.fail('accepted');
      } catch (e) {
        assert.ok(e instanceof TrustStoreError);
        assert.equal(e.problems.length, 3);
        assert.match(e.problems[0]!, /^root 0: /);
        assert.match(e.problems[1]!, /^crl 0: /);
        assert.match(e.problems[2]!, /^crl 1: /);
      }
    });

    it('an empty store trusts nothing', async () => {
      const r = await validateCertificate(read(demo('users/alice-signing.crt')), { trust: TrustStore.empty(), purpose: 'signing', checkCrl: true });
      assert.deepEqual(errors(r), ['untrusted-root']);
    });
  });
});
