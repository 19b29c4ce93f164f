// Test TLS certificates made by openssl: a CA, a certificate of it for 127.0.0.1/localhost, one of it
// for another name, and one of a CA nobody trusts. For the HTTPS listener and the smarthost relay.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './server-process.js';

/** PEM text, and the files holding it. */
export interface TlsPair { key: string; cert: string; keyFile: string; certFile: string }
export interface TlsPki { caPem: string; trusted: TlsPair; wrongName: TlsPair; untrusted: TlsPair }

export function makeTlsPki(prefix = 'easmime-tls-pki-'): TlsPki {
  const dir = tempDir(prefix);
  const file = (name: string): string => path.join(dir, name);
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: 'pipe' }); };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string): void => run(['req', '-x509', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '2',
    '-subj', `/CN=easmime ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, caName: string, san: string): TlsPair => {
    run(['req', '-new', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`]);
    fs.writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`);
    run(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${caName}.pem`), '-CAkey', file(`${caName}.key`),
      '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '2', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`)]);
    return { key: fs.readFileSync(file(`${name}.key`), 'utf8'), cert: fs.readFileSync(file(`${name}.pem`), 'utf8'), keyFile: file(`${name}.key`), certFile: file(`${name}.pem`) };
  };
  ca('test-ca');
  ca('rogue-ca');
  return {
    caPem: file('test-ca.pem'),
    trusted: leaf('server', 'test-ca', 'IP:127.0.0.1,DNS:localhost'),
    wrongName: leaf('elsewhere', 'test-ca', 'DNS:elsewhere.example.test'),
    untrusted: leaf('impostor', 'rogue-ca', 'IP:127.0.0.1,DNS:localhost'),
  };
}
