// Signatures made by gpgsm (GnuPG's S/MIME tool: BER with indefinite lengths,
// its own choice of attributes) verified by verifySmime. gpgsm runs with a
// throwaway GNUPGHOME: the demo key is imported from a PKCS#12 that openssl
// writes in the legacy (3DES) format, because gpgsm 2.2 cannot read PBES2/AES
// PKCS#12 files; the passphrase goes in through --pinentry-mode loopback.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrustStore } from '../../smime/trust.js';
import { verifySmime } from '../../smime/verify.js';
import { demo, openssl, wrapDetached, wrapOpaque } from './verify-pki.js';

const CONTENT = Buffer.from('Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by gpgsm.\r\n', 'latin1');

describe('smime/verify: gpgsm signatures', function () {
  this.timeout(60000);
  let home: string;
  let work: string;
  let store: TrustStore;
  let available = true;

  const gpgsm = (args: string[], input?: Buffer | string): Buffer =>
    execFileSync('gpgsm', ['--batch', '--pinentry-mode', 'loopback', '--passphrase-fd', '0', ...args], {
      input: input ?? 'pw\n',
      env: { ...process.env, GNUPGHOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30000,
    });

  before(function () {
    this.timeout(60000);
    try {
      execFileSync('gpgsm', ['--version'], { stdio: 'ignore' });
    } catch {
      available = false;
      this.skip();
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'easmime-gpgsm-'));
    home = path.join(work, 'home');
    fs.mkdirSync(home, { mode: 0o700 });
    fs.writeFileSync(path.join(home, 'gpg-agent.conf'), 'allow-loopback-pinentry\n');
    fs.writeFileSync(path.join(home, 'gpgsm.conf'), 'disable-crl-checks\ndisable-trusted-cert-crl-check\ndisable-dirmngr\n');
    const p12 = path.join(work, 'alice.p12');
    // gpgsm cannot open some of the PKCS#12 files openssl writes: "decryption failed ... data error at
    // shrouded_key_bag.decrypted-text", every time for that file (seen twice in many runs), so it
    // depends on the random salt. A new file has new salts.
    for (let attempt = 1; ; attempt++) {
      openssl(['pkcs12', '-export', '-legacy', '-inkey', demo('keys/alice-signing.key'), '-in', demo('users/alice-signing.crt'), '-passout', 'pass:pw', '-out', p12]);
      try {
        gpgsm(['--import', p12]);
        break;
      } catch (e) {
        if (attempt >= 5) throw e;
      }
    }
    gpgsm(['--import', demo('contoso-root-ca.crt'), demo('contoso-issuing-ca.crt')]);
    const colons = execFileSync('gpgsm', ['--with-colons', '--list-keys', 'Contoso Demo Root CA'], { env: { ...process.env, GNUPGHOME: home } }).toString();
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1];
    fs.writeFileSync(path.join(home, 'trustlist.txt'), `${fpr} S relax\n`);
    store = TrustStore.from({
      roots: [fs.readFileSync(demo('contoso-root-ca.crt'))],
      intermediates: [fs.readFileSync(demo('contoso-issuing-ca.crt'))],
      crls: [fs.readFileSync(demo('contoso-issuing.crl')), fs.readFileSync(demo('contoso-root.crl'))],
    });
  });

  after(() => {
    if (!available || !home) return;
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore' });
    } catch {
      // The agent may not have started.
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  const sign = (args: string[]): Buffer => {
    const input = path.join(work, 'content.txt');
    const out = path.join(work, `out-${process.hrtime.bigint()}.p7`);
    fs.writeFileSync(input, CONTENT);
    gpgsm(['-u', 'alice@contoso.test', ...args, '-o', out, input]);
    return fs.readFileSync(out);
  };

  it('detached signature (BER, indefinite lengths) in multipart/signed', async () => {
    const sig = sign(['--detach-sign']);
    assert.deepEqual([...sig.subarray(0, 2)], [0x30, 0x80], 'gpgsm writes indefinite lengths');
    const v = await verifySmime(wrapDetached(CONTENT, sig), { trust: store });
    assert.equal(v.kind, 'clear-signed');
    assert.equal(v.valid, true, v.summary);
    const s = v.signers[0]!;
    assert.equal(s.serial, '2001');
    assert.deepEqual(s.algorithm, { digest: 'sha256', signature: 'rsa-pkcs1' });
    assert.ok(s.signingTime);
    assert.equal(s.chain.length, 3);
  });

  it('detached signature over changed content is tampered', async () => {
    const sig = sign(['--detach-sign']);
    const changed = Buffer.from(CONTENT.toString('latin1').replace('gpgsm', 'GPGSM'), 'latin1');
    const v = await verifySmime(wrapDetached(changed, sig), { trust: store });
    assert.deepEqual(v.reasons, ['tampered']);
  });

  it('opaque signature (gpgsm --sign) as application/pkcs7-mime', async () => {
    const der = sign(['--sign']);
    const v = await verifySmime(wrapOpaque(der), { trust: store });
    assert.equal(v.kind, 'opaque-signed');
    assert.equal(v.valid, true, v.summary);
  });

  it('--include-certs 1 (signer only): the intermediate comes from the store', async () => {
    const sig = sign(['--detach-sign', '--include-certs', '1']);
    const v = await verifySmime(wrapDetached(CONTENT, sig), { trust: store });
    assert.equal(v.valid, true, v.summary);
    const rootOnly = TrustStore.from({ roots: [fs.readFileSync(demo('contoso-root-ca.crt'))] });
    const v2 = await verifySmime(wrapDetached(CONTENT, sig), { trust: rootOnly });
    assert.ok(v2.reasons.includes('untrusted-root'));
  });

  it('--include-certs 0: the signer is looked up in the store\'s known certificates', async () => {
    const sig = sign(['--detach-sign', '--include-certs', '0']);
    const v = await verifySmime(wrapDetached(CONTENT, sig), { trust: store });
    assert.deepEqual(v.reasons, ['signer-certificate-missing']);
    const known = TrustStore.from({
      roots: [fs.readFileSync(demo('contoso-root-ca.crt'))],
      intermediates: [fs.readFileSync(demo('contoso-issuing-ca.crt'))],
      crls: [fs.readFileSync(demo('contoso-issuing.crl')), fs.readFileSync(demo('contoso-root.crl'))],
      certificates: [fs.readFileSync(demo('users/alice-signing.crt'))],
    });
    const v2 = await verifySmime(wrapDetached(CONTENT, sig), { trust: known });
    assert.equal(v2.valid, true, v2.summary);
  });
});
