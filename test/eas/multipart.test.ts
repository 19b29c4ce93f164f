// The ItemOperations multipart body: layout checked byte by byte, and hostile tables refused.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { decodeMultipart, encodeMultipart, MultipartError } from '../../eas/http/multipart.js';

describe('multipart ItemOperations bodies', () => {
  it('writes the count, then offset/length pairs as little-endian int32 from the start of the body', () => {
    const body = encodeMultipart([Buffer.from('wbxml'), Buffer.from([0, 1, 2]), Buffer.alloc(0)]);
    const header = Buffer.from([
      3, 0, 0, 0,
      28, 0, 0, 0, 5, 0, 0, 0,
      33, 0, 0, 0, 3, 0, 0, 0,
      36, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert.ok(body.subarray(0, 28).equals(header));
    assert.equal(body.subarray(28).toString('latin1'), 'wbxml\x00\x01\x02');
  });

  it('round-trips any parts', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 20 }), (arrays) => {
      const parts = arrays.map((a) => Buffer.from(a));
      const back = decodeMultipart(encodeMultipart(parts));
      assert.equal(back.length, parts.length);
      back.forEach((p, i) => assert.ok(p.equals(parts[i]!)));
    }));
  });

  it('refuses truncated bodies and tables that point outside the body', () => {
    const good = encodeMultipart([Buffer.from('abc'), Buffer.from('defg')]);
    assert.throws(() => decodeMultipart(Buffer.alloc(3)), MultipartError);
    assert.throws(() => decodeMultipart(good.subarray(0, good.length - 1)), /outside/);
    const hugeCount = Buffer.from(good);
    hugeCount.writeInt32LE(0x7fffffff, 0);
    assert.throws(() => decodeMultipart(hugeCount), /out of range/);
    const negative = Buffer.from(good);
    negative.writeInt32LE(-1, 8);
    assert.throws(() => decodeMultipart(negative), /outside/);
    const intoTable = Buffer.from(good);
    intoTable.writeInt32LE(2, 4);
    assert.throws(() => decodeMultipart(intoTable), /outside/);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try { decodeMultipart(Buffer.from(bytes)); } catch (e) { assert.ok(e instanceof MultipartError); }
    }));
  });
});
