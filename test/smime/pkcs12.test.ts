// PKCS#12 files made by openssl (modern PBES2 and every -legacy scheme), keytool (a two-generation
// history) and the demo PKI script, opened with their passwords, non-ASCII ones included; wrong
// passwords, damaged files and unsupported modes come back as Pkcs12Error with a precise code.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { bmpPassword, Pkcs12Error, readPkcs12, type Pkcs12Contents, type ReadPkcs12Options } from '../../smime/pkcs12.js';
import { certDer, demo, openssl, tempDir } from './envelope-pki.js';

const PASSWORD = 'Pässwörd-€-日本-😀';
/**
 * Without a MAC a wrong password shows as bad padding, or (about once in 256 tries, when the
 * garbage happens to end like padding) as contents that do not parse.
 */
// A wrong key's padding comes out valid about once in 256 decryptions: then the SafeContents or the
// key that came out is what shows it, named the same way.
const NO_MAC_WRONG = /^wrong-password: (encrypted safe 1|key bag 1|private key 1) does not decrypt with the given password/;

/** The key as PKCS#8 DER, the way node:crypto re-encodes it, for comparison. */
const keyDer = (keyFile: string): Buffer =>
  crypto.createPrivateKey(fs.readFileSync(keyFile)).export({ type: 'pkcs8', format: 'der' });

async function failure(der: Buffer, password: string, options?: ReadPkcs12Options): Promise<string> {
  try {
    await readPkcs12(der, password, options);
  } catch (e) {
    assert.ok(e instanceof Pkcs12Error, `expected a Pkcs12Error, got ${String(e)}`);
    return `${e.code}: ${e.message}`;
  }
  return 'opened';
}

