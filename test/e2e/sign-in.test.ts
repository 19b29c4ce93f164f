// Password checks (scrypt, tens of milliseconds each) run off the event loop: a burst of wrong
// passwords does not hold up a device that is already signed in, and a burst of one device's
// requests with the same new credentials is answered as one check.
import { strict as assert } from 'node:assert';
import net from 'node:net';
import { EasClient } from '../support/eas-client.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

describe('end to end: sign-in', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(); });
  after(async () => { await server?.stop(); });

  /** An open connection that sends one OPTIONS with these credentials when asked, and resolves with the status code. */
  async function connection(user: string, password: string): Promise<(onAnswer: () => void) => Promise<number>> {
    const socket = net.connect(Number(new URL(server.baseUrl).port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
    const auth = new EasClient({ baseUrl: server.baseUrl, user, password, deviceId: 'X', version: '14.1' }).authHeader();
    return (onAnswer) => new Promise<number>((resolve, reject) => {
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
        if (m) { onAnswer(); socket.destroy(); resolve(Number(m[1])); }
      });
      socket.once('error', reject);
      socket.write(`OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\n\r\n`);
    });
  }

  it('a signed-in device is answered while 24 wrong passwords are being checked', async () => {
    const bob = new EasClient({ baseUrl: server.baseUrl, user: 'bob@contoso.test', password: 'demo', deviceId: 'SignInBob1', version: '14.1' });
    assert.equal((await bob.options()).status, 200, 'signed in once: the check is remembered');

    // Every connection is open before anything is sent, so the 24 wrong passwords reach the server
    // together, ahead of bob's request.
    const wrong = await Promise.all(Array.from({ length: 24 }, (_, i) => connection('alice@contoso.test', `guess-${i}`)));
    const good = await connection('bob@contoso.test', 'demo');
    const order: string[] = [];
    const refusals = wrong.map((send) => send(() => order.push('wrong')));
    await new Promise((r) => setTimeout(r, 20));
    // With the checks on the event loop bob would wait for every one of them (24 x tens of ms).
    const bobAnswer = good(() => order.push('bob'));
    assert.deepEqual([...new Set(await Promise.all(refusals))], [401]);
    assert.equal(await bobAnswer, 200);
    const bobAt = order.indexOf('bob');
    assert.ok(bobAt < 12, `bob was answered after ${bobAt} of the 24 refusals`);
  });

  it('names that are no user are refused like wrong passwords (401), and the same new credentials at once all pass', async () => {
    for (const user of ['nobody@contoso.test', 'nobody', 'CONTOSO\\nobody']) {
      const r = await new EasClient({ baseUrl: server.baseUrl, user, password: 'demo', deviceId: 'NoOne1', version: '14.1' }).options();
      assert.equal(r.status, 401, user);
    }
    const carol = (i: number): EasClient => new EasClient({ baseUrl: server.baseUrl, user: 'carol', password: 'demo', deviceId: `Carol${i}`, version: '14.1' });
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => carol(i).options()));
    assert.deepEqual(burst.map((r) => r.status), Array(8).fill(200));
  });
});
