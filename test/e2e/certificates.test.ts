// ResolveRecipients and ValidateCert over real HTTP+WBXML against the real server: the demo
// organisation (bob's device resolving alice, carol, dave, the sales group and external contacts)
// in 2.5, 12.1, 14.1 and 16.1, and an organisation grown from the demo (ambiguous names, large
// groups, a CA whose own CA revoked it). Certificates the demo lacks are made by openssl here.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { EasClient, type EasResponse } from '../support/eas-client.js';
import { PROJECT_ROOT, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { child, childrenOf, childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';
import { decodeMiniCertificates, describes } from '../../smime/minicert.js';
import { mergeFreeBusy } from '../../eas/commands/certificates.js';
import { certDer, demo, stamp, TestPki, type Signer } from '../smime/verify-pki.js';

const RR = ns('ResolveRecipients');
const VC = ns('ValidateCert');
const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'demo');

interface Certs { status: number; count?: number; recipientCount?: number; certificates: Buffer[]; mini?: Buffer }
interface Recipient {
  type: number; displayName: string; email: string;
  availability?: { status: number; merged?: string };
  certs?: Certs;
  pictures: number[];
}
interface Resp { to: string; status: number; recipientCount?: number; recipients: Recipient[] }

const num = (el: WbxmlElement | undefined, tag: string): number | undefined => {
  const t = childText(el, tag);
  return t === undefined ? undefined : Number(t);
};

function parseResolve(r: EasResponse): { status: number; responses: Resp[] } {
  assert.equal(r.status, 200, `HTTP ${r.status} ${r.headers.get('x-easmime-reason') ?? ''}`);
  assert.ok(r.body, 'a WBXML body');
  assert.equal(r.body.tag, 'ResolveRecipients:ResolveRecipients');
  return {
    status: num(r.body, 'ResolveRecipients:Status')!,
    responses: childrenOf(r.body, 'ResolveRecipients:Response').map((resp) => ({
      to: childText(resp, 'ResolveRecipients:To')!,
      status: num(resp, 'ResolveRecipients:Status')!,
      recipientCount: num(resp, 'ResolveRecipients:RecipientCount'),
      recipients: childrenOf(resp, 'ResolveRecipients:Recipient').map((rec) => {
        const av = child(rec, 'ResolveRecipients:Availability');
        const certs = child(rec, 'ResolveRecipients:Certificates');
        const mini = childText(certs, 'ResolveRecipients:MiniCertificate');
        return {
          type: num(rec, 'ResolveRecipients:Type')!,
          displayName: childText(rec, 'ResolveRecipients:DisplayName')!,
          email: childText(rec, 'ResolveRecipients:EmailAddress')!,
          availability: av && { status: num(av, 'ResolveRecipients:Status')!, merged: childText(av, 'ResolveRecipients:MergedFreeBusy') },
          certs: certs && {
            status: num(certs, 'ResolveRecipients:Status')!,
            count: num(certs, 'ResolveRecipients:CertificateCount'),
            recipientCount: num(certs, 'ResolveRecipients:RecipientCount'),
            certificates: childrenOf(certs, 'ResolveRecipients:Certificate').map((c) => Buffer.from(c.text ?? '', 'base64')),
            mini: mini === undefined ? undefined : Buffer.from(mini, 'base64'),
          },
          pictures: childrenOf(rec, 'ResolveRecipients:Picture').map((p) => num(p, 'ResolveRecipients:Status')!),
        };
      }),
    })),
  };
}

const resolveBody = (to: string[], options: WbxmlElement[] = []): WbxmlElement =>
  RR('ResolveRecipients', to.map((t) => RR('To', t)), options.length > 0 && RR('Options', options));

async function resolve(c: EasClient, to: string[], options: WbxmlElement[] = []): Promise<{ status: number; responses: Resp[] }> {
  return parseResolve(await c.send('ResolveRecipients', resolveBody(to, options)));
}

/** The statuses ValidateCert gave, in order, or the global status when it gave none. */
async function validate(c: EasClient, certs: Buffer[], o: { chain?: Buffer[]; checkCrl?: string } = {}): Promise<{ status: number; each: number[]; reason: string | null }> {
  const r = await c.send('ValidateCert', VC('ValidateCert',
    o.chain && VC('CertificateChain', o.chain.map((d) => VC('Certificate', d.toString('base64')))),
    VC('Certificates', certs.map((d) => VC('Certificate', d.toString('base64')))),
    o.checkCrl !== undefined && VC('CheckCRL', o.checkCrl)));
  assert.equal(r.status, 200, `HTTP ${r.status} ${r.headers.get('x-easmime-reason') ?? ''}`);
  assert.equal(r.body?.tag, 'ValidateCert:ValidateCert');
  return {
    status: num(r.body, 'ValidateCert:Status')!,
    each: childrenOf(r.body, 'ValidateCert:Certificate').map((c) => num(c, 'ValidateCert:Status')!),
    reason: r.headers.get('x-easmime-reason'),
  };
}

/** Copies a demo CA's certificate and key into a TestPki under `name`, so that it can issue there. */
function adoptCa(pki: TestPki, name: string, cert: string, key: string): Signer {
  fs.copyFileSync(cert, pki.file(`${name}.crt`));
  fs.copyFileSync(key, pki.file(`${name}.cakey`));
  return { cert: pki.file(`${name}.crt`), key: pki.file(`${name}.cakey`) };
}

const CA_EXT = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always'];

/** Everything ValidateCert is asked about, made by openssl from the demo CAs (their keys are public test material). */
interface Made {
  chain: Buffer[];
  cases: Array<{ name: string; der: Buffer; status: number }>;
  /** Issued under a CA that publishes no CRL: valid unless CheckCRL is 1 (then 16). */
  noCrl: Buffer;
}

function makeCertificates(pki: TestPki, rootPki: TestPki): Made {
  const der = (file: string): Buffer => certDer(file);
  adoptCa(pki, 'contoso-issuing', demo('contoso-issuing-ca.crt'), demo('ca/contoso-issuing-ca.key'));
  // A CA under the root (whose CRL covers it) that has no CRL of its own. Its own TestPki: serials
  // there start at 0x1000, clear of those the demo root has used (0x1001, 0x1002).
  adoptCa(rootPki, 'contoso-root', demo('contoso-root-ca.crt'), demo('ca/contoso-root-ca.key'));
  const sideCa = rootPki.issue('contoso-root', 'side-ca', { subject: '/O=Contoso Demo/CN=Contoso Side CA', key: rootPki.key('side-ca-key'), start: stamp(-30), end: stamp(4000), ext: CA_EXT });
  fs.copyFileSync(rootPki.key('side-ca-key'), rootPki.file('side-ca.cakey'));
  const noCrl = rootPki.person('side-ca', 'side-leaf', 'side@contoso.test').cert;

  // Issuing CA has pathlen 0: a CA below it breaks the path.
  const subCa = pki.issue('contoso-issuing', 'sub-ca', { subject: '/O=Contoso Demo/CN=Contoso Sub CA', key: pki.key('sub-ca-key'), start: stamp(-30), end: stamp(3000), ext: CA_EXT });
  fs.copyFileSync(pki.key('sub-ca-key'), pki.file('sub-ca.cakey'));
  const underSub = pki.person('sub-ca', 'under-sub', 'under@contoso.test', { end: stamp(2000) }).cert;

  // Bob's signing certificate (not a CA) used as one.
  adoptCa(pki, 'bob-as-ca', demo('users/bob-signing.crt'), demo('keys/bob-signing.key'));
  const underBob = pki.person('bob-as-ca', 'under-bob', 'mallory@contoso.test', { end: stamp(300) }).cert;

  pki.root('stranger-root', '/O=Stranger/CN=Stranger Root');
  const stranger = pki.person('stranger-root', 'stranger', 'stranger@example.org').cert;

  const tampered = Buffer.from(der(demo('users/bob-signing.crt')));
  tampered[tampered.length - 10] ^= 0x01;

  return {
    chain: [der(sideCa), der(subCa), der(demo('users/bob-signing.crt'))],
    noCrl: der(noCrl),
    cases: [
      { name: 'bob signing', der: der(demo('users/bob-signing.crt')), status: 1 },
      { name: 'freshly issued signing', der: der(pki.person('contoso-issuing', 'fresh', 'fresh@contoso.test').cert), status: 1 },
      { name: 'not a certificate', der: Buffer.from('this is not a certificate'), status: 10 },
      { name: 'signature tampered', der: tampered, status: 3 },
      { name: 'untrusted root', der: der(stranger), status: 4 },
      { name: 'path too long for pathlen 0', der: der(underSub), status: 5 },
      { name: 'encryption-only key usage', der: der(pki.person('contoso-issuing', 'enc-only', 'enc@contoso.test', { ku: 'keyEncipherment' }).cert), status: 6 },
      { name: 'expired', der: der(pki.person('contoso-issuing', 'expired', 'old@contoso.test', { start: stamp(-800), end: stamp(-400) }).cert), status: 7 },
      { name: 'not yet valid', der: der(pki.person('contoso-issuing', 'future', 'future@contoso.test', { start: stamp(400), end: stamp(800) }).cert), status: 7 },
      { name: 'outlives its CA', der: der(pki.person('contoso-issuing', 'outlives', 'long@contoso.test', { end: '20500101000000Z' }).cert), status: 8 },
      { name: 'server authentication only', der: der(pki.person('contoso-issuing', 'tls', 'tls@contoso.test', { eku: 'serverAuth' }).cert), status: 9 },
      { name: 'a CA as the certificate', der: der(demo('contoso-issuing-ca.crt')), status: 11 },
      { name: 'issued by an end entity', der: der(underBob), status: 11 },
      { name: 'revoked (carol)', der: der(demo('users/carol-encryption.crt')), status: 13 },
    ],
  };
}

/** The demo organisation plus: a second Alice, 25 members, a group of all of them, six teams of 20, and the Northwind CA whose intermediate is revoked. */
function grownFixture(north: TestPki): { dir: string; underRevokedCa: Buffer; revokedCa: Buffer } {
  const dir = tempDir('easmime-certs-fixture-');
  fs.cpSync(path.join(DEMO, 'pki'), path.join(dir, 'pki'), { recursive: true });
  // Empty but present: the fixture loader (at this writing) reports a missing mailboxes/ as a broken link.
  fs.mkdirSync(path.join(dir, 'mailboxes'));
  const org = JSON.parse(fs.readFileSync(path.join(DEMO, 'organisation.json'), 'utf8')) as {
    users: Array<Record<string, unknown>>; groups: Array<Record<string, unknown>>; trustedRoots: string[]; crls: string[];
  };
  const members = Array.from({ length: 25 }, (_, i) => `member${String(i + 1).padStart(2, '0')}@contoso.test`);
  org.users.push({ address: 'alice.archer@contoso.test', displayName: 'Alice Archer', password: 'demo' });
  for (const m of members) org.users.push({ address: m, displayName: `Member ${m.slice(6, 8)}`, password: 'demo' });
  org.groups.push({ address: 'everyone@contoso.test', displayName: 'Everyone', members });
  for (let t = 1; t <= 6; t++) org.groups.push({ address: `team${t}@contoso.test`, displayName: `Team ${t}`, members: members.slice(0, 20) });

  const root = north.root('north-root', '/O=Northwind/CN=Northwind Root');
  const revokedCa = north.issue('north-root', 'north-ca', { subject: '/O=Northwind/CN=Northwind Retired CA', key: north.key('north-ca-key'), start: stamp(-30), end: stamp(3000), ext: CA_EXT });
  fs.copyFileSync(north.key('north-ca-key'), north.file('north-ca.cakey'));
  const leaf = north.person('north-ca', 'north-leaf', 'nina@northwind.test', { end: stamp(2000) }).cert;
  north.revoke('north-root', revokedCa, 'cACompromise');
  fs.copyFileSync(root.cert, path.join(dir, 'pki', 'north-root.crt'));
  fs.copyFileSync(north.crl('north-root'), path.join(dir, 'pki', 'north-root.crl'));
  org.trustedRoots.push('pki/north-root.crt');
  org.crls.push('pki/north-root.crl');
  fs.writeFileSync(path.join(dir, 'organisation.json'), JSON.stringify(org, null, 1));
  return { dir, underRevokedCa: certDer(leaf), revokedCa: certDer(revokedCa) };
}

describe('end to end: ResolveRecipients and ValidateCert', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let grown: ServerProcess;
  let pki: TestPki;
  let rootPki: TestPki;
  let north: TestPki;
  let made: Made;
  let northCerts: { underRevokedCa: Buffer; revokedCa: Buffer };
  let fixtureDir: string;
  const file = (rel: string): Buffer => certDer(demo(rel));

  before(async function () {
    this.timeout(300_000);
    pki = new TestPki('easmime-certs-');
    rootPki = new TestPki('easmime-certs-root-');
    north = new TestPki('easmime-certs-north-');
    made = makeCertificates(pki, rootPki);
    const g = grownFixture(north);
    fixtureDir = g.dir;
    northCerts = g;
    [server, grown] = await Promise.all([startServerProcess(), startServerProcess({ fixtures: g.dir })]);
  });
  after(async () => {
    await Promise.all([server?.stop(), grown?.stop()]);
    for (const p of [pki, rootPki, north]) p?.cleanup();
    if (fixtureDir) fs.rmSync(fixtureDir, { recursive: true, force: true });
  });

  let counter = 0;
  async function device(version: string, on: ServerProcess = server, user = 'bob@contoso.test'): Promise<EasClient> {
    const c = new EasClient({ baseUrl: on.baseUrl, user, password: 'demo', deviceId: `CertDev${++counter}v${version.replace('.', '')}`, version });
    await c.provision();
    return c;
  }

  for (const version of ['2.5', '12.1', '14.1', '16.1']) {
    describe(`ResolveRecipients in ${version}`, () => {
      let c: EasClient;
      before(async () => { c = await device(version); });

      it("bob resolves alice, carol and dave: alice's current certificate, Status 7 for carol (revoked) and dave (none)", async () => {
        const r = await resolve(c, ['alice@contoso.test', 'carol@contoso.test', 'dave@contoso.test'], [RR('CertificateRetrieval', 2)]);
        assert.equal(r.status, 1);
        assert.deepEqual(r.responses.map((x) => [x.to, x.status, x.recipientCount]), [
          ['alice@contoso.test', 1, 1], ['carol@contoso.test', 1, 1], ['dave@contoso.test', 1, 1]]);
        const [alice, carol, dave] = r.responses.map((x) => x.recipients[0]!);
        assert.deepEqual([alice!.type, alice!.displayName, alice!.email], [1, 'Alice Anders', 'alice@contoso.test']);
        assert.deepEqual([alice!.certs!.status, alice!.certs!.count], [1, 1]);
        assert.deepEqual(alice!.certs!.certificates, [file('users/alice-encryption-2024.crt')], 'only the 2024 certificate: the 2021 one has expired');
        assert.deepEqual([carol!.certs!.status, carol!.certs!.count, carol!.certs!.certificates.length], [7, 0, 0]);
        assert.deepEqual([dave!.certs!.status, dave!.certs!.count, dave!.certs!.certificates.length], [7, 0, 0]);
        assert.equal(alice!.availability, undefined);
        assert.deepEqual(alice!.pictures, []);
      });

      it('no Certificates element without CertificateRetrieval, or with 1', async () => {
        for (const options of [[], [RR('CertificateRetrieval', 1)]]) {
          const r = await resolve(c, ['alice@contoso.test', 'sales@contoso.test'], options);
          assert.equal(r.status, 1);
          for (const x of r.responses) {
            assert.equal(x.status, 1);
            assert.equal(x.recipients[0]!.certs, undefined, x.to);
          }
        }
      });

      it("CertificateRetrieval 3: one mini-certificate describing alice's current certificate; none for carol", async () => {
        const r = await resolve(c, ['alice@contoso.test', 'carol@contoso.test'], [RR('CertificateRetrieval', 3)]);
        const alice = r.responses[0]!.recipients[0]!.certs!;
        assert.deepEqual([alice.status, alice.count, alice.certificates.length], [1, 1, 0]);
        const minis = decodeMiniCertificates(alice.mini!);
        assert.equal(minis.length, 1);
        assert.ok(describes(minis[0]!, file('users/alice-encryption-2024.crt')));
        assert.ok(!describes(minis[0]!, file('users/alice-encryption-2021.crt')));
        const carol = r.responses[1]!.recipients[0]!.certs!;
        assert.deepEqual([carol.status, carol.count, carol.mini], [7, 0, undefined]);
      });

      it("a group: its members' certificates with RecipientCount, in full and as one mini-certificate", async () => {
        const full = (await resolve(c, ['sales@contoso.test'], [RR('CertificateRetrieval', 2)])).responses[0]!;
        assert.deepEqual([full.status, full.recipientCount], [1, 1]);
        const sales = full.recipients[0]!;
        assert.deepEqual([sales.type, sales.displayName, sales.email], [1, 'Sales', 'sales@contoso.test']);
        assert.deepEqual([sales.certs!.status, sales.certs!.count, sales.certs!.recipientCount], [1, 2, 2]);
        const expected = [file('users/alice-encryption-2024.crt'), file('users/bob-encryption.crt')];
        assert.deepEqual(sales.certs!.certificates, expected);
        const mini = (await resolve(c, ['sales@contoso.test'], [RR('CertificateRetrieval', 3)])).responses[0]!.recipients[0]!.certs!;
        assert.deepEqual([mini.status, mini.count, mini.recipientCount], [1, 2, 2]);
        const entries = decodeMiniCertificates(mini.mini!);
        assert.deepEqual(entries.map((e, i) => describes(e, expected[i]!)), [true, true]);
      });

      it('MaxCertificates: a recipient gets all its certificates or none (Status 8 with the count)', async () => {
        const one = await resolve(c, ['sales@contoso.test'], [RR('CertificateRetrieval', 2), RR('MaxCertificates', 1)]);
        const s = one.responses[0]!.recipients[0]!.certs!;
        assert.deepEqual([s.status, s.count, s.recipientCount, s.certificates.length], [8, 2, 2, 0]);
        // The limit is for the whole response, in the order of the To elements.
        const shared = await resolve(c, ['alice@contoso.test', 'sales@contoso.test', 'erin@fabrikam.test'], [RR('CertificateRetrieval', 3), RR('MaxCertificates', 2)]);
        assert.deepEqual(shared.responses.map((x) => [x.recipients[0]!.certs!.status, x.recipients[0]!.certs!.count, x.recipients[0]!.certs!.mini !== undefined]), [
          [1, 1, true], [8, 2, false], [1, 1, true]]);
        const none = await resolve(c, ['alice@contoso.test', 'dave@contoso.test'], [RR('CertificateRetrieval', 2), RR('MaxCertificates', 0)]);
        assert.deepEqual(none.responses.map((x) => x.recipients[0]!.certs!.status), [8, 7]);
      });

      it('external contacts resolve too: erin with her certificate, frank with none', async () => {
        const r = await resolve(c, ['erin@fabrikam.test', 'Frank Fischer'], [RR('CertificateRetrieval', 2)]);
        const [erin, frank] = r.responses.map((x) => x.recipients[0]!);
        assert.deepEqual([erin!.type, erin!.displayName, erin!.email], [1, 'Erin Eriksen', 'erin@fabrikam.test']);
        assert.deepEqual(erin!.certs!.certificates, [file('external/erin-encryption.crt')]);
        assert.deepEqual([frank!.email, frank!.certs!.status], ['frank@fabrikam.test', 7]);
      });

      it('names resolve by alias, display name, "Name <address>" and unique prefix; unknown ones get Status 4', async () => {
        const r = await resolve(c, ['alice', 'Carol Castro', '"Dave" <DAVE@contoso.test>', 'Eri', 'nobody@contoso.test', 'zed@example.org', 'Quentin']);
        assert.equal(r.status, 1);
        assert.deepEqual(r.responses.map((x) => [x.to, x.status, x.recipientCount, x.recipients.map((y) => y.email)]), [
          ['alice', 1, 1, ['alice@contoso.test']],
          ['Carol Castro', 1, 1, ['carol@contoso.test']],
          ['"Dave" <DAVE@contoso.test>', 1, 1, ['dave@contoso.test']],
          ['Eri', 1, 1, ['erin@fabrikam.test']],
          ['nobody@contoso.test', 4, 0, []],
          ['zed@example.org', 4, 0, []],
          ['Quentin', 4, 0, []],
        ]);
      });

      it('bad requests get Status 5 and no Response', async () => {
        const cases: Array<[string, WbxmlElement]> = [
          ['101 To elements', resolveBody(Array.from({ length: 101 }, (_, i) => `user${i}@contoso.test`))],
          ['a To of 257 characters', resolveBody(['a'.repeat(257)])],
          ['an empty To', resolveBody([''])],
          ['no To', RR('ResolveRecipients', RR('Options', RR('CertificateRetrieval', 2)))],
          ['CertificateRetrieval 4', resolveBody(['alice'], [RR('CertificateRetrieval', 4)])],
          ['MaxCertificates 10000', resolveBody(['alice'], [RR('MaxCertificates', 10000)])],
          ['MaxAmbiguousRecipients -1', resolveBody(['alice'], [RR('MaxAmbiguousRecipients', '-1')])],
          ['Options twice', RR('ResolveRecipients', RR('To', 'alice'), RR('Options'), RR('Options'))],
          ['an unknown option', resolveBody(['alice'], [RR('Type', 1)])],
        ];
        for (const [what, body] of cases) {
          const r = parseResolve(await c.send('ResolveRecipients', body));
          assert.deepEqual([r.status, r.responses.length], [5, 0], what);
        }
        // A To of exactly 256 characters is allowed (and resolves to nobody).
        const longest = await resolve(c, ['a'.repeat(256)]);
        assert.deepEqual([longest.status, longest.responses[0]!.status], [1, 4]);
      });

      if (Number(version) < 14) {
        it('Availability and Picture do not exist before 14.0 / 14.1: Status 5', async () => {
          for (const option of [
            RR('Availability', RR('StartTime', '2030-01-07T09:00:00.000Z'), RR('EndTime', '2030-01-07T10:00:00.000Z')),
            RR('Picture'),
          ]) {
            const r = await resolve(c, ['alice'], [option]);
            assert.deepEqual([r.status, r.responses.length], [5, 0]);
          }
        });
      } else {
        it('Availability: free/busy per 30 minutes, merged for a group; no data for a contact', async () => {
          const r = await resolve(c, ['alice@contoso.test', 'sales@contoso.test', 'erin@fabrikam.test', 'nobody@contoso.test'],
            [RR('Availability', RR('StartTime', '2030-01-07T09:00:00.000Z'), RR('EndTime', '2030-01-07T10:10:00.000Z'))]);
          assert.equal(r.status, 1);
          // 70 minutes: three slots, the last one partial.
          assert.deepEqual(r.responses.map((x) => x.recipients[0]?.availability), [
            { status: 1, merged: '000' }, { status: 1, merged: '000' }, { status: 1, merged: '444' }, undefined]);
          const compact = await resolve(c, ['bob'], [RR('Availability', RR('StartTime', '20300107T090000Z'), RR('EndTime', '20300107T100000Z'))]);
          assert.deepEqual(compact.responses[0]!.recipients[0]!.availability, { status: 1, merged: '00' });
        });

        it('Availability with bad times gets Status 5', async () => {
          const bad: Array<[string, string, string | undefined]> = [
            ['an end before the start', '2030-01-07T10:00:00.000Z', '2030-01-07T09:00:00.000Z'],
            ['less than 30 minutes', '2030-01-07T10:00:00.000Z', '2030-01-07T10:20:00.000Z'],
            ['more than 42 days', '2030-01-01T00:00:00.000Z', '2030-02-12T00:00:01.000Z'],
            ['not a date', 'TimeWithInvalidFormat', '2030-01-07T10:00:00.000Z'],
            ['no such day', '2030-02-30T10:00:00.000Z', '2030-03-01T10:00:00.000Z'],
            ['no EndTime', '2030-01-07T10:00:00.000Z', undefined],
          ];
          for (const [what, start, end] of bad) {
            const r = await resolve(c, ['alice'], [RR('Availability', RR('StartTime', start), end !== undefined && RR('EndTime', end))]);
            assert.deepEqual([r.status, r.responses.length], [5, 0], what);
          }
          const exactly42 = await resolve(c, ['alice'], [RR('Availability', RR('StartTime', '2030-01-01T00:00:00.000Z'), RR('EndTime', '2030-02-12T00:00:00.000Z'))]);
          assert.equal(exactly42.responses[0]!.recipients[0]!.availability!.merged!.length, 42 * 48);
        });

        if (Number(version) >= 14.1) {
          it('Picture: Status 173 for every recipient (the directory holds no photos)', async () => {
            const r = await resolve(c, ['alice', 'sales@contoso.test'], [RR('Picture', RR('MaxSize', 102400), RR('MaxPictures', 3))]);
            assert.deepEqual(r.responses.map((x) => x.recipients[0]!.pictures), [[173], [173]]);
            const bad = await resolve(c, ['alice'], [RR('Picture', RR('MaxPictures', 'many'))]);
            assert.equal(bad.status, 5);
          });
        }
      }
    });

    describe(`ValidateCert in ${version}`, () => {
      let c: EasClient;
      before(async () => { c = await device(version); });

      it('answers each certificate with its status, in order (CheckCRL 1)', async () => {
        const r = await validate(c, made.cases.map((x) => x.der), { chain: made.chain, checkCrl: '1' });
        assert.equal(r.status, 1);
        assert.deepEqual(r.each.map((s, i) => [made.cases[i]!.name, s]), made.cases.map((x) => [x.name, x.status]));
        assert.match(r.reason ?? '', /^certificate 3: /);
      });

      it('CheckCRL: an unknown revocation status fails only with CheckCRL 1 (Status 16)', async () => {
        assert.deepEqual((await validate(c, [made.noCrl], { chain: made.chain, checkCrl: '1' })).each, [16]);
        assert.deepEqual((await validate(c, [made.noCrl], { chain: made.chain, checkCrl: '0' })).each, [1]);
        assert.deepEqual((await validate(c, [made.noCrl], { chain: made.chain })).each, [1]);
        // Without the intermediate in CertificateChain there is no path at all.
        assert.deepEqual((await validate(c, [made.noCrl], { checkCrl: '0' })).each, [4]);
        // A revocation the organisation's CRLs know of counts either way.
        assert.deepEqual((await validate(c, [file('users/carol-encryption.crt')], { checkCrl: '0' })).each, [13]);
      });

      it('bad requests get Status 2 and no per-certificate status', async () => {
        const bob = file('users/bob-signing.crt');
        const cases: Array<[string, WbxmlElement | undefined]> = [
          ['101 certificates', VC('ValidateCert', VC('Certificates', Array.from({ length: 101 }, () => VC('Certificate', bob.toString('base64')))))],
          ['no Certificates', VC('ValidateCert', VC('CheckCRL', '1'))],
          ['an empty Certificates', VC('ValidateCert', VC('Certificates'))],
          ['CheckCRL yes', VC('ValidateCert', VC('Certificates', VC('Certificate', 'AAAA')), VC('CheckCRL', 'yes'))],
          ['an unknown element', VC('ValidateCert', VC('Certificates', VC('Certificate', 'AAAA')), VC('Status', '1'))],
          ['no body', undefined],
        ];
        for (const [what, body] of cases) {
          const r = await c.send('ValidateCert', body);
          assert.equal(r.status, 200, what);
          assert.equal(childText(r.body, 'ValidateCert:Status'), '2', what);
          assert.equal(childrenOf(r.body, 'ValidateCert:Certificate').length, 0, what);
        }
        const hundred = await validate(c, Array.from({ length: 100 }, () => bob), { checkCrl: '1' });
        assert.deepEqual([hundred.status, new Set(hundred.each).size, hundred.each.length], [1, 1, 100]);
        assert.equal(hundred.each[0], 1);
      });
    });
  }

  describe('an organisation grown from the demo', () => {
    it('an ambiguous name gives suggestions only: no certificates, no free/busy (Status 2)', async () => {
      const c = await device('14.1', grown);
      const r = await resolve(c, ['Ali'], [RR('CertificateRetrieval', 2),
        RR('Availability', RR('StartTime', '2030-01-07T09:00:00.000Z'), RR('EndTime', '2030-01-07T10:00:00.000Z'))]);
      const x = r.responses[0]!;
      assert.deepEqual([x.status, x.recipientCount], [2, 2]);
      assert.deepEqual(x.recipients.map((y) => [y.type, y.displayName, y.email]), [
        [1, 'Alice Anders', 'alice@contoso.test'], [1, 'Alice Archer', 'alice.archer@contoso.test']]);
      assert.ok(x.recipients.every((y) => y.certs === undefined && y.availability === undefined));
      // An exact alias wins over the prefix it shares with another name.
      const exact = await resolve(c, ['alice', 'ALICE ARCHER'], [RR('CertificateRetrieval', 2)]);
      assert.deepEqual(exact.responses.map((y) => [y.status, y.recipients.map((z) => z.email)]), [
        [1, ['alice@contoso.test']], [1, ['alice.archer@contoso.test']]]);
    });

    it('MaxAmbiguousRecipients cuts the suggestions (Status 3) and RecipientCount tells how many matched', async () => {
      const c = await device('12.1', grown);
      const cases: Array<[WbxmlElement[], number, number]> = [[[RR('MaxAmbiguousRecipients', 1)], 3, 1], [[RR('MaxAmbiguousRecipients', 0)], 3, 0], [[RR('MaxAmbiguousRecipients', 2)], 2, 2]];
      for (const [options, status, shown] of cases) {
        const x = (await resolve(c, ['Ali'], options)).responses[0]!;
        assert.deepEqual([x.status, x.recipientCount, x.recipients.length], [status, 2, shown]);
      }
      const many = (await resolve(c, ['Member'])).responses[0]!;
      assert.deepEqual([many.status, many.recipientCount, many.recipients.length], [3, 25, 20]);
      assert.equal(many.recipients[0]!.email, 'member01@contoso.test');
    });

    it('free/busy of a group over 20 members is refused (161); over 100 people in one request, 160', async () => {
      const c = await device('16.1', grown);
      const span = RR('Availability', RR('StartTime', '2030-01-07T09:00:00.000Z'), RR('EndTime', '2030-01-07T10:00:00.000Z'));
      const big = await resolve(c, ['everyone@contoso.test'], [span, RR('CertificateRetrieval', 2)]);
      const everyone = big.responses[0]!.recipients[0]!;
      assert.deepEqual(everyone.availability, { status: 161, merged: undefined });
      assert.deepEqual([everyone.certs!.status, everyone.certs!.count, everyone.certs!.recipientCount], [7, 0, 25]);
      const teams = await resolve(c, ['team1@contoso.test', 'team2@contoso.test', 'team3@contoso.test', 'team4@contoso.test', 'team5@contoso.test', 'team6@contoso.test', 'alice'], [span]);
      assert.deepEqual(teams.responses.map((x) => x.recipients[0]!.availability), [
        ...Array.from({ length: 5 }, () => ({ status: 1, merged: '00' })), { status: 160, merged: undefined }, { status: 160, merged: undefined }]);
    });

    it('ValidateCert: a certificate under a CA its own CA revoked gets 15', async () => {
      const c = await device('14.1', grown);
      const r = await validate(c, [northCerts.underRevokedCa, file('users/bob-signing.crt')], { chain: [northCerts.revokedCa], checkCrl: '0' });
      assert.deepEqual(r.each, [15, 1]);
      assert.match(r.reason ?? '', /revoked/);
    });
  });

  it("common errors come as HTTP codes up to 12.1 and as Status codes in the command's namespace from 14.0", async () => {
    for (const [version, http, status] of [['12.1', 400, undefined], ['14.1', 200, '102']] as const) {
      const c = await device(version);
      for (const command of ['ResolveRecipients', 'ValidateCert']) {
        const r = await c.send(command, Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x00, 0x0a, 0x45, 0x50]));
        assert.equal(r.status, http, `${command} in ${version}`);
        assert.equal(childText(r.body, `${command}:Status`), status, `${command} in ${version}`);
      }
    }
    const fresh = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'CertUnprovisioned', version: '12.1' });
    assert.equal((await fresh.send('ResolveRecipients', resolveBody(['alice']))).status, 449);
  });

  it('merges group free/busy slot by slot: the strongest state, no data only where nobody has data', () => {
    assert.equal(mergeFreeBusy(['0120', '1004', '4434'], 4), '1130');
    assert.equal(mergeFreeBusy(['44', '44'], 2), '44');
    assert.equal(mergeFreeBusy([], 3), '444');
    assert.equal(mergeFreeBusy(['3', '2'], 1), '3');
  });

  it('a certificate changed anywhere in its signed part is never valid', async () => {
    const c = await device('16.1');
    const original = file('users/bob-signing.crt');
    // One bit flipped at a time, at places spread over the to-be-signed part.
    const positions = [40, 120, 200, 320, 480, 640, 800].filter((p) => p < original.length - 280);
    const tampered = positions.map((p) => { const b = Buffer.from(original); b[p] ^= 0x01; return b; });
    const r = await validate(c, tampered, { checkCrl: '1' });
    for (const [i, s] of r.each.entries()) assert.ok([3, 4, 10].includes(s), `byte ${positions[i]}: status ${s}`);
    assert.ok(r.each.every((s) => s !== 1), 'no tampered certificate is valid');
  });
});
