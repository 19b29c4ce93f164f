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
const alice = { cert: path.join(PKI, 'users/alice-signing.crt'), key: path.join(PKI, 'keys/alice-signing.key') };
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

/** A new encryption identity for dave issued by the demo issuing CA, exported by openssl as a legacy (3DES/RC2) PKCS#12. */
function daveEncryptionP12(password: string): { p12: Buffer; cert: string } {
  const dir = tempDir('easmime-dave-');
  const key = path.join(dir, 'dave.key');
  const cert = path.join(dir, 'dave.crt');
  const ext = path.join(dir, 'ext.cnf');
  fs.writeFileSync(ext, ['keyUsage = critical, keyEncipherment', 'extendedKeyUsage = emailProtection', 'subjectAltName = email:dave@contoso.test', ''].join('\n'));
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', path.join(dir, 'dave.csr'),
    '-subj', '/C=US/O=Contoso Demo/CN=Dave Dunn/emailAddress=dave@contoso.test'], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-req', '-in', path.join(dir, 'dave.csr'), '-CA', path.join(PKI, 'contoso-issuing-ca.crt'),
    '-CAkey', path.join(PKI, 'ca/contoso-issuing-ca.key'), '-set_serial', '0x7001', '-days', '365', '-sha256', '-extfile', ext, '-out', cert], { stdio: 'pipe' });
  execFileSync('openssl', ['pkcs12', '-export', '-legacy', '-in', cert, '-inkey', key, '-certfile', path.join(PKI, 'contoso-issuing-ca.crt'),
    '-passout', `pass:${password}`, '-out', path.join(dir, 'dave.p12')], { stdio: 'pipe' });
  return { p12: fs.readFileSync(path.join(dir, 'dave.p12')), cert };
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

  it('imports a legacy PKCS#12 for dave; mail signed by alice and encrypted to the new key is opened and verified', async () => {
    const { p12, cert } = daveEncryptionP12('Dåve-2026');
    const post = (body: unknown): Promise<{ status: number; json: unknown; text: string }> =>
      call('POST', '/users/dave@contoso.test/certificates', JSON.stringify(body));
    const wrong = await post({ pkcs12: p12.toString('base64'), password: 'dave', purpose: 'encryption' });
    assert.equal(wrong.status, 422);
    assert.equal((wrong.json as { code: string }).code, 'wrong-password');
    assert.equal((await post({ pkcs12: Buffer.from('not a pfx').toString('base64'), password: 'x', purpose: 'encryption' })).status, 422);
    assert.equal((await post({ pkcs12: p12.toString('base64'), password: 'Dåve-2026', purpose: 'decoration' })).status, 400);
    assert.equal((await call('POST', '/users/dave/certificates', '{not json')).status, 400);
    assert.equal((await call('POST', '/users/nobody@contoso.test/certificates', JSON.stringify({}))).status, 404);
    const before = ((await call('GET', '/users/dave/certificates')).json as unknown[]).length;
    assert.equal(before, 1, 'only the signing certificate so far: refusals stored nothing');

    const ok = await post({ pkcs12: p12.toString('base64'), password: 'Dåve-2026', purpose: 'encryption' });
    assert.equal(ok.status, 201, ok.text);
    const imported = ok.json as { encryption: string[]; certificates: Array<{ serial: string; hasPrivateKey: boolean; purpose: string }> };
    assert.equal(imported.certificates.length, 1);
    assert.equal(imported.certificates[0]!.serial.toLowerCase(), '7001');
    assert.ok(imported.certificates[0]!.hasPrivateKey);
    assert.ok(imported.encryption.some((e) => /RC2|3-?KeyTripleDES|3DES/i.test(e)), imported.encryption.join(','));
    assert.doesNotMatch(ok.text, /PRIVATE KEY/);

    // Triple-wrapped the way a client does it: alice signs, then encrypts to dave's new certificate.
    const signed = signClear({ signer: alice, from: 'alice@contoso.test', to: 'dave@contoso.test', subject: 'for dave', text: 'Signed, then sealed.' });
    const dir = tempDir('easmime-wrap-');
    const inner = path.join(dir, 'signed.eml');
    fs.writeFileSync(inner, signed.subarray(signed.indexOf('MIME-Version')));
    const sealed = execFileSync('openssl', ['cms', '-encrypt', '-in', inner, '-aes256', '-from', 'alice@contoso.test', '-to', 'dave@contoso.test',
      '-subject', 'sealed for dave', cert], { stdio: ['ignore', 'pipe', 'pipe'] });
    await sendRaw(server.smtpPort, { from: 'alice@contoso.test', to: ['dave@contoso.test'] }, Buffer.from(sealed.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
    const list = (await call('GET', '/users/dave/messages')).json as Array<{ id: number; subject: string; messageClass: string }>;
    const m = list.find((x) => x.subject === 'sealed for dave');
    assert.ok(m);
    assert.equal(m.messageClass, 'IPM.Note.SMIME');
    const full = (await call('GET', `/users/dave/messages/${m.id}/verdict`)).json as { verdict: { valid: boolean; signed: boolean; layers: Array<{ kind: string }>; signers: Array<{ addresses: string[] }> } };
    assert.deepEqual(full.verdict.layers.map((l) => l.kind), ['enveloped', 'clear-signed'], 'the gateway opened the envelope with the imported key');
    assert.equal(full.verdict.signed, true);
    assert.equal(full.verdict.valid, true);
    assert.ok(full.verdict.signers[0]!.addresses.includes('alice@contoso.test'));
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
