import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as pkijs from 'pkijs';

import { FixtureError, loadFixtures, type LoadFixturesOptions } from '../../server/fixtures/load.js';
import { JsonSyntaxError, parseJson } from '../../server/fixtures/json.js';
import { headerBlockProblem } from '../../server/fixtures/mailbox.js';
import type { OrganisationFixture, UserFixture } from '../../server/fixtures/types.js';
import { decodeWbxml } from '../../eas/wbxml/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const demo = path.join(repo, 'fixtures/demo');
const pki = path.join(demo, 'pki');

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** stdout and stderr together. */
const opensslAll = (...args: string[]): string => {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout + r.stderr;
};
const serialOf = (der: Buffer): string => new X509Certificate(der).serialNumber.toUpperCase();
const user = (f: OrganisationFixture, local: string): UserFixture => {
  const u = f.users.find((x) => x.localPart === local);
  assert.ok(u, `user ${local}`);
  return u;
};

const temps: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'easmime-fixture-'));
  temps.push(d);
  return d;
}
/** A copy of the demo fixture to break on purpose. */
function demoCopy(): string {
  const d = path.join(tempDir(), 'fixture');
  cpSync(demo, d, { recursive: true });
  return d;
}
function editOrg(dir: string, edit: (org: any) => void): void {
  const file = path.join(dir, 'organisation.json');
  const org = JSON.parse(readFileSync(file, 'utf8'));
  edit(org);
  writeFileSync(file, JSON.stringify(org, null, 2));
}
function put(dir: string, rel: string, content: string | Buffer): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), content);
}
const crlf = (...lines: string[]): string => lines.join('\r\n') + '\r\n';

/** Loads and expects a FixtureError whose lines match every pattern; returns the lines. */
async function problems(dir: string, patterns: RegExp[], options?: LoadFixturesOptions): Promise<readonly string[]> {
  let err: unknown;
  try {
    await loadFixtures(dir, options);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof FixtureError, `expected a FixtureError, got ${String(err)}`);
  for (const line of err.problems) {
    // Every problem names a file relative to the fixture folder first.
    assert.match(line, /^(\.|[^/\s][^:]*): /, `problem does not start with a relative path: ${line}`);
    assert.ok(!line.startsWith(dir), line);
  }
  for (const p of patterns) {
    assert.ok(err.problems.some((l) => p.test(l)), `no problem matches ${p}; got:\n${err.message}`);
  }
  assert.equal(err.message.split('\n').slice(0, err.problems.length).join('\n'), err.problems.join('\n'));
  return err.problems;
}

