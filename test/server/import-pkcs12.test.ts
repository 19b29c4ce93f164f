// The PKCS#12 import CLI against a real data folder, next to the real server: PKCS#12 files made
// by openssl (legacy 3DES/RC2 and modern, non-ASCII password) and the demo history file, checked
// through the admin API and by opening openssl-encrypted mail with the stored key history.
// Refusals get an exit code and a message, and store nothing.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decryptEnvelope } from '../../smime/decrypt.js';
import { keyHistory } from '../../server/certificates/keys.js';
import { Store } from '../../server/store/index.js';
import { loadServerKey } from '../../server/store/secrets.js';
import { PROJECT_ROOT, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { CONTENT, demo, openssl, opensslEncrypt } from '../smime/envelope-pki.js';
import { stamp, TestPki } from '../smime/verify-pki.js';

const CLI = path.join(PROJECT_ROOT, 'server', 'cli', 'import-pkcs12.ts');
const PASSWORD = 'Schlüssel für Dave ✓';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: PROJECT_ROOT, env: { ...process.env, EASMIME_SERVER_KEY: '', ...env }, input, encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('server/cli/import-pkcs12: importing key pairs into a data folder', function () {
  this.timeout(180_000);
  let work: string;
  let pki: TestPki;
  let server: ServerProcess;
  let data: string;
  let passwordFile: string;
  const files: Record<string, string> = {};
  const certs: Record<string, string> = {};

  const rowCount = (): number => {
    const store = Store.open(data);
    try {
      return (store.db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n;
    } finally {
      store.close();
    }
  };
  const admin = async (route: string): Promise<unknown> => {
    const token = fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
    const res = await fetch(`${server.baseUrl}/admin/${route}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return res.json();
  };

  before(async () => {
    work = tempDir('easmime-import-');
    // The demo organisation, with Alice's encryption history left out so that it can be imported.
    const fixtures = path.join(work, 'fixtures');
    fs.cpSync(path.join(PROJECT_ROOT, 'fixtures', 'demo'), fixtures, { recursive: true });
    const orgFile = path.join(fixtures, 'organisation.json');
    const org = JSON.parse(fs.readFileSync(orgFile, 'utf8')) as { users: Array<{ certificates: Array<{ purpose: string }> }> };
    org.users[0]!.certificates = org.users[0]!.certificates.filter((c) => c.purpose !== 'encryption');
    fs.writeFileSync(orgFile, JSON.stringify(org, null, 2));

    // Two generations of encryption certificates for Dave from a CA made here: 2023 (expired), current.
    pki = new TestPki('easmime-import-pki-');
    pki.root('ca', '/O=Import Test/CN=Import Test CA');
    for (const [name, start, end] of [['dave-2023', stamp(-900), stamp(-100)], ['dave-now', stamp(-10), stamp(700)]] as const) {
      const issued = pki.person('ca', name, 'dave@contoso.test', { key: pki.key(name), ku: 'keyEncipherment', start, end });
      certs[name] = issued.cert;
      files[name] = path.join(work, `${name}.p12`);
      openssl(['pkcs12', '-export', ...(name === 'dave-2023' ? ['-legacy'] : []), '-inkey', issued.key, '-in', issued.cert, '-certfile', pki.file('ca.crt'),
        '-passout', `pass:${PASSWORD}`, '-out', files[name]!]);
    }
    passwordFile = path.join(work, 'password.txt');
    fs.writeFileSync(passwordFile, `${PASSWORD}\n`);

    data = tempDir();
    server = await startServerProcess({ data, fixtures });
  });

  after(async () => {
    await server?.stop();
    pki?.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('the demo fixtures stored every key readable, the legacy (RC2/3DES) one included', () => {
    const store = Store.open(data);
    try {
      const serverKey = loadServerKey(data, {});
      for (const address of ['alice@contoso.test', 'bob@contoso.test', 'carol@contoso.test', 'dave@contoso.test']) {
        const user = store.directory.userByAddress(address)!;
        assert.ok(store.certificates.ofUser(user.id).every((c) => c.hasPrivateKey), `${address}: every certificate has its key`);
        assert.equal(keyHistory(store, serverKey, user.id, 'signing').length, 1, `${address}: signing key`);
      }
      const bob = store.directory.userByAddress('bob@contoso.test')!;
      const bobKeys = keyHistory(store, serverKey, bob.id);
      assert.equal(bobKeys.length, 1);
      assert.equal(store.certificates.byId(bobKeys[0]!.certificateId)!.source, 'pki/users/bob-encryption-legacy.p12');
      const r = decryptEnvelope(opensslEncrypt([demo('users/bob-encryption.crt')]), bobKeys);
      assert.ok(r.ok && r.content.equals(CONTENT), JSON.stringify(r));
    } finally {
      store.close();
    }
  });

  it('imports a legacy (3DES/RC2) and a modern file while the server runs; the admin API lists them with their keys', async () => {
    const before = rowCount();
    const old = cli(['--data', data, '--user', 'dave@contoso.test', '--purpose', 'encryption', '--password-file', passwordFile, files['dave-2023']!]);
    assert.equal(old.status, 0, old.stderr);
    assert.match(old.stderr, /is protected with pbewithSHAAnd40BitRC2-CBC, pbeWithSHAAnd3-KeyTripleDES-CBC/);
    assert.match(old.stderr, /warning: .* expired on \d{4}-\d\d-\d\d: kept to read older mail/);
    assert.match(old.stdout, /^added: encryption certificate .*CN=dave-2023.* \(id \d+\)$/m);
    assert.match(old.stdout, /dave@contoso\.test: 1 of 1 key pair\(s\) imported/);
    // The password from the environment, the user by local part.
    const current = cli(['--data', data, '--user', 'dave', '--purpose', 'encryption', '--password-env', 'P12_PASS', files['dave-now']!], { P12_PASS: PASSWORD });
    assert.equal(current.status, 0, current.stderr);
    assert.match(current.stderr, /PBES2 \(PBKDF2 hmacWithSHA256, aes-256-cbc\)/);
    assert.equal(rowCount(), before + 2);

    const listed = (await admin('users/dave@contoso.test/certificates')) as Array<{ purpose: string; serial: string; hasPrivateKey: boolean; published: boolean; source: string }>;
    const enc = listed.filter((c) => c.purpose === 'encryption');
    assert.deepEqual(enc.map((c) => [c.source, c.hasPrivateKey, c.published]).sort(), [
      ['import-pkcs12 dave-2023.p12', true, true],
      ['import-pkcs12 dave-now.p12', true, true],
    ]);
  });

  it("the stored history opens mail to either generation, newest key first", () => {
    const store = Store.open(data);
    try {
      const dave = store.directory.userByAddress('dave@contoso.test')!;
      const keys = keyHistory(store, loadServerKey(data, {}), dave.id);
      assert.deepEqual(keys.map((k) => new crypto.X509Certificate(k.certificate).subject.includes('CN=dave-now')), [true, false]);
      const toOld = decryptEnvelope(opensslEncrypt([certs['dave-2023']!]), keys);
      assert.ok(toOld.ok && toOld.keyIndex === 1 && toOld.content.equals(CONTENT), JSON.stringify(toOld));
      const toNew = decryptEnvelope(opensslEncrypt([certs['dave-now']!], ['-aes-256-gcm']), keys);
      assert.ok(toNew.ok && toNew.keyIndex === 0 && toNew.content.equals(CONTENT));
    } finally {
      store.close();
    }
  });

  it('a history file with two key pairs becomes two generations', () => {
    const r = cli(['--data', data, '--user', 'alice@contoso.test', '--purpose', 'encryption', '--password-file', '-', demo('users/alice-encryption-history.p12')], {}, 'demo\n');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /alice@contoso\.test: 2 of 2 key pair\(s\) imported/);
    const store = Store.open(data);
    try {
      const alice = store.directory.userByAddress('alice@contoso.test')!;
      const keys = keyHistory(store, loadServerKey(data, {}), alice.id);
      assert.deepEqual(keys.map((k) => new crypto.X509Certificate(k.certificate).serialNumber), ['2003', '2002']);
      const toOld = decryptEnvelope(opensslEncrypt([demo('users/alice-encryption-2021.crt')]), keys);
      assert.ok(toOld.ok && toOld.keyIndex === 1 && toOld.content.equals(CONTENT));
    } finally {
      store.close();
    }
    // Importing the same file again changes nothing.
    const again = cli(['--data', data, '--user', 'alice', '--purpose', 'encryption', '--password-file', '-', demo('users/alice-encryption-history.p12')], {}, 'demo\n');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /alice@contoso\.test: 0 of 2 key pair\(s\) imported/);
    assert.equal((again.stdout.match(/^already stored: /gm) ?? []).length, 2);
  });

  it('refusals: wrong password (exit 3), unknown user, wrong purpose, damaged file (exit 1); nothing stored', () => {
    const before = rowCount();
    const wrong = cli(['--data', data, '--user', 'dave', '--purpose', 'encryption', '--password-env', 'P', files['dave-now']!], { P: 'Schlussel fur Dave' });
    assert.equal(wrong.status, 3);
    assert.match(wrong.stderr, /dave-now\.p12: MAC does not verify: wrong password, or the file is damaged/);
    const nobody = cli(['--data', data, '--user', 'zoe@contoso.test', '--purpose', 'encryption', '--password-file', passwordFile, files['dave-now']!]);
    assert.equal(nobody.status, 1);
    assert.match(nobody.stderr, /no user zoe@contoso\.test in this organisation/);
    const signingAsEncryption = cli(['--data', data, '--user', 'dave', '--purpose', 'encryption', '--password-env', 'P', demo('users/dave-signing.p12')], { P: 'demo' });
    assert.equal(signingAsEncryption.status, 1);
    assert.match(signingAsEncryption.stderr, /dave-signing\.p12: .*Dave Dunn.* cannot receive encrypted mail \(key usage: digitalSignature, nonRepudiation\)/);
    const device = cli(['--data', data, '--user', 'dave', '--purpose', 'encryption', '--device-id', 'ABC', '--password-file', passwordFile, files['dave-now']!]);
    assert.equal(device.status, 1);
    assert.match(device.stderr, /a device id belongs to signing certificates only/);
    const garbage = path.join(work, 'garbage.p12');
    fs.writeFileSync(garbage, crypto.randomBytes(300));
    const damaged = cli(['--data', data, '--user', 'dave', '--purpose', 'encryption', '--password-file', passwordFile, garbage]);
    assert.equal(damaged.status, 1);
    assert.match(damaged.stderr, /garbage\.p12: is not a PKCS#12 file/);
    const dry = cli(['--data', data, '--user', 'carol', '--purpose', 'encryption', '--dry-run', '--password-file', passwordFile, files['dave-now']!]);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /^would add: encryption certificate/m);
    assert.match(dry.stderr, /does not name carol@contoso\.test \(it names dave@contoso\.test\)/);
    assert.equal(rowCount(), before);
  });

  it('the data folder and the server key must be the server\'s own', () => {
    const elsewhere = tempDir();
    const none = cli(['--data', elsewhere, '--user', 'dave', '--purpose', 'encryption', '--password-file', passwordFile, files['dave-now']!]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /is not an easmime data folder \(no easmime\.sqlite/);
    assert.deepEqual(fs.readdirSync(elsewhere), [], 'nothing created');
    fs.rmSync(elsewhere, { recursive: true });
    const before = rowCount();
    const otherKey = cli(['--data', data, '--user', 'carol', '--purpose', 'encryption', '--password-file', passwordFile, files['dave-now']!], { EASMIME_SERVER_KEY: '11'.repeat(32) });
    assert.equal(otherKey.status, 1);
    assert.match(otherKey.stderr, /the server key does not open the keys already stored/);
    assert.equal(rowCount(), before);
  });

  it('usage errors exit with 2 and say what is wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--data', data, '--purpose', 'encryption', '--password-file', passwordFile, 'x.p12'], /missing --user/],
      [['--data', data, '--user', 'dave', '--purpose', 'encryption', 'x.p12'], /exactly one of --password-file and --password-env/],
      [['--data', data, '--user', 'dave', '--purpose', 'decryption', '--password-file', passwordFile, 'x.p12'], /--purpose must be signing, encryption or both, not "decryption"/],
      [['--data', data, '--user', 'dave', '--purpose', 'encryption', '--password-file', passwordFile], /no PKCS#12 file given/],
      [['--data', data, '--user', 'dave', '--purpose', 'encryption', '--password', 'x', 'x.p12'], /Unknown option '--password'/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const help = cli(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--password-file FILE/);
  });
});
