// Incoming mail parsed and verified on worker threads or on the main thread (--ingest-workers 0):
// the same messages get the same stored verdicts and the same fields, and the flag is checked.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw, signClear } from '../support/mail.js';

const PKI = path.join(PROJECT_ROOT, 'fixtures', 'demo', 'pki');
const alice = { cert: path.join(PKI, 'users', 'alice-signing.crt'), key: path.join(PKI, 'keys', 'alice-signing.key') };

interface Listed { subject: string; messageClass: string; smime: null | { header: string; valid: boolean } }

async function inbox(server: ServerProcess, user: string): Promise<Listed[]> {
  const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
  const r = await fetch(`${server.baseUrl}/admin/users/${user}/messages?folder=Inbox&limit=500`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  return (await r.json()) as Listed[];
}

describe('end to end: ingest on worker threads and on the main thread', function () {
  this.timeout(120_000);

  it('refuses a bad --ingest-workers value with exit code 2', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'main.ts'), '--ingest-workers', '99'], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--ingest-workers: "99" is not a number from 0 to 16/);
  });

  it('gives the same verdicts and fields with 0 and with 2 workers', async () => {
    const valid = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'iw valid', text: 'Signed by Alice.' });
    const tampered = Buffer.from(signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject: 'iw tampered', text: 'Pay 100 euros.' })
      .toString('latin1').replace('Pay 100 euros.', 'Pay 900 euros.'), 'latin1');
    const mismatch = signClear({ signer: alice, from: 'mallory@fabrikam.test', to: 'bob@contoso.test', subject: 'iw mismatch', text: 'Not Alice.' });
    const plain = await compose({ from: 'erin@fabrikam.test', to: 'bob@contoso.test', subject: 'iw plain', text: 'x', attachments: [{ filename: 'a.txt', content: 'a' }] });
    const seen: Array<Array<{ subject: string; messageClass: string; header: string | null }>> = [];
    for (const workers of ['0', '2']) {
      const server = await startServerProcess({ extraArgs: ['--ingest-workers', workers] });
      try {
        for (const raw of [valid, tampered, mismatch, plain]) await sendRaw(server.smtpPort, { from: 'erin@fabrikam.test', to: ['bob@contoso.test'] }, raw);
        const got = (await inbox(server, 'bob')).filter((m) => m.subject.startsWith('iw '))
          .map((m) => ({ subject: m.subject, messageClass: m.messageClass, header: m.smime?.header ?? null }))
          .sort((a, b) => a.subject.localeCompare(b.subject));
        assert.equal(got.length, 4);
        seen.push(got);
      } finally {
        await server.stop();
      }
    }
    assert.deepEqual(seen[1], seen[0]);
    const bySubject = new Map(seen[0]!.map((m) => [m.subject, m.header]));
    assert.match(bySubject.get('iw valid') ?? '', /^pass; kind=clear-signed; signer=alice@contoso\.test/);
    assert.match(bySubject.get('iw tampered') ?? '', /^fail; .*tampered/);
    assert.match(bySubject.get('iw mismatch') ?? '', /^fail; .*signer-mismatch/);
    assert.equal(bySubject.get('iw plain'), null);
  });
});