after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe('fixtures: the demo organisation', () => {
  let f: OrganisationFixture;
  before(async () => {
    f = await loadFixtures(demo);
  });

  it('has the organisation, users, passwords and the Sales group', () => {
    assert.equal(f.name, 'Contoso (demo)');
    assert.equal(f.domain, 'contoso.test');
    assert.equal(f.root, demo);
    assert.deepEqual(
      f.users.map((u) => [u.address, u.localPart, u.displayName, u.password]),
      [
        ['alice@contoso.test', 'alice', 'Alice Anders', 'demo'],
        ['bob@contoso.test', 'bob', 'Bob Berg', 'demo'],
        ['carol@contoso.test', 'carol', 'Carol Castro', 'demo'],
        ['dave@contoso.test', 'dave', 'Dave Dunn', 'demo'],
      ],
    );
    assert.deepEqual(f.groups, [{ address: 'sales@contoso.test', localPart: 'sales', displayName: 'Sales', members: ['alice@contoso.test', 'bob@contoso.test'] }]);
    assert.deepEqual(f.users.map((u) => u.groups), [['sales@contoso.test'], ['sales@contoso.test'], [], []]);
    assert.equal(f.policy.mode, 'tag');
  });

  it('trusts the Contoso and Fabrikam roots, the issuing CA and their CRLs', () => {
    const subjects = (l: { der: Buffer }[]): string[] => l.map((c) => new X509Certificate(c.der).subject.split('\n').pop()!);
    assert.deepEqual(subjects(f.trustedRoots), ['CN=Contoso Demo Root CA', 'CN=Fabrikam Demo Root CA']);
    assert.deepEqual(subjects(f.intermediates), ['CN=Contoso Demo Issuing CA']);
    assert.deepEqual(f.crls.map((c) => c.file), ['pki/contoso-root.crl', 'pki/contoso-issuing.crl', 'pki/fabrikam-root.crl']);
    const root = new X509Certificate(f.trustedRoots[0]!.der);
    const issuing = new X509Certificate(f.intermediates[0]!.der);
    assert.ok(issuing.verify(root.publicKey) && issuing.checkIssued(root));
    assert.ok(new Date(root.validTo) >= new Date('2046-01-01'));
    for (const crl of f.crls) {
      const parsed = pkijs.CertificateRevocationList.fromBER(new Uint8Array(crl.der));
      assert.ok(parsed.nextUpdate && parsed.nextUpdate.value > new Date('2045-01-01'), `${crl.file} nextUpdate`);
      assert.ok(parsed.thisUpdate.value < new Date(), `${crl.file} thisUpdate is in the past`);
    }
  });

  it('gives alice a signing certificate and two generations of encryption certificates, the older expired', () => {
    const alice = user(f, 'alice');
    const signing = alice.certificates.filter((c) => c.purpose === 'signing');
    const enc = alice.certificates.filter((c) => c.purpose === 'encryption');
    assert.equal(signing.length, 1);
    assert.equal(signing[0]!.publish, false);
    assert.equal(enc.length, 2);
    const now = Date.now();
    const validTo = enc.map((c) => new Date(new X509Certificate(c.certificate).validTo).getTime());
    assert.equal(validTo.filter((t) => t < now).length, 1, 'one expired');
    assert.equal(validTo.filter((t) => t > now).length, 1, 'one current');
    assert.ok(validTo.some((t) => new Date(t).getUTCFullYear() === 2024));
    assert.ok(validTo.some((t) => new Date(t).getUTCFullYear() >= 2035));
    // Both come from one two-key PKCS#12, the history a device needs.
    assert.ok(enc.every((c) => c.file === 'pki/users/alice-encryption-history.p12' && c.pkcs12?.password === 'demo' && c.publish));
    const info = openssl('pkcs12', '-in', path.join(pki, 'users/alice-encryption-history.p12'), '-passin', 'pass:demo', '-nodes', '-info');
    assert.equal(info.match(/BEGIN PRIVATE KEY/g)?.length, 2);
    for (const c of alice.certificates) {
      const x = new X509Certificate(c.certificate);
      assert.equal(x.checkEmail('alice@contoso.test'), 'alice@contoso.test');
      assert.ok(x.verify(new X509Certificate(f.intermediates[0]!.der).publicKey));
      assert.equal(c.chain.length, 2);
    }
  });

  it("gives bob an encryption certificate from a legacy (RC2/3DES) PKCS#12, and a modern one exists too", () => {
    const bob = user(f, 'bob');
    const enc = bob.certificates.filter((c) => c.purpose === 'encryption');
    assert.equal(enc.length, 1);
    assert.equal(enc[0]!.file, 'pki/users/bob-encryption-legacy.p12');
    assert.deepEqual(enc[0]!.certificate, new X509Certificate(readFileSync(path.join(pki, 'users/bob-encryption.crt'))).raw);
    // `pkcs12 -info` writes the algorithm lines to stderr.
    const legacyInfo = opensslAll('pkcs12', '-info', '-legacy', '-nokeys', '-noout', '-passin', 'pass:demo', '-in', path.join(pki, 'users/bob-encryption-legacy.p12'));
    assert.match(legacyInfo, /pbeWithSHA1And40BitRC2-CBC/);
    assert.match(legacyInfo, /pbeWithSHA1And3-KeyTripleDES-CBC/);
    assert.match(legacyInfo, /MAC: sha1/);
    const modernInfo = opensslAll('pkcs12', '-info', '-nokeys', '-noout', '-passin', 'pass:demo', '-in', path.join(pki, 'users/bob-encryption.p12'));
    assert.match(modernInfo, /PBES2, PBKDF2, AES-256-CBC/);
    assert.doesNotMatch(modernInfo, /RC2|TripleDES/);
  });

  it("lists carol's encryption certificate, and only it, in the issuing CA's CRL", () => {
    const carol = user(f, 'carol');
    const enc = carol.certificates.find((c) => c.purpose === 'encryption')!;
    const sign = carol.certificates.find((c) => c.purpose === 'signing')!;
    const text = openssl('crl', '-in', path.join(pki, 'contoso-issuing.crl'), '-noout', '-text');
    const revoked = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]);
    assert.deepEqual(revoked, [serialOf(enc.certificate)]);
    assert.ok(!revoked.includes(serialOf(sign.certificate)));
    assert.match(text, /Key Compromise/);
    // The same, read from what the loader returned.
    const crl = pkijs.CertificateRevocationList.fromBER(new Uint8Array(f.crls.find((c) => c.file === 'pki/contoso-issuing.crl')!.der));
    const serials = (crl.revokedCertificates ?? []).map((r) => Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex').toUpperCase());
    assert.deepEqual(serials, [serialOf(enc.certificate).padStart(serials[0]!.length, '0')]);
  });

  it('has dave with a signing certificate only', () => {
    assert.deepEqual(user(f, 'dave').certificates.map((c) => c.purpose), ['signing']);
  });

  it('has external contacts: erin with an encryption certificate from the Fabrikam CA, frank with none', () => {
    assert.deepEqual(f.externalContacts.map((c) => [c.address, c.displayName, c.certificates.length]), [
      ['erin@fabrikam.test', 'Erin Eriksen', 1],
      ['frank@fabrikam.test', 'Frank Fischer', 0],
    ]);
    const erin = f.externalContacts[0]!.certificates[0]!;
    assert.equal(erin.purpose, 'encryption');
    assert.equal(erin.publish, true);
    assert.equal(erin.pkcs12, undefined);
    assert.ok(new X509Certificate(erin.certificate).checkIssued(new X509Certificate(f.trustedRoots[1]!.der)));
  });

  it('issues every user certificate as RSA-2048/SHA-256 with the S/MIME extensions the brief asks for', () => {
    for (const u of f.users) {
      for (const c of u.certificates) {
        const x = new X509Certificate(c.certificate);
        assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
        assert.match(x.subject, new RegExp(`emailAddress=${u.localPart}@contoso.test`));
        assert.equal(x.subjectAltName, `email:${u.address}`);
        assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.4']);
        const dump = execFileSync('openssl', ['x509', '-noout', '-text'], { input: x.toString(), encoding: 'utf8' });
        assert.match(dump, /sha256WithRSAEncryption/);
        assert.match(dump, /URI:http:\/\/127\.0\.0\.1:8080\/pki\/contoso-issuing\.crl/);
        if (c.purpose === 'signing') assert.match(dump, /Key Usage: critical\n\s+Digital Signature, Non Repudiation\n/);
        else assert.match(dump, /Key Usage: critical\n\s+Key Encipherment, Data Encipherment\n/);
      }
    }
  });

  it('has the mailboxes, byte for byte, with CRLF line ends and a nested folder', () => {
    const alice = user(f, 'alice');
    assert.deepEqual(
      alice.mailbox.map((m) => `${m.folder} | ${m.file}`),
      [
        'Drafts | mailboxes/alice/Drafts/note-to-erin.eml',
        'Inbox | mailboxes/alice/Inbox/q3-figures.eml',
        'Inbox | mailboxes/alice/Inbox/welcome.eml',
        'Inbox/Projects | mailboxes/alice/Inbox/Projects/kickoff.eml',
        'Sent Items | mailboxes/alice/Sent Items/re-q3-figures.eml',
      ],
    );
    for (const u of f.users) {
      assert.ok(u.mailbox.some((m) => m.file === `mailboxes/${u.localPart}/Inbox/welcome.eml`), `${u.localPart} has a welcome message`);
      for (const m of u.mailbox) {
        assert.deepEqual(m.raw, readFileSync(path.join(demo, m.file)));
        const text = m.raw.toString('latin1');
        assert.doesNotMatch(text, /[^\r]\n/, `${m.file} has bare LF`);
        assert.match(text, /\r\n\r\n/);
        assert.ok(m.raw.length < 2048);
      }
    }
  });

  it('reports progress up to the total', async () => {
    const calls: [number, number, string][] = [];
    await loadFixtures(demo, { onProgress: (d, t, w) => calls.push([d, t, w]) });
    const last = calls.at(-1)!;
    assert.equal(last[0], last[1]);
    assert.ok(calls.some((c) => c[2] === 'pki/users/alice-encryption-history.p12'));
    assert.ok(calls.some((c) => c[2] === 'mailboxes/alice/Inbox/welcome.eml'));
    const doneSeq = calls.filter((c) => c[1] > 0).map((c) => c[0]);
    assert.deepEqual(doneSeq, doneSeq.map((_, i) => i + 1));
  });

  it('writes nothing', async () => {
    const dir = demoCopy();
    const snapshot = (): string[] => {
      const out: string[] = [];
      const walk = (d: string): void => {
        for (const n of readdirSync(d)) {
          const p = path.join(d, n);
          const st = statSync(p);
          out.push(`${p} ${st.size} ${st.mtimeMs}`);
          if (st.isDirectory()) walk(p);
        }
      };
      walk(dir);
      return out.sort();
    };
    const before = snapshot();
    await loadFixtures(dir);
    assert.deepEqual(snapshot(), before);
  });

  it('is regenerated identically by make-demo-pki.sh from the kept keys', function () {
    this.timeout(60_000);
    const t = tempDir();
    cpSync(path.join(repo, 'fixtures/make-demo-pki.sh'), path.join(t, 'make-demo-pki.sh'));
    mkdirSync(path.join(t, 'demo/pki'), { recursive: true });
    cpSync(path.join(pki, 'ca'), path.join(t, 'demo/pki/ca'), { recursive: true });
    cpSync(path.join(pki, 'keys'), path.join(t, 'demo/pki/keys'), { recursive: true });
    execFileSync('bash', [path.join(t, 'make-demo-pki.sh')], { stdio: 'ignore' });
    for (const rel of ['contoso-root-ca.crt', 'contoso-issuing-ca.crt', 'contoso-issuing.crl', 'users/alice-encryption-2021.crt', 'users/carol-encryption.crt', 'external/erin-encryption.crt']) {
      assert.deepEqual(readFileSync(path.join(t, 'demo/pki', rel)), readFileSync(path.join(pki, rel)), rel);
    }
    const info = opensslAll('pkcs12', '-info', '-nokeys', '-noout', '-passin', 'pass:demo', '-in', path.join(t, 'demo/pki/users/alice-encryption-history.p12'));
    assert.match(info, /MAC: sha256/);
  });
});

