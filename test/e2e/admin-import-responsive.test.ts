// A PKCS#12 file with a large iteration count (legacy PBE: the PKCS#12 key derivation, hashed in
// JavaScript) is imported through the admin API without holding up devices: the derivation yields
// to the event loop, so a signed-in device's request is answered while the import is still working.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { openssl, TestPki } from '../smime/verify-pki.js';

const ITERATIONS = 400_000;

describe('end to end: a slow PKCS#12 import does not stall the server', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let pki: TestPki;
  let p12: Buffer;

  before(async function () {
    pki = new TestPki('easmime-slow-p12-');
    pki.root('ca', '/O=Slow Import/CN=Slow Import CA');
    const bob = pki.person('ca', 'bob-slow', 'bob@contoso.test');
    const out = path.join(pki.dir, 'slow.p12');
    // 3DES for both bags and an SHA-1 MAC: five derivations of ITERATIONS rounds each.
    openssl(['pkcs12', '-export', '-legacy', '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-iter', String(ITERATIONS),
      '-inkey', bob.key, '-in', bob.cert, '-passout', 'pass:slow', '-out', out]);
    p12 = fs.readFileSync(out);
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
    pki?.cleanup();
  });

  it(`a device is answered while a ${ITERATIONS.toLocaleString('en')}-iteration file is being opened`, async () => {
    const bob = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'SlowP12Dev', version: '14.1' });
    assert.equal((await bob.options()).status, 200, 'signed in: later checks are remembered');

    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const order: string[] = [];
    const imported = fetch(`${server.baseUrl}/admin/users/bob/certificates`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pkcs12: p12.toString('base64'), password: 'slow', purpose: 'signing', dryRun: true }),
    }).then(async (r) => { order.push('import'); return { status: r.status, body: await r.text() }; });
    await new Promise((r) => setTimeout(r, 100));
    const answered = bob.options().then((r) => { order.push('device'); return r.status; });

    const result = await imported;
    assert.equal(result.status, 200, result.body);
    assert.equal(await answered, 200);
    assert.deepEqual(order, ['device', 'import'], 'the device was answered before the import finished');
  });
});
