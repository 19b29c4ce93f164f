// Fuzzing the inputs that come from files and bytes (fast-check, fixed seeds): the fixture loader's
// public entry point with mutated organisation.json, certificates, CRLs, .eml files and PKCS#12
// files (DER-aware: iteration counts, lengths, algorithm identifiers), the WBXML decoder with token
// streams built from the WBXML grammar, and S/MIME classification and verification with CMS
// structures built from ASN.1 pieces. Each must end in a result or its own precise error (a
// FixtureError naming the file, a WbxmlError, a verdict), never another exception, never a hang.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { FixtureError, loadFixtures } from '../../server/fixtures/load.js';
import { decodeWbxml, encodeWbxml, WbxmlError } from '../../eas/wbxml/index.js';
import { classifyMimeDetailed, sniffCms } from '../../smime/classify.js';
import { verifySmime } from '../../smime/verify.js';
import { TrustStore } from '../../smime/trust.js';
import { PROJECT_ROOT, tempDir } from '../support/server-process.js';

const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'demo');

// ---- a tiny DER reader/writer, so mutations keep the structure's lengths consistent ----------

interface Tlv { tag: number; value?: Buffer; children?: Tlv[] }

function readDer(buf: Buffer, depth = 0): Tlv[] {
  const out: Tlv[] = [];
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++]!;
    let len = buf[i++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + buf[i++]!;
    }
    const value = buf.subarray(i, i + len);
    i += len;
    out.push(tag & 0x20 && depth < 40 ? { tag, children: readDer(value, depth + 1) } : { tag, value });
  }
  return out;
}

function writeDer(nodes: Tlv[]): Buffer {
  return Buffer.concat(nodes.map((n) => {
    const value = n.children ? writeDer(n.children) : n.value!;
    const len = value.length < 0x80 ? Buffer.from([value.length])
      : (() => { const b: number[] = []; for (let l = value.length; l > 0; l = Math.floor(l / 256)) b.unshift(l & 0xff); return Buffer.from([0x80 | b.length, ...b]); })();
    return Buffer.concat([Buffer.from([n.tag]), len, value]);
  }));
}

function all(nodes: Tlv[]): Tlv[] {
  const out: Tlv[] = [];
  const walk = (l: Tlv[]): void => { for (const n of l) { out.push(n); if (n.children) walk(n.children); } };
  walk(nodes);
  return out;
}

