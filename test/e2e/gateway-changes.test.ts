// The gateway keeps its trust store, its parsed policy and each user's enforcement between messages,
// and must still see every change on the next message: here the changes come from a second
// connection to the running server's database (as `npm run import-pkcs12` or an operator's SQL
// would make them), which no repository call and no admin route announces. Once with signatures
// verified by the gateway itself, once by ingest workers whose verdicts the gateway takes over.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startServerProcess, PROJECT_ROOT, type ServerProcess } from '../support/server-process.js';
import { compose, sendRaw, signClear } from '../support/mail.js';

const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'demo');
const pki = (rel: string): string => path.join(DEMO, 'pki', rel);
const alice = { cert: pki('users/alice-signing.crt'), key: pki('keys/alice-signing.key') };

interface Listed { subject: string; smime: null | { header: string; valid: boolean; reasons: string[] } }

for (const workers of [0, 1]) describe(`end to end: the gateway sees trust, policy and directory changes on the next message (${workers} ingest workers)`, function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let db: Database.Database;
  let sent = 0;

  before(async () => {
    server = await startServerProcess({ extraArgs: ['--ingest-workers', String(workers)] });
    db = new Database(path.join(server.data, 'easmime.sqlite'));
    db.pragma('busy_timeout = 10000');
  });
  after(async () => {
    db?.close();
    await server?.stop();
  });

  async function inbox(user: string): Promise<Listed[]> {
    const token = fs.readFileSync(path.join(server.data, 'admin.token'), 'utf8').trim();
    const r = await fetch(`${server.baseUrl}/admin/users/${user}/messages?folder=Inbox&limit=500`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    return (await r.json()) as Listed[];
  }

  /** Sends a message signed by alice to bob; resolves to its stored verdict. */
  async function signedVerdict(): Promise<{ valid: boolean; reasons: string[] }> {
    const subject = `changes ${++sent}`;
    const raw = signClear({ signer: alice, from: 'alice@contoso.test', to: 'bob@contoso.test', subject, text: `Message ${sent}.` });
    await sendRaw(server.smtpPort, { from: 'alice@contoso.test', to: ['bob@contoso.test'] }, raw);
    const m = (await inbox('bob')).find((x) => x.subject === subject);
    assert.ok(m?.smime, `${subject} was delivered with a verdict`);
    return m.smime;
  }

  /** Sends unsigned mail; resolves to the SMTP reply code. */
  async function plainTo(to: string): Promise<number> {
    const raw = await compose({ from: 'someone@elsewhere.test', to, subject: `plain ${++sent}`, text: 'not signed' });
    try {
      await sendRaw(server.smtpPort, { from: 'someone@elsewhere.test', to: [to] }, raw);
      return 250;
    } catch (e) {
      return (e as { responseCode?: number }).responseCode ?? -1;
    }
  }

  it('a trust root removed and put back through another connection changes the next verdict each time', async () => {
    assert.equal((await signedVerdict()).valid, true, 'the demo root is trusted');
    const roots = db.prepare("SELECT id, kind, der, source FROM trust_anchors WHERE kind = 'root'").all() as Array<{ id: number; kind: string; der: Buffer; source: string }>;
    assert.ok(roots.length > 0);
    db.prepare("DELETE FROM trust_anchors WHERE kind = 'root'").run();
    const untrusted = await signedVerdict();
    assert.equal(untrusted.valid, false);
    assert.ok(untrusted.reasons.includes('untrusted-root'), untrusted.reasons.join(','));
    const insert = db.prepare('INSERT INTO trust_anchors (id, kind, der, source) VALUES (?, ?, ?, ?)');
    for (const r of roots) insert.run(r.id, r.kind, r.der, r.source);
    assert.equal((await signedVerdict()).valid, true, 'trusted again once the roots are back');
  });

  it('a policy written through another connection applies to the next message', async () => {
    assert.equal(await plainTo('dave@contoso.test'), 250, 'the demo organisation only tags');
    const policy = db.prepare("SELECT value FROM meta WHERE key = 'policy'").pluck().get() as string;
    try {
      db.prepare("UPDATE meta SET value = ? WHERE key = 'policy'").run(JSON.stringify({ mode: 'require-signed' }));
      assert.equal(await plainTo('dave@contoso.test'), 550, 'unsigned mail is refused at once');
    } finally {
      db.prepare("UPDATE meta SET value = ? WHERE key = 'policy'").run(policy);
    }
    assert.equal(await plainTo('dave@contoso.test'), 250, 'and accepted again once the policy is back');
  });

  it('a user who joins or leaves a group gets that group\'s enforcement on the next message', async () => {
    const policy = db.prepare("SELECT value FROM meta WHERE key = 'policy'").pluck().get() as string;
    const sales = db.prepare("SELECT id FROM groups WHERE address = 'sales@contoso.test'").pluck().get() as number;
    const dave = db.prepare("SELECT id FROM users WHERE address = 'dave@contoso.test'").pluck().get() as number;
    try {
      db.prepare("UPDATE meta SET value = ? WHERE key = 'policy'").run(JSON.stringify({ mode: 'tag', groups: { 'sales@contoso.test': { mode: 'require-signed' } } }));
      assert.equal(await plainTo('dave@contoso.test'), 250, 'dave is not in sales');
      assert.equal(await plainTo('alice@contoso.test'), 550, 'alice is');
      db.prepare('INSERT INTO group_members (group_id, user_id) VALUES (?, ?)').run(sales, dave);
      assert.equal(await plainTo('dave@contoso.test'), 550, 'dave has joined sales');
      db.prepare('DELETE FROM group_members WHERE group_id = ? AND user_id = ?').run(sales, dave);
      assert.equal(await plainTo('dave@contoso.test'), 250, 'dave has left sales');
    } finally {
      db.prepare('DELETE FROM group_members WHERE group_id = ? AND user_id = ?').run(sales, dave);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'policy'").run(policy);
    }
  });
});
