// The start-up contract: flags, environment variables, help, and refusals that name what is wrong.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, startServerProcess, tempDir } from '../support/server-process.js';
import { SmtpClient } from '../support/smtp-client.js';

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'main.ts'), ...args], {
    cwd: PROJECT_ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('end to end: start-up contract', function () {
  this.timeout(90_000);

  it('--help lists every flag with its environment variable', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const [flag, env] of [['--fixtures', 'EASMIME_FIXTURES'], ['--data', 'EASMIME_DATA'], ['--http-port', 'EASMIME_HTTP_PORT'], ['--smtp-port', 'EASMIME_SMTP_PORT'], ['--host', 'EASMIME_HOST']]) {
      assert.ok(r.stdout.includes(flag) && r.stdout.includes(env), `${flag} / ${env}`);
    }
  });

  it('refuses an unknown flag, a bad port and a bad environment value with exit code 2', () => {
    let r = run(['--nope']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option --nope/);
    r = run(['--http-port', '99999']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--http-port: "99999" is not a port number/);
    r = run([], { EASMIME_SMTP_PORT: 'twenty' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /EASMIME_SMTP_PORT: "twenty" is not a port number/);
  });

  it('a bad fixture folder stops start-up with the file and the problem, and leaves the data folder empty', async () => {
    const fixtures = tempDir('easmime-badfix-');
    fs.cpSync(path.join(PROJECT_ROOT, 'fixtures', 'demo'), fixtures, { recursive: true });
    const org = JSON.parse(fs.readFileSync(path.join(fixtures, 'organisation.json'), 'utf8')) as { users: Array<{ address: string }> };
    org.users[1]!.address = 'not-an-address';
    fs.writeFileSync(path.join(fixtures, 'organisation.json'), JSON.stringify(org, null, 2));
    const data = tempDir();
    const r = run(['--fixtures', fixtures, '--data', data, '--http-port', '0', '--smtp-port', '0']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /organisation\.json: users\[1\]\.address: not an e-mail address/);
    // Nothing half-loaded: a later start with good fixtures initialises the same folder from scratch.
    const server = await startServerProcess({ data });
    try {
      assert.ok(server.logs.some((l) => l.msg === 'initialising data folder from fixtures'));
      assert.ok(server.logs.some((l) => l.msg === 'organisation loaded' && l.users === 4));
    } finally {
      await server.stop();
    }
  });

  it('takes its settings from the environment, keeps the server key private and passwords out of the log', async () => {
    const data = tempDir();
    const server = await startServerProcess({ data, env: { EASMIME_LOG_FORMAT: 'json' } });
    try {
      assert.ok(server.logs.some((l) => l.msg === 'organisation loaded' && l.domain === 'contoso.test'));
      assert.ok(server.logs.some((l) => String(l.msg).startsWith('EAS listening on http://127.0.0.1:') && l.httpPort === server.httpPort));
      assert.ok(fs.existsSync(path.join(data, 'easmime.sqlite')));
      const mode = fs.statSync(path.join(data, 'server.key')).mode & 0o777;
      assert.equal(mode, 0o600, 'the server key is readable by its owner only');
      const logText = JSON.stringify(server.logs);
      assert.ok(!logText.includes('"demo"') && !/password/i.test(logText), 'no password reaches the log');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('--log-level: info keeps refusals and the message line, debug adds every accepted MAIL FROM and RCPT TO', async () => {
    assert.match(run(['--log-level', 'verbose']).stderr, /--log-level: "verbose" is not info or debug/);
    const message = Buffer.from('From: ann@elsewhere.test\r\nTo: alice@contoso.test\r\nSubject: levels\r\n\r\nHello\r\n');
    const smtpLines = async (extraArgs: string[]): Promise<Array<Record<string, unknown>>> => {
      const server = await startServerProcess({ extraArgs });
      try {
        const client = await SmtpClient.connect(server.smtpPort);
        await client.send('ann@elsewhere.test', ['alice@contoso.test'], message);
        await client.command('MAIL FROM:<ann@elsewhere.test>', 250);
        await assert.rejects(client.command('RCPT TO:<nobody@contoso.test>', 250), /550/);
        await client.quit();
        // The message line is written before the reply; lines are flushed once per event-loop turn.
        for (let i = 0; i < 100 && !server.logs.some((l) => l.type === 'close'); i++) await new Promise((r) => setTimeout(r, 20));
        return server.logs.filter((l) => l.msg === 'smtp');
      } finally {
        await server.stop();
      }
    };
    const info = await smtpLines([]);
    assert.ok(info.some((l) => l.type === 'message' && l.accepted === true && (l.rcptTo as string[]).includes('alice@contoso.test')));
    assert.ok(info.some((l) => l.type === 'rcpt' && l.accepted === false && l.address === 'nobody@contoso.test'), 'a refused RCPT is logged at info');
    assert.ok(!info.some((l) => (l.type === 'rcpt' || l.type === 'mail-from') && l.accepted === true), 'accepted commands are debug lines');
    const debug = await smtpLines(['--log-level', 'debug']);
    assert.ok(debug.some((l) => l.type === 'rcpt' && l.accepted === true && l.address === 'alice@contoso.test' && l.level === 'debug'));
    assert.equal(debug.filter((l) => l.type === 'mail-from' && l.accepted === true).length, 2);
  });
});
