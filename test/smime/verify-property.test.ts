// Properties of verifySmime on hostile input (fixed seeds, bounded runs):
// it always resolves to a JSON-serialisable verdict, never throws, never
// takes long; a changed signed body is never valid; garbage where the
// signature should be is `malformed`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fc from 'fast-check';
import { TrustStore } from '../../smime/trust.js';
import { verifySmime } from '../../smime/verify.js';
import { distinctReasons } from '../../smime/trust.js';
import type { SmimeVerdict } from '../../smime/verdict.js';
import { demo, demoSigner, signMessage, TestPki, wrapOpaque, VECTORS } from './verify-pki.js';

const PER_MESSAGE_MS = 2000;

async function check(input: Buffer, store: TrustStore): Promise<SmimeVerdict> {
  const start = performance.now();
  const v = await verifySmime(input, { trust: store });
  const ms = performance.now() - start;
  assert.ok(ms < PER_MESSAGE_MS, `took ${ms.toFixed(0)} ms`);
  assert.deepEqual(JSON.parse(JSON.stringify(v)), v);
  // Internal consistency of every verdict.
  assert.deepEqual(v.reasons, distinctReasons(v.problems));
  if (v.valid) {
    assert.equal(v.signed, true);
    assert.ok(v.signers.length > 0);
    assert.ok(!v.problems.some((p) => p.severity === 'error' && p.signer === undefined));
  }
  for (const s of v.signers) if (s.valid) assert.equal(s.checks.signature.status, 'pass');
  return v;
}

type Mutation = { at: number; op: 'flip' | 'insert' | 'delete' | 'truncate'; byte: number };

function mutate(seed: Buffer, muts: Mutation[], from = 0, to = seed.length): Buffer {
  let buf = Buffer.from(seed);
  let end = to;
  for (const m of muts) {
    const span = end - from;
    if (span <= 0) break;
    const at = from + (m.at % span);
    if (m.op === 'flip') buf[at] = m.byte;
    else if (m.op === 'insert') {
      buf = Buffer.concat([buf.subarray(0, at), Buffer.from([m.byte]), buf.subarray(at)]);
      end++;
    } else if (m.op === 'delete') {
      buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
      end--;
    } else {
      buf = buf.subarray(0, at);
      end = Math.min(end, at);
    }
  }
  return buf;
}

const mutations = fc.array(
  fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'insert', 'delete', 'truncate') as fc.Arbitrary<Mutation['op']>, byte: fc.integer({ min: 0, max: 255 }) }),
  { minLength: 1, maxLength: 6 },
);

describe('smime/verify: properties', function () {
  this.timeout(120000);
  let pki: TestPki;
  let store: TrustStore;
  let clear: Buffer;
  let opaque: Buffer;
  const seeds: Buffer[] = [];

  before(function () {
    this.timeout(60000);
    pki = new TestPki('easmime-verify-prop-');
    store = TrustStore.from({
      roots: [fs.readFileSync(demo('contoso-root-ca.crt'))],
      intermediates: [fs.readFileSync(demo('contoso-issuing-ca.crt'))],
      crls: [fs.readFileSync(demo('contoso-issuing.crl')), fs.readFileSync(demo('contoso-root.crl'))],
    });
    clear = signMessage(pki.dir, { signers: [demoSigner('alice-signing')], from: 'alice@contoso.test' });
    opaque = signMessage(pki.dir, { signers: [demoSigner('alice-signing')], from: 'alice@contoso.test', opaque: true });
    seeds.push(clear, opaque);
    for (const f of ['rfc4134/4.8.eml', 'rfc4134/5.3.eml']) if (fs.existsSync(`${VECTORS}/${f}`)) seeds.push(fs.readFileSync(`${VECTORS}/${f}`));
    if (fs.existsSync(`${VECTORS}/rfc4134/4.5.bin`)) seeds.push(wrapOpaque(fs.readFileSync(`${VECTORS}/rfc4134/4.5.bin`)));
  });
  after(() => pki?.cleanup());

  it('the seeds themselves', async () => {
    assert.equal((await check(clear, store)).valid, true);
    assert.equal((await check(opaque, store)).valid, true);
  });

  it('random bytes: a verdict, never valid', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const v = await check(Buffer.from(bytes), store);
        assert.equal(v.valid, false);
      }),
      { seed: 4134, numRuns: 300 },
    );
  });

  it('mutated messages anywhere: a verdict, never a throw or a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 100 }), mutations, async (which, muts) => {
        await check(mutate(seeds[which % seeds.length]!, muts), store);
      }),
      { seed: 9216, numRuns: 400 },
    );
  });

  it('a changed signed body is never valid', async () => {
    const text = clear.toString('latin1');
    const boundary = /boundary="([^"]+)"/.exec(text)![1]!;
    const first = text.indexOf(`--${boundary}`) + boundary.length + 3; // after the delimiter line's LF
    const end = text.indexOf(`\n--${boundary}`, first); // the LF before the next delimiter ends the part
    const canonical = (s: string) => s.replace(/\r?\n/g, '\r\n');
    const original = canonical(text.slice(first, end));
    await fc.assert(
      fc.asyncProperty(mutations, async (muts) => {
        const mutated = mutate(clear, muts, first, end);
        const v = await check(mutated, store);
        const m = mutated.toString('latin1');
        const stillThere = m.indexOf(`\n--${boundary}`, first);
        const part = stillThere > 0 ? canonical(m.slice(first, stillThere)) : null;
        // Deleting a CR before an LF is undone by canonicalisation: the same signed bytes.
        if (part === original) return;
        assert.equal(v.valid, false, `changed content verified: ${JSON.stringify(part)}`);
      }),
      { seed: 5751, numRuns: 300 },
    );
  });

  it('crafted BER (deeply nested indefinite lengths, many elements) is answered quickly', async () => {
    for (const depth of [10, 40, 200]) {
      const inner = Buffer.alloc(2 * 90_000);
      for (let i = 0; i < inner.length; i += 2) inner[i] = 0x05; // NULL, NULL, ...
      const der = Buffer.concat([Buffer.from('3080'.repeat(depth), 'hex'), inner, Buffer.alloc(2 * depth)]);
      const clearText = clear.toString('latin1');
      const sigStart = clearText.indexOf('\n\n', clearText.lastIndexOf('filename="smime.p7s"')) + 2;
      const sigEnd = clearText.indexOf('\n\n', sigStart);
      const msg = Buffer.from(clearText.slice(0, sigStart) + der.toString('base64') + clearText.slice(sigEnd), 'latin1');
      const v = await check(msg, store);
      assert.deepEqual(v.reasons, ['malformed']);
    }
  });

  it('garbage where the signature belongs is malformed', async () => {
    const text = clear.toString('latin1');
    const sigStart = text.indexOf('\n\n', text.lastIndexOf('filename="smime.p7s"')) + 2;
    const sigEnd = text.indexOf('\n\n', sigStart);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.boolean(), async (bytes, asBase64) => {
        const body = asBase64 ? Buffer.from(bytes).toString('base64').replace(/.{64}/g, '$&\n') : Buffer.from(bytes).toString('latin1').replace(/\n\n/g, '\n');
        const msg = Buffer.from(text.slice(0, sigStart) + body + text.slice(sigEnd), 'latin1');
        const v = await check(msg, store);
        assert.equal(v.valid, false);
        assert.ok(v.reasons.includes('malformed'), JSON.stringify(v.problems));
      }),
      { seed: 8551, numRuns: 300 },
    );
  });
});
