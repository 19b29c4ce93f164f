// Both forms of the request query (MS-ASHTTP 2.2.1.1.1), including the spec's own sample.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { encodeBase64Query, parseQuery, QueryError } from '../../eas/http/query.js';

describe('EAS request query', () => {
  it('decodes the MS-ASHTTP sample base64 query', () => {
    const q = parseQuery('jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l');
    assert.equal(q.form, 'base64');
    assert.equal(q.protocolVersion, '14.0');
    assert.equal(q.command, 'Sync');
    assert.equal(q.locale, 0x0409);
    assert.equal(q.deviceId, 'v140Device');
    assert.equal(q.policyKey, undefined);
    assert.equal(q.deviceType, 'SmartPhone');
  });

  it('reads the policy key little-endian, parameters and the option bits', () => {
    const text = encodeBase64Query({ version: '14.1', command: 'SmartReply', deviceId: 'ABC123', deviceType: 'iPhone', policyKey: 0x01020304, params: { ItemId: '5:17', CollectionId: '5', SaveInSent: 'T' }, user: 'bob' });
    const q = parseQuery(text);
    assert.equal(q.policyKey, 0x01020304);
    assert.deepEqual(q.params, { ItemId: '5:17', CollectionId: '5', SaveInSent: 'T' });
    assert.equal(q.user, 'bob');
    // '+' and '/' survive: the raw query is read, not a framework's parse of it.
    assert.equal(parseQuery(encodeURIComponent(text)).policyKey, 0x01020304);
  });

  it('hex-encodes a binary device id', () => {
    const b = Buffer.concat([Buffer.from([141, 0, 9, 4, 4]), Buffer.from([0xde, 0xad, 0xbe, 0xef]), Buffer.from([0, 2]), Buffer.from('PP')]);
    assert.equal(parseQuery(b.toString('base64')).deviceId, 'deadbeef');
  });

  it('parses the plain form, case-insensitively for parameter names', () => {
    const q = parseQuery('Cmd=SendMail&User=bob%40contoso.test&DeviceId=Dev1&DeviceType=Android&saveinsent=T');
    assert.equal(q.form, 'plain');
    assert.equal(q.command, 'SendMail');
    assert.equal(q.user, 'bob@contoso.test');
    assert.equal(q.params.SaveInSent, 'T');
  });

  it('refuses bad queries with a precise reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /no query string/],
      ['Cmd=Sync&Cmd=Ping&DeviceId=a&DeviceType=b', /Cmd is given twice/],
      ['Cmd=&DeviceId=a&DeviceType=b', /Cmd is missing/],
      ['Cmd=Sync&DeviceId=a&DeviceType=b&User=%E0%A4%A', /bad percent-encoding/],
      ['Cmd=Sync&DeviceId=' + 'a'.repeat(33) + '&DeviceType=b', /1 to 32 letters/],
      ['x'.repeat(5000), /longer than 4096/],
      ['AAAA====', /neither a plain query/],
    ];
    for (const [q, re] of cases) assert.throws(() => parseQuery(q), (e: unknown) => e instanceof QueryError && re.test(e.message), q);
  });

  it('never throws anything but QueryError on random input (fast-check, fixed seed)', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64'))), (s) => {
      try {
        parseQuery(s);
      } catch (e) {
        if (!(e instanceof QueryError)) throw e;
      }
    }), { seed: 20261128, numRuns: 5000 });
  });
});