describe('smime/pkcs12: reading PKCS#12 files', function () {
  this.timeout(120_000);
  let dir: string;
  const key = demo('keys/bob-encryption.key');
  const cert = demo('users/bob-encryption.crt');
  let chain: string;

  /** `openssl pkcs12 -export` of Bob's key, certificate and the demo chain. */
  const exportP12 = (args: string[], password = PASSWORD): Buffer => {
    const out = path.join(dir, `p-${process.hrtime.bigint()}.p12`);
    openssl(['pkcs12', '-export', ...args, '-inkey', key, '-in', cert, '-certfile', chain, '-passout', `pass:${password}`, '-out', out]);
    return fs.readFileSync(out);
  };
  const expectBob = (c: Pkcs12Contents): void => {
    assert.equal(c.pairs.length, 1);
    assert.deepEqual(c.pairs[0]!.certificate, certDer(cert));
    assert.deepEqual(c.pairs[0]!.privateKey, keyDer(key));
    assert.deepEqual(c.others, [certDer(demo('contoso-issuing-ca.crt')), certDer(demo('contoso-root-ca.crt'))]);
  };

  before(() => {
    dir = tempDir('easmime-p12-');
    chain = path.join(dir, 'chain.pem');
    fs.writeFileSync(chain, Buffer.concat([fs.readFileSync(demo('contoso-issuing-ca.crt')), fs.readFileSync(demo('contoso-root-ca.crt'))]));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('the demo PKI files', () => {
    it('every demo PKCS#12 opens with "demo" and holds the key kept next to it', async () => {
      const users = fs.readdirSync(demo('users')).filter((f) => f.endsWith('.p12'));
      assert.ok(users.length >= 10);
      for (const f of users) {
        const c = await readPkcs12(fs.readFileSync(demo(`users/${f}`)), 'demo');
        assert.ok(c.pairs.length >= 1, f);
        for (const pair of c.pairs) {
          const serial = new crypto.X509Certificate(pair.certificate).serialNumber;
          const stem = fs.readdirSync(demo('users')).find((n) => n.endsWith('.crt') && new crypto.X509Certificate(fs.readFileSync(demo(`users/${n}`))).serialNumber === serial)!;
          assert.deepEqual(pair.privateKey, keyDer(demo(`keys/${stem.replace(/\.crt$/, '.key')}`)), `${f}: key of ${stem}`);
        }
      }
    });

    it("Bob's legacy file (RC2-40 certificates, 3DES key, SHA-1 MAC) opens completely", async () => {
      const c = await readPkcs12(fs.readFileSync(demo('users/bob-encryption-legacy.p12')), 'demo');
      expectBob(c);
      assert.equal(c.legacy, true);
      assert.deepEqual(c.mac, { digest: 'sha1', iterations: 2048 });
      assert.deepEqual([...c.encryption].sort(), ['pbeWithSHAAnd3-KeyTripleDES-CBC', 'pbewithSHAAnd40BitRC2-CBC']);
      // The same key as the modern export of the same certificate.
      const modern = await readPkcs12(fs.readFileSync(demo('users/bob-encryption.p12')), 'demo');
      assert.deepEqual(modern.pairs[0]!.privateKey, c.pairs[0]!.privateKey);
      assert.equal(modern.legacy, false);
    });

    it("Alice's history file holds both generations, each with its own key", async () => {
      const c = await readPkcs12(fs.readFileSync(demo('users/alice-encryption-history.p12')), 'demo');
      assert.deepEqual(c.pairs.map((p) => p.certificate), [certDer(demo('users/alice-encryption-2021.crt')), certDer(demo('users/alice-encryption-2024.crt'))]);
      assert.deepEqual(c.pairs.map((p) => p.privateKey), [keyDer(demo('keys/alice-encryption-2021.key')), keyDer(demo('keys/alice-encryption-2024.key'))]);
      assert.equal(c.others.length, 2);
    });
  });

  describe('openssl pkcs12 -export, with a non-ASCII password', () => {
    const variants: Array<[string, string[], string[], boolean]> = [
      ['default (PBES2, AES-256, SHA-256 MAC)', [], ['PBES2 (PBKDF2 hmacWithSHA256, aes-256-cbc)'], false],
      ['-legacy (RC2-40 and 3DES)', ['-legacy'], ['pbeWithSHAAnd3-KeyTripleDES-CBC', 'pbewithSHAAnd40BitRC2-CBC'], true],
      ['-legacy, 3DES certificates and RC2-128 key', ['-legacy', '-certpbe', 'PBE-SHA1-3DES', '-keypbe', 'PBE-SHA1-RC2-128'], ['pbeWithSHAAnd128BitRC2-CBC', 'pbeWithSHAAnd3-KeyTripleDES-CBC'], true],
      ['-legacy, RC4-128 certificates and two-key 3DES key', ['-legacy', '-certpbe', 'PBE-SHA1-RC4-128', '-keypbe', 'PBE-SHA1-2DES'], ['pbeWithSHAAnd128BitRC4', 'pbeWithSHAAnd2-KeyTripleDES-CBC'], true],
      ['PBES2 with 3DES and AES-128, SHA-512 MAC', ['-certpbe', 'DES-EDE3-CBC', '-keypbe', 'AES-128-CBC', '-macalg', 'sha512'], ['PBES2 (PBKDF2 hmacWithSHA256, aes-128-cbc)', 'PBES2 (PBKDF2 hmacWithSHA256, des-ede3-cbc)'], false],
      ['PBES2 with RC2-CBC next to a legacy 3DES key', ['-legacy', '-certpbe', 'RC2-CBC'], ['PBES2 (PBKDF2 hmacWithSHA256, rc2-cbc (128-bit))', 'pbeWithSHAAnd3-KeyTripleDES-CBC'], true],
      ['one iteration, SHA-384 MAC, AES-192', ['-noiter', '-nomaciter', '-macalg', 'sha384', '-keypbe', 'AES-192-CBC'], ['PBES2 (PBKDF2 hmacWithSHA256, aes-192-cbc)', 'PBES2 (PBKDF2 hmacWithSHA256, aes-256-cbc)'], false],
      ['no encryption at all (key bag, plain safes)', ['-keypbe', 'NONE', '-certpbe', 'NONE'], [], false],
      ['no MAC (modern)', ['-nomac'], ['PBES2 (PBKDF2 hmacWithSHA256, aes-256-cbc)'], false],
    ];
    for (const [title, args, encryption, legacy] of variants) {
      it(title, async () => {
        const der = exportP12(args);
        // openssl opens its own file with the same password (it throws otherwise).
        execFileSync('openssl', ['pkcs12', '-info', '-nokeys', '-noout', '-legacy', '-passin', `pass:${PASSWORD}`], { input: der, stdio: ['pipe', 'pipe', 'pipe'] });
        const c = await readPkcs12(der, PASSWORD);
        expectBob(c);
        assert.deepEqual([...c.encryption].sort(), encryption);
        assert.equal(c.legacy, legacy);
        assert.equal(c.mac === null, args.includes('-nomac'));
        // The password as a legacy tool would mangle it (UTF-8 read as Latin-1) does not open it.
        const mangled = Buffer.from(PASSWORD, 'utf8').toString('latin1');
        assert.match(await failure(der, mangled), args.includes('-nomac') ? NO_MAC_WRONG : /^wrong-password: MAC does not verify: wrong password, or the file is damaged$/);
      });
    }

    it('ASCII and empty passwords, modern and legacy', async () => {
      for (const args of [[], ['-legacy']]) {
        expectBob(await readPkcs12(exportP12(args, 'plain ascii'), 'plain ascii'));
        expectBob(await readPkcs12(exportP12(args, ''), ''));
        assert.match(await failure(exportP12(args, ''), ' '), /^wrong-password: MAC does not verify/);
      }
    });

    it('the password goes to the PKCS#12 KDF as BMPString with its terminator (UTF-16 surrogates for 😀)', () => {
      assert.deepEqual(bmpPassword('aé😀'), Buffer.from('006100e9d83dde000000', 'hex'));
      assert.deepEqual(bmpPassword(''), Buffer.from('0000', 'hex'));
    });
  });

  it('keytool: a two-generation encryption history in one file, PBES2 and -legacy', async function () {
    try {
      execFileSync('keytool', ['-help'], { stdio: 'ignore' });
    } catch {
      this.skip();
    }
    for (const legacy of [false, true]) {
      const out = path.join(dir, `history-${legacy}.p12`);
      for (const year of ['2021', '2024']) {
        execFileSync('keytool', [
          ...(legacy ? ['-J-Dkeystore.pkcs12.legacy'] : []),
          '-importkeystore', '-noprompt', '-srckeystore', demo(`users/alice-encryption-${year}.p12`), '-srcstoretype', 'PKCS12', '-srcstorepass', 'demo',
          '-destkeystore', out, '-deststoretype', 'PKCS12', '-deststorepass', 'history pw',
        ], { stdio: 'ignore' });
      }
      const c = await readPkcs12(fs.readFileSync(out), 'history pw');
      assert.equal(c.legacy, legacy);
      const bySerial = c.pairs.map((p) => [new crypto.X509Certificate(p.certificate).serialNumber, p.privateKey] as const).sort();
      assert.deepEqual(bySerial, [
        ['2002', keyDer(demo('keys/alice-encryption-2021.key'))],
        ['2003', keyDer(demo('keys/alice-encryption-2024.key'))],
      ]);
      assert.equal(c.others.length, 2, 'the chain keytool stores with each entry comes back once');
      assert.ok(c.pairs.every((p) => /alice anders \(encryption, serial 200[23]\)/i.test(p.friendlyName ?? '')));
    }
  });

  describe('refusals', () => {
    it('not a PKCS#12 file: empty, text, PEM, a certificate, truncated, trailing bytes', async () => {
      const good = exportP12([]);
      assert.equal(await failure(Buffer.alloc(0), 'x'), 'not-pkcs12: is empty');
      assert.match(await failure(Buffer.from('not pkcs12 at all'), 'x'), /^not-pkcs12: is not a PKCS#12 file \(/);
      assert.equal(await failure(fs.readFileSync(cert), 'x'), 'not-pkcs12: is PEM text, not a PKCS#12 file (PKCS#12 is binary DER)');
      assert.match(await failure(certDer(cert), 'x'), /^not-pkcs12: is not a PKCS#12 file \(version: expected tag 0x2, found 0x30\)$/);
      assert.equal(await failure(good.subarray(0, good.length - 40), PASSWORD), 'not-pkcs12: is not a PKCS#12 file (element runs past its container)');
      assert.equal(await failure(Buffer.concat([good, Buffer.from('xx')]), PASSWORD), 'not-pkcs12: is not a PKCS#12 file (2 trailing bytes)');
    });

    it('wrong password, or a damaged file: the MAC says so', async () => {
      for (const args of [[], ['-legacy']]) {
        const der = exportP12(args);
        assert.equal(await failure(der, 'Pässwörd'), 'wrong-password: MAC does not verify: wrong password, or the file is damaged');
        const flipped = Buffer.from(der);
        flipped[Math.floor(der.length / 2)]! ^= 0x10;
        assert.match(await failure(flipped, PASSWORD), /^(wrong-password: MAC does not verify|not-pkcs12|damaged|limit)/);
      }
    });

    it('without a MAC: a wrong password is caught when decrypting; legacy files without MAC are refused', async () => {
      assert.match(await failure(exportP12(['-nomac']), 'wrong'), NO_MAC_WRONG);
      assert.equal(await failure(exportP12(['-nomac', '-legacy']), PASSWORD), 'unsupported: uses legacy encryption and has no MAC, so its password cannot be checked');
    });

    it('unsupported schemes are named', async () => {
      assert.equal(
        await failure(exportP12(['-legacy', '-keypbe', 'PBE-MD5-DES']), PASSWORD),
        'unsupported: key bag 1 is encrypted with pbeWithMD5AndDES-CBC (PKCS#5 v1.5, single DES or RC2-64), which is not supported',
      );
      const der = exportP12([]);
      // Version 3 turned into 2.
      const v2 = Buffer.from(der);
      const at = v2.indexOf(Buffer.from([0x02, 0x01, 0x03]));
      v2[at + 2] = 2;
      assert.equal(await failure(v2, PASSWORD), 'unsupported: has PKCS#12 version 2, expected 3');
    });

    it('limits: iterations, total work, size, bags', async () => {
      const der = exportP12([]);
      assert.equal(await failure(der, PASSWORD, { limits: { maxIterations: 1000 } }), 'limit: MAC asks for 2048 key-derivation iterations (more than the limit of 1000)');
      assert.equal(await failure(der, PASSWORD, { limits: { maxTotalIterations: 5000 } }), 'limit: needs more than 5000 key-derivation iterations in total (limit)');
      assert.equal(await failure(der, PASSWORD, { limits: { maxBytes: 100 } }), `limit: is ${der.length} bytes, more than the limit of 100`);
      assert.equal(await failure(der, PASSWORD, { limits: { maxBags: 2 } }), 'limit: holds more than 2 bags (limit)');
      expectBob(await readPkcs12(der, PASSWORD, { limits: { maxBags: 4, maxIterations: 2048, maxTotalIterations: 3 * 2048 } }));
    });

    it('random corruption of a file without MAC gives contents or a Pkcs12Error, never anything else', async () => {
      const der = exportP12(['-nomac', '-keypbe', 'NONE']);
      await fc.assert(
        fc.asyncProperty(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), async (at, x) => {
          const bad = Buffer.from(der);
          bad[at]! ^= x;
          await failure(bad, PASSWORD);
        }),
        { numRuns: 150 },
      );
    });
  });
});
