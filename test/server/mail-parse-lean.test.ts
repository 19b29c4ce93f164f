// Pieces of the lean ingest parser that the differential test cannot pin down on its own: the
// base64 size shortcut against libbase64's streaming decoder fed in arbitrary chunks, the
// libraries shared with mailparser, and the parser's promise never to throw.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import libbase64 from 'libbase64';
import { findHeaderEnd } from '../../smime/mime-split.js';
import { base64DecodedSize } from '../../server/mail/base64-size.js';
import { parseLean } from '../../server/mail/lean-parse.js';
import { resolvedAsMailparser } from '../../server/mail/mailparser-deps.js';

const LIMITS = { maxParts: 1000, maxHeaderBytes: 1024 * 1024, maxHtmlToTextBytes: 1024 * 1024, withBodies: true };

/** What mailparser measures: the bytes libbase64's decoder emits, the input written in the given pieces. */
async function streamedSize(input: Buffer, cuts: number[]): Promise<number> {
  const decoder = new libbase64.Decoder();
  let size = 0;
  decoder.on('data', (chunk: Buffer) => {
    size += chunk.length;
  });
  const done = new Promise((resolve) => decoder.on('end', resolve));
  let at = 0;
  for (const cut of [...cuts.map((c) => c % (input.length + 1)).sort((a, b) => a - b), input.length]) {
    if (cut > at) decoder.write(input.subarray(at, cut));
    at = Math.max(at, cut);
  }
  decoder.end();
  await done;
  return size;
}

const BASE64_ISH = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].map((c) => c.charCodeAt(0));

describe('server/mail lean parser pieces', function () {
  this.timeout(60_000);

  it('base64DecodedSize is the size libbase64 decodes to, however the body is cut', async () => {
    const byte = fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...BASE64_ISH) },
      { weight: 2, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x3d) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    );
    await fc.assert(fc.asyncProperty(fc.array(byte, { maxLength: 400 }), fc.array(fc.nat(), { maxLength: 6 }), fc.nat(7), async (bytes, cuts, offset) => {
      // Placed at every alignment: the counter reads whole words where it can.
      const input = Buffer.alloc(bytes.length + offset).subarray(offset);
      input.set(bytes);
      assert.equal(base64DecodedSize(input), await streamedSize(input, cuts));
    }), { seed: 31337, numRuns: 2000 });
    const big = Buffer.from(Buffer.alloc(100_000, 7).toString('base64').replace(/.{76}/g, '$&\r\n'));
    assert.equal(base64DecodedSize(big), 100_000);
    assert.equal(base64DecodedSize(big), await streamedSize(big, [65536, 70000]));
  });

  it('uses the copies of libmime, libqp, libbase64 and html-to-text that mailparser uses', () => {
    const ours = createRequire(import.meta.url);
    const splitter = createRequire(resolvedAsMailparser('@zone-eu/mailsplit'));
    for (const [name, theirs] of [['libmime', resolvedAsMailparser], ['html-to-text', resolvedAsMailparser], ['libqp', splitter.resolve], ['libbase64', splitter.resolve]] as const) {
      assert.equal(ours.resolve(`${name}/package.json`), theirs(`${name}/package.json`), name);
    }
  });

  it('answers or names a reason on any input, never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      const raw = Buffer.from(bytes);
      const hb = findHeaderEnd(raw, LIMITS.maxHeaderBytes);
      if (!hb) return;
      const result = parseLean(raw, hb, LIMITS);
      assert.ok('content' in result || (typeof result.fallback === 'string' && result.fallback.length > 0));
    }), { seed: 5150, numRuns: 500 });
  });

  it('names why it hands a message to mailparser', () => {
    const reasons: Array<[string, RegExp]> = [
      ['From someone@example.test Mon Jan  1 00:00:00 2024\r\nSubject: mbox\r\n\r\nx', /mbox/],
      ['Subject: uu\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n', /transfer encoding x-uuencode/],
      ['Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n--b\r\n\r\nx\r\n--b--\r\n', /close delimiter before the first part/],
      ['Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\nSubject: inner\r\n\r\nx', /inline message\/rfc822/],
      ['Content-Type: text/plain; boundary=b\r\n\r\n--b\r\nx', /boundary parameter on a non-multipart/],
      ['Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nno blank line\r\n--b--\r\n', /without an empty line/],
      ['Subject: a\rb\r\n\r\nx', /lone CR/],
    ];
    for (const [text, reason] of reasons) {
      const raw = Buffer.from(text, 'latin1');
      const result = parseLean(raw, findHeaderEnd(raw)!, LIMITS);
      assert.ok('fallback' in result, text);
      assert.match(result.fallback, reason, text);
    }
  });
});