/** Integers worth putting where an iteration count, a version or a length is read. */
const INTEGERS = [Buffer.from([0]), Buffer.from([1]), Buffer.from([0xff]), Buffer.from([0x08, 0x00]), Buffer.from([0x7f, 0xff, 0xff, 0xff]),
  Buffer.from([0x00, 0x80, 0x00, 0x00, 0x00]), Buffer.from([0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), Buffer.alloc(40, 0x7f), Buffer.alloc(0)];
const OIDS = ['2a864886f70d010701', '2a864886f70d010702', '2a864886f70d010703', '2a864886f70d0107', '2a864886f70d010c0103', '2a864886f70d01050d',
  '2a864886f70d01050c', '608648016503040102', '2a864886f70d0307', '2a864886f70d010c0106', '2a864886f70d0101', '2b0e03021a', '00',
  '608648016503040201', '2a864886f70d010101', '2a864886f70d01010b', '2a864886f70d010903', '2a864886f70d010904'].map((h) => Buffer.from(h, 'hex'));

type DerMutation = { op: 'int' | 'oid' | 'drop' | 'dup' | 'bytes' | 'retag'; at: number; pick: number };
const derMutationArb = fc.array(fc.record({
  op: fc.constantFrom('int', 'int', 'oid', 'drop', 'dup', 'bytes', 'retag') as fc.Arbitrary<DerMutation['op']>, at: fc.nat(), pick: fc.nat(),
}), { minLength: 1, maxLength: 3 });

function mutateDer(der: Buffer, muts: DerMutation[]): Buffer {
  const tree = readDer(der);
  for (const m of muts) {
    const nodes = all(tree);
    const pickOf = (tag: number): Tlv | undefined => { const l = nodes.filter((n) => n.tag === tag); return l.length ? l[m.at % l.length] : undefined; };
    const n = nodes[m.at % nodes.length]!;
    if (m.op === 'int') { const t = pickOf(0x02); if (t) t.value = INTEGERS[m.pick % INTEGERS.length]!; }
    if (m.op === 'oid') { const t = pickOf(0x06); if (t) t.value = OIDS[m.pick % OIDS.length]!; }
    if (m.op === 'bytes' && n.value) { n.value = Buffer.from(n.value); if (n.value.length) n.value[m.pick % n.value.length] ^= 1 + (m.pick % 255); }
    if (m.op === 'retag') n.tag = [0x02, 0x04, 0x05, 0x06, 0x30, 0x31, 0xa0, 0x80][m.pick % 8]!;
    const parent = nodes.find((p) => p.children?.includes(n));
    if (m.op === 'drop' && parent) parent.children!.splice(parent.children!.indexOf(n), 1);
    if (m.op === 'dup' && parent) parent.children!.splice(parent.children!.indexOf(n), 0, structuredClone(n));
  }
  return writeDer(tree);
}

// ---- the fixture loader ----------------------------------------------------------------------

/** A small valid organisation using the demo PKI: certificates, a PKCS#12, CRLs, a group, a contact, a mailbox. */
function baseOrganisation(): Record<string, unknown> {
  return {
    name: 'Fuzz', domain: 'contoso.test',
    trustedRoots: ['pki/contoso-root-ca.crt'], intermediates: ['pki/contoso-issuing-ca.crt'], crls: ['pki/contoso-issuing.crl'],
    users: [
      { address: 'alice@contoso.test', password: 'demo', displayName: 'Alice', certificates: [{ purpose: 'signing', pkcs12: 'pki/alice-signing.p12', password: 'demo' }] },
      { address: 'bob@contoso.test', password: 'demo', certificates: [{ purpose: 'encryption', certificate: 'pki/bob-encryption.crt', chain: ['pki/contoso-issuing-ca.crt'] }] },
    ],
    groups: [{ address: 'team@contoso.test', members: ['alice', 'bob@contoso.test'] }],
    externalContacts: [{ address: 'erin@fabrikam.test', displayName: 'Erin' }],
    policy: { mode: 'tag', groups: { 'team@contoso.test': { mode: ['reject-invalid'] } } },
  };
}

const PKI_FILES: Record<string, string> = {
  'contoso-root-ca.crt': 'pki/contoso-root-ca.crt', 'contoso-issuing-ca.crt': 'pki/contoso-issuing-ca.crt', 'contoso-issuing.crl': 'pki/contoso-issuing.crl',
  'alice-signing.p12': 'pki/users/alice-signing.p12', 'bob-encryption.crt': 'pki/users/bob-encryption.crt',
};
const EML = Buffer.from('From: erin@fabrikam.test\r\nTo: alice@contoso.test\r\nSubject: hello\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\nMessage-ID: <f@x>\r\n\r\nHello.\r\n');

function writeFixture(org: string | Buffer, overrides: Record<string, Buffer> = {}): string {
  const dir = tempDir('easmime-fuzz-fixture-');
  fs.writeFileSync(path.join(dir, 'organisation.json'), org);
  fs.mkdirSync(path.join(dir, 'pki'));
  for (const [name, rel] of Object.entries(PKI_FILES)) fs.writeFileSync(path.join(dir, 'pki', name), overrides[name] ?? fs.readFileSync(path.join(DEMO, rel)));
  fs.mkdirSync(path.join(dir, 'mailboxes', 'alice', 'Inbox'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'mailboxes', 'alice', 'Inbox', 'hello.eml'), overrides['hello.eml'] ?? EML);
  for (const [folder, name] of [['Contacts', 'jane.json'], ['Calendar', 'standup.json']] as const) {
    const item = overrides[name];
    if (!item) continue;
    fs.mkdirSync(path.join(dir, 'mailboxes', 'alice', folder), { recursive: true });
    fs.writeFileSync(path.join(dir, 'mailboxes', 'alice', folder, name), item);
  }
  return dir;
}

const ITEMS: Record<'jane.json' | 'standup.json', Record<string, unknown>> = {
  'jane.json': { FileAs: 'Doe, Jane', FirstName: 'Jane', Email1Address: 'jane@example.test', NickName: 'JD', Categories: ['Work', 'VIP'], Body: 'Met in Leeds.' },
  'standup.json': { Subject: 'Stand-up', StartTime: '20261201T090000Z', EndTime: '2026-12-01T09:15:00Z', BusyStatus: 1,
    Attendees: [{ Email: 'bob@contoso.test', Name: 'Bob' }], Recurrence: { Type: 0, Interval: 1 } },
};

const FIXTURE_FILES = ['organisation.json', 'pki/', 'mailboxes'];

/** Loads; a FixtureError must list problems that each name a file of the fixture. Returns 'ok' or the problems. */
async function loadOrExplain(dir: string, label: string): Promise<'ok' | string[]> {
  const started = Date.now();
  try {
    await loadFixtures(dir);
    return 'ok';
  } catch (e) {
    if (!(e instanceof FixtureError)) throw new Error(`${label}: ${e instanceof Error ? e.stack : String(e)}`);
    assert.ok(e.problems.length > 0, `${label}: a FixtureError without problems`);
    for (const p of e.problems) assert.ok(FIXTURE_FILES.some((f) => p.startsWith(f)), `${label}: a problem that names no file: ${p}`);
    return [...e.problems];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    assert.ok(Date.now() - started < 10_000, `${label}: loading took ${Date.now() - started} ms`);
  }
}

type JsonMutation = { op: 'replace' | 'delete' | 'add' | 'wrap'; at: number; value: unknown; key: string };

function jsonNodes(v: unknown, out: Array<{ holder: Record<string, unknown> | unknown[]; key: string | number }> = []): typeof out {
  if (Array.isArray(v)) v.forEach((c, i) => { out.push({ holder: v, key: i }); jsonNodes(c, out); });
  else if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) { out.push({ holder: v as Record<string, unknown>, key: k }); jsonNodes(c, out); }
  return out;
}