describe('fixtures: bad fixtures are refused with the file and the problem', () => {
  it('a missing fixture folder or organisation.json', async () => {
    await problems(path.join(tempDir(), 'nope'), [/^\.: fixture folder .* does not exist$/]);
    await problems(tempDir(), [/^organisation\.json: not found in the fixture folder$/]);
  });

  it('JSON syntax errors, with line and column', async () => {
    const d = tempDir();
    put(d, 'organisation.json', '{\n  "name": "x",\n  "domain": "contoso.test"\n  "users": []\n}\n');
    await problems(d, [/^organisation\.json: invalid JSON: expected ',' or '}' in object, found "\\"" \(line 4, column 3\)$/]);
    put(d, 'organisation.json', '{ "name": "x", "users": [], }');
    await problems(d, [/trailing comma before \} \(line 1, column 29\)/]);
    put(d, 'organisation.json', '{ // hi\n}');
    await problems(d, [/^organisation\.json: invalid JSON: expected a property name in double quotes, found a comment \(comments are not allowed in JSON; use a "comment" property\) \(line 1, column 3\)$/]);
    put(d, 'organisation.json', Buffer.from([0x7b, 0xff, 0x7d]));
    await problems(d, [/^organisation\.json: is not valid UTF-8$/]);
    put(d, 'organisation.json', '[1,2');
    await problems(d, [/invalid JSON: .*\(line 1, column 5\)/]);
  });

  it('schema errors name the field path', async () => {
    const d = demoCopy();
    editOrg(d, (org) => {
      org.users[2].address = 'carol@';
      org.users[1].displayname = 'Bob';
      delete org.users[3].password;
      org.users[0].password = 7;
      org.groups[0].members.push('zoe@contoso.test', 'alice');
      org.users.push({ address: 'Alice@Contoso.test', password: 'x' });
      org.users.push({ address: 'eve@elsewhere.test', password: 'x' });
      org.externalContacts.push({ address: 'mallory@contoso.test' });
      org.externalContacts[0].certificates[0].purpose = 'sign';
      org.users[0].certificates[0].deviceId = 'ABC';
      org.users[0].certificates[1].deviceId = 'ABC';
      org.users[1].certificates[0].password = undefined;
      org.users[3].certificates[0] = { purpose: 'signing', certificate: 'pki/users/dave-signing.crt', password: 'demo' };
      org.crls.push('../outside.crl', '/etc/x.crl');
      org.intermediates.push('pki/users/dave-signing.p12');
      org.policy = ['tag'];
      org.extra = true;
    });
    await problems(d, [
      /^organisation\.json: users\[2\]\.address: not an e-mail address: "carol@" \(line \d+, column \d+\)$/,
      /^organisation\.json: users\[1\]\.displayname: unknown field \(did you mean "displayName"\?\)/,
      /^organisation\.json: users\[3\]: missing required field "password"/,
      /^organisation\.json: users\[0\]\.password: must be a string, not a number/,
      /^organisation\.json: groups\[0\]\.members\[2\]: "zoe@contoso\.test" is not a user of the organisation/,
      /^organisation\.json: groups\[0\]\.members\[3\]: "alice" is listed twice/,
      /^organisation\.json: users\[4\]\.address: "alice@contoso\.test" is already used by users\[0\]/,
      /^organisation\.json: users\[5\]\.address: "eve@elsewhere\.test" is not in the organisation's domain contoso\.test/,
      /^organisation\.json: externalContacts\[2\]\.address: "mallory@contoso\.test" is in the organisation's own domain/,
      /^organisation\.json: externalContacts\[0\]\.certificates\[0\]\.purpose: must be one of "signing", "encryption", "both"/,
      /^organisation\.json: users\[0\]\.certificates\[1\]\.deviceId: only signing certificates belong to one device/,
      /^organisation\.json: users\[1\]\.certificates\[0\]: missing "password" for the PKCS#12 file/,
      /^organisation\.json: users\[3\]\.certificates\[0\]\.password: is only used with "pkcs12"/,
      /^organisation\.json: crls\[3\]: "\.\.\/outside\.crl": must name a file inside the fixture folder/,
      /^organisation\.json: crls\[4\]: "\/etc\/x\.crl": must be relative to the fixture folder/,
      /^organisation\.json: intermediates\[1\]: "pki\/users\/dave-signing\.p12": expected a \.crt\/\.pem\/\.cer\/\.der file/,
      /^organisation\.json: policy: must be an object, not an array/,
      /^organisation\.json: extra: unknown field; allowed: name, domain, users/,
    ]);
  });

  it('duplicate keys and wrong top-level types', async () => {
    const d = tempDir();
    put(d, 'organisation.json', '{"name": "a", "domain": "x.test", "users": [], "name": "b"}');
    await problems(d, [/^organisation\.json: field "name" appears twice in the same object \(line 1, column 48\)$/]);
    put(d, 'organisation.json', '{"name": "a", "domain": "-bad-.test", "users": {}}');
    await problems(d, [/^organisation\.json: domain: is not a domain name/, /^organisation\.json: users: must be an array, not an object/]);
    put(d, 'organisation.json', '"just a string"');
    await problems(d, [/^organisation\.json: must be an object, not a string \(line 1, column 1\)$/]);
  });

  it('more users than the limit', async () => {
    await problems(demoCopy(), [/^organisation\.json: users: has 4 users, more than the limit of 3/], { maxUsers: 3 });
  });

  it('certificate files that are missing, unparsable, bundles, keys, CAs', async () => {
    const d = demoCopy();
    const daveCrt = readFileSync(path.join(d, 'pki/users/dave-signing.crt'), 'utf8');
    const rootCrt = readFileSync(path.join(d, 'pki/contoso-root-ca.crt'), 'utf8');
    const daveKey = readFileSync(path.join(d, 'pki/keys/dave-signing.key'), 'utf8');
    put(d, 'pki/bad/garbage.crt', 'this is not a certificate\n');
    put(d, 'pki/bad/two.pem', daveCrt + rootCrt);
    put(d, 'pki/bad/with-key.pem', daveCrt + daveKey);
    put(d, 'pki/bad/trailing.der', Buffer.concat([new X509Certificate(daveCrt).raw, Buffer.from([0, 0])]));
    put(d, 'pki/bad/empty.cer', '');
    put(d, 'pki/bad/crl.der', execFileSync('openssl', ['crl', '-in', path.join(d, 'pki/contoso-root.crl'), '-outform', 'DER']));
    editOrg(d, (org) => {
      org.externalContacts[1].certificates = [
        { purpose: 'encryption', certificate: 'pki/bad/missing.crt' },
        { purpose: 'encryption', certificate: 'pki/bad/garbage.crt' },
        { purpose: 'encryption', certificate: 'pki/bad/two.pem' },
        { purpose: 'encryption', certificate: 'pki/bad/with-key.pem' },
        { purpose: 'encryption', certificate: 'pki/bad/trailing.der' },
        { purpose: 'encryption', certificate: 'pki/bad/empty.cer' },
        { purpose: 'encryption', certificate: 'pki/contoso-root-ca.crt' },
        { purpose: 'encryption', certificate: 'pki/external/erin-encryption.crt', chain: ['pki/bad/garbage.crt'] },
        { purpose: 'encryption', certificate: 'pki/bad/crl.der' },
      ];
      org.intermediates.push('pki/users/dave-signing.crt');
      org.trustedRoots.push('pki/bad/garbage.crt');
    });
    await problems(d, [
      /^organisation\.json: externalContacts\[1\]\.certificates\[0\]\.certificate: "pki\/bad\/missing\.crt" file not found \(line \d+, column \d+\)$/,
      /^pki\/bad\/garbage\.crt: is neither PEM nor a DER certificate \(named by organisation\.json trustedRoots\[2\]\)$/,
      /^pki\/bad\/garbage\.crt: is neither PEM nor a DER certificate .*externalContacts\[1\]\.certificates\[1\]\.certificate\)$/,
      /^pki\/bad\/two\.pem: holds 2 certificates where exactly one is expected/,
      /^pki\/bad\/with-key\.pem: holds PEM blocks other than CERTIFICATE: PRIVATE KEY \(private keys belong in a PKCS#12 file/,
      /^pki\/bad\/trailing\.der: has extra bytes after the certificate/,
      /^pki\/bad\/empty\.cer: is empty/,
      /^pki\/contoso-root-ca\.crt: "C=US, O=Contoso Demo, CN=Contoso Demo Root CA" is a CA certificate, not a user's certificate/,
      /^pki\/bad\/garbage\.crt: .*externalContacts\[1\]\.certificates\[7\]\.chain\[0\]\)$/,
      /^pki\/users\/dave-signing\.crt: .*Dave Dunn.* is not a CA certificate .*intermediates\[1\]/,
      /^pki\/bad\/crl\.der: is not an X\.509 certificate \(.*\) \(named by organisation\.json externalContacts\[1\]\.certificates\[8\]\.certificate\)$/,
    ]);
  });

  it('PKCS#12 files: unparsable, wrong password (modern and legacy), legacy without certificate, mismatched certificate', async () => {
    const d = demoCopy();
    const p12 = readFileSync(path.join(d, 'pki/users/bob-signing.p12'));
    put(d, 'pki/bad/garbage.p12', Buffer.from('not pkcs12 at all'));
    put(d, 'pki/bad/truncated.p12', p12.subarray(0, p12.length - 40));
    put(d, 'pki/bad/pem.pfx', readFileSync(path.join(d, 'pki/users/bob-signing.crt')));
    editOrg(d, (org) => {
      org.users[0].certificates[0].password = 'wrong';
      org.users[1].certificates[1].password = 'Demo';
      delete org.users[1].certificates[1].certificate;
      delete org.users[1].certificates[1].chain;
      org.users[2].certificates[1].certificate = 'pki/users/carol-signing.crt';
      org.users[3].certificates.push(
        { purpose: 'encryption', pkcs12: 'pki/bad/garbage.p12', password: 'demo' },
        { purpose: 'encryption', pkcs12: 'pki/bad/truncated.p12', password: 'demo' },
        { purpose: 'encryption', pkcs12: 'pki/bad/pem.pfx', password: 'demo' },
      );
      // A legacy (3DES/RC2) file opens completely: it needs no "certificate" and adds no problem here.
      org.externalContacts[1].certificates = [{ purpose: 'encryption', pkcs12: 'pki/users/bob-encryption-legacy.p12', password: 'demo' }];
    });
    await problems(d, [
      /^pki\/users\/alice-signing\.p12: MAC does not verify: wrong password, or the file is damaged \(named by organisation\.json users\[0\]\.certificates\[0\]\.pkcs12\)$/,
      /^pki\/users\/bob-encryption-legacy\.p12: MAC does not verify: wrong password/,
      /^pki\/users\/carol-signing\.crt: is not a certificate whose private key is in pki\/users\/carol-encryption\.p12/,
      /^pki\/bad\/garbage\.p12: is not a PKCS#12 file/,
      /^pki\/bad\/truncated\.p12: is not a PKCS#12 file/,
      /^pki\/bad\/pem\.pfx: is PEM text, not a PKCS#12 file/,
    ]);
  });

  it('a PKCS#12 without a private key or without a MAC, and the same certificate twice', async () => {
    const d = demoCopy();
    const crt = path.join(d, 'pki/users/dave-signing.crt');
    const key = path.join(d, 'pki/keys/dave-signing.key');
    const out = (name: string): string => path.join(d, 'pki', name);
    execFileSync('openssl', ['pkcs12', '-export', '-nokeys', '-in', crt, '-passout', 'pass:demo', '-out', out('nokey.p12')]);
    execFileSync('openssl', ['pkcs12', '-export', '-nomac', '-in', crt, '-inkey', key, '-passout', 'pass:demo', '-out', out('nomac.p12')]);
    execFileSync('openssl', ['pkcs12', '-export', '-nomac', '-legacy', '-in', crt, '-inkey', key, '-passout', 'pass:demo', '-out', out('nomac-legacy.p12')]);
    editOrg(d, (org) => {
      org.users[3].certificates = [
        { purpose: 'signing', pkcs12: 'pki/nokey.p12', password: 'demo' },
        { purpose: 'signing', pkcs12: 'pki/nomac.p12', password: 'wrong' },
        { purpose: 'signing', pkcs12: 'pki/nomac-legacy.p12', password: 'demo', certificate: 'pki/users/dave-signing.crt' },
      ];
      org.users[2].certificates.push({ purpose: 'both', certificate: 'pki/users/carol-signing.crt' });
    });
    await problems(d, [
      /^pki\/nokey\.p12: holds no private key; a certificate without a key goes in "certificate"/,
      // Which part shows the wrong password is chance (see NO_MAC_WRONG in test/smime/pkcs12.test.ts).
      /^pki\/nomac\.p12: (encrypted safe 1|key bag 1|private key 1) does not decrypt with the given password/,
      /^pki\/nomac-legacy\.p12: uses legacy encryption and has no MAC, so its password cannot be checked/,
      /^organisation\.json: users\[2\]\.certificates\[2\]: the same certificate as users\[2\]\.certificates\[0\]/,
    ]);
    // The MAC-less modern file opens with the right password.
    editOrg(d, (org) => {
      org.users[3].certificates = [{ purpose: 'signing', pkcs12: 'pki/nomac.p12', password: 'demo' }];
      org.users[2].certificates.pop();
    });
    const f = await loadFixtures(d);
    assert.equal(f.users[3]!.certificates[0]!.file, 'pki/nomac.p12');
  });

  it('CRLs that do not parse or come from an untrusted issuer', async () => {
    const d = demoCopy();
    put(d, 'pki/bad.crl', '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    put(d, 'pki/cert-as.crl', readFileSync(path.join(d, 'pki/contoso-root-ca.crt')));
    editOrg(d, (org) => {
      org.trustedRoots = ['pki/contoso-root-ca.crt'];
      org.crls.push('pki/bad.crl', 'pki/cert-as.crl');
      org.externalContacts[0].certificates = [];
    });
    await problems(d, [
      /^pki\/bad\.crl: is not a CRL .*\(named by organisation\.json crls\[3\]\)$/,
      /^pki\/cert-as\.crl: must hold exactly one "X509 CRL" PEM block, found: CERTIFICATE/,
      /^pki\/fabrikam-root\.crl: CRL issuer is not among trustedRoots or intermediates/,
    ]);
  });

  it('a CRL whose signature does not verify', async () => {
    const d = demoCopy();
    const der = Buffer.from(execFileSync('openssl', ['crl', '-in', path.join(d, 'pki/contoso-issuing.crl'), '-outform', 'DER']));
    der[der.length - 5]! ^= 0xff;
    put(d, 'pki/contoso-issuing.crl', der);
    await problems(d, [/^pki\/contoso-issuing\.crl: CRL signature does not verify with the key of "C=US, O=Contoso Demo, CN=Contoso Demo Issuing CA"/]);
  });

  it('.eml files: empty, too big, not a message, misplaced, unknown folders and users', async () => {
    const d = demoCopy();
    const ok = crlf('From: a@b.test', 'Subject: x', '', 'body');
    put(d, 'mailboxes/alice/Inbox/empty.eml', '');
    put(d, 'mailboxes/alice/Inbox/big.eml', crlf('Subject: big', '', 'x'.repeat(5000)));
    put(d, 'mailboxes/alice/Inbox/text.eml', 'Dear Alice,\r\n\r\nhello\r\n');
    put(d, 'mailboxes/alice/Inbox/binary.eml', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    put(d, 'mailboxes/alice/Inbox/mbox.eml', 'From alice@contoso.test Mon Nov  2 09:00:00 2026\nSubject: x\n\nbody\n');
    put(d, 'mailboxes/alice/Inbox/blank-first.eml', '\r\nbody\r\n');
    put(d, 'mailboxes/alice/Inbox/notes.txt', ok);
    put(d, 'mailboxes/alice/stray.eml', ok);
    put(d, 'mailboxes/alice/inbox/x.eml', ok);
    put(d, 'mailboxes/alice/Archive/x.eml', ok);
    put(d, 'mailboxes/Bob/Inbox/x.eml', ok);
    put(d, 'mailboxes/zoe/Inbox/x.eml', ok);
    put(d, 'mailboxes/readme.eml', ok);
    put(d, 'mailboxes/alice/Inbox/.DS_Store', 'ignored');
    put(d, 'mailboxes/bob/Drafts/.gitkeep', '');
    const lines = await problems(d, [
      /^mailboxes\/alice\/Inbox\/empty\.eml: is empty$/,
      /^mailboxes\/alice\/Inbox\/big\.eml: is \d+ bytes, more than the limit of 4096$/,
      /^mailboxes\/alice\/Inbox\/text\.eml: not an RFC 5322 message: line 1 is not a header field \("Name: value"\) nor a continuation: "Dear Alice,"$/,
      /^mailboxes\/alice\/Inbox\/binary\.eml: not an RFC 5322 message: line 1 is not a header field/,
      /^mailboxes\/alice\/Inbox\/mbox\.eml: not an RFC 5322 message: starts with an mbox "From " line/,
      /^mailboxes\/alice\/Inbox\/blank-first\.eml: not an RFC 5322 message: has no header fields/,
      /^mailboxes\/alice\/Inbox\/notes\.txt: is not an \.eml file/,
      /^mailboxes\/alice\/stray\.eml: files belong in a folder/,
      /^mailboxes\/alice\/inbox: "inbox" is not a standard folder \(Inbox, Drafts, Deleted Items, Sent Items, Outbox, Junk Email, Contacts, Calendar, Tasks, Notes\); put own folders inside one of them \(did you mean "Inbox"\?\)$/,
      /^mailboxes\/alice\/Archive: "Archive" is not a standard folder/,
      /^mailboxes\/Bob: no user with local part "Bob" in organisation\.json \(local parts are lower case: "bob"\)$/,
      /^mailboxes\/zoe: no user with local part "zoe"/,
      /^mailboxes\/readme\.eml: files belong in a folder/,
    ], { maxMessageBytes: 4096 });
    assert.ok(!lines.some((l) => l.includes('.DS_Store') || l.includes('.gitkeep')));
  });

  it('contacts, calendar items, tasks and notes: one JSON object per item, as devices will get it', async () => {
    const d = demoCopy();
    put(d, 'mailboxes/alice/Contacts/jane.json', JSON.stringify({
      FileAs: 'Doe, Jane', FirstName: 'Jane', Email1Address: 'jane@example.test', NickName: 'JD', Categories: ['Work', 'VIP'], Body: 'Met in Leeds.',
    }));
    put(d, 'mailboxes/alice/Contacts/Suppliers/acme.json', JSON.stringify({ FileAs: 'Acme Ltd', CompanyName: 'Acme Ltd' }));
    put(d, 'mailboxes/alice/Calendar/standup.json', JSON.stringify({
      Subject: 'Stand-up', StartTime: '20261201T090000Z', EndTime: '2026-12-01T09:15:00Z', BusyStatus: 1,
      Attendees: [{ Email: 'bob@contoso.test', Name: 'Bob Berg' }], Recurrence: { Type: 0, Interval: 1 },
    }));
    put(d, 'mailboxes/bob/Tasks/expenses.json', JSON.stringify({ Subject: 'File the expenses', Complete: false, Importance: 2 }));
    put(d, 'mailboxes/bob/Notes/code.json', JSON.stringify({ Subject: 'Door code', Body: '4711' }));
    const f = await loadFixtures(d);
    const alice = user(f, 'alice');
    assert.deepEqual(alice.items.map((i) => [i.folder, i.itemClass, i.summary]), [
      ['Calendar', 'Calendar', 'Stand-up'], ['Contacts', 'Contacts', 'Doe, Jane'], ['Contacts/Suppliers', 'Contacts', 'Acme Ltd']]);
    assert.deepEqual(alice.items[0]!.schedule, { start: Date.UTC(2026, 11, 1, 9), end: Date.UTC(2026, 11, 1, 9, 15), busy: 1, recurrence: { rule: { type: 0, interval: 1 } } });
    const jane = decodeWbxml(alice.items[1]!.content);
    assert.deepEqual(jane.children.map((c) => c.tag), ['Contacts:FileAs', 'Contacts:FirstName', 'Contacts:Email1Address', 'Contacts2:NickName', 'Contacts:Categories', 'AirSyncBase:Body']);
    assert.deepEqual(jane.children[4]!.children.map((c) => [c.tag, c.text]), [['Contacts:Category', 'Work'], ['Contacts:Category', 'VIP']]);
    const standup = decodeWbxml(alice.items[0]!.content);
    assert.deepEqual(standup.children.find((c) => c.tag === 'Calendar:Attendees')!.children[0]!.children.map((c) => [c.tag, c.text]),
      [['Calendar:Email', 'bob@contoso.test'], ['Calendar:Name', 'Bob Berg']]);
    assert.deepEqual(user(f, 'bob').items.map((i) => [i.itemClass, decodeWbxml(i.content).children.map((c) => `${c.tag}=${c.text ?? '…'}`).join(' ')]), [
      ['Notes', 'Notes:Subject=Door code AirSyncBase:Body=…'], ['Tasks', 'Tasks:Subject=File the expenses Tasks:Complete=0 Tasks:Importance=2']]);
    assert.equal(user(f, 'bob').mailbox.length > 0, true, 'mail is still read beside them');
  });

  it('item files with mistakes are named with the key and line', async () => {
    const d = demoCopy();
    put(d, 'mailboxes/alice/Contacts/typo.json', '{\n  "FileAs": "X",\n  "EmailAddress": "x@example.test"\n}');
    put(d, 'mailboxes/alice/Contacts/syntax.json', '{ "FileAs": "X", }');
    put(d, 'mailboxes/alice/Contacts/twice.json', '{ "FileAs": "X", "FileAs": "Y" }');
    put(d, 'mailboxes/alice/Contacts/list.json', '{ "FileAs": ["X"] }');
    put(d, 'mailboxes/alice/Contacts/mail.eml', 'Subject: x\r\n\r\nbody');
    put(d, 'mailboxes/alice/Contacts/empty.json', '{}');
    put(d, 'mailboxes/alice/Calendar/when.json', '{ "Subject": "x", "StartTime": "tomorrow at nine" }');
    put(d, 'mailboxes/alice/Calendar/array.json', '[]');
    put(d, 'mailboxes/alice/Inbox/contact.json', '{ "FileAs": "X" }');
    await problems(d, [
      /^mailboxes\/alice\/Calendar\/array\.json: the item \(line 1, column 1\): expected a JSON object$/,
      /^mailboxes\/alice\/Calendar\/when\.json: StartTime \(line 1, column 32\): "tomorrow at nine" is not an EAS date/,
      /^mailboxes\/alice\/Contacts\/empty\.json: an empty Contacts item$/,
      /^mailboxes\/alice\/Contacts\/list\.json: FileAs \(line 1, column 13\): FileAs holds one value, not a list$/,
      /^mailboxes\/alice\/Contacts\/mail\.eml: is not a \.json file \(only \.json items belong in Contacts folders\)$/,
      /^mailboxes\/alice\/Contacts\/syntax\.json: invalid JSON: .* \(line 1, column \d+\)$/,
      /^mailboxes\/alice\/Contacts\/twice\.json: "FileAs" is given twice in one object \(line 1, column 18\)$/,
      /^mailboxes\/alice\/Contacts\/typo\.json: EmailAddress \(line 3, column 19\): "EmailAddress" is not an element of a Contacts item \(Contacts or Contacts2 element names, or Body\)$/,
      /^mailboxes\/alice\/Inbox\/contact\.json: is not an \.eml file/,
    ]);
  });

  it('header blocks: what passes', () => {
    assert.equal(headerBlockProblem(Buffer.from('Subject: x\r\n\tfolded\r\nX-Y :z\r\n\r\nbody')), undefined);
    assert.equal(headerBlockProblem(Buffer.from('Subject: x\nFrom: a@b\n\nLF only')), undefined);
    assert.equal(headerBlockProblem(Buffer.from('Subject: headers only')), undefined);
    assert.match(headerBlockProblem(Buffer.from(' folded first\r\n\r\n'))!, /folded/);
    assert.match(headerBlockProblem(Buffer.from('Subject: a\0b\r\n\r\n'))!, /NUL/);
    assert.match(headerBlockProblem(Buffer.from(': no name\r\n\r\n'))!, /line 1/);
  });

  it('more messages, bytes or larger files than the limits allow', async () => {
    const d = demoCopy();
    await problems(d, [/^mailboxes\/[^:]+\.eml: more than 5 messages and items in the fixture \(limit\)$/], { maxMessages: 5 });
    await problems(d, [/^mailboxes\/[^:]+\.eml: messages add up to more than 2000 bytes \(limit\)$/], { maxTotalMessageBytes: 2000 });
    await problems(d, [/^organisation\.json: is \d+ bytes, more than the limit of 1000$/], { maxJsonBytes: 1000 });
    await problems(d, [/^organisation\.json: users\[0\]\.certificates\[1\]\.pkcs12: "pki\/users\/alice-encryption-history\.p12" is \d+ bytes, more than the limit of 4000 /], { maxPkiFileBytes: 4000 });
  });

  it('does not follow symbolic links out of the fixture folder', async () => {
    const outside = tempDir();
    put(outside, 'secret.eml', crlf('Subject: secret', '', 'x'));
    put(outside, 'root.crt', readFileSync(path.join(pki, 'contoso-root-ca.crt')));
    mkdirSync(path.join(outside, 'folder'));
    put(outside, 'folder/a.eml', crlf('Subject: a', '', 'x'));
    const d = demoCopy();
    symlinkSync(path.join(outside, 'secret.eml'), path.join(d, 'mailboxes/alice/Inbox/secret.eml'));
    symlinkSync(path.join(outside, 'folder'), path.join(d, 'mailboxes/alice/Inbox/Linked'));
    symlinkSync(path.join(outside, 'root.crt'), path.join(d, 'pki/linked-root.crt'));
    symlinkSync(path.join(d, 'mailboxes/alice/Inbox/welcome.eml'), path.join(d, 'mailboxes/bob/Inbox/inside-link.eml'));
    editOrg(d, (org) => org.trustedRoots.push('pki/linked-root.crt'));
    const lines = await problems(d, [
      /^mailboxes\/alice\/Inbox\/secret\.eml: symbolic link points outside the fixture folder$/,
      /^mailboxes\/alice\/Inbox\/Linked: symbolic link points outside the fixture folder$/,
      /^organisation\.json: trustedRoots\[2\]: "pki\/linked-root\.crt" is a symbolic link to a file outside the fixture folder/,
    ]);
    assert.ok(!lines.some((l) => l.includes('inside-link')), 'links inside the fixture are followed');
  });

  it('collects every problem into one error and stops at the limit', async () => {
    const d = demoCopy();
    for (let i = 0; i < 80; i++) put(d, `mailboxes/alice/Inbox/bad-${String(i).padStart(2, '0')}.eml`, 'not a message\n');
    let err: unknown;
    try {
      await loadFixtures(d);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof FixtureError);
    assert.equal(err.problems.length, 50);
    assert.equal(err.truncated, true);
    assert.match(err.message, /\n\(stopped after 50 problems; there may be more\)$/);
    const small = await problems(d, [/bad-00\.eml/], { maxProblems: 3 });
    assert.equal(small.length, 3);
  });

  it('JSON reader details', () => {
    const p = parseJson('{"a": [1, -2.5e3, true, false, null, "\\u00e9\\n"], "__proto__": {"x": 1}}');
    assert.equal(p.root.kind, 'object');
    assert.deepEqual(p.duplicateKeys, []);
    assert.throws(() => parseJson('{"a": 01}'), JsonSyntaxError);
    assert.throws(() => parseJson("{'a': 1}"), /double quotes/);
    assert.throws(() => parseJson('"a\nb"'), /control character/);
    assert.throws(() => parseJson('['.repeat(100) + ']'.repeat(100)), /nested more than 64 levels/);
    const e = (() => {
      try {
        parseJson('{\n\n   x}');
      } catch (err) {
        return err as JsonSyntaxError;
      }
      return undefined;
    })();
    assert.deepEqual(e?.pos, { line: 3, column: 4 });
  });

  it('an organisation without a mailboxes folder loads with empty mailboxes', async () => {
    const d = demoCopy();
    rmSync(path.join(d, 'mailboxes'), { recursive: true });
    const f = await loadFixtures(d);
    assert.ok(f.users.length > 0);
    assert.ok(f.users.every((u) => u.mailbox.length === 0));
  });

  it('accepts a UTF-8 byte order mark in organisation.json', async () => {
    const d = demoCopy();
    const file = path.join(d, 'organisation.json');
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(file)]));
    assert.equal((await loadFixtures(d)).name, 'Contoso (demo)');
  });

  it('a policy with a __proto__ key is passed through as data', async () => {
    const d = demoCopy();
    const file = path.join(d, 'organisation.json');
    const text = readFileSync(file, 'utf8').replace('"mode": "tag",', '"mode": "tag", "__proto__": {"polluted": true},');
    writeFileSync(file, text);
    const f = await loadFixtures(d);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(f.policy, '__proto__')?.value, { polluted: true });
  });
});
