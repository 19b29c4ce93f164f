// --fetch-crls through the real server: a partner PKI made by openssl, trusted through the admin API,
// whose certificates name a CRL distribution point served by an HTTP server in this test. With the
// flag the gateway fetches that CRL and finds the signer revoked; without it the revocation status
// stays unknown and the CRL is never asked for.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sendRaw, signClear } from '../support/mail.js';
import { TestPki, type Signer } from '../smime/verify-pki.js';

describe('end to end: CRLs fetched from distribution points', function () {
  this.timeout(120_000);
  let pki: TestPki;
  let crlServer: http.Server;
  let hits = 0;
  let revoked: Signer;
  let good: Signer;

  before(async () => {
    let crl: Buffer | undefined;
    crlServer = http.createServer((req, res) => {
      if (req.url === '/partner.crl' && crl) { hits++; res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(crl); return; }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => crlServer.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}`;
    pki = new TestPki('easmime-e2e-cdp-');
    pki.root('proot', '/O=Partner/CN=Partner Root');
    pki.intermediate('proot', 'psub', '/O=Partner/CN=Partner Issuing');
    const cdp = { extra: [`crlDistributionPoints = URI:${base}/partner.crl`] };
    revoked = pki.person('psub', 'gone', 'gone@partner.test', cdp);
    good = pki.person('psub', 'fine', 'fine@partner.test', cdp);
    pki.revoke('psub', revoked.cert);
    crl = fs.readFileSync(pki.crl('psub'));
  });
  after(async () => {
    await new Promise<void>((resolve) => crlServer.close(() => resolve()));
    pki?.cleanup();
  });

  /** Starts a server, trusts the partner root (and its root CRL) through the admin API, delivers two signed messages, returns their verdicts. */
  async function verdicts(extraArgs: string[]): Promise<Record<string, { valid: boolean; reasons: string[] }>> {
    const server: ServerProcess = await startServerProcess({ extraArgs });
    try {
      const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
      const post = async (route: string, file: string): Promise<void> => {
        const r = await fetch(`${server.baseUrl}/admin/trust/${route}`, { method: 'POST', body: new Uint8Array(fs.readFileSync(file)), headers: { authorization: `Bearer ${token}` } });
        assert.equal(r.status, 201, await r.text());
      };
      await post('roots', pki.file('proot.crt'));
      await post('intermediates', pki.file('psub.crt'));
      await post('crls', pki.crl('proot'));
      for (const [signer, address] of [[revoked, 'gone@partner.test'], [good, 'fine@partner.test']] as const) {
        const raw = signClear({ signer, from: address, to: 'alice@contoso.test', subject: `from ${address}`, text: 'partner mail' });
        await sendRaw(server.smtpPort, { from: address, to: ['alice@contoso.test'] }, raw);
      }
      const r = await fetch(`${server.baseUrl}/admin/users/alice/messages?limit=50`, { headers: { authorization: `Bearer ${token}` } });
      const list = (await r.json()) as Array<{ subject: string; smime: { valid: boolean; reasons: string[] } | null }>;
      const out: Record<string, { valid: boolean; reasons: string[] }> = {};
      for (const m of list) if (m.subject.startsWith('from ') && m.smime) out[m.subject.slice(5)] = m.smime;
      return out;
    } finally {
      await server.stop();
    }
  }

  it('without --fetch-crls the partner CRL is never fetched and revocation stays unknown', async () => {
    const v = await verdicts([]);
    assert.equal(hits, 0);
    assert.ok(v['gone@partner.test']!.reasons.includes('revocation-unknown'), v['gone@partner.test']!.reasons.join(','));
    assert.ok(!v['gone@partner.test']!.reasons.includes('revoked'));
  });

  it('with --fetch-crls the gateway fetches the CRL and the revoked signer fails; the other passes', async () => {
    const v = await verdicts(['--fetch-crls']);
    assert.ok(hits >= 1, 'the distribution point was asked');
    assert.equal(v['gone@partner.test']!.valid, false);
    assert.ok(v['gone@partner.test']!.reasons.includes('revoked'), v['gone@partner.test']!.reasons.join(','));
    assert.equal(v['fine@partner.test']!.valid, true, v['fine@partner.test']!.reasons.join(','));
  });
});