function mutateJson(org: Record<string, unknown>, muts: JsonMutation[]): Record<string, unknown> {
  const o = structuredClone(org);
  for (const m of muts) {
    const nodes = jsonNodes(o);
    const { holder, key } = nodes[m.at % nodes.length]!;
    const h = holder as Record<string | number, unknown>;
    if (m.op === 'replace') h[key] = m.value;
    if (m.op === 'delete') { if (Array.isArray(holder)) holder.splice(key as number, 1); else delete h[key]; }
    if (m.op === 'add') { if (Array.isArray(holder)) holder.push(m.value); else h[m.key] = m.value; }
    if (m.op === 'wrap') h[key] = [h[key]];
  }
  return o;
}

const EDGE_VALUES: unknown[] = ['', ' ', 'alice', 'x@y', 'ALICE@CONTOSO.TEST', '../../../etc/passwd', '/etc/passwd', 'pki/missing.crt', 'pki/alice-signing.p12',
  'pki/contoso-issuing.crl', 'mailboxes', '\u0000', 'é'.repeat(300), 0, -1, 1e308, 2 ** 53 + 1, true, null, [], {}, ['tag', 'nope'], { mode: 7 }];

const jsonMutationArb = fc.array(fc.record({
  op: fc.constantFrom('replace', 'replace', 'delete', 'add', 'wrap') as fc.Arbitrary<JsonMutation['op']>,
  at: fc.nat(),
  value: fc.oneof(fc.constantFrom(...EDGE_VALUES), fc.jsonValue({ maxDepth: 2 })),
  key: fc.constantFrom('address', 'password', 'purpose', 'pkcs12', 'certificate', 'members', 'mode', 'displayname', 'comment', 'publish', 'deviceId', 'x'),
}), { minLength: 1, maxLength: 3 });

