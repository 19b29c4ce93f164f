// S/MIME signature verification per second: verifySmime (MIME split, CMS parse, digest, signature,
// chain to a trusted root with CRLs, signer = From) with one TrustStore kept across messages, so
// chains come from its cache, against node:crypto's bare verify of the same signatures over the
// same signed attributes with the public key already imported.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as pkijs from 'pkijs';
import { TrustStore } from '../smime/trust.js';
import { verifySmime } from '../smime/verify.js';
import { compareInterleaved, progress, type Figure } from './harness.js';
import { signClear } from '../test/support/mail.js';
import { demoPki } from './support/pki.js';

interface Signature { data: Buffer; signature: Buffer; key: crypto.KeyObject; hash: string }

/** The signer's signed attributes (re-tagged as the SET they are signed as), signature and key, read with pkijs. */
function signatureOf(message: Buffer): Signature {
  const text = message.toString('latin1');
  const at = text.search(/Content-Type:\s*application\/(x-)?pkcs7-signature/i);
  const body = text.slice(text.indexOf('\r\n\r\n', at) + 4);
  const der = Buffer.from(body.slice(0, body.indexOf('\r\n--')).replace(/\s+/g, ''), 'base64');
  const info = pkijs.ContentInfo.fromBER(der);
  const signed = new pkijs.SignedData({ schema: info.content });
  const signer = signed.signerInfos[0]!;
  const attrs = Buffer.from(signer.signedAttrs!.encodedValue);
  attrs[0] = 0x31;
  const cert = signed.certificates!.find((c): c is pkijs.Certificate => c instanceof pkijs.Certificate
    && c.serialNumber.isEqual((signer.sid as pkijs.IssuerAndSerialNumber).serialNumber))!;
  const spki = Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER());
  const hashes: Record<string, string> = { '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512', '1.3.14.3.2.26': 'sha1' };
  return {
    data: attrs, signature: Buffer.from(signer.signature.valueBlock.valueHexView), hash: hashes[signer.digestAlgorithm.algorithmId] ?? 'sha256',
    key: crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' }),
  };
}

export async function smimeVerifyBenchmark(): Promise<Figure[]> {
  const pki = demoPki();
  const trust = TrustStore.from({
    roots: pki.roots.map((f) => fs.readFileSync(f)),
    intermediates: pki.intermediates.map((f) => fs.readFileSync(f)),
    crls: pki.crls.map((f) => fs.readFileSync(f)),
  });
  progress('smime: signing 8 messages with openssl (demo signing keys of alice and bob)');
  const messages = Array.from({ length: 8 }, (_, i) => {
    const who = i % 2 === 0 ? 'alice' : 'bob';
    return signClear({ signer: { cert: path.join(pki.dir, 'users', `${who}-signing.crt`), key: path.join(pki.dir, 'keys', `${who}-signing.key`) },
      from: `${who}@contoso.test`, to: 'carol@contoso.test', subject: `benchmark ${i}`, text: `Signed benchmark message ${i}.\n`.repeat(20) });
  });
  for (const m of messages) {
    const v = await verifySmime(m, { trust });
    if (!v.valid) throw new Error(`a benchmark message does not verify: ${JSON.stringify(v.problems.slice(0, 3))}`);
  }
  const signatures = messages.map(signatureOf);
  for (const s of signatures) {
    if (!crypto.verify(s.hash, s.data, s.key, s.signature)) throw new Error('the baseline does not verify its own signature');
  }
  let i = 0;
  let j = 0;
  progress('smime: verifySmime with a shared TrustStore, against crypto.verify of the same signatures, in alternating rounds');
  const { value: verified, baseline: bare, ratio } = await compareInterleaved(async () => {
    const v = await verifySmime(messages[i++ % messages.length]!, { trust });
    if (!v.valid) throw new Error('verdict changed during the run');
  }, () => {
    const s = signatures[j++ % signatures.length]!;
    if (!crypto.verify(s.hash, s.data, s.key, s.signature)) throw new Error('baseline failed');
  });
  const stats = trust.stats();
  return [{
    name: 'S/MIME verify (clear-signed, chain + CRLs)', value: verified, unit: 'msgs/s', baseline: bare, ratio,
    target: '>= 0.5 of crypto.verify', pass: ratio >= 0.5, note: `path cache ${stats.pathHits} hits / ${stats.pathMisses} misses`,
  }];
}
