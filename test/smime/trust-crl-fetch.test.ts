// CRL fetching from distribution points (smime/crl-fetch.ts) against a real
// local HTTP server: used only when asked, only for anchored paths, cached,
// bounded in size and time, no redirects.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CrlFetcher } from '../../smime/crl-fetch.js';
import { TrustStore, validateCertificate } from '../../smime/trust.js';
import { verifySmime } from '../../smime/verify.js';
import { openssl, signMessage, TestPki, type Signer } from './verify-pki.js';

describe('smime/crl-fetch: CRLs from distribution points', function () {
  this.timeout(60000);
  let pki: TestPki;
  let server: http.Server;
  let base: string;
  const hits: Record<string, number> = {};
  const routes: Record<string, (res: http.ServerResponse) => void> = {};
  let store: TrustStore;
  let revoked: Signer;
  let good: Signer;
  let big: Signer;
  let slow: Signer;
  let redirected: Signer;
  let pem: Signer;
  let ldap: Signer;
  const pending: http.ServerResponse[] = [];

  before(async function () {
    this.timeout(120000);
    server = http.createServer((req, res) => {
      const p = req.url ?? '';
      hits[p] = (hits[p] ?? 0) + 1;
      const route = routes[p];
      if (route) route(res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    pki = new TestPki('easmime-crlfetch-');
    pki.root('froot', '/O=Fetch Test/CN=Fetch Root');
    pki.intermediate('froot', 'fsub', '/O=Fetch Test/CN=Fetch Sub');
    const cdp = (path: string) => ({ extra: [`crlDistributionPoints = URI:${base}${path}`] });
    revoked = pki.person('fsub', 'revoked', 'revoked@fetch.test', cdp('/sub.crl'));
    good = pki.person('fsub', 'good', 'good@fetch.test', cdp('/sub.crl'));
    big = pki.person('fsub', 'big', 'big@fetch.test', cdp('/big.crl'));
    slow = pki.person('fsub', 'slow', 'slow@fetch.test', cdp('/slow.crl'));
    redirected = pki.person('fsub', 'redirected', 'redirected@fetch.test', cdp('/redirect.crl'));
    pem = pki.person('fsub', 'pem', 'pem@fetch.test', cdp('/pem.crl'));
    ldap = pki.person('fsub', 'ldap', 'ldap@fetch.test', { extra: ['crlDistributionPoints = URI:ldap://127.0.0.1/cn=Fetch%20Sub?certificateRevocationList, URI:file:///etc/passwd'] });
    pki.revoke('fsub', revoked.cert);
    const subCrl = fs.readFileSync(pki.crl('fsub'));
    const subCrlPem = openssl(['crl', '-inform', 'DER', '-outform', 'PEM'], subCrl);
    routes['/sub.crl'] = (res) => res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(subCrl);
    routes['/pem.crl'] = (res) => res.writeHead(200).end(subCrlPem);
    routes['/big.crl'] = (res) => {
      res.writeHead(200);
      // No content-length: the limit must hold while streaming.
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      for (let i = 0; i < 40; i++) res.write(chunk);
      res.end();
    };
    routes['/slow.crl'] = (res) => {
      res.writeHead(200);
      res.write(subCrl.subarray(0, 10));
      pending.push(res); // never finished
    };
    routes['/redirect.crl'] = (res) => res.writeHead(302, { location: `${base}/sub.crl` }).end();

    store = TrustStore.from({ roots: [fs.readFileSync(pki.file('froot.crt'))], intermediates: [fs.readFileSync(pki.file('fsub.crt'))], crls: [fs.readFileSync(pki.crl('froot'))] });
  });

  after(async () => {
    for (const res of pending) res.destroy();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    pki?.cleanup();
  });

  const validate = (s: Signer, fetcher?: CrlFetcher) =>
    validateCertificate(fs.readFileSync(s.cert), { trust: store, purpose: 'signing', checkCrl: true, crlSource: fetcher });

  it('off by default: no CRL for the sub CA means revocation-unknown and no request', async () => {
    const r = await validate(revoked);
    assert.equal(r.checks.revocation.status, 'unknown');
    assert.equal(hits['/sub.crl'] ?? 0, 0);
  });

  it('with a fetcher: the revoked certificate is found revoked, and the CRL is cached', async () => {
    const fetcher = new CrlFetcher();
    const r = await validate(revoked, fetcher);
    assert.equal(r.valid, false);
    assert.deepEqual(r.reasons, ['revoked']);
    assert.equal(hits['/sub.crl'], 1);
    const g = await validate(good, fetcher);
    assert.equal(g.valid, true, JSON.stringify(g.problems));
    assert.equal(g.checks.revocation.status, 'pass');
    assert.equal(hits['/sub.crl'], 1, 'served from the fetcher cache');
    assert.ok(fetcher.log.some((l) => l.ok && l.url.endsWith('/sub.crl')));
  });

  it('verifySmime uses the fetcher too', async () => {
    const msg = signMessage(pki.dir, { signers: [revoked], from: 'revoked@fetch.test' });
    const v = await verifySmime(msg, { trust: store, crlSource: new CrlFetcher() });
    assert.deepEqual(v.reasons, ['revoked']);
    const off = await verifySmime(msg, { trust: store });
    assert.deepEqual(off.reasons, ['revocation-unknown']);
  });

  it('two signers that each need a fetch: the walk waits for each in turn and keeps their order', async () => {
    const msg = signMessage(pki.dir, { signers: [revoked, good], from: 'good@fetch.test' });
    const sync = await verifySmime(msg, { trust: store });
    const fetched = await verifySmime(msg, { trust: store, crlSource: new CrlFetcher() });
    assert.deepEqual(fetched.signers.map((x) => x.subject), sync.signers.map((x) => x.subject), 'same signers, same order');
    const byName = (v: typeof fetched, cn: string) => v.signers.find((x) => x.subject?.includes(`CN=${cn},`))!;
    assert.equal(byName(fetched, 'revoked').reasons[0], 'revoked', byName(fetched, 'revoked').reasons.join(','));
    assert.equal(byName(fetched, 'good').checks.revocation.status, 'pass');
    assert.equal(byName(sync, 'good').checks.revocation.status, 'unknown', 'without the source the status stays unknown');
    assert.equal(fetched.valid, false, 'one signer is revoked');
  });

  it('a store that holds the CRL is not asked again: the source is never called and the verdict is the same', async () => {
    const withCrl = TrustStore.from({
      roots: [fs.readFileSync(pki.file('froot.crt'))], intermediates: [fs.readFileSync(pki.file('fsub.crt'))],
      crls: [fs.readFileSync(pki.crl('froot')), fs.readFileSync(pki.crl('fsub'))],
    });
    let asked = 0;
    const source = { crlsFor: async () => { asked++; return []; } };
    const msg = signMessage(pki.dir, { signers: [good], from: 'good@fetch.test' });
    const plain = await verifySmime(msg, { trust: withCrl });
    const v = await verifySmime(msg, { trust: withCrl, crlSource: source });
    assert.equal(asked, 0);
    assert.equal(v.valid, true, v.summary);
    assert.deepEqual({ ...v, checkedAt: '' }, { ...plain, checkedAt: '' });
  });

  it('a source that fails is reported like no CRL: revocation unknown, never a thrown verdict', async () => {
    const source = { crlsFor: async () => { throw new Error('network down'); } };
    const msg = signMessage(pki.dir, { signers: [good], from: 'good@fetch.test' });
    const v = await verifySmime(msg, { trust: store, crlSource: source });
    assert.deepEqual(v.reasons, ['revocation-unknown']);
    assert.equal(v.signers[0]!.checks.revocation.status, 'unknown');
  });

  it('a PEM response is accepted', async () => {
    const r = await validate(pem, new CrlFetcher());
    assert.equal(r.checks.revocation.status, 'pass');
  });

  it('a response over the size limit is refused while streaming', async () => {
    const fetcher = new CrlFetcher({ maxBytes: 1024 * 1024 });
    const r = await validate(big, fetcher);
    assert.equal(r.checks.revocation.status, 'unknown');
    assert.match(fetcher.log.at(-1)!.detail, /exceeds 1048576 bytes/);
  });

  it('a server that never finishes is given up on after the timeout', async () => {
    const fetcher = new CrlFetcher({ timeoutMs: 300 });
    const start = Date.now();
    const r = await validate(slow, fetcher);
    assert.ok(Date.now() - start < 5000);
    assert.equal(r.checks.revocation.status, 'unknown');
    assert.equal(fetcher.log.at(-1)!.ok, false);
    // The failure is remembered for a while: no second request.
    const before = hits['/slow.crl'];
    await validate(slow, fetcher);
    assert.equal(hits['/slow.crl'], before);
  });

  it('redirects are not followed', async () => {
    const before = hits['/sub.crl'] ?? 0;
    const fetcher = new CrlFetcher();
    const r = await validate(redirected, fetcher);
    assert.equal(r.checks.revocation.status, 'unknown');
    assert.equal(hits['/redirect.crl'], 1);
    assert.equal(hits['/sub.crl'] ?? 0, before);
  });

  it('only http(s) distribution points are fetched', async () => {
    const fetcher = new CrlFetcher();
    const r = await validate(ldap, fetcher);
    assert.equal(r.checks.revocation.status, 'unknown');
    assert.equal(fetcher.log.length, 0);
  });

  it('a certificate that does not chain to a trusted root never causes a fetch', async () => {
    pki.root('rogue', '/O=Rogue/CN=Rogue Root');
    const victim = pki.person('rogue', 'rogueleaf', 'x@fetch.test', { extra: [`crlDistributionPoints = URI:${base}/from-rogue.crl`] });
    const fetcher = new CrlFetcher();
    const r = await validate(victim, fetcher);
    assert.ok(r.reasons.includes('untrusted-root'));
    assert.equal(hits['/from-rogue.crl'] ?? 0, 0);
    assert.equal(fetcher.log.length, 0);
  });
});