describe('reliability: fuzzing files and bytes', function () {
  this.timeout(120_000);

  it('the unmutated fixture loads (so that mutations are what fails)', async () => {
    assert.equal(await loadOrExplain(writeFixture(JSON.stringify(baseOrganisation())), 'base'), 'ok');
  });

  it('organisation.json: mutated values and mutated text load or fail with problems naming the file', async () => {
    const runs = fc.sample(fc.oneof(
      jsonMutationArb.map((m) => ({ kind: 'json' as const, m })),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), cut: fc.boolean() }), { minLength: 1, maxLength: 3 }).map((m) => ({ kind: 'text' as const, m })),
    ), { seed: 20261129, numRuns: 600 });
    let failed = 0;
    for (const r of runs) {
      let text: Buffer;
      if (r.kind === 'json') text = Buffer.from(JSON.stringify(mutateJson(baseOrganisation(), r.m), null, 1));
      else {
        text = Buffer.from(JSON.stringify(baseOrganisation(), null, 1));
        for (const { at, byte, cut } of r.m) text = cut ? text.subarray(0, at % text.length) : (text[at % text.length] = byte, text);
      }
      if ((await loadOrExplain(writeFixture(text), JSON.stringify(r.m).slice(0, 200))) !== 'ok') failed++;
    }
    assert.ok(failed > runs.length / 3, `most mutations are mistakes the loader finds (${failed} of ${runs.length})`);
  });

  it('PKCS#12 through the loader: DER-aware mutations and random bytes fail naming the file, quickly', async () => {
    const p12 = fs.readFileSync(path.join(DEMO, 'pki/users/alice-signing.p12'));
    const org = JSON.stringify(baseOrganisation());
    const runs = fc.sample(fc.oneof(
      { weight: 5, arbitrary: derMutationArb.map((m) => ({ label: JSON.stringify(m), bytes: () => mutateDer(p12, m) })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => ({ label: 'random', bytes: () => Buffer.from(a) })) },
      { weight: 1, arbitrary: fc.nat().map((n) => ({ label: `truncated ${n}`, bytes: () => p12.subarray(0, n % p12.length) })) },
    ), { seed: 12, numRuns: 300 });
    let named = 0;
    for (const r of runs) {
      const out = await loadOrExplain(writeFixture(org, { 'alice-signing.p12': r.bytes() }), `p12 ${r.label}`);
      if (out !== 'ok' && out.some((p) => p.startsWith('pki/alice-signing.p12') || p.includes('alice-signing.p12'))) named++;
    }
    assert.ok(named > runs.length / 2, `failures name the PKCS#12 file (${named} of ${runs.length})`);
  });

  it('certificates, CRLs and .eml files, mutated, load or fail naming the file', async () => {
    const org = JSON.stringify(baseOrganisation());
    const targets = ['contoso-root-ca.crt', 'contoso-issuing-ca.crt', 'contoso-issuing.crl', 'bob-encryption.crt'] as const;
    const runs = fc.sample(fc.tuple(fc.constantFrom(...targets), derMutationArb), { seed: 14, numRuns: 120 });
    for (const [file, muts] of runs) {
      const original = fs.readFileSync(path.join(DEMO, PKI_FILES[file]!));
      const der = original[0] === 0x30 ? original : Buffer.from(original.toString('latin1').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
      await loadOrExplain(writeFixture(org, { [file]: mutateDer(der, muts) }), `${file} ${JSON.stringify(muts)}`);
    }
    const emls = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 })
        .map((m) => { const b = Buffer.from(EML); for (const { at, byte } of m) b[at % b.length] = byte; return b; })), { seed: 15, numRuns: 60 });
    for (const eml of emls) await loadOrExplain(writeFixture(org, { 'hello.eml': eml }), 'eml');
  });

  it('contact and calendar item files, mutated, load or fail naming the file', async () => {
    const org = JSON.stringify(baseOrganisation());
    for (const name of ['jane.json', 'standup.json'] as const) {
      assert.equal(await loadOrExplain(writeFixture(org, { [name]: Buffer.from(JSON.stringify(ITEMS[name])) }), `${name} as written`), 'ok');
    }
    const structural = fc.sample(fc.tuple(fc.constantFrom('jane.json' as const, 'standup.json' as const), jsonMutationArb), { seed: 21, numRuns: 120 });
    let named = 0;
    for (const [name, muts] of structural) {
      const out = await loadOrExplain(writeFixture(org, { [name]: Buffer.from(JSON.stringify(mutateJson(ITEMS[name], muts))) }), `${name} ${JSON.stringify(muts)}`);
      if (out !== 'ok') {
        named++;
        assert.ok(out.every((p) => p.startsWith(`mailboxes/alice/`)), `${name}: ${out.join('; ')}`);
      }
    }
    assert.ok(named > 10, `mutations were refused too (${named} of ${structural.length})`);
    const bytes = fc.sample(fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }), { seed: 22, numRuns: 60 });
    for (const m of bytes) {
      const b = Buffer.from(JSON.stringify(ITEMS['standup.json']));
      for (const { at, byte } of m) b[at % b.length] = byte;
      await loadOrExplain(writeFixture(org, { 'standup.json': b }), 'item bytes');
    }
  });

  it('WBXML: token streams built from the grammar decode or fail with WbxmlError, and what decodes re-encodes', () => {
    const mb = (n: number): number[] => { const out = [n & 0x7f]; for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) out.unshift(0x80 | (n & 0x7f)); return out; };
    const token = fc.oneof(
      fc.integer({ min: 0, max: 30 }).map((p) => [0x00, p]), // SWITCH_PAGE
      fc.constant([0x01]), // END
      fc.tuple(fc.string({ maxLength: 12 }), fc.boolean()).map(([s, term]) => [0x03, ...Buffer.from(s, 'utf8'), ...(term ? [0] : [])]), // STR_I
      fc.tuple(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(2 ** 28, 2 ** 32 - 1)), fc.uint8Array({ maxLength: 8 })).map(([n, b]) => [0xc3, ...mb(n), ...b]), // OPAQUE
      fc.integer({ min: 0, max: 40 }).map((o) => [0x83, ...mb(o)]), // STR_T
      fc.tuple(fc.integer({ min: 0x05, max: 0x3f }), fc.constantFrom(0, 0x40, 0x40, 0x80, 0xc0)).map(([t, f]) => [t | f]), // tags
      fc.constantFrom([0x02], [0x04], [0x40], [0x41], [0x42], [0x43], [0x44], [0x80], [0x81], [0xc0], [0xc1], [0xc2], [0xc4], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
    );
    const doc = fc.record({
      version: fc.constantFrom(0x03, 0x03, 0x02, 0x01, 0x13),
      publicId: fc.constantFrom([0x01], [0x00, 0x00], [0x05]),
      charset: fc.constantFrom([0x6a], [0x6a], [0x04], [0x83, 0x00]),
      table: fc.oneof(fc.constant([0x00]), fc.string({ maxLength: 20 }).map((s) => { const b = Buffer.from(s + '\0', 'utf8'); return [...mb(b.length), ...b]; })),
      root: fc.tuple(fc.integer({ min: 0x05, max: 0x3f }), fc.boolean()),
      body: fc.array(token, { maxLength: 40 }),
    }).map((d) => Buffer.from([d.version, ...d.publicId, ...d.charset, ...d.table, d.root[0] | (d.root[1] ? 0x40 : 0), ...d.body.flat()]));
    // Balanced documents reach past the first END; some get one token corrupted afterwards.
    type El = { tag: number; page: number; kids: Array<El | { str: string } | { opaque: number[] }> };
    const elementAt = (depth: number): fc.Arbitrary<El> => fc.record({
      tag: fc.integer({ min: 0x05, max: 0x3f }), page: fc.oneof(fc.integer({ min: 0, max: 25 }), fc.constant(0)),
      kids: fc.array(fc.oneof(...(depth > 0 ? [elementAt(depth - 1)] : []), fc.string({ maxLength: 8 }).map((str) => ({ str })),
        fc.uint8Array({ maxLength: 6 }).map((a) => ({ opaque: [...a] }))), { maxLength: 3 }),
    });
    const el = elementAt(4);
    const emit = (e: El): number[] => {
      const out = [0x00, e.page, e.kids.length ? e.tag | 0x40 : e.tag];
      for (const k of e.kids) {
        if ('tag' in k) out.push(...emit(k));
        else if ('str' in k) out.push(0x03, ...Buffer.from(k.str.replace(/\0/g, ''), 'utf8'), 0);
        else out.push(0xc3, ...mb(k.opaque.length), ...k.opaque);
      }
      if (e.kids.length) out.push(0x01);
      return out;
    };
    const balanced = fc.tuple(el, fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { freq: 3 })).map(([root, corrupt]) => {
      const b = Buffer.from([0x03, 0x01, 0x6a, 0x00, ...emit(root)]);
      if (corrupt) b[4 + (corrupt[0] % (b.length - 4))] = corrupt[1];
      return b;
    });
    let decoded = 0;
    fc.assert(fc.property(fc.oneof(doc, balanced), (bytes) => {
      const started = performance.now();
      try {
        const tree = decodeWbxml(bytes, { maxDepth: 32 });
        decoded++;
        assert.deepEqual(decodeWbxml(encodeWbxml(tree), { maxDepth: 32 }), tree);
      } catch (e) {
        if (!(e instanceof WbxmlError)) throw e;
        assert.ok(e.message.length > 0);
      }
      assert.ok(performance.now() - started < 250, 'decoding is quick');
    }), { seed: 21, numRuns: 20_000 });
    assert.ok(decoded > 1000, `many streams decode (${decoded})`);
  });

  it('S/MIME: CMS structures built from ASN.1 pieces classify without throwing and verify to a verdict that is never valid', async function () {
    this.timeout(60_000);
    const trust = TrustStore.from({ roots: [fs.readFileSync(path.join(DEMO, 'pki', 'contoso-root-ca.crt'))] });
    const oid = fc.constantFrom(...OIDS).map((v): Tlv => ({ tag: 0x06, value: v }));
    const leaf = fc.oneof(oid, fc.constantFrom(...INTEGERS).map((v): Tlv => ({ tag: 0x02, value: v })),
      fc.uint8Array({ maxLength: 12 }).map((a): Tlv => ({ tag: 0x04, value: Buffer.from(a) })), fc.constant<Tlv>({ tag: 0x05, value: Buffer.alloc(0) }));
    const { node } = fc.letrec<{ node: Tlv }>((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.tuple(fc.constantFrom(0x30, 0x31, 0xa0, 0xa1), fc.array(tie('node'), { maxLength: 4 })).map(([tag, children]): Tlv => ({ tag, children }))),
    }));
    // SignedData-shaped: the right skeleton, pieces drawn at random, sometimes a real certificate.
    const aliceCert = readDer(Buffer.from(fs.readFileSync(path.join(DEMO, 'pki', 'users', 'alice-signing.crt'), 'latin1').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'))[0]!;
    const tbs = aliceCert.children![0]!.children!;
    const issuerSerial: Tlv = { tag: 0x30, children: [tbs[3]!, tbs[1]!] };
    const one = fc.oneof({ weight: 4, arbitrary: fc.constant(Buffer.from([1])) }, { weight: 1, arbitrary: fc.constantFrom(...INTEGERS) });
    const attribute = fc.tuple(fc.constantFrom(OIDS[0]!, OIDS[14]!, OIDS[15]!), fc.array(node, { maxLength: 2 }))
      .map(([o, values]): Tlv => ({ tag: 0x30, children: [{ tag: 0x06, value: o }, { tag: 0x31, children: values }] }));
    const algorithm = fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(OIDS[12]!, OIDS[13]!, OIDS[14]!) }, { weight: 1, arbitrary: fc.constantFrom(...OIDS) }), fc.boolean()).map(([o, nul]): Tlv => ({ tag: 0x30, children: [{ tag: 0x06, value: o }, ...(nul ? [{ tag: 0x05, value: Buffer.alloc(0) }] : [])] }));
    const signerInfo = fc.record({ version: one, sid: fc.oneof({ weight: 3, arbitrary: fc.constant(issuerSerial) }, { weight: 1, arbitrary: node }), digest: algorithm,
      attrs: fc.option(fc.array(attribute, { maxLength: 3 }), { freq: 4 }), sigAlg: algorithm, sig: fc.uint8Array({ maxLength: 64 }) })
      .map((si): Tlv => ({ tag: 0x30, children: [{ tag: 0x02, value: si.version }, si.sid, si.digest, ...(si.attrs ? [{ tag: 0xa0, children: si.attrs }] : []), si.sigAlg, { tag: 0x04, value: Buffer.from(si.sig) }] }));
    const signedData = fc.record({
      version: one, digests: fc.array(algorithm, { maxLength: 2 }), content: fc.option(fc.uint8Array({ maxLength: 20 })),
      certs: fc.option(fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(aliceCert) }, { weight: 1, arbitrary: node }), { maxLength: 2 }), { freq: 4 }),
      signers: fc.array(signerInfo, { minLength: 1, maxLength: 2 }),
    }).map((sd): Tlv[] => [{ tag: 0x02, value: sd.version }, { tag: 0x31, children: sd.digests },
      { tag: 0x30, children: [{ tag: 0x06, value: OIDS[0]! }, ...(sd.content ? [{ tag: 0xa0, children: [{ tag: 0x04, value: Buffer.from(sd.content) }] }] : [])] },
      ...(sd.certs ? [{ tag: 0xa0, children: sd.certs }] : []), { tag: 0x31, children: sd.signers }]);
    const contentInfo = fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.constant(OIDS[1]!) }, { weight: 1, arbitrary: fc.constantFrom(...OIDS.slice(0, 4)) }),
      fc.oneof({ weight: 1, arbitrary: fc.array(node, { maxLength: 4 }) }, { weight: 3, arbitrary: signedData }))
      .map(([type, inner]) => writeDer([{ tag: 0x30, children: [{ tag: 0x06, value: type }, { tag: 0xa0, children: [{ tag: 0x30, children: inner }] }] }]));
    const message = fc.tuple(contentInfo, fc.constantFrom('opaque', 'detached', 'raw-der')).map(([der, how]) => {
      const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\r\n');
      if (how === 'opaque') return Buffer.from(`From: alice@contoso.test\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}`);
      if (how === 'detached') return Buffer.from(`From: alice@contoso.test\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}--b--\r\n`);
      return Buffer.concat([Buffer.from('From: alice@contoso.test\r\nContent-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: binary\r\n\r\n'), der]);
    });
    await fc.assert(fc.asyncProperty(message, async (raw) => {
      const d = classifyMimeDetailed(raw);
      assert.notEqual(d.malformed, 'unexpected failure while classifying');
      sniffCms(raw.subarray(raw.indexOf('\r\n\r\n') + 4));
      const started = performance.now();
      const v = await verifySmime(raw, { trust });
      assert.equal(v.valid, false);
      assert.ok(!v.problems.some((p) => /unexpectedly/.test(p.detail)), `verification reached its catch-all: ${JSON.stringify(v.problems)}`);
      assert.ok(performance.now() - started < 2000, 'verification is quick');
    }), { seed: 23, numRuns: 4000 });
  });
});
