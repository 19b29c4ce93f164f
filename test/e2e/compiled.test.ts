// The compiled server (npm run build, then node dist/server/main.js) runs as the sources do: it finds
// the demo organisation on its defaults, and its ingest workers start from the compiled JavaScript.
// Both were broken once while every test ran the sources under tsx.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EasClient } from '../support/eas-client.js';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sendRaw, signClear } from '../support/mail.js';

const PKI = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki');

describe('end to end: the compiled server (npm run build)', function () {
  this.timeout(180_000);
  let server: ServerProcess;

  before(async function () {
    const tsc = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
      { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 150_000 });
    assert.equal(tsc.status, 0, `npm run build failed:\n${tsc.stdout}${tsc.stderr}`);
    server = await startServerProcess({ compiled: true, extraArgs: ['--ingest-workers', '1'] });
  });
  after(async () => { await server?.stop(); });

  it('loads the demo organisation from its default fixtures and signs devices in', async () => {
    assert.ok(server.logs.some((l) => l.msg === 'organisation loaded' && l.domain === 'contoso.test'));
    const r = await new EasClient({ baseUrl: server.baseUrl, user: 'alice', password: 'demo', deviceId: 'CompiledDev1' }).options();
    assert.equal(r.status, 200);
  });

  it('verifies signed mail on a worker thread started from the compiled worker', async () => {
    const signed = signClear({
      signer: { cert: path.join(PKI, 'users', 'alice-signing.crt'), key: path.join(PKI, 'keys', 'alice-signing.key') },
      from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'compiled ingest', text: 'Signed by Alice.',
    });
    await sendRaw(server.smtpPort, { from: 'alice@contoso.test', to: ['bob@contoso.test'] }, signed);
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const r = await fetch(`${server.baseUrl}/admin/users/bob/messages?folder=Inbox&limit=500`, { headers: { authorization: `Bearer ${token}` } });
    const listed = (await r.json()) as Array<{ subject: string; smime: null | { header: string } }>;
    assert.match(listed.find((m) => m.subject === 'compiled ingest')?.smime?.header ?? '', /^pass; kind=clear-signed; signer=alice@contoso\.test/);
    assert.deepEqual(server.logs.filter((l) => l.msg === 'ingest worker problem'), [], 'the worker started and answered');
  });
});
