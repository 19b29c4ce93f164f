// The smarthost start-up flags: each with its environment variable, flags winning, precise errors.
import { strict as assert } from 'node:assert';
import { ConfigError, loadConfig, type Config } from '../../server/config.js';

const load = (argv: string[], env: NodeJS.ProcessEnv = {}): Config => {
  const c = loadConfig(argv, env);
  assert.notEqual(c, 'help');
  return c as Config;
};

describe('config: smarthost flags', () => {
  it('without a smarthost external mail is captured; TLS defaults to opportunistic', () => {
    const c = load([]);
    assert.equal(c.smarthost, undefined);
    assert.equal(c.smarthostTls, 'opportunistic');
  });

  it('reads HOST:PORT from the flag or the environment, the flag winning', () => {
    assert.deepEqual(load(['--smarthost', 'mail.example.test:587']).smarthost, { host: 'mail.example.test', port: 587 });
    assert.deepEqual(load(['--smarthost=[::1]:25']).smarthost, { host: '::1', port: 25 });
    assert.deepEqual(load([], { EASMIME_SMARTHOST: '10.0.0.5:2525' }).smarthost, { host: '10.0.0.5', port: 2525 });
    assert.deepEqual(load(['--smarthost', 'a.test:26'], { EASMIME_SMARTHOST: 'b.test:25' }).smarthost, { host: 'a.test', port: 26 });
    const c = load(['--smarthost', 'a.test:25', '--smarthost-tls', 'starttls', '--smarthost-user', 'relay'], { EASMIME_SMARTHOST_PASSWORD: 's3cret' });
    assert.equal(c.smarthostTls, 'starttls');
    assert.equal(c.smarthostUser, 'relay');
    assert.equal(c.smarthostPassword, 's3cret');
  });

  it('refuses what it cannot use, naming the flag', () => {
    for (const bad of ['mail.example.test', 'host:0', 'host:70000', ':25', 'host name:25']) {
      assert.throws(() => load(['--smarthost', bad]), (e: unknown) => e instanceof ConfigError && /--smarthost: .* is not HOST:PORT/.test(e.message), bad);
    }
    assert.throws(() => load([], { EASMIME_SMARTHOST_TLS: 'maybe' }), /EASMIME_SMARTHOST_TLS: "maybe" is not one of none, opportunistic, starttls, implicit/);
    assert.throws(() => load(['--smarthost-user', 'u']), /--smarthost-user needs --smarthost/);
    assert.throws(() => load(['--smarthost', 'a.test:25'], { EASMIME_SMARTHOST_PASSWORD: 'p' }), /--smarthost-password needs --smarthost-user/);
    assert.throws(() => load(['--smarthost', 'a.test:25', '--smarthost-plaintext-auth']), /--smarthost-plaintext-auth needs --smarthost-user/);
  });

  it('a password in clear only when asked for: none with a user needs --smarthost-plaintext-auth', () => {
    const base = ['--smarthost', 'a.test:25', '--smarthost-user', 'relay'];
    assert.equal(load(base).smarthostPlaintextAuth, false, 'off by default');
    assert.throws(() => load([...base, '--smarthost-tls', 'none']),
      (e: unknown) => e instanceof ConfigError && /--smarthost-user with --smarthost-tls none would send the password in clear; .*--smarthost-plaintext-auth/.test(e.message));
    assert.equal(load([...base, '--smarthost-tls', 'none', '--smarthost-plaintext-auth']).smarthostPlaintextAuth, true);
    assert.equal(load([...base, '--smarthost-tls', 'none'], { EASMIME_SMARTHOST_PLAINTEXT_AUTH: '1' }).smarthostPlaintextAuth, true);
    assert.throws(() => load([...base, '--smarthost-tls', 'none', '--smarthost-plaintext-auth=false'], { EASMIME_SMARTHOST_PLAINTEXT_AUTH: '1' }), /in clear/, 'the flag wins');
    // The TLS modes need nothing more.
    for (const tls of ['opportunistic', 'starttls', 'implicit']) assert.equal(load([...base, '--smarthost-tls', tls]).smarthostTls, tls);
  });
});
