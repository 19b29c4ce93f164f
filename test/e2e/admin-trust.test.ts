// The admin API over certificates and trust, through the real server: a user's certificates are
// listed without key material; a CRL made by openssl from the demo issuing CA and posted while the
// server runs revokes bob's signing certificate for the next message the gateway sees.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServerProcess, tempDir, PROJECT_ROOT, type ServerProcess } from '../support/server-process.js';
import { sendRaw, signClear } from '../support/mail.js';

const PKI = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki');
const bob = { cert: path.join(PKI, 'users/bob-signing.crt'), key: path.join(PKI, 'keys/bob-signing.key') };

/** A new CRL of the demo issuing CA (CRL number 2) revoking carol's encryption certificate as before, and now bob's signing one. */
function crlRevokingBob(): Buffer {
  const dir = tempDir('easmime-crl-');
  const rev = '250601000000Z';
  fs.writeFileSync(path.join(dir, 'index.txt'), [
    `R\t360101000000Z\t${rev},keyCompromise\t2022\tunknown\t/CN=Carol Castro`,
    `R\t360101000000Z\t${rev},keyCompromise\t2011\tunknown\t/CN=Bob Berg`,
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'crlnumber'), '02\n');
  fs.writeFileSync(path.join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = demo', '[demo]', `database = ${path.join(dir, 'index.txt')}`, `crlnumber = ${path.join(dir, 'crlnumber')}`,
    'default_md = sha256', 'default_crl_days = 30', 'crl_extensions = crl_ext', '[crl_ext]', 'authorityKeyIdentifier = keyid:always', '',
  ].join('\n'));
  execFileSync('openssl', ['ca', '-gencrl', '-config', path.join(dir, 'ca.cnf'), '-keyfile', path.join(PKI, 'ca/contoso-issuing-ca.key'),
    '-cert', path.join(PKI, 'contoso-issuing-ca.crt'), '-out', path.join(dir, 'crl.pem')], { stdio: 'pipe' });
  return fs.readFileSync(path.join(dir, 'crl.pem'));
}

describe('end to end: admin API for certificates and trust', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  let token: string;
  const call = async (method: string, route: string, body?: Buffer | string, auth = true): Promise<{ status: number; json: unknown; text: string }> => {
    const r = await fetch(`${server.baseUrl}/admin${route}`, {
      method, body: typeof body === "string" || body === undefined ? body : new Uint8Array(body), headers: auth ? { authorization: `Bearer ${token}` } : {},
    });
    const text = await r.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, json, text };
  };
  const verdictOf = async (user: string, subject: string): Promise<{ valid: boolean; reasons: string[] }> => {
    const list = (await call('GET', `/users/${user}/messages`)).json as Array<{ subject: string; smime: { valid: boolean; reasons: string[] } }>;
    const m = list.find((x) => x.subject === subject);
    assert.ok(m?.smime, `${subject} has a verdict`);
    return m.smime;
  };

  before(async () => {
    server = await startServerProcess();
    token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  });
  after(async () => { await server?.stop(); });

  it('lists a user\'s certificates (alice: signing and two encryption generations) with no key material', async () => {
    const r = await call('GET', '/users/alice@contoso.test/certificates');
    assert.equal(r.status, 200);
    const certs = r.json as Array<{ purpose: string; serial: string; hasPrivateKey: boolean; published: boolean }>;
    assert.deepEqual(certs.map((c) => c.purpose).sort(), ['encryption', 'encryption', 'signing']);
    assert.ok(certs.every((c) => c.hasPrivateKey));
    assert.doesNotMatch(r.text, /PRIVATE KEY|sealed|pkcs12|"key"/i);
    assert.equal((await call('GET', '/users/nobody@contoso.test/certificates')).status, 404);
    assert.equal((await call('GET', '/users/alice@contoso.test/certificates', undefined, false)).status, 401);
  });

  it('unpublishes and republishes a certificate', async () => {
    const certs = (await call('GET', '/users/bob/certificates')).json as Array<{ id: number; purpose: string; published: boolean }>;
    const enc = certs.find((c) => c.purpose === 'encryption')!;
    const off = await call('PUT', `/users/bob/certificates/${enc.id}/published`, 'false');
    assert.equal(off.status, 200);
    assert.equal((off.json as { published: boolean }).published, false);
    assert.equal((await call('PUT', `/users/bob/certificates/${enc.id}/published`, 'maybe')).status, 400);
    assert.equal((await call('PUT', `/users/alice/certificates/${enc.id}/published`, 'true')).status, 404, 'not alice\'s certificate');
    assert.equal(((await call('PUT', `/users/bob/certificates/${enc.id}/published`, 'true')).json as { published: boolean }).published, true);
  });

  it('a CRL posted while the server runs revokes the signer of the next message', async () => {
    const trust = (await call('GET', '/trust')).json as { roots: unknown[]; crls: Array<{ revoked: number }> };
    assert.equal(trust.roots.length, 2, 'Contoso and Fabrikam roots');

    const before = signClear({ signer: bob, from: 'bob@contoso.test', to: 'alice@contoso.test', subject: 'crl before', text: 'still good' });
    await sendRaw(server.smtpPort, { from: 'bob@contoso.test', to: ['alice@contoso.test'] }, before);
    assert.equal((await verdictOf('alice', 'crl before')).valid, true);

    const posted = await call('POST', '/trust/crls', crlRevokingBob());
    assert.equal(posted.status, 201, posted.text);
    assert.equal((posted.json as Array<{ revoked: number }>)[0]!.revoked, 2);

    const after = signClear({ signer: bob, from: 'bob@contoso.test', to: 'alice@contoso.test', subject: 'crl after', text: 'now revoked' });
    await sendRaw(server.smtpPort, { from: 'bob@contoso.test', to: ['alice@contoso.test'] }, after);
    const v = await verdictOf('alice', 'crl after');
    assert.equal(v.valid, false);
    assert.ok(v.reasons.includes('revoked'), v.reasons.join(','));
    assert.equal((await verdictOf('alice', 'crl before')).valid, true, 'a stored verdict is what was concluded on arrival');
  });

  it('refuses bodies that are not CRLs or certificates with 400, storing nothing', async () => {
    const count = ((await call('GET', '/trust')).json as { crls: unknown[] }).crls.length;
    const bad = await call('POST', '/trust/crls', Buffer.from('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'));
    assert.equal(bad.status, 400);
    assert.ok((bad.json as { error: string }).error.length > 0);
    assert.equal((await call('POST', '/trust/crls', '')).status, 400);
    assert.equal((await call('POST', '/trust/roots', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).status, 400);
    assert.equal(((await call('GET', '/trust')).json as { crls: unknown[] }).crls.length, count);
  });
});
