// EAS and Autodiscover over HTTPS (--https-port, --https-cert, --https-key), end to end: the real
// server with a certificate openssl made for 127.0.0.1, clients that trust its CA (and one that
// does not), and the start-up refusals for incomplete or unusable TLS settings.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { decodeWbxml, encodeWbxml } from '../../eas/wbxml/index.js';
import { childText, type WbxmlElement } from '../../eas/wbxml/tree.js';
import { ns } from '../../eas/wbxml/ns.js';
import { PROJECT_ROOT, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.js';
import { makeTlsPki, type TlsPki } from '../support/tls-pki.js';

const F = ns('FolderHierarchy');
const P = ns('Provision');

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** One HTTPS request trusting only `ca`. */
function request(port: number, ca: string, method: string, pathAndQuery: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path: pathAndQuery, ca, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The first element with the tag anywhere below `el`. */
function find(el: WbxmlElement, tag: string): WbxmlElement | undefined {
  for (const c of el.children) {
    const hit = c.tag === tag ? c : find(c, tag);
    if (hit) return hit;
  }
  return undefined;
}

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

function autodiscoverRequest(address: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006">
<Request><EMailAddress>${address}</EMailAddress>
<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema>
</Request></Autodiscover>`;
}

describe('end to end: HTTPS', function () {
  this.timeout(120_000);
  let pki: TlsPki;
  let ca: string;
  let server: ServerProcess;

  before(async () => {
    pki = makeTlsPki('easmime-https-pki-');
    ca = fs.readFileSync(pki.caPem, 'utf8');
    server = await startServerProcess({ extraArgs: ['--https-port', '0', '--https-cert', pki.trusted.certFile, '--https-key', pki.trusted.keyFile] });
  });
  after(async () => {
    await server?.stop();
  });

  it('listens on both ports and says so in its log', () => {
    assert.ok(server.httpsPort && server.httpsPort !== server.httpPort);
    assert.ok(server.logs.some((r) => r.httpsPort === server.httpsPort && String(r.msg).startsWith(`EAS listening on https://127.0.0.1:${server.httpsPort}/`)));
  });

  it('serves EAS over TLS: OPTIONS, sign-in, Provision and FolderSync', async () => {
    const anonymous = await request(server.httpsPort!, ca, 'OPTIONS', '/Microsoft-Server-ActiveSync');
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Basic /);
    const auth = basic('alice@contoso.test', 'demo');
    const options = await request(server.httpsPort!, ca, 'OPTIONS', '/Microsoft-Server-ActiveSync', { Authorization: auth });
    assert.equal(options.status, 200);
    assert.match(String(options.headers['ms-asprotocolversions']), /14\.1/);

    const query = '/Microsoft-Server-ActiveSync?Cmd=Provision&User=alice%40contoso.test&DeviceId=TlsDevice01&DeviceType=iPhone';
    const eas = { Authorization: auth, 'MS-ASProtocolVersion': '14.0', 'Content-Type': 'application/vnd.ms-sync.wbxml' };
    const ask = await request(server.httpsPort!, ca, 'POST', query, eas,
      encodeWbxml(P('Provision', P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML'))))));
    assert.equal(ask.status, 200);
    const temporary = find(decodeWbxml(ask.body), 'Provision:PolicyKey')?.text;
    assert.match(temporary ?? '', /^\d+$/);
    const ack = await request(server.httpsPort!, ca, 'POST', query, eas,
      encodeWbxml(P('Provision', P('Policies', P('Policy', P('PolicyType', 'MS-EAS-Provisioning-WBXML'), P('PolicyKey', temporary!), P('Status', '1'))))));
    const policyKey = find(decodeWbxml(ack.body), 'Provision:PolicyKey')!.text!;
    const folders = await request(server.httpsPort!, ca, 'POST', query.replace('Provision', 'FolderSync'), { ...eas, 'X-MS-PolicyKey': policyKey },
      encodeWbxml(F('FolderSync', F('SyncKey', '0'))));
    assert.equal(folders.status, 200);
    const tree = decodeWbxml(folders.body);
    assert.equal(childText(tree, 'FolderHierarchy:Status'), '1');
  });

  it('Autodiscover over TLS names the https address; over HTTP the http one', async () => {
    const auth = basic('alice@contoso.test', 'demo');
    const secure = await request(server.httpsPort!, ca, 'POST', '/autodiscover/autodiscover.xml', { Authorization: auth, 'Content-Type': 'text/xml' }, autodiscoverRequest('alice@contoso.test'));
    assert.equal(secure.status, 200);
    assert.match(secure.body.toString('utf8'), new RegExp(`<Url>https://127\\.0\\.0\\.1:${server.httpsPort}/Microsoft-Server-ActiveSync</Url>`));
    const plain = await fetch(`${server.baseUrl}/autodiscover/autodiscover.xml`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'text/xml' }, body: autodiscoverRequest('alice@contoso.test') });
    assert.match(await plain.text(), new RegExp(`<Url>http://127\\.0\\.0\\.1:${server.httpPort}/Microsoft-Server-ActiveSync</Url>`));
  });

  it('Autodiscover v2 (JSON, anonymous) names the service for ActiveSync and AutodiscoverV1; mistakes get 400/404/405', async () => {
    const get = async (pathAndQuery: string, method = 'GET'): Promise<{ status: number; json: Record<string, string> }> => {
      const r = await request(server.httpsPort!, ca, method, pathAndQuery);
      return { status: r.status, json: r.body.length > 0 ? JSON.parse(r.body.toString('utf8')) as Record<string, string> : {} };
    };
    const base = `https://127.0.0.1:${server.httpsPort}`;
    assert.deepEqual(await get('/autodiscover/autodiscover.json?Email=alice%40contoso.test&Protocol=ActiveSync'),
      { status: 200, json: { Protocol: 'ActiveSync', Url: `${base}/Microsoft-Server-ActiveSync` } });
    assert.deepEqual(await get('/autodiscover/autodiscover.json/v1.0/alice@contoso.test?Protocol=activesync'),
      { status: 200, json: { Protocol: 'ActiveSync', Url: `${base}/Microsoft-Server-ActiveSync` } });
    assert.deepEqual(await get('/autodiscover/autodiscover.json?Email=alice%40contoso.test&Protocol=AutodiscoverV1'),
      { status: 200, json: { Protocol: 'AutodiscoverV1', Url: `${base}/autodiscover/autodiscover.xml` } });
    // Anyone at the domain gets the same answer: it does not tell who has a mailbox.
    assert.equal((await get('/autodiscover/autodiscover.json?Email=nobody%40contoso.test&Protocol=ActiveSync')).status, 200);
    const plain = await fetch(`${server.baseUrl}/autodiscover/autodiscover.json?Email=alice%40contoso.test&Protocol=ActiveSync`);
    assert.deepEqual(await plain.json(), { Protocol: 'ActiveSync', Url: `http://127.0.0.1:${server.httpPort}/Microsoft-Server-ActiveSync` });

    const bad = await get('/autodiscover/autodiscover.json?Email=alice%40contoso.test&Protocol=Ews');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.ErrorCode, 'InvalidProtocol');
    assert.equal((await get('/autodiscover/autodiscover.json?Email=alice%40contoso.test')).json.ErrorCode, 'InvalidProtocol');
    // A property every object has is no protocol either.
    assert.equal((await get('/autodiscover/autodiscover.json?Email=alice%40contoso.test&Protocol=constructor')).json.ErrorCode, 'InvalidProtocol');
    assert.equal((await get('/autodiscover/autodiscover.json?Email=not-an-address&Protocol=ActiveSync')).json.ErrorCode, 'InvalidEmailAddress');
    assert.equal((await get('/autodiscover/autodiscover.json?Email=a%40x.test&Email=b%40x.test&Protocol=ActiveSync')).status, 400);
    assert.equal((await get('/autodiscover/autodiscover.json/v1.0/%E0%A4%A?Protocol=ActiveSync')).status, 400);
    assert.deepEqual(await get('/autodiscover/autodiscover.json?Email=erin%40fabrikam.test&Protocol=ActiveSync'),
      { status: 404, json: { ErrorCode: 'NotFound', ErrorMessage: 'fabrikam.test is not a domain of this organisation' } });
    assert.equal((await get('/autodiscover/autodiscover.json?Email=alice%40contoso.test&Protocol=ActiveSync', 'POST')).status, 405);
  });

  it('a client that does not trust the certificate does not get through, and the server carries on', async () => {
    const rogue = fs.readFileSync(path.join(path.dirname(pki.caPem), 'rogue-ca.pem'), 'utf8');
    await assert.rejects(request(server.httpsPort!, rogue, 'OPTIONS', '/Microsoft-Server-ActiveSync'), /self-signed|unable to verify|certificate/i);
    // Plain HTTP to the TLS port is not answered as HTTP either.
    await assert.rejects(fetch(`http://127.0.0.1:${server.httpsPort}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS' }));
    const after = await request(server.httpsPort!, ca, 'OPTIONS', '/Microsoft-Server-ActiveSync', { Authorization: basic('alice@contoso.test', 'demo') });
    assert.equal(after.status, 200);
  });

  describe('start-up refusals (exit code 2, nothing listening)', () => {
    const start = (args: string[]): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'main.ts'), '--data', tempDir(), '--http-port', '0', '--smtp-port', '0', ...args], {
        cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000,
      });
      return { status: r.status, stderr: r.stderr };
    };

    it('--https-port without a certificate and key, or either without the port', () => {
      for (const args of [['--https-port', '0'], ['--https-cert', pki.trusted.certFile, '--https-key', pki.trusted.keyFile], ['--https-port', '0', '--https-cert', pki.trusted.certFile]]) {
        const r = start(args);
        assert.equal(r.status, 2, args.join(' '));
        assert.match(r.stderr, /--https-port, --https-cert and --https-key go together/);
      }
    });

    it('a certificate file that is not PEM, or a key that does not match it, is named with the reason', () => {
      const dir = tempDir('easmime-https-bad-');
      const notPem = path.join(dir, 'not.pem');
      fs.writeFileSync(notPem, 'this is not a certificate\n');
      const bad = start(['--https-port', '0', '--https-cert', notPem, '--https-key', pki.trusted.keyFile]);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, new RegExp(`--https-cert ${notPem.replace(/[.\\/]/g, '\\$&')} and --https-key .* cannot be used: `));
      const mismatch = start(['--https-port', '0', '--https-cert', pki.trusted.certFile, '--https-key', pki.untrusted.keyFile]);
      assert.equal(mismatch.status, 2);
      assert.match(mismatch.stderr, /cannot be used: .*(key values mismatch|mismatch)/i);
      const missing = start(['--https-port', '0', '--https-cert', path.join(dir, 'absent.pem'), '--https-key', pki.trusted.keyFile]);
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /cannot read .*absent\.pem/);
    });
  });
});
